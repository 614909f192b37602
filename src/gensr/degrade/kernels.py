"""Blur kernels for the degradations, and the 2-D filtering that applies them.

Kernel families follow Real-ESRGAN's second-order degradation model (Wang et al. 2021):
isotropic/anisotropic Gaussian, generalized Gaussian, plateau, and the circular low-pass
("sinc", a 2-D jinc built from the Bessel function J1). Every kernel is an odd-sized
``(K, K)`` float32 tensor that sums to 1. Randomness comes only from the ``torch.Generator``
passed in, so a kernel is replayable from a seed. Also here: reflect-padded 2-D filtering
(:func:`filter2d`, :func:`filter2d_separable`) and Real-ESRGAN's unsharp mask (:func:`usm_sharp`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from gensr.base.tensors import pad_reflect

KERNEL_TYPES: tuple[str, ...] = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)
"""Kernel families, in the order of ``kernel_prob`` in the degradation configs."""


def _check_size(size: int) -> None:
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd number, got {size}")


def _normalize(k: torch.Tensor) -> torch.Tensor:
    return (k / k.sum()).to(torch.float32)


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> torch.Tensor:
    """``v^T Sigma^-1 v`` on a centred grid, ``Sigma = R diag(sx^2, sy^2) R^T``, R = rotation by theta.

    Returns (K, K) float64."""
    _check_size(size)
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u = c * xx + s * yy  # coordinates along the principal axes
    v = -s * xx + c * yy
    return (u / sigma_x) ** 2 + (v / sigma_y) ** 2


def gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0
) -> torch.Tensor:
    """Bivariate Gaussian kernel ``exp(-q/2)``, isotropic when ``sigma_y`` is None.

    Args:
        size: odd kernel size K.
        sigma_x: standard deviation along the first principal axis (pixels).
        sigma_y: standard deviation along the second axis; None means ``sigma_x``.
        theta: rotation of the principal axes (radians).

    Returns:
        (K, K) float32 kernel summing to 1.
    """
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalize(torch.exp(-0.5 * q))


def generalized_gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> torch.Tensor:
    """Generalized Gaussian kernel ``exp(-q^beta / 2)``; ``beta=1`` is the Gaussian.

    Args:
        size: odd kernel size K.
        sigma_x, sigma_y, theta: as in :func:`gaussian_kernel`.
        beta: shape; < 1 gives heavier tails, > 1 a flatter top and sharper fall-off.

    Returns:
        (K, K) float32 kernel summing to 1.
    """
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalize(torch.exp(-0.5 * q.pow(beta)))


def plateau_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> torch.Tensor:
    """Plateau-shaped kernel ``1 / (1 + q^beta)``.

    Args:
        size: odd kernel size K.
        sigma_x, sigma_y, theta: as in :func:`gaussian_kernel`.
        beta: shape; larger values give a flatter plateau.

    Returns:
        (K, K) float32 kernel summing to 1.
    """
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalize(1.0 / (q.pow(beta) + 1.0))


def sinc_kernel(size: int, cutoff: float) -> torch.Tensor:
    """Circularly symmetric low-pass ("2-D sinc") kernel: ``cutoff * J1(cutoff*r) / (2*pi*r)``.

    This is the ideal low-pass with a circular pass band of radius ``cutoff`` (radians per
    pixel, ``pi`` = Nyquist), truncated to K x K; it produces ringing and overshoot artifacts.

    Args:
        size: odd kernel size K.
        cutoff: cutoff frequency in radians, in (0, pi].

    Returns:
        (K, K) float32 kernel summing to 1.
    """
    _check_size(size)
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    r = torch.sqrt(xx**2 + yy**2)
    safe_r = torch.where(r > 0, r, torch.ones_like(r))
    k = cutoff * torch.special.bessel_j1(cutoff * safe_r) / (2 * math.pi * safe_r)
    k = torch.where(r > 0, k, torch.full_like(k, cutoff**2 / (4 * math.pi)))  # limit at r = 0
    return _normalize(k)


def pulse_kernel(size: int) -> torch.Tensor:
    """Identity kernel: 1 at the centre, 0 elsewhere. (K, K) float32."""
    _check_size(size)
    k = torch.zeros(size, size)
    k[size // 2, size // 2] = 1.0
    return k


def pad_kernel(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad a (k, k) kernel symmetrically to (size, size); size >= k, both odd."""
    k = kernel.shape[-1]
    _check_size(size)
    if size < k:
        raise ValueError(f"cannot pad a {k}x{k} kernel to {size}x{size}")
    p = (size - k) // 2
    return F.pad(kernel, (p, p, p, p))


