"""Small random-weight instances of spandrel's core architectures, one per architecture gensr lists.

Each case builds a network whose state dict spandrel detects as that architecture, tiny enough that a
16-32 px image runs in milliseconds on one CPU thread. Shared by the tests and
``benchmarks/spandrel_seams.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gensr.models.spandrel_import import import_spandrel


@dataclass(frozen=True)
class Case:
    arch: str
    """spandrel's architecture id (what detection must give)."""
    build: Callable[[], nn.Module]
    size: int = 16
    """Side of the test image (at least the architecture's minimum)."""


def _a(name: str):  # noqa: ANN202 - a class from spandrel.architectures.<name>
    import importlib

    import_spandrel()
    return importlib.import_module(f"spandrel.architectures.{name.split('.')[0]}")


def cases() -> list[Case]:
    """Every case, in the docs' order."""
    return [
        Case("SPAN", lambda: _a("SPAN").SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2)),
        Case("PLKSR", lambda: _a("PLKSR").PLKSR(dim=8, n_blocks=2, upscaling_factor=2, kernel_size=7)),
        Case(
            "RealPLKSR", lambda: _a("PLKSR").RealPLKSR(dim=8, n_blocks=2, upscaling_factor=2, kernel_size=7)
        ),
        Case("SAFMN", lambda: _a("SAFMN").SAFMN(dim=8, n_blocks=1, upscaling_factor=2)),
        Case("OmniSR", lambda: _a("OmniSR").OmniSR(num_feat=8, block_num=1, up_scale=2, window_size=4)),
        Case("MoSR", lambda: _a("MoSR").MoSR(n_block=1, dim=8, upscale=2)),
        Case(
            "SwiftSRGAN", lambda: _a("SwiftSRGAN").SwiftSRGAN(num_channels=8, num_blocks=1, upscale_factor=2)
        ),
        Case("RCAN", lambda: _a("RCAN").RCAN(scale=2, n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4)),
        Case("ESRGAN", lambda: _a("ESRGAN").ESRGAN(num_filters=8, num_blocks=1, scale=8)),
        Case("RealCUGAN", lambda: _a("RealCUGAN").UpCunet2x(in_channels=3, out_channels=3), size=48),
        Case(
            "SwinIR",
            lambda: _a("SwinIR").SwinIR(
                embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2, upsampler="pixelshuffle"
            ),
        ),
        Case(
            "HAT",
            lambda: _a("HAT").HAT(
                embed_dim=12,
                depths=(1,),
                num_heads=(2,),
                window_size=4,
                squeeze_factor=2,
                upscale=2,
                upsampler="pixelshuffle",
            ),
        ),
        Case("DAT", lambda: _a("DAT").DAT(embed_dim=32, depth=[2], num_heads=[2], upscale=2)),
        Case(
            "Swin2SR",
            lambda: _a("Swin2SR").Swin2SR(
                embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2, upsampler="pixelshuffle"
            ),
        ),
        Case("RGT", lambda: _a("RGT").RGT(embed_dim=12, depth=[1], num_heads=[2], upscale=2)),
        Case(
            "DRCT",
            lambda: _a("DRCT").DRCT(
                embed_dim=12, depths=(1,), num_heads=(2,), window_size=4, upscale=2, upsampler="pixelshuffle"
            ),
        ),
        Case("CRAFT", lambda: _a("CRAFT").CRAFT(embed_dim=12, depths=[1], num_heads=[2], upscale=2)),
        Case("DCTLSA", lambda: _a("DCTLSA").DCTLSA(nf=20, num_head=5, upscale=2)),
        Case("DITN", lambda: _a("DITN").DITN(dim=12, ITL_blocks=1, SAL_blocks=1, upscale=2, patch_size=4)),
        Case("SeemoRe", lambda: _a("SeemoRe").SeemoRe(scale=2, num_experts=2, num_layers=1, embedding_dim=8)),
        Case("MoESR", lambda: _a("MoESR").MoESR(scale=2, dim=8, n_blocks=1, n_block=1)),
        Case(
            "FDAT",
            lambda: _a("FDAT").FDAT(
                scale=2, embed_dim=16, num_groups=1, depth_per_group=1, num_heads=2, window_size=4
            ),
        ),
        Case(
            "GRL",
            lambda: _a("GRL").GRL(
                embed_dim=12,
                depths=[1],
                num_heads_window=[2],
                num_heads_stripe=[2],
                upscale=2,
                upsampler="pixelshuffle",
                window_size=4,
                stripe_size=[4, 4],
            ),
        ),
        Case("DnCNN", lambda: _a("DnCNN").DnCNN(in_nc=3, out_nc=3, nc=8, nb=17)),
        Case(
            "NAFNet",
            lambda: _a("NAFNet").NAFNet(width=8, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1]),
        ),
        Case("DRUNet", lambda: _a("DRUNet").DRUNet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=4)),
        Case(
            "KBNet",
            lambda: _a("KBNet").KBNet_s(
                width=8, middle_blk_num=1, enc_blk_nums=[1, 1, 1, 1], dec_blk_nums=[1, 1, 1, 1]
            ),
        ),
        Case(
            "FFTformer",
            lambda: _a("FFTformer").FFTformer(dim=8, num_blocks=[1, 1, 1], num_refinement_blocks=1),
            size=32,
        ),
        Case(
            "Uformer",
            lambda: _a("Uformer").Uformer(embed_dim=8, depths=[1] * 9, num_heads=[1, 1, 1, 1, 1, 1, 1, 1, 1]),
            size=128,
        ),
        Case(
            "RetinexFormer",
            lambda: _a("RetinexFormer").RetinexFormer(n_feat=8, stage=1, num_blocks=[1, 1, 1]),
        ),
        Case("HVICIDNet", lambda: _a("HVICIDNet").HVICIDNet(channels=[8, 8, 16, 32], heads=[1, 1, 1, 1])),
        Case(
            "SAFMNBCIE",
            lambda: _a("SAFMNBCIE").SAFMNBCIE(dim=8, n_blocks=1, num_layers=1, upscaling_factor=2),
        ),
        Case(
            "MixDehazeNet",
            lambda: _a("MixDehazeNet").MixDehazeNet(embed_dims=[8, 8, 8, 8, 8], depths=[1] * 5),
            size=48,
        ),
    ]


