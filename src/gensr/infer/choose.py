"""How a model runs, decided in one place for ``gensr upscale`` and ``gensr serve``: precision, engine, tile.

Both commands call :func:`load_upscaler` with what their user asked for (``auto`` and an automatic
tile by default), so one picture gives the same bytes through either, at the same speed:

- precision ``auto``: bf16 where the device computes it natively, else fp32
  (:func:`gensr.infer.devices.choose_precision`); fp32 for the onnxruntime engine and ONNX files,
  which run fp32;
- engine ``auto``: onnxruntime where it was measured faster on this CPU, else torch
  (:func:`gensr.infer.engines.choose_engine`, measured once per machine);
- tile ``None``: windows timed once for this machine, network and precision
  (:func:`gensr.infer.tuning.auto_tile`); progress is reported per tile whatever the tile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from gensr.infer.devices import choose_precision
from gensr.infer.engines import load_network
from gensr.infer.upscaler import Upscaler


@dataclass(frozen=True)
class Loaded:
    """A model ready to upscale, and what was decided for it."""

    upscaler: Upscaler
    name: str
    """The model's display name (a built-in name or the file name)."""


def load_upscaler(
    model: str | Path | None,
    *,
    device: torch.device,
    precision: str = "auto",
    engine: str = "auto",
    tile: int | None = None,
    overlap: int | None = None,
    alpha: str = "bicubic",
    say: Callable[[str], None] | None = None,
) -> Loaded:
    """Load ``model`` as an :class:`~gensr.infer.Upscaler` on ``device``: precision, engine, tile chosen here.

    Args:
        model: a built-in model name, a model file or a gensr ONNX export; None = the default model.
        device: where it runs.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (see the module).
        engine: ``auto``, ``torch`` or ``onnxruntime``.
        tile: tile side in input pixels; None = timed for this machine; 0 = the whole image.
        overlap: tile context in input pixels; None = from the network's depth.
        alpha: ``bicubic`` or ``net``.
        say: told (one line each) why a precision was not used, about an engine measurement and
            about tile timing; None: silent.

    Raises:
        ValueError: unknown or unavailable precision (``EngineError``, a ``ValueError``, for engines).
        Exception: whatever finding or loading the model raises (the caller names the model).
    """
    if precision == "auto" and (engine == "onnxruntime" or str(model).lower().endswith(".onnx")):
        precision = "fp32"  # what the onnxruntime engine runs
    dtype, note = choose_precision(precision, device)
    if note and say is not None:
        say(f"gensr: {note}")
    net, scale, name = load_network(None if model is None else str(model), engine, device, dtype, say)
    up = Upscaler(
        net, scale=scale, device=device, precision=dtype, tile=tile, overlap=overlap, alpha=alpha, notify=say
    )
    if up.precision_note and say is not None and precision != "auto":  # a model that cannot run it (spandrel)
        say(f"gensr: {up.precision_note}")
    return Loaded(up, name)
