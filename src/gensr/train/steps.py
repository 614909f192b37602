"""One training step each for G and D: tensors in, numbers out; plus the learning-rate schedule.

:func:`train_step_g` multiplies the loss weights α (perceptual), β (pixel), γ (adversarial) and
ε (grid) where a reader sees them. Both steps skip the optimizer update when the loss or the gradient is
not finite (on any process, so distributed processes stay in step) and say so in their result.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gensr.train.config import DistillConfig, LossConfig, OptimConfig, PretrainConfig
from gensr.train.distributed import any_rank
from gensr.train.losses import d_loss, g_loss, grid_loss, pixel_loss

__all__ = ["learning_rate", "autocast", "train_step_g", "train_step_d", "ema_decay", "ema_update"]


def learning_rate(optim: OptimConfig | PretrainConfig, base: float, it: int, total: int) -> float:
    """Learning rate of (0-based) iteration ``it`` of a stage of ``total``: warm-up, then the schedule.

    >>> o = OptimConfig(schedule="multistep", milestones=(10, 20), gamma=0.5)
    >>> [learning_rate(o, 1.0, i, 30) for i in (0, 10, 25)]
    [1.0, 0.5, 0.25]
    """
    if it < optim.warmup_iters:
        return base * (it + 1) / optim.warmup_iters
    if optim.schedule == "multistep":
        return base * optim.gamma ** sum(it >= m for m in optim.milestones)
    if optim.schedule == "cosine":
        t = min((it - optim.warmup_iters) / max(total - optim.warmup_iters, 1), 1.0)
        low = base * optim.min_lr_ratio
        return low + (base - low) * 0.5 * (1.0 + math.cos(math.pi * t))
    return base


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """bf16 autocast on ``device`` when ``precision == "bf16"`` (a no-op context otherwise)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _update(loss: Tensor, opt: torch.optim.Optimizer, grad_clip: float) -> tuple[float, bool]:
    """Backward, clip, and step unless the loss or gradient is non-finite (on any process).

    Returns ``(gradient norm, skipped)``.
    """
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
    params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
    if grad_clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    else:
        norm = torch.nn.utils.get_total_norm(grads) if grads else loss.new_zeros(())
    bad = not bool(torch.isfinite(loss.detach()) & torch.isfinite(norm))
    if any_rank(bad, loss.device):
        opt.zero_grad(set_to_none=True)
        return float(norm), True
    opt.step()
    return float(norm), False


