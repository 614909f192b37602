"""Downloads against a local threaded HTTP server that supports Range requests (no real network)."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gensr.data import download as dl
from gensr.data import unpack

PAYLOAD = bytes(range(256)) * 64 + b"tail"  # 16388 bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files[name]`` at ``/name``, ``/short/name`` (announces the full length, sends
    half, closes) and ``/norange/name`` (ignores Range). Records the Range headers it got."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        files: dict[str, bytes] = self.server.files  # type: ignore[attr-defined]
        self.server.ranges.append(self.headers.get("Range"))  # type: ignore[attr-defined]
        mode, _, name = self.path.lstrip("/").rpartition("/")
        if name not in files:
            self.send_error(404)
            return
        body = files[name]
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m and mode != "norange":
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode == "short":
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files = {"data.bin": PAYLOAD}  # type: ignore[attr-defined]
    srv.ranges = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: http.server.ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/{path}"


SHA = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_download_verifies_and_renames(server, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    out = dl.download(_url(server, "data.bin"), tmp_path / "d" / "data.bin", SHA, md5=MD5, size=len(PAYLOAD),
                      progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert out.read_bytes() == PAYLOAD
    assert not (tmp_path / "d" / "data.bin.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert server.ranges == [None]
    dl.download(_url(server, "missing"), out, SHA)  # an existing, valid file is not fetched again
    assert server.ranges == [None]


def test_resume_from_a_partial_file(server, tmp_path: Path) -> None:
    dst = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:1000])
    dl.download(_url(server, "data.bin"), dst, SHA)
    assert server.ranges == ["bytes=1000-"]
    assert dst.read_bytes() == PAYLOAD


def test_interrupted_download_keeps_the_part_and_resumes(server, tmp_path: Path) -> None:
    dst = tmp_path / "data.bin"
    part = tmp_path / "data.bin.part"
    with pytest.raises(dl.DownloadError, match="resume"):
        dl.download(_url(server, "short/data.bin"), dst, SHA)
    assert not dst.exists() and 0 < part.stat().st_size < len(PAYLOAD)
    got = part.stat().st_size
    with pytest.raises(dl.DownloadError):
        dl.download(_url(server, "short/data.bin"), dst, SHA)  # interrupted again, further on
    got2 = part.stat().st_size
    assert got < got2 < len(PAYLOAD)
    dl.download(_url(server, "data.bin"), dst, SHA)
    assert dst.read_bytes() == PAYLOAD and not part.exists()
    assert server.ranges == [None, f"bytes={got}-", f"bytes={got2}-"]


def test_whole_part_and_server_without_range_support(server, tmp_path: Path) -> None:
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD)  # complete already: the server answers 416
    assert dl.download(_url(server, "data.bin"), tmp_path / "a.bin", SHA).read_bytes() == PAYLOAD
    (tmp_path / "b.bin.part").write_bytes(b"garbage!" * 10)  # the server ignores Range: start over
    assert dl.download(_url(server, "norange/data.bin"), tmp_path / "b.bin", SHA).read_bytes() == PAYLOAD


def test_checksum_and_size_mismatch(server, tmp_path: Path) -> None:
    dst = tmp_path / "data.bin"
    with pytest.raises(dl.ChecksumError, match="sha256"):
        dl.download(_url(server, "data.bin"), dst, "0" * 64)
    assert not dst.exists() and not (tmp_path / "data.bin.part").exists()
    with pytest.raises(dl.ChecksumError, match="md5"):
        dl.download(_url(server, "data.bin"), dst, md5="0" * 32)
    with pytest.raises(dl.ChecksumError, match="size"):
        dl.download(_url(server, "data.bin"), dst, size=len(PAYLOAD) + 1)
    with pytest.raises(dl.DownloadError, match="404"):
        dl.download(_url(server, "nothing"), dst)
    dst.write_bytes(b"stale")
    with pytest.raises(dl.ChecksumError):  # an existing file with the wrong checksum is reported
        dl.download(_url(server, "data.bin"), dst, SHA)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_extract_zip_and_tar_subfolders(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(_zip({"Set/HR/x.png": b"x", "Set/LR/y.png": b"y", "Other/z.png": b"z"}))
    out = unpack.extract(tmp_path / "a.zip", tmp_path / "z", "Set")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["HR/x.png", "LR/y.png"]
    assert not (tmp_path / "z" / "Other").exists()
    assert [p.name for p in (tmp_path / "z").iterdir()] == ["Set"]  # no temporary folder left
    (tmp_path / "b.tar").write_bytes(_tar({"bench/S5/HR/a.png": b"a", "bench/S14/HR/b.png": b"b"}))
    unpack.extract(tmp_path / "b.tar", tmp_path / "t", "bench/S5")
    unpack.extract(tmp_path / "b.tar", tmp_path / "t", "bench/S14")
    assert (tmp_path / "t/bench/S5/HR/a.png").read_bytes() == b"a"
    assert (tmp_path / "t/bench/S14/HR/b.png").read_bytes() == b"b"
    (tmp_path / "evil.tar").write_bytes(_tar({"../escape.png": b"e"}))
    with pytest.raises(unpack.ArchiveError, match="unsafe"):
        unpack.extract(tmp_path / "evil.tar", tmp_path / "e")
    assert not (tmp_path / "escape.png").exists()


def test_download_dataset_end_to_end(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip({"Tiny_HR/0001.png": b"one", "Tiny_HR/0002.png": b"two"})
    server.files["tiny.zip"] = archive
    sha = hashlib.sha256(archive).hexdigest()
    src = dl.DatasetSource(
        "tiny", _url(server, "tiny.zip"), len(archive), sha, None, "test", "Tiny_HR", "Tiny_HR"
    )
    monkeypatch.setitem(dl.DATASETS, "tiny", src)
    hr = dl.download_dataset("tiny", tmp_path)
    assert sorted(p.name for p in hr.iterdir()) == ["0001.png", "0002.png"]
    assert (tmp_path / "tiny.zip").exists()
    n = len(server.ranges)
    dl.download_dataset("tiny", tmp_path)  # already there: nothing fetched
    assert len(server.ranges) == n
    with pytest.raises(KeyError):
        dl.download_dataset("nope", tmp_path)


def test_dataset_table_is_complete() -> None:
    for name, src in dl.DATASETS.items():
        assert src.url.startswith("https://"), name
        assert src.sha256 or src.md5, name
        assert src.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", src.sha256), name
        assert src.md5 is None or re.fullmatch(r"[0-9a-f]{32}", src.md5), name
        assert src.hr.startswith(src.folder), name
