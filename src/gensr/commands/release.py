"""``gensr release``: turn a training run into a model file ``gensr upscale --model`` takes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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


def release(
    run_dir: Path, output: Path, *, checkpoint: Path | None = None, fp16: bool = False, ema: bool = True
) -> dict[str, Any]:
    """Write the generator of a run's checkpoint as a model file; returns the stored ``info``.

    Raises:
        gensr.train.checkpoint.CheckpointError: no (readable) checkpoint.
    """
    import torch

    from gensr import __version__
    from gensr.archs import build_generator
    from gensr.config import from_dict
    from gensr.models import save_model
    from gensr.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint

    path = checkpoint or latest_checkpoint(run_dir)
    if path is None:
        raise CheckpointError(f"{run_dir}: no checkpoint (is it a gensr train run folder?)")
    state = load_checkpoint(path)
    cfg = from_dict(state["config"])
    net = build_generator(cfg.model.arch, {**cfg.model.hparams, "scale": cfg.scale})
    use_ema = ema and state.get("ema") is not None
    net.load_state_dict(state["ema"] if use_ema else state["g"])
    info = {
        "source": "gensr train",
        "gensr_version": __version__,
        "recipe": cfg.recipe,
        "iteration": state["iteration"],
        "weights": "ema" if use_ema else "g",
        "data": {
            "train": list(cfg.data.train),
            "val": cfg.data.val,
            "patch": cfg.data.patch,
            "degradation": cfg.degradation.kind,
        },
        "metrics": {k.removeprefix("val/"): v for k, v in state.get("val", {}).items()},
        "config": state["config"],
    }
    save_model(output, net, info=info, dtype=torch.float16 if fp16 else torch.float32)
    return info


def run(args: argparse.Namespace) -> int:
    from gensr.config import ConfigError
    from gensr.train.checkpoint import CheckpointError

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
