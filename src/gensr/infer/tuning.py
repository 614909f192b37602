"""Tile windows for the CPU, timed once per machine and network and cached.

The best window is a trade: every tile recomputes ``overlap`` pixels of context on each side and
an image needs whole windows, so larger windows waste less, but past some size the network runs
slower per pixel, and where that happens depends on the CPU and the precision. On the 2-core
Xeon gensr is developed on (AMX), the built-in model in bf16 ran 9.6 output MP per CPU-second on
224-pixel windows and 7.2 on 416-pixel ones (its convolutions are so fast there that memory
traffic decides), while in fp32 larger windows were faster up to the allocator's limit
(:data:`gensr.infer.tiling.CPU_ACTIVATION_BYTES`). So :func:`window_seconds` times one network
call on a few window sizes, once, and :func:`gensr.infer.tiling.auto_window` picks for each image
the window whose layout (number of windows x CPU seconds per window) is cheapest. The timings are
stored in ``<cache>/tuning.json`` under a key naming the CPU (model and SIMD features), the thread
count, torch's version, the network (class and hyperparameters), the precision and the overlap.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

CANDIDATES = (128, 192, 256, 320, 384)
"""Window sides (input pixels) timed, below the caller's cap (which is timed too)."""
SLOW_CALL_S = 1.5
"""A warm-up call slower than this ends the timing (heavy networks keep the cap's window)."""


def _cache_file() -> Path:
    from gensr.models import cache_dir

    return cache_dir() / "tuning.json"


def tuning_key(net: nn.Module, *, overlap: int, dtype: torch.dtype) -> str:
    """What a measurement depends on: CPU, threads, torch version, network, precision, overlap."""
    from gensr.infer.engines import cpu_description

    name, flags = cpu_description()
    hparams = json.dumps(getattr(net, "hparams", {}), sort_keys=True, default=str)
    return (
        f"{name} [{' '.join(flags)}] {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"{type(net).__name__} {hparams}; {str(dtype).removeprefix('torch.')}; overlap {overlap}"
    )


def cached_seconds(key: str) -> dict[int, float] | None:
    """The stored CPU seconds per window call for ``key``, or None."""
    try:
        entry = json.loads(_cache_file().read_text()).get(key)
        return {int(p): float(t) for p, t in entry["cpu_seconds"].items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None


def _store(key: str, entry: dict[str, Any]) -> None:
    path = _cache_file()
    try:
        table = json.loads(path.read_text())
        table = table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        table = {}
    table[key] = entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache: time again next time


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
        _store(key, entry)
    seconds = {p: t for p, t in seconds.items() if p <= cap}
    return seconds if len(seconds) >= 2 else None
