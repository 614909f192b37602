"""RRDBNet: the ESRGAN / Real-ESRGAN generator (residual-in-residual dense blocks).

Parameter names are identical to the official ``.pth`` files (``conv_first``,
``body.N.rdb1.conv1`` ... ``rdb3.conv5``, ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``,
``conv_last``), so their state dicts load with ``strict=True``.

With the default ``upsampler="nearest"`` the network is the official one: two nearest x2 +
conv stages, and for ``scale`` 2 and 1 the input is first pixel-unshuffled by 2 and 4 (so
``conv_first`` sees ``num_in_ch * 4`` or ``num_in_ch * 16`` channels), exactly as Real-ESRGAN's
``RealESRGAN_x2plus``. Scale 3 in nearest mode uses one nearest x3 stage (not official).
With ``"pixelshuffle"`` or ``"deconv"`` the upsampling stages follow :func:`upsample_factors`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
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
from gensr.base.tensors import pad_to_multiple


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; output ``0.2 * conv5 + x``. Shape kept: ``(B, F, H, W)``."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        g = num_grow_ch
        self.conv1 = nn.Conv2d(num_feat, g, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + g, g, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * g, g, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * g, g, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * g, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        scaled_kaiming_([self], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Three residual dense blocks with a scaled residual: ``0.2 * rdb3(rdb2(rdb1(x))) + x``."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: Tensor) -> Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN generator; ``(B, C, H, W) -> (B, C_out, H*scale, W*scale)``, range [0, 1].

    Any ``H, W`` is accepted: in unshuffle mode (nearest, scale 1 or 2) the input is padded to
    the unshuffle multiple and the output cropped back.
    """

    SCALES: ClassVar[dict[str, tuple[int, ...]]] = {
        "nearest": (1, 2, 3, 4),
        "pixelshuffle": (2, 3, 4),
        "deconv": (2, 3, 4),
    }
    """Supported scales per upsampler."""

    @store_hparams
    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        upsampler: str = "nearest",
    ) -> None:
        super().__init__()
        check_choice("upsampler", upsampler, UPSAMPLERS)
        check_choice(f"RRDBNet scale with upsampler {upsampler!r}", scale, self.SCALES[upsampler])
        self.scale = scale
        if upsampler == "nearest" and scale in (1, 2, 4):
            self.unshuffle = 4 // scale  # official: 1 -> 4, 2 -> 2, 4 -> 1
            factors = [2, 2]
        else:
            self.unshuffle = 1
            factors = upsample_factors(scale)
        self.factors = factors
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = make_layer(lambda: RRDB(num_feat, num_grow_ch), num_block)
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        # conv_up1, conv_up2 (as many as there are stages), official names
        self.num_up = len(factors)
        for i, f in enumerate(factors, start=1):
            setattr(self, f"conv_up{i}", upconv(upsampler, num_feat, num_feat, f))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    @property
    def size_multiple(self) -> int:
        """Input sides are padded to this multiple: the pixel-unshuffle factor (1, 2 or 4)."""
        return self.unshuffle

    @property
    def receptive_radius(self) -> int:
        """Input pixels an output pixel depends on, each way (an upper bound; hundreds for ESRGAN)."""
        hp = self.hparams  # type: ignore[attr-defined]
        body: list[Stage] = [("conv", 1)] * (2 + 15 * hp["num_block"])  # conv_first, 5 per RDB, conv_body
        up = upsample_stages(hp["upsampler"], self.factors)
        return chain_radius([("unshuffle", self.unshuffle), *body, *up, ("conv", 1), ("conv", 1)])

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        r = self.unshuffle
        if r > 1:
            x = pad_to_multiple(x, r)  # Real-ESRGAN pads the same way, then crops
            x = F.pixel_unshuffle(x, r)  # (B, C*r*r, H/r, W/r)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(1, self.num_up + 1):
            feat = self.lrelu(getattr(self, f"conv_up{i}")(feat))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out[..., : h * self.scale, : w * self.scale]  # (B, C_out, H*s, W*s)
