"""``gensr release``: turn a training run into a model file ``gensr upscale --model`` takes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "release"
HELP = "Write a run's (EMA) generator as a gensr model file with its recipe, data and validation metrics."
EXAMPLE = (
    "Examples:\n"
    "  gensr release runs/realesrgan-compact -o my-x4.safetensors --fp16\n"
    "  gensr upscale photo.jpg -o out/ --model my-x4.safetensors"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a gensr train run folder")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="MODEL.safetensors", help="model file to write"
    )
    parser.add_argument("--fp16", action="store_true", help="store weights as float16 (half the size)")
    parser.add_argument(
        "--checkpoint", type=Path, metavar="FILE", help="a specific checkpoint (default: the newest)"
    )
    parser.add_argument(
        "--no-ema", action="store_true", help="release the trained G itself instead of its EMA"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    from gensr.train.checkpoint import CheckpointError
    from gensr.train.config import ConfigError
    from gensr.train.release import release

    if args.output.exists() and not args.overwrite:
        print(f"gensr release: {args.output} exists (use --overwrite)", file=sys.stderr)  # noqa: T201
        return 2
    try:
        info = release(
            args.run_dir, args.output, checkpoint=args.checkpoint, fp16=args.fp16, ema=not args.no_ema
        )
    except (CheckpointError, ConfigError) as e:
        print(f"gensr release: {e}", file=sys.stderr)  # noqa: T201
        return 2
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in info["metrics"].items() if not k.startswith("bicubic"))
    msg = f"{args.output}: {info['weights']} generator at iteration {info['iteration']}"
    print(msg + (f"; {metrics}" if metrics else ""))  # noqa: T201
    return 0
