"""Distillation: a teacher model's outputs as extra training targets, on the fly or from a disk cache.

The data flow, beside the ground truth of :mod:`gensr.train`::

    hr        (B, 3, P, P)      the HR crop, as for any run
    lr_t    = bicubic(hr)       (B, 3, P/s, P/s)  privileged: the teacher sees the clean LR of the crop
            | degrade(hr)                         otherwise: the very LR the student sees
    t_sr    = teacher(lr_t)     (B, 3, P·k, P·k)  k = teacher scale / scale (2: a x4 teacher of a x2 student)
    t_sr    = bicubic(t_sr, 1/k)                      (B, 3, P, P), float, neither clamped nor rounded
    loss   += δ · pixel(G(lr), t_sr) [+ δ_p · VGG(G(lr), t_sr)]

With ``privileged: true`` the student sees the *degraded* LR (blur, noise, JPEG) while its target is
the teacher's output from the *clean* LR of the same crop: the student learns restoration and
super-resolution at once, with targets better than any real-world teacher makes from degraded input.

Targets depend only on the crop and the teacher, so in privileged mode they can be computed once:
``cache: DIR`` stores a fixed set of ``crops`` HR crops (uint8) with their teacher outputs (float32) under
``DIR/<key>/``, where the key hashes the teacher file, the training files' contents and the crop
recipe -- a changed recipe never reuses stale targets. The cache is built in shards, each written
atomically, so an interrupted build resumes where it stopped. The same function computes targets
on the fly and for the cache, so both give the same numbers for the same crops.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm import tqdm

from gensr.base.tensors import quantize_uint8
from gensr.degrade import imresize
from gensr.imageio import atomic_write
from gensr.train.config import DistillConfig

__all__ = [
    "Teacher",
    "load_teacher",
    "clean_lr",
    "teacher_targets",
    "CachedCrops",
    "build_cache",
    "cache_key",
]

_RECIPE_VERSION = 2  # bump when the way targets are made changes


@dataclass
class Teacher:
    """A frozen teacher network and how its output maps onto the student's scale."""

    net: nn.Module
    scale: int
    """The student's scale."""
    factor: int
    """Teacher scale / student scale (its output is bicubic-downscaled by this)."""
    precision: str
    sha256: str
    """Of the teacher's model file (part of the cache key and of the released recipe)."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_teacher(cfg: DistillConfig, scale: int, device: torch.device) -> Teacher:
    """Load ``cfg.teacher`` frozen in eval mode on ``device``.

    Raises:
        ValueError: the file is missing or not a model, or its scale is not a multiple of ``scale``.
    """
    from gensr.models import load_model, resolve_model

    try:
        path = resolve_model(cfg.teacher)
        net, info = load_model(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"distill.teacher: {e}") from None
    t_scale = int(info.scale)
    if t_scale % scale:
        raise ValueError(f"distill.teacher: {path} is x{t_scale}, not a multiple of the run's scale x{scale}")
    net = net.to(device).eval().requires_grad_(False)
    if cfg.precision == "bf16":
        net = net.to(memory_format=torch.channels_last)
    return Teacher(net, scale, t_scale // scale, cfg.precision, file_sha256(path))


def clean_lr(hr: Tensor, scale: int) -> Tensor:
    """The clean LR the privileged teacher sees: MATLAB bicubic ``1/scale``, on 8-bit levels.

    (B, 3, P, P) in [0, 1] -> (B, 3, P/s, P/s) in [0, 1].
    """
    return quantize_uint8(imresize(hr, scale=1.0 / scale, round_uint8=True))


@torch.no_grad()
def teacher_targets(teacher: Teacher, lr_t: Tensor) -> Tensor:
    """The teacher's output for ``lr_t`` at the student's scale, as the network gives it (the student
    learns the teacher's function, so its output is neither clamped nor rounded here).

    (B, 3, h, w) in [0, 1] -> (B, 3, h·s, w·s) float32, about [0, 1] (s = the student's scale),
    on ``lr_t``'s device.
    """
    x = lr_t.to(next(teacher.net.parameters()).device)
    if teacher.precision == "bf16":
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            out = teacher.net(x.contiguous(memory_format=torch.channels_last)).float()
    else:
        out = teacher.net(x).float()
    if teacher.factor > 1:
        out = imresize(out, scale=1.0 / teacher.factor)
    return out.to(lr_t.device)


def cache_key(teacher: Teacher, files: Sequence[Path], patch: int, cfg: DistillConfig) -> str:
    """A hash of everything the cached targets depend on."""
    h = hashlib.sha256()
    recipe = {
        "version": _RECIPE_VERSION,
        "teacher": teacher.sha256,
        "scale": teacher.scale,
        "factor": teacher.factor,
        "precision": teacher.precision,
        "patch": patch,
        "crops": cfg.crops,
        "seed": cfg.seed,
        "files": [file_sha256(f) for f in files],
    }
    h.update(json.dumps(recipe, sort_keys=True).encode())
    return h.hexdigest()[:20]


_SHARD = 64  # crops per cache file


def _shard_path(folder: Path, k: int) -> Path:
    return folder / f"shard_{k:05d}.npz"


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """One cache shard, written atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


def to_u8(x: Tensor) -> np.ndarray:
    """[0, 1] floats -> uint8 levels (rounded half up), as a numpy array for a shard."""
    return (x.clamp(0, 1) * 255 + 0.5).floor().to(torch.uint8).cpu().numpy()


def build_cache(
    teacher: Teacher,
    crops: Any,
    folder: str | os.PathLike[str],
    cfg: DistillConfig,
    key: str,
    *,
    progress: bool = True,
) -> Path:
    """Compute (or finish computing) the target cache ``folder/key``; returns that folder.

    Args:
        teacher: from :func:`load_teacher`.
        crops: an :class:`~gensr.data.photos.HRCropDataset` without augmentation; crop ``i`` is its item ``i``
            in epoch ``i // len(crops)``, for ``i < cfg.crops``.
        folder: the cache root (``distill.cache``).
        cfg: the distill section.
        key: from :func:`cache_key`.
    """
    out = Path(folder) / key
    out.mkdir(parents=True, exist_ok=True)
    n_shards = -(-cfg.crops // _SHARD)
    todo = [k for k in range(n_shards) if not _shard_path(out, k).exists()]
    bar = tqdm(
        total=cfg.crops,
        initial=cfg.crops - sum(min(_SHARD, cfg.crops - k * _SHARD) for k in todo),
        desc="distill: teacher targets",
        unit="crop",
        disable=not progress,
        dynamic_ncols=True,
    )
    with bar:
        for k in todo:
            idx = range(k * _SHARD, min((k + 1) * _SHARD, cfg.crops))
            hr = torch.stack([crop_at(crops, i) for i in idx])  # (n, 3, P, P)
            t_sr = []
            for j in range(0, len(hr), cfg.batch):
                t_sr.append(teacher_targets(teacher, clean_lr(hr[j : j + cfg.batch], teacher.scale)))
                bar.update(len(t_sr[-1]))
            save_npz(_shard_path(out, k), hr=to_u8(hr), t_sr=torch.cat(t_sr).cpu().numpy())
    atomic_write(out / "recipe.json", json.dumps({"crops": cfg.crops, "shard": _SHARD}) + "\n")
    return out


def crop_at(crops: Any, i: int) -> Tensor:
    """Cached crop ``i``: item ``i % len(crops)`` of the dataset in epoch ``i // len(crops)``."""
    n = len(crops)
    crops.set_epoch(i // n)
    return crops[i % n]


def _dihedral(x: Tensor, k: int) -> Tensor:
    """One of the 8 flips/rotations of ``(..., H, W)``."""
    if k & 4:
        x = x.transpose(-1, -2)
    if k & 2:
        x = x.flip(-2)
    if k & 1:
        x = x.flip(-1)
    return x


def same_flip(tensors: Sequence[Tensor], seed: int, epoch: int, index: int) -> tuple[Tensor, ...]:
    """The same one of the 8 flips/rotations applied to every tensor of a cached item, drawn from
    ``(seed, epoch, index)`` (contiguous copies)."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_033 + index)
    k = int(torch.randint(8, (), generator=g))
    return tuple(_dihedral(x, k).contiguous() for x in tensors)


class CachedCrops(Dataset[tuple[Tensor, Tensor]]):
    """The cached ``(hr, t_sr)`` pairs: the centre ``patch`` of each, ``(3, patch, patch)`` float32,
    with the same random flip/rotation applied to both (a function of ``(seed, epoch, index)``,
    like :class:`gensr.data.photos.HRCropDataset`)."""

    def __init__(
        self, folder: str | os.PathLike[str], *, patch: int = 0, seed: int = 0, augment: bool = True
    ) -> None:
        folder = Path(folder)
        shards = sorted(folder.glob("shard_*.npz"))
        if not shards:
            raise ValueError(f"{folder}: no cached targets")
        hr, t_sr = [], []
        for s in shards:
            with np.load(s) as z:
                hr.append(z["hr"])
                t_sr.append(z["t_sr"])
        self.hr = torch.from_numpy(np.concatenate(hr))  # (N, 3, P, P) uint8
        self.t_sr = torch.from_numpy(np.concatenate(t_sr))  # (N, 3, P, P) float32
        size = self.hr.shape[-1]
        self.patch = patch or size
        if self.patch > size:
            raise ValueError(f"{folder}: cached crops are {size} px, smaller than the patch {patch}")
        self.top = (size - self.patch) // 2
        self.seed, self.augment, self.epoch = seed, augment, 0
        self.files = shards  # what the run log counts

    def __len__(self) -> int:
        return len(self.hr)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        a, b = self.top, self.top + self.patch  # the centre: the margin is context only
        hr = self.hr[index, :, a:b, a:b].float() / 255  # (3, patch, patch)
        t_sr = self.t_sr[index, :, a:b, a:b]
        if self.augment:
            hr, t_sr = same_flip((hr, t_sr), self.seed, self.epoch, index)
        return hr, t_sr