def train_step_g(
    sr: Tensor,
    target: Tensor,
    hr: Tensor,
    opt_g: torch.optim.Optimizer,
    loss: LossConfig,
    *,
    stage: int = 2,
    perceptual: nn.Module | None = None,
    d: nn.Module | None = None,
    grad_clip: float = 0.0,
    precision: str = "fp32",
    t_sr: Tensor | None = None,
    distill: DistillConfig | None = None,
    period: int = 0,
) -> dict[str, float]:
    """One generator update: ``α·perceptual + β·pixel + γ·adversarial + ε·grid``, plus, when distilling,
    ``δ·pixel(sr, t_sr) + δ_p·perceptual(sr, t_sr)`` (stage 1: the pixel terms ``β·pixel + δ·pixel + ε·grid``
    alone).

    Args:
        sr: ``G(lr)`` with its autograd graph, ``(B, 3, H, W)``.
        target: pixel and perceptual target, ``(B, 3, H, W)`` (``hr``, or ``hr`` sharpened).
        hr: the real images D judges against (``ragan`` needs ``D(hr)``), ``(B, 3, H, W)``.
        opt_g: G's optimizer.
        loss: a :class:`gensr.train.config.LossConfig` (kinds and the weights α, β, γ).
        stage: 1 (pretraining: the pixel term alone, weighted by the user's β) or 2 (all terms).
        perceptual: the VGG loss module, or None (α = 0); unused in stage 1.
        d: the discriminator (not a DDP wrapper), or None (γ = 0); unused in stage 1. Its
            parameters are frozen during this step and restored afterwards.
        grad_clip: clip G's gradient norm to this (0 = off).
        precision: ``"bf16"`` runs VGG and D under autocast.
        t_sr: a teacher's output for this batch (:mod:`gensr.train.distill`), ``(B, 3, H, W)``, or None.
        distill: the ``distill`` config section (δ, δ_p, the criterion), used with ``t_sr``.
        period: the upsampling period for the grid term ε (the model's scale; needed when ε > 0).

    Returns:
        ``{"g/pixel", "g/percep"?, "g/adv"?, "g/distill"?, "g/distill_percep"?, "g/grid"?, "g/total",
        "g/grad_norm", "g/skipped"}`` as floats.
    """
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    if stage == 1:
        perceptual = d = None
    amp = autocast(sr.device, precision)
    terms: dict[str, Tensor] = {}
    terms["g/pixel"] = pixel_loss(loss.pixel, sr.float(), target)
    total = loss.pixel_weight * terms["g/pixel"]  # β
    if perceptual is not None and loss.perceptual_weight > 0:
        with amp:
            terms["g/percep"] = perceptual(sr, target).float()
        total = total + loss.perceptual_weight * terms["g/percep"]  # α
    if t_sr is not None and distill is not None:
        terms["g/distill"] = pixel_loss(distill.criterion, sr.float(), t_sr)
        total = total + distill.weight * terms["g/distill"]  # δ
        if perceptual is not None and distill.perceptual_weight > 0:
            with amp:
                terms["g/distill_percep"] = perceptual(sr, t_sr).float()
            total = total + distill.perceptual_weight * terms["g/distill_percep"]  # δ_p
    if loss.grid_weight > 0:  # against the teacher when distilling: its own grid is not the student's fault
        terms["g/grid"] = grid_loss(sr.float(), t_sr if t_sr is not None else target, period, loss.grid_cells)
        total = total + loss.grid_weight * terms["g/grid"]  # ε
    if d is not None:
        flags = [p.requires_grad for p in d.parameters()]
        d.requires_grad_(False)
        try:
            with amp:
                fake = d(sr).float()
                with torch.no_grad():
                    real = d(hr).float() if loss.adversarial == "ragan" else None
            terms["g/adv"] = g_loss(loss.adversarial, fake, real)
        finally:
            for p, flag in zip(d.parameters(), flags, strict=True):
                p.requires_grad_(flag)
        total = total + loss.adversarial_weight * terms["g/adv"]  # γ
    terms["g/total"] = total
    norm, skipped = _update(total, opt_g, grad_clip)
    return {
        **{k: float(v.detach()) for k, v in terms.items()},
        "g/grad_norm": norm,
        "g/skipped": float(skipped),
    }


def train_step_d(
    sr: Tensor,
    hr: Tensor,
    d: nn.Module,
    opt_d: torch.optim.Optimizer,
    kind: str,
    *,
    grad_clip: float = 0.0,
    precision: str = "fp32",
) -> dict[str, float]:
    """One discriminator update on real ``hr`` and fake ``sr`` (detached here).

    Args:
        sr: generator output ``(B, 3, H, W)``.
        hr: real images ``(B, 3, H, W)``.
        d: the discriminator (a DDP wrapper in distributed runs).
        opt_d: D's optimizer.
        kind: adversarial loss (see :func:`gensr.train.losses.d_loss`).
        grad_clip: clip D's gradient norm to this (0 = off).
        precision: ``"bf16"`` runs D under autocast.

    Returns:
        ``{"d/real", "d/fake", "d/real_logit", "d/fake_logit", "d/grad_norm", "d/skipped"}`` as floats.
    """
    with autocast(sr.device, precision):
        real = d(hr).float()
        fake = d(sr.detach()).float()
    l_real, l_fake = d_loss(kind, real, fake)
    norm, skipped = _update(l_real + l_fake, opt_d, grad_clip)
    return {
        "d/real": float(l_real.detach()),
        "d/fake": float(l_fake.detach()),
        "d/real_logit": float(real.detach().mean()),
        "d/fake_logit": float(fake.detach().mean()),
        "d/grad_norm": norm,
        "d/skipped": float(skipped),
    }


def ema_decay(decay: float, n: int) -> float:
    """EMA decay for the ``n``-th update (0-based) of a stage: ``min(decay, (1 + n) / (10 + n))``.

    The warm-up lets the average follow G early on, so short runs and early validations are not
    dominated by the initial weights; after a few thousand updates it is ``decay`` itself.

    >>> [round(ema_decay(0.999, n), 3) for n in (0, 90, 100_000)]
    [0.1, 0.91, 0.999]
    """
    return min(decay, (1.0 + n) / (10.0 + n))


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * net`` for parameters; buffers copied."""
    for e, p in zip(ema.parameters(), net.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), net.buffers(), strict=True):
        e.copy_(b)
