"""Writing images: 8 or 16 bits, alpha, EXIF and ICC as the format allows; atomic; whole or band by band."""

from __future__ import annotations

import errno
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image as PILImage

from gensr.base.atomic import atomic_write
from gensr.imageio import encode
from gensr.imageio.image import FORMATS, IMAGE_EXTENSIONS, Image

_SIXTEEN_BIT = {"PNG", "TIFF"}
_ALPHA = {"PNG", "WEBP", "TIFF", "GIF"}  # Pillow writes 32-bit BMP but reads it back without alpha
_EXIF = {"PNG", "JPEG", "WEBP"}
_ICC = {"PNG", "JPEG", "WEBP", "TIFF"}
_FRAMES = {"PNG", "WEBP", "TIFF", "GIF"}  # several pictures: APNG, animated WebP and GIF, multi-page TIFF
_SLICE_PIXELS = 1 << 20
"""Pixels quantized at a time (its float temporaries are a few tens of MB)."""


def write_image(path: str | Path, image: Image, *, overwrite: bool = False, quality: int = 95) -> None:
    """Write ``image`` to ``path``; the format comes from the extension.

    16 bits are kept for PNG and TIFF, other formats get 8. Alpha is kept where the format has it (PNG,
    WebP, TIFF; GIF's is on or off); JPEG and BMP get the image composited over white. EXIF goes to
    PNG, JPEG and WebP; the ICC profile to PNG, JPEG, WebP and TIFF. The file appears complete or not
    at all.

    Args:
        path: destination; its folder is created.
        image: what to write.
        overwrite: replace an existing file (otherwise ``FileExistsError``).
        quality: JPEG / WebP quality, 1..100.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: unknown extension.
    """
    write_bands(path, [image], height=image.height, overwrite=overwrite, quality=quality)


