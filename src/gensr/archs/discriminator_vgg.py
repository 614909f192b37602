"""VGG-style discriminator of SRGAN / ESRGAN (BasicSR's ``VGGStyleDiscriminator`` layout).

Pairs of (3x3 conv, 4x4 stride-2 conv) with BatchNorm halve the patch until it is 4x4, then two
linear layers give one logit per image. Parameter names follow BasicSR (``conv0_0``, ``bn0_1``,
..., ``linear1``, ``linear2``).
"""

from __future__ import annotations

from torch import Tensor, nn

from gensr.archs.base import check_choice, store_hparams


class VGGStyleDiscriminator(nn.Module):
    """``(B, C, S, S) -> (B, 1)`` logits, for a fixed patch size ``S = input_size`` (128 or 256)."""

    @store_hparams
    def __init__(self, *, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        check_choice("input_size", input_size, (128, 256))
        self.input_size = input_size
        nf = num_feat
        # (in, out) channels of each stage; each stage halves the size
        stages = [(nf, nf), (nf, 2 * nf), (2 * nf, 4 * nf), (4 * nf, 8 * nf), (8 * nf, 8 * nf)]
        if input_size == 256:
            stages.append((8 * nf, 8 * nf))
        self.num_stages = len(stages)
        self.conv0_0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1, bias=True)
        for i, (cin, cout) in enumerate(stages):
            if i > 0:
                setattr(self, f"conv{i}_0", nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
                setattr(self, f"bn{i}_0", nn.BatchNorm2d(cout, affine=True))
            setattr(self, f"conv{i}_1", nn.Conv2d(cout, cout, 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(cout, affine=True))
        self.linear1 = nn.Linear(8 * nf * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"VGGStyleDiscriminator expects {self.input_size}x{self.input_size} patches, "
                f"got {tuple(x.shape[-2:])}"
            )
        feat = self.lrelu(self.conv0_0(x))
        for i in range(self.num_stages):
            if i > 0:
                feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        feat = feat.flatten(1)  # (B, 8*nf*4*4)
        return self.linear2(self.lrelu(self.linear1(feat)))  # (B, 1)
