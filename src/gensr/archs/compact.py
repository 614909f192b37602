"""SRVGGNetCompact: Real-ESRGAN's small plain-conv generator (``realesr-animevideov3``, ``-general-x4v3``).

Parameter names match the official ``.pth`` files: ``body`` is one ``nn.ModuleList`` of
``conv, act, (conv, act) * num_conv, conv`` so the weights are ``body.0.weight``, ``body.1.weight``
(PReLU), ... With the default ``upsampler="pixelshuffle"`` the last conv produces
``num_out_ch * scale**2`` channels that are pixel-shuffled, as in the official network. With
``"nearest"`` or ``"deconv"`` the last conv is replaced by upsampling stages (``upconv`` + act)
and a final conv to ``num_out_ch``, still inside ``body``. In every mode the output adds the
nearest-upsampled input, as the official network does.

``net_scale`` (default: ``scale``) covers Real-ESRGAN's ncnn ``realesr-animevideov3-x2/-x3``
files, which are the x4 network followed by a bicubic resize inside the graph: the convolutional
part enlarges by ``net_scale`` and the result is then resized bicubically (PyTorch/ncnn cubic
kernel, ``align_corners=False``, no antialiasing) to exactly ``scale`` times the input.
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

ACT_TYPES = ("prelu", "relu", "leakyrelu")


def _activation(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if act_type == "relu":
        return nn.ReLU(inplace=True)
    return nn.LeakyReLU(negative_slope=0.1, inplace=True)


class SRVGGNetCompact(nn.Module):
    """Compact VGG-style generator; ``(B, C, H, W) -> (B, C_out, H*scale, W*scale)``, range [0, 1]."""

    SCALES: ClassVar[dict[str, tuple[int, ...]]] = TAIL_SCALES
    """Supported scales per upsampler."""

    @store_hparams
    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        scale: int = 4,
        act_type: str = "prelu",
        upsampler: str = "pixelshuffle",
        net_scale: int | None = None,
    ) -> None:
        super().__init__()
        check_choice("upsampler", upsampler, UPSAMPLERS)
        check_choice("act_type", act_type, ACT_TYPES)
        check_choice("SRVGGNetCompact scale", scale, (1, 2, 3, 4))
        self.net_scale = scale if net_scale is None else net_scale
        check_choice(
            f"SRVGGNetCompact {'net_scale' if net_scale else 'scale'} with upsampler {upsampler!r}",
            self.net_scale,
            self.SCALES[upsampler],
        )
        if num_in_ch != num_out_ch:
            # the output adds the upsampled input, channel by channel
            raise ValueError(f"num_in_ch ({num_in_ch}) must equal num_out_ch ({num_out_ch})")
        self.scale = scale
        net_s = self.net_scale
        self.body = nn.ModuleList([nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _activation(act_type, num_feat)])
        for _ in range(num_conv):
            self.body.append(nn.Conv2d(num_feat, num_feat, 3, 1, 1))
            self.body.append(_activation(act_type, num_feat))
        if upsampler == "pixelshuffle":
            self.body.append(nn.Conv2d(num_feat, num_out_ch * net_s * net_s, 3, 1, 1))
            self.shuffle: nn.Module = nn.PixelShuffle(net_s)
        else:
            for f in upsample_factors(net_s):
                self.body.append(upconv(upsampler, num_feat, num_feat, f))
                self.body.append(_activation(act_type, num_feat))
            self.body.append(nn.Conv2d(num_feat, num_out_ch, 3, 1, 1))
            self.shuffle = nn.Identity()

        self._init_weights(act_type)

    def _init_weights(self, act_type: str) -> None:
        """He initialisation for the activation's negative slope, zero biases, the last conv x0.1.

        PyTorch's default conv initialisation shrinks the signal about 2x per layer, so a plain
        stack of 18 convs starts as a no-op and learns slowly; with He initialisation the body
        passes its signal on, and the small last conv starts the net near its nearest-neighbour skip.
        (The recipe that trained the built-in ``gensr-compact-x4``.)
        """
        if on_meta(self):
            return
        slope = {"prelu": 0.25, "relu": 0.0, "leakyrelu": 0.1}[act_type]
        convs = [m for m in self.body if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        for m in convs:
            nn.init.kaiming_normal_(m.weight, a=slope, nonlinearity="leaky_relu")
            nn.init.zeros_(m.bias)
        with torch.no_grad():
            convs[-1].weight.mul_(0.1)

    size_multiple: ClassVar[int] = 1
    """Any input size works: every layer runs at the input resolution or above."""

    @property
    def receptive_radius(self) -> int:
        """Input pixels an output pixel depends on, each way: the conv chain (the skip is nearest)."""
        hp, net_s = self.hparams, self.net_scale  # type: ignore[attr-defined]
        up = tail_stages(hp["upsampler"], net_s)
        resize: list[Stage] = [("conv", 2)] if net_s != self.scale else []  # bicubic to ``scale``
        return chain_radius([("conv", 1)] * (hp["num_conv"] + 1) + up + resize)

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.shuffle(out)  # (B, C_out, H*n, W*n), n = net_scale
        out = out + F.interpolate(x, scale_factor=self.net_scale, mode="nearest")
        if self.net_scale != self.scale:
            h, w = x.shape[-2:]
            out = F.interpolate(
                out, size=(h * self.scale, w * self.scale), mode="bicubic", align_corners=False
            )
        return out  # (B, C_out, H*s, W*s)


def deepen(net: SRVGGNetCompact, num_conv: int) -> SRVGGNetCompact:
    """The same function with ``num_conv`` body convolutions: identity convolutions (a centred unit kernel
    per channel, zero bias) each followed by a PReLU of slope 1 are spread evenly among the trained ones.

    A wider search for capacity starts from trained weights this way (net2net's "deeper") instead of from
    scratch. Needs a PReLU, pixel-shuffle network and ``num_conv`` >= the network's own.
    """
    hp = dict(net.hparams)  # type: ignore[attr-defined]
    old = hp["num_conv"]
    if hp["act_type"] != "prelu" or hp["upsampler"] != "pixelshuffle" or num_conv < old:
        raise ValueError(f"deepen: needs a PReLU pixel-shuffle network and num_conv >= {old}, got {num_conv}")
    out = SRVGGNetCompact(**{**hp, "num_conv": num_conv})
    feat = hp["num_feat"]
    src = list(net.body)
    body: list[nn.Module] = src[:2]  # first conv + act
    # after trained conv k (k = 0..old-1), insert the identity layers that fall there
    extra = (
        [((k + 1) * (num_conv - old)) // old - (k * (num_conv - old)) // old for k in range(old)]
        if old
        else []
    )
    for k in range(old):
        body += src[2 + 2 * k : 4 + 2 * k]
        for _ in range(extra[k]):
            conv = nn.Conv2d(feat, feat, 3, 1, 1)
            with torch.no_grad():
                conv.weight.zero_()
                conv.weight[range(feat), range(feat), 1, 1] = 1.0
                conv.bias.zero_()
            act = nn.PReLU(num_parameters=feat)
            with torch.no_grad():
                act.weight.fill_(1.0)
            body += [conv, act]
    body += src[2 + 2 * old :]
    out.body = nn.ModuleList(body)
    return out
