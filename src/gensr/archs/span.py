"""SPAN-like: a compact generator with parameter-free attention (after SPAN, Wan et al., NTIRE 2024).

Each block is three 3x3 convolutions with SiLU between them; its own output ``c3`` then weights the
block's residual sum, ``(c3 + x) * (sigmoid(c3) - 0.5)``: attention that costs no parameters. The features
of the first convolution, the first block, the last block and the last block's first convolution are
concatenated and mixed by a 1x1 convolution before the upsampler, as in SPAN. Differences from the
paper's network: plain 3x3 convolutions (no training-time re-parameterisation), and the output adds the
nearest-upsampled input as :class:`~gensr.archs.compact.SRVGGNetCompact` does, so a new network starts
near a plain enlargement.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gensr.archs.base import (
    TAIL_SCALES,
    UPSAMPLERS,
    Stage,
    chain_radius,
    check_choice,
    on_meta,
    store_hparams,
    tail_stages,
    upconv,
    upsample_factors,
)


class SPAB(nn.Module):
    """One block: ``(B, C, H, W) -> (out, first conv's output)``."""

    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.c2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.c3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out1 = self.c1(x)
        out3 = self.c3(F.silu(self.c2(F.silu(out1))))
        return (out3 + x) * (torch.sigmoid(out3) - 0.5), out1


class SPAN(nn.Module):
    """SPAN-like generator; ``(B, C, H, W) -> (B, C, H*scale, W*scale)``, range [0, 1]."""

    SCALES: ClassVar[dict[str, tuple[int, ...]]] = TAIL_SCALES

    @store_hparams
    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 48,
        num_block: int = 6,
        scale: int = 4,
        upsampler: str = "pixelshuffle",
    ) -> None:
        super().__init__()
        check_choice("upsampler", upsampler, UPSAMPLERS)
        check_choice(f"SPAN scale with upsampler {upsampler!r}", scale, self.SCALES[upsampler])
        if num_in_ch != num_out_ch or num_block < 1:
            raise ValueError(
                f"SPAN needs num_in_ch == num_out_ch and num_block >= 1, got {num_in_ch}, "
                f"{num_out_ch}, {num_block}"
            )
        self.scale = scale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.blocks = nn.ModuleList(SPAB(num_feat) for _ in range(num_block))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_cat = nn.Conv2d(4 * num_feat, num_feat, 1)
        up: list[nn.Module] = []
        if upsampler == "pixelshuffle":
            up += [nn.Conv2d(num_feat, num_out_ch * scale * scale, 3, 1, 1), nn.PixelShuffle(scale)]
        else:
            for f in upsample_factors(scale):
                up += [upconv(upsampler, num_feat, num_feat, f), nn.LeakyReLU(0.1, inplace=True)]
            up.append(nn.Conv2d(num_feat, num_out_ch, 3, 1, 1))
        self.upsample = nn.Sequential(*up)
        if not on_meta(self):
            with torch.no_grad():  # start near the nearest-neighbour skip
                last = [m for m in self.upsample if isinstance(m, nn.Conv2d)][-1]
                last.weight.mul_(0.1)
                last.bias.zero_()

    size_multiple: ClassVar[int] = 1
    """Any input size works: every layer runs at the input resolution or above."""

    @property
    def receptive_radius(self) -> int:
        """Input pixels an output pixel depends on, each way (the skip is nearest)."""
        hp = self.hparams  # type: ignore[attr-defined]
        body: list[Stage] = [("conv", 1)] * (3 * hp["num_block"] + 2)
        return chain_radius(body + tail_stages(hp["upsampler"], self.scale))

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv_first(x)
        out, first_b = feat, None
        for block in self.blocks:
            out, inner = block(out)
            first_b = out if first_b is None else first_b
        out = self.conv_cat(torch.cat([feat, self.conv_body(out), first_b, inner], dim=1))
        return self.upsample(out) + F.interpolate(
            x, scale_factor=self.scale, mode="nearest"
        )  # (B, C, H*s, W*s)
