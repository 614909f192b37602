"""Architectures: an explicit table from name to class, no scanning, no string registry magic.

Every generator takes keyword-only hyperparameters (recorded in ``module.hparams`` by
:func:`gensr.archs.base.store_hparams`) and has an integer ``scale`` hyperparameter.
Generators map ``(B, 3, H, W)`` in [0, 1] to ``(B, 3, H*scale, W*scale)``.

:data:`GENERATORS` are gensr's own: model files store their hyperparameters (:mod:`gensr.models.trust`
checks them) and the exporters know them. :data:`THIRD_PARTY` are generators gensr trains but does not
define (spandrel's SPAN, RealPLKSR, ...: :mod:`gensr.archs.spandrel`); their model files are spandrel's
state dicts. :func:`build_generator` and :func:`arch_name` know both (:data:`TRAINABLE`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from gensr.archs.compact import SRVGGNetCompact
from gensr.archs.discriminator_unet import UNetDiscriminatorSN
from gensr.archs.discriminator_vgg import VGGStyleDiscriminator
from gensr.archs.rrdbnet import RRDBNet
from gensr.archs.span import SPAN
from gensr.archs.spandrel import SpandrelArch
from gensr.archs.srresnet import SRResNet

GENERATORS: dict[str, type[nn.Module]] = {
    "srresnet": SRResNet,
    "rrdbnet": RRDBNet,
    "compact": SRVGGNetCompact,
    "span": SPAN,
}

THIRD_PARTY: dict[str, type[nn.Module]] = {
    "spandrel": SpandrelArch,
}

TRAINABLE: dict[str, type[nn.Module]] = {**GENERATORS, **THIRD_PARTY}
"""Every generator ``model.arch`` of a training config may name."""

DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "vgg": VGGStyleDiscriminator,
    "unet": UNetDiscriminatorSN,
}


def _build(table: dict[str, type[nn.Module]], kind: str, arch: str, hparams: dict[str, Any]) -> nn.Module:
    if arch not in table:
        raise ValueError(f"unknown {kind} architecture {arch!r}; known: {', '.join(sorted(table))}")
    return table[arch](**hparams)


def build_generator(arch: str, hparams: dict[str, Any]) -> nn.Module:
    """Build generator ``arch`` (a key of :data:`TRAINABLE`) from its hyperparameters."""
    return _build(TRAINABLE, "generator", arch, hparams)


def build_discriminator(arch: str, hparams: dict[str, Any]) -> nn.Module:
    """Build discriminator ``arch`` (a key of :data:`DISCRIMINATORS`) from its hyperparameters."""
    return _build(DISCRIMINATORS, "discriminator", arch, hparams)


def arch_name(net: nn.Module) -> str:
    """The table key of a generator or discriminator instance."""
    for table in (TRAINABLE, DISCRIMINATORS):
        for name, cls in table.items():
            if type(net) is cls:
                return name
    raise ValueError(f"{type(net).__name__} is not in gensr's architecture tables")
