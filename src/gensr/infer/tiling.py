"""Seamless tiled upscaling: the whole image stays in host memory; only tiles go to the device.

Tiles overlap: each tile is run with ``overlap`` pixels of real image context on every side
that has a neighbour, and only its core is kept (the context is discarded, not blended). A
network whose receptive radius is at most ``overlap`` therefore gives exactly the untiled
result; deeper networks differ only by the tiny influence of pixels further away than
``overlap`` (measured in tests/infer/test_infer.py). Tiles start on the network's size multiple
(pixel-unshuffle networks), so their pixel grouping matches the untiled run.

This module runs the windows of a :class:`~gensr.infer.tuning.Plan` it is given: the window size,
overlap, batch and band rows are decided before (:func:`gensr.infer.tuning.make_plan`, for speed and
memory), and where the windows go is :mod:`gensr.infer.layout`. All tiles of a band run on windows
of one size, so they can be batched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from gensr.base.tensors import pad_reflect
from gensr.infer import layout
from gensr.infer.geometry import Geometry
from gensr.infer.layout import Box
from gensr.infer.tuning import Plan

MIN_TILE = 16
"""Smallest tile core (low-resolution pixels) the out-of-memory retry goes down to."""

_OOM: type[Exception] = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
"""Raised by a device allocator that ran out (``torch.OutOfMemoryError`` from PyTorch 2.5)."""

Progress = Callable[[int, int], None]
"""``progress(done_pixels, total_pixels)`` over the (padded) low-resolution image."""


def run_tiles(
    net: nn.Module,
    lr: torch.Tensor,
    geom: Geometry,
    plan: Plan,
    *,
    device: torch.device,
    dtype: torch.dtype,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Upscale ``lr`` tile by tile with a network prepared on ``device``/``dtype``
    (:func:`gensr.infer.devices.prepare_net`): :func:`iter_bands`, gathered into one tensor.

    Use it through :class:`gensr.infer.Upscaler` (or :func:`gensr.infer.tile_upscale`).

    Args:
        net: generator mapping (B, 3, h, w) -> (B, 3, h*scale, w*scale).
        lr: (B, 3, H, W) float32 in [0, 1], on the CPU.
        geom: the network's :class:`~gensr.infer.geometry.Geometry`.
        plan: windows, overlap, batch and band rows (:func:`gensr.infer.tuning.make_plan`).
        device: where the network runs.
        dtype: float32, bfloat16, or float16 (CUDA only).
        progress: called after each network call with (done, total) input pixels.

    Returns:
        sr: (B, 3, H*scale, W*scale) float32 in [0, 1] on the CPU.
    """
    out: torch.Tensor | None = None
    y = 0
    for band in iter_bands(net, lr, geom, plan, device=device, dtype=dtype, progress=progress):
        if out is None:
            out = torch.empty(*band.shape[:2], lr.shape[-2] * geom.scale, band.shape[-1])
        out[..., y : y + band.shape[-2], :] = band
        y += band.shape[-2]
    assert out is not None and y == out.shape[-2]
    return out  # (B, 3, H*s, W*s)


