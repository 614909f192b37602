"""Tensor primitives shared by every package: the one padding and the one 8-bit quantizer.

Padding reflects as far as the image allows (``size - 1``), then replicates.

Reflect alone fails on tiny images (spandrel#137); replicate alone smears edges. Used by tiled
inference (to the network's size multiple), by the degradation filters (around each kernel) and
by RRDBNet (to its pixel-unshuffle multiple).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_reflect(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Pad ``(left, right, top, bottom)``: reflect up to ``size - 1`` pixels, replicate the rest.

    Args:
        x: (B, C, H, W).
        pad: pixels to add on each side.

    Returns:
        (B, C, H + top + bottom, W + left + right).
    """
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    r = (min(left, w - 1), min(right, w - 1), min(top, h - 1), min(bottom, h - 1))
    if any(r):
        x = F.pad(x, r, mode="reflect")
    rest = (left - r[0], right - r[1], top - r[2], bottom - r[3])
    if any(rest):
        x = F.pad(x, rest, mode="replicate")
    return x


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom and right with :func:`pad_reflect` so both sides are multiples of ``multiple``.

    Args:
        x: (B, C, H, W).
        multiple: the side multiple (1 = no padding).

    Returns:
        (B, C, ceil(H/m)*m, ceil(W/m)*m); the original is ``out[..., :H, :W]``.
    """
    h, w = x.shape[-2:]
    return pad_reflect(x, (0, (-w) % multiple, 0, (-h) % multiple))


def quantize_uint8(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to the nearest of the 256 uint8 levels, staying in [0, 1]. Same shape.

    Rounds half up, as MATLAB's ``uint8()`` does: the one 8-bit quantizer of gensr (evaluation,
    MATLAB bicubic, degradations, training and evaluation inputs).

    >>> quantize_uint8(torch.tensor([0.5 / 255, 1.5 / 255, 2.5 / 255, 1.2])).mul(255).tolist()
    [1.0, 2.0, 3.0, 255.0]
    """
    return torch.floor(x.clamp(0, 1) * 255 + 0.5) / 255
