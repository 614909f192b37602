"""spandrel's efficient architectures as generators gensr trains (``model: {arch: spandrel, ...}``).

``hparams`` name the architecture (a key of :data:`TRAINABLE`) and the constructor keywords of spandrel's
class that spandrel detects back from the weights, so that the released file (arch ``spandrel`` in
:mod:`gensr.models.modelfile`: spandrel's own state dict) loads again as the very network trained::

    model:
      arch: spandrel
      hparams: {architecture: SPAN, feature_channels: 48}

The scale is the config's ``scale`` (the constructor's own scale keyword may be given, equal to it);
input and output channels are 3. Building one (:class:`SpandrelArch`) makes spandrel's network, then
has spandrel detect its state dict and checks that it finds the same architecture and hyperparameters:
a network spandrel would read back differently is refused before training starts.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from gensr.models.spandrel_import import import_spandrel
from gensr.models.spandrel_net import SpandrelNet, describe

__all__ = ["TRAINABLE", "Param", "SpandrelArch", "Trainable", "check_hparams", "trainable_hparams"]


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type (``int``, ``float``, ``bool`` or ``str``), default and allowed values."""

    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    odd: bool = False

    def check(self, name: str, value: Any) -> Any:
        """``value`` as this parameter takes it; ValueError ``"name: reason"`` otherwise."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is not bool and isinstance(value, bool)):
            raise ValueError(f"{name}: expected {self.kind.__name__}, got {_short(value)}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{name}: {_short(value)} is not one of {', '.join(self.choices)}")
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            raise ValueError(f"{name}: {_short(value)} is outside {self.low:g}..{self.high:g}")
        if self.odd and value % 2 == 0:
            raise ValueError(f"{name}: must be odd, got {value}")
        return value


@dataclass(frozen=True)
class Trainable:
    """How gensr builds one of spandrel's architectures for training."""

    module: str
    """``spandrel.architectures.<module>``, which exports the class."""
    cls: str
    """spandrel's class (its name is also the key of :data:`gensr.models.spandrel_net.ARCHS`)."""
    scale_key: str
    """The constructor's scale keyword (set from the config's ``scale``)."""
    params: dict[str, Param]
    """The keywords a config may set: those spandrel detects back from the weights."""
    fixed: dict[str, Any] = field(default_factory=dict)
    """Keywords gensr sets (3 channels in and out); a config may repeat them, with these values."""
    derived: tuple[str, ...] = ()
    """Parameter-name parts of weights computed from others (not trained; refreshed before saving)."""
    unused: tuple[str, ...] = ()
    """``fnmatch`` patterns of parameters the network holds but never uses (not trained: DDP wants every
    trained weight to take part)."""
    scales: tuple[int, ...] = ()
    """The scales the network can have (empty: any)."""

    def network_class(self) -> type[torch.nn.Module]:
        """spandrel's class (imports spandrel, with gensr's torchvision stand-in where needed)."""
        import_spandrel()
        return getattr(importlib.import_module(f"spandrel.architectures.{self.module}"), self.cls)  # type: ignore[no-any-return]


_CHANNELS = Param(int, 48, 1, 512)
_BLOCKS = Param(int, 28, 1, 128)
_KERNEL = Param(int, 17, 3, 63, odd=True)
_SPLIT = Param(float, 0.25, 0.01, 1.0)

TRAINABLE: dict[str, Trainable] = {
    "SPAN": Trainable(
        "SPAN",
        "SPAN",
        "upscale",
        {"feature_channels": _CHANNELS, "norm": Param(bool, True)},
        fixed={"num_in_ch": 3, "num_out_ch": 3},
        derived=("eval_conv",),  # Conv3XC: the 3x3 convolution re-parameterised from its training branches
    ),
    "RealPLKSR": Trainable(
        "PLKSR",
        "RealPLKSR",
        "upscaling_factor",
        {
            "dim": Param(int, 64, 1, 512),
            "n_blocks": _BLOCKS,
            "kernel_size": _KERNEL,
            "split_ratio": _SPLIT,
            "use_ea": Param(bool, True),
            "dysample": Param(bool, False),
            "layer_norm": Param(bool, False),
        },
    ),
    "PLKSR": Trainable(
        "PLKSR",
        "PLKSR",
        "upscaling_factor",
        {
            "dim": Param(int, 64, 1, 512),
            "n_blocks": _BLOCKS,
            "ccm_type": Param(str, "CCM", choices=("CCM", "ICCM", "DCCM")),
            "kernel_size": _KERNEL,
            "split_ratio": _SPLIT,
            "use_ea": Param(bool, True),
        },  # lk_type stays PLK: SparsePLK is not detectable, RectSparsePLK (an ablation) fails on odd sizes
    ),
    "MoSR": Trainable(
        "MoSR",
        "MoSR",
        "upscale",
        {
            "dim": Param(int, 64, 1, 512),
            "n_block": Param(int, 24, 1, 128),
            "kernel_size": Param(int, 7, 3, 63, odd=True),
            "expansion_ratio": Param(float, 1.5, 0.25, 8.0),
            "conv_ratio": Param(float, 1.0, 0.01, 1.0),
            "upsampler": Param(str, "ps", choices=("ps", "dys", "gps")),
        },
        fixed={"in_ch": 3, "out_ch": 3},
    ),
    "SwiftSRGAN": Trainable(
        "SwiftSRGAN",
        "SwiftSRGAN",  # spandrel exports its Generator class under this name
        "upscale_factor",
        {"num_channels": Param(int, 64, 1, 512), "num_blocks": Param(int, 16, 1, 128)},
        fixed={"in_channels": 3},
        unused=("residual.*.block2.act.weight", "convblock.act.weight"),  # PReLUs of blocks built without one
        scales=(2, 4, 8),
    ),
    "SAFMN": Trainable(
        "SAFMN",
        "SAFMN",
        "upscaling_factor",
        {
            "dim": Param(int, 36, 1, 512),
            "n_blocks": Param(int, 8, 1, 128),
            "ffn_scale": Param(float, 2.0, 0.1, 8.0),
        },
    ),
}
"""spandrel's architectures gensr trains: local or efficient networks whose hyperparameters spandrel
detects from the weights. Keyed by spandrel's class name."""


