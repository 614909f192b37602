"""Training checkpoints: written atomically, read without running pickled code, last K kept.

A checkpoint is one file ``RUN_DIR/checkpoints/ckpt_<iteration>.pt`` holding a dict of tensors,
numbers, strings, lists and dicts only (so :func:`torch.load` with ``weights_only=True`` reads it):
the resolved config, iteration, data position, every state dict (G, EMA, D, optimizers) and
every random-number state (see :func:`rng_state`). It is first written to a temporary file in
the same folder, flushed to disk, then renamed over the final name: a crash never leaves a
half-written checkpoint under a checkpoint's name.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gensr.imageio import atomic_write

__all__ = [
    "CheckpointError",
    "checkpoint_dir",
    "list_checkpoints",
    "latest_checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "rng_state",
    "set_rng_state",
]

_NAME = re.compile(r"^ckpt_(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A run has no checkpoint, or a checkpoint cannot be read."""


def checkpoint_dir(run_dir: str | Path) -> Path:
    """``RUN_DIR/checkpoints``."""
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of every checkpoint of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint with the highest iteration, or ``None``."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def save_checkpoint(run_dir: str | Path, iteration: int, state: dict[str, Any], keep_last: int) -> Path:
    """Write ``state`` as the checkpoint of ``iteration`` atomically, then keep only the newest ``keep_last``.

    Args:
        run_dir: the run folder.
        iteration: completed iterations (names the file).
        state: plain data and tensors (anything ``torch.load(weights_only=True)`` accepts).
        keep_last: how many checkpoints to keep (>= 1).

    Returns:
        The written path.
    """
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ckpt_{iteration:08d}.pt"
    atomic_write(path, lambda f: torch.save(state, f))
    for _, old in list_checkpoints(run_dir)[: -max(keep_last, 1)]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint on the CPU with the restricted (tensors and plain data) unpickler."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as e:  # torch's messages run to several lines; the first says what
        from gensr.messages import reason

        raise CheckpointError(f"{path}: unreadable checkpoint ({reason(e)})") from None
    if not isinstance(state, dict) or "iteration" not in state:
        raise CheckpointError(f"{path}: not a gensr training checkpoint")
    return state


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Every random state a run depends on: torch (CPU and CUDA), Python, NumPy and ``generators``."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": _plain(random.getstate()),
        "numpy": [np_state[0], torch.from_numpy(np.asarray(np_state[1]).copy()), *map(_plain, np_state[2:])],
        "generators": {k: g.get_state() for k, g in generators.items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    """Restore what :func:`rng_state` captured (``generators`` are set in place)."""
    torch.set_rng_state(state["torch"])
    random.setstate(_tuples(state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    for k, g in generators.items():
        g.set_state(state["generators"][k])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _plain(x: Any) -> Any:
    """Tuples -> lists (recursively); numpy scalars -> Python numbers."""
    if isinstance(x, (tuple, list)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def _tuples(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_tuples(v) for v in x)
    return x
