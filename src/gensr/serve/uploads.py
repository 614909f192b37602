"""Checks on an uploaded file before it is queued: size, format and pixel count.

Only the header is decoded here (Pillow reads the size without the pixels), so a 100-megapixel
upload is refused in milliseconds; the full decode happens in the worker with
:func:`gensr.imageio.read_image`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image as PILImage

from gensr.imageio import FORMATS

EXTENSIONS: dict[str, str] = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tif",
}
"""Format -> extension of the result file (results keep their input's format)."""

MEDIA_TYPES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
}
"""Result extension -> HTTP media type."""

READABLE = "PNG, JPEG, WebP, GIF, BMP or TIFF"
_ORIENTATION = 0x0112


class UploadError(Exception):
    """An upload that is refused; ``status`` is the HTTP code, ``str(err)`` says why to a person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Probe:
    """What the header of an accepted upload says."""

    width: int
    height: int
    """Upright size (EXIF orientation applied, as :func:`gensr.imageio.read_image` does)."""
    format: str
    """One of :data:`EXTENSIONS`' keys."""


def megapixels(n: int) -> str:
    """A pixel count for people, to three digits.

    >>> megapixels(16_777_216), megapixels(40_000), megapixels(2_000_000_000)
    ('16.8 MP', '0.04 MP', '2000 MP')
    """
    return f"{n / 1e6:.0f} MP" if n >= 1e9 else f"{n / 1e6:.3g} MP"


def probe_image(path: Path, name: str, *, max_pixels: int) -> Probe:
    """Read the header of an uploaded file and check that gensr can and may upscale it.

    Args:
        path: the uploaded bytes on disk.
        name: the client's file name, for messages.
        max_pixels: the most input pixels (width × height) accepted.

    Raises:
        UploadError: 415 not an image gensr reads; 422 empty, or more pixels than ``max_pixels``.
    """
    if path.stat().st_size == 0:
        raise UploadError(422, f"{name} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: our own limit decides
            with PILImage.open(path) as im:
                fmt = "JPEG" if im.format == "MPO" else str(im.format)
                width, height = im.size
                turned = width * height <= max_pixels and _orientation(im) in (5, 6, 7, 8)
    except PILImage.DecompressionBombError:
        raise UploadError(
            422, f"{name} has far more pixels than this server accepts (at most {megapixels(max_pixels)})"
        ) from None
    except (PILImage.UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise UploadError(415, f"{name} is not an image gensr can read (it reads {READABLE})") from None
    if fmt not in set(FORMATS.values()):
        raise UploadError(415, f"{name} is a {fmt} image; gensr reads {READABLE}")
    if width * height > max_pixels:
        raise UploadError(
            422,
            f"{name} is {width}×{height} = {megapixels(width * height)}; this server accepts at most "
            f"{megapixels(max_pixels)} per image (gensr serve --max-pixels)",
        )
    if turned:  # read_image turns it upright
        width, height = height, width
    return Probe(width=width, height=height, format=fmt)


def _orientation(im: PILImage.Image) -> int:
    """EXIF orientation without decoding the pixels (a PNG whose eXIf chunk follows them says 1)."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1  # PngImageFile.getexif() would decode the whole image to look for it
    try:
        return int(im.getexif().get(_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - broken metadata: the worker's full read reports what is wrong
        return 1


def safe_name(name: str | None, default: str = "image") -> str:
    """A client's file name reduced to a harmless base name (no folders, no odd characters).

    >>> safe_name("../../etc/passwd")
    'passwd'
    >>> safe_name("my photo (1).JPG")
    'my photo (1).JPG'
    >>> safe_name("")
    'image'
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^\w .()+,=@-]", "_", base).strip(" .")
    return base[:120] or default


def result_name(name: str, fmt: str, scale: int) -> str:
    """The result's file name: ``photo.jpeg`` -> ``photo_x4.jpg`` (the input's format, canonical extension).

    >>> result_name("photo.jpeg", "JPEG", 4)
    'photo_x4.jpg'
    >>> result_name("scan", "TIFF", 2)
    'scan_x2.tif'
    """
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem or 'image'}_x{scale}{EXTENSIONS[fmt]}"
