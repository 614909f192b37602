"""Seams of non-local networks: the overlap chosen by measurement, once per model and precision.

A network that is not local (attention windows, image-wide pooling or normalisation) computes each
tile a little differently from the whole image; more context (overlap) makes the difference
smaller and blending (:mod:`gensr.infer.tiling`) spreads what is left over ``2 * blend`` pixels.
How much context a model needs depends on its weights, not only on its architecture, so gensr
measures it: a crop of the built-in sample photo is upscaled whole and as 2 x 2 blended tiles at
growing overlaps (:data:`CANDIDATES`), and the first overlap whose tiled output is within
:data:`TARGET_DB` of the whole-image one is kept (else the best). The answer is cached in
``<cache>/seams.json`` under the network's weights, the precision, the device kind and torch's
version, so it is measured once (a few whole-crop runs; ``notify`` is told).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage
from torch import nn

from gensr.base.cache import cache_dir, read_json_table, update_json_table
from gensr.infer.geometry import Geometry
from gensr.infer.tiling import run_tiles
from gensr.infer.tuning import Plan

__all__ = ["CANDIDATES", "TARGET_DB", "SeamReport", "measure_overlap", "chosen_overlap", "weights_digest"]

CANDIDATES = (8, 16, 24, 32, 48)
"""Overlaps tried (input pixels, rounded up to the size multiple), smallest first."""
TARGET_DB = 45.0
"""PSNR (over RGB, [0, 1]) of tiled against whole-image output that counts as seamless: an RMS
difference of 1.4 levels in 255 where tiles meet, below what shows at 1:1 on photographs."""
PROBE_MAX = 320
"""Largest probe side (input pixels); overlaps whose 2 x 2 layout needs more are not tried."""
SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "astronaut.jpg"
"""The probe photo (512 x 512, shipped with gensr): a face, fabric, metal and flat background."""


@dataclass(frozen=True)
class SeamReport:
    """What :func:`measure_overlap` found.

    Attributes:
        overlap: the overlap chosen (input pixels).
        db: tiled against whole-image PSNR at that overlap.
        trials: ``(overlap, dB)`` for every overlap tried, in order.
        probe: the probe's side (input pixels).
    """

    overlap: int
    db: float
    trials: tuple[tuple[int, float], ...]
    probe: int


def _probe(side: int) -> torch.Tensor:
    """The centre ``side`` x ``side`` crop of the sample photo, ``(1, 3, side, side)`` in [0, 1]
    (mirrored beyond 512 px)."""
    with PILImage.open(SAMPLE) as im:
        a = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0  # (512, 512, 3)
    t = torch.from_numpy(a).permute(2, 0, 1)[None]
    while min(t.shape[-2:]) < side:
        t = torch.cat([t, t.flip(-1)], -1)
        t = torch.cat([t, t.flip(-2)], -2)
    y0, x0 = (t.shape[-2] - side) // 2, (t.shape[-1] - side) // 2
    return t[..., y0 : y0 + side, x0 : x0 + side].contiguous()


def _layout(geom: Geometry, overlap: int) -> tuple[int, int]:
    """``(core, probe side)`` for a 2 x 2 layout at ``overlap``: a window (core + 2 overlap, aligned)
    shorter than the probe, the probe twice the core."""
    ov, a = geom.grid_overlap(overlap), geom.align
    core = -(-(2 * ov + a) // a) * a
    core = max(core, -(-geom.min_size // a) * a)
    return core, 2 * core


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(torch.mean((a.double() - b.double()) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def measure_overlap(
    net: nn.Module,
    geom: Geometry,
    *,
    device: torch.device,
    dtype: torch.dtype,
    candidates: tuple[int, ...] = CANDIDATES,
    target: float = TARGET_DB,
) -> SeamReport:
    """Upscale the probe whole and tiled (blended, half the overlap each side) at each candidate
    overlap, smallest first; stop at the first within ``target`` dB. ``net`` is prepared on
    ``device``/``dtype`` (:func:`gensr.infer.devices.prepare_net`).

    Raises:
        ValueError: no candidate fits in :data:`PROBE_MAX` (a size multiple of 128 or more).
    """
    fits = [ov for ov in candidates if _layout(geom, ov)[1] <= PROBE_MAX]
    if not fits:
        raise ValueError(f"seams: no 2 x 2 probe of at most {PROBE_MAX} px fits this network's geometry")
    side = _layout(geom, fits[-1])[1]  # one probe for all: the largest layout
    lr = _probe(side)
    one_piece = Plan(tile=0, window=side, overlap=0, batch=1)
    whole = run_tiles(net, lr, geom, one_piece, device=device, dtype=dtype)
    trials: list[tuple[int, float]] = []
    for ov in fits:
        g = geom.grid_overlap(ov)
        core = side // 2
        window = -(-(core + 2 * g) // geom.align) * geom.align
        plan = Plan(tile=core, window=window, overlap=g, batch=1, blend=g // 2)
        tiled = run_tiles(net, lr, geom, plan, device=device, dtype=dtype)
        trials.append((g, _psnr(tiled, whole)))
        if trials[-1][1] >= target:
            break
    best = next((t for t in trials if t[1] >= target), max(trials, key=lambda t: t[1]))
    return SeamReport(overlap=best[0], db=best[1], trials=tuple(trials), probe=side)


def weights_digest(net: nn.Module) -> str:
    """A digest of the network's parameters and buffers (names, shapes, dtypes and values); for a
    network that holds none (an ONNX session), of its file's path, size and modification time."""
    h = hashlib.blake2b(digest_size=16)
    path = getattr(net, "path", None)
    if not net.state_dict() and isinstance(path, Path) and path.is_file():
        st = path.stat()
        h.update(f"{path.resolve()} {st.st_size} {st.st_mtime_ns}".encode())
    for name, t in net.state_dict().items():
        h.update(f"{name} {tuple(t.shape)} {t.dtype};".encode())
        h.update(t.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def chosen_overlap(
    net: nn.Module,
    geom: Geometry,
    *,
    device: torch.device,
    dtype: torch.dtype,
    notify: Callable[[str], None] | None = None,
) -> int:
    """The overlap for a non-local network: from ``<cache>/seams.json``, or measured now and stored.

    A geometry whose probe would not fit (:data:`PROBE_MAX`) keeps its default overlap.
    """
    precision = str(dtype).removeprefix("torch.")
    key = f"{weights_digest(net)}; {precision}; {device.type}; torch {torch.__version__}"
    path = cache_dir() / "seams.json"
    entry = read_json_table(path).get(key)
    if isinstance(entry, dict) and isinstance(entry.get("overlap"), int):
        return int(entry["overlap"])
    if notify is not None:
        name = getattr(net, "architecture", "this model")
        notify(f"measuring how much tile overlap {name} needs (once) ...")
    try:
        report = measure_overlap(net, geom, device=device, dtype=dtype)
    except ValueError:
        return geom.overlap
    if notify is not None:
        tried = ", ".join(f"{ov} px {db:.1f} dB" for ov, db in report.trials)
        notify(f"tile overlap {report.overlap} px (tiled vs whole image: {tried})")
    try:
        update_json_table(path, key, {"overlap": report.overlap, "db": round(min(report.db, 999.0), 2)})
    except OSError:
        pass  # measured again next time
    return report.overlap
