"""The one atomic write: a file appears complete or not at all (torch-free).

Every file gensr writes goes through :func:`atomic_write` (images through
:func:`gensr.imageio.write_image`; JSON caches through :func:`gensr.base.cache.update_json_table`).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_PATTERN = re.compile(r"^\.gensr-[0-9a-f]{8}\.part$")
"""Names of gensr's temporary files (``.gensr-<8 hex>.part``): short enough beside any legal name."""

_RUN_START = time.time()
"""When this process began writing; temporary files older than this are a killed run's leftovers."""
_swept: set[Path] = set()


def atomic_write(
    path: str | Path, data: bytes | str | Callable[[BinaryIO], object], *, overwrite: bool = True
) -> Path:
    """Write a file so that it appears complete or not at all, with the permissions any new file gets.

    The data go to a temporary file ``.gensr-<8 hex>.part`` in the destination folder (held under
    an exclusive lock while written), are flushed to disk (``fsync``), given mode
    ``0o666 & ~umask`` and renamed into place; the folder entry is synced too. Every file gensr
    writes (images, model files, checkpoints, configs, logs, converted backbones) goes through here.
    The first write of a process into a folder removes the temporary files a killed gensr left
    there (:func:`sweep_stale_parts`).

    Args:
        path: destination; its folder must exist.
        data: the bytes, text (written as UTF-8), or a function that writes into the open binary file.
        overwrite: replace an existing file; when false an existing ``path`` (even one appearing
            while writing) raises ``FileExistsError`` and is never clobbered.

    Returns:
        ``path`` as a Path.

    Raises:
        OSError: cannot write (``errno.ENOSPC`` when the disk is full); nothing is left behind.
    """
    path = Path(path)
    folder = path.parent
    if folder not in _swept:
        _swept.add(folder)
        sweep_stale_parts(folder)
    fd, tmp = _create_temp(folder)
    try:
        with os.fdopen(fd, "wb") as f:
            _lock(f.fileno(), blocking=True)
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # the temporary file was made 0600
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(folder)
    return path


def move_into_place(part: str | Path, path: str | Path) -> Path:
    """Rename a finished file ``part`` (written and checked by its caller, e.g. a resumable download)
    to ``path`` in the same folder, replacing it, and sync the folder entry; returns ``path``."""
    path = Path(path)
    os.replace(part, path)
    _fsync_dir(path.parent)
    return path


def sweep_stale_parts(folder: str | Path) -> list[Path]:
    """Remove temporary files of killed gensr runs from ``folder``; returns what was removed.

    Only names matching :data:`TEMP_PATTERN`, last written before this process started, and not
    locked by a writer (a live gensr holds a lock on its temporary file) are removed.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not TEMP_PATTERN.match(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or entry.stat().st_mtime >= _RUN_START:
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                if not _lock(fd, blocking=False):
                    continue  # being written by a running gensr
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            finally:
                os.close(fd)
        except OSError:
            continue
    return removed


def _create_temp(folder: Path) -> tuple[int, Path]:
    for _ in range(100):
        tmp = folder / f".gensr-{secrets.token_hex(4)}.part"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))


def _lock(fd: int, *, blocking: bool) -> bool:
    """An exclusive advisory lock on ``fd`` (released when it closes or the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no sweeping of locked files needed
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


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
