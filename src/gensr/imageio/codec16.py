"""16-bit colour images that Pillow cannot hold: decoding via Pillow's own decoders, small encoders.

Pillow has no 16-bit-per-channel RGB/RGBA/LA image mode: it opens such PNG and TIFF files as
8-bit images, keeping only the high byte of each sample. Its decoders still do all the hard
work (zlib/LZW/deflate, PNG filters, TIFF strips and tiles, byte order) before that final
unpacking step, so :func:`decode16` runs them twice: once unpacking the high bytes and once,
with the byte order swapped in the tile's raw mode, unpacking the low bytes. 16-bit grey+alpha
PNG (32 bits a pixel) is unpacked in one pass as if it were 8-bit RGBA.

Writing uses :func:`encode_png16` (PNG, Paeth filter, zlib) and :func:`encode_tiff16`
(baseline TIFF, Adobe-deflate strips with horizontal-differencing predictor), both small and
vectorised with numpy. Arrays are ``(H, W, C)`` ``uint16`` with ``C`` = 1 grey, 2 grey+alpha,
3 RGB, 4 RGBA; alpha is straight (unassociated).
"""

from __future__ import annotations

import struct
import sys
import zlib

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


# --------------------------------------------------------------------------------------------- PNG


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _paeth_filter(rows: np.ndarray, bpp: int) -> np.ndarray:
    """Paeth-filter every scanline; ``rows`` is ``(H, stride)`` uint8. Returns ``(H, 1 + stride)``."""
    x = rows.astype(np.int16)
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]  # left
    b = np.zeros_like(x)
    b[1:] = x[:-1]  # up
    c = np.zeros_like(x)
    c[1:, bpp:] = x[:-1, :-bpp]  # up-left
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    out = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    out[:, 0] = 4  # filter type: Paeth
    out[:, 1:] = ((x - pred) & 0xFF).astype(np.uint8)
    return out


def encode_png16(arr: np.ndarray, *, icc: bytes | None = None, exif: bytes | None = None) -> bytes:
    """Encode a 16-bit image as PNG.

    Args:
        arr: ``(H, W, C)`` uint16, ``C`` in 1..4 (grey, grey+alpha, RGB, RGBA), straight alpha.
        icc: ICC profile written as an ``iCCP`` chunk.
        exif: EXIF (TIFF-structured, optionally ``Exif\\0\\0``-prefixed) written as ``eXIf``.

    Returns:
        The PNG file bytes.
    """
    if arr.dtype != np.uint16 or arr.ndim != 3 or not 1 <= arr.shape[2] <= 4:
        raise ValueError(f"encode_png16 wants (H, W, 1..4) uint16, got {arr.dtype} {arr.shape}")
    h, w, c = arr.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(arr.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    raw = _paeth_filter(rows, bpp=2 * c).tobytes()
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))]
    if icc:
        out.append(_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    if exif:
        out.append(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    out.append(_chunk(b"IDAT", zlib.compress(raw, 6)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


# -------------------------------------------------------------------------------------------- TIFF

_SHORT, _LONG, _UNDEFINED = 3, 4, 7


def encode_tiff16(arr: np.ndarray, *, icc: bytes | None = None) -> bytes:
    """Encode a 16-bit image as a little-endian baseline TIFF (Adobe deflate, predictor 2).

    Args:
        arr: ``(H, W, C)`` uint16, ``C`` in 1..4 (grey, grey+alpha, RGB, RGBA), straight alpha.
        icc: ICC profile (tag 34675).

    Returns:
        The TIFF file bytes. EXIF is not written (it would need its own sub-IFD).
    """
    if arr.dtype != np.uint16 or arr.ndim != 3 or not 1 <= arr.shape[2] <= 4:
        raise ValueError(f"encode_tiff16 wants (H, W, 1..4) uint16, got {arr.dtype} {arr.shape}")
    h, w, c = arr.shape
    # horizontal differencing (TIFF predictor 2) on 16-bit samples, per channel, modulo 2**16
    diff = arr.copy()
    diff[:, 1:] = arr[:, 1:] - arr[:, :-1]
    rows_per_strip = max(1, min(h, (1 << 20) // max(1, w * c * 2)))
    strips = [
        zlib.compress(np.ascontiguousarray(diff[y : y + rows_per_strip]).astype("<u2").tobytes(), 6)
        for y in range(0, h, rows_per_strip)
    ]
    entries: list[tuple[int, int, list[int] | bytes]] = [
        (256, _LONG, [w]),
        (257, _LONG, [h]),
        (258, _SHORT, [16] * c),
        (259, _SHORT, [8]),  # Adobe deflate
        (262, _SHORT, [2 if c >= 3 else 1]),  # RGB or BlackIsZero
        (273, _LONG, [0] * len(strips)),  # strip offsets, filled below
        (277, _SHORT, [c]),
        (278, _LONG, [rows_per_strip]),
        (279, _LONG, [len(s) for s in strips]),
        (284, _SHORT, [1]),  # chunky
        (317, _SHORT, [2]),  # horizontal differencing
    ]
    if c in (2, 4):
        entries.append((338, _SHORT, [2]))  # extra sample: unassociated alpha
    entries.append((339, _SHORT, [1] * c))  # unsigned integer samples
    if icc:
        entries.append((34675, _UNDEFINED, icc))

    ifd_size = 2 + 12 * len(entries) + 4
    data_start = 8 + ifd_size
    # lay out out-of-line values, then strips
    extra = bytearray()
    value_pos: dict[int, int] = {}
    for tag, typ, vals in entries:
        blob = _pack_values(typ, vals)
        if len(blob) > 4:
            value_pos[tag] = data_start + len(extra)
            extra += blob + (b"\x00" if len(blob) % 2 else b"")
    strip_offsets, pos = [], data_start + len(extra)
    for s in strips:
        strip_offsets.append(pos)
        pos += len(s)
    entries[5] = (273, _LONG, strip_offsets)
    if len(strips) > 1:  # offsets moved out of line; rewrite them at their reserved place
        blob = _pack_values(_LONG, strip_offsets)
        extra[value_pos[273] - data_start : value_pos[273] - data_start + len(blob)] = blob

    ifd = bytearray(struct.pack("<H", len(entries)))
    for tag, typ, vals in entries:
        blob = _pack_values(typ, vals)
        count = len(vals)
        field = struct.pack("<I", value_pos[tag]) if len(blob) > 4 else blob.ljust(4, b"\x00")
        ifd += struct.pack("<HHI", tag, typ, count) + field
    ifd += struct.pack("<I", 0)  # no next IFD
    return b"II*\x00" + struct.pack("<I", 8) + bytes(ifd) + bytes(extra) + b"".join(strips)


def _pack_values(typ: int, vals: list[int] | bytes) -> bytes:
    if typ == _UNDEFINED:
        return bytes(vals)
    return struct.pack(f"<{len(vals)}{'H' if typ == _SHORT else 'I'}", *vals)
