"""Distillation with learnable targets: the teacher sees the very LR the student sees.

A privileged teacher (:mod:`gensr.train.distill`) sees the clean LR while the student sees a degraded
one, so the target holds texture the student's input cannot determine and an L1/VGG regression averages
it into blur. Here every target is a function of the student's own input. For each cached crop::

    hr        (3, P+2m, P+2m)    an HR crop with m px of context (``distill.margin``) on each side
    track   ~ distill.mix        bicubic (clean), mild or realistic (heavy), drawn per crop
    lr      = degrade_track(hr)  (3, (P+2m)/s, (P+2m)/s)  uint8 levels
    t_sr    = teacher_track(lr)  (3, P+2m, P+2m)  the track's teacher (``distill.teachers``)
    t_sr    = Y(t_sr) + CbCr(bicubic(lr))          for tracks in ``distill.input_chroma``

and training uses the centre ``P`` px (``P/s`` of the LR), so no target pixel comes from a teacher that
saw the crop's border. The pairs are computed once per training folder and cached in shards written
atomically (``DIR/<key>/``); the key hashes the teachers, the folder's files and the whole recipe, so a
changed recipe never reuses stale targets and an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from gensr.degrade import apply, imresize, sample_params
from gensr.train.config import TrainConfig
from gensr.train.distill import (
    Teacher,
    clean_lr,
    crop_at,
    file_sha256,
    same_flip,
    save_npz,
    teacher_targets,
    to_u8,
)

__all__ = ["TRACK_IDS", "pair_cache_key", "build_pair_cache", "CachedPairs", "input_chroma", "crop_tracks"]

TRACK_IDS: dict[str, int] = {"bicubic": 0, "mild": 1, "realistic": 2}
"""The kinds of input a cached pair can have, and their code in the cache files."""

_RECIPE_VERSION = 1  # bump when the way pairs are made changes
_SHARD = 64
_Y = (0.299, 0.587, 0.114)  # BT.601 luma weights


def crop_tracks(mix: Mapping[str, float], n: int, seed: int) -> list[str]:
    """The track of each of ``n`` cached crops: drawn from ``mix`` (weights, normalised) with ``seed``."""
    names = sorted(mix)
    w = torch.tensor([float(mix[k]) for k in names], dtype=torch.float64)
    g = torch.Generator().manual_seed(seed * 7919 + 17)
    return [names[int(i)] for i in torch.multinomial(w / w.sum(), n, replacement=True, generator=g)]


def input_chroma(t_sr: Tensor, lr: Tensor) -> Tensor:
    """The teacher's luma with the chroma of the bicubic upscale of its input.

    Teachers that add colour (RealSR DF2K puts ~4 levels of channel spread on grey photos, nearly all
    of it fine chroma detail) pass it to every student; taking the colour from the input removes it.
    (B, 3, H, W) teacher output, (B, 3, H/s, W/s) input -> (B, 3, H, W).
    """
    up = imresize(lr, scale=t_sr.shape[-1] / lr.shape[-1])
    w = torch.tensor(_Y, dtype=t_sr.dtype, device=t_sr.device).view(1, 3, 1, 1)
    return up - (up * w).sum(1, keepdim=True) + (t_sr * w).sum(1, keepdim=True)


def pair_cache_key(
    cfg: TrainConfig, teachers: Mapping[str, Teacher], files: Sequence[Path], size: int
) -> str:
    """A hash of everything one folder's cached pairs depend on."""
    dc = cfg.distill
    recipe = {
        "version": _RECIPE_VERSION,
        "teachers": {k: [t.sha256, t.precision, t.factor] for k, t in sorted(teachers.items())},
        "scale": cfg.scale,
        "size": size,
        "mix": sorted(dc.mix.items()),
        "input_chroma": sorted(dc.input_chroma),
        "degradations": {k: repr(getattr(cfg.degradation, k)) for k in ("mild", "realistic")},
        "crops": dc.crops,
        "seed": dc.seed,
        "files": [file_sha256(f) for f in files],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:20]


def _make_lr(cfg: TrainConfig, track: str, hr: Tensor, seed: int) -> Tensor:
    """(1, 3, S, S) -> (1, 3, S/s, S/s) on 8-bit levels, by the track's degradation."""
    if track == "bicubic":
        return clean_lr(hr, cfg.scale)
    deg = getattr(cfg.degradation, track)
    return apply(hr, sample_params(deg, 1, torch.Generator().manual_seed(seed)), deg)


