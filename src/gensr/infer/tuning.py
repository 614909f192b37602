"""The size of tile windows: within memory everywhere, and on the CPU timed once per machine and network.

The best window is a trade: every tile recomputes ``overlap`` pixels of context on each side and
an image needs whole windows, so larger windows waste less, but past some size the network runs
slower per pixel, and where that happens depends on the CPU and the precision. On the 2-core
Xeon gensr is developed on (AMX), the built-in model in bf16 ran 9.6 output MP per CPU-second on
224-pixel windows and 7.2 on 416-pixel ones (its convolutions are so fast there that memory
traffic decides), while in fp32 larger windows were faster up to the allocator's limit
(:data:`CPU_ACTIVATION_BYTES`). So :func:`window_seconds` times one network
call on a few window sizes, once, and :func:`auto_tile` picks for each image
the window whose layout (number of windows x CPU seconds per window) is cheapest. The timings are
stored in ``<cache>/tuning.json`` under a key naming the CPU (model and SIMD features), the thread
count, torch's version, the network (class and hyperparameters), the precision and the overlap.

:func:`make_plan` decides everything :mod:`gensr.infer.tiling` then runs (a :class:`Plan`): the window, the
overlap, the tiles per call and the rows per band.
"""

from __future__ import annotations

import json
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gensr.base.cache import cache_dir, read_json_table, update_json_table
from gensr.base.machine import available_memory, cpu_description
from gensr.infer import layout
from gensr.infer.geometry import Geometry

CANDIDATES = (128, 192, 256, 320, 384)
"""Window sides (input pixels) timed, below the caller's cap (which is timed too)."""
SLOW_CALL_S = 1.5
"""A warm-up call slower than this ends the timing (heavy networks keep the cap's window)."""
CPU_ACTIVATION_BYTES = 24 << 20
"""Largest single activation of an automatic CPU tile window. Larger windows waste less on overlap,
but glibc serves allocations over 32 MiB with fresh ``mmap`` pages, so every layer of a bigger
window pays page faults (the compact model's fp32 window of 356 px ran 2x the system time of
292 px and no faster; bf16 at 548 px ran 30 % slower than at 484 px, on a 2-core Xeon)."""
MIN_AUTO_TILE = 64
"""Smallest automatic tile core (input pixels): below it the overlap costs more than the tile."""
GPU_TILE = 512
"""Automatic tile core on GPUs (input pixels), batched up to :data:`MAX_TILES_PER_CALL` within memory."""
MAX_TILES_PER_CALL = 8
"""Most tile windows run in one network call (GPUs; the CPU runs one at a time)."""
BAND_BYTES = 128 << 20
"""Largest float32 output band :func:`make_plan` lets the host hold (128 MiB: at x4, 349 input rows of
a 2000-pixel-wide input; inputs up to 1165 pixels wide are one band)."""
HOST_TILE_BYTES = 512 << 20
"""Largest activation memory of an automatic tile computed in host memory, when upscaling by bands."""


@dataclass(frozen=True)
class Plan:
    """How :mod:`gensr.infer.tiling` runs one image, in input pixels (decided by :func:`make_plan`).

    Attributes:
        tile: the tile core side asked for or chosen (at least the image's longer side: one piece).
        window: the side of every window run (a core plus ``overlap`` on each side, aligned).
        overlap: context on each side of a core, on the network's size multiple.
        batch: windows per network call.
        band_rows: input rows per output band; None = a band is one row of windows.
        blend: half-width of the seam blend: neighbouring tiles' outputs are mixed with linear weights
            over ``blend`` pixels each side of the line where their cores meet (at most ``overlap``);
            0 = cores are cut there (exact for local networks).
    """

    tile: int
    window: int
    overlap: int
    batch: int
    band_rows: int | None = None
    blend: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.blend <= self.overlap:
            raise ValueError(f"plan: blend must be within 0..overlap ({self.overlap}), got {self.blend}")


