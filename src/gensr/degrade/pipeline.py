"""Sampling and applying degradations: ``sample_params`` then ``apply`` (or both: ``degrade``)."""

from __future__ import annotations

from typing import Any

import torch

from gensr.base.tensors import quantize_uint8
from gensr.degrade.config import (
    KERNEL_PAD,
    RESIZE_MODES,
    BicubicConfig,
    BicubicParams,
    DegradationConfig,
    MildConfig,
    MildParams,
    Params,
    RealisticParams,
    StageConfig,
    StageParams,
)
from gensr.degrade.kernels import (
    filter2d,
    pulse_kernel,
    rand_choice,
    rand_uniform,
    sample_blur_kernel,
    sample_sinc_kernel,
    trim_kernel,
)
from gensr.degrade.mild import apply_mild, sample_mild
from gensr.degrade.ops import gaussian_noise, jpeg, poisson_noise, resize_to
from gensr.degrade.resize import imresize


def _sample_stage(g: torch.Generator, st: StageConfig, sizes: tuple[int, ...]) -> dict[str, Any]:
    blur = rand_uniform(g, 0.0, 1.0) < st.blur_prob
    kernel = (
        sample_blur_kernel(
            g,
            sizes=sizes,
            kernel_prob=st.kernel_prob,
            sinc_prob=st.sinc_prob,
            blur_sigma=st.blur_sigma,
            betag_range=st.betag_range,
            betap_range=st.betap_range,
            pad_to=KERNEL_PAD,
        )
        if blur
        else pulse_kernel(KERNEL_PAD)
    )
    updown = rand_choice(g, st.resize_prob)  # 0 up, 1 down, 2 keep
    lo, hi = st.resize_range
    scale = rand_uniform(g, 1.0, hi) if updown == 0 else rand_uniform(g, lo, 1.0) if updown == 1 else 1.0
    mode = rand_choice(g, (1.0,) * len(RESIZE_MODES))
    poisson = rand_uniform(g, 0.0, 1.0) >= st.gaussian_noise_prob
    level = rand_uniform(g, *(st.poisson_scale_range if poisson else st.noise_range))
    gray = rand_uniform(g, 0.0, 1.0) < st.gray_noise_prob
    q = st.jpeg_range[0] + int(torch.randint(st.jpeg_range[1] - st.jpeg_range[0] + 1, (), generator=g))
    return dict(blur=blur, kernel=kernel, resize_scale=scale, resize_mode=mode, poisson=poisson,
                gray_noise=gray, noise_level=level, jpeg_quality=q)  # fmt: skip


def _stack_stage(rows: list[dict[str, Any]]) -> StageParams:
    col = {k: [r[k] for r in rows] for k in rows[0]}
    return StageParams(
        blur=torch.tensor(col["blur"], dtype=torch.bool),
        kernel=torch.stack(col["kernel"]),
        resize_scale=torch.tensor(col["resize_scale"], dtype=torch.float64),
        resize_mode=torch.tensor(col["resize_mode"], dtype=torch.int64),
        poisson=torch.tensor(col["poisson"], dtype=torch.bool),
        gray_noise=torch.tensor(col["gray_noise"], dtype=torch.bool),
        noise_level=torch.tensor(col["noise_level"], dtype=torch.float64),
        jpeg_quality=torch.tensor(col["jpeg_quality"], dtype=torch.int64),
    )


def sample_params(cfg: DegradationConfig, batch: int, generator: torch.Generator) -> Params:
    """Draw the random parameters of ``batch`` degradations.

    Args:
        cfg: a :class:`BicubicConfig` or :class:`~gensr.degrade.config.RealisticConfig`.
        batch: number of images.
        generator: CPU ``torch.Generator``; the only source of randomness.

    Returns:
        :class:`BicubicParams` or :class:`RealisticParams` (CPU tensors, one entry per image).
    """
    if isinstance(cfg, BicubicConfig):
        return BicubicParams(batch)
    if isinstance(cfg, MildConfig):
        return sample_mild(cfg, batch, generator)
    s1, s2, sinc, final_sinc, sinc_first, final_mode, seeds = [], [], [], [], [], [], []
    for _ in range(batch):
        s1.append(_sample_stage(generator, cfg.stage1, cfg.kernel_sizes))
        s2.append(_sample_stage(generator, cfg.stage2, cfg.kernel_sizes))
        use_sinc = rand_uniform(generator, 0.0, 1.0) < cfg.final_sinc_prob
        final_sinc.append(use_sinc)
        sinc.append(
            sample_sinc_kernel(generator, sizes=cfg.kernel_sizes, pad_to=KERNEL_PAD)
            if use_sinc
            else pulse_kernel(KERNEL_PAD)
        )
        sinc_first.append(rand_uniform(generator, 0.0, 1.0) < 0.5)
        final_mode.append(rand_choice(generator, (1.0,) * len(RESIZE_MODES)))
        seeds.append(int(torch.randint(2**62, (), generator=generator)))
    return RealisticParams(
        stage1=_stack_stage(s1),
        stage2=_stack_stage(s2),
        final_sinc=torch.tensor(final_sinc, dtype=torch.bool),
        sinc_kernel=torch.stack(sinc),
        sinc_first=torch.tensor(sinc_first, dtype=torch.bool),
        final_mode=torch.tensor(final_mode, dtype=torch.int64),
        noise_seed=torch.tensor(seeds, dtype=torch.int64),
    )