def trim_kernel(kernel: torch.Tensor) -> torch.Tensor:
    """Remove all-zero outer rings of a (K, K) kernel (undoes :func:`pad_kernel`). (k, k), k <= K."""
    k = kernel
    while k.shape[-1] > 1 and not (k[0].any() or k[-1].any() or k[:, 0].any() or k[:, -1].any()):
        k = k[1:-1, 1:-1]
    return k


def rand_uniform(g: torch.Generator, lo: float, hi: float) -> float:
    """A float drawn uniformly from [lo, hi) with ``g`` (float64 precision)."""
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def rand_choice(g: torch.Generator, probs: Sequence[float]) -> int:
    """An index drawn with the given (unnormalized) probabilities using ``g``."""
    u = float(torch.rand((), generator=g, dtype=torch.float64)) * sum(probs)
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return len(probs) - 1


def _sample_beta(g: torch.Generator, lo: float, hi: float) -> float:
    # Real-ESRGAN's scheme: half the time below 1, half the time above 1 (a range that does not
    # straddle 1 collapses onto its end nearest 1 for that half).
    if rand_uniform(g, 0.0, 1.0) < 0.5:
        return rand_uniform(g, lo, 1.0) if lo < 1.0 else lo
    return rand_uniform(g, 1.0, hi) if hi > 1.0 else hi


def sample_blur_kernel(
    g: torch.Generator,
    *,
    sizes: Sequence[int],
    kernel_prob: Sequence[float],
    sinc_prob: float,
    blur_sigma: tuple[float, float],
    betag_range: tuple[float, float],
    betap_range: tuple[float, float],
    pad_to: int,
) -> torch.Tensor:
    """Draw one random blur kernel the way Real-ESRGAN's first/second degradation does.

    The size is drawn from ``sizes``; with probability ``sinc_prob`` a sinc kernel with cutoff
    U(pi/3, pi) (U(pi/5, pi) for sizes >= 13) is drawn, otherwise a family from
    :data:`KERNEL_TYPES` with ``kernel_prob``, sigmas from ``blur_sigma`` and a rotation
    U(-pi, pi) for anisotropic ones.

    Args:
        g: CPU generator, the only source of randomness.
        sizes: odd kernel sizes to choose from uniformly.
        kernel_prob: probability of each family in :data:`KERNEL_TYPES`.
        sinc_prob: probability of a sinc kernel instead.
        blur_sigma: range of the Gaussian sigmas (pixels).
        betag_range: range of beta for generalized Gaussians.
        betap_range: range of beta for plateau kernels.
        pad_to: odd size of the returned kernel (zero padded).

    Returns:
        (pad_to, pad_to) float32 kernel summing to 1.
    """
    size = sizes[rand_choice(g, [1.0] * len(sizes))]
    if rand_uniform(g, 0.0, 1.0) < sinc_prob:
        lo = math.pi / 3 if size < 13 else math.pi / 5
        return pad_kernel(sinc_kernel(size, rand_uniform(g, lo, math.pi)), pad_to)
    kind = KERNEL_TYPES[rand_choice(g, kernel_prob)]
    sigma_x = rand_uniform(g, *blur_sigma)
    if kind.endswith("aniso"):
        sigma_y, theta = rand_uniform(g, *blur_sigma), rand_uniform(g, -math.pi, math.pi)
    else:
        sigma_y, theta = sigma_x, 0.0
    if kind.startswith("generalized"):
        k = generalized_gaussian_kernel(size, sigma_x, sigma_y, theta, _sample_beta(g, *betag_range))
    elif kind.startswith("plateau"):
        k = plateau_kernel(size, sigma_x, sigma_y, theta, _sample_beta(g, *betap_range))
    else:
        k = gaussian_kernel(size, sigma_x, sigma_y, theta)
    return pad_kernel(k, pad_to)


