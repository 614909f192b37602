"""Hostile files for the tests: EXIF with any value type, raw PNG chunks, files claiming any size."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image as PILImage


def exif_with(tag: int, value: object) -> bytes:
    """A little-endian EXIF block (``Exif\\0\\0`` + TIFF) with one IFD0 entry of any type.

    Pillow's own writer refuses text where a number belongs; files in the wild do not.
    """
    if isinstance(value, str):
        kind, count, data = 2, len(value) + 1, value.encode() + b"\0"
    elif isinstance(value, float):
        kind, count, data = 11, 1, struct.pack("<f", value)
    elif isinstance(value, int) and value < 0:
        kind, count, data = 8, 1, struct.pack("<h", value)
    elif isinstance(value, int) and value < 65536:
        kind, count, data = 3, 1, struct.pack("<H", value)
    else:
        kind, count, data = 4, 1, struct.pack("<I", int(value))  # type: ignore[call-overload]
    if len(data) <= 4:
        entry, tail = struct.pack("<HHI", tag, kind, count) + data.ljust(4, b"\0"), b""
    else:
        entry, tail = struct.pack("<HHII", tag, kind, count, 8 + 2 + 12 + 4), data
    return b"Exif\0\0II*\0" + struct.pack("<IH", 8, 1) + entry + struct.pack("<I", 0) + tail


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_chunk(pixels: np.ndarray, kind: bytes, data: bytes) -> bytes:
    """A PNG of ``pixels`` with an extra chunk before its image data."""
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, "PNG")
    raw = buf.getvalue()
    at = raw.index(b"IDAT") - 4
    return raw[:at] + png_chunk(kind, data) + raw[at:]


def zero_png(width: int, height: int) -> bytes:
    """A valid RGB PNG of zeros of any size, a few hundred bytes per megapixel."""
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


GARBAGE_EXIF = b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + bytes(range(64))
"""An EXIF block whose first IFD offset points far past its end."""
