"""Seamless tiled upscaling: the whole image stays in host memory; only tiles go to the device.

Tiles overlap: each tile is run with ``overlap`` pixels of real image context on every side
that has a neighbour. For a local network only its core is kept (the context is discarded, not
blended): a network whose receptive radius is at most ``overlap`` therefore gives exactly the
untiled result; deeper networks differ only by the tiny influence of pixels further away than
``overlap`` (measured in tests/infer/test_infer.py). A non-local network (attention windows,
image-wide pooling) sees a different image in every tile, so a cut would show; its tiles reach
``plan.blend`` pixels beyond their core and neighbours are mixed there with linear weights that add
up to one (:func:`ramp`), so the seam fades over ``2 * blend`` pixels. Tiles start on the network's
size multiple (pixel-unshuffle networks), so their pixel grouping matches the untiled run.

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
    win, batch, e = plan.window, plan.batch, plan.blend
    smallest = max(MIN_TILE, geom.min_size - 2 * overlap)  # windows never below the min size
    done = 0
    carry: torch.Tensor | None = None  # blending: the last band's bottom 2e rows, weighted, + weights
    for (ya, yb, wy), wy_span in layout.bands(hp, win, overlap, m, plan.band_rows):
        band: torch.Tensor | None = None
        top, bottom = (e if ya > 0 else 0), (e if yb < hp else 0)  # rows the tiles reach beyond the band
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
                pieces = _run_windows(net, x, group, scale, device, dtype, blend=e)
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
            for core, (y0, y1, x0, x1), piece in pieces:
                _check_finite(piece, dtype)
                if band is None:  # blending: one more channel, the sum of the weights
                    rows = (yb - ya + top + bottom) * scale
                    make = torch.zeros if e else torch.empty
                    band = make(x.shape[0], piece.shape[1] + bool(e), rows, wp * scale)
                dst = band[..., (y0 - ya + top) * scale : (y1 - ya + top) * scale, x0 * scale : x1 * scale]
                if e:
                    wy, wx = ramp(core[:2], (y0, y1), e, hp, scale), ramp(core[2:], (x0, x1), e, wp, scale)
                    wgt = wy[:, None] * wx  # (rows, cols)
                    dst[:, :-1].add_(piece.float().clamp(0, 1) * wgt)
                    dst[:, -1:].add_(wgt)
                else:
                    dst.copy_(piece).clamp_(0, 1)  # one pass: device -> host, dtype -> float32, clamp
                done += (core[1] - core[0]) * (core[3] - core[2])
            del pieces, piece, dst  # nothing of this band outlives it (the caller holds one band)
            if progress is not None:
                progress(done, hp * wp)
        assert band is not None
        if not e:
            yield band[..., : (min(yb, h) - ya) * scale, : w * scale]  # (B, 3, rows, W*s)
            continue
        if carry is not None:
            band[..., : carry.shape[-2], :] += carry
        end = yb - bottom  # the rows from yb - e on wait for the next band's tiles
        carry = band[..., (end - ya + top) * scale :, :].clone() if bottom else None
        rows = (min(end, h) - (ya - top)) * scale
        if rows > 0:
            part = band[..., :rows, : w * scale]
            yield part[:, :-1] / part[:, -1:]  # (B, 3, rows, W*s)


def ramp(core: tuple[int, int], box: tuple[int, int], e: int, length: int, scale: int) -> torch.Tensor:
    """Blending weights along one axis of a tile's output: ``(box[1] - box[0]) * scale`` values.

    The tile reaches ``e`` input pixels beyond each end of its ``core`` that is not the image border
    (``box``, clipped to its window). Its weight rises linearly over ``[core0 - e, core0 + e]`` and falls
    over ``[core1 - e, core1 + e]``, sampled at output pixel centres, so the weights of two tiles whose
    cores meet add up to exactly one across the seam.
    """
    (c0, c1), (b0, b1) = core, box
    p = (torch.arange(b0 * scale, b1 * scale, dtype=torch.float32) + 0.5) / scale  # input-pixel units
    w = torch.ones_like(p)
    if c0 > 0:
        w *= ((p - (c0 - e)) / (2 * e)).clamp_(0, 1)
    if c1 < length:
        w *= (((c1 + e) - p) / (2 * e)).clamp_(0, 1)
    return w


def _run_windows(
    net: nn.Module,
    x: torch.Tensor,
    tiles: list[layout.Tile],
    scale: int,
    device: torch.device,
    dtype: torch.dtype,
    *,
    blend: int = 0,
) -> list[tuple[Box, Box, torch.Tensor]]:
    """Run the tiles' windows as one batch; returns each core, the box kept (the core, or with
    ``blend`` the core reaching that far beyond each side with a neighbour, within its window) and
    that box's output (views of the network's output, on ``device`` in ``dtype``)."""
    wins = [x[..., wy0:wy1, wx0:wx1] for _, (wy0, wy1, wx0, wx1) in tiles]
    t = wins[0] if len(wins) == 1 else torch.cat(wins)  # (k*B, C, wh, ww)
    layout = torch.channels_last if device.type == "cpu" else torch.preserve_format
    t = t.to(device=device, dtype=dtype, memory_format=layout)
    with torch.inference_mode():
        y = net(t)  # (k*B, 3, wh*s, ww*s)
    wh, ww = t.shape[-2:]
    if y.shape[-2:] != (wh * scale, ww * scale):
        raise ValueError(f"network output {tuple(y.shape[-2:])} is not {scale}x its input {(wh, ww)}")
    b, (hp, wp) = x.shape[0], x.shape[-2:]
    pieces = []
    for i, (core, (wy0, wy1, wx0, wx1)) in enumerate(tiles):
        y0, y1, x0, x1 = core
        if blend:
            y0, y1 = max(wy0, y0 - blend) if y0 > 0 else y0, min(wy1, y1 + blend) if y1 < hp else y1
            x0, x1 = max(wx0, x0 - blend) if x0 > 0 else x0, min(wx1, x1 + blend) if x1 < wp else x1
        crop = y[
            i * b : (i + 1) * b,
            :,
            (y0 - wy0) * scale : (y1 - wy0) * scale,
            (x0 - wx0) * scale : (x1 - wx0) * scale,
        ]
        pieces.append((core, (y0, y1, x0, x1), crop))
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