def sample_sinc_kernel(g: torch.Generator, *, sizes: Sequence[int], pad_to: int) -> torch.Tensor:
    """The final sinc filter of Real-ESRGAN: size from ``sizes``, cutoff U(pi/3, pi). (pad_to, pad_to)."""
    size = sizes[rand_choice(g, [1.0] * len(sizes))]
    return pad_kernel(sinc_kernel(size, rand_uniform(g, math.pi / 3, math.pi)), pad_to)


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of every image with a kernel, reflect padding, same size.

    Args:
        x: (B, C, H, W) float images.
        kernel: (K, K) for all images, or (B, K, K) one per image; K odd.

    Returns:
        (B, C, H, W) filtered images.
    """
    b, c, h, w = x.shape
    k = kernel.shape[-1]
    _check_size(k)
    kernel = kernel.to(device=x.device, dtype=x.dtype)
    xp = pad_reflect(x, (k // 2,) * 4)
    if kernel.dim() == 2:
        weight = kernel.expand(c, 1, k, k)
        return F.conv2d(xp, weight, groups=c)
    if kernel.shape[0] != b:
        raise ValueError(f"got {kernel.shape[0]} kernels for {b} images")
    weight = kernel.repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, K, K)
    out = F.conv2d(xp.reshape(1, b * c, *xp.shape[-2:]), weight, groups=b * c)
    return out.reshape(b, c, h, w)


def filter2d_separable(x: torch.Tensor, kernel_1d: torch.Tensor) -> torch.Tensor:
    """Filter with the outer product of a 1-D kernel with itself, in two 1-D passes (reflect padding).

    Args:
        x: (B, C, H, W) float images.
        kernel_1d: (K,) kernel, K odd.

    Returns:
        (B, C, H, W) filtered images.
    """
    c = x.shape[1]
    k = kernel_1d.shape[0]
    _check_size(k)
    kern = kernel_1d.to(device=x.device, dtype=x.dtype)
    p = k // 2
    x = F.conv2d(pad_reflect(x, (p, p, 0, 0)), kern.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(pad_reflect(x, (0, 0, p, p)), kern.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def gaussian_kernel_1d(size: int, sigma: float = 0.0) -> torch.Tensor:
    """1-D Gaussian like OpenCV's ``getGaussianKernel`` for size > 7; sigma <= 0 means
    ``0.3 * ((size - 1) / 2 - 1) + 0.8``. (K,) float64 summing to 1."""
    _check_size(size)
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-(ax**2) / (2 * sigma**2))
    return k / k.sum()


def usm_sharp(
    img: torch.Tensor, weight: float = 0.5, radius: int = 50, threshold: float = 10
) -> torch.Tensor:
    """Unsharp masking as Real-ESRGAN sharpens its ground truth.

    ``sharp = clamp(img + weight * (img - blur))``, blended in only where ``|img - blur|``
    exceeds ``threshold`` levels (with a blurred, soft mask). The blur is a Gaussian of size
    ``radius`` (made odd) with OpenCV's default sigma for that size (8.0 for 51).

    Args:
        img: (B, C, H, W) images in [0, 1].
        weight: sharpening strength.
        radius: Gaussian kernel size (an even value is increased by 1).
        threshold: minimum residual, in 8-bit levels, for sharpening.

    Returns:
        (B, C, H, W) sharpened images in [0, 1].
    """
    if radius % 2 == 0:
        radius += 1
    k = gaussian_kernel_1d(radius)
    residual = img - filter2d_separable(img, k)
    mask = (residual.abs() * 255 > threshold).to(img.dtype)
    soft = filter2d_separable(mask, k)
    sharp = (img + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * img
