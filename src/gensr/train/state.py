"""What a training run carries from one iteration to the next, and how a run starts: fresh or resumed.

:func:`start_run` builds a :class:`TrainState` (networks, optimizers, data, the degradation
generator, the run folder); a resumed run restores it from the newest checkpoint, after which the
run continues exactly as if it had never stopped. :func:`update_guards` counts the streaks the
loop watches (skipped non-finite steps, a collapsed discriminator).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gensr.data.photos import HRCropDataset
from gensr.degrade import DegradationConfig
from gensr.imageio import atomic_write
from gensr.train.checkpoint import latest_checkpoint, load_checkpoint, rng_state, set_rng_state
from gensr.train.config import ConfigError, TrainConfig, dump_config
from gensr.train.distill import CachedCrops, Teacher, load_teacher
from gensr.train.distill_pairs import CachedPairs
from gensr.train.distributed import DistEnv
from gensr.train.losses import PerceptualLoss
from gensr.train.runlog import RunLog, truncate_log
from gensr.train.setup import (
    Networks,
    build_networks,
    build_perceptual,
    build_val_set,
    distill_dataset,
    pair_dataset,
    train_dataset,
)
from gensr.train.strict import to_plain
from gensr.train.validate import ValSet


@dataclass(frozen=True)
class Guards:
    """Streaks the loop watches; a checkpoint stores them."""

    nonfinite: int = 0
    """Steps in a row whose loss or gradient was not finite (each was skipped)."""
    collapse: int = 0
    """Iterations in a row with the discriminator's loss below 1e-3."""


def update_guards(guards: Guards, stats: Mapping[str, float]) -> Guards:
    """The streaks after one iteration with losses ``stats`` (from the train steps)."""
    skipped = stats.get("g/skipped", 0.0) + stats.get("d/skipped", 0.0)
    d_total = stats.get("d/real", 1.0) + stats.get("d/fake", 1.0)
    return Guards(
        nonfinite=guards.nonfinite + 1 if skipped else 0,
        collapse=guards.collapse + 1 if d_total < 1e-3 else 0,
    )


@dataclass
class TrainState:
    """Everything :func:`gensr.train.fit` works on; a checkpoint holds what cannot be rebuilt."""

    cfg: TrainConfig
    """The resolved config (``model`` filled in from a pretrained file when it was empty)."""
    run_dir: Path
    env: DistEnv
    device: torch.device
    nets: Networks
    perceptual: PerceptualLoss | None
    degradation: DegradationConfig
    deg_gen: torch.Generator
    """CPU generator of every random degradation choice (of the global batch)."""
    dataset: HRCropDataset | CachedCrops | CachedPairs
    """HR crops, or cached ``(hr, teacher output)`` pairs when distilling with a cache."""
    teacher: Teacher | None = None
    """The distillation teacher (``distill.teacher``), or None."""
    iteration: int = 0
    """Completed iterations (both stages)."""
    guards: Guards = field(default_factory=Guards)
    metrics: dict[str, float] = field(default_factory=dict)
    """The last validation metrics."""
    log: RunLog | None = None
    """The run log (rank 0 only)."""
    val: ValSet | None = None
    lpips: nn.Module | None = None

    @property
    def total(self) -> int:
        """Iterations of the whole run: ``pretrain.iters + train.iters``."""
        return self.cfg.pretrain.iters + self.cfg.train.iters

    @property
    def rows(self) -> tuple[int, int]:
        """This process's rows ``[start, stop)`` of the global batch."""
        per_rank = self.cfg.data.batch // self.env.world
        return self.env.rank * per_rank, (self.env.rank + 1) * per_rank

    def checkpoint_state(self) -> dict[str, Any]:
        """What :func:`gensr.train.checkpoint.save_checkpoint` stores for this iteration."""
        return {
            "format": 1,
            "iteration": self.iteration,
            "config": to_plain(self.cfg),
            **self.nets.state_dict(),
            "rng": rng_state({"degradation": self.deg_gen}),
            "data": {"batches": self.iteration, "batch": self.cfg.data.batch, "seed": self.cfg.train.seed},
            "guards": asdict(self.guards),
            "val": self.metrics,
        }


