"""Seamless tiled upscaling: the whole image stays in host memory; only tiles go to the device.

Tiles overlap: each tile is run with ``overlap`` pixels of real image context on every side
that has a neighbour, and only its core is kept (the context is discarded, not blended). A
network whose receptive radius is at most ``overlap`` therefore gives exactly the untiled
result; deeper networks differ only by the tiny influence of pixels further away than
``overlap`` (measured in tests/test_infer.py). Tiles start on the network's size multiple
(pixel-unshuffle networks), so their pixel grouping matches the untiled run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

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
    progress: Progress | None = None,
) -> torch.Tensor:
    """Upscale ``lr`` tile by tile with a network :func:`prepare_net` has put on ``device``/``dtype``.

    The whole output in one tensor: :func:`iter_bands` with bands as tall as the tiles, gathered.
    Use it through :class:`gensr.infer.Upscaler` (or :func:`gensr.infer.tile_upscale`).

    Args:
        net: generator mapping (B, 3, h, w) -> (B, 3, h*scale, w*scale).
        lr: (B, 3, H, W) float32 in [0, 1], on the CPU.
        scale: the network's factor.
        tile: core tile side in input pixels; None = automatic (the whole image when it fits).
        overlap: context on each side in input pixels; None = :func:`default_overlap`.
        device: where the network runs.
        dtype: float32, bfloat16, or float16 (CUDA only).
        progress: called after each tile with (done, total) input pixels.

    Returns:
        sr: (B, 3, H*scale, W*scale) float32 in [0, 1] on the CPU.
    """
    out: torch.Tensor | None = None
    y = 0
    bands = iter_bands(
        net, lr, scale=scale, tile=tile, overlap=overlap, device=device, dtype=dtype, progress=progress
    )
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
    progress: Progress | None = None,
) -> Iterator[torch.Tensor]:
    """Upscale ``lr`` tile by tile and yield the output as bands of full-width rows, top to bottom.

    Each band is one row of tiles (``band_rows`` input rows, or the tile side), finished: cropped to
    the image and clamped to [0, 1]. Only tiles visit the device, and the caller holds one band at a
    time, so a consumer that encodes each band (:func:`gensr.imageio.write_bands`) never holds the
    whole output. The one out-of-memory policy of gensr: a tile that raises
    ``torch.OutOfMemoryError`` is retried as smaller tiles, down to :data:`MIN_TILE`, and then the
    error propagates (callers report it for that input and go on with the next); any other error
    propagates at once. Non-finite outputs (fp16 overflow) raise ``FloatingPointError``.

    Args:
        net, lr, scale, tile, overlap, device, dtype, progress: as :func:`run_tiles`.
        band_rows: input rows a band covers at most (rounded down to the size multiple); None = the
            tile side. Tiles are then ``band_rows`` x ``tile`` cores.

    Yields:
        (B, 3, rows, W*scale) float32 in [0, 1] on the CPU; the rows add up to H*scale.
    """
    h, w = lr.shape[-2:]
    m = size_multiple(net)
    overlap = _grid_overlap(net, overlap)
    x = pad_to_multiple(lr.detach().float().cpu(), m)  # (B, C, Hp, Wp)
    hp, wp = x.shape[-2:]
    if tile is None:
        tile = auto_tile(net, hp, wp, scale=scale, overlap=overlap, device=device, dtype=dtype)
    tile = max(m, tile // m * m)
    rows = tile if band_rows is None else max(m, min(tile, band_rows) // m * m)
    done = 0
    for ya, yb in itertools.pairwise(_cuts(0, hp, rows, m)):
        band: torch.Tensor | None = None
        pending = [(ya, yb, xa, xb) for xa, xb in reversed(list(itertools.pairwise(_cuts(0, wp, tile, m))))]
        while pending:
            core = pending.pop()
            if max(core[1] - core[0], core[3] - core[2]) > tile:
                pending.extend(reversed(_grid(*core, tile, m)))
                continue
            oom = False
            try:
                piece = _run_tile(net, x, core, overlap, scale, device, dtype)
            except _OOM:
                if tile <= max(m, MIN_TILE):
                    raise
                oom = True
            if oom:  # outside the except block, so the failed tile's tensors are freed
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                tile = max(m, MIN_TILE, tile // 2 // m * m)
                pending.append(core)
                continue
            if band is None:
                band = torch.empty(x.shape[0], piece.shape[1], (yb - ya) * scale, wp * scale)
            y0, y1, x0, x1 = core
            band[..., (y0 - ya) * scale : (y1 - ya) * scale, x0 * scale : x1 * scale] = piece
            del piece
            done += (y1 - y0) * (x1 - x0)
            if progress is not None:
                progress(done, hp * wp)
        assert band is not None
        yield band[..., : (min(yb, h) - ya) * scale, : w * scale].clamp_(0, 1)  # (B, 3, rows, W*s)


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
) -> tuple[int, int]:
    """``(tile, band_rows)`` for :func:`iter_bands` that keep host memory flat whatever the image size.

    A band's float32 output is at most :data:`BAND_BYTES`, and on devices that compute in host memory
    (CPU, MPS) an automatic tile's activations are at most :data:`HOST_TILE_BYTES`: the host holds the
    input, one tile's activations and one band, never the whole output. An explicit ``tile`` that covers
    the image (``--tile 0``) asks for one piece and gets it.

    Args:
        net: the prepared generator; h, w: input size; the rest as :func:`run_tiles`.
    """
    m = size_multiple(net)
    hp, wp = -(-h // m) * m, -(-w // m) * m
    if tile is not None and tile >= max(hp, wp):
        return tile, hp
    if tile is None:
        budget = HOST_TILE_BYTES if device.type in ("cpu", "mps") else None
        ov = _grid_overlap(net, overlap)
        tile = auto_tile(net, hp, wp, scale=scale, overlap=ov, device=device, dtype=dtype, budget=budget)
    tile = max(m, tile // m * m)
    rows = BAND_BYTES // (4 * 3 * scale * scale * wp)
    return tile, max(m, min(tile, rows) // m * m)


def _grid_overlap(net: nn.Module, overlap: int | None) -> int:
    """``overlap`` (None: :func:`default_overlap`) rounded up to the network's size multiple."""
    m = size_multiple(net)
    overlap = default_overlap(net) if overlap is None else overlap
    return -(-overlap // m) * m  # tiles must start on the network's grid


def _grid(y0: int, y1: int, x0: int, x1: int, tile: int, m: int) -> list[tuple[int, int, int, int]]:
    """Split a region into near-equal cores no larger than ``tile``, starting on multiples of ``m``."""
    ys, xs = _cuts(y0, y1, tile, m), _cuts(x0, x1, tile, m)
    return [(ya, yb, xa, xb) for ya, yb in itertools.pairwise(ys) for xa, xb in itertools.pairwise(xs)]


def _cuts(a: int, b: int, tile: int, m: int) -> list[int]:
    """Edges splitting ``[a, b)`` into near-equal parts no longer than ``tile``, on multiples of ``m``."""
    n = -(-(b - a) // tile)
    step = -(-(b - a) // n // m) * m if n > 1 else b - a
    return [*range(a, b, max(step, m)), b]


def _run_tile(
    net: nn.Module,
    x: torch.Tensor,
    core: tuple[int, int, int, int],
    overlap: int,
    scale: int,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Run one tile with its context and return the core of its output, float32 on the CPU."""
    y0, y1, x0, x1 = core
    hp, wp = x.shape[-2:]
    iy0, iy1, ix0, ix1 = (
        max(0, y0 - overlap),
        min(hp, y1 + overlap),
        max(0, x0 - overlap),
        min(wp, x1 + overlap),
    )
    t = x[..., iy0:iy1, ix0:ix1].to(device=device, dtype=dtype)
    if device.type == "cpu":
        t = t.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        y = net(t)  # (B, 3, th*s, tw*s)
    if y.shape[-2:] != ((iy1 - iy0) * scale, (ix1 - ix0) * scale):
        raise ValueError(
            f"network output {tuple(y.shape[-2:])} is not {scale}x its input {(iy1 - iy0, ix1 - ix0)}"
        )
    y = y[..., (y0 - iy0) * scale : (y1 - iy0) * scale, (x0 - ix0) * scale : (x1 - ix0) * scale]
    y = y.float().cpu()
    if not torch.isfinite(y).all():
        hint = (
            "the model's weights or input overflow float32"
            if dtype == torch.float32
            else "try --precision fp32"
        )
        raise FloatingPointError(f"the network produced non-finite values in {dtype}; {hint}")
    return y


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
) -> int:
    """Largest square tile core whose activations fit the memory budget.

    The activation memory per input pixel is measured by running a 32x32 probe with forward
    hooks (largest single activation, times 4 for tensors alive at once). The budget is 60 % of
    free CUDA memory, or on other devices half the available RAM up to 4 GiB; ``budget`` (bytes)
    lowers it. An image that fits gets one tile (the returned side covers it).
    """
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
    bytes_per_px = 4 * max(largest, 3 * scale * scale * probe * probe) / (probe * probe)
    bytes_per_px *= torch.finfo(dtype).bits / 8
    available = _memory_budget(device) if budget is None else min(budget, _memory_budget(device))
    side = int(math.sqrt(available / bytes_per_px)) - 2 * overlap
    if side >= max(h, w):
        return max(h, w)
    return max(m, MIN_TILE, side // m * m)


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
