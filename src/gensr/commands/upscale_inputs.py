"""The inputs of ``gensr upscale``: INPUT arguments numbered into jobs, and each process's share of them.

An INPUT is a file, a folder (its images, recursively), a glob pattern, or ``@FILE``, a list file with
one path a line (blank lines and ``#`` comments skipped) for millions of inputs without shell globs.
Under ``torchrun ... -m gensr upscale`` every process lists the same inputs in the same order and takes
those whose number is its rank modulo the world size (:func:`plan_jobs`); the processes meet only at
the end, to add up their counts (:func:`sum_over_processes`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gensr.commands import upscale_video
from gensr.messages import shown

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Job:
    src: Path
    subdir: Path  # relative folder under OUT (for folder, glob and list-file inputs)
    in_folder: bool = False  # found in a folder INPUT (a GIF there is an image: upscale_video.as_video)


def plan_jobs(
    inputs: list[str], rank: int, world: int, say: Callable[[str], None]
) -> tuple[list[Job], int, int]:
    """``(this process's jobs, inputs that failed to list, number of inputs in all)``.

    Inputs are numbered in order (each folder and glob sorted, list files line by line) and
    process ``rank`` of ``world`` takes those whose number is ``rank`` modulo ``world``; every
    process lists the same inputs, so the shares are disjoint and cover them all. A list file's
    lines are not checked here (each process reads only its own share). Listing failures are
    reported with ``say`` (and counted) by process 0 only.
    """
    jobs: list[Job] = []
    failed = n = 0

    def listing_failed(msg: str) -> int:
        if rank == 0:
            say(f"gensr: {shown(msg)}")  # names may hold newlines or escape sequences
        return 1 if rank == 0 else 0

    for inp in inputs:
        if inp.startswith("@"):
            try:
                with open(inp[1:], encoding="utf-8") as f:
                    for line in f:
                        entry = line.strip()
                        if entry and not entry.startswith("#"):
                            if n % world == rank:
                                jobs.append(_list_entry(entry))
                            n += 1
            except (OSError, UnicodeDecodeError) as e:
                failed += listing_failed(f"{inp[1:]}: list file: {getattr(e, 'strerror', None) or e}")
                n += 1
            continue
        try:
            found = upscale_video.list_inputs(inp, say if rank == 0 else lambda _msg: None)
        except OSError as e:
            failed += listing_failed(f"{inp}: {e.strerror or e}")
            n += 1
            continue
        if not found:
            failed += listing_failed(f"{inp}: no image files found")
            n += 1
        base = _base_folder(inp)
        in_folder = Path(inp).is_dir()
        for f in found:
            if n % world == rank:
                sub = f.parent.relative_to(base) if base is not None and f.is_relative_to(base) else Path()
                jobs.append(Job(f, sub, in_folder))
            n += 1
    return jobs, failed, n


def _list_entry(entry: str) -> Job:
    """A list file's line: a relative path keeps its folders under OUT (names repeat across folders)."""
    p = Path(entry)
    keep = not p.is_absolute() and ".." not in p.parts
    return Job(p, p.parent if keep else Path())


def _base_folder(inp: str) -> Path | None:
    """The folder whose subfolders are kept in the output: the input folder, or a glob's fixed prefix."""
    p = Path(inp)
    if p.is_dir():
        return p
    if p.exists() or not glob.has_magic(inp):
        return None
    fixed: list[str] = []
    for part in p.parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path()


def torchrun_place() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` under torchrun, ``(0, 1, 0)`` otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, 0
    from gensr.train.distributed import dist_env

    env = dist_env()
    return env.rank, env.world, env.local_rank


def sum_over_processes(counts: dict[str, int], device: torch.device) -> dict[str, int]:
    """Sum the counts of every process once all are done.

    The process group (gloo: a few numbers on the CPU) is joined only now, with a long timeout (a slow
    shard may take days), so no process exits early and none is stopped by torchrun while others work.
    """
    from datetime import timedelta

    from gensr.train.distributed import all_sum, close_distributed, dist_env, init_distributed

    init_distributed(dist_env(), device, backend="gloo", timeout=timedelta(days=30))
    try:
        return all_sum(counts)
    finally:
        close_distributed()
