"""Inference: upscale :class:`~gensr.imageio.Image` objects with a generator on one device.

The pieces live in small modules and are re-exported here: :class:`Upscaler`
(:mod:`gensr.infer.upscaler`), devices and precisions (:mod:`gensr.infer.devices`), seamless tiling
(:mod:`gensr.infer.tiling`) and alpha (:mod:`gensr.infer.alpha`). Alpha is not run through the network
by default: see :mod:`gensr.infer.alpha` for why and how halos are avoided.
"""

from __future__ import annotations

from gensr.infer.alpha import fill_transparent, upscale_alpha
from gensr.infer.devices import (
    PRECISION_CHOICES,
    PRECISIONS,
    choose_precision,
    native_bf16,
    resolve_device,
    resolve_precision,
)
from gensr.infer.tiling import receptive_radius, size_multiple
from gensr.infer.tuning import auto_tile
from gensr.infer.upscaler import ALPHA_METHODS, Upscaler, tile_upscale
from gensr.padding import pad_to_multiple

__all__ = [
    "ALPHA_METHODS",
    "PRECISIONS",
    "PRECISION_CHOICES",
    "Upscaler",
    "auto_tile",
    "choose_precision",
    "fill_transparent",
    "native_bf16",
    "pad_to_multiple",
    "receptive_radius",
    "resolve_device",
    "resolve_precision",
    "size_multiple",
    "tile_upscale",
    "upscale_alpha",
]
