"""U-Net discriminator with spectral normalization (Real-ESRGAN's ``UNetDiscriminatorSN``).

Three stride-2 downsampling convs, three bilinear-upsampling convs with skip connections, two
extra convs and a 1-channel head give a per-pixel realness map. Parameter names follow
Real-ESRGAN (``conv0`` ... ``conv9``; spectral-normed layers hold ``weight_orig``, ``weight_u``,
``weight_v``), so official ``net_d`` files load.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from gensr.archs.base import store_hparams


def _sn_conv(cin: int, cout: int, kernel: int, stride: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, kernel, stride, 1, bias=False))


class UNetDiscriminatorSN(nn.Module):
    """``(B, C, H, W) -> (B, 1, H, W)`` per-pixel logits; any ``H, W`` (skips are resized to fit)."""

    @store_hparams
    def __init__(self, *, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        nf = num_feat
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1)
        self.conv1 = _sn_conv(nf, 2 * nf, 4, 2)
        self.conv2 = _sn_conv(2 * nf, 4 * nf, 4, 2)
        self.conv3 = _sn_conv(4 * nf, 8 * nf, 4, 2)
        self.conv4 = _sn_conv(8 * nf, 4 * nf, 3, 1)
        self.conv5 = _sn_conv(4 * nf, 2 * nf, 3, 1)
        self.conv6 = _sn_conv(2 * nf, nf, 3, 1)
        self.conv7 = _sn_conv(nf, nf, 3, 1)
        self.conv8 = _sn_conv(nf, nf, 3, 1)
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def _up(self, x: Tensor, like: Tensor) -> Tensor:
        # x2 bilinear for sizes divisible by 8 (as official); otherwise exactly the skip's size
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: Tensor) -> Tensor:
        x0 = F.leaky_relu(self.conv0(x), 0.2)  # (B, nf, H, W)
        x1 = F.leaky_relu(self.conv1(x0), 0.2)  # (B, 2nf, H/2, W/2)
        x2 = F.leaky_relu(self.conv2(x1), 0.2)  # (B, 4nf, H/4, W/4)
        x3 = F.leaky_relu(self.conv3(x2), 0.2)  # (B, 8nf, H/8, W/8)
        x4 = F.leaky_relu(self.conv4(self._up(x3, x2)), 0.2)
        if self.skip_connection:
            x4 = x4 + x2
        x5 = F.leaky_relu(self.conv5(self._up(x4, x1)), 0.2)
        if self.skip_connection:
            x5 = x5 + x1
        x6 = F.leaky_relu(self.conv6(self._up(x5, x0)), 0.2)
        if self.skip_connection:
            x6 = x6 + x0
        out = F.leaky_relu(self.conv7(x6), 0.2)
        out = F.leaky_relu(self.conv8(out), 0.2)
        return self.conv9(out)  # (B, 1, H, W)
