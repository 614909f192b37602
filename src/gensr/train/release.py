"""Release: the generator of a training run's checkpoint as a gensr model file (``gensr release``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gensr import __version__
from gensr.archs import build_generator
from gensr.models import save_model
from gensr.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from gensr.train.config import from_dict


def release(
    run_dir: Path, output: Path, *, checkpoint: Path | None = None, fp16: bool = False, ema: bool = True
) -> dict[str, Any]:
    """Write the generator of a run's checkpoint as a model file; returns the stored ``info``.

    Raises:
        gensr.train.checkpoint.CheckpointError: no (readable) checkpoint.
    """
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
