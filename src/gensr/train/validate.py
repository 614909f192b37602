"""Validation during training: held-out HR images -> fixed LR -> generator -> the protocol's metrics.

The scores are :func:`gensr.evaluate.score`'s (8-bit rounding, PSNR/SSIM on the BT.601 Y channel
with ``scale`` pixels cropped, LPIPS-alex on RGB), so they are the numbers ``gensr eval`` reports.
LR images are made once: the protocol's MATLAB bicubic for ``bicubic`` runs, the run's own
realistic degradation with a fixed per-image seed for ``realistic`` runs. The bicubic upscaling of
the same LR is scored once as the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gensr.archs import arch_name, build_generator
from gensr.degrade import BicubicConfig, DegradationConfig, degrade
from gensr.evaluate import comparison_grid, interpolation_method, make_lr, mod_crop, score
from gensr.imageio import read_rgb8
from gensr.infer import Upscaler

__all__ = ["ValSet", "load_val_set", "validate"]


@dataclass
class ValSet:
    """Held-out pairs, ``hr[i]`` ``(1, 3, H, W)`` and ``lr[i]`` ``(1, 3, H/s, W/s)`` on the CPU."""

    names: list[str]
    hr: list[torch.Tensor]
    lr: list[torch.Tensor]
    scale: int
    baseline: dict[str, float] = field(default_factory=dict)
    """Mean metrics of bicubic upscaling (``val/bicubic_*``)."""


def _center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if size <= 0:
        return x
    th, tw = min(size, h), min(size, w)
    top, left = (h - th) // 2, (w - tw) // 2
    return x[..., top : top + th, left : left + tw]


def load_val_set(
    paths: list[Path],
    *,
    scale: int,
    crop: int,
    degradation: DegradationConfig,
    seed: int,
    lpips: nn.Module | None,
) -> ValSet:
    """Read, crop and degrade the validation images, and score bicubic on them.

    Args:
        paths: HR image files.
        scale: SR factor.
        crop: centre-crop size of each HR (0 = whole image), then mod-cropped to ``scale``.
        degradation: the run's degradation config (bicubic uses the protocol's uint8 MATLAB resize).
        seed: image ``i`` of a realistic degradation uses a generator seeded ``seed + i``.
        lpips: an LPIPS module for the baseline scores, or None.
    """
    names, hrs, lrs = [], [], []
    for i, path in enumerate(paths):
        hr = mod_crop(_center_crop(read_rgb8(path), crop), scale)
        if isinstance(degradation, BicubicConfig):
            lr = make_lr(hr, scale, "bicubic")
        else:
            lr = degrade(hr, degradation, torch.Generator().manual_seed(seed + i))
        names.append(path.stem)
        hrs.append(hr)
        lrs.append(lr)
    val = ValSet(names, hrs, lrs, scale)
    bicubic = interpolation_method("bicubic", scale)
    val.baseline = _mean(
        [_scores(bicubic.upscale(lr), hr, scale, lpips) for lr, hr in zip(lrs, hrs, strict=True)]
    )
    return val


def _scores(sr: torch.Tensor, hr: torch.Tensor, scale: int, lpips: nn.Module | None) -> dict[str, float]:
    out = score(sr.clamp(0, 1), hr, crop=scale, lpips=lpips)
    out["l1"] = float(F.l1_loss(sr.clamp(0, 1), hr))
    if lpips is None:
        out.pop("lpips")
    return out


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def _snapshot(net: nn.Module) -> nn.Module:
    """A copy of a gensr generator, rebuilt from its hyperparameters: the Upscaler may move, cast
    and re-layout it without touching the network being trained."""
    with torch.random.fork_rng(devices=[]):  # building initialises weights: leave training's RNG alone
        copy = build_generator(arch_name(net), dict(net.hparams))  # type: ignore[arg-type]
    copy.load_state_dict(net.state_dict())
    return copy


@torch.no_grad()
def validate(
    net: nn.Module,
    val: ValSet,
    *,
    device: torch.device,
    lpips: nn.Module | None = None,
    save_dir: Path | None = None,
    save_images: int = 0,
    tag: str = "",
) -> dict[str, float]:
    """Score ``net`` on the validation set, upscaled by a :class:`gensr.infer.Upscaler` of a copy.

    Args:
        net: the generator (the EMA copy during training).
        val: from :func:`load_val_set`.
        device: where the copy runs (fp32, tiled when the images are large).
        lpips: an LPIPS module on ``device`` or the CPU, or None.
        save_dir: folder for ``HR | LR | bicubic | sr`` grids of the first ``save_images`` images.
        save_images: how many grids to write.
        tag: file-name prefix of the grids (e.g. ``iter_00001000``).

    Returns:
        ``{"val/psnr_y": ..., "val/ssim_y": ..., "val/lpips": ..., "val/l1": ...,
        "val/bicubic_psnr_y": ..., ...}`` (means over the images).
    """
    up = Upscaler(_snapshot(net), scale=val.scale, device=device)  # the path `gensr upscale` takes
    rows = []
    bicubic = interpolation_method("bicubic", val.scale)
    for i, (name, hr, lr) in enumerate(zip(val.names, val.hr, val.lr, strict=True)):
        try:
            sr = up.upscale_tensor(lr)  # (1, 3, H, W) in [0, 1], on the CPU
        except FloatingPointError:  # a diverged generator: its scores are NaN, the run's guard decides
            sr = torch.full_like(hr, math.nan)
        rows.append(_scores(sr, hr, val.scale, lpips))
        if save_dir is not None and i < save_images:
            grid = comparison_grid(
                hr, lr, [("bicubic", bicubic.upscale(lr)), (tag or "sr", sr)], scale=val.scale
            )
            save_dir.mkdir(parents=True, exist_ok=True)
            grid.save(save_dir / f"{tag + '_' if tag else ''}{name}.png")
    out = {f"val/{k}": v for k, v in _mean(rows).items()}
    out.update({f"val/bicubic_{k}": v for k, v in val.baseline.items()})
    return {k: v for k, v in out.items() if not (isinstance(v, float) and math.isnan(v))}
