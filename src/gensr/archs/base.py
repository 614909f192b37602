"""Shared pieces for architectures: hyperparameter capture and upsampler choice."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.functional import interpolate, pixel_shuffle

F = TypeVar("F", bound=Callable[..., None])

UPSAMPLERS = ("pixelshuffle", "nearest", "deconv")
"""Ways a generator may enlarge its features: pixel shuffle, nearest + conv, transposed conv."""


def store_hparams(init: F) -> F:
    """Decorate a keyword-only ``__init__`` so the module records its full hyperparameters.

    After construction ``module.hparams`` is a plain dict of every keyword argument, defaults
    filled in, which is exactly what :func:`gensr.archs.build_generator` needs to rebuild it.
    """
    sig = inspect.signature(init)
    for p in list(sig.parameters.values())[1:]:
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{init.__qualname__}: parameter {p.name!r} must be keyword-only")

    @functools.wraps(init)
    def wrapper(self: nn.Module, **kwargs: Any) -> None:
        bound = sig.bind(self, **kwargs)
        bound.apply_defaults()
        init(self, **kwargs)
        self.hparams = {k: v for k, v in bound.arguments.items() if k != "self"}

    return wrapper  # type: ignore[return-value]


def make_layer(block: Callable[[], nn.Module], n: int) -> nn.Sequential:
    """``n`` fresh instances of ``block()`` in an ``nn.Sequential`` (state-dict keys ``0.``, ``1.``, ...)."""
    return nn.Sequential(*(block() for _ in range(n)))


@torch.no_grad()
def scaled_kaiming_(modules: Iterable[nn.Module], scale: float = 0.1) -> None:
    """Kaiming-normal init scaled by ``scale``, zero bias (ESRGAN's trick for deep residual nets).

    Applies to every conv, transposed conv and linear layer inside ``modules``; nothing on the meta
    device (see :func:`on_meta`).
    """
    for root in modules:
        for m in root.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.zero_()


def on_meta(module: nn.Module) -> bool:
    """Whether ``module``'s weights are on the meta device (shapes only), where initialising them is
    pointless and costly: ``normal_`` on a meta tensor imports ``torch._dynamo`` (0.9 s, once per
    process), which made every ``gensr upscale`` start 0.9 s slower (model files are checked on meta)."""
    p = next(module.parameters(), None)
    return p is not None and p.is_meta


Stage = tuple[str, int]
"""One step of a generator's spatial path, input to output: ``("conv", k // 2)``, ``("up", f)``
(enlarge by ``f``) or ``("unshuffle", r)`` (pixel-unshuffle by ``r``)."""


def chain_radius(stages: Iterable[Stage]) -> int:
    """Receptive radius, in input pixels, of a chain of stages (an upper bound for any input).

    Walked back from the output: a conv adds its half kernel (in the pixels of its resolution),
    an enlargement by ``f`` divides the reach by ``f`` (rounded up), an unshuffle by ``r``
    multiplies it by ``r`` (tiles start on multiples of ``r``, see ``size_multiple``).

    >>> chain_radius([("conv", 1), ("conv", 1), ("up", 2), ("conv", 1)])
    3
    >>> chain_radius([("unshuffle", 2), ("conv", 1), ("up", 2), ("up", 2), ("conv", 1)])
    3
    """
    reach = 0
    for kind, n in reversed(list(stages)):
        if kind == "conv":
            reach += n
        elif kind == "up":
            reach = -(-reach // n)
        elif kind == "unshuffle":
            reach *= n
        else:
            raise ValueError(f"unknown stage {kind!r}")
    return reach


def upsample_stages(upsampler: str, factors: Iterable[int]) -> list[Stage]:
    """The stages of :func:`upconv` layers: pixel shuffle convolves before enlarging, nearest
    after, and a transposed conv of kernel ``k`` reaches ``k // 2`` output pixels."""
    out: list[Stage] = []
    for f in factors:
        if upsampler == "pixelshuffle":
            out += [("conv", 1), ("up", f)]
        elif upsampler == "nearest":
            out += [("up", f), ("conv", 1)]
        else:
            out += [("up", f), ("conv", {2: 4, 3: 5}[f] // 2)]
    return out


def upsample_factors(scale: int) -> list[int]:
    """Per-stage enlargement factors: 1 -> [], 2 -> [2], 3 -> [3], 4 -> [2, 2]."""
    factors = {1: [], 2: [2], 3: [3], 4: [2, 2]}
    if scale not in factors:
        raise ValueError(f"scale must be one of 1, 2, 3, 4, got {scale}")
    return list(factors[scale])


TAIL_SCALES: dict[str, tuple[int, ...]] = {
    "pixelshuffle": (1, 2, 3, 4),
    "nearest": (2, 3, 4),
    "deconv": (2, 3, 4),
}
"""Scales per upsampler of an output tail that is one conv and one pixel shuffle by the scale, or
:func:`upconv` stages of :func:`upsample_factors` and a last conv (SRVGGNetCompact, SPAN)."""


def tail_stages(upsampler: str, scale: int) -> list[Stage]:
    """The receptive-field stages of that tail (see :data:`TAIL_SCALES`)."""
    if upsampler == "pixelshuffle":
        return [("conv", 1), ("up", scale)]
    return [*upsample_stages(upsampler, upsample_factors(scale)), ("conv", 1)]


class ConvPixelShuffle(nn.Conv2d):
    """3x3 conv to ``out_ch * f * f`` channels, then pixel shuffle by ``f``.

    Parameters are the conv's own (``weight``, ``bias``), so state-dict keys stay flat
    (BasicSR's ``upconv1.weight``). Shape: ``(B, in, H, W) -> (B, out, H*f, W*f)``.
    """

    def __init__(self, in_ch: int, out_ch: int, factor: int) -> None:
        super().__init__(in_ch, out_ch * factor * factor, 3, 1, 1)
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return pixel_shuffle(super().forward(x), self.factor)


class NearestConv(nn.Conv2d):
    """Nearest-neighbour enlargement by ``f``, then a 3x3 conv (ESRGAN's ``conv_up1``).

    Shape: ``(B, in, H, W) -> (B, out, H*f, W*f)``.
    """

    def __init__(self, in_ch: int, out_ch: int, factor: int) -> None:
        super().__init__(in_ch, out_ch, 3, 1, 1)
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(interpolate(x, scale_factor=self.factor, mode="nearest"))


class Deconv(nn.ConvTranspose2d):
    """Transposed convolution enlarging exactly by ``f``.

    Factor 2 uses kernel 4, stride 2, padding 1; factor 3 uses kernel 5, stride 3, padding 1.
    Shape: ``(B, in, H, W) -> (B, out, H*f, W*f)``.
    """

    def __init__(self, in_ch: int, out_ch: int, factor: int) -> None:
        kernel = {2: 4, 3: 5}.get(factor)
        if kernel is None:
            raise ValueError(f"deconv upsampling supports factors 2 and 3, got {factor}")
        super().__init__(in_ch, out_ch, kernel, stride=factor, padding=1)
        self.factor = factor


def upconv(upsampler: str, in_ch: int, out_ch: int, factor: int) -> nn.Module:
    """One upsampling stage of kind ``upsampler`` (a member of :data:`UPSAMPLERS`).

    Args:
        upsampler: "pixelshuffle", "nearest" or "deconv".
        in_ch: input channels.
        out_ch: output channels.
        factor: spatial enlargement (2 or 3).

    Returns:
        A module with flat ``weight``/``bias`` mapping ``(B, in_ch, H, W) -> (B, out_ch, H*f, W*f)``.
    """
    if upsampler == "pixelshuffle":
        return ConvPixelShuffle(in_ch, out_ch, factor)
    if upsampler == "nearest":
        return NearestConv(in_ch, out_ch, factor)
    if upsampler == "deconv":
        return Deconv(in_ch, out_ch, factor)
    raise ValueError(f"upsampler must be one of {', '.join(UPSAMPLERS)}, got {upsampler!r}")


def check_choice(what: str, value: object, allowed: Iterable[object]) -> None:
    """Raise ``ValueError`` naming ``what`` unless ``value`` is in ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(str, allowed))}, got {value!r}")
