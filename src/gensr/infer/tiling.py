"""Seamless tiled upscaling: the whole image stays in host memory; only tiles go to the device.

Tiles overlap: each tile is run with ``overlap`` pixels of real image context on every side
that has a neighbour, and only its core is kept (the context is discarded, not blended). A
network whose receptive radius is at most ``overlap`` therefore gives exactly the untiled
result; deeper networks differ only by the tiny influence of pixels further away than
``overlap`` (measured in tests/infer/test_infer.py). Tiles start on the network's size multiple
(pixel-unshuffle networks), so their pixel grouping matches the untiled run.

Tile size is chosen for speed (:func:`gensr.infer.tuning.auto_tile`), not "the whole image when it fits": the
overlap is recomputed for every tile, so a tile should be large, but one network layer's
activation for the whole of a 12 MP output is 190 MiB (fp32), and on the CPU such allocations
page-fault on every layer. All tiles of a band run on windows of one size, so they can be batched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from gensr.infer import layout
from gensr.infer.layout import Box
from gensr.padding import pad_to_multiple

MAX_AUTO_OVERLAP = 32
"""Cap of the automatic overlap (low-resolution pixels) for very deep networks."""
MIN_TILE = 16
"""Smallest tile core (low-resolution pixels) the out-of-memory retry goes down to."""
BAND_BYTES = 128 << 20
"""Largest float32 output band :func:`band_plan` lets the host hold (128 MiB: at x4, 349 input rows of
a 2000-pixel-wide input; inputs up to 1165 pixels wide are one band)."""
HOST_TILE_BYTES = 512 << 20
"""Largest activation memory of an automatic tile computed in host memory, for :func:`band_plan`."""
MAX_BATCH = 8
"""Most tiles run in one network call."""
WINDOW_ALIGN = 8
"""Tile windows are a multiple of this many pixels (more context, never less); automatic ones of 32.
oneDNN's bf16 (AMX) convolutions ran some widths 20-30 % slower per pixel than their neighbours
(376, 439, 443, 445 px; measured on the 2-core Xeon), so every tile of an image uses the one
window size chosen, never the leftovers of an even split."""

_OOM: type[Exception] = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
"""Raised by a device allocator that ran out (``torch.OutOfMemoryError`` from PyTorch 2.5)."""

Progress = Callable[[int, int], None]
"""``progress(done_pixels, total_pixels)`` over the (padded) low-resolution image."""


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


def run_tiles(
    net: nn.Module,
    lr: torch.Tensor,
    *,
    scale: int,
    tile: int | None,
    overlap: int | None,
    device: torch.device,
    dtype: torch.dtype,
    batch: int | None = None,
    progress: Progress | None = None,
    notify: Callable[[str], None] | None = None,
) -> torch.Tensor:
    """Upscale ``lr`` tile by tile with a network :func:`prepare_net` has put on ``device``/``dtype``.

    The whole output in one tensor: :func:`iter_bands` with bands as tall as the tiles, gathered.
    Use it through :class:`gensr.infer.Upscaler` (or :func:`gensr.infer.tile_upscale`).

    Args:
        net: generator mapping (B, 3, h, w) -> (B, 3, h*scale, w*scale).
        lr: (B, 3, H, W) float32 in [0, 1], on the CPU.
        scale: the network's factor.
        tile: tile core side in input pixels (the window is ``tile + 2 * overlap``, rounded up to
            :data:`WINDOW_ALIGN`); None = :func:`gensr.infer.tuning.auto_tile`; 0 = the whole image
            in one piece.
        overlap: context on each side in input pixels; None = :func:`default_overlap`.
        device: where the network runs.
        dtype: float32, bfloat16, or float16 (CUDA only).
        batch: tiles per network call; None = 1 on the CPU, as many as fit (up to :data:`MAX_BATCH`)
            on GPUs.
        progress: called after each network call with (done, total) input pixels.
        notify: told (one line) when tile windows are timed for this machine, once.

    Returns:
        sr: (B, 3, H*scale, W*scale) float32 in [0, 1] on the CPU.
    """
    out: torch.Tensor | None = None
    y = 0
    bands = iter_bands(
        net, lr, scale=scale, tile=tile, overlap=overlap, device=device, dtype=dtype, batch=batch,
        progress=progress, notify=notify,
    )  # fmt: skip
    for band in bands:
        if out is None:
            out = torch.empty(*band.shape[:2], lr.shape[-2] * scale, band.shape[-1])
        out[..., y : y + band.shape[-2], :] = band
        y += band.shape[-2]
    assert out is not None and y == out.shape[-2]
    return out  # (B, 3, H*s, W*s)


def iter_bands(
    net: nn.Module,
    lr: torch.Tensor,
    *,
    scale: int,
    tile: int | None,
    overlap: int | None,
    device: torch.device,
    dtype: torch.dtype,
    band_rows: int | None = None,
    batch: int | None = None,
    progress: Progress | None = None,
    notify: Callable[[str], None] | None = None,
) -> Iterator[torch.Tensor]:
    """Upscale ``lr`` tile by tile and yield the output as bands of full-width rows, top to bottom.

    Every tile runs on a window of one size (its core plus at least ``overlap`` of context on each
    side; windows spread evenly and neighbouring cores meet in the middle of their overlap), so
    the tiles of a band can be batched and the kernels set up for the first window serve them all.
    A band is one row of tiles (at most ``band_rows`` input rows), finished: cropped to the image
    and clamped to [0, 1]. Only tiles visit the device, and the caller holds one band at a time,
    so a consumer that encodes each band (:func:`gensr.imageio.write_bands`) never holds the whole
    output. The one out-of-memory policy of gensr: a batch that raises ``torch.OutOfMemoryError``
    is retried one tile at a time, then with smaller windows, down to :data:`MIN_TILE` cores, and
    then the error propagates (callers report it for that input and go on with the next); any
    other error propagates at once. Non-finite outputs (fp16 overflow) raise ``FloatingPointError``.

    Args:
        net, lr, scale, tile, overlap, device, dtype, batch, progress, notify: as :func:`run_tiles`.
        band_rows: input rows a band covers at most (rounded down to the size multiple); None = a
            row of windows.

    Yields:
        (B, 3, rows, W*scale) float32 in [0, 1] on the CPU; the rows add up to H*scale.
    """
    h, w = lr.shape[-2:]
    m = size_multiple(net)
    overlap = _grid_overlap(net, overlap)
    x = pad_to_multiple(lr.detach().float().cpu(), m)  # (B, C, Hp, Wp)
    hp, wp = x.shape[-2:]
    align = math.lcm(WINDOW_ALIGN, m)
    if tile is None:
        from gensr.infer.tuning import auto_tile

        tile = auto_tile(net, hp, wp, scale=scale, overlap=overlap, device=device, dtype=dtype, notify=notify)
    win = max(hp, wp) if tile == 0 else -(-(max(m, tile // m * m) + 2 * overlap) // align) * align
    if batch is None:
        from gensr.infer.tuning import gpu_batch

        batch = 1 if device.type == "cpu" else gpu_batch(net, win, scale=scale, device=device, dtype=dtype)
    batch = max(1, batch)
    rows = None if band_rows is None else max(m, band_rows // m * m)
    done = 0
    for (ya, yb, wy), wy_span in layout.bands(hp, win, overlap, m, rows):
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
                core_side = max(m, MIN_TILE, (min(win, max(hp, wp)) - 2 * overlap) // 2 // m * m)
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


def band_plan(
    net: nn.Module,
    h: int,
    w: int,
    *,
    scale: int,
    tile: int | None,
    overlap: int | None,
    device: torch.device,
    dtype: torch.dtype,
    notify: Callable[[str], None] | None = None,
) -> tuple[int, int]:
    """``(tile, band_rows)`` for :func:`iter_bands` that keep host memory flat whatever the image size.

    A band's float32 output is at most :data:`BAND_BYTES`, and on devices that compute in host memory
    (CPU, MPS) an automatic tile's activations are at most :data:`HOST_TILE_BYTES`: the host holds the
    input, one tile's activations and one band, never the whole output. An explicit ``tile`` that covers
    the image, or 0 (``--tile 0``), asks for one piece and gets it.

    Args:
        net: the prepared generator; h, w: input size; the rest as :func:`run_tiles`.
    """
    m = size_multiple(net)
    hp, wp = -(-h // m) * m, -(-w // m) * m
    if tile is not None and (tile == 0 or tile >= max(hp, wp)):
        return tile, hp
    if tile is None:
        budget = HOST_TILE_BYTES if device.type in ("cpu", "mps") else None
        from gensr.infer.tuning import auto_tile

        ov = _grid_overlap(net, overlap)
        tile = auto_tile(
            net, hp, wp, scale=scale, overlap=ov, device=device, dtype=dtype, budget=budget, notify=notify
        )
    tile = max(m, tile // m * m)
    rows = min(hp, BAND_BYTES // (4 * 3 * scale * scale * wp))  # a band is a row of windows when it fits
    return tile, max(m, rows // m * m)


def _grid_overlap(net: nn.Module, overlap: int | None) -> int:
    """``overlap`` (None: :func:`default_overlap`) rounded up to the network's size multiple."""
    m = size_multiple(net)
    overlap = default_overlap(net) if overlap is None else overlap
    return -(-overlap // m) * m  # tiles must start on the network's grid


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


def prepare_net(net: nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """Put ``net`` in eval mode on ``device`` in ``dtype`` (in place); channels-last on the CPU."""
    net.eval()
    p = next(net.parameters(), None)
    if p is not None and (p.device != device or p.dtype != dtype):
        net.to(device=device, dtype=dtype)
    if device.type == "cpu":
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