def build_pair_cache(
    cfg: TrainConfig,
    teachers: Mapping[str, Teacher],
    crops: Any,
    folder: str | os.PathLike[str],
    key: str,
    *,
    progress: bool = True,
) -> Path:
    """Compute (or finish computing) the pairs of one training folder into ``folder/key``; returns it.

    ``teachers`` maps every track of ``distill.mix`` to its teacher; ``crops`` is an
    :class:`~gensr.data.photos.HRCropDataset` of that folder without augmentation, its crops ``P + 2m`` px.
    """
    dc = cfg.distill
    out = Path(folder) / key
    out.mkdir(parents=True, exist_ok=True)
    tracks = crop_tracks(dc.mix, dc.crops, dc.seed)
    n_shards = -(-dc.crops // _SHARD)
    todo = [k for k in range(n_shards) if not (out / f"shard_{k:05d}.npz").exists()]
    done = dc.crops - sum(min(_SHARD, dc.crops - k * _SHARD) for k in todo)
    with tqdm(total=dc.crops, initial=done, desc="distill: pairs", unit="crop", disable=not progress) as bar:
        for k in todo:
            idx = list(range(k * _SHARD, min((k + 1) * _SHARD, dc.crops)))
            hr = torch.stack([crop_at(crops, i) for i in idx])  # (n, 3, S, S)
            lr = torch.cat(
                [_make_lr(cfg, tracks[i], hr[j : j + 1], dc.seed * 1_000_003 + i) for j, i in enumerate(idx)]
            )
            t_sr = torch.empty_like(hr)
            for name in sorted(set(tracks[i] for i in idx)):
                rows = [j for j, i in enumerate(idx) if tracks[i] == name]
                for a in range(0, len(rows), dc.batch):
                    sel = rows[a : a + dc.batch]
                    t = teacher_targets(teachers[name], lr[sel])
                    t_sr[sel] = input_chroma(t, lr[sel]) if name in dc.input_chroma else t
                    bar.update(len(sel))
            save_npz(
                out / f"shard_{k:05d}.npz",
                hr=to_u8(hr),
                lr=to_u8(lr),
                t_sr=t_sr.to(torch.float16).numpy(),
                track=np.array([TRACK_IDS[tracks[i]] for i in idx], dtype=np.uint8),
            )
    return out


class CachedPairs(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """The cached ``(hr, t_sr, lr)`` of one or more folders: the centre ``patch`` of hr and t_sr
    ((3, P, P) float32) and the matching centre of lr ((3, P/s, P/s)), with one random flip/rotation
    applied to all three (a function of ``(seed, epoch, index)``); ``tracks`` keeps the pairs of those
    kinds only."""

    def __init__(
        self,
        folders: Sequence[str | os.PathLike[str]],
        *,
        scale: int,
        patch: int,
        seed: int = 0,
        augment: bool = True,
        tracks: Sequence[str] = (),
    ) -> None:
        hr, lr, t_sr, track = [], [], [], []
        for folder in folders:
            shards = sorted(Path(folder).glob("shard_*.npz"))
            if not shards:
                raise ValueError(f"{folder}: no cached pairs")
            for s in shards:
                with np.load(s) as z:
                    hr.append(z["hr"])
                    lr.append(z["lr"])
                    t_sr.append(z["t_sr"])
                    track.append(z["track"])
        self.hr = torch.from_numpy(np.concatenate(hr))  # (N, 3, S, S) uint8
        self.lr = torch.from_numpy(np.concatenate(lr))  # (N, 3, S/s, S/s) uint8
        self.t_sr = torch.from_numpy(np.concatenate(t_sr))  # (N, 3, S, S) float16
        self.track = torch.from_numpy(np.concatenate(track))  # (N,) uint8, TRACK_IDS
        if tracks:  # keep the pairs of these kinds only
            keep = torch.isin(self.track, torch.tensor([TRACK_IDS[t] for t in tracks], dtype=torch.uint8))
            if not keep.any():
                raise ValueError(
                    f"no cached pairs of kind {', '.join(tracks)} in {', '.join(map(str, folders))}"
                )
            self.hr, self.lr, self.t_sr, self.track = (
                self.hr[keep],
                self.lr[keep],
                self.t_sr[keep],
                self.track[keep],
            )
        size, self.scale = self.hr.shape[-1], scale
        self.patch = patch or size
        if self.patch > size or self.patch % scale or (size - self.patch) % (2 * scale):
            raise ValueError(
                f"cached pairs are {size} px: cannot take a centred {patch} px patch at x{scale}"
            )
        self.top = (size - self.patch) // 2
        self.seed, self.augment, self.epoch = seed, augment, 0
        self.files = [Path(f) for f in folders]

    def __len__(self) -> int:
        return len(self.hr)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        a, b = self.top, self.top + self.patch
        la, lb = a // self.scale, b // self.scale
        hr = self.hr[index, :, a:b, a:b].float() / 255
        t_sr = self.t_sr[index, :, a:b, a:b].float()
        lr = self.lr[index, :, la:lb, la:lb].float() / 255
        if self.augment:
            hr, t_sr, lr = same_flip((hr, t_sr, lr), self.seed, self.epoch, index)
        return hr, t_sr, lr
