"""The data side of ``quality.py``: the photo table, HR crops, methods, the SR cache, scoring a track."""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

BENCH_DIR = Path(__file__).resolve().parent
TABLE = BENCH_DIR / "eval_photos.tsv"
"""file, group, reduce, left, top, width, height (tab-separated; ``#`` comments)."""
GROUPS = ("faces", "text", "texture", "nature", "classic")
REDUCE = (1, 2, 4)
MULTIPLE = 4
"""Crop boxes are multiples of the scale (no mod-crop needed)."""


@dataclass(frozen=True)
class Photo:
    """One row of the photo table."""

    file: str
    group: str
    reduce: int
    left: int
    top: int
    width: int
    height: int

    @property
    def key(self) -> str:
        return f"{self.group}/{Path(self.file).stem}"


def read_table(path: Path) -> list[Photo]:
    """Parse the photo table. Raises ValueError naming the file and line of a bad row."""
    photos, seen = [], set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        where = f"{path}:{n}"
        if len(cells) != 7:
            raise ValueError(f"{where}: expected 7 tab-separated cells, got {len(cells)}")
        try:
            reduce, left, top, width, height = (int(c) for c in cells[2:])
        except ValueError as e:
            raise ValueError(f"{where}: reduce and box must be integers ({e})") from None
        photo = Photo(cells[0], cells[1], reduce, left, top, width, height)
        if photo.group not in GROUPS:
            raise ValueError(f"{where}: unknown group {photo.group!r}; known: {', '.join(GROUPS)}")
        if reduce not in REDUCE:
            raise ValueError(f"{where}: reduce must be one of {REDUCE}, got {reduce}")
        if min(width, height) < 64 or width % MULTIPLE or height % MULTIPLE or min(left, top) < 0:
            raise ValueError(f"{where}: box {width}x{height}+{left}+{top} must be >= 64 px, a multiple of 4")
        if photo.key in seen:
            raise ValueError(f"{where}: {photo.key} listed twice")
        seen.add(photo.key)
        photos.append(photo)
    if not photos:
        raise ValueError(f"{path}: no photos listed")
    return photos


def photo_json(photos: list[Photo]) -> list[dict[str, Any]]:
    return [p.__dict__ | {"key": p.key} for p in photos]