def make_plan(
    net: nn.Module,
    geom: Geometry,
    h: int,
    w: int,
    *,
    tile: int | None,
    overlap: int | None,
    batch: int | None,
    device: torch.device,
    dtype: torch.dtype,
    bands: bool = False,
    notify: Callable[[str], None] | None = None,
    blend: int | None = None,
) -> Plan:
    """The :class:`Plan` for an ``h`` x ``w`` input: tile, window, overlap, batch and band rows.

    Args:
        net: the generator, prepared on ``device`` in ``dtype`` (probed and timed for automatic tiles).
        geom: its :class:`~gensr.infer.geometry.Geometry`.
        h, w: the input size.
        tile: tile core side (the window is ``tile + 2 * overlap``, rounded up to the geometry's
            alignment); None = :func:`auto_tile`; 0 = the whole image in one piece.
        overlap: context on each side; None = the geometry's default.
        batch: windows per call; None = 1 on the CPU, as many as fit (:func:`gpu_batch`) on GPUs.
        bands: plan for output bands in flat host memory: a band's float32 output is at most
            :data:`BAND_BYTES`, and where the device computes in host memory (CPU, MPS) an automatic
            tile's activations at most :data:`HOST_TILE_BYTES`; an explicit tile that covers the
            image, or 0, is one piece. Without ``bands`` a band is a row of windows.
        notify: told (one line) when tile windows are timed for this machine, once.

    ``blend`` (:attr:`Plan.blend`): None = 0 for a :attr:`~gensr.infer.geometry.Geometry.local`
    network, else half the overlap (its seams are blended).
    """
    m, ov = geom.size_multiple, geom.grid_overlap(overlap)
    hp, wp = geom.padded(h, w)
    rows = None
    if bands and tile is not None and (tile == 0 or tile >= max(hp, wp)):
        rows = hp
    elif bands:
        if tile is None:
            budget = HOST_TILE_BYTES if device.type in ("cpu", "mps") else None
            tile = auto_tile(
                net, geom, hp, wp, overlap=ov, device=device, dtype=dtype, budget=budget, notify=notify
            )
        tile = max(m, tile // m * m)
        s = geom.scale
        rows = max(m, min(hp, BAND_BYTES // (4 * 3 * s * s * wp)) // m * m)  # a row of windows when it fits
    elif tile is None:
        tile = auto_tile(net, geom, hp, wp, overlap=ov, device=device, dtype=dtype, notify=notify)
    window = max(hp, wp, geom.min_window) if tile == 0 else geom.window(max(m, tile // m * m), ov)
    if batch is None:
        batch = 1 if device.type == "cpu" else gpu_batch(net, geom, window, device=device, dtype=dtype)
    if blend is None:
        blend = 0 if geom.local else ov // 2
    return Plan(tile=tile, window=window, overlap=ov, batch=max(1, batch), band_rows=rows, blend=blend)


def _cache_file() -> Path:
    return cache_dir() / "tuning.json"


def tuning_key(net: nn.Module, *, overlap: int, dtype: torch.dtype) -> str:
    """What a measurement depends on: CPU, threads, torch version, network, precision, overlap."""
    name, flags = cpu_description()
    hparams = json.dumps(getattr(net, "hparams", {}), sort_keys=True, default=str)
    return (
        f"{name} [{' '.join(flags)}] {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"{type(net).__name__} {hparams}; {str(dtype).removeprefix('torch.')}; overlap {overlap}"
    )


def cached_seconds(key: str) -> dict[int, float] | None:
    """The stored CPU seconds per window call for ``key``, or None."""
    try:
        entry = read_json_table(_cache_file()).get(key)
        return {int(p): float(t) for p, t in entry["cpu_seconds"].items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None


def measure_windows(
    net: nn.Module, *, dtype: torch.dtype, windows: list[int], rounds: int = 2
) -> dict[int, float]:
    """CPU seconds (all threads) of one call of ``net`` (prepared in ``dtype``) on each square window.

    One warm-up call per window (smallest first; a warm-up slower than :data:`SLOW_CALL_S` of wall
    time ends the list there), then ``rounds`` alternating rounds; the leanest call counts. CPU time,
    not wall time: on a machine shared with other jobs, a burst of load during one call stretches its
    wall time but hardly its CPU time (``gensr upscale`` runs OpenMP with passive waiting, so idle
    threads do not count); the wall-time measurement chose 256 px windows where 416 px ran faster.
    """
    g = torch.Generator().manual_seed(0)
    best: dict[int, float] = {}
    inputs: dict[int, torch.Tensor] = {}
    with torch.inference_mode():
        for p in sorted(windows):
            x = torch.rand(1, 3, p, p, generator=g).to(dtype=dtype, memory_format=torch.channels_last)
            t0, c0 = time.perf_counter(), time.process_time()
            net(x)  # warm-up: kernels set up for this shape
            inputs[p], best[p] = x, time.process_time() - c0
            if time.perf_counter() - t0 > SLOW_CALL_S:
                break
        for _ in range(rounds):
            for p, x in inputs.items():
                c0 = time.process_time()
                net(x)
                best[p] = min(best[p], time.process_time() - c0)
    return best


def window_seconds(
    net: nn.Module,
    *,
    overlap: int,
    dtype: torch.dtype,
    cap: int,
    notify: Callable[[str], None] | None = None,
) -> dict[int, float] | None:
    """CPU seconds per call of ``net`` on square windows up to ``cap`` px on this CPU, or None.

    Read from ``<cache>/tuning.json``, or timed now (a few seconds, once; ``notify`` is told) and
    stored. None when the network is too slow to time (then the caller uses ``cap``).
    """
    key = tuning_key(net, overlap=overlap, dtype=dtype)
    seconds = cached_seconds(key)
    if seconds is None:
        windows = sorted({p for p in CANDIDATES if 2 * overlap + 32 <= p < cap} | {cap})
        if notify is not None:
            notify(f"gensr: timing tile windows of {', '.join(map(str, windows))} px on this CPU, once...")
        seconds = measure_windows(net, dtype=dtype, windows=windows)
        entry = {
            "cpu_seconds": {str(p): round(t, 5) for p, t in seconds.items()},
            "date": time.strftime("%Y-%m-%d"),
        }
        try:
            update_json_table(_cache_file(), key, entry)
        except OSError:
            pass  # a read-only cache: time again next time
    seconds = {p: t for p, t in seconds.items() if p <= cap}
    return seconds if len(seconds) >= 2 else None


def auto_tile(
    net: nn.Module,
    geom: Geometry,
    h: int,
    w: int,
    *,
    overlap: int,
    device: torch.device,
    dtype: torch.dtype,
    budget: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> int:
    """Tile core side for speed, within memory; the window is the core plus ``2 * overlap``.

    The network's largest activation per input pixel comes from a 32x32 probe (:func:`_bytes_per_px`).
    On the CPU the window is at most ``cap``, the largest multiple of 32 whose largest activation
    stays under :data:`CPU_ACTIVATION_BYTES` (and within memory); an image that fits is one window.
    Otherwise a few window sizes are timed on this CPU and network, once
    (:func:`gensr.infer.tuning.window_seconds`), and the window whose layout over this image
    (number of windows x CPU seconds per window) costs least is used; ``cap`` when the network is
    too slow to time. Tiles run one at a time on the CPU (at these windows, batches of 2 and 4 ran
    5-30 % slower per pixel on the 2-core Xeon, 1 and 2 threads, fp32 and bf16). On GPUs the core
    is :data:`GPU_TILE`, within 60 % of free memory (4 activations alive), and tiles are batched
    (:func:`gpu_batch`). ``budget`` (bytes) lowers the memory allowed.

    Returns:
        The core side; at least ``max(h, w)`` when the image is one window.
    """
    m = geom.size_multiple
    smallest = _smallest_window(overlap, geom)
    cap = window_cap(net, geom, overlap=overlap, device=device, dtype=dtype, budget=budget)
    if max(h, w) <= cap:
        return max(h, w)  # one window: no overlap to recompute
    if device.type != "cpu":
        return cap - 2 * overlap
    seconds = window_seconds(net, overlap=overlap, dtype=dtype, cap=cap, notify=notify)
    if not seconds:
        return cap - 2 * overlap

    fitted = {
        p: layout.fit_window(h, w, p, overlap=overlap, m=m, align=geom.align)
        for p in seconds
        if p >= smallest
    }

    def cost(p: int) -> float:  # the image's windows, shrunk to fit, at the CPU seconds per pixel of p x p
        s = fitted[p]
        n = len(layout.spans(0, h, h, s, overlap, m)) * len(layout.spans(0, w, w, s, overlap, m))
        return n * seconds[p] * min(s, h) * min(s, w) / (p * p)

    best = min(fitted, key=cost, default=None)
    return (cap if best is None else fitted[best]) - 2 * overlap


def window_cap(
    net: nn.Module,
    geom: Geometry,
    *,
    overlap: int,
    device: torch.device,
    dtype: torch.dtype,
    budget: float | None = None,
) -> int:
    """The largest automatic window (input pixels a side) for ``net`` on ``device``.

    CPU: the largest multiple of 32 whose largest activation stays under :data:`CPU_ACTIVATION_BYTES`;
    GPUs: :data:`GPU_TILE` plus the overlap; both within memory (``budget`` bytes lowers it).
    """
    align = geom.align
    bytes_per_px = _bytes_per_px(net, geom, device=device, dtype=dtype)
    available = _memory_budget(device) if budget is None else min(budget, _memory_budget(device))
    memory = int(math.sqrt(available / (4 * bytes_per_px)))
    smallest = _smallest_window(overlap, geom)
    if device.type != "cpu":
        return max(smallest, min(GPU_TILE + 2 * overlap, memory) // align * align)
    return max(smallest, min(int(math.sqrt(CPU_ACTIVATION_BYTES / bytes_per_px)), memory) // 32 * 32)


def _smallest_window(overlap: int, geom: Geometry) -> int:
    align = geom.align
    return -(-(2 * overlap + max(MIN_AUTO_TILE, 2 * align)) // align) * align


_PROBED: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, str, torch.dtype], float]] = (
    weakref.WeakKeyDictionary()
)
""":func:`_bytes_per_px` per network, so a folder of images probes each network once."""


def _bytes_per_px(net: nn.Module, geom: Geometry, *, device: torch.device, dtype: torch.dtype) -> float:
    """Bytes of the network's largest single activation per input pixel (a 32x32 probe with hooks,
    once per network, scale, device and dtype)."""
    known = _PROBED.setdefault(net, {})
    key = (geom.scale, str(device), dtype)
    if key not in known:
        known[key] = _probe_bytes_per_px(net, geom, device=device, dtype=dtype)
    return known[key]


def _probe_bytes_per_px(net: nn.Module, geom: Geometry, *, device: torch.device, dtype: torch.dtype) -> float:
    m, scale = geom.size_multiple, geom.scale
    probe = max(32 // m, 1) * m
    largest = 0

    def hook(_mod: nn.Module, _inp: object, out: object) -> None:
        nonlocal largest
        if isinstance(out, torch.Tensor):
            largest = max(largest, out.numel())

    leaves = [mod for mod in net.modules() if not list(mod.children())]
    handles = [mod.register_forward_hook(hook) for mod in leaves]
    try:
        with torch.inference_mode():
            net(torch.zeros(1, 3, probe, probe, device=device, dtype=dtype))
    finally:
        for hd in handles:
            hd.remove()
    per_px = max(largest, 3 * scale * scale * probe * probe) / (probe * probe)  # elements per input pixel
    return per_px * torch.finfo(dtype).bits / 8


def gpu_batch(net: nn.Module, geom: Geometry, win: int, *, device: torch.device, dtype: torch.dtype) -> int:
    """Windows per call on a GPU: as many as fit 60 % of free memory (4 activations alive), at most
    :data:`MAX_TILES_PER_CALL`."""
    per_window = 4 * _bytes_per_px(net, geom, device=device, dtype=dtype) * win * win
    return int(max(1, min(MAX_TILES_PER_CALL, _memory_budget(device) // max(per_window, 1))))


def _memory_budget(device: torch.device) -> float:
    """Bytes automatic tiles may use: 60 % of a GPU's free memory; on the host half of what is available
    (:func:`gensr.base.machine.available_memory`, 8 GiB when unknown), at most 4 GiB."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return 0.6 * free
    available = available_memory()
    return min(0.5 * (8 << 30 if available is None else available), 4 << 30)
