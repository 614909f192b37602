"""Where ``gensr upscale`` writes: checks of ``--suffix`` and of each output path, before any work."""

from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING

from gensr.messages import shown

if TYPE_CHECKING:
    import argparse

    from gensr.commands.upscale_inputs import Job

__all__ = ["OUT_EXTENSIONS", "check_destination", "destination", "out_name", "suffix_problem"]

OUT_EXTENSIONS = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tif": ".tif", "bmp": ".bmp"}
"""``--format`` choices for images and their extensions."""
_CANONICAL = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


def check_destination(dst: Path, src: Path, written: dict[Path, Path], overwrite: bool) -> str | None:
    """Why ``dst`` must not be written, or None."""
    name_max = _name_max(dst.parent)
    if len(os.fsencode(dst.name)) > name_max:
        return (f"the output name {shown(dst.name)[:40]}... is {len(os.fsencode(dst.name))} bytes, more than "
                f"the {name_max} the file system allows (use a shorter --suffix, or -o FILE)")  # fmt: skip
    key = dst.resolve()
    if key == src.resolve():
        return "the output would replace its input; use another --suffix or -o"
    if key in written:
        return (
            f"{shown(dst)} was already written in this run from {shown(written[key])}; "
            "use another --suffix or --format"
        )
    if not overwrite and (dst.exists() or dst.is_symlink()):
        return f"{shown(dst)} already exists (use --overwrite to replace it)"
    return None


def _name_max(folder: Path) -> int:
    """Longest file name (bytes) the file system of ``folder`` (or its nearest existing parent) takes."""
    for parent in (folder, *folder.parents):
        try:
            return int(os.pathconf(parent, "PC_NAME_MAX"))
        except (OSError, ValueError):
            continue
    return 255


def suffix_problem(suffix: str) -> str | None:
    """Why ``--suffix`` cannot name output files (one phrase), or None.

    Only ``{scale}`` with an ordinary format spec is allowed; the result must be a short piece of a
    file name (no folder separators, at most 64 characters).
    """
    try:
        fields = list(string.Formatter().parse(suffix))
    except ValueError as e:
        return str(e)
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if (
            name != "scale"
            or conversion
            or not re.fullmatch(r"[^{}]?[<>=^]?[+ -]?#?0?\d{0,2}[,_]?[bdnoxX]?", spec or "")
        ):
            return "only {scale} with a short format spec (e.g. {scale:02d}) may be used"
    try:
        text = suffix.format(scale=16)
    except (ValueError, KeyError, IndexError) as e:
        return str(e)
    if any(c in text for c in ("/", "\\", "\0", os.sep)) or not text.isprintable():
        return "must not contain folder separators or control characters"
    if len(text) > 64:
        return f"gives {len(text)} characters; at most 64"
    return None


def destination(
    job: Job, fmt: str | None, args: argparse.Namespace, scale: int, out: Path, file_target: bool
) -> Path:
    """The output path of ``job``: ``out`` itself (``-o FILE``), or its name under the output folder."""
    return out if file_target else out / job.subdir / out_name(job.src, fmt, args, scale)


def out_name(src: Path, fmt: str | None, args: argparse.Namespace, scale: int) -> str:
    """``<stem><suffix><ext>``: the extension of ``--format``, else the input's, else its format's."""
    from gensr.imageio import FORMATS

    if args.format in OUT_EXTENSIONS:
        ext = OUT_EXTENSIONS[args.format]
    elif src.suffix.lower() in FORMATS:
        ext = src.suffix
    else:
        ext = _CANONICAL.get(fmt or "", ".png")
    return f"{src.stem}{args.suffix.format(scale=scale)}{ext}"
