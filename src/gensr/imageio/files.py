"""The one image lister: files, folders and glob patterns into image files."""

from __future__ import annotations

import errno
import glob
from collections.abc import Iterable
from pathlib import Path

from gensr.imageio.image import IMAGE_EXTENSIONS


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