def write_bands(
    path: str | Path,
    bands: Iterable[Image],
    *,
    height: int,
    overwrite: bool = False,
    quality: int = 95,
) -> None:
    """Write an image that arrives as bands of full-width rows, top to bottom, encoding each as it comes.

    What :func:`write_image` does, for a picture never held whole (``Upscaler.upscale_bands``):
    PNG and TIFF are encoded band by band (:mod:`gensr.imageio.encode`); JPEG, WebP, GIF and BMP gather
    the 8-bit rows and are encoded at the end. Each band is quantized in slices of about a megapixel.
    The bands share the first band's metadata (bits, grey, alpha, EXIF, ICC). If the bands fail or
    stop short, nothing is written.

    Args:
        path: destination; its folder is created.
        bands: :class:`Image` bands of the same width whose heights add up to ``height``.
        height: the whole picture's height.
        overwrite, quality: as :func:`write_image`.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: unknown extension, no bands, or bands that do not add up to ``height``.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image extension (use one of {', '.join(IMAGE_EXTENSIONS)})")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(errno.EEXIST, "already exists (not overwritten)", str(path))

    def write(f: BinaryIO) -> None:
        enc: encode.Encoder | None = None
        for band in bands:
            bits = 16 if band.bits == 16 and fmt in _SIXTEEN_BIT else 8
            step = max(1, _SLICE_PIXELS // band.width)
            for y in range(0, band.height, step):
                q = _quantize(band, y, min(band.height, y + step), fmt, bits)  # (h, W, C)
                if enc is None:
                    enc = encode.open_encoder(
                        f,
                        fmt,
                        width=q.shape[1],
                        height=height,
                        channels=q.shape[2],
                        bits=bits,
                        icc=band.icc if fmt in _ICC else None,
                        exif=band.exif if fmt in _EXIF else None,
                        quality=quality,
                    )
                enc.write(q)
                del q
            del band  # no band is held while the next one is computed
        if enc is None:
            raise ValueError(f"{path}: no image rows to write")
        enc.close()

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write, overwrite=overwrite)


def write_frames(
    path: str | Path,
    frames: Iterable[Image],
    *,
    durations: Sequence[int] = (),
    loop: int = 0,
    overwrite: bool = False,
    quality: int = 95,
) -> int:
    """Write frames as one animated PNG, WebP or GIF, or one multi-page TIFF, 8 bits a sample.

    Each frame is quantized to 8 bits as soon as it arrives, so only those small copies are held
    until the file is written (Pillow encodes animations whole). The first frame's EXIF and ICC
    are kept as :func:`write_image` keeps them. The file appears complete or not at all.

    Args:
        path: destination ``.png``, ``.webp``, ``.gif``, ``.tif`` or ``.tiff``; its folder is created.
        frames: the pictures, all the same size.
        durations: milliseconds each frame is shown (PNG, WebP, GIF); empty: 100 each.
        loop: times the animation plays (0: forever).
        overwrite: replace an existing file (otherwise ``FileExistsError``).
        quality: WebP quality, 1..100.

    Returns:
        The number of frames written.

    Raises:
        ValueError: the format holds a single picture (JPEG, BMP), no frames, or frames of two sizes.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt not in _FRAMES:
        raise ValueError(
            f"{fmt or path.suffix} holds one picture; write several frames as PNG, WebP, GIF or TIFF"
        )
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(errno.EEXIST, "already exists (not overwritten)", str(path))
    pils: list[PILImage.Image] = []
    first: Image | None = None
    for frame in frames:
        first = first or frame
        if (frame.height, frame.width) != (first.height, first.width):
            raise ValueError(
                f"frame {len(pils) + 1} is {frame.width}x{frame.height}, not {first.width}x{first.height}"
            )
        q = _quantize(frame, 0, frame.height, fmt, 8)  # (H, W, C) uint8
        if q.shape[2] == 2:  # grey+alpha: Pillow's animation writers take RGBA
            q = np.concatenate([np.repeat(q[..., :1], 3, axis=2), q[..., 1:]], axis=2)
        pils.append(PILImage.fromarray(q[..., 0] if q.shape[2] == 1 else q))
    if first is None:
        raise ValueError("no frames to write")
    kw: dict[str, Any] = {"save_all": True, "append_images": pils[1:]}
    if first.icc and fmt in _ICC:
        kw["icc_profile"] = first.icc
    if first.exif and fmt in _EXIF:
        kw["exif"] = first.exif
    if fmt == "TIFF":
        kw.update(compression="tiff_adobe_deflate")
    elif fmt == "GIF":  # Pillow's loop is the number of repeats; none written: plays once
        kw.update(duration=list(durations) or 100, disposal=2 if first.alpha is not None else 1)
        if loop != 1:
            kw["loop"] = max(0, loop - 1)
    else:
        kw.update(duration=list(durations) or 100, loop=loop)
    if fmt == "PNG":
        kw.update(default_image=False, disposal=0, blend=0)  # every frame replaces the whole canvas
    if fmt == "WEBP":
        kw.update(quality=quality, method=4)
    buf = io.BytesIO()
    pils[0].save(buf, format=fmt, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue(), overwrite=overwrite)
    return len(pils)


def _quantize(band: Image, y0: int, y1: int, fmt: str, bits: int) -> np.ndarray:
    """Rows ``[y0, y1)`` of ``band`` as the samples ``fmt`` stores: ``(h, W, C)`` uint8 or uint16.

    Grey as one channel, alpha composited over white where the format has none, grey+alpha as RGBA
    where the format (WebP) or Pillow (16-bit TIFF) cannot hold it; rounded to the nearest level.
    """
    maxv = 65535 if bits == 16 else 255
    colour = band.rgb[..., y0:y1, :].float().clamp(0, 1)
    if band.gray:
        colour = colour.mean(dim=1, keepdim=True)
    alpha = band.alpha[..., y0:y1, :].float().clamp(0, 1) if band.alpha is not None else None
    if alpha is not None and fmt not in _ALPHA:
        colour = colour * alpha + (1 - alpha)  # no alpha in the format: composite over white
        alpha = None
    if alpha is not None and fmt == "GIF":  # a GIF pixel is transparent or not
        alpha = (alpha >= 0.5).float()
    planes = colour if alpha is None else torch.cat([colour, alpha], dim=1)
    if planes.shape[1] == 2 and (fmt == "WEBP" or (bits == 16 and fmt == "TIFF")):
        # grey+alpha that the format (or Pillow, for 16-bit TIFF) cannot hold: write RGBA
        planes = torch.cat([planes[:, :1].expand(-1, 3, -1, -1), planes[:, 1:]], dim=1)
    q = (planes[0] * maxv).round().permute(1, 2, 0).numpy()  # (h, W, C) float32 view
    return q.astype(np.uint16 if bits == 16 else np.uint8, order="C")
