"""SRResNet: the SRGAN paper's residual generator, in BasicSR's ``MSRResNet`` layout.

Layout (parameter names as BasicSR's ``MSRResNet`` ``.pth`` files, so those load strictly):
``conv_first`` -> ``body.N`` residual blocks (``conv1``, ``conv2``; with ``batch_norm=True`` also
``bn1``, ``bn2`` as in the SRGAN paper) -> ``upconv1`` (``upconv2`` for x4) -> ``conv_hr`` ->
``conv_last``, plus the bilinear-upsampled input added to the output (MSRResNet's global
residual). ``upsampler="pixelshuffle"`` (default) is the official one; ``"nearest"`` and
``"deconv"`` swap the upsampling stages and keep the names.
"""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from gensr.archs.base import (
    UPSAMPLERS,
    Stage,
    chain_radius,
    check_choice,
    make_layer,
    scaled_kaiming_,
    store_hparams,
    upconv,
    upsample_factors,
    upsample_stages,
)


class ResidualBlock(nn.Module):
    """``x + conv2(relu(conv1(x)))``, with BatchNorm after each conv when ``batch_norm``."""

    def __init__(self, num_feat: int, batch_norm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=not batch_norm)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=not batch_norm)
        self.bn1: nn.Module = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        self.bn2: nn.Module = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        scaled_kaiming_([self.conv1, self.conv2], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    """SRResNet generator; ``(B, C, H, W) -> (B, C_out, H*scale, W*scale)``, range [0, 1]."""

    SCALES: ClassVar[dict[str, tuple[int, ...]]] = {u: (2, 3, 4) for u in UPSAMPLERS}
    """Supported scales per upsampler."""

    @store_hparams
    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        scale: int = 4,
        batch_norm: bool = False,
        upsampler: str = "pixelshuffle",
    ) -> None:
        super().__init__()
        check_choice("upsampler", upsampler, UPSAMPLERS)
        check_choice("SRResNet scale", scale, self.SCALES[upsampler])
        if num_in_ch != num_out_ch:
            raise ValueError(f"num_in_ch ({num_in_ch}) must equal num_out_ch ({num_out_ch})")
        self.scale = scale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = make_layer(lambda: ResidualBlock(num_feat, batch_norm), num_block)
        factors = upsample_factors(scale)
        self.num_up = len(factors)
        for i, f in enumerate(factors, start=1):
            setattr(self, f"upconv{i}", upconv(upsampler, num_feat, num_feat, f))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)
        ups = [getattr(self, f"upconv{i}") for i in range(1, self.num_up + 1)]
        scaled_kaiming_([self.conv_first, *ups, self.conv_hr, self.conv_last], 0.1)

    size_multiple: ClassVar[int] = 1
    """Any input size works: every layer runs at the input resolution or above."""

    @property
    def receptive_radius(self) -> int:
        """Input pixels an output pixel depends on, each way (the bilinear skip reaches 1)."""
        hp = self.hparams  # type: ignore[attr-defined]
        body: list[Stage] = [("conv", 1)] * (1 + 2 * hp["num_block"])
        up = upsample_stages(hp["upsampler"], upsample_factors(self.scale))
        return max(1, chain_radius([*body, *up, ("conv", 1), ("conv", 1)]))

    def forward(self, x: Tensor) -> Tensor:
        feat = self.lrelu(self.conv_first(x))
        out = self.body(feat)
        for i in range(1, self.num_up + 1):
            out = self.lrelu(getattr(self, f"upconv{i}")(out))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))  # (B, C_out, H*s, W*s)
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
