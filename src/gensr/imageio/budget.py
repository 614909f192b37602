"""Memory budgets checked before allocating: will upscaling this image fit in this machine's memory?

``gensr upscale`` holds the decoded input, and, depending on the output, a bounded stream of bands
(PNG, TIFF), every 8-bit output row (JPEG, WebP, BMP: Pillow encodes whole pictures) or whole frames
(animations). A small file that decodes to a huge picture, with a large factor, can ask for tens
of gigabytes: :func:`upscale_bytes` estimates the peak from the header's size alone and
:func:`memory_problem` compares it with the memory available, so such an input is refused with one
line before any pixel is decoded.
"""

from __future__ import annotations

from gensr.base.machine import available_memory

__all__ = ["available_memory", "memory_problem", "parse_pixels", "upscale_bytes"]

BYTES_PER_INPUT_PX = 32
"""Decoding (samples, planar float32 copy) and padding the input."""
STREAM_BYTES = 1 << 30
"""Bands of output rows and tile activations while an image is upscaled and encoded band by band."""
BYTES_PER_HELD_PX = 8
"""JPEG, WebP and BMP hold every 8-bit output row until Pillow encodes the picture (and Pillow's copy)."""
BYTES_PER_FRAME_PX = 48
"""One whole upscaled frame of an animation: float32 RGB and alpha, clamped and quantized copies."""
BYTES_PER_KEPT_FRAME_PX = 4
"""Each finished frame of an animation, held as 8-bit RGBA until the file is written."""
_STREAMED = ("PNG", "TIFF")


def upscale_bytes(width: int, height: int, scale: int, frames: int = 1, fmt: str = "PNG") -> int:
    """Estimated peak host memory of upscaling a ``width`` x ``height`` image (or animation) ``scale`` times.

    PNG and TIFF outputs are encoded band by band, so only the input and a bounded stream count;
    JPEG, WebP and BMP hold their 8-bit rows; animations hold one whole frame and every finished one.

    >>> upscale_bytes(1000, 1000, 4) // 10**6, upscale_bytes(1000, 1000, 4, fmt="JPEG") // 10**6
    (1105, 1233)
    """
    px, out = width * height, width * height * scale * scale
    need = BYTES_PER_INPUT_PX * px + STREAM_BYTES
    if frames > 1:
        need += BYTES_PER_FRAME_PX * out + BYTES_PER_KEPT_FRAME_PX * out * frames
    elif fmt not in _STREAMED:
        need += BYTES_PER_HELD_PX * out
    return need


def memory_problem(width: int, height: int, scale: int, frames: int = 1, fmt: str = "PNG") -> str | None:
    """Why upscaling would not fit in memory (one phrase), or None when it fits or memory is unknown."""
    need, have = upscale_bytes(width, height, scale, frames, fmt), available_memory()
    if have is None or need <= have:
        return None
    return (f"upscaling it x{scale} needs about {_gb(need)} of memory, {_gb(have)} is available "
            "(try a smaller image)")  # fmt: skip


def parse_pixels(text: str) -> int:
    """A pixel count written as ``5000``, ``100M``, ``1.5G`` or ``100e6``.

    >>> parse_pixels("100M"), parse_pixels("2.5k"), parse_pixels("4096")
    (100000000, 2500, 4096)
    """
    t = text.strip().upper()
    factor = {"K": 10**3, "M": 10**6, "G": 10**9}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if factor > 1 else t) * factor
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 1e15:
        raise ValueError(f"{text!r} is not a pixel count such as 5000, 100M or 1.5G")
    return int(value)


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
