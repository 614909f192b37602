"""Two faults PSNR/SSIM/LPIPS average away: a periodic grid at the upsampling period, and colour shifts.

- :func:`periodic_ratio`: a network that upsamples by a pixel shuffle (or a transposed convolution) of
  factor ``p`` can leave a pattern that repeats every ``p`` output pixels. Its energy sits exactly at the
  frequencies ``(m/p, n/p)`` cycles per pixel. The measure takes the BT.601 luma (0..255), removes a
  Gaussian blur of sigma ``p/2`` (a high-pass that keeps everything at period ``p`` and finer), applies a
  2-D Hann window, and compares the FFT power (squared magnitude) at each of those frequencies with the
  median power of a ring of neighbouring frequencies (Chebyshev distance 2..5 bins; the Hann window
  spreads a bin-centred tone over +-1 bin). Interpolation and natural images give ratios of about 2-20;
  the pixel-shuffle grid of issue 17 gives hundreds.
- :func:`grey_spread`: on a grey photograph stored as RGB, the mean over pixels of ``max - min`` of the
  three channels, in 8-bit levels: 0 for an output that stays grey.
- :func:`tint`: the mean over channels of ``|mean(sr_c) - mean(hr_c)|`` in 8-bit levels: a global
  colour (or brightness) shift of the output against the original.

All take ``(1, 3, H, W)`` RGB tensors in [0, 1] (the 8-bit images of the evaluation protocol).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gensr.metrics.fidelity import rgb_to_y

__all__ = ["periodic_peaks", "periodic_ratio", "grey_spread", "is_grey", "is_neutral", "tint"]

RING = (2, 5)
"""Neighbourhood of a peak: frequency bins at Chebyshev distance 2..5 (inclusive) from it."""


def _check(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"{name}: expected a (1, 3, H, W) RGB image, got shape {tuple(x.shape)}")


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(1, 1, H, W)``, reflect padding, kernel radius ``ceil(3 sigma)``."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")  # callers ensure H, W > radius
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    return x


def periodic_peaks(sr: torch.Tensor, period: int) -> torch.Tensor:
    """Peak-to-neighbourhood power ratio at every frequency of period ``period``.

    Args:
        sr: ``(1, 3, H, W)`` RGB in [0, 1]; cropped (bottom/right) to a multiple of ``period``.
        period: the upsampling period in output pixels (the model's scale).

    Returns:
        ``(period**2 - 1,)`` float64 ratios, one per frequency ``(m H/p, n W/p)``, ``(m, n) != (0, 0)``.

    Raises:
        ValueError: bad shape, ``period < 2``, or an image smaller than ``4 * period`` pixels a side.
    """
    _check(sr, "periodic_peaks")
    if period < 2:
        raise ValueError(f"periodic_peaks: period must be >= 2, got {period}")
    h, w = sr.shape[-2] // period * period, sr.shape[-1] // period * period
    if min(h, w) < max(4 * period, 2 * RING[1] + 2, math.ceil(1.5 * period) + 1):
        raise ValueError(f"periodic_peaks: image {sr.shape[-1]}x{sr.shape[-2]} too small for period {period}")
    y = rgb_to_y(sr[..., :h, :w].double()) * 255.0  # (1, 1, h, w)
    high = y - _gaussian_blur(y, period / 2)
    win = (
        torch.hann_window(h, periodic=False, dtype=torch.float64)[:, None]
        * torch.hann_window(w, periodic=False, dtype=torch.float64)[None, :]
    )
    power = torch.fft.fft2(high[0, 0] * win).abs() ** 2
    lo, hi = RING
    offsets = [
        (dy, dx) for dy in range(-hi, hi + 1) for dx in range(-hi, hi + 1) if max(abs(dy), abs(dx)) >= lo
    ]
    dy = torch.tensor([o[0] for o in offsets])
    dx = torch.tensor([o[1] for o in offsets])
    ratios = []
    for m in range(period):
        for n in range(period):
            if m == 0 and n == 0:
                continue
            ky, kx = m * h // period, n * w // period
            ring = power[(ky + dy) % h, (kx + dx) % w]
            ratios.append(float(power[ky, kx]) / max(float(ring.median()), 1e-12))
    return torch.tensor(ratios, dtype=torch.float64)


def periodic_ratio(sr: torch.Tensor, period: int) -> float:
    """The largest of :func:`periodic_peaks`: how far the strongest period-``period`` frequency stands out."""
    return float(periodic_peaks(sr, period).max())


def is_neutral(rgb: torch.Tensor) -> bool:
    """Whether every pixel of ``rgb`` ``(B, 3, H, W)`` has exactly equal red, green and blue: a grey picture
    stored as colour (a grey JPEG decodes so)."""
    return bool(torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 1], rgb[:, 2]))


def is_grey(x: torch.Tensor) -> bool:
    """True when the three channels of the 8-bit image are equal everywhere (a grey photo stored as RGB)."""
    _check(x, "is_grey")
    return is_neutral(torch.floor(x.clamp(0, 1) * 255 + 0.5))


def grey_spread(sr: torch.Tensor) -> float:
    """Mean over pixels of ``max - min`` over the channels, in 8-bit levels (0 for a grey output)."""
    _check(sr, "grey_spread")
    q = torch.floor(sr.double().clamp(0, 1) * 255 + 0.5)
    return float((q.amax(dim=1) - q.amin(dim=1)).mean())


def tint(sr: torch.Tensor, hr: torch.Tensor) -> float:
    """Mean over channels of ``|mean(sr_c) - mean(hr_c)|`` in 8-bit levels: a global colour shift."""
    _check(sr, "tint")
    _check(hr, "tint")
    if sr.shape != hr.shape:
        raise ValueError(f"tint: sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ in shape")
    q_sr = torch.floor(sr.double().clamp(0, 1) * 255 + 0.5).mean(dim=(0, 2, 3))
    q_hr = torch.floor(hr.double().clamp(0, 1) * 255 + 0.5).mean(dim=(0, 2, 3))
    return float((q_sr - q_hr).abs().mean())
