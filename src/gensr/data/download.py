"""Downloads of the field's standard datasets: resumable, checksummed, extracted safely.

:func:`download` fetches a URL to ``dst`` through ``dst.part``: an interrupted download resumes
with an HTTP ``Range`` request, the finished file is checked against its size and checksum and only
then renamed to ``dst`` (atomically). :func:`download_dataset` does that for an entry of
:data:`DATASETS` and extracts the image folder from the archive.

Checksums: none of the hosts publishes one. The DIV2K SHA-256 values and sizes are those in
TensorFlow Datasets (``tensorflow_datasets/url_checksums/div2k.txt``); the MD5 values are those
in torchSR (``Coloquinte/torchSR``, ``torchsr/datasets/*.py``). For Flickr2K and the EDSR benchmark
archive only MD5 values are known (torchSR; the Flickr2K one also in catalyst); MD5 catches
corruption and truncation, not a deliberate substitution. No network is used at run time except by
these functions.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gensr.base.atomic import move_into_place
from gensr.data.unpack import ArchiveError, extract


class DownloadError(RuntimeError):
    """A download failed or is incomplete (a partial ``.part`` file is kept for resuming)."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the expected size or checksum (it is deleted)."""


@dataclass(frozen=True)
class DatasetSource:
    """One downloadable image set."""

    description: str
    url: str
    size: int | None
    """Archive size in bytes, where a checksum list gives it."""
    sha256: str | None
    md5: str | None
    checksum_source: str
    """Where the checksum comes from."""
    folder: str
    """Folder, relative to the target directory, that the archive's images are extracted to."""
    hr: str
    """Folder of the HR images, relative to the target directory."""


_DIV2K = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
_EDSR = "https://cv.snu.ac.kr/research/EDSR/"
_BENCH_MD5 = "4ace41d33c2384b97e6b320cd0afd6ba"
_BENCH_NOTE = "md5 from torchSR (no sha256 published); archive also holds MATLAB-bicubic LR_bicubic/X2,X3,X4"

DATASETS: dict[str, DatasetSource] = {
    "div2k-train": DatasetSource(
        "DIV2K training HR, 800 2K photos (Agustsson & Timofte 2017)",
        _DIV2K + "DIV2K_train_HR.zip",
        3530603713,
        "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
        "bdc2d9338d4e574fe81bf7d158758658",
        "sha256+size from TensorFlow Datasets, md5 from torchSR",
        "DIV2K_train_HR",
        "DIV2K_train_HR",
    ),
    "div2k-valid": DatasetSource(
        "DIV2K validation HR, 100 2K photos",
        _DIV2K + "DIV2K_valid_HR.zip",
        448993893,
        "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
        "9fcdda83005c5e5997799b69f955ff88",
        "sha256+size from TensorFlow Datasets, md5 from torchSR",
        "DIV2K_valid_HR",
        "DIV2K_valid_HR",
    ),
    "flickr2k": DatasetSource(
        "Flickr2K, 2650 2K photos (EDSR authors); only the HR folder is extracted",
        _EDSR + "Flickr2K.tar",
        None,
        None,
        "5d3f39443d5e9489bff8963f8f26cb03",
        "md5 from torchSR and catalyst (no sha256 or size published)",
        "Flickr2K/Flickr2K_HR",
        "Flickr2K/Flickr2K_HR",
    ),
    "set5": DatasetSource(
        "Set5 (EDSR benchmark archive)",
        _EDSR + "benchmark.tar",
        None,
        None,
        _BENCH_MD5,
        _BENCH_NOTE,
        "benchmark/Set5",
        "benchmark/Set5/HR",
    ),
    "set14": DatasetSource(
        "Set14 (EDSR benchmark archive)",
        _EDSR + "benchmark.tar",
        None,
        None,
        _BENCH_MD5,
        _BENCH_NOTE,
        "benchmark/Set14",
        "benchmark/Set14/HR",
    ),
    "bsd100": DatasetSource(
        "BSD100 / B100 (EDSR benchmark archive)",
        _EDSR + "benchmark.tar",
        None,
        None,
        _BENCH_MD5,
        _BENCH_NOTE,
        "benchmark/B100",
        "benchmark/B100/HR",
    ),
    "urban100": DatasetSource(
        "Urban100 (EDSR benchmark archive)",
        _EDSR + "benchmark.tar",
        None,
        None,
        _BENCH_MD5,
        _BENCH_NOTE,
        "benchmark/Urban100",
        "benchmark/Urban100/HR",
    ),
}
"""The datasets ``gensr data download`` knows; the four benchmark sets share one archive."""

