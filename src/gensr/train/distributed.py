"""Multi-process glue: read torchrun's environment, start/stop the process group, reduce numbers.

Used by training (below) and by ``torchrun ... -m gensr upscale``, which shards its inputs over the
processes and only sums their counts at the end (:func:`all_sum`).

``torchrun --nproc_per_node=N -m gensr.train --config FILE`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; with ``WORLD_SIZE > 1`` gensr joins the
process group (NCCL on CUDA, gloo on the CPU) and wraps G and D in DistributedDataParallel.
Multi-node runs use torchrun's own flags (``--nnodes``, ``--node_rank``, ``--rdzv_endpoint``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["DistEnv", "dist_env", "init_distributed", "close_distributed", "all_mean", "all_sum", "any_rank"]


@dataclass(frozen=True)
class DistEnv:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that logs, validates and writes checkpoints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def dist_env() -> DistEnv:
    """Read torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` (defaults: one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    return DistEnv(
        rank=int(os.environ.get("RANK", "0")),
        world=world,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def init_distributed(
    env: DistEnv, device: torch.device, *, backend: str | None = None, timeout: timedelta | None = None
) -> None:
    """Join the process group (``env://``): NCCL for CUDA devices, gloo otherwise.

    Args:
        env: this process's place; nothing happens for a single process.
        device: this process's device (made the current CUDA device).
        backend: force one (``gloo`` for a few numbers on the CPU whatever the device).
        timeout: how long joining and each collective may wait for the slowest process
            (PyTorch's default: 30 minutes).
    """
    if not env.active or dist.is_initialized():
        return
    backend = backend or ("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend=backend, init_method="env://", rank=env.rank, world_size=env.world, timeout=timeout
    )


def close_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Mean of each value over all processes (identity in a single process). Collective."""
    if not _active() or not values:
        return values
    keys = list(values)  # the same order on every process: the same code made the dict
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist(), strict=True))


def all_sum(values: dict[str, int]) -> dict[str, int]:
    """Sum of each count over all processes (identity in a single process). Collective, on the CPU (gloo)."""
    if not _active() or not values:
        return values
    keys = list(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.int64)
    dist.all_reduce(t)
    return dict(zip(keys, (int(v) for v in t.tolist()), strict=True))


def any_rank(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is true on any process (so all processes take the same branch). Collective."""
    if not _active():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if _active():
        dist.barrier()
