"""``gensr export``: a gensr model -> ONNX, or the ncnn ``.param``/``.bin`` pair that Upscayl loads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gensr import interrupts

NAME = "export"
HELP = (
    "Export a gensr model to ONNX (dynamic size) or to ncnn (.param + .bin, as Real-ESRGAN's released files)."
)
EXAMPLE = """examples:
  gensr export gensr-compact-x4 -o gensr-compact-x4.onnx
  gensr export gensr-compact-x4 -o models/gensr-compact-x4.param      (writes .param and .bin)
  gensr export my_model.safetensors -o my_model.param --format ncnn --fp32

ONNX: input 'data' float32 (1, 3, H, W) RGB in [0, 1], output 'output' (1, 3, H*s, W*s); H and W
are dynamic; needs pip install 'gensr[export]'. ncnn: blob 'data' in, 'output' out, RGB in [0, 1]
(the runtimes scale pixels by 1/255 and back), fp16 weights unless --fp32; put the pair in
Upscayl's custom models folder, or pass it to realesrgan-ncnn-vulkan with -m DIR -n NAME.
Exit code 0: written; 1: the model cannot be exported (reason on stderr); 2: usage."""

FORMATS = {".onnx": "onnx", ".param": "ncnn", ".bin": "ncnn"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="built-in model name or gensr .safetensors file")
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="the .onnx, or the ncnn .param to write"
    )
    p.add_argument(
        "--format",
        choices=("onnx", "ncnn"),
        default=None,
        help="default: from the output suffix (.onnx, .param)",
    )
    p.add_argument(
        "--fp32", action="store_true", help="ncnn: store weights as fp32 (default fp16, as released)"
    )
    p.add_argument("--opset", type=int, default=None, metavar="N", help="ONNX opset (default: gensr's, 18)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _fail(msg: str, code: int) -> int:
    print(f"gensr export: {msg}", file=sys.stderr)  # noqa: T201
    return code


def run(args: argparse.Namespace) -> int:
    from gensr.models import load_model, resolve_model

    out = Path(args.output)
    fmt = args.format or FORMATS.get(out.suffix.lower())
    if fmt is None:
        return _fail(f"{out}: cannot tell the format from the suffix; give --format onnx or --format ncnn", 2)
    if fmt == "ncnn" and args.opset is not None or fmt == "onnx" and args.fp32:
        return _fail("--opset is for --format onnx, --fp32 for --format ncnn", 2)
    if fmt == "ncnn":
        stem = out.with_suffix("") if out.suffix.lower() in (".param", ".bin") else out
        targets = [stem.with_name(stem.name + ".param"), stem.with_name(stem.name + ".bin")]
    else:
        targets = [out]
    try:
        path = resolve_model(args.model)
        net, info = load_model(path)
    except (ValueError, OSError) as e:
        return _fail(f"model: {e}", 2)
    for t in targets:
        if (t.exists() or t.is_symlink()) and not args.overwrite:
            return _fail(f"{t}: already exists (use --overwrite to replace it)", 1)

    if fmt == "onnx":
        from gensr.models.onnx_export import OPSET, ExportDependencyError, export_onnx

        try:
            done = export_onnx(net, targets[0], opset=args.opset or OPSET)
        except ExportDependencyError as e:
            return _fail(str(e), 2)
        except Exception as e:  # noqa: BLE001 - torch.export/onnx raise many types; one line, exit 1
            interrupts.check()
            return _fail(f"{targets[0]}: ONNX export of {path.name} failed: {str(e).splitlines()[0]}", 1)
        size = targets[0].stat().st_size / 1e6
        print(  # noqa: T201
            f"{targets[0]}: ONNX opset {done.opset}, {info.arch} x{done.scale}, {size:.1f} MB; "
            f"input 'data' (1, 3, H, W) float32 RGB [0, 1], H and W dynamic"
            + (f" (multiples of {done.size_multiple})" if done.size_multiple > 1 else "")
            + f", output 'output' (1, 3, {done.scale}H, {done.scale}W)"
        )
        return 0

    from gensr.models.ncnn_export import export_ncnn

    try:
        done = export_ncnn(net, targets[0], targets[1], fp16=not args.fp32)
    except ValueError as e:
        msg = str(e) if str(targets[0]) in str(e) else f"{targets[0]}: {e}"
        return _fail(f"{msg} ({path.name})", 1)
    size = targets[1].stat().st_size / 1e6
    print(  # noqa: T201
        f"{targets[0]} + {targets[1].name}: ncnn, {info.arch} x{info.scale}, {done.layers} layers, "
        f"{'fp16' if done.fp16 else 'fp32'} weights {size:.1f} MB; blob 'data' in (RGB [0, 1]), 'output' out"
    )
    return 0
