"""EXIF and ICC metadata, read the same way for every format: what cannot be trusted is dropped with a note.

A file's pixels are what count. EXIF that Pillow cannot parse, an orientation that is not a
number 1..8, or an ICC profile that does not describe the decoded pixels (a CMYK or Lab profile
once the pixels are RGB, a grey profile on colour pixels) never rejects the image: the piece is
dropped and a short note says so (printed by ``gensr upscale`` as a warning).
"""

from __future__ import annotations

from PIL import Image as PILImage

from gensr.imageio.image import MAX_EXIF_BYTES, MAX_ICC_BYTES

ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_PIXEL_DIMENSIONS = (0xA002, 0xA003)  # Exif PixelXDimension / PixelYDimension: stale after resizing
# IFD0 tags worth keeping from a TIFF file's own tag table (the rest describe its pixel layout)
_TIFF_DESCRIPTIVE = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)

__all__ = ["ORIENTATION", "clean_exif", "icc_for", "icc_space", "orientation", "read_exif"]


def read_exif(im: PILImage.Image, notes: list[str]) -> PILImage.Exif:
    """The EXIF of an opened image, or an empty one (noted) when it cannot be parsed."""
    try:
        exif = im.getexif()
        len(exif)
        return exif
    except Exception:  # Pillow raises SyntaxError, struct.error, ValueError, ... on corrupt EXIF
        notes.append("unreadable EXIF dropped")
        return PILImage.Exif()


def orientation(exif: PILImage.Exif, notes: list[str]) -> int:
    """EXIF orientation 1..8; anything else (text, 0, 9, a fraction) counts as 1, with a note."""
    value = exif.get(ORIENTATION)
    if value is None:
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    notes.append(f"EXIF orientation {str(value)[:20]!r} is not 1..8; ignored")
    return 1


def clean_exif(exif: PILImage.Exif, *, tiff: bool, notes: list[str]) -> bytes | None:
    """EXIF bytes for the output: orientation 1, no stale pixel dimensions, no TIFF layout tags.

    Returns None when there is nothing to keep, or (noted) when the block cannot be re-encoded or
    is larger than :data:`~gensr.imageio.image.MAX_EXIF_BYTES`.
    """
    try:
        data = _clean_exif(exif, tiff=tiff)
    except Exception:  # a sub-IFD or value Pillow parsed but cannot write back
        notes.append("unreadable EXIF dropped")
        return None
    if data is not None and len(data) > MAX_EXIF_BYTES:
        notes.append(f"EXIF of {len(data) >> 10} KB dropped (more than {MAX_EXIF_BYTES >> 10} KB)")
        return None
    return data


def _clean_exif(exif: PILImage.Exif, *, tiff: bool) -> bytes | None:
    if not len(exif):
        return None
    sub_ifds = {tag: dict(exif.get_ifd(tag)) for tag in (_EXIF_IFD, _GPS_IFD) if tag in exif}
    if tiff:  # a TIFF's tag table describes its strips; keep only the descriptive tags
        kept = {t: exif[t] for t in _TIFF_DESCRIPTIVE if t in exif}
        exif = PILImage.Exif()
        for t, v in kept.items():
            exif[t] = v
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    for tag, ifd in sub_ifds.items():
        if tag == _EXIF_IFD:
            ifd = {k: v for k, v in ifd.items() if k not in _PIXEL_DIMENSIONS}
        if ifd:
            exif[tag] = ifd
        elif tag in exif:
            del exif[tag]
    data = exif.tobytes()
    return data if len(exif) else None


def icc_space(icc: bytes) -> str | None:
    """The data colour space of an ICC profile (header bytes 16..20): ``RGB``, ``GRAY``, ``CMYK``, ``Lab``...

    >>> icc_space(bytes(16) + b"RGB " + bytes(108))
    'RGB'
    >>> icc_space(b"short") is None
    True
    """
    if len(icc) < 128:
        return None
    space = icc[16:20].decode("latin-1").strip()
    return space if space.isascii() and space.isprintable() and space else None


def icc_for(icc: bytes | None, *, gray: bool, notes: list[str]) -> bytes | None:
    """``icc`` if it describes the decoded pixels (``GRAY`` for grey, ``RGB`` for colour), else None.

    A profile for another colour space (CMYK or Lab converted to RGB, grey on colour) or larger
    than :data:`~gensr.imageio.image.MAX_ICC_BYTES` is dropped with a note.
    """
    if not icc:
        return None
    if len(icc) > MAX_ICC_BYTES:
        notes.append(f"ICC profile of {len(icc) >> 20} MB dropped (more than {MAX_ICC_BYTES >> 20} MB)")
        return None
    want = "GRAY" if gray else "RGB"
    space = icc_space(icc)
    if space != want:
        notes.append(f"ICC profile for {space or 'an unknown colour space'} dropped ({want} pixels)")
        return None
    return icc
