"""Reading images: EXIF orientation applied, alpha split off, 8 or 16 bits kept."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from gensr.imageio import codec16
from gensr.imageio.image import FORMATS, Image, ImageReadError
from gensr.metrics import quantize_uint8

_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_PIXEL_DIMENSIONS = (0xA002, 0xA003)  # Exif PixelXDimension / PixelYDimension: stale after resizing
# IFD0 tags worth keeping from a TIFF file's own tag table (the rest describe its pixel layout)
_TIFF_DESCRIPTIVE = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)


def read_image(path: str | Path) -> Image:
    """Read an image file, apply its EXIF orientation, and split off alpha.

    Args:
        path: a PNG, JPEG, WebP, BMP or TIFF file (format detected from the content).

    Returns:
        The :class:`Image`; ``rgb`` is (1, 3, H, W) float32 in [0, 1] in upright orientation.

    Raises:
        ImageReadError: the file is missing, not an image, truncated or of an unsupported kind.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd metadata; the pixels are what count
            arr, bits, gray, palette, fmt, icc, exif = _decode(path)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image") from None
    except PILImage.UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can identify (corrupt or unsupported)") from None
    except Exception as e:  # Pillow's decoders raise OSError, ValueError, SyntaxError, EOFError, ...
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImageReadError(path, f"cannot decode ({reason})") from None

    orientation = int(exif.get(_ORIENTATION, 1) or 1)
    arr = apply_orientation(arr, orientation)
    exif_bytes = _clean_exif(exif, tiff=fmt == "TIFF")

    x = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32) / (65535.0 if bits == 16 else 255.0))
    x = x.permute(2, 0, 1).unsqueeze(0)  # (1, C, H, W)
    n_colour = 1 if gray else 3
    rgb = x[:, :n_colour].expand(1, 3, -1, -1) if gray else x[:, :3]
    alpha = x[:, n_colour : n_colour + 1].contiguous() if x.shape[1] > n_colour else None
    return Image(
        rgb=rgb.contiguous(),
        alpha=alpha,
        bits=bits,
        gray=gray,
        palette=palette,
        exif=exif_bytes,
        icc=icc,
        format=fmt,
    )


def read_rgb8(path: str | Path) -> torch.Tensor:
    """Read an image into the 8-bit domain of training and evaluation.

    :func:`read_image`, alpha dropped (straight colour kept), grey repeated to RGB, 16-bit samples
    rounded to the nearest 8-bit level.

    Returns:
        (1, 3, H, W) float32 in [0, 1] on the 256 uint8 levels.
    """
    return quantize_uint8(read_image(path).rgb)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` from the file header (no full decode), after EXIF rotation."""
    with PILImage.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(_ORIENTATION, 1)
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def _decode(path: Path) -> tuple[np.ndarray, int, bool, bool, str, bytes | None, PILImage.Exif]:
    """Pixels as (H, W, C) uint8/uint16 with C = 1, 2 (grey[, alpha]) or 3, 4 (RGB[, alpha]).

    Returns ``(pixels, bits, gray, palette, format, icc, exif)``.
    """
    with PILImage.open(path) as im, PILImage.open(path) as again:
        fmt = "JPEG" if im.format == "MPO" else str(im.format)  # MPO: cameras' multi-picture JPEG
        if fmt not in set(FORMATS.values()):
            raise ImageReadError(path, f"unsupported format {fmt} (gensr reads PNG, JPEG, WebP, BMP, TIFF)")
        icc = im.info.get("icc_profile") or None
        if codec16.needs_decode16(im):
            arr = codec16.decode16(im, again)
            return arr, 16, arr.shape[2] == 2, False, fmt, icc, im.getexif()
        im.load()
        arr, bits, gray, palette = _pixels(im, path)
        if im.mode == "CMYK":
            icc = None  # a CMYK profile does not describe the converted RGB
        return arr, bits, gray, palette, fmt, icc, im.getexif()


def _pixels(im: PILImage.Image, path: Path) -> tuple[np.ndarray, int, bool, bool]:
    """``(pixels, bits, gray, palette)`` of a loaded Pillow image of any mode."""
    mode = im.mode
    transparent = "transparency" in im.info
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im)
        if mode == "I" and (a.min() < 0 or a.max() > 65535):
            raise ImageReadError(path, "32-bit integer samples outside 0..65535 are not supported")
        return a.astype(np.uint16)[..., None], 16, True, False
    if mode == "F":
        a = np.clip(np.nan_to_num(np.asarray(im, dtype=np.float32)), 0.0, 1.0)
        return np.rint(a * 65535).astype(np.uint16)[..., None], 16, True, False
    if mode in ("1", "L") and not transparent:
        return np.asarray(im.convert("L"))[..., None], 8, True, False
    if mode in ("1", "L", "LA", "La"):
        return np.asarray(im.convert("LA")), 8, True, False
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or transparent or getattr(im.palette, "mode", "") == "RGBA"
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB")), 8, False, True
    if mode in ("RGBA", "RGBa") or (mode == "RGB" and transparent):
        return np.asarray(im.convert("RGBA")), 8, False, False
    return np.asarray(im.convert("RGB")), 8, False, False


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an ``(H, W, ...)`` array upright for an EXIF orientation 1..8 (as ``ImageOps.exif_transpose``)."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return arr.swapaxes(0, 1)
    if orientation == 6:
        return arr.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:
        return arr.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return arr.swapaxes(0, 1)[::-1]
    return arr


def _clean_exif(exif: PILImage.Exif, *, tiff: bool) -> bytes | None:
    """EXIF bytes for the output: orientation 1, no stale pixel dimensions, no TIFF layout tags."""
    if not len(exif):
        return None
    sub_ifds = {tag: dict(exif.get_ifd(tag)) for tag in (_EXIF_IFD, _GPS_IFD) if tag in exif}
    if tiff:  # a TIFF's tag table describes its strips; keep only the descriptive tags
        kept = {t: exif[t] for t in _TIFF_DESCRIPTIVE if t in exif}
        exif = PILImage.Exif()
        for t, v in kept.items():
            exif[t] = v
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    for tag, ifd in sub_ifds.items():
        if tag == _EXIF_IFD:
            ifd = {k: v for k, v in ifd.items() if k not in _PIXEL_DIMENSIONS}
        if ifd:
            exif[tag] = ifd
        elif tag in exif:
            del exif[tag]
    data = exif.tobytes()
    return data if len(exif) else None
