"""Seams of non-local networks: the overlap chosen by measurement, once per model and precision.

A network that is not local (attention windows, image-wide pooling or normalisation) computes each
tile a little differently from the whole image; more context (overlap) makes the difference
smaller and blending (:mod:`gensr.infer.tiling`) spreads what is left over ``2 * blend`` pixels.
How much context a model needs, and whether blending helps it, depends on its weights, not only on
its architecture (blended pixels see less context than a cut's; an attention network whose windows
line up with the tiles can be exact when cut), so gensr measures both: a crop of the built-in
sample photo is upscaled whole and in tiles of the plan's core (at most :data:`CORE_MAX`), cut and
blended over half the overlap, at growing overlaps (:data:`CANDIDATES`); the first overlap whose
better tiling is within :data:`TARGET_DB` of the whole-image output is kept with that tiling (else
the best of all). The answer is cached in ``<cache>/seams.json`` under the network's weights, the
precision, the device kind, the core and torch's version, so it is measured once (a few runs on a
probe of at most :data:`PROBE_MAX` pixels a side; ``notify`` is told).
"""

from __future__ import annotations

import hashlib
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
from gensr.metrics.fidelity import psnr

__all__ = [
    "CANDIDATES",
    "TARGET_DB",
    "SeamReport",
    "measure_overlap",
    "chosen_overlap",
    "probe_core",
    "weights_digest",
]

CANDIDATES = (8, 16, 24, 32, 48)
"""Overlaps tried (input pixels, rounded up to the size multiple), smallest first."""
TARGET_DB = 50.0
"""PSNR (over RGB, [0, 1]) of tiled against whole-image output that counts as seamless: an RMS
difference of 0.8 levels in 255 over the image (more along the seams), below what shows at 1:1."""
PROBE_MAX = 320
"""Largest probe side (input pixels); overlaps whose layout needs more are not tried."""
CORE_MAX = 128
"""Largest tile core of the probe (input pixels): plans with larger cores are measured with this one."""
SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "astronaut.jpg"
"""The probe photo (512 x 512, shipped with gensr): a face, fabric, metal and flat background."""


@dataclass(frozen=True)
class SeamReport:
    """What :func:`measure_overlap` found.

    Attributes:
        overlap: the overlap chosen (input pixels).
        blend: the blend half-width chosen: half the overlap, or 0 (cut).
        db: tiled against whole-image PSNR with those.
        trials: ``(overlap, blend, dB)`` for every tiling tried, in order.
        probe: the probe's side (input pixels).
    """

    overlap: int
    blend: int
    db: float
    trials: tuple[tuple[int, int, float], ...]
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


