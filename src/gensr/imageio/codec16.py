"""16-bit colour images that Pillow cannot hold: decoding via Pillow's own decoders.

Pillow has no 16-bit-per-channel RGB/RGBA/LA image mode: it opens such PNG and TIFF files as
8-bit images, keeping only the high byte of each sample. Its decoders still do all the hard
work (zlib/LZW/deflate, PNG filters, TIFF strips and tiles, byte order) before that final
unpacking step, so :func:`decode16` runs them twice: once unpacking the high bytes and once,
with the byte order swapped in the tile's raw mode, unpacking the low bytes. 16-bit grey+alpha
PNG (32 bits a pixel) is unpacked in one pass as if it were 8-bit RGBA.

Writing them (and every other PNG and TIFF) is :mod:`gensr.imageio.encode`'s. Arrays are
``(H, W, C)`` ``uint16`` with ``C`` = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; alpha is straight
(unassociated).
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image as PILImage

_SWAP = {"16B": "16L", "16L": "16B", "16N": "16B" if sys.byteorder == "little" else "16L"}


def needs_decode16(im: PILImage.Image) -> bool:
    """True if Pillow would open ``im`` (not yet loaded) as 8-bit but the file stores 16 bits a sample."""
    if im.mode not in ("RGB", "RGBA") or not im.tile:
        return False
    return all(_rawmode(t).rpartition(";")[2] in _SWAP for t in im.tile)


def _rawmode(tile: tuple) -> str:  # type: ignore[type-arg]
    args = tile[3]
    return args if isinstance(args, str) else str(args[0])


def _retile(tile: tuple, rawmode: str) -> tuple:  # type: ignore[type-arg]
    """The same decoder tile with another raw mode (Pillow tiles are named tuples since 11)."""
    args = tile[3]
    args = rawmode if isinstance(args, str) else (rawmode, *args[1:])
    return tuple(tile[:3]) + (args,) if not hasattr(tile, "_replace") else tile._replace(args=args)


def _is_la16(im: PILImage.Image) -> bool:
    return im.mode == "RGBA" and all(_rawmode(t) == "LA;16B" for t in im.tile)


def decode16(im: PILImage.Image, reopen: PILImage.Image) -> np.ndarray:
    """Decode a 16-bit RGB / RGBA / grey+alpha PNG or TIFF at full precision.

    Args:
        im: the file opened with Pillow, not yet loaded (``needs_decode16(im)`` is true).
        reopen: the same file opened a second time, not yet loaded (its decoder is rerun).

    Returns:
        ``(H, W, C)`` uint16, ``C`` = 2 (grey, alpha), 3 (RGB) or 4 (RGBA).
    """
    if _is_la16(im):
        # grey_hi, grey_lo, alpha_hi, alpha_lo: same 4 bytes a pixel as 8-bit RGBA (PNG filter bpp 4)
        im.tile = [_retile(t, "RGBA") for t in im.tile]
        im.load()
        b = np.asarray(im).astype(np.uint16)
        return np.stack([b[..., 0] << 8 | b[..., 1], b[..., 2] << 8 | b[..., 3]], axis=-1)
    parts = []
    for img, low in ((im, False), (reopen, True)):
        if low:
            img.tile = [_retile(t, _swapped(_rawmode(t))) for t in img.tile]
        img.load()
        parts.append(np.asarray(img).astype(np.uint16))
    hi, lo = parts
    if hi.shape != lo.shape:
        raise ValueError("16-bit decode: the two passes disagree in shape")
    return hi << 8 | lo


def _swapped(rawmode: str) -> str:
    head, _, end = rawmode.rpartition(";")
    return f"{head};{_SWAP[end]}"
