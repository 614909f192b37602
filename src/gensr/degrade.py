"""Degradations that make LR training/evaluation inputs from HR images.

Two kinds, each a frozen config:

- :class:`BicubicConfig`: classical SR, MATLAB-style antialiased bicubic downscaling
  (:func:`gensr.resize.imresize`) then rounding to 8-bit levels.
- :class:`RealisticConfig`: Real-ESRGAN's second-order model (Wang et al. 2021): two rounds of
  blur -> random resize -> Gaussian/Poisson noise -> JPEG, then resize to the LR size with a
  final sinc filter and JPEG in random order. Defaults are Real-ESRGAN's published training
  options (``options/train_realesrgan_x4plus.yml``). JPEG is a real encoder (Pillow/libjpeg).

Sampling is separate from application: ``params = sample_params(cfg, B, generator)`` draws every
random choice (kernels, resize factors and modes, noise kinds and strengths, JPEG qualities,
the final order, and one seed per image for the noise fields) from one CPU ``torch.Generator``;
``apply(hr, params, cfg)`` is then deterministic, so a degradation replays bit for bit on a given
device. Each image of a batch gets its own parameters (Real-ESRGAN shares the resize and some
choices across a batch and compensates with a queue of past samples; per-image draws need no queue).

Real-ESRGAN degrades the unsharp-masked HR (:func:`usm_sharp`); :func:`apply` degrades whatever
HR it is given, so a caller following that recipe passes ``usm_sharp(hr)``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gensr.kernels import (
    filter2d,
    pulse_kernel,
    rand_choice,
    rand_uniform,
    sample_blur_kernel,
    sample_sinc_kernel,
    trim_kernel,
    usm_sharp,
)
from gensr.resize import imresize

__all__ = [
    "RESIZE_MODES", "BicubicConfig", "StageConfig", "SecondStageConfig", "RealisticConfig",
    "DegradationConfig", "BicubicParams", "StageParams", "RealisticParams", "Params", "sample_params",
    "apply", "degrade",
    "quantize", "usm_sharp", "to_gray", "gaussian_noise", "poisson_noise", "jpeg",
]  # fmt: skip

RESIZE_MODES: tuple[str, ...] = ("area", "bilinear", "bicubic")
"""Interpolation modes of the random resizes (torch ``F.interpolate``, no antialiasing)."""

KERNEL_PAD = 21
"""Every sampled kernel is zero-padded to this size (the largest size Real-ESRGAN draws)."""


@dataclass(frozen=True)
class BicubicConfig:
    """Classical SR degradation: MATLAB bicubic ``imresize(hr, 1/scale)``, rounded to 8-bit levels."""

    scale: int = 4
    """Integer downscaling factor; HR height and width must be multiples of it."""
    matlab_uint8: bool = True
    """Round to 8-bit levels after each 1-D pass, as MATLAB does on uint8 images (how the standard
    benchmark LR files were made); False: resize in float and round once at the end."""

    def __post_init__(self) -> None:
        if not isinstance(self.scale, int) or self.scale < 1:
            raise ValueError(f"scale must be a positive integer, got {self.scale!r}")


@dataclass(frozen=True)
class StageConfig:
    """One round of blur -> resize -> noise -> JPEG. Defaults: Real-ESRGAN's first round."""

    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    """Probability of each family in :data:`gensr.kernels.KERNEL_TYPES`
    (iso, aniso, generalized_iso, generalized_aniso, plateau_iso, plateau_aniso)."""
    sinc_prob: float = 0.1
    """Probability that the blur kernel is a sinc (circular low-pass) kernel instead."""
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    """Range of the Gaussian sigmas, in HR pixels."""
    betag_range: tuple[float, float] = (0.5, 4.0)
    """Shape range of generalized Gaussian kernels."""
    betap_range: tuple[float, float] = (1.0, 2.0)
    """Shape range of plateau kernels."""
    blur_prob: float = 1.0
    """Probability of blurring at all in this round."""
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)
    """Probability of resizing up, down, or keeping the size."""
    resize_range: tuple[float, float] = (0.15, 1.5)
    """Range of the resize factor: down draws from [lo, 1], up from [1, hi]."""
    gaussian_noise_prob: float = 0.5
    """Probability of Gaussian noise; Poisson noise otherwise."""
    noise_range: tuple[float, float] = (1.0, 30.0)
    """Range of the Gaussian noise sigma, in 8-bit levels (0..255)."""
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    """Range of the Poisson noise scale."""
    gray_noise_prob: float = 0.4
    """Probability that the noise is the same in all three channels."""
    jpeg_range: tuple[int, int] = (30, 95)
    """Range of JPEG qualities (inclusive integers)."""

    def __post_init__(self) -> None:
        if len(self.kernel_prob) != 6 or len(self.resize_prob) != 3:
            raise ValueError("kernel_prob needs 6 probabilities and resize_prob 3")
        for name in ("kernel_prob", "resize_prob"):
            probs = getattr(self, name)
            if min(probs) < 0 or abs(sum(probs) - 1.0) > 1e-6:
                raise ValueError(f"{name} must be non-negative and sum to 1, got {probs}")
        for name in ("sinc_prob", "blur_prob", "gaussian_noise_prob", "gray_noise_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        for name in (
            "blur_sigma",
            "betag_range",
            "betap_range",
            "resize_range",
            "noise_range",
            "poisson_scale_range",
            "jpeg_range",
        ):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be a range 0 < lo <= hi, got {(lo, hi)}")
        if not (self.resize_range[0] <= 1.0 <= self.resize_range[1] and self.jpeg_range[1] <= 100):
            raise ValueError("resize_range must contain 1 and jpeg_range lie in [1, 100]")


