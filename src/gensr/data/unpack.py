"""Unpacking a downloaded archive: members out of a zip or tar into a temporary folder, then moved into place.

Extraction writes many files; they land in a hidden temporary folder beside the target and are moved
into place (``os.replace``) only when all are out, so an interrupted extraction leaves nothing half-done.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath


class ArchiveError(ValueError):
    """An archive cannot be unpacked: not a zip or tar, an unsafe member, or no such folder in it."""


def _safe_name(name: str) -> PurePosixPath | None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts:
        return None
    return p


def extract(archive: str | os.PathLike[str], dst_dir: str | os.PathLike[str], folder: str = "") -> Path:
    """Extract the members of a zip or tar archive under ``folder`` into ``dst_dir/folder``.

    Members are written to a temporary folder first and moved into place when all are out, so an
    interrupted extraction leaves nothing half-done. Absolute paths, ``..`` and (in tars) links and
    devices are refused. An existing ``dst_dir/folder`` is left as it is.

    Args:
        archive: a ``.zip`` or ``.tar``/``.tar.gz`` file.
        dst_dir: target directory.
        folder: member prefix (a folder inside the archive) to extract; "" = everything.

    Returns:
        ``dst_dir/folder``.
    """
    dst_dir = Path(dst_dir)
    target = dst_dir / folder if folder else dst_dir
    if folder and target.exists():
        return target
    prefix = PurePosixPath(folder) if folder else None
    dst_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst_dir, prefix=".extract-"))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    name = _safe_name(info.filename)
                    if name is None:
                        raise ArchiveError(f"{archive}: unsafe member {info.filename!r}")
                    if info.is_dir() or (prefix and not name.is_relative_to(prefix)):
                        continue
                    out = tmp.joinpath(*name.parts)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(out, "wb") as f:
                        shutil.copyfileobj(src, f, 1 << 20)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                for member in tf:
                    name = _safe_name(member.name)
                    if name is None or not (member.isfile() or member.isdir()):
                        raise ArchiveError(f"{archive}: unsafe member {member.name!r}")
                    if member.isdir() or (prefix and not name.is_relative_to(prefix)):
                        continue
                    out = tmp.joinpath(*name.parts)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(member)
                    assert src is not None
                    with src, open(out, "wb") as f:
                        shutil.copyfileobj(src, f, 1 << 20)
        else:
            raise ArchiveError(f"{archive}: not a zip or tar archive")
        if folder:
            if not (tmp / folder).exists():
                raise ArchiveError(f"{archive}: has no folder {folder!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / folder, target)
        else:
            for entry in tmp.iterdir():
                dest = dst_dir / entry.name
                if not dest.exists():
                    os.replace(entry, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
