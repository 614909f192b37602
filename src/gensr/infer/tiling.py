"""Seamless tiled upscaling: the whole image stays in host memory; only tiles go to the device.

Tiles overlap: each tile is run with ``overlap`` pixels of real image context on every side
that has a neighbour, and only its core is kept (the context is discarded, not blended). A
network whose receptive radius is at most ``overlap`` therefore gives exactly the untiled
result; deeper networks differ only by the tiny influence of pixels further away than
``overlap`` (measured in tests/infer/test_infer.py). Tiles start on the network's size multiple
(pixel-unshuffle networks), so their pixel grouping matches the untiled run.

Tile size is chosen for speed (:func:`auto_tile`), not "the whole image when it fits": the
overlap is recomputed for every tile, so a tile should be large, but one network layer's
activation for the whole of a 12 MP output is 190 MiB (fp32), and on the CPU such allocations
page-fault on every layer. All tiles of a band run on windows of one size, so they can be batched.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

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
CPU_ACTIVATION_BYTES = 24 << 20
"""Largest single activation of an automatic CPU tile window. Larger windows waste less on overlap,
but glibc serves allocations over 32 MiB with fresh ``mmap`` pages, so every layer of a bigger
window pays page faults (the compact model's fp32 window of 356 px ran 2x the system time of
292 px and no faster; bf16 at 548 px ran 30 % slower than at 484 px, on a 2-core Xeon)."""
MIN_AUTO_TILE = 64
"""Smallest automatic tile core (input pixels): below it the overlap costs more than the tile."""
GPU_TILE = 512
"""Automatic tile core on GPUs (input pixels), batched up to :data:`MAX_BATCH` within memory."""
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
            :data:`WINDOW_ALIGN`); None = :func:`auto_tile`; 0 = the whole image in one piece.
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
        tile = auto_tile(net, hp, wp, scale=scale, overlap=overlap, device=device, dtype=dtype, notify=notify)
    win = max(hp, wp) if tile == 0 else -(-(max(m, tile // m * m) + 2 * overlap) // align) * align
    if batch is None:
        batch = 1 if device.type == "cpu" else _gpu_batch(net, win, scale=scale, device=device, dtype=dtype)
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


def auto_tile(
    net: nn.Module,
    h: int,
    w: int,
    *,
    scale: int,
    overlap: int,
    device: torch.device,
    dtype: torch.dtype,
    budget: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> int:
    """Tile core side for speed, within memory; the window is the core plus ``2 * overlap``.

    The network's largest activation per input pixel comes from a 32x32 probe (:func:`_bytes_per_px`).
    On the CPU the window is at most ``cap``, the largest multiple of 32 whose largest activation
    stays under :data:`CPU_ACTIVATION_BYTES` (and within memory); an image that fits is one window.
    Otherwise a few window sizes are timed on this CPU and network, once
    (:func:`gensr.infer.tuning.window_seconds`), and the window whose layout over this image
    (number of windows x CPU seconds per window) costs least is used; ``cap`` when the network is
    too slow to time. Tiles run one at a time on the CPU (at these windows, batches of 2 and 4 ran
    5-30 % slower per pixel on the 2-core Xeon, 1 and 2 threads, fp32 and bf16). On GPUs the core
    is :data:`GPU_TILE`, within 60 % of free memory (4 activations alive), and tiles are batched
    (:func:`iter_bands`). ``budget`` (bytes) lowers the memory allowed.

    Returns:
        The core side; at least ``max(h, w)`` when the image is one window.
    """
    m = size_multiple(net)
    smallest = _smallest_window(overlap, m)
    cap = window_cap(net, scale=scale, overlap=overlap, device=device, dtype=dtype, budget=budget)
    if max(h, w) <= cap:
        return max(h, w)  # one window: no overlap to recompute
    if device.type != "cpu":
        return cap - 2 * overlap
    from gensr.infer.tuning import window_seconds

    seconds = window_seconds(net, overlap=overlap, dtype=dtype, cap=cap, notify=notify)
    if not seconds:
        return cap - 2 * overlap

    align = math.lcm(WINDOW_ALIGN, m)
    fitted = {
        p: layout.fit_window(h, w, p, overlap=overlap, m=m, align=align) for p in seconds if p >= smallest
    }

    def cost(p: int) -> float:  # the image's windows, shrunk to fit, at the CPU seconds per pixel of p x p
        s = fitted[p]
        n = len(layout.spans(0, h, h, s, overlap, m)) * len(layout.spans(0, w, w, s, overlap, m))
        return n * seconds[p] * min(s, h) * min(s, w) / (p * p)

    best = min(fitted, key=cost, default=None)
    return (cap if best is None else fitted[best]) - 2 * overlap


def window_cap(
    net: nn.Module,
    *,
    scale: int,
    overlap: int,
    device: torch.device,
    dtype: torch.dtype,
    budget: float | None = None,
) -> int:
    """The largest automatic window (input pixels a side) for ``net`` on ``device``.

    CPU: the largest multiple of 32 whose largest activation stays under :data:`CPU_ACTIVATION_BYTES`;
    GPUs: :data:`GPU_TILE` plus the overlap; both within memory (``budget`` bytes lowers it).
    """
    m = size_multiple(net)
    align = math.lcm(WINDOW_ALIGN, m)
    bytes_per_px = _bytes_per_px(net, scale=scale, device=device, dtype=dtype)
    available = _memory_budget(device) if budget is None else min(budget, _memory_budget(device))
    memory = int(math.sqrt(available / (4 * bytes_per_px)))
    smallest = _smallest_window(overlap, m)
    if device.type != "cpu":
        return max(smallest, min(GPU_TILE + 2 * overlap, memory) // align * align)
    return max(smallest, min(int(math.sqrt(CPU_ACTIVATION_BYTES / bytes_per_px)), memory) // 32 * 32)


def _smallest_window(overlap: int, m: int) -> int:
    align = math.lcm(WINDOW_ALIGN, m)
    return -(-(2 * overlap + max(MIN_AUTO_TILE, 2 * align)) // align) * align


_PROBED: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, str, torch.dtype], float]] = (
    weakref.WeakKeyDictionary()
)
""":func:`_bytes_per_px` per network, so a folder of images probes each network once."""


def _bytes_per_px(net: nn.Module, *, scale: int, device: torch.device, dtype: torch.dtype) -> float:
    """Bytes of the network's largest single activation per input pixel (a 32x32 probe with hooks,
    once per network, scale, device and dtype)."""
    known = _PROBED.setdefault(net, {})
    key = (scale, str(device), dtype)
    if key not in known:
        known[key] = _probe_bytes_per_px(net, scale=scale, device=device, dtype=dtype)
    return known[key]


def _probe_bytes_per_px(net: nn.Module, *, scale: int, device: torch.device, dtype: torch.dtype) -> float:
    m = size_multiple(net)
    probe = max(32 // m, 1) * m
    largest = 0

    def hook(_mod: nn.Module, _inp: object, out: object) -> None:
        nonlocal largest
        if isinstance(out, torch.Tensor):
            largest = max(largest, out.numel())

    leaves = [mod for mod in net.modules() if not list(mod.children())]
    handles = [mod.register_forward_hook(hook) for mod in leaves]
    try:
        with torch.inference_mode():
            net(torch.zeros(1, 3, probe, probe, device=device, dtype=dtype))
    finally:
        for hd in handles:
            hd.remove()
    per_px = max(largest, 3 * scale * scale * probe * probe) / (probe * probe)  # elements per input pixel
    return per_px * torch.finfo(dtype).bits / 8


def _gpu_batch(net: nn.Module, win: int, *, scale: int, device: torch.device, dtype: torch.dtype) -> int:
    """Windows per call on a GPU: as many as fit 60 % of free memory (4 activations alive), at most 8."""
    per_window = 4 * _bytes_per_px(net, scale=scale, device=device, dtype=dtype) * win * win
    return int(max(1, min(MAX_BATCH, _memory_budget(device) // max(per_window, 1))))


def _memory_budget(device: torch.device) -> float:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return 0.6 * free
    available = 8 << 30
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    return min(0.5 * available, 4 << 30)
