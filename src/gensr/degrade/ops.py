"""The pixel operations the degradations are made of: luma, noise, JPEG."""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gensr.base.tensors import quantize_uint8
from gensr.degrade.config import RESIZE_MODES


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """Luma (0.2989 R + 0.587 G + 0.114 B) of (B, 3, H, W) -> (B, 1, H, W)."""
    return 0.2989 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def gaussian_noise(x: torch.Tensor, sigma: float, gray: bool, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise field of std ``sigma`` (8-bit levels) for (1, C, H, W) ``x``; gray: one field
    for all channels. Returns a tensor that broadcasts to ``x`` ((1, 1 or C, H, W))."""
    shape = (1, 1 if gray else x.shape[1], *x.shape[-2:])
    return torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype) * (sigma / 255.0)


def poisson_noise(x: torch.Tensor, scale: float, gray: bool, generator: torch.Generator) -> torch.Tensor:
    """Poisson (shot) noise as in Real-ESRGAN: the 8-bit image is treated as photon counts with
    ``2**ceil(log2(levels used))`` counts at full scale; the noise is ``scale * (poisson(x*n)/n - x)``.

    Args:
        x: (1, C, H, W) image in [0, 1].
        scale: noise strength.
        gray: compute the noise on the luma, the same for all channels.
        generator: generator on ``x``'s device.

    Returns:
        Noise of shape (1, 1 or C, H, W), zero-mean.
    """
    base = quantize_uint8(to_gray(x) if gray else x)
    n = 2.0 ** np.ceil(np.log2(max(int(torch.unique(base).numel()), 1)))
    counts = torch.poisson(base * n, generator=generator)
    return (counts / n - base) * scale


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode and decode one RGB image with a real JPEG encoder (Pillow, default 4:2:0 subsampling).

    Args:
        x: (1, 3, H, W) image; clamped and rounded to 8 bits first.
        quality: JPEG quality 1..100.

    Returns:
        (1, 3, H, W) decoded image in [0, 1], on ``x``'s device.
    """
    arr = (x[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im.convert("RGB"))
    return torch.from_numpy(out.copy()).permute(2, 0, 1).unsqueeze(0).to(x.device, x.dtype) / 255.0


def resize_to(x: torch.Tensor, size: tuple[int, int], mode: int) -> torch.Tensor:
    """Resize (B, C, H, W) to ``size`` with mode ``RESIZE_MODES[mode]`` (no antialiasing)."""
    size = (max(1, size[0]), max(1, size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    name = RESIZE_MODES[mode]
    if name == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=name, align_corners=False)
