"""The :class:`Upscaler`: a generator ready to upscale images on one device (tiled, with alpha)."""

from __future__ import annotations

import torch
from torch import nn

from gensr.imageio import Image
from gensr.infer.alpha import fill_transparent, upscale_alpha
from gensr.infer.devices import resolve_device, resolve_precision
from gensr.infer.tiling import Progress, prepare_net, run_tiles

ALPHA_METHODS = ("bicubic", "net")


class Upscaler:
    """A generator ready to upscale :class:`~gensr.imageio.Image` objects on one device.

    Args:
        net: the generator (moved to the device and precision once, here).
        scale: its factor; None reads ``net.hparams["scale"]`` or ``net.scale``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or a device.
        precision: ``fp32`` (default), ``bf16``, ``fp16`` (CUDA only), or a dtype.
        tile: tile side in input pixels; None = automatic.
        overlap: tile context in input pixels; None = from the network's depth.
        alpha: ``bicubic`` (default) or ``net`` (alpha run through the network as grey).
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        scale: int | None = None,
        device: str | torch.device = "auto",
        precision: str | torch.dtype = "fp32",
        tile: int | None = None,
        overlap: int | None = None,
        alpha: str = "bicubic",
    ) -> None:
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        if scale is None:
            scale = int(getattr(net, "hparams", {}).get("scale", getattr(net, "scale", 0)))
        if scale < 1:
            raise ValueError("scale unknown: pass scale= for a network without hparams['scale']")
        if alpha not in ALPHA_METHODS:
            raise ValueError(f"unknown alpha method {alpha!r}; use {', '.join(ALPHA_METHODS)}")
        self.net, self.scale, self.tile, self.overlap, self.alpha = net, scale, tile, overlap, alpha
        prepare_net(net, self.device, self.dtype)

    def upscale_tensor(self, lr: torch.Tensor, progress: Progress | None = None) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 3, H*s, W*s) in [0, 1], on the CPU."""
        return run_tiles(
            self.net,
            lr,
            scale=self.scale,
            tile=self.tile,
            overlap=self.overlap,
            device=self.device,
            dtype=self.dtype,
            progress=progress,
        )

    def upscale(self, image: Image, progress: Progress | None = None) -> Image:
        """Upscale an image, keeping alpha, bit depth, grey mode, EXIF and ICC."""
        rgb = image.rgb
        alpha = image.alpha
        if alpha is not None:
            rgb = fill_transparent(rgb, alpha)
        sr = self.upscale_tensor(rgb, progress)  # (1, 3, H*s, W*s)
        if alpha is not None:
            if self.alpha == "net" and not bool((alpha == 1).all()):
                alpha = self.upscale_tensor(alpha.expand(-1, 3, -1, -1)).mean(dim=1, keepdim=True)
            else:
                alpha = upscale_alpha(alpha, self.scale)
        if image.gray:
            sr = sr.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous()
        return image.replace(rgb=sr, alpha=alpha)


def tile_upscale(
    net: nn.Module,
    lr: torch.Tensor,
    *,
    scale: int,
    tile: int | None = None,
    overlap: int | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = torch.float32,
    progress: Progress | None = None,
) -> torch.Tensor:
    """One-call form of :meth:`Upscaler.upscale_tensor`: (B, 3, H, W) -> (B, 3, H*s, W*s) on the CPU.

    ``net`` is moved to ``device`` and ``dtype`` in place (as ``nn.Module.to`` does) and set to eval mode.
    """
    up = Upscaler(net, scale=scale, device=device, precision=dtype, tile=tile, overlap=overlap)
    return up.upscale_tensor(lr, progress)
