"""The :class:`Image` a file decodes to, and the formats gensr reads and writes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
"""File extension -> format, for reading (by content) and writing (by extension)."""

IMAGE_EXTENSIONS = tuple(FORMATS)

MAX_PIXELS = 100_000_000
"""Default budget of input pixels per file (all frames together): 100 MP, e.g. 12500 x 8000."""
MAX_FRAMES = 10_000
"""Most frames (pages) gensr reads from one file."""
MAX_ICC_BYTES = 4 << 20
"""Larger ICC profiles are dropped (with a note); real ones are a few KB, the largest about 1 MB."""
MAX_EXIF_BYTES = 1 << 20
"""Larger EXIF blocks are dropped (with a note); JPEG holds at most 64 KB."""


class ImageReadError(Exception):
    """A file could not be read as an image; ``str(err)`` is one line naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        from gensr.messages import shown

        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{shown(path)}: {reason}")


@dataclass(frozen=True)
class Image:
    """A decoded picture: RGB tensor plus what is needed to write it back."""

    rgb: torch.Tensor
    """(1, 3, H, W) float32 in [0, 1]; grey images are replicated into the three channels."""
    alpha: torch.Tensor | None = None
    """(1, 1, H, W) float32 in [0, 1], straight (not premultiplied); None when opaque by format."""
    bits: int = 8
    """Bits per sample of the source (8 or 16)."""
    gray: bool = False
    """The source was greyscale (written back as grey)."""
    palette: bool = False
    """The source was a palette image (written back as RGB or RGBA)."""
    exif: bytes | None = None
    """EXIF block (``Exif\\0\\0`` + TIFF structure) with orientation reset to 1."""
    icc: bytes | None = None
    """ICC colour profile of the RGB (or grey) data."""
    format: str | None = None
    """Source format: "PNG", "JPEG", "WEBP", "BMP" or "TIFF"."""
    notes: tuple[str, ...] = ()
    """What reading dropped or changed, one phrase each (bad EXIF dropped, float range mapped, ...)."""

    def __post_init__(self) -> None:
        if self.rgb.ndim != 4 or self.rgb.shape[:2] != (1, 3):
            raise ValueError(f"rgb must be (1, 3, H, W), got {tuple(self.rgb.shape)}")
        if self.alpha is not None and self.alpha.shape != (1, 1, *self.rgb.shape[2:]):
            raise ValueError(f"alpha {tuple(self.alpha.shape)} does not fit rgb {tuple(self.rgb.shape)}")
        if self.bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16, got {self.bits}")

    @property
    def height(self) -> int:
        return int(self.rgb.shape[2])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[3])

    def replace(self, **changes: Any) -> Image:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)
