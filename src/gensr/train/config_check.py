"""Cross-field checks of a training configuration (:func:`check_config`): what one key alone cannot say.

Each error names the dotted key (``data.patch: must be a positive multiple of scale (4), got 30``);
architecture hyperparameters are checked against the signature of the architecture's ``__init__``.
"""

from __future__ import annotations

import difflib
import inspect
import re
import typing
from typing import TYPE_CHECKING, Any

from gensr.train.strict import ConfigError, convert

if TYPE_CHECKING:
    from gensr.train.config import DistillConfig, TrainConfig


TRACKS = ("bicubic", "mild", "realistic")
"""The kinds of input a model is judged on (:data:`gensr.evaluate.TRACKS`, kept here torch-free)."""

_LAYER = re.compile(r"^(conv|relu)[1-5]_[1-4]$|^pool[1-5]$")


def check_config(cfg: TrainConfig) -> None:
    """Cross-field checks; raises :class:`ConfigError` naming the key."""
    from gensr.archs import DISCRIMINATORS, TRAINABLE

    if cfg.scale < 1:
        raise ConfigError(f"scale: must be >= 1, got {cfg.scale}")
    for kind in ("bicubic", "mild", "realistic"):
        if getattr(cfg.degradation, kind).scale != cfg.scale:
            raise ConfigError(f"degradation.{kind}.scale: must equal scale ({cfg.scale})")
    if cfg.model.arch:
        model = cfg.model
        _check_hparams("model", TRAINABLE, model.arch, model.hparams, forbid=("scale",), scale=cfg.scale)
    elif not cfg.train.pretrained:
        raise ConfigError(
            "model.arch: empty, which needs train.pretrained (a gensr model file) to take it from"
        )
    if cfg.loss.adversarial_weight > 0:
        _check_hparams("discriminator", DISCRIMINATORS, cfg.discriminator.arch, cfg.discriminator.hparams)
    d, t = cfg.data, cfg.train
    if d.patch < 1 or d.patch % cfg.scale:
        raise ConfigError(f"data.patch: must be a positive multiple of scale ({cfg.scale}), got {d.patch}")
    if not d.train:
        raise ConfigError("data.train: needs at least one folder (or 'samples')")
    for key, v in (
        ("data.batch", d.batch),
        ("train.iters", t.iters),
        ("train.log_every", t.log_every),
        ("train.ckpt_every", t.ckpt_every),
        ("train.keep_last", t.keep_last),
        ("train.max_nonfinite", t.max_nonfinite),
    ):
        if v < 1:
            raise ConfigError(f"{key}: must be >= 1, got {v}")
    for key, v in (
        ("data.workers", d.workers),
        ("train.stop_after", t.stop_after),
        ("pretrain.iters", cfg.pretrain.iters),
        ("val.every", cfg.val.every),
        ("optim.warmup_iters", cfg.optim.warmup_iters),
        ("val.crop", cfg.val.crop),
        ("val.images", cfg.val.images),
    ):
        if v < 0:
            raise ConfigError(f"{key}: must be >= 0, got {v}")
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay: must be in [0, 1), got {t.ema_decay}")
    for track in cfg.val.tracks:
        if track not in TRACKS:
            raise ConfigError(f"val.tracks: unknown track {track!r}; choose from {', '.join(TRACKS)}")
    if len(set(cfg.val.tracks)) != len(cfg.val.tracks):
        raise ConfigError(f"val.tracks: listed twice in {list(cfg.val.tracks)}")
    if cfg.val.crop % cfg.scale:
        raise ConfigError(f"val.crop: must be a multiple of scale ({cfg.scale}), got {cfg.val.crop}")
    for key, ms in (
        ("optim.milestones", cfg.optim.milestones),
        ("pretrain.milestones", cfg.pretrain.milestones),
    ):
        if list(ms) != sorted(ms):
            raise ConfigError(f"{key}: must be increasing, got {list(ms)}")
    if t.device not in ("auto", "cpu") and not t.device.startswith("cuda"):
        raise ConfigError(f"train.device: must be auto, cpu or cuda[:N], got {t.device!r}")
    for name, w in cfg.perceptual.layers.items():
        if not _LAYER.match(name):
            raise ConfigError(f"perceptual.layers.{name}: not a VGG layer name (convB_I, reluB_I or poolB)")
        if w < 0:
            raise ConfigError(f"perceptual.layers.{name}: weight must be >= 0, got {w}")
    if cfg.loss.perceptual_weight > 0 and not cfg.perceptual.layers:
        raise ConfigError("perceptual.layers: empty while loss.perceptual_weight > 0")
    if cfg.loss.grid_weight < 0:
        raise ConfigError(f"loss.grid_weight: must be >= 0, got {cfg.loss.grid_weight}")
    if cfg.loss.grid_cells < 1:
        raise ConfigError(f"loss.grid_cells: must be >= 1, got {cfg.loss.grid_cells}")
    grid_switches = {
        "loss.grid_weight": cfg.loss.grid_weight > 0,
        "perceptual.blind_to_grid": cfg.perceptual.blind_to_grid,
    }
    for key, on in grid_switches.items():
        if on and cfg.scale < 2:
            raise ConfigError(f"{key}: a grid needs an upsampling period (scale >= 2), got scale {cfg.scale}")
    _check_distill(cfg)