@dataclass(frozen=True)
class SecondStageConfig(StageConfig):
    """The second round; defaults: Real-ESRGAN's ``*2`` options (weaker blur, milder resize and noise)."""

    blur_sigma: tuple[float, float] = (0.2, 1.5)
    blur_prob: float = 0.8
    resize_prob: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range: tuple[float, float] = (0.3, 1.2)
    noise_range: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range: tuple[float, float] = (0.05, 2.5)


@dataclass(frozen=True)
class RealisticConfig:
    """Real-ESRGAN's second-order degradation with its published defaults."""

    scale: int = 4
    """Integer factor between HR and the final LR size."""
    stage1: StageConfig = field(default_factory=StageConfig)
    """First round, applied at HR size."""
    stage2: SecondStageConfig = field(default_factory=SecondStageConfig)
    """Second round; its resize factor is relative to the final LR size."""
    final_sinc_prob: float = 0.8
    """Probability of the final sinc filter (otherwise the identity)."""
    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)
    """Odd blur kernel sizes drawn uniformly (at most 21)."""

    def __post_init__(self) -> None:
        if not isinstance(self.scale, int) or self.scale < 1:
            raise ValueError(f"scale must be a positive integer, got {self.scale!r}")
        if not 0.0 <= self.final_sinc_prob <= 1.0:
            raise ValueError("final_sinc_prob must be in [0, 1]")
        if not self.kernel_sizes or any(k % 2 == 0 or not 1 <= k <= KERNEL_PAD for k in self.kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd numbers in [1, {KERNEL_PAD}]")


DegradationConfig = BicubicConfig | RealisticConfig


@dataclass(frozen=True)
class BicubicParams:
    """Bicubic degradation has no random parameters; only the batch size."""

    batch: int


@dataclass(frozen=True)
class StageParams:
    """Random choices of one round, one entry per image (CPU tensors)."""

    blur: torch.Tensor  # (B,) bool: blur in this round
    kernel: torch.Tensor  # (B, 21, 21) float32, sums to 1 (identity where blur is False)
    resize_scale: torch.Tensor  # (B,) float64 resize factor
    resize_mode: torch.Tensor  # (B,) int64 index into RESIZE_MODES
    poisson: torch.Tensor  # (B,) bool: Poisson noise (else Gaussian)
    gray_noise: torch.Tensor  # (B,) bool: same noise in all channels
    noise_level: torch.Tensor  # (B,) float64: Gaussian sigma (0..255 levels) or Poisson scale
    jpeg_quality: torch.Tensor  # (B,) int64 in jpeg_range


@dataclass(frozen=True)
class RealisticParams:
    """All random choices of the realistic degradation for a batch (CPU tensors)."""

    stage1: StageParams
    stage2: StageParams
    final_sinc: torch.Tensor  # (B,) bool
    sinc_kernel: torch.Tensor  # (B, 21, 21) float32 (identity where final_sinc is False)
    sinc_first: torch.Tensor  # (B,) bool: [resize + sinc] then JPEG (else JPEG first)
    final_mode: torch.Tensor  # (B,) int64 index into RESIZE_MODES of the resize to LR size
    noise_seed: torch.Tensor  # (B,) int64 seed of each image's noise fields

    @property
    def batch(self) -> int:
        return int(self.noise_seed.shape[0])


Params = BicubicParams | RealisticParams


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
        cfg: a :class:`BicubicConfig` or :class:`RealisticConfig`.
        batch: number of images.
        generator: CPU ``torch.Generator``; the only source of randomness.

    Returns:
        :class:`BicubicParams` or :class:`RealisticParams` (CPU tensors, one entry per image).
    """
    if isinstance(cfg, BicubicConfig):
        return BicubicParams(batch)
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


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the 256 levels of 8-bit images. Same shape."""
    return (x.clamp(0, 1) * 255).round() / 255


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """Luma (0.2989 R + 0.587 G + 0.114 B) of (B, 3, H, W) -> (B, 1, H, W)."""
    return 0.2989 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def gaussian_noise(x: torch.Tensor, sigma: float, gray: bool, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise field of std ``sigma`` (8-bit levels) for (1, C, H, W) ``x``; gray: one field
    for all channels. Returns a tensor that broadcasts to ``x`` ((1, 1 or C, H, W))."""
    shape = (1, 1 if gray else x.shape[1], *x.shape[-2:])
    return torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype) * (sigma / 255.0)


def poisson_noise(x: torch.Tensor, scale: float, gray: bool, generator: torch.Generator) -> torch.Tensor:
    """Poisson (shot) noise as in Real-ESRGAN: the 8-bit image is treated as photon counts with
    ``2**ceil(log2(levels used))`` counts at full scale; the noise is ``scale * (poisson(x*n)/n - x)``.

    Args:
        x: (1, C, H, W) image in [0, 1].
        scale: noise strength.
        gray: compute the noise on the luma, the same for all channels.
        generator: generator on ``x``'s device.

    Returns:
        Noise of shape (1, 1 or C, H, W), zero-mean.
    """
    base = quantize(to_gray(x) if gray else x)
    n = 2.0 ** np.ceil(np.log2(max(int(torch.unique(base).numel()), 1)))
    counts = torch.poisson(base * n, generator=generator)
    return (counts / n - base) * scale


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode and decode one RGB image with a real JPEG encoder (Pillow, default 4:2:0 subsampling).

    Args:
        x: (1, 3, H, W) image; clamped and rounded to 8 bits first.
        quality: JPEG quality 1..100.

    Returns:
        (1, 3, H, W) decoded image in [0, 1], on ``x``'s device.
    """
    arr = (x[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im.convert("RGB"))
    return torch.from_numpy(out.copy()).permute(2, 0, 1).unsqueeze(0).to(x.device, x.dtype) / 255.0


def _resize(x: torch.Tensor, size: tuple[int, int], mode: int) -> torch.Tensor:
    size = (max(1, size[0]), max(1, size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    name = RESIZE_MODES[mode]
    if name == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=name, align_corners=False)


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
    x = _resize(x, (int(h * s), int(w * s)), int(st.resize_mode[i]))
    x = jpeg(_noise(x, st, i, g), int(st.jpeg_quality[i]))
    # second round; its size is relative to the LR size
    st = p.stage2
    if bool(st.blur[i]):
        x = filter2d(x, trim_kernel(st.kernel[i]))
    s = float(st.resize_scale[i])
    x = _resize(x, (int(lr_size[0] * s), int(lr_size[1] * s)), int(st.resize_mode[i]))
    x = _noise(x, st, i, g)
    # resize to LR size + final sinc, and the last JPEG, in either order
    mode, use_sinc = int(p.final_mode[i]), bool(p.final_sinc[i])
    if bool(p.sinc_first[i]):
        x = _resize(x, lr_size, mode)
        x = filter2d(x, trim_kernel(p.sinc_kernel[i])) if use_sinc else x
        x = jpeg(x, int(p.stage2.jpeg_quality[i]))
    else:
        x = _resize(jpeg(x, int(p.stage2.jpeg_quality[i])), lr_size, mode)
        x = filter2d(x, trim_kernel(p.sinc_kernel[i])) if use_sinc else x
    return quantize(x)


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
        return quantize(imresize(hr, scale=1.0 / s, round_uint8=cfg.matlab_uint8))
    if not isinstance(params, RealisticParams) or params.batch != b:
        raise ValueError("params do not match a realistic degradation of this batch")
    lr_size = (h // s, w // s)
    with torch.no_grad():
        return torch.cat([_degrade_one(hr[i : i + 1], params, i, lr_size) for i in range(b)])


def degrade(hr: torch.Tensor, cfg: DegradationConfig, generator: torch.Generator) -> torch.Tensor:
    """``apply(hr, sample_params(cfg, B, generator), cfg)``: (B, 3, H, W) -> (B, 3, H/s, W/s)."""
    return apply(hr, sample_params(cfg, hr.shape[0], generator), cfg)
