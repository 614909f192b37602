"""Blended seams of non-local networks and the overlap measured for them (gensr.infer.seams)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gensr.imageio import Image
from gensr.infer import Upscaler
from gensr.infer.geometry import geometry_of
from gensr.infer.seams import chosen_overlap, measure_overlap, weights_digest
from gensr.infer.tiling import ramp, run_tiles
from gensr.infer.tuning import Plan
from gensr.metrics.fidelity import psnr

CPU = torch.device("cpu")


class Shuffle(nn.Module):
    """Three 3x3 convs and a pixel shuffle (receptive radius 3), declared local or not."""

    def __init__(self, *, local: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2),
        )  # fmt: skip
        with torch.no_grad():
            self.body[-2].bias.add_(0.5)
        self.hparams, self.receptive_radius, self.local = {"scale": 2}, 3, local

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Pooled(nn.Module):
    """x2 bicubic plus the mean of a ``(2 reach + 1)``-px neighbourhood (the whole window when reach
    is 0): a network that sees beyond any small overlap, as attention and image-wide pooling do."""

    def __init__(self, reach: int = 0, strength: float = 0.3) -> None:
        super().__init__()
        self.reach, self.strength = reach, strength
        self.hparams, self.receptive_radius, self.local = {"scale": 2}, 32, False
        self.register_buffer("w", torch.tensor([float(reach), strength]))  # weights the digest sees

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        if self.reach:
            k = 2 * self.reach + 1
            ctx = F.avg_pool2d(F.pad(x, (self.reach,) * 4, mode="reflect"), k, stride=1)
            ctx = F.interpolate(ctx, scale_factor=2, mode="nearest")
        else:
            ctx = x.mean((-2, -1), keepdim=True)
        return up + self.strength * (ctx - 0.5)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(psnr(a, b, y_channel=False))


def _run(net: nn.Module, lr: torch.Tensor, *, tile: int, overlap: int, blend: int) -> torch.Tensor:
    geom = geometry_of(net)
    window = geom.window(tile, overlap) if tile else max(lr.shape[-2:])
    plan = Plan(tile=tile, window=window, overlap=overlap, batch=1, blend=blend)
    return run_tiles(net, lr, geom, plan, device=CPU, dtype=torch.float32)


def test_ramps_of_two_tiles_add_up_to_one_across_their_seam() -> None:
    # cores [0, 40) and [40, 96) of a 96-px axis, blend 6, scale 3: the boxes reach 6 px past 40
    left, right = ramp((0, 40), (0, 46), 6, 96, 3), ramp((40, 96), (34, 96), 6, 96, 3)
    assert left.shape == (46 * 3,) and right.shape == (62 * 3,)
    overlap = left[34 * 3 :] + right[: 12 * 3]
    assert torch.allclose(overlap, torch.ones_like(overlap))
    assert left[: 34 * 3].eq(1).all() and right[12 * 3 :].eq(1).all()  # full weight outside the seam
    assert left.min() > 0 and right.min() > 0  # sampled at pixel centres: never exactly 0


@pytest.mark.parametrize("bands", [False, True])
def test_blending_keeps_exact_tiles_exact(bands: bool) -> None:
    """A local network run as if it were not: blended tiles are weighted means of equal values."""
    lr, net = torch.rand(1, 3, 83, 70), Shuffle(local=True)
    exact = Upscaler(net, tile=0).upscale_tensor(lr)
    net.local = False
    up = Upscaler(net, tile=24, overlap=8)
    if bands:  # rows of tiles streamed as bands: the carried rows between bands are blended too
        out = torch.cat([b.rgb for b in up.upscale_bands(Image(rgb=lr))], dim=2)
    else:
        out = up.upscale_tensor(lr)
    assert up.plan(83, 70).blend == 4
    assert out.shape == exact.shape
    assert (out - exact).abs().max() < 1e-5


def test_blended_seams_are_closer_to_the_whole_image_than_cut_ones() -> None:
    net, lr = Pooled(), 0.25 + 0.5 * torch.rand(1, 3, 64, 64)  # 2 x 2 windows of 48 px; cores meet at 32
    whole = _run(net, lr, tile=0, overlap=0, blend=0)
    cut = _run(net, lr, tile=32, overlap=8, blend=0) - whole
    blended = _run(net, lr, tile=32, overlap=8, blend=4) - whole
    assert _psnr(blended, 0 * whole) > _psnr(cut, 0 * whole)
    # the error steps where two cores meet: cut, between two output pixels; blended, over 2 x 4 x 2 of them
    seam = 2 * 32
    step_cut = (cut[..., seam] - cut[..., seam - 1]).abs().max()
    step_blended = (blended[..., seam] - blended[..., seam - 1]).abs().max()
    assert step_cut > 1e-3
    assert step_blended < 0.2 * step_cut


def test_measured_overlap_is_the_smallest_that_reaches_the_target() -> None:
    net = Pooled(reach=20, strength=1.0)  # sees 20 px each way: 8 px of overlap is not enough, 16 is
    geom = geometry_of(net)
    found = measure_overlap(net, geom, device=CPU, dtype=torch.float32, target=100.0)
    assert [(ov, b) for ov, b, _ in found.trials] == [(8, 0), (8, 4), (16, 0), (16, 8)]  # cut and blended
    assert max(db for *_, db in found.trials[:2]) < 100.0 <= found.db  # stops at the first within the target
    assert (found.overlap, found.probe) == (
        16,
        256,
    )  # two 128-px cores and found.db == max(db for *_, db in found.trials[2:])
    global_pool = measure_overlap(Pooled(), geom, device=CPU, dtype=torch.float32, target=100.0)
    assert len(global_pool.trials) == 10  # every tile sees another mean: never within 100 dB; the best kept
    assert global_pool.db == max(db for *_, db in global_pool.trials) < 100.0
    best = max(global_pool.trials, key=lambda t: t[2])
    assert (global_pool.overlap, global_pool.blend) == best[:2]
    assert best[1] > 0  # on a window-wide mean, blending beats cutting


def test_overlap_is_measured_once_per_model_and_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENSR_CACHE", str(tmp_path))
    net, told = Pooled(reach=20, strength=1.0), []
    up = Upscaler(net, tile=40, notify=told.append)
    assert up.geometry.overlap == 32  # the default for a network that sees everything
    run = up.plan(200, 200)
    found = measure_overlap(
        Pooled(reach=20, strength=1.0), up.geometry, device=CPU, dtype=torch.float32, core=40
    )
    assert (run.overlap, run.blend) == (found.overlap, found.blend) and found.overlap < 32
    assert len(told) == 2 and f"tile overlap {found.overlap} px" in told[1]
    again: list[str] = []
    same = Pooled(reach=20, strength=1.0)
    got = chosen_overlap(same, up.geometry, device=CPU, dtype=torch.float32, tile=40, notify=again.append)
    assert got == (run.overlap, run.blend)
    assert again == []  # from <cache>/seams.json
    assert weights_digest(same) != weights_digest(Pooled(reach=3))
    assert Upscaler(net, tile=40, overlap=4).plan(200, 200).overlap == 4  # the user's overlap wins
    Upscaler(Pooled(reach=3), tile=0, notify=told.append).upscale_tensor(torch.rand(1, 3, 64, 64))
    assert len(told) == 2  # one piece: no seam, nothing measured