def _noise(x: torch.Tensor, st: StageParams, i: int, g: torch.Generator) -> torch.Tensor:
    level, gray = float(st.noise_level[i]), bool(st.gray_noise[i])
    noise = poisson_noise(x, level, gray, g) if bool(st.poisson[i]) else gaussian_noise(x, level, gray, g)
    return (x + noise).clamp(0, 1)


def _degrade_one(x: torch.Tensor, p: RealisticParams, i: int, lr_size: tuple[int, int]) -> torch.Tensor:
    g = torch.Generator(device=x.device).manual_seed(int(p.noise_seed[i]))
    h, w = x.shape[-2:]
    # first round, at HR size
    st = p.stage1
    if bool(st.blur[i]):
        x = filter2d(x, trim_kernel(st.kernel[i]))
    s = float(st.resize_scale[i])
    x = resize_to(x, (int(h * s), int(w * s)), int(st.resize_mode[i]))
    x = jpeg(_noise(x, st, i, g), int(st.jpeg_quality[i]))
    # second round; its size is relative to the LR size
    st = p.stage2
    if bool(st.blur[i]):
        x = filter2d(x, trim_kernel(st.kernel[i]))
    s = float(st.resize_scale[i])
    x = resize_to(x, (int(lr_size[0] * s), int(lr_size[1] * s)), int(st.resize_mode[i]))
    x = _noise(x, st, i, g)
    # resize to LR size + final sinc, and the last JPEG, in either order
    mode, use_sinc = int(p.final_mode[i]), bool(p.final_sinc[i])
    if bool(p.sinc_first[i]):
        x = resize_to(x, lr_size, mode)
        x = filter2d(x, trim_kernel(p.sinc_kernel[i])) if use_sinc else x
        x = jpeg(x, int(p.stage2.jpeg_quality[i]))
    else:
        x = resize_to(jpeg(x, int(p.stage2.jpeg_quality[i])), lr_size, mode)
        x = filter2d(x, trim_kernel(p.sinc_kernel[i])) if use_sinc else x
    return quantize_uint8(x)


def apply(hr: torch.Tensor, params: Params, cfg: DegradationConfig) -> torch.Tensor:
    """Degrade a batch of HR images with previously sampled parameters (deterministic).

    Args:
        hr: (B, 3, H, W) float32 RGB in [0, 1]; H and W multiples of ``cfg.scale``.
        params: from :func:`sample_params` for the same ``cfg`` and batch size B.
        cfg: the degradation config.

    Returns:
        lr: (B, 3, H/scale, W/scale) float32 in [0, 1], on 8-bit levels, on ``hr``'s device.
    """
    b, _, h, w = hr.shape
    s = cfg.scale
    if h % s or w % s:
        raise ValueError(f"HR size {h}x{w} is not a multiple of scale {s}")
    if isinstance(cfg, BicubicConfig):
        if not isinstance(params, BicubicParams) or params.batch != b:
            raise ValueError("params do not match a bicubic degradation of this batch")
        return quantize_uint8(imresize(hr, scale=1.0 / s, round_uint8=cfg.matlab_uint8))
    if isinstance(cfg, MildConfig):
        if not isinstance(params, MildParams):
            raise ValueError("params do not match a mild degradation of this batch")
        return quantize_uint8(apply_mild(hr, params, cfg))
    if not isinstance(params, RealisticParams) or params.batch != b:
        raise ValueError("params do not match a realistic degradation of this batch")
    lr_size = (h // s, w // s)
    with torch.no_grad():
        return torch.cat([_degrade_one(hr[i : i + 1], params, i, lr_size) for i in range(b)])


def degrade(hr: torch.Tensor, cfg: DegradationConfig, generator: torch.Generator) -> torch.Tensor:
    """``apply(hr, sample_params(cfg, B, generator), cfg)``: (B, 3, H, W) -> (B, 3, H/s, W/s)."""
    return apply(hr, sample_params(cfg, hr.shape[0], generator), cfg)
