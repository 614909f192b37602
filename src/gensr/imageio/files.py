"""Files: the one atomic write and the one image lister."""

from __future__ import annotations

import errno
import glob
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from gensr.imageio.image import IMAGE_EXTENSIONS


def atomic_write(
    path: str | Path, data: bytes | str | Callable[[BinaryIO], object], *, overwrite: bool = True
) -> Path:
    """Write a file so that it appears complete or not at all, with the permissions any new file gets.

    The data go to a temporary file in the destination folder, are flushed to disk (``fsync``),
    given mode ``0o666 & ~umask`` and renamed into place; the folder entry is synced too. Every
    file gensr writes (images, model files, checkpoints, configs, logs, converted backbones) goes
    through here.

    Args:
        path: destination; its folder must exist.
        data: the bytes, text (written as UTF-8), or a function that writes into the open binary file.
        overwrite: replace an existing file; when false an existing ``path`` (even one appearing
            while writing) raises ``FileExistsError`` and is never clobbered.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(Path(tmp), path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return path


def _link_new(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to a ``path`` that must not exist (a hard link fails if it appeared meanwhile)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "already exists (not overwritten)", str(path)) from None
    except OSError:  # file system without hard links
        if path.exists():
            raise FileExistsError(errno.EEXIST, "already exists (not overwritten)", str(path)) from None
        os.replace(tmp, path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask, read without changing it where the platform allows (threads may be writing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def list_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand files, folders (recursively) and glob patterns into image files.

    Files named explicitly are kept whatever their extension (reading them says what is wrong);
    folders and globs contribute files with an image extension, skipping hidden names. Each
    input's files are sorted; inputs keep their order; duplicates are dropped.

    Args:
        inputs: paths, folders or glob patterns (``**`` recurses).

    Returns:
        The image paths.

    Raises:
        FileNotFoundError: an input is neither a file nor a folder and matches no file.
    """
    seen: set[Path] = set()
    out: list[Path] = []
    for inp in inputs:
        p = Path(inp)
        if p.is_file():
            found = [p]
        elif p.is_dir():
            found = _images_under(p)
        elif glob.has_magic(str(inp)):
            found = []
            for m in sorted(glob.glob(str(inp), recursive=True)):
                q = Path(m)
                if q.is_dir():
                    found += _images_under(q)
                elif q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS:
                    found.append(q)
            if not found:
                raise FileNotFoundError(errno.ENOENT, "no image files match", str(inp))
        else:
            raise FileNotFoundError(errno.ENOENT, "no such file or folder", str(inp))
        for f in sorted(found) if len(found) > 1 else found:
            if f not in seen:
                seen.add(f)
                out.append(f)
    return out


def _images_under(folder: Path) -> list[Path]:
    return sorted(
        f
        for f in folder.rglob("*")
        if f.suffix.lower() in IMAGE_EXTENSIONS
        and f.is_file()
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    )
