"""Training: ``L = α·perceptual(VGG) + β·pixel + γ·adversarial``, in two stages, resumable, distributed.

The whole data flow of one iteration, as :func:`fit` runs it::

    hr     = next(loader)                                   # (b, 3, P, P) crops, b = batch / processes
    params = degrade.sample_params(deg, batch, generator)   # the global batch's random choices; keep ours
    lr     = degrade.apply(hr, params, deg)                 # (b, 3, P/s, P/s), on the device
    sr     = G(lr)                                          # (b, 3, P, P)
    train_step_g(sr, hr, ...)  -> {"g/pixel", "g/percep", "g/adv", "g/total", ...}
    train_step_d(sr, hr, ...)  -> {"d/real", "d/fake", ...}   # stage 2 only

Stage 1 (``pretrain.iters`` iterations, its own learning rates) trains G on the pixel loss alone;
stage 2 (``train.iters``) adds the perceptual and adversarial terms, starting with fresh Adam
moments and EMA as a separate run from the stage-1 weights would. The steps
(:mod:`gensr.train.steps`) take tensors and return numbers; the loss weights are multiplied in
:func:`train_step_g`.

Run it with ``gensr train --config FILE`` or, on several GPUs/processes,
``torchrun --nproc_per_node=N -m gensr train --config FILE`` (multi-node: torchrun's ``--nnodes``,
``--node_rank`` and ``--rdzv_endpoint``; the run folder must be on a filesystem all nodes share).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from gensr import degrade
from gensr.config import ConfigError, TrainConfig, config_to_dict, dump_config
from gensr.imageio import atomic_write
from gensr.infer.devices import resolve_device
from gensr.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from gensr.train.distributed import (
    DistEnv,
    all_mean,
    any_rank,
    barrier,
    close_distributed,
    dist_env,
    init_distributed,
)
from gensr.train.runlog import RunLog, truncate_log
from gensr.train.sampling import EpochItems, StreamBatchSampler, shard_params
from gensr.train.setup import (
    StopFlag,
    build_networks,
    build_perceptual,
    build_val_set,
    train_dataset,
)
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


def _stage_rates(cfg: TrainConfig, it: int) -> tuple[bool, float, float]:
    """``(in stage 2, lr of G, lr of D)`` at (0-based) iteration ``it``; each stage has its own schedule."""
    n_pre, o = cfg.pretrain.iters, cfg.optim
    if it < n_pre:
        return False, learning_rate(cfg.pretrain, cfg.pretrain.lr, it, n_pre), 0.0
    k = it - n_pre
    return True, learning_rate(o, o.lr_g, k, cfg.train.iters), learning_rate(o, o.lr_d, k, cfg.train.iters)


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def _guard(
    guards: dict[str, int],
    it: int,
    stats: dict[str, float],
    cfg: TrainConfig,
    log: RunLog | None,
    run_dir: Path,
) -> None:
    """Count non-finite (skipped) steps and near-zero D losses; log them, warn, or stop the run."""
    t = cfg.train
    skipped = stats.pop("g/skipped") + stats.pop("d/skipped", 0.0)
    guards["nonfinite"] = guards["nonfinite"] + 1 if skipped else 0
    if skipped and log is not None:
        log.write({"iter": it, "event": "nonfinite", **{k: str(v) for k, v in stats.items()}})
    if guards["nonfinite"] >= t.max_nonfinite:
        raise TrainingError(
            f"stopped at iteration {it}: {guards['nonfinite']} steps in a row had a non-finite loss or "
            f"gradient and were skipped. The last good checkpoint is {latest_checkpoint(run_dir)}. "
            "Try a lower learning rate, train.grad_clip, or train.precision=fp32."
        )
    d_total = stats.get("d/real", 1.0) + stats.get("d/fake", 1.0)
    guards["collapse"] = guards["collapse"] + 1 if d_total < 1e-3 else 0
    if guards["collapse"] == t.collapse_iters and log is not None:
        msg = (
            f"warning: the discriminator loss has stayed below 1e-3 for {t.collapse_iters} iterations: "
            "D wins outright and G learns nothing from it. Consider a lower optim.lr_d or "
            "loss.adversarial_weight."
        )
        log.write({"iter": it, "event": "warning", "message": msg})
        tqdm.write(msg, file=sys.stderr)


# ---------------------------------------------------------------- the loop


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
        run_dir: the run folder (created).
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
    try:
        with ExitStack() as stack:  # the log, progress bar and signal handlers end with the run
            return _fit(cfg, Path(run_dir), resume, env, device, callback, stack)
    finally:
        if owned:
            close_distributed()


def _fit(
    cfg: TrainConfig,
    run_dir: Path,
    resume: bool,
    env: DistEnv,
    device: torch.device,
    callback: Callable[[int], None] | None,
    stack: ExitStack,
) -> FitResult:
    t, batch = cfg.train, cfg.data.batch
    total = cfg.pretrain.iters + t.iters
    if batch % env.world:
        raise ConfigError(f"data.batch: {batch} is not divisible by the {env.world} processes")
    per_rank = batch // env.world
    first = env.rank * per_rank  # this process's rows of the global batch
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    # --- what trains, and what it trains on (initialized from the seed; a resume overwrites the state)
    torch.manual_seed(t.seed)
    cfg, nets = build_networks(cfg, device, load_weights=not resume)
    perceptual = build_perceptual(cfg, device)
    pixel_only = replace(cfg.loss, pixel_weight=1.0, perceptual_weight=0.0, adversarial_weight=0.0)  # stage 1
    opts: dict[str, Any] = {"grad_clip": t.grad_clip, "precision": t.precision}
    deg = cfg.degradation.bicubic if cfg.degradation.kind == "bicubic" else cfg.degradation.realistic
    deg_gen = torch.Generator().manual_seed(t.seed)  # every random degradation choice comes from here
    dataset = train_dataset(cfg)
    start, guards, metrics = 0, {"nonfinite": 0, "collapse": 0}, {}
    if resume:
        path = latest_checkpoint(run_dir)
        if path is None:
            raise ConfigError(f"--resume: {run_dir} has no checkpoint")
        state = load_checkpoint(path)
        if state["data"]["batch"] != batch or state["data"]["seed"] != t.seed:
            raise ConfigError(
                "data.batch / train.seed: differ from the checkpoint's, so would the data order"
            )
        try:
            nets.load_state_dict(state)
        except (RuntimeError, KeyError, ValueError) as e:
            raise ConfigError(f"--resume: {path} does not fit this config's networks: {e}") from None
        set_rng_state(state["rng"], {"degradation": deg_gen})
        start, guards, metrics = state["iteration"], dict(state["guards"]), dict(state["val"])

    # --- the run folder (rank 0)
    log = val = lpips = None
    if env.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / "config.yaml", dump_config(cfg))
        if resume:
            truncate_log(run_dir / "log.jsonl", start)  # drop steps after the checkpoint: they are redone
        else:
            (run_dir / "log.jsonl").unlink(missing_ok=True)
        log = stack.enter_context(RunLog(run_dir, tensorboard=t.tensorboard))
        log.write(
            {
                "iter": start,
                "event": "resume" if resume else "start",
                "device": str(device),
                "processes": env.world,
                "train_images": len(dataset.files),
            }
        )
        val, lpips = build_val_set(cfg, deg, device)

    def checkpoint(it: int) -> Path | None:
        if not env.main:
            return None
        state = {
            "format": 1,
            "iteration": it,
            "config": config_to_dict(cfg),
            **nets.state_dict(),
            "rng": rng_state({"degradation": deg_gen}),
            "data": {"batches": it, "batch": batch, "seed": t.seed},
            "guards": guards,
            "val": metrics,
        }
        return save_checkpoint(run_dir, it, state, t.keep_last)

    def validation(it: int) -> dict[str, float]:
        if val is None or log is None:
            return metrics
        out = validate(
            nets.ema if nets.ema is not None else nets.g,
            val,
            device=device,
            lpips=lpips,
            save_dir=run_dir / "samples",
            save_images=cfg.val.save_images,
            tag=f"iter_{it:08d}",
        )
        log.write({"iter": it, **out})
        return out

    # --- the loop: one global batch per iteration; the data order is a function of (seed, iteration)
    g_run, d_run = nets.g, nets.d
    if env.active:
        ids = [device.index] if device.type == "cuda" else None
        g_run = DistributedDataParallel(nets.g, device_ids=ids)
        d_run = DistributedDataParallel(nets.d, device_ids=ids) if nets.d is not None else None
    sampler = StreamBatchSampler(len(dataset), t.seed, batch, start, total, env.rank, env.world)
    loader = DataLoader(
        EpochItems(dataset),
        batch_sampler=sampler,
        num_workers=cfg.data.workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator(),
    )
    bar = tqdm(total=total, initial=start, disable=not env.main, desc="train", unit="it", dynamic_ncols=True)
    stack.enter_context(bar)  # closed however the loop ends
    stop = stack.enter_context(StopFlag().installed())  # SIGINT/SIGTERM: finish the iteration, checkpoint
    it, last_ckpt, interrupted = start, None, False
    for hr in loader:
        hr = hr.to(device, non_blocking=True)  # (b, 3, P, P)
        params = shard_params(degrade.sample_params(deg, batch, deg_gen), first, first + per_rank)
        target = degrade.usm_sharp(hr) if cfg.loss.sharpen_target else hr
        lr = degrade.apply(target, params, deg)  # (b, 3, P/s, P/s)
        stage2, lr_g, lr_d = _stage_rates(cfg, it)
        if it == cfg.pretrain.iters > 0:
            nets.start_stage2()
        _set_lr(nets.opt_g, lr_g)
        with autocast(device, t.precision):
            sr = g_run(lr)  # (b, 3, P, P)
        if stage2:  # α·perceptual + β·pixel + γ·adversarial
            stats = train_step_g(
                sr, target, hr, nets.opt_g, cfg.loss, perceptual=perceptual, d=nets.d, **opts
            )
        else:  # the pixel loss alone
            stats = train_step_g(sr, target, hr, nets.opt_g, pixel_only, **opts)
        if stage2 and d_run is not None and nets.opt_d is not None:
            _set_lr(nets.opt_d, lr_d)
            stats |= train_step_d(sr, hr, d_run, nets.opt_d, cfg.loss.adversarial, **opts)
        if nets.ema is not None:
            ema_update(nets.ema, nets.g, ema_decay(t.ema_decay, it - (cfg.pretrain.iters if stage2 else 0)))
        it += 1
        bar.update(1)
        _guard(guards, it, stats, cfg, log, run_dir)

        if it % t.log_every == 0 or it == total:
            rates = {"lr": lr_g, **({"lr_d": lr_d} if "d/real" in stats else {})}
            record = {"iter": it, "stage": 2 if stage2 else 1, **all_mean(stats, device), **rates}
            if log is not None:
                log.write(record)
            bar.set_postfix(
                {k: f"{record[k]:.4g}" for k in ("g/total", "d/real", "d/fake") if k in record},
                refresh=False,
            )
        if cfg.val.every and it % cfg.val.every == 0 and it < total:
            metrics = validation(it)
        if it % t.ckpt_every == 0 and it < total and guards["nonfinite"] == 0:
            last_ckpt = checkpoint(it)
        if callback is not None:
            callback(it)
        if any_rank(stop.signal is not None, device):  # every process stops at the same iteration
            interrupted = it < total
            break
    if interrupted or (start < total <= it):
        if not interrupted:
            metrics = validation(it)
        last_ckpt = checkpoint(it)
        if log is not None:
            log.write({"iter": it, "event": "interrupted" if interrupted else "done"})
    barrier()
    return FitResult(it, interrupted, metrics, last_ckpt)