def start_run(
    cfg: TrainConfig, run_dir: Path, resume: bool, env: DistEnv, device: torch.device, stack: ExitStack
) -> TrainState:
    """Build the run's state (from the seed, or from the newest checkpoint) and, on rank 0, its folder.

    The run log is entered into ``stack`` so that it closes when the run ends.
    """
    if cfg.data.batch % env.world:
        raise ConfigError(f"data.batch: {cfg.data.batch} is not divisible by the {env.world} processes")
    torch.manual_seed(cfg.train.seed)
    cfg, nets = build_networks(cfg, device, load_weights=not resume)
    deg = getattr(cfg.degradation, cfg.degradation.kind)
    teacher, dataset = None, None
    try:
        if cfg.distill.teacher and cfg.distill.mix:  # every target cached: the teachers only build the cache
            dataset = pair_dataset(cfg, _mix_teachers(cfg, device), env)
        elif cfg.distill.teacher:
            teacher = load_teacher(cfg.distill, cfg.scale, device)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if dataset is None:
        dataset = (
            distill_dataset(cfg, teacher, env)
            if teacher is not None and cfg.distill.cache
            else train_dataset(cfg)
        )
    state = TrainState(
        cfg=cfg,
        run_dir=run_dir,
        env=env,
        device=device,
        nets=nets,
        perceptual=build_perceptual(cfg, device),
        degradation=deg,
        deg_gen=torch.Generator().manual_seed(cfg.train.seed),
        dataset=dataset,  # type: ignore[arg-type]
        teacher=teacher,
    )
    if cfg.train.precision == "bf16":  # oneDNN's bf16 convolutions (AMX, AVX-512) are fast in NHWC only
        for net in (nets.g, nets.ema, nets.d, state.perceptual):
            if net is not None:
                net.to(memory_format=torch.channels_last)
    if resume:
        _restore(state)
    if env.main:
        _open_run_dir(state, resume, stack)
    return state


def _restore(state: TrainState) -> None:
    """Load the newest checkpoint of ``state.run_dir`` into ``state``."""
    path = latest_checkpoint(state.run_dir)
    if path is None:
        raise ConfigError(f"--resume: {state.run_dir} has no checkpoint")
    saved = load_checkpoint(path)
    if saved["data"]["batch"] != state.cfg.data.batch or saved["data"]["seed"] != state.cfg.train.seed:
        raise ConfigError("data.batch / train.seed: differ from the checkpoint's, so would the data order")
    try:
        state.nets.load_state_dict(saved)
    except (RuntimeError, KeyError, ValueError) as e:
        raise ConfigError(f"--resume: {path} does not fit this config's networks: {e}") from None
    set_rng_state(saved["rng"], {"degradation": state.deg_gen})
    state.iteration, state.guards = saved["iteration"], Guards(**saved["guards"])
    state.metrics = dict(saved["val"])


def _open_run_dir(state: TrainState, resume: bool, stack: ExitStack) -> None:
    """Write ``config.yaml``, start (or trim, on resume) ``log.jsonl``, load the validation set."""
    run_dir = state.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / "config.yaml", dump_config(state.cfg))
    if resume:
        truncate_log(run_dir / "log.jsonl", state.iteration)  # steps after the checkpoint are redone
    else:
        (run_dir / "log.jsonl").unlink(missing_ok=True)
    state.log = stack.enter_context(RunLog(run_dir, tensorboard=state.cfg.train.tensorboard))
    state.log.write(
        {
            "iter": state.iteration,
            "event": "resume" if resume else "start",
            "device": str(state.device),
            "processes": state.env.world,
            "train_images": len(state.dataset.files),
        }
    )
    state.val, state.lpips = build_val_set(state.cfg, state.degradation, state.device)


def _mix_teachers(cfg: TrainConfig, device: torch.device) -> dict[str, Teacher]:
    """The teacher of each kind in ``distill.mix`` (each file loaded once)."""
    dc, loaded = cfg.distill, {}
    out = {}
    for track in dc.mix:
        name = dc.teachers.get(track, dc.teacher)
        if name not in loaded:
            loaded[name] = load_teacher(replace(dc, teacher=name), cfg.scale, device)
        out[track] = loaded[name]
    return out