def prepare_hr(photo_dir: Path, photos: list[Photo], out: Path | None) -> dict[str, torch.Tensor]:
    """The HR crop of every photo, ``key -> (1, 3, h, w)`` on 8-bit levels; PNGs under ``out/<group>/``."""
    from gensr.base.tensors import quantize_uint8
    from gensr.degrade.resize import imresize
    from gensr.imageio import read_rgb8

    images = {}
    for p in photos:
        src = photo_dir / p.file
        if not src.is_file():
            raise FileNotFoundError(f"{src}: no such photo")
        hr = read_rgb8(src)
        if p.reduce > 1:
            hr = quantize_uint8(imresize(hr, scale=1 / p.reduce))
        h, w = hr.shape[-2:]
        if p.left + p.width > w or p.top + p.height > h:
            raise ValueError(
                f"{src}: box {p.width}x{p.height}+{p.left}+{p.top} is outside its {w}x{h} (reduced)"
            )
        hr = hr[..., p.top : p.top + p.height, p.left : p.left + p.width]
        images[p.key] = hr
        if out is not None:
            dst = out / f"{p.key}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(to_uint8(hr), "RGB").save(dst)
    return images


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8 (rounded half up, as the protocol)."""
    return np.ascontiguousarray(
        torch.floor(x[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    )


@dataclass(frozen=True)
class Method:
    """A way to upscale x4; ``path`` is its model file (None for interpolation); ``kind``: interpolation,
    gensr (built-in), candidate (``--model``) or peer."""

    name: str
    upscale: Callable[[torch.Tensor], torch.Tensor]
    path: Path | None
    kind: str
    digest: str = ""
    """SHA-256 of the model file (and of the precision, if not fp32): part of the SR cache key."""
    precision: str = "fp32"


def model(name: str, path: Path, kind: str, precision: str = "fp32") -> Method:
    """A gensr model file run untiled on the CPU (:class:`gensr.infer.Upscaler`), fp32 or bf16."""
    from gensr.infer import Upscaler
    from gensr.models import load_model

    net, info = load_model(path)
    if info.scale != 4:
        raise ValueError(f"{path}: a x{info.scale} model, the benchmark is x4")
    up = Upscaler(net, scale=4, device=torch.device("cpu"), precision=precision, tile=0)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if precision != "fp32":
        digest = hashlib.sha256(f"{digest}:{precision}".encode()).hexdigest()  # its own cache entries
    return Method(name, up.upscale_tensor, path, kind, digest, precision)


class SRCache:
    """Model outputs as PNG under ``root/<model digest[:16]>/<LR digest>.png`` (8-bit: lossless for the
    protocol, which rounds outputs to 8 bits before scoring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    def _path(self, method: Method, lr: torch.Tensor) -> Path:
        arr = to_uint8(lr)
        key = hashlib.sha256(repr(arr.shape).encode() + arr.tobytes()).hexdigest()[:32]
        return self.root / method.digest[:16] / f"{key}.png"

    def upscale(self, method: Method, lr: torch.Tensor) -> torch.Tensor:
        if not method.digest:
            return method.upscale(lr)
        path = self._path(method, lr)
        if path.is_file():
            self.hits += 1
            arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
            return torch.from_numpy(arr.copy()).permute(2, 0, 1)[None]
        self.misses += 1
        with torch.inference_mode():
            sr = method.upscale(lr)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.png")
        Image.fromarray(to_uint8(sr), "RGB").save(tmp)
        tmp.replace(path)
        return sr


def run_track(
    track: str,
    hr: dict[str, torch.Tensor],
    methods: list[Method],
    *,
    seed: int,
    lpips: torch.nn.Module | None,
    cache: SRCache,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``scores[method][image key][metric]`` on one track (image ``i``'s LR seeded ``seed + i``)."""
    from gensr.evaluate import artefact_scores, make_lr, score

    scores: dict[str, dict[str, dict[str, float]]] = {m.name: {} for m in methods}
    t0 = time.perf_counter()
    for i, (key, img) in enumerate(hr.items()):
        lr = make_lr(img, 4, track, seed=seed + i)
        for m in methods:
            t = time.perf_counter()
            sr = cache.upscale(m, lr)
            seconds = time.perf_counter() - t
            if sr.shape != img.shape:
                raise RuntimeError(
                    f"{m.name} returned {tuple(sr.shape)} for {key}, expected {tuple(img.shape)}"
                )
            scores[m.name][key] = {
                **score(sr, img, crop=4, lpips=lpips),
                "seconds": seconds,
                **artefact_scores(sr, img, scale=4),
            }
        say(f"[{track}] {i + 1}/{len(hr)} {key} ({time.perf_counter() - t0:.0f} s, cache hits {cache.hits})")
    return scores


def _nan_mean(values: list[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


METRICS = ("psnr_y", "ssim_y", "lpips", "periodic", "grey_spread", "tint", "seconds")


def summarise(scores: dict[str, dict[str, dict[str, float]]], photos: list[Photo]) -> dict[str, Any]:
    """Per method: the mean of each metric overall and per group, and the per-image scores."""
    out: dict[str, Any] = {"methods": {}}
    for name, images in scores.items():
        rows = list(images.values())
        groups = {
            g: {
                k: _nan_mean([images[p.key][k] for p in photos if p.group == g and p.key in images])
                for k in METRICS
            }
            for g in GROUPS
        }
        out["methods"][name] = {
            "mean": {k: _nan_mean([r[k] for r in rows]) for k in METRICS},
            "groups": groups,
            "images": images,
        }
    return out
