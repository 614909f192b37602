"""Validation during training: held-out HR images -> fixed LR -> generator -> the protocol's metrics.

The scores are :func:`gensr.evaluate.score`'s (8-bit rounding, PSNR/SSIM on the BT.601 Y channel
with ``scale`` pixels cropped, LPIPS-alex on RGB), so they are the numbers ``gensr eval`` reports,
plus ``periodic`` (:func:`gensr.metrics.artefacts.periodic_ratio`: a grid at the upsampling period shows here
first). LR images are made once, per track:

- without ``val.tracks`` (old configs): one track, the run's own degradation -- the protocol's MATLAB
  bicubic for ``bicubic`` runs, the run's degradation config with a fixed per-image seed otherwise;
  metrics ``val/psnr_y``, ...
- with ``val.tracks`` (e.g. ``[bicubic, mild, realistic]``): each image on each track, made as
  ``gensr eval --degradation TRACK`` makes it (:func:`gensr.evaluate.make_lr`, image ``i`` seeded
  ``val.seed + i``), so no single kind of input steers the run; metrics ``val/<label>_psnr_y``, ... per
  track (labels ``clean``, ``mild``, ``heavy``: :data:`TRACK_LABELS`) and their mean over the tracks as
  ``val/psnr_y``, ...

The bicubic upscaling of the same LR is scored once as the baseline (``val/bicubic_*``).
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
from gensr.evaluate import TRACKS, comparison_grid, interpolation_method, make_lr, mod_crop, score
from gensr.imageio import read_rgb8
from gensr.infer import Upscaler
from gensr.infer.geometry import geometry_of
from gensr.metrics.artefacts import periodic_ratio

__all__ = ["RUN_TRACK", "TRACK_LABELS", "ValSet", "load_val_set", "validate"]

RUN_TRACK = ""
"""The track name of the run's own degradation (validation without ``val.tracks``)."""
TRACK_LABELS = {"bicubic": "clean", "mild": "mild", "realistic": "heavy"}
"""Track -> the label in metric names (``val/clean_lpips``; ``val/bicubic_*`` is the bicubic baseline)."""


@dataclass
class ValSet:
    """Held-out images ``hr[i]`` ``(1, 3, H, W)`` and, per track, ``lr[track][i]`` ``(1, 3, H/s, W/s)``
    on the CPU; tracks in order (:data:`RUN_TRACK` alone for the run's own degradation)."""

    names: list[str]
    hr: list[torch.Tensor]
    lr: dict[str, list[torch.Tensor]]
    scale: int
    baseline: dict[str, float] = field(default_factory=dict)
    """Metrics of bicubic upscaling (``val/bicubic_*``), named as :func:`validate` names the model's."""


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
    tracks: tuple[str, ...] = (),
) -> ValSet:
    """Read, crop and degrade the validation images, and score bicubic on them.

    Args:
        paths: HR image files.
        scale: SR factor.
        crop: centre-crop size of each HR (0 = whole image), then mod-cropped to ``scale``.
        degradation: the run's degradation config, used when ``tracks`` is empty (bicubic uses the
            protocol's uint8 MATLAB resize).
        seed: image ``i`` of a random degradation uses a generator seeded ``seed + i``.
        lpips: an LPIPS module for the baseline scores, or None.
        tracks: names from :data:`gensr.evaluate.TRACKS`; empty = the run's own degradation.

    Raises:
        ValueError: an unknown track.
    """
    if unknown := [t for t in tracks if t not in TRACKS]:
        raise ValueError(f"unknown validation track(s) {', '.join(unknown)}; choose from {', '.join(TRACKS)}")
    names, hrs = [], []
    lrs: dict[str, list[torch.Tensor]] = {t: [] for t in (tracks or (RUN_TRACK,))}
    for i, path in enumerate(paths):
        hr = mod_crop(_center_crop(read_rgb8(path), crop), scale)
        for track in lrs:
            if track != RUN_TRACK:
                lr = make_lr(hr, scale, track, seed=seed + i)
            elif isinstance(degradation, BicubicConfig):
                lr = make_lr(hr, scale, "bicubic")
            else:
                lr = degrade(hr, degradation, torch.Generator().manual_seed(seed + i))
            lrs[track].append(lr)
        names.append(path.stem)
        hrs.append(hr)
    val = ValSet(names, hrs, lrs, scale)
    bicubic = interpolation_method("bicubic", scale)
    rows = {t: [_scores(bicubic.upscale(lr), hr, scale, lpips) for lr, hr in zip(lr_t, hrs, strict=True)]
            for t, lr_t in lrs.items()}  # fmt: skip
    val.baseline = {k.replace("val/", "val/bicubic_", 1): v for k, v in _named_means(rows).items()}
    return val


def _scores(sr: torch.Tensor, hr: torch.Tensor, scale: int, lpips: nn.Module | None) -> dict[str, float]:
    out = score(sr.clamp(0, 1), hr, crop=scale, lpips=lpips)
    out["l1"] = float(F.l1_loss(sr.clamp(0, 1), hr))
    try:
        out["periodic"] = periodic_ratio(sr.clamp(0, 1), scale) if scale >= 2 else math.nan
    except ValueError:  # an image too small for the spectrum
        out["periodic"] = math.nan
    if lpips is None:
        out.pop("lpips")
    return out


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def _named_means(rows: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    """``val/<metric>`` (the mean over tracks of each track's mean) and, with named tracks,
    ``val/<label>_<metric>``."""
    per_track = {t: _mean(r) for t, r in rows.items()}
    out = {}
    for t, means in per_track.items():
        if t != RUN_TRACK:
            out.update({f"val/{TRACK_LABELS[t]}_{k}": v for k, v in means.items()})
    overall = _mean(list(per_track.values()))
    return {**{f"val/{k}": v for k, v in overall.items()}, **out}


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
        ``{"val/psnr_y": ..., "val/ssim_y": ..., "val/lpips": ..., "val/l1": ..., "val/periodic": ...,
        "val/bicubic_psnr_y": ..., ...}`` (means over the images, then over the tracks), and with
        named tracks ``val/<label>_psnr_y``, ... and ``val/bicubic_<label>_psnr_y``, ... per track.
    """
    snap = _snapshot(net)
    # the path `gensr upscale` takes, at the network's default overlap: a non-local network's weights change
    # with every validation, so measuring its overlap (gensr.infer.seams) would be new work each time
    up = Upscaler(snap, scale=val.scale, device=device, overlap=geometry_of(snap, val.scale).overlap)
    rows: dict[str, list[dict[str, float]]] = {}
    bicubic = interpolation_method("bicubic", val.scale)
    for track, lrs in val.lr.items():
        rows[track] = []
        for i, (name, hr, lr) in enumerate(zip(val.names, val.hr, lrs, strict=True)):
            try:
                sr = up.upscale_tensor(lr)  # (1, 3, H, W) in [0, 1], on the CPU
            except FloatingPointError:  # a diverged generator: its scores are NaN, the run's guard decides
                sr = torch.full_like(hr, math.nan)
            rows[track].append(_scores(sr, hr, val.scale, lpips))
            if save_dir is not None and i < save_images:
                grid = comparison_grid(
                    hr, lr, [("bicubic", bicubic.upscale(lr)), (tag or "sr", sr)], scale=val.scale
                )
                save_dir.mkdir(parents=True, exist_ok=True)
                parts = [p for p in (tag, track, name) if p]
                grid.save(save_dir / f"{'_'.join(parts)}.png")
    out = {**_named_means(rows), **val.baseline}
    return {k: v for k, v in out.items() if not (isinstance(v, float) and math.isnan(v))}