def random_state(case: Case, seed: int = 0) -> dict[str, torch.Tensor]:
    """The case's state dict with every parameter moved by small seeded noise (buffers such as index
    tables, which some detectors read, are kept)."""
    torch.manual_seed(seed)
    net = case.build()
    params = {k for k, _ in net.named_parameters()}
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in net.state_dict().items():
        if k in params and v.is_floating_point():
            v = v + 0.05 * torch.randn(v.shape, generator=g)
        out[k] = v.clone().contiguous()
    return out


def rgb_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB over all RGB values (inf when equal)."""
    mse = float(((a.double() - b.double()) ** 2).mean())
    return float("inf") if mse == 0 else -10 * math.log10(mse)


SEAM_TILE = 16
"""Tile core (input pixels) of the seam measurement."""
SEAM_OVERLAP = 8
"""Overlap (input pixels) of the quick seam measurement of the tests (48x40 inputs, 3x3 tiles)."""


def seam_psnr(net: nn.Module, *, size: tuple[int, int], overlap: int | None, seed: int = 1) -> float:
    """PSNR of gensr's 16-px-tiled output (``overlap``: None = the default) against its whole-image
    output for ``net`` on a random ``size`` input."""
    from gensr.infer import tile_upscale

    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(1, 3, *size, generator=g)
    scale = int(net.hparams["scale"])
    whole = tile_upscale(net, lr, scale=scale, tile=0)
    tiled = tile_upscale(net, lr, scale=scale, tile=SEAM_TILE, overlap=overlap)
    return rgb_psnr(tiled, whole)