def iter_bands(
    net: nn.Module,
    lr: torch.Tensor,
    geom: Geometry,
    plan: Plan,
    *,
    device: torch.device,
    dtype: torch.dtype,
    progress: Progress | None = None,
) -> Iterator[torch.Tensor]:
    """Upscale ``lr`` tile by tile and yield the output as bands of full-width rows, top to bottom.

    Every tile runs on a window of one size (its core plus at least ``overlap`` of context on each
    side; windows spread evenly and neighbouring cores meet in the middle of their overlap), so
    the tiles of a band can be batched and the kernels set up for the first window serve them all.
    A band is one row of tiles (at most ``plan.band_rows`` input rows), finished: cropped to the image
    and clamped to [0, 1]. Only tiles visit the device, and the caller holds one band at a time,
    so a consumer that encodes each band (:func:`gensr.imageio.write_bands`) never holds the whole
    output. The one out-of-memory policy of gensr: a batch that raises ``torch.OutOfMemoryError``
    is retried one tile at a time, then with smaller windows, down to :data:`MIN_TILE` cores, and
    then the error propagates (callers report it for that input and go on with the next); any
    other error propagates at once. Non-finite outputs (fp16 overflow) raise ``FloatingPointError``.

    Args:
        net, lr, geom, plan, device, dtype, progress: as :func:`run_tiles`.

    Yields:
        (B, 3, rows, W*scale) float32 in [0, 1] on the CPU; the rows add up to H*scale.
    """
    h, w = lr.shape[-2:]
    m, scale, align, overlap = geom.size_multiple, geom.scale, geom.align, plan.overlap
    hp, wp = geom.padded(h, w)
    x = pad_reflect(lr.detach().float().cpu(), (0, wp - w, 0, hp - h))  # (B, C, Hp, Wp)
    win, batch = plan.window, plan.batch
    smallest = max(MIN_TILE, geom.min_size - 2 * overlap)  # windows never below the min size
    done = 0
    for (ya, yb, wy), wy_span in layout.bands(hp, win, overlap, m, plan.band_rows):
        band: torch.Tensor | None = None
        pending = [
            ((ya, yb, xa, xb), (wy, wy + wy_span, wx, wx + min(win, wp)))
            for xa, xb, wx in reversed(layout.spans(0, wp, wp, win, overlap, m))
        ]
        while pending:
            core, window = pending.pop()
            if max(window[1] - window[0], window[3] - window[2]) > win:
                pending.extend(reversed(layout.grid(*core, win, overlap, m, (hp, wp))))
                continue
            group = [(core, window)]
            while len(group) < batch and pending and layout.same_shape(pending[-1], group[0], win):
                group.append(pending.pop())
            oom = False
            try:
                pieces = _run_windows(net, x, group, scale, device, dtype)
            except _OOM:
                # halve the core, keep the context; give up when that no longer shrinks the window
                core_side = max(m, smallest, (min(win, max(hp, wp)) - 2 * overlap) // 2 // m * m)
                smaller = -(-(core_side + 2 * overlap) // align) * align
                if len(group) == 1 and smaller >= min(win, max(hp, wp)):
                    raise
                oom = True
            if oom:  # outside the except block, so the failed batch's tensors are freed
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                if len(group) > 1:
                    batch = 1
                else:
                    win = smaller
                pending.extend(reversed(group))
                continue
            for (y0, y1, x0, x1), piece in pieces:
                _check_finite(piece, dtype)
                if band is None:
                    band = torch.empty(x.shape[0], piece.shape[1], (yb - ya) * scale, wp * scale)
                dst = band[..., (y0 - ya) * scale : (y1 - ya) * scale, x0 * scale : x1 * scale]
                dst.copy_(piece).clamp_(0, 1)  # one pass: device -> host, dtype -> float32, clamp
                done += (y1 - y0) * (x1 - x0)
            del pieces, piece, dst  # nothing of this band outlives it (the caller holds one band)
            if progress is not None:
                progress(done, hp * wp)
        assert band is not None
        yield band[..., : (min(yb, h) - ya) * scale, : w * scale]  # (B, 3, rows, W*s)


def _run_windows(
    net: nn.Module,
    x: torch.Tensor,
    tiles: list[layout.Tile],
    scale: int,
    device: torch.device,
    dtype: torch.dtype,
) -> list[tuple[Box, torch.Tensor]]:
    """Run the tiles' windows as one batch; returns each core with its part of the output (views
    of the network's output, on ``device`` in ``dtype``)."""
    wins = [x[..., wy0:wy1, wx0:wx1] for _, (wy0, wy1, wx0, wx1) in tiles]
    t = wins[0] if len(wins) == 1 else torch.cat(wins)  # (k*B, C, wh, ww)
    layout = torch.channels_last if device.type == "cpu" else torch.preserve_format
    t = t.to(device=device, dtype=dtype, memory_format=layout)
    with torch.inference_mode():
        y = net(t)  # (k*B, 3, wh*s, ww*s)
    wh, ww = t.shape[-2:]
    if y.shape[-2:] != (wh * scale, ww * scale):
        raise ValueError(f"network output {tuple(y.shape[-2:])} is not {scale}x its input {(wh, ww)}")
    b = x.shape[0]
    pieces = []
    for i, ((y0, y1, x0, x1), (wy0, _, wx0, _)) in enumerate(tiles):
        crop = y[
            i * b : (i + 1) * b,
            :,
            (y0 - wy0) * scale : (y1 - wy0) * scale,
            (x0 - wx0) * scale : (x1 - wx0) * scale,
        ]
        pieces.append(((y0, y1, x0, x1), crop))
    return pieces


def _check_finite(piece: torch.Tensor, dtype: torch.dtype) -> None:
    """Raise ``FloatingPointError`` when a tile's output holds NaN or infinity (one cheap reduction)."""
    if not math.isfinite(float(piece.sum(dtype=torch.float32))):
        hint = (
            "the model's weights or input overflow float32"
            if dtype == torch.float32
            else "try --precision fp32"
        )
        raise FloatingPointError(f"the network produced non-finite values in {dtype}; {hint}")
