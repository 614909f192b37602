"""Inference: upscale :class:`~gensr.imageio.Image` objects with a generator on one device.

The pieces live in small modules, each importing only those before it:

- :mod:`gensr.infer.layout`: where the tile windows of an image go (pure arithmetic);
- :mod:`gensr.infer.geometry`: a network's :class:`Geometry` (scale, size multiple, receptive radius,
  default overlap), read once per loaded network;
- :mod:`gensr.infer.tuning`: the tile window, batch and bands for an image (:func:`make_plan`), timed once
  per machine on the CPU;
- :mod:`gensr.infer.tiling`: runs the windows of a plan;
- :mod:`gensr.infer.upscaler`: the :class:`Upscaler` (tiles, alpha, bands);

and beside them devices and precisions (:mod:`gensr.infer.devices`), alpha (:mod:`gensr.infer.alpha`;
not run through the network by default, see there for why), engines (:mod:`gensr.infer.engines`) and
video (:mod:`gensr.infer.video`).
"""

from __future__ import annotations

from gensr.base.tensors import pad_to_multiple
from gensr.infer.alpha import fill_transparent, upscale_alpha
from gensr.infer.devices import (
    PRECISION_CHOICES,
    PRECISIONS,
    choose_precision,
    native_bf16,
    resolve_device,
    resolve_precision,
)
from gensr.infer.geometry import Geometry, geometry_of, receptive_radius, size_multiple
from gensr.infer.tuning import Plan, auto_tile, make_plan
from gensr.infer.upscaler import ALPHA_METHODS, Upscaler, tile_upscale

__all__ = [
    "ALPHA_METHODS",
    "PRECISIONS",
    "PRECISION_CHOICES",
    "Geometry",
    "Plan",
    "Upscaler",
    "auto_tile",
    "choose_precision",
    "fill_transparent",
    "geometry_of",
    "native_bf16",
    "pad_to_multiple",
    "make_plan",
    "receptive_radius",
    "resolve_device",
    "resolve_precision",
    "size_multiple",
    "tile_upscale",
    "upscale_alpha",
]