def _check_distill(cfg: TrainConfig) -> None:
    dc = cfg.distill
    for key, v in (("distill.weight", dc.weight), ("distill.perceptual_weight", dc.perceptual_weight)):
        if v < 0:
            raise ConfigError(f"{key}: must be >= 0, got {v}")
    if not dc.teacher:
        return
    if dc.crops < 1 or dc.batch < 1:
        raise ConfigError(f"distill.crops, distill.batch: must be >= 1, got {dc.crops}, {dc.batch}")
    if dc.margin < 0 or dc.margin % cfg.scale:
        raise ConfigError(f"distill.margin: must be a multiple of scale ({cfg.scale}), >= 0, got {dc.margin}")
    if dc.perceptual_weight > 0 and not cfg.perceptual.layers:
        raise ConfigError("perceptual.layers: empty while distill.perceptual_weight > 0")
    if dc.mix:
        _check_mix(dc)
    elif dc.cache and not dc.privileged and cfg.degradation.kind != "bicubic":
        raise ConfigError(
            "distill.cache: cached targets need distill.privileged (the teacher's input must not depend on "
            "the random degradation); use distill.cache='' (on the fly) instead"
        )


def _check_hparams(
    section: str,
    table: dict[str, type],
    arch: str,
    hparams: dict[str, Any],
    forbid: tuple[str, ...] = (),
    scale: int = 0,
) -> None:
    if arch not in table:
        close = difflib.get_close_matches(arch, list(table), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{section}.arch: unknown architecture {arch!r}{hint}; known: {', '.join(sorted(table))}"
        )
    from gensr.archs.spandrel import SpandrelArch
    from gensr.archs.spandrel import check_hparams as check_spandrel

    if table[arch] is SpandrelArch:  # spandrel's keywords: its own table, not a gensr signature
        try:
            check_spandrel(hparams, scale)
        except ValueError as e:
            raise ConfigError(f"{section}.hparams.{e}") from None
        return
    init = inspect.unwrap(table[arch].__init__)  # type: ignore[misc]
    hints = typing.get_type_hints(init)
    params = [p for p in inspect.signature(init).parameters if p != "self"]
    for k, v in hparams.items():
        key = f"{section}.hparams.{k}"
        if k in forbid:
            raise ConfigError(f"{key}: set by the top-level '{k}' key, not here")
        if k not in params:
            close = difflib.get_close_matches(k, params, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(params)})"
            raise ConfigError(f"{key}: not a hyperparameter of {arch}{hint}")
        if k in hints:
            convert(hints[k], v, key)


def _check_mix(dc: DistillConfig) -> None:
    for key, names in (
        ("mix", dc.mix),
        ("teachers", dc.teachers),
        ("input_chroma", dc.input_chroma),
        ("train_on", dc.train_on),
    ):
        bad = sorted(set(names) - set(TRACKS))
        if bad:
            raise ConfigError(
                f"distill.{key}: unknown input kind {bad[0]!r}; choose from {', '.join(TRACKS)}"
            )
    if any(w < 0 for w in dc.mix.values()) or sum(dc.mix.values()) <= 0:
        raise ConfigError(f"distill.mix: shares must be >= 0 with a positive sum, got {dict(dc.mix)}")
    if not dc.cache or dc.privileged:
        raise ConfigError("distill.mix: needs distill.cache (a folder) and distill.privileged: false")
