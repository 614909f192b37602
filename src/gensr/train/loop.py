"""Training: ``L = α·perceptual(VGG) + β·pixel + γ·adversarial``, in two stages, resumable, distributed.

The whole data flow of one iteration, as :func:`fit` runs it::

    hr     = next(loader)                                   # (b, 3, P, P) crops, b = batch / processes
    params = degrade.sample_params(deg, batch, generator)   # the global batch's random choices; keep ours
    lr     = degrade.apply(hr, params, deg)                 # (b, 3, P/s, P/s), on the device
    sr     = G(lr)                                          # (b, 3, P, P)
    train_step_g(sr, hr, ..., stage)  -> {"g/pixel", "g/percep", "g/adv", "g/total", ...}
    train_step_d(sr, hr, ...)  -> {"d/real", "d/fake", ...}   # stage 2 only

Stage 1 (``pretrain.iters`` iterations, its own learning rates) trains G on the pixel term alone
(β·pixel, the user's β); stage 2 (``train.iters``) adds the perceptual and adversarial terms,
starting with fresh Adam moments and EMA as a separate run from the stage-1 weights would. The
steps (:mod:`gensr.train.steps`) take tensors and return numbers; the loss weights are multiplied,
and the stage decides which terms count, in :func:`train_step_g`. What the loop carries is one
:class:`~gensr.train.state.TrainState` (:mod:`gensr.train.state` builds it, fresh or resumed).

Run it with ``gensr train --config FILE`` or, on several GPUs/processes,
``torchrun --nproc_per_node=N -m gensr train --config FILE`` (multi-node: torchrun's ``--nnodes``,
``--node_rank`` and ``--rdzv_endpoint``; the run folder must be on a filesystem all nodes share).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from gensr import degrade
from gensr.infer.devices import resolve_device
from gensr.train.checkpoint import latest_checkpoint, save_checkpoint
from gensr.train.config import ConfigError, TrainConfig
from gensr.train.distill import clean_lr, teacher_targets
from gensr.train.distributed import (
    DistEnv,
    all_mean,
    any_rank,
    barrier,
    close_distributed,
    dist_env,
    init_distributed,
)
from gensr.train.sampling import EpochItems, StreamBatchSampler, shard_params
from gensr.train.setup import StopFlag
from gensr.train.state import TrainState, start_run, update_guards
from gensr.train.steps import autocast, ema_decay, ema_update, learning_rate, train_step_d, train_step_g
from gensr.train.validate import validate


class TrainingError(RuntimeError):
    """Training stopped (e.g. repeated non-finite losses); the message says why and what to try."""


@dataclass(frozen=True)
class FitResult:
    """How :func:`fit` ended."""

    iteration: int
    interrupted: bool
    """Stopped by SIGINT/SIGTERM (a checkpoint was written; ``--resume`` continues)."""
    metrics: dict[str, float]
    """The last validation metrics."""
    checkpoint: Path | None


def fit(
    cfg: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    *,
    callback: Callable[[int], None] | None = None,
) -> FitResult:
    """Train as ``cfg`` says, writing ``config.yaml``, ``log.jsonl``, checkpoints and samples to ``run_dir``.

    Under torchrun (``WORLD_SIZE > 1``) every process calls this; they share the global batch
    ``data.batch``, and rank 0 writes the run folder.

    Args:
        cfg: the training config.
        run_dir: the run folder.
        resume: continue from the newest checkpoint in ``run_dir``: the same losses as if never stopped.
        callback: called with the iteration number after each iteration (tests, notebooks).

    Returns:
        How the run ended. SIGINT/SIGTERM end it early with a checkpoint (``interrupted=True``).

    Raises:
        TrainingError: ``train.max_nonfinite`` steps in a row had a non-finite loss or gradient.
        ConfigError: the config does not fit the data, the checkpoint or the pretrained model.
    """
    env = dist_env()
    try:
        device = resolve_device(cfg.train.device, local_rank=env.local_rank)
    except ValueError as e:
        raise ConfigError(f"train.device: {e}") from None
    owned = env.active and not torch.distributed.is_initialized()
    init_distributed(env, device)
    state: TrainState | None = None
    try:
        with ExitStack() as stack:  # the log, progress bar and signal handlers end with the run
            if device.type == "cuda":
                torch.backends.cudnn.benchmark = True
            state = start_run(cfg, Path(run_dir), resume, env, device, stack)
            return _run(state, stack, callback)
    finally:
        if owned:
            # DDP's reducers hold the process group: freed first, so destroying the group ends gloo's threads
            # now, not at interpreter exit (one CI run of tests/train/test_ddp.py on a loaded machine saw a
            # process abort after its run was done: "terminate called without an active exception")
            state = None
            gc.collect()
            close_distributed()


def _run(s: TrainState, stack: ExitStack, callback: Callable[[int], None] | None) -> FitResult:
    """The loop: one global batch per iteration; the data order is a function of (seed, iteration)."""
    cfg, total = s.cfg, s.total
    g_run, d_run = _distributed(s.nets.g, s.env, s.device), _distributed(s.nets.d, s.env, s.device)
    bar = stack.enter_context(
        tqdm(
            total=total,
            initial=s.iteration,
            disable=not s.env.main,
            desc="train",
            unit="it",
            dynamic_ncols=True,
        )
    )
    stop = stack.enter_context(StopFlag().installed())  # SIGINT/SIGTERM: finish the iteration, checkpoint
    start, last_ckpt, interrupted = s.iteration, None, False
    for item in _loader(s):
        # HR crops; cached (hr, teacher output); or cached pairs (hr, teacher output, the LR it came from)
        hr, t_sr, lr = (*item, None)[:3] if isinstance(item, list | tuple) else (item, None, None)
        stage, stats, rates = train_iteration(s, g_run, d_run, hr.to(s.device, non_blocking=True), t_sr, lr)
        s.iteration += 1
        it = s.iteration
        bar.update(1)
        s.guards = update_guards(s.guards, stats)
        losses = {k: v for k, v in stats.items() if not k.endswith("/skipped")}
        _enforce_guards(s, losses)
        if it % cfg.train.log_every == 0 or it == total:
            _log(s, stage, losses, rates, bar)
        if cfg.val.every and it % cfg.val.every == 0 and it < total:
            s.metrics = _validate(s)
        if it % cfg.train.ckpt_every == 0 and it < total and s.guards.nonfinite == 0:
            last_ckpt = _checkpoint(s)
        if callback is not None:
            callback(it)
        if any_rank(stop.signal is not None, s.device) or it == cfg.train.stop_after:
            interrupted = it < total  # every process stops at the same iteration, with a checkpoint
            break
    if interrupted or start < total <= s.iteration:
        if not interrupted:
            s.metrics = _validate(s)
        last_ckpt = _checkpoint(s)
        if s.log is not None:
            s.log.write({"iter": s.iteration, "event": "interrupted" if interrupted else "done"})
    barrier()
    return FitResult(s.iteration, interrupted, s.metrics, last_ckpt)


def train_iteration(
    s: TrainState,
    g_run: nn.Module,
    d_run: nn.Module | None,
    hr: torch.Tensor,
    t_sr: torch.Tensor | None = None,
    lr: torch.Tensor | None = None,
) -> tuple[int, dict[str, float], dict[str, float]]:
    """One global batch: degrade ``hr`` (b, 3, P, P), update G (and D in stage 2), then the EMA.

    ``g_run``/``d_run`` are G and D, or their DistributedDataParallel wrappers. When distilling,
    ``t_sr`` (b, 3, P, P) is the teacher's output for these crops (cached), or None to compute it here;
    ``lr`` (b, 3, P/s, P/s) is the input those targets were made from (cached pairs), or None to degrade
    ``hr`` here. Returns ``(stage, losses, learning rates)``; the losses are this process's.
    """
    cfg, it = s.cfg, s.iteration
    params = shard_params(degrade.sample_params(s.degradation, cfg.data.batch, s.deg_gen), *s.rows)
    target = degrade.usm_sharp(hr) if cfg.loss.sharpen_target else hr
    if lr is None:
        lr = degrade.apply(target, params, s.degradation)  # (b, 3, P/s, P/s)
    else:  # the generator still draws the parameters: the same random stream with or without pairs
        lr = lr.to(s.device, non_blocking=True)
    if s.teacher is not None and t_sr is None:  # the teacher sees the clean LR of the crop, or the student's
        t_sr = teacher_targets(s.teacher, clean_lr(hr, cfg.scale) if cfg.distill.privileged else lr)
    if t_sr is not None:
        t_sr = t_sr.to(s.device, non_blocking=True)
    if cfg.train.precision == "bf16":
        lr = lr.contiguous(memory_format=torch.channels_last)
    stage, lr_g, lr_d = _stage_rates(cfg, it)
    if it == cfg.pretrain.iters > 0:
        s.nets.start_stage2()
    _set_lr(s.nets.opt_g, lr_g)
    opts = {"grad_clip": cfg.train.grad_clip, "precision": cfg.train.precision}
    with autocast(s.device, cfg.train.precision):
        sr = g_run(lr)  # (b, 3, P, P)
    stats = train_step_g(
        sr,
        target,
        hr,
        s.nets.opt_g,
        cfg.loss,
        stage=stage,
        perceptual=s.perceptual,
        d=s.nets.d,
        t_sr=t_sr,
        distill=cfg.distill,
        period=cfg.scale,
        **opts,
    )
    rates = {"lr": lr_g}
    if stage == 2 and d_run is not None and s.nets.opt_d is not None:
        _set_lr(s.nets.opt_d, lr_d)
        stats |= train_step_d(sr, hr, d_run, s.nets.opt_d, cfg.loss.adversarial, **opts)
        rates["lr_d"] = lr_d
    if s.nets.ema is not None:
        k = it - (cfg.pretrain.iters if stage == 2 else 0)  # the EMA restarts with stage 2
        ema_update(s.nets.ema, s.nets.g, ema_decay(cfg.train.ema_decay, k))
    return stage, stats, rates


def _stage_rates(cfg: TrainConfig, it: int) -> tuple[int, float, float]:
    """``(stage, lr of G, lr of D)`` at (0-based) iteration ``it``; each stage has its own schedule."""
    n_pre, o = cfg.pretrain.iters, cfg.optim
    if it < n_pre:
        return 1, learning_rate(cfg.pretrain, cfg.pretrain.lr, it, n_pre), 0.0
    k = it - n_pre
    return 2, learning_rate(o, o.lr_g, k, cfg.train.iters), learning_rate(o, o.lr_d, k, cfg.train.iters)


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def _distributed(net: nn.Module | None, env: DistEnv, device: torch.device) -> nn.Module | None:
    """``net`` wrapped in DistributedDataParallel under torchrun (as is otherwise)."""
    if net is None or not env.active:
        return net
    return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


def _loader(s: TrainState) -> DataLoader:
    """This process's share of the global batches from ``s.iteration`` to the end of the run."""
    t, env = s.cfg.train, s.env
    sampler = StreamBatchSampler(
        len(s.dataset), t.seed, s.cfg.data.batch, s.iteration, s.total, env.rank, env.world
    )
    return DataLoader(
        EpochItems(s.dataset),
        batch_sampler=sampler,
        num_workers=s.cfg.data.workers,
        pin_memory=s.device.type == "cuda",
        generator=torch.Generator(),
    )


