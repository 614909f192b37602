"""MATLAB-exact bicubic ``imresize`` in torch: the resize behind the field's evaluation protocol.

MATLAB's ``imresize(img, scale, 'bicubic')`` is separable: along each dimension an output pixel
``x`` (1-based) maps to the input coordinate ``u = x / scale + 0.5 * (1 - 1 / scale)`` and takes a
weighted sum of the input pixels within ``kernel_width / 2`` of ``u``, with the Keys cubic kernel
(``a = -0.5``). When shrinking (``scale < 1``) with antialiasing the kernel is stretched to
``h(x) = scale * cubic(scale * x)`` of width ``4 / scale``. Weights are normalized to sum to 1 and
out-of-range taps are mirrored (symmetric padding: ``... 2 1 | 1 2 3 ... n | n n-1 ...``).
The dimension with the smaller scale is resized first (height first on ties), as MATLAB does.

Here each 1-D pass is a sum over taps of ``index_select`` times a weight vector, so the function is
differentiable with respect to its input, works batched on any device and needs memory of only
twice the output of a pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from gensr.base.tensors import quantize_uint8

__all__ = ["imresize", "cubic", "contributions", "output_size"]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``), support ``[-2, 2]``.

    >>> cubic(np.array([0.0, 1.0, 0.5])).tolist()
    [1.0, 0.0, 0.5625]
    """
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=256)
def contributions(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights and (0-based, mirrored) input indices of one 1-D MATLAB bicubic resize.

    Args:
        in_len: input length along the dimension.
        out_len: output length along the dimension.
        scale: the scale factor MATLAB uses for this dimension (given, or ``out_len / in_len``).
        antialias: stretch the kernel when ``scale < 1`` (MATLAB's default).

    Returns:
        ``(weights, indices)``, both ``(out_len, taps)``; ``weights`` float64 rows sum to 1,
        ``indices`` int64 in ``[0, in_len)``. Output pixel ``i`` is
        ``sum_k weights[i, k] * x[indices[i, k]]``.
    """
    if in_len < 1 or out_len < 1:
        raise ValueError(f"sizes must be positive, got in_len={in_len}, out_len={out_len}")
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)  # 1-based output coordinates, as in MATLAB
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    dist = u[:, None] - indices
    if scale < 1 and antialias:
        weights = scale * cubic(dist * scale)
    else:
        weights = cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])  # 0-based, symmetric
    idx = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)  # MATLAB drops tap columns that are zero for every output
    weights, idx = weights[:, keep], idx[:, keep]
    weights.setflags(write=False)
    idx.setflags(write=False)
    return weights, idx


def output_size(in_len: int, scale: float) -> int:
    """MATLAB's output length for a scale factor: ``ceil(in_len * scale)``.

    A product within 1e-9 of an integer counts as that integer, so ``1/3`` of 300 gives 100 even
    though ``300 * (1/3)`` is not exactly 100 in floating point.
    """
    prod = in_len * scale
    nearest = round(prod)
    return int(nearest) if abs(prod - nearest) < 1e-9 else int(math.ceil(prod))


def _pair(v: float | Sequence[float]) -> tuple[float, float]:
    if isinstance(v, (int, float)):
        return float(v), float(v)
    a, b = v
    return float(a), float(b)


def _resize_dim(x: torch.Tensor, dim: int, weights: np.ndarray, idx: np.ndarray) -> torch.Tensor:
    """One 1-D pass along ``dim`` (-2 = height, -1 = width)."""
    w = torch.tensor(weights, dtype=x.dtype, device=x.device)  # (out, taps)
    i = torch.tensor(idx, device=x.device)  # (out, taps)
    shape = [1] * x.dim()
    shape[dim] = w.shape[0]
    out = x.index_select(dim, i[:, 0]) * w[:, 0].view(shape)
    for k in range(1, w.shape[1]):
        out = out + x.index_select(dim, i[:, k]) * w[:, k].view(shape)
    return out


def imresize(
    x: torch.Tensor,
    *,
    scale: float | Sequence[float] | None = None,
    size: Sequence[int] | None = None,
    antialias: bool = True,
    round_uint8: bool = False,
) -> torch.Tensor:
    """Resize like MATLAB's ``imresize(x, scale_or_size, 'bicubic')``.

    Args:
        x: ``(..., H, W)`` floating tensor, e.g. ``(B, C, H, W)`` in [0, 1]; any device.
        scale: scale factor, or ``(scale_h, scale_w)``. The output size is ``ceil(H * scale)``.
        size: output ``(H_out, W_out)``; then each dimension's scale is ``out / in``.
            Give exactly one of ``scale`` and ``size``; with both, ``size`` sets the shape and
            ``scale`` the kernel, as MATLAB does when given both.
        antialias: widen the kernel when shrinking (MATLAB's default ``'Antialiasing', true``).
        round_uint8: emulate MATLAB on a uint8 image: after each 1-D pass clip to [0, 1] and round
            to the nearest of the 256 levels (so the input should already be on that grid). Not
            differentiable (rounding has zero gradient).

    Returns:
        ``(..., H_out, W_out)`` tensor of ``x``'s dtype and device. Not clamped unless ``round_uint8``.

    >>> imresize(torch.ones(1, 1, 4, 6), scale=0.5).shape
    torch.Size([1, 1, 2, 3])
    """
    if x.dim() < 2:
        raise ValueError(f"expected a tensor (..., H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating tensor, got {x.dtype}")
    in_h, in_w = x.shape[-2], x.shape[-1]
    if size is None and scale is None:
        raise ValueError("give scale or size")
    if size is not None:
        out_h, out_w = (int(s) for s in size)
        if scale is None:
            sh, sw = out_h / in_h, out_w / in_w
        else:
            sh, sw = _pair(scale)
    else:
        assert scale is not None
        sh, sw = _pair(scale)
        if sh <= 0 or sw <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        out_h, out_w = output_size(in_h, sh), output_size(in_w, sw)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output size must be positive, got {(out_h, out_w)}")

    passes = [(-2, in_h, out_h, sh), (-1, in_w, out_w, sw)]
    passes.sort(key=lambda p: p[3])  # smaller scale first; stable, so height first on ties
    for dim, n_in, n_out, s in passes:
        if n_in == n_out and s == 1.0:
            continue  # identity pass: the weights would be exactly one tap of 1
        weights, idx = contributions(n_in, n_out, s, antialias)
        x = _resize_dim(x, dim, weights, idx)
        if round_uint8:
            x = quantize_uint8(x)
    return x
