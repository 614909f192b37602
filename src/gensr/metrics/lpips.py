"""LPIPS v0.1 (Zhang et al. 2018), the perceptual distance the SR field reports, on offline weights.

``d(x0, x1) = sum_l mean_hw( w_l . (n(f_l(x0)) - n(f_l(x1)))^2 )`` where ``f_l`` are five ReLU
feature maps of an ImageNet AlexNet or VGG16, ``n`` scales each pixel's feature vector to unit
length, and ``w_l`` are the learned non-negative linear layers of LPIPS v0.1. Inputs first go
through LPIPS's scaling layer (shift and scale of [-1, 1] images). Weights: :mod:`gensr.metrics.backbones`.
"""

from __future__ import annotations

import torch
from torch import nn

from gensr.metrics.backbones import alexnet_features, lpips_linear_layers, vgg16_features

__all__ = ["LPIPS"]

# End index (exclusive) in torchvision ``features`` of each LPIPS tap (after a ReLU).
_TAPS = {"alex": (2, 5, 8, 10, 12), "vgg": (4, 9, 16, 23, 30)}


class LPIPS(nn.Module):
    """LPIPS v0.1 distance; frozen, eval mode, differentiable with respect to its inputs.

    Args:
        net: ``'alex'`` (the field's default for reporting) or ``'vgg'`` (also used as a loss).

    Call with ``x0, x1``: ``(B, 3, H, W)`` RGB in [0, 1] (at least 32x32 pixels for AlexNet);
    returns ``(B,)`` distances, 0 for identical images.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in _TAPS:
            raise ValueError(f"unknown LPIPS network {net!r}; choose 'alex' or 'vgg'")
        self.net = net
        features = alexnet_features() if net == "alex" else vgg16_features()
        bounds = (0, *_TAPS[net])
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
        self.lins = lpips_linear_layers(net)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> LPIPS:
        """LPIPS stays in eval mode (no dropout, fixed weights) whatever its parent does."""
        return super().train(False)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = ((x * 2 - 1) - self.shift) / self.scale
        out = []
        for sl in self.slices:
            h = sl(h)
            out.append(h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Distances between ``x0`` and ``x1``, both ``(B, 3, H, W)`` in [0, 1]; returns ``(B,)``."""
        if x0.shape != x1.shape or x0.dim() != 4 or x0.shape[1] != 3:
            shapes = f"{tuple(x0.shape)}, {tuple(x1.shape)}"
            raise ValueError(f"expected two (B, 3, H, W) tensors of one shape, got {shapes}")
        f0, f1 = self._features(x0), self._features(x1)
        total = x0.new_zeros(x0.shape[0])
        for lin, a, b in zip(self.lins, f0, f1, strict=True):
            total = total + lin((a - b) ** 2).mean(dim=(1, 2, 3))
        return total