Progress = Callable[[int, int | None], None]
"""``progress(bytes_done, bytes_total_or_None)``."""


def file_digest(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex digest (``sha256`` or ``md5``) of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_file(
    path: Path, *, sha256: str | None = None, md5: str | None = None, size: int | None = None
) -> None:
    """Raise :class:`ChecksumError` unless the file has the given size and checksums (None = unchecked)."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise ChecksumError(f"{path}: size {actual} bytes, expected {size}")
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is not None:
            digest = file_digest(path, algorithm)
            if digest != expected.lower():
                raise ChecksumError(f"{path}: {algorithm} {digest}, expected {expected}")


def _total_from(resp: http.client.HTTPResponse, offset: int) -> int | None:
    if resp.status == 206:
        m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
        if not m or int(m.group(1)) != offset:
            raise DownloadError(
                f"bad Content-Range {resp.headers.get('Content-Range')!r} for offset {offset}"
            )
        return None if m.group(3) == "*" else int(m.group(3))
    length = resp.headers.get("Content-Length")
    return int(length) if length is not None else None


def download(
    url: str,
    dst: str | os.PathLike[str],
    sha256: str | None = None,
    *,
    md5: str | None = None,
    size: int | None = None,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dst``, resuming a previous partial download, verifying it, atomically.

    Data goes to ``dst.part``; when that exists the request asks for the rest (``Range``), and a
    server that answers with the whole file restarts it. The complete file must match ``size``,
    ``sha256`` and ``md5`` where given (a mismatch deletes it and raises :class:`ChecksumError`);
    then it is renamed to ``dst``. An existing ``dst`` is only verified.

    Args:
        url: http(s) or file URL.
        dst: destination file path.
        sha256: expected SHA-256 hex digest, or None.
        md5: expected MD5 hex digest, or None.
        size: expected size in bytes, or None.
        progress: called with ``(bytes_done, bytes_total_or_None)`` as data arrives.
        timeout: socket timeout in seconds.

    Returns:
        ``dst`` as a Path.

    Raises:
        DownloadError: network or HTTP failure, or the connection ended early (``.part`` kept).
        ChecksumError: the finished file has the wrong size or checksum.
    """
    dst = Path(dst)
    if dst.exists():
        verify_file(dst, sha256=sha256, md5=md5, size=size)
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(dst.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()
        offset = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not offset:  # 416: nothing left to send, the .part is already whole
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        resp = None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{url}: {getattr(e, 'reason', e)}") from None
    if resp is not None:
        with resp:
            if offset and resp.status != 206:
                offset = 0  # the server ignored the Range header: start over
            total = _total_from(resp, offset)
            done = offset
            try:
                with open(part, "ab" if offset else "wb") as f:
                    while chunk := resp.read(1 << 20):
                        f.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
            except (http.client.HTTPException, OSError) as e:
                raise DownloadError(
                    f"{url}: connection lost at {done} bytes ({e}); run again to resume"
                ) from None
            if total is not None and done < total:
                raise DownloadError(f"{url}: got {done} of {total} bytes; run again to resume")
    try:
        verify_file(part, sha256=sha256, md5=md5, size=size)
    except ChecksumError:
        part.unlink()
        raise
    return move_into_place(part, dst)


def download_dataset(
    name: str, root: str | os.PathLike[str], *, keep_archive: bool = True, progress: Progress | None = None
) -> Path:
    """Download, verify and extract a dataset of :data:`DATASETS` into ``root``.

    The archive is kept in ``root`` (so the four benchmark sets download it once) unless
    ``keep_archive`` is False. A dataset whose folder already exists is not downloaded again.

    Args:
        name: a key of :data:`DATASETS`.
        root: target directory.
        keep_archive: keep the downloaded archive after extraction.
        progress: download progress callback.

    Returns:
        The folder of HR images (``root / DATASETS[name].hr``).
    """
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    src = DATASETS[name]
    root = Path(root)
    if not (root / src.folder).exists():
        archive = root / src.url.rsplit("/", 1)[-1]
        download(src.url, archive, src.sha256, md5=src.md5, size=src.size, progress=progress)
        try:
            extract(archive, root, src.folder)
        except ArchiveError as e:
            raise DownloadError(str(e)) from None
        if not keep_archive:
            archive.unlink()
    return root / src.hr