def check_hparams(hparams: Mapping[str, Any], scale: int) -> tuple[Trainable, dict[str, Any]]:
    """The architecture and the full, checked constructor keywords of a ``spandrel`` model config.

    Args:
        hparams: ``{"architecture": name, keyword: value, ...}`` (a config's ``model.hparams``).
        scale: the config's scale.

    Returns:
        ``(spec, kwargs)``: every keyword of :attr:`Trainable.params` (defaults filled in), the scale
        and the fixed keywords, ready for spandrel's class.

    Raises:
        ValueError: ``"<key>: reason"`` (an unknown architecture or keyword lists what is accepted).
    """
    name = hparams.get("architecture")
    if not isinstance(name, str) or name not in TRAINABLE:
        close = difflib.get_close_matches(str(name), list(TRAINABLE), n=1) if isinstance(name, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        what = (
            "missing" if name is None else f"{_short(name)} is not a spandrel architecture gensr trains{hint}"
        )
        raise ValueError(f"architecture: {what}; trainable: {', '.join(sorted(TRAINABLE))}")
    spec = TRAINABLE[name]
    if spec.scales and scale not in spec.scales:
        raise ValueError(
            f"architecture: {name} upscales x{', x'.join(map(str, spec.scales))} only, not x{scale}"
        )
    kwargs: dict[str, Any] = {**spec.fixed, spec.scale_key: scale}
    accepted = ["architecture", *spec.params, spec.scale_key, *spec.fixed]
    for key, value in hparams.items():
        if key == "architecture":
            continue
        if key in spec.params:
            kwargs[key] = spec.params[key].check(key, value)
        elif key in kwargs:  # the scale keyword or a fixed one: only its own value
            if value != kwargs[key] or isinstance(value, bool):
                why = "the config's scale" if key == spec.scale_key else "gensr trains RGB models"
                raise ValueError(f"{key}: must be {kwargs[key]} ({why}), got {_short(value)}")
        else:
            close = difflib.get_close_matches(str(key), accepted, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"{str(key)[:40]}: not a hyperparameter of {name} ({hint}accepted: {', '.join(accepted)})"
            )
    for key, p in spec.params.items():
        kwargs.setdefault(key, p.default)
    return spec, kwargs


class SpandrelArch(SpandrelNet):
    """One of spandrel's architectures built from hyperparameters, for training; ``(B, 3, H, W) ->
    (B, 3, H*scale, W*scale)``.

    ``hparams`` are ``{"architecture", "scale", *params}`` (what rebuilds it); a model file of it stores
    spandrel's id and the scale only (:func:`gensr.models.save_model`), spandrel detects the rest.
    """

    def __init__(self, *, architecture: str, scale: int, **hparams: Any) -> None:
        spec, kwargs = check_hparams({"architecture": architecture, **hparams}, scale)
        cls = spec.network_class()
        descriptor = describe(cls(**kwargs).state_dict())
        found = _found(descriptor.model, spec)
        want = {k: kwargs[k] for k in found}
        if type(descriptor.model) is not cls or found != want:
            diff = ", ".join(f"{k}={found[k]!r} instead of {want[k]!r}" for k in found if found[k] != want[k])
            raise ValueError(
                f"spandrel reads these weights back as {type(descriptor.model).__name__} {diff}; "
                "choose hyperparameters it detects"
            )
        super().__init__(descriptor)
        self.spec = spec
        for name, p in self.model.named_parameters():
            derived = any(part in name.split(".") for part in spec.derived)  # computed from trained weights
            if derived or any(fnmatch.fnmatchcase(name, pattern) for pattern in spec.unused):
                p.requires_grad_(False)
        self.hparams = {"architecture": architecture, "scale": scale, **{k: kwargs[k] for k in spec.params}}

    @torch.no_grad()
    def weights(self) -> dict[str, torch.Tensor]:
        """spandrel's state dict, derived weights recomputed from the trained ones first."""
        if self.spec.derived:
            for m in self.model.modules():
                refresh = getattr(m, "update_params", None)
                if callable(refresh) and any(hasattr(m, part) for part in self.spec.derived):
                    refresh()
        return self.model.state_dict()


def trainable_hparams(net: SpandrelNet) -> dict[str, Any]:
    """The :class:`SpandrelArch` hyperparameters of a network spandrel loaded (to train on from it).

    Raises:
        ValueError: not an architecture of :data:`TRAINABLE`.
    """
    name = next((k for k, s in TRAINABLE.items() if type(net.model) is s.network_class()), None)
    if name is None:
        raise ValueError(
            f"a {net.architecture} model; gensr trains {', '.join(sorted(TRAINABLE))} of spandrel's"
        )
    spec = TRAINABLE[name]
    found = _found(net.model, spec)
    return {"architecture": name, "scale": net.scale, **{k: found[k] for k in spec.params}}


def _found(model: torch.nn.Module, spec: Trainable) -> dict[str, Any]:
    """The keywords of ``spec`` that spandrel built ``model`` with."""
    have = dict(getattr(model, "hyperparameters", {}))
    return {k: have.get(k) for k in (*spec.params, spec.scale_key, *spec.fixed)}


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