def _enforce_guards(s: TrainState, losses: dict[str, float]) -> None:
    """Log a skipped step; stop after ``train.max_nonfinite`` in a row; warn once per D collapse."""
    t, it, guards = s.cfg.train, s.iteration, s.guards
    if guards.nonfinite and s.log is not None:
        s.log.write({"iter": it, "event": "nonfinite", **{k: str(v) for k, v in losses.items()}})
    if guards.nonfinite >= t.max_nonfinite:
        raise TrainingError(
            f"stopped at iteration {it}: {guards.nonfinite} steps in a row had a non-finite loss or "
            f"gradient and were skipped. The last good checkpoint is {latest_checkpoint(s.run_dir)}. "
            "Try a lower learning rate, train.grad_clip, or train.precision=fp32."
        )
    if guards.collapse == t.collapse_iters and s.log is not None:
        msg = (
            f"warning: the discriminator loss has stayed below 1e-3 for {t.collapse_iters} iterations: "
            "D wins outright and G learns nothing from it. Consider a lower optim.lr_d or "
            "loss.adversarial_weight."
        )
        s.log.write({"iter": it, "event": "warning", "message": msg})
        tqdm.write(msg, file=sys.stderr)


def _log(s: TrainState, stage: int, losses: dict[str, float], rates: dict[str, float], bar: tqdm) -> None:  # type: ignore[type-arg]
    """The mean losses over processes (a collective: every rank calls it) to the log and the bar."""
    record = {"iter": s.iteration, "stage": stage, **all_mean(losses, s.device), **rates}
    if s.log is not None:
        s.log.write(record)
    shown = {k: f"{record[k]:.4g}" for k in ("g/total", "d/real", "d/fake") if k in record}
    bar.set_postfix(shown, refresh=False)


def _validate(s: TrainState) -> dict[str, float]:
    """Validation metrics of the EMA generator (or G), logged; rank 0 only, others keep theirs."""
    if s.val is None or s.log is None:
        return s.metrics
    out = validate(
        s.nets.ema if s.nets.ema is not None else s.nets.g,
        s.val,
        device=s.device,
        lpips=s.lpips,
        save_dir=s.run_dir / "samples",
        save_images=s.cfg.val.save_images,
        tag=f"iter_{s.iteration:08d}",
    )
    s.log.write({"iter": s.iteration, **out})
    return out


def _checkpoint(s: TrainState) -> Path | None:
    """Save the state (rank 0); returns the file."""
    if not s.env.main:
        return None
    return save_checkpoint(s.run_dir, s.iteration, s.checkpoint_state(), s.cfg.train.keep_last)
