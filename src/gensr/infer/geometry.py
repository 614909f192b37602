"""What tiling needs to know about a network, read once when it is loaded: a :class:`Geometry`.

Every gensr generator declares its geometry (``size_multiple``, ``receptive_radius`` attributes, the
scale in ``hparams``; third-party networks also ``min_size``, ``square`` and ``local``); an ONNX
export carries it in its metadata (:class:`gensr.infer.engines.OnnxNet` sets ``geometry``); a module
gensr knows nothing about gets a size multiple of 1 and the receptive radius :func:`conv_radius`
bounds. :mod:`gensr.infer.tuning` and :mod:`gensr.infer.tiling` read the
:class:`Geometry`, never the network's attributes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

MAX_AUTO_OVERLAP = 32
"""Cap of the automatic overlap (low-resolution pixels) for very deep networks."""
WINDOW_ALIGN = 8
"""Tile windows are a multiple of this many pixels (more context, never less); automatic ones of 32.
oneDNN's bf16 (AMX) convolutions ran some widths 20-30 % slower per pixel than their neighbours
(376, 439, 443, 445 px; measured on the 2-core Xeon), so every tile of an image uses the one
window size chosen, never the leftovers of an even split."""


@dataclass(frozen=True)
class Geometry:
    """The shape of a network's work, in input (low-resolution) pixels.

    Attributes:
        scale: the integer factor; an ``h`` x ``w`` input gives ``h*scale`` x ``w*scale``.
        size_multiple: input sides must be multiples of this (4 for a pixel-unshuffle-by-4 net).
        receptive_radius: input pixels an output pixel depends on, each way.
        overlap: the default tile context: the receptive radius, at most :data:`MAX_AUTO_OVERLAP`.
        min_size: the smallest input side the network accepts (inputs are padded up to it).
        square: the network takes square inputs only (inputs are padded to a square).
        local: an output pixel depends on ``receptive_radius`` input pixels at most (convolutions only),
            so tiles with that overlap equal the whole-image run and are cut; False for attention,
            image-wide pooling or normalisation (a tile cannot see the whole image): tiles are blended
            (:mod:`gensr.infer.seams`).
    """

    scale: int
    size_multiple: int = 1
    receptive_radius: int = 0
    overlap: int = 0
    min_size: int = 1
    square: bool = False
    local: bool = True

    def __post_init__(self) -> None:
        for name in ("scale", "size_multiple", "min_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"geometry: {name} must be >= 1, got {getattr(self, name)}")
        if self.receptive_radius < 0 or self.overlap < 0:
            raise ValueError("geometry: receptive_radius and overlap must be >= 0")

    @property
    def align(self) -> int:
        """Window sides are multiples of this: :data:`WINDOW_ALIGN` and the size multiple."""
        return math.lcm(WINDOW_ALIGN, self.size_multiple)

    def window(self, core: int, overlap: int) -> int:
        """The side of the window run for a ``core``-px tile core with ``overlap`` of context each side:
        a multiple of :attr:`align`, at least :attr:`min_size`."""
        return max(-(-(core + 2 * overlap) // self.align) * self.align, self.min_window)

    @property
    def min_window(self) -> int:
        """The smallest window side: :attr:`min_size` rounded up to :attr:`align`."""
        return -(-self.min_size // self.align) * self.align

    def grid_overlap(self, overlap: int | None) -> int:
        """``overlap`` (None: :attr:`overlap`) rounded up to the size multiple (tiles start on its grid)."""
        m = self.size_multiple
        return -(-(self.overlap if overlap is None else overlap) // m) * m

    def padded(self, h: int, w: int) -> tuple[int, int]:
        """The input size the network runs on for an ``h`` x ``w`` image: up to the size multiple,
        at least :attr:`min_size`, square when :attr:`square`."""
        m = self.size_multiple
        hp, wp = (-(-max(n, self.min_size) // m) * m for n in (h, w))
        return (max(hp, wp), max(hp, wp)) if self.square else (hp, wp)


def geometry_of(net: nn.Module, scale: int | None = None) -> Geometry:
    """The :class:`Geometry` of ``net``: its own ``geometry`` attribute when it has one, else read from
    its declared ``size_multiple``, ``receptive_radius`` and scale (``scale``, else ``hparams["scale"]``
    or ``net.scale``).

    Raises:
        ValueError: the scale is unknown.
    """
    declared = getattr(net, "geometry", None)
    if isinstance(declared, Geometry) and scale in (None, declared.scale):
        return declared
    if scale is None:
        scale = int(getattr(net, "hparams", {}).get("scale", getattr(net, "scale", 0)))
    if scale < 1:
        raise ValueError("scale unknown: pass scale= for a network without hparams['scale']")
    radius = receptive_radius(net)
    return Geometry(
        scale=scale,
        size_multiple=size_multiple(net),
        receptive_radius=radius,
        overlap=min(radius, MAX_AUTO_OVERLAP),
        min_size=int(getattr(net, "min_size", 1)),
        square=bool(getattr(net, "square", False)),
        local=bool(getattr(net, "local", True)),
    )


def size_multiple(net: nn.Module) -> int:
    """Input side multiple a network needs (e.g. 4 for a pixel-unshuffle-by-4 net).

    Every gensr generator declares it (``net.size_multiple``); other modules count as 1.
    """
    return int(getattr(net, "size_multiple", 1))


def receptive_radius(net: nn.Module) -> int:
    """Input pixels an output pixel depends on, each way.

    Every gensr generator declares it (``net.receptive_radius``, from its hyperparameters);
    other modules get :func:`conv_radius`.
    """
    declared = getattr(net, "receptive_radius", None)
    return int(declared) if declared is not None else conv_radius(net)


def conv_radius(net: nn.Module) -> int:
    """Upper bound of the receptive radius of a module gensr knows nothing about, in input
    pixels: the sum of every conv's half kernel.

    Exact for a plain chain of convolutions at input resolution; an over-estimate for convs
    after upsampling (their reach in input pixels is smaller) and for skip connections.
    """
    r = 0
    for m in net.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            k, d = m.kernel_size, m.dilation
            r += max((kk // 2) * dd for kk, dd in zip(k, d, strict=True))
    return r


def default_overlap(net: nn.Module) -> int:
    """Overlap (input pixels) for ``net``: its receptive radius, at most :data:`MAX_AUTO_OVERLAP`."""
    return min(receptive_radius(net), MAX_AUTO_OVERLAP)
