"""Makers of the files the tests and ``scripts/hostile_cases.py`` feed gensr: EXIF with any value type,
raw PNG chunks, files claiming any size, random photos, and the tiny model file."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

TINY_HPARAMS = {"num_feat": 8, "num_conv": 2}
"""The tiny generator of the tests: a real compact network (two 8-channel convolutions), milliseconds
per image, untrained."""


def save_tiny_model(path: Path, scale: int = 4, seed: int = 0) -> Path:
    """Save the tiny compact generator (:data:`TINY_HPARAMS`, weights from ``seed``) as a gensr model file.

    The global torch random state is left as it was.
    """
    import torch

    from gensr.archs import build_generator
    from gensr.models import save_model

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        save_model(path, build_generator("compact", {**TINY_HPARAMS, "scale": scale}))
    return path


def photo(h: int = 6, w: int = 8, c: int = 3) -> np.ndarray:
    """Random ``(h, w, c)`` uint8 pixels, the same for the same size."""
    return np.random.default_rng(h * w + c).integers(0, 256, (h, w, c)).astype(np.uint8)


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


def zero_png(width: int, height: int, *, colour: int = 2) -> bytes:
    """A valid PNG of zeros of any size (``colour`` 2: RGB, 0: grey), a few hundred bytes per megapixel."""
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + {0: 1, 2: 3}[colour] * width)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


GARBAGE_EXIF = b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + bytes(range(64))
"""An EXIF block whose first IFD offset points far past its end."""
