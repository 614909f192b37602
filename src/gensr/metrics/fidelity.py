"""PSNR and SSIM with the field's conventions (BT.601 Y channel, border crop, 8-bit quantization).

The evaluation protocol of SR papers (BasicSR ``calculate_psnr``/``calculate_ssim``, MATLAB scripts):

- images are 8-bit: the network output is rounded to uint8 before scoring (``quantize=True``);
- PSNR/SSIM are computed on the Y channel of MATLAB's ``rgb2ycbcr`` (BT.601, studio range 16-235),
  *not rounded*, after cropping ``scale`` pixels from each border;
- SSIM is Wang et al.'s: an 11x11 Gaussian window (sigma 1.5), constants ``K1 = 0.01``, ``K2 = 0.03``
  on the 0..255 scale, mean over the "valid" region (windows fully inside the image); for RGB it
  is the mean of the per-channel SSIMs.

All functions take ``(B, C, H, W)`` float tensors in [0, 1] and return one value per image ``(B,)``.
LPIPS lives in :mod:`gensr.metrics.lpips`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gensr.base.tensors import quantize_uint8

__all__ = ["psnr", "rgb_to_y", "ssim"]

# MATLAB rgb2ycbcr, Y row, for R, G, B in [0, 1] giving Y in [16, 235].
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of MATLAB's ``rgb2ycbcr`` (studio range), scaled back to [0, 1].

    ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` for R, G, B in [0, 1]; so black maps to
    16/255 and white to 235/255. Multiply by 255 to get MATLAB's / BasicSR's 0..255 Y values
    (which BasicSR keeps as floats, unrounded, for its metrics).

    Args:
        x: ``(B, 3, H, W)`` RGB in [0, 1].

    Returns:
        ``(B, 1, H, W)`` Y in [16/255, 235/255].

    >>> black_white = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 1, 1)
    >>> [round(v * 255, 3) for v in rgb_to_y(black_white).flatten().tolist()]
    [16.0, 235.0]
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) RGB, got shape {tuple(x.shape)}")
    w = torch.tensor(_Y_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return ((x * w).sum(dim=1, keepdim=True) + _Y_OFFSET) / 255.0


def _prepare(
    sr: torch.Tensor, hr: torch.Tensor, crop: int, y_channel: bool, quantize: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    if sr.shape != hr.shape or sr.dim() != 4:
        shapes = f"{tuple(sr.shape)}, {tuple(hr.shape)}"
        raise ValueError(f"sr and hr must share one (B, C, H, W) shape, got {shapes}")
    sr, hr = sr.double(), hr.double()
    if quantize:
        sr, hr = quantize_uint8(sr), quantize_uint8(hr)
    if y_channel:
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
    if crop > 0:
        if sr.shape[-2] <= 2 * crop or sr.shape[-1] <= 2 * crop:
            raise ValueError(f"crop {crop} leaves nothing of a {sr.shape[-2]}x{sr.shape[-1]} image")
        sr, hr = sr[..., crop:-crop, crop:-crop], hr[..., crop:-crop, crop:-crop]
    return sr, hr


def psnr(
    sr: torch.Tensor,
    hr: torch.Tensor,
    *,
    crop: int = 0,
    y_channel: bool = True,
    max_val: float = 1.0,
    quantize: bool = False,
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, per image.

    Args:
        sr: ``(B, C, H, W)`` output, in [0, max_val] (RGB in [0, 1] when ``y_channel``).
        hr: ``(B, C, H, W)`` reference, same shape.
        crop: pixels removed from each border before scoring (the protocol uses ``scale``).
        y_channel: score the BT.601 Y channel (:func:`rgb_to_y`) instead of all channels.
        max_val: peak value; 1.0 for [0, 1] images (the Y channel is scaled to [0, 1] too).
        quantize: round both images to uint8 levels first, as the protocol does for 8-bit images
            (:func:`gensr.evaluate` turns it on; off here so the function is plain math on floats).

    Returns:
        ``(B,)`` float64 PSNR; ``inf`` where the images are equal.

    >>> one = torch.ones(1, 1, 4, 4)
    >>> round(psnr(one, 1.2 * one, y_channel=False, max_val=2.0).item(), 4)
    20.0
    """
    a, b = _prepare(sr, hr, crop, y_channel, quantize)
    mse = ((a - b) ** 2).flatten(1).mean(dim=1)
    return 10 * torch.log10(max_val**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]  # (size, size), sums to 1


def ssim(
    sr: torch.Tensor,
    hr: torch.Tensor,
    *,
    crop: int = 0,
    y_channel: bool = True,
    quantize: bool = False,
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), per image, as MATLAB's ``ssim_index`` and BasicSR.

    Computed on the 0..255 scale (``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2``) with an 11x11
    Gaussian window of sigma 1.5 over the valid region; with several channels, the channel mean.

    Args:
        sr: ``(B, C, H, W)`` output in [0, 1] (RGB when ``y_channel``).
        hr: ``(B, C, H, W)`` reference, same shape.
        crop: pixels removed from each border first.
        y_channel: score the BT.601 Y channel instead of each channel.
        quantize: round both images to uint8 levels first (see :func:`psnr`).

    Returns:
        ``(B,)`` float64 SSIM in [-1, 1]; 1 for equal images.
    """
    a, b = _prepare(sr, hr, crop, y_channel, quantize)
    a, b = a * 255.0, b * 255.0
    c = a.shape[1]
    if a.shape[-2] < 11 or a.shape[-1] < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[-2]}x{a.shape[-1]}")
    win = _gaussian_window(dtype=a.dtype).to(a.device).expand(c, 1, 11, 11)

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)  # valid region only

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(2).mean(dim=2).mean(dim=1)
