"""Writing images: 8 or 16 bits, alpha, EXIF and ICC as the format allows; atomic."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

from gensr.imageio import codec16
from gensr.imageio.files import atomic_write
from gensr.imageio.image import FORMATS, IMAGE_EXTENSIONS, Image

_SIXTEEN_BIT = {"PNG", "TIFF"}
_ALPHA = {"PNG", "WEBP", "TIFF"}  # Pillow writes 32-bit BMP but reads it back without alpha
_EXIF = {"PNG", "JPEG", "WEBP"}
_ICC = {"PNG", "JPEG", "WEBP", "TIFF"}


def write_image(path: str | Path, image: Image, *, overwrite: bool = False, quality: int = 95) -> None:
    """Write ``image`` to ``path``; the format comes from the extension.

    16 bits are kept for PNG and TIFF, other formats get 8. Alpha is kept where the format has
    it (PNG, WebP, TIFF); JPEG and BMP get the image composited over white. EXIF goes to PNG, JPEG
    and WebP; the ICC profile to PNG, JPEG, WebP and TIFF. The file appears complete or not at all.

    Args:
        path: destination; its folder is created.
        image: what to write.
        overwrite: replace an existing file (otherwise ``FileExistsError``).
        quality: JPEG / WebP quality, 1..100.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: unknown extension.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image extension (use one of {', '.join(IMAGE_EXTENSIONS)})")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(errno.EEXIST, "already exists (not overwritten)", str(path))
    data = _encode(image, fmt, quality)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data, overwrite=overwrite)


def _encode(image: Image, fmt: str, quality: int) -> bytes:
    bits = 16 if image.bits == 16 and fmt in _SIXTEEN_BIT else 8
    maxv = 65535 if bits == 16 else 255
    colour = image.rgb.float().clamp(0, 1)
    if image.gray:
        colour = colour.mean(dim=1, keepdim=True)
    alpha = image.alpha.float().clamp(0, 1) if image.alpha is not None else None
    if alpha is not None and fmt not in _ALPHA:
        colour = colour * alpha + (1 - alpha)  # no alpha in the format: composite over white
        alpha = None
    planes = colour if alpha is None else torch.cat([colour, alpha], dim=1)
    if planes.shape[1] == 2 and (fmt == "WEBP" or (bits == 16 and fmt == "TIFF")):
        # grey+alpha that the format (or Pillow, for 16-bit TIFF) cannot hold: write RGBA
        planes = torch.cat([planes[:, :1].expand(-1, 3, -1, -1), planes[:, 1:]], dim=1)
    q = (planes[0] * maxv).round().permute(1, 2, 0).numpy().astype(np.uint16 if bits == 16 else np.uint8)
    exif = image.exif if fmt in _EXIF else None
    icc = image.icc if fmt in _ICC else None
    if bits == 16:
        return (
            codec16.encode_png16(q, icc=icc, exif=exif) if fmt == "PNG" else codec16.encode_tiff16(q, icc=icc)
        )

    pil = PILImage.fromarray(q[..., 0] if q.shape[2] == 1 else q)  # L, LA, RGB or RGBA
    kw: dict[str, Any] = {}
    if icc:
        kw["icc_profile"] = icc
    if exif and not (fmt == "JPEG" and len(exif) > 65533):  # JPEG's APP1 segment holds at most 64 KiB
        kw["exif"] = exif
    if fmt == "JPEG":
        kw.update(quality=quality, subsampling=0 if quality >= 90 else 2, optimize=True)
    elif fmt == "WEBP":
        kw.update(quality=quality, method=4)
    elif fmt == "TIFF":
        kw.update(compression="tiff_adobe_deflate")
    elif fmt == "PNG":
        kw.update(compress_level=6)
    buf = io.BytesIO()
    pil.save(buf, format=fmt, **kw)
    return buf.getvalue()
