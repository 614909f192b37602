"""``gensr train``: train a generator (and discriminator) from a YAML config; resumable, distributed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "train"
HELP = "Train a super-resolution GAN (or a pixel-loss generator) from a YAML config."
EXAMPLE = (
    "Examples:\n"
    "  gensr train --config configs/realesrgan-compact.yaml\n"
    "  gensr train --config configs/esrgan.yaml --set data.train=[DIV2K/HR] --set train.iters=100000\n"
    "  gensr train --resume runs/esrgan                      # after Ctrl-C, SIGTERM or a crash\n"
    "  torchrun --nproc_per_node=4 -m gensr train --config configs/esrgan.yaml   # 4 GPUs, DDP\n"
    "  torchrun --nnodes=2 --node_rank=0 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\\n"
    "      --nproc_per_node=8 -m gensr train --config configs/esrgan.yaml          # 2 nodes (run on each)\n"
    "data.batch is the global batch: each of N processes gets data.batch / N.\n"
    "Writes RUN_DIR/config.yaml, log.jsonl, checkpoints/, samples/; default RUN_DIR: runs/<config name>.\n"
    "Then: gensr plot RUN_DIR -o curves.png; gensr release RUN_DIR -o model.safetensors"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="training config (YAML), e.g. configs/esrgan.yaml"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a config value, e.g. --set train.iters=500 --set optim.lr_g=2e-4 (repeatable)",
    )
    parser.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint"
    )
    parser.add_argument(
        "--run-dir", type=Path, metavar="DIR", help="where the run writes (default: runs/<config name>)"
    )


def run(args: argparse.Namespace) -> int:
    from gensr.messages import shown
    from gensr.train import TrainingError, fit
    from gensr.train.checkpoint import CheckpointError, latest_checkpoint
    from gensr.train.config import ConfigError, load_config

    def fail(msg: str, code: int) -> int:
        print(f"gensr train: {msg}", file=sys.stderr)  # noqa: T201
        return code

    if args.resume is not None:
        if args.config is not None or args.run_dir is not None:
            return fail("--resume RUN_DIR takes the run's own config.yaml; drop --config/--run-dir", 2)
        run_dir = args.resume
        if not (run_dir / "config.yaml").is_file():
            return fail(f"--resume: {run_dir} is not a run folder (no config.yaml)", 2)
        config_path = run_dir / "config.yaml"
    else:
        if args.config is None:
            return fail("give --config FILE (or --resume RUN_DIR)", 2)
        config_path = args.config
        run_dir = args.run_dir or Path("runs") / args.config.stem
        if latest_checkpoint(run_dir) is not None:
            return fail(
                f"{run_dir} already holds a run; continue it with --resume {run_dir} or pick --run-dir", 2
            )
    try:
        cfg = load_config(config_path, args.overrides)
    except ConfigError as e:
        named = str(e).startswith(str(config_path))
        return fail(str(e) if named else f"{shown(config_path)}: {e}", 2)
    try:
        result = fit(cfg, run_dir, resume=args.resume is not None)
    except (ConfigError, CheckpointError) as e:
        return fail(str(e), 2)
    except TrainingError as e:
        return fail(str(e), 1)
    from gensr.train.distributed import dist_env

    if not dist_env().main:  # under torchrun only rank 0 reports
        return 130 if result.interrupted else 0
    if result.interrupted:
        print(f"stopped at iteration {result.iteration}; checkpoint {result.checkpoint}", file=sys.stderr)  # noqa: T201
        print(f"continue with: gensr train --resume {run_dir}", file=sys.stderr)  # noqa: T201
        return 130
    from gensr.train.validate import TRACK_LABELS

    per_track = tuple(f"val/{label}_" for label in TRACK_LABELS.values())  # the means are shown, not these
    summary = ", ".join(
        f"{k.removeprefix('val/')} {v:.4g}" for k, v in result.metrics.items() if not k.startswith(per_track)
    )
    print(f"done: {result.iteration} iterations in {run_dir}" + (f"; {summary}" if summary else ""))  # noqa: T201
    print(f"next: gensr release {run_dir} -o model.safetensors", file=sys.stderr)  # noqa: T201
    return 0
