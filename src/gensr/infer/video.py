"""Upscaling a video: its frames batched through an :class:`Upscaler`, written with the source's timing.

Frames of one video share a size, so the tile and the batch are chosen once per video: small frames go
through the network several at a time (up to :data:`PIXELS_PER_CALL` input pixels and
:data:`MAX_FRAMES_PER_CALL` frames per call, within the memory budget that sizes tiles), frames too
large for that budget go one at a time in tiles, exactly as images do. Decoding, timing, colour, audio
and the atomic write are :mod:`gensr.imageio.video` and :mod:`gensr.imageio.video_write`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gensr.imageio.video import Frames, VideoReader
from gensr.imageio.video_write import EncodeOptions, write_video
from gensr.infer.tuning import auto_tile, window_cap
from gensr.infer.upscaler import Upscaler

MAX_FRAMES_PER_CALL = 8
"""Most frames per network call."""
PIXELS_PER_CALL = 1 << 18
"""Input pixels per network call up to which small frames are batched (512x512); larger frames gain
nothing from batching on a CPU and little on a GPU."""

FrameProgress = Callable[[int, int], None]
"""``progress(done_frames, total_frames)``; the total is the container's count or an estimate."""


@dataclass(frozen=True)
class VideoResult:
    """What :func:`upscale_video` did."""

    frames: int
    width: int
    height: int
    out_width: int
    out_height: int
    batch: int
    """Frames per network call."""
    tile: int
    """Tile side in input pixels (at least the frame's longer side when frames were not tiled)."""
    seconds: float


def frames_per_batch(up: Upscaler, height: int, width: int) -> tuple[int, int]:
    """``(frames per network call, tile side)`` for frames of ``height`` x ``width`` input pixels.

    A tile given to the :class:`Upscaler` is kept; frames are batched only when it covers them.
    """
    geom = up.geometry
    o = geom.grid_overlap(up.overlap)
    side = max(height, width)
    if up.tile is None:
        tile = auto_tile(up.net, geom, height, width, overlap=o, device=up.device, dtype=up.dtype)
    else:
        tile = up.tile
    if tile < side:
        return 1, tile
    if up.tile is None:
        cap = window_cap(up.net, geom, overlap=o, device=up.device, dtype=up.dtype)
        budget = min(PIXELS_PER_CALL, cap * cap)  # a call's pixels: no more than the largest tile window
    else:
        budget = PIXELS_PER_CALL
    return max(1, min(MAX_FRAMES_PER_CALL, budget // (height * width))), tile


def upscale_video(
    up: Upscaler,
    src: str | Path,
    dst: str | Path,
    *,
    options: EncodeOptions | None = None,
    overwrite: bool = False,
    progress: FrameProgress | None = None,
    say: Callable[[str], None] | None = None,
) -> VideoResult:
    """Upscale every frame of the video ``src`` into ``dst`` (written atomically).

    Frame timestamps, audio and subtitles (copied), rotation, colour tags and metadata are kept; see
    :mod:`gensr.imageio.video` for the rules and :func:`~gensr.imageio.video_write.write_video` for the
    encoding ``options``.

    Raises:
        VideoError: ``src`` cannot be decoded or ``dst`` cannot be encoded.
        FileExistsError: ``dst`` exists and ``overwrite`` is false.
        ValueError: a bad codec, crf or preset for ``dst``'s container.
        RuntimeError: the device ran out of memory even at the smallest tile.
    """
    t0 = time.perf_counter()
    with VideoReader(src) as video:
        info = video.info
        batch, tile = frames_per_batch(up, info.height, info.width)
        runner = Upscaler(
            up.net, scale=up.scale, device=up.device, precision=up.dtype, tile=tile, overlap=up.overlap
        )
        done = 0

        def upscaled() -> Iterator[Frames]:
            nonlocal done
            for frames in video.batches(batch):
                sr = runner.upscale_tensor(frames.rgb)  # (B, 3, H*s, W*s)
                done += len(frames)
                if progress is not None:
                    progress(done, max(info.frames, done))
                yield frames.replace(rgb=sr)

        write_video(dst, upscaled(), source=video, options=options, overwrite=overwrite, say=say)
    return VideoResult(
        frames=done,
        width=info.width,
        height=info.height,
        out_width=info.width * up.scale,
        out_height=info.height * up.scale,
        batch=batch,
        tile=tile,
        seconds=time.perf_counter() - t0,
    )
