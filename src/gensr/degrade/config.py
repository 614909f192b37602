"""Degradation configs (what a user sets) and sampled parameters (what one batch gets)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

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
    """Probability of each family in :data:`gensr.degrade.kernels.KERNEL_TYPES`
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


@dataclass(frozen=True)
class MildConfig:
    """Blur -> resize to LR -> noise -> JPEG, each light. Ranges are inclusive."""

    scale: int = 4
    """Integer factor between HR and LR."""
    blur_prob: float = 0.7
    """Probability of an isotropic Gaussian blur before the downscale."""
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    """Range of the blur sigma, in HR pixels (a soft lens or slight defocus)."""
    resize_prob: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    """Probability of each downscaling mode in :data:`gensr.degrade.RESIZE_MODES`."""
    noise_prob: float = 0.6
    """Probability of Gaussian noise at LR size."""
    noise_range: tuple[float, float] = (0.5, 4.0)
    """Range of the noise sigma, in 8-bit levels."""
    gray_noise_prob: float = 0.4
    """Probability that the noise is the same in all three channels."""
    jpeg_prob: float = 0.9
    """Probability of one JPEG round trip (else PNG-like: none)."""
    jpeg_range: tuple[int, int] = (60, 90)
    """Range of JPEG qualities."""

    def __post_init__(self) -> None:
        if not isinstance(self.scale, int) or self.scale < 1:
            raise ValueError(f"scale must be a positive integer, got {self.scale!r}")
        for name in ("blur_prob", "noise_prob", "gray_noise_prob", "jpeg_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if len(self.resize_prob) != 3 or min(self.resize_prob) < 0 or abs(sum(self.resize_prob) - 1) > 1e-6:
            raise ValueError(
                f"resize_prob needs 3 non-negative probabilities summing to 1, got {self.resize_prob}"
            )
        for name in ("blur_sigma", "noise_range", "jpeg_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be a range 0 < lo <= hi, got {(lo, hi)}")
        if self.jpeg_range[1] > 100:
            raise ValueError("jpeg_range must lie in [1, 100]")


@dataclass(frozen=True)
class MildParams:
    """Random choices of a batch (CPU tensors, one entry per image)."""

    blur_sigma: torch.Tensor  # (B,) float64; 0: no blur
    resize_mode: torch.Tensor  # (B,) int64 index into RESIZE_MODES
    noise_sigma: torch.Tensor  # (B,) float64 8-bit levels; 0: no noise
    gray_noise: torch.Tensor  # (B,) bool
    jpeg_quality: torch.Tensor  # (B,) int64; 0: no JPEG
    noise_seed: torch.Tensor  # (B,) int64

    @property
    def batch(self) -> int:
        return int(self.noise_seed.shape[0])


DegradationConfig = BicubicConfig | RealisticConfig | MildConfig


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


Params = BicubicParams | RealisticParams | MildParams
