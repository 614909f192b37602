"""``gensr eval``: score models against interpolation baselines with the field's protocol."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

NAME = "eval"
HELP = (
    "Evaluate methods on a folder of HR images: LR by MATLAB bicubic (or mild, or realistic) degradation, "
    "PSNR-Y / SSIM-Y (border crop = scale), LPIPS-alex, the periodic-artefact ratio and colour shifts, "
    "per method."
)
EXAMPLE = (
    "Examples:\n"
    "  gensr eval --data Set5/HR --scale 4 --model bicubic --model my-x4.safetensors --json set5.json\n"
    "  gensr eval --data photos/ --scale 4 --model bicubic --model lanczos --save-images cmp/ --verbose\n"
    "  gensr eval --data Set5/HR --lr-dir Set5/LR_bicubic/X4 --scale 4 --model bicubic\n"
    "Methods: bicubic (MATLAB imresize), bilinear, nearest, lanczos (Pillow), or a gensr model name/file;\n"
    "bicubic is always included. Without --model: bicubic and the built-in default model.\n"
    "periodic: power of the output's strongest period-<scale> frequency over its neighbourhood (a grid\n"
    "left by the upsampling layer: bicubic ~2-20, a visible grid hundreds); grey-Δ: mean channel spread\n"
    "(8-bit levels) of the output on grey photos; tint: mean shift of the channel means on colour photos."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, type=Path, metavar="DIR", help="folder of HR images (recursive)"
    )
    parser.add_argument("--scale", required=True, type=int, metavar="N", help="SR factor (2, 3, 4, ...)")
    parser.add_argument(
        "--model", action="append", default=None, metavar="NAME|FILE",
        help="method to evaluate (repeatable): bicubic, bilinear, nearest, lanczos, a model name or file",
    )  # fmt: skip
    parser.add_argument(
        "--degradation", choices=("bicubic", "mild", "realistic"), default="bicubic",
        help="how LR images are made from HR: bicubic (default, the classical protocol), mild (light blur, "
        "noise, JPEG 60-90: phones and the web), realistic (Real-ESRGAN's heavy second order)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the mild/realistic degradation (image i: seed+i)"
    )
    parser.add_argument("--lr-dir", type=Path, metavar="DIR", help="use these LR images (matched by name)")
    parser.add_argument(
        "--crop-border", type=int, metavar="N", help="border pixels cropped for PSNR/SSIM (default: scale)"
    )
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS (faster; reported as null)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write per-image and mean scores as JSON")
    parser.add_argument(
        "--save-images", type=Path, metavar="DIR", help="write a labelled comparison grid per image"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print every image's scores, not only the means"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (models and LPIPS)")
    parser.add_argument("--tile", type=int, metavar="PX", help="tile size for models (default: whole image)")


def _jsonable(obj: Any) -> Any:
    """NaN/inf -> null (strict JSON): LPIPS skipped, or PSNR of identical images."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    return obj


def _table(rows: list[tuple[str, dict[str, float]]], first: str = "method") -> str:
    head = (
        f"{first:<24} {'PSNR-Y':>8} {'SSIM-Y':>8} {'LPIPS':>8} {'seconds':>9} {'periodic':>9} "
        f"{'grey-Δ':>7} {'tint':>6}"
    )
    lines = [head, "-" * len(head)]
    for name, s in rows:
        per, grey, tint = (s.get(k, math.nan) for k in ("periodic", "grey_spread", "tint"))
        lines.append(
            f"{name[:24]:<24} {s['psnr_y']:>8.2f} {s['ssim_y']:>8.4f} {s['lpips']:>8.4f} "
            f"{s['seconds']:>9.3f} {per:>9.1f} {grey:>7.2f} {tint:>6.2f}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from gensr import evaluate as ev
    from gensr.imageio import list_images
    from gensr.messages import shown
    from gensr.metrics.backbones import BackboneError
    from gensr.models import DEFAULT_MODEL, ModelFileError

    def fail(msg: str) -> int:
        print(f"gensr eval: {msg}", file=sys.stderr)  # noqa: T201
        return 2

    if args.scale < 1:
        return fail(f"--scale must be a positive integer, got {args.scale}")
    if args.crop_border is not None and args.crop_border < 0:
        return fail("--crop-border must be >= 0")
    if not args.data.is_dir():
        return fail(f"{args.data}: no such folder")
    if args.lr_dir is not None and not args.lr_dir.is_dir():
        return fail(f"{args.lr_dir}: no such folder")
    hr_paths = list_images([args.data])
    if not hr_paths:
        return fail(f"{args.data}: no images found")
    specs = list(dict.fromkeys(args.model or [DEFAULT_MODEL]))
    if "bicubic" not in specs:
        specs.insert(0, "bicubic")  # every quality table shows bicubic beside the model
    from gensr.infer import resolve_device

    try:
        device = resolve_device(args.device)
    except ValueError as e:
        return fail(str(e))

    methods = []
    for spec in specs:
        try:
            if spec in ev.INTERPOLATIONS:
                methods.append(ev.interpolation_method(spec, args.scale))
            else:
                methods.append(ev.model_method(spec, args.scale, device=device, tile=args.tile))
        except (ModelFileError, ValueError) as e:
            return fail(str(e))
    lpips = None
    if not args.no_lpips:
        from gensr.metrics.lpips import LPIPS

        try:
            lpips = LPIPS("alex").to(device)
        except BackboneError as e:
            return fail(f"LPIPS weights unavailable: {e} (or pass --no-lpips)")

    def progress(paths: Any) -> Any:
        return tqdm(paths, desc="eval", unit="img", file=sys.stderr, disable=None)

    with torch.inference_mode():
        result = ev.evaluate(
            hr_paths,
            methods,
            scale=args.scale,
            degradation=args.degradation,
            seed=args.seed,
            lr_dir=args.lr_dir,
            crop=args.crop_border,
            lpips=lpips,
            save_images=args.save_images,
            progress=progress,
        )

    n_ok = len(hr_paths) - len(result.failures)
    print(  # noqa: T201
        f"x{args.scale}, LR: {result.degradation}, {n_ok} image(s) from {args.data}, "
        f"PSNR/SSIM on Y with crop {result.crop}, LPIPS alex{' (skipped)' if lpips is None else ''}"
    )
    if args.verbose:
        for m in methods:
            rows = list(result.scores[m.name].items())
            print(f"\n[{m.name}]\n" + _table(rows, "image"))  # noqa: T201
        print("\n[mean]")  # noqa: T201
    print(_table([(m.name, result.mean(m.name)) for m in methods]))  # noqa: T201
    if args.save_images is not None and n_ok:
        print(f"comparison grids: {args.save_images}")  # noqa: T201
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"data": str(args.data), "seed": args.seed, **result.to_json()}
        args.json.write_text(json.dumps(_jsonable(payload), indent=2) + "\n")
    for path, why in result.failures:
        print(f"gensr eval: {shown(path)}: {why}", file=sys.stderr)  # noqa: T201
    return 1 if result.failures else 0
