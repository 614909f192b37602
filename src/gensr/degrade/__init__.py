"""Degradations that make LR training/evaluation inputs from HR images.

Three kinds, each a frozen config:

- :class:`BicubicConfig`: classical SR, MATLAB-style antialiased bicubic downscaling
  (:func:`gensr.degrade.resize.imresize`) then rounding to 8-bit levels.
- :class:`RealisticConfig`: Real-ESRGAN's second-order model (Wang et al. 2021): two rounds of
  blur -> random resize -> Gaussian/Poisson noise -> JPEG, then resize to the LR size with a
  final sinc filter and JPEG in random order. Defaults are Real-ESRGAN's published training
  options (``options/train_realesrgan_x4plus.yml``). JPEG is a real encoder (Pillow/libjpeg).
- :class:`MildConfig`: one light round (slight blur, downscale, light noise, JPEG 60-90), what phones
  and the web mostly give (:mod:`gensr.degrade.mild`).

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

from gensr.degrade.config import (
    KERNEL_PAD,
    RESIZE_MODES,
    BicubicConfig,
    BicubicParams,
    DegradationConfig,
    MildConfig,
    MildParams,
    Params,
    RealisticConfig,
    RealisticParams,
    SecondStageConfig,
    StageConfig,
    StageParams,
)
from gensr.degrade.kernels import usm_sharp
from gensr.degrade.ops import gaussian_noise, jpeg, poisson_noise, to_gray
from gensr.degrade.pipeline import apply, degrade, sample_params
from gensr.degrade.resize import imresize

__all__ = [
    "RESIZE_MODES", "BicubicConfig", "StageConfig", "SecondStageConfig", "RealisticConfig", "MildConfig",
    "DegradationConfig", "MildParams", "BicubicParams", "StageParams", "RealisticParams", "Params",
    "sample_params",
    "apply", "degrade", "imresize", "KERNEL_PAD",
    "usm_sharp", "to_gray", "gaussian_noise", "poisson_noise", "jpeg",
]  # fmt: skip