def probe_core(geom: Geometry, tile: int) -> int:
    """The tile core the probe is cut with: the plan's ``tile``, at most :data:`CORE_MAX`, on the
    size multiple. Smaller cores see less of the image, so a capped core errs on the safe side."""
    m = geom.size_multiple
    return max(m, min(tile, CORE_MAX) // m * m)


def _side(geom: Geometry, core: int, overlap: int) -> int:
    """The probe side for ``core`` and ``overlap``: two cores, and longer than one window (so tiles meet)."""
    return max(2 * core, geom.window(core, geom.grid_overlap(overlap)) + geom.align)


def measure_overlap(
    net: nn.Module,
    geom: Geometry,
    *,
    device: torch.device,
    dtype: torch.dtype,
    core: int = CORE_MAX,
    candidates: tuple[int, ...] = CANDIDATES,
    target: float = TARGET_DB,
) -> SeamReport:
    """Upscale the probe whole and tiled with ``core``-px tile cores (cut, and blended over half the
    overlap each side) at each candidate overlap, smallest first; stop at the first overlap within
    ``target`` dB. ``net`` is prepared on ``device``/``dtype`` (:func:`gensr.infer.devices.prepare_net`).

    Raises:
        ValueError: no candidate fits in :data:`PROBE_MAX` (a size multiple of 128 or more).
    """
    core = probe_core(geom, core)
    fits = [ov for ov in candidates if _side(geom, core, ov) <= PROBE_MAX]
    if not fits:
        raise ValueError(f"seams: no probe of at most {PROBE_MAX} px fits this network's geometry")
    side = _side(geom, core, fits[-1])  # one probe for all: the largest layout
    lr = _probe(side)
    one_piece = Plan(tile=0, window=side, overlap=0, batch=1)
    whole = run_tiles(net, lr, geom, one_piece, device=device, dtype=dtype)
    trials: list[tuple[int, int, float]] = []
    for ov in fits:
        g = geom.grid_overlap(ov)
        window = geom.window(core, g)
        for blend in (0, g // 2):
            plan = Plan(tile=core, window=window, overlap=g, batch=1, blend=blend)
            tiled = run_tiles(net, lr, geom, plan, device=device, dtype=dtype)
            trials.append((g, blend, float(psnr(tiled, whole, y_channel=False))))  # over RGB, batch of 1
        if max(trials[-1][2], trials[-2][2]) >= target:
            break
    ok = [t for t in trials if t[2] >= target and t[0] == trials[-1][0]]
    best = max(ok or trials, key=lambda t: (t[2], t[1]))  # ties: blended
    return SeamReport(overlap=best[0], blend=best[1], db=best[2], trials=tuple(trials), probe=side)


def weights_digest(net: nn.Module) -> str:
    """A digest of the network's parameters and buffers (names, shapes, dtypes and values); for a
    network that holds none (an ONNX session), of its file's path, size and modification time."""
    h = hashlib.blake2b(digest_size=16)
    state, path = net.state_dict(), getattr(net, "path", None)
    if not state and isinstance(path, Path) and path.is_file():
        st = path.stat()
        h.update(f"{path.resolve()} {st.st_size} {st.st_mtime_ns}".encode())
    for name, t in state.items():
        h.update(f"{name} {tuple(t.shape)} {t.dtype};".encode())
        h.update(t.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def chosen_overlap(
    net: nn.Module,
    geom: Geometry,
    *,
    device: torch.device,
    dtype: torch.dtype,
    tile: int = CORE_MAX,
    notify: Callable[[str], None] | None = None,
) -> tuple[int, int]:
    """``(overlap, blend)`` for a non-local network cut into ``tile``-px cores: from
    ``<cache>/seams.json``, or measured now (:func:`measure_overlap`) and stored.

    A geometry whose probe would not fit (:data:`PROBE_MAX`) keeps its default overlap, blended.
    """
    precision = str(dtype).removeprefix("torch.")
    core = probe_core(geom, tile)
    key = f"{weights_digest(net)}; {precision}; {device.type}; core {core}; torch {torch.__version__}"
    path = cache_dir() / "seams.json"
    entry = read_json_table(path).get(key)
    if (
        isinstance(entry, dict)
        and isinstance(entry.get("overlap"), int)
        and isinstance(entry.get("blend"), int)
    ):
        return int(entry["overlap"]), int(entry["blend"])
    if notify is not None:
        name = getattr(net, "architecture", "this model")
        notify(f"measuring how much tile overlap {name} needs (once) ...")
    try:
        report = measure_overlap(net, geom, device=device, dtype=dtype, core=core)
    except ValueError:
        ov = geom.grid_overlap(None)
        return ov, ov // 2
    if notify is not None:
        tried = ", ".join(f"{ov} px {'blended' if b else 'cut'} {db:.1f} dB" for ov, b, db in report.trials)
        how = "blended" if report.blend else "cut"
        notify(f"tile overlap {report.overlap} px, {how} (tiled vs whole image: {tried})")
    entry = {"overlap": report.overlap, "blend": report.blend, "db": round(min(report.db, 999.0), 2)}
    try:
        update_json_table(path, key, entry)
    except OSError:
        pass  # measured again next time
    return report.overlap, report.blend
