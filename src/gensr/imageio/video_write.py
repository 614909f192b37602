"""Writing videos with PyAV: frames encoded, the source's other streams copied, the file written atomically.

:func:`write_video` takes :class:`~gensr.imageio.video.Frames` batches (those of a
:class:`~gensr.imageio.video.VideoReader`, upscaled or not) and the reader they came from; what it keeps
from the source is listed in :mod:`gensr.imageio.video`.

Codecs (``codec``): ``h264`` (libx264, the default for MP4, MOV and MKV), ``h265`` (libx265), ``vp9``
(libvpx-vp9, the default for WebM), ``av1`` (SVT-AV1) and ``gif`` (ffmpeg's GIF encoder, a palette made
for each frame by palettegen/paletteuse). Video is written as 8-bit 4:2:0 (``yuv420p``).
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from gensr.base.atomic import atomic_write
from gensr.imageio.video import (
    CONTAINERS,
    RANGE_LIMITED,
    VIDEO_EXTENSIONS,
    Frames,
    VideoError,
    VideoReader,
    error_reason,
    load_av,
)
from gensr.imageio.video_copy import StreamCopier, copy_container_metadata, copy_stream_tags

CODECS: dict[str, str] = {
    "h264": "libx264",
    "h265": "libx265",
    "vp9": "libvpx-vp9",
    "av1": "libsvtav1",
    "gif": "gif",
}
"""``codec`` names -> ffmpeg encoders."""

DEFAULT_CODEC = {"mp4": "h264", "mov": "h264", "matroska": "h264", "webm": "vp9", "gif": "gif"}
DEFAULT_CRF = {"h264": 18, "h265": 20, "vp9": 24, "av1": 28}
"""Constant-quality defaults: visually close to the source at each encoder's own scale."""
CRF_RANGE = {"h264": 51, "h265": 51, "vp9": 63, "av1": 63}
X26X_PRESETS = tuple("ultrafast superfast veryfast faster fast medium slow slower veryslow".split())
_NUMERIC_PRESETS = {"vp9": ("cpu-used", 0, 8, 4), "av1": ("preset", 0, 13, 8)}  # option, min, max, default


@dataclass(frozen=True)
class EncodeOptions:
    """How :func:`write_video` encodes the video stream."""

    codec: str | None = None
    """``h264``, ``h265``, ``vp9``, ``av1`` or ``gif``; None: the container's default (see the module)."""
    crf: int | None = None
    """Constant quality (lower is better); None: :data:`DEFAULT_CRF` for the codec. GIF ignores it."""
    preset: str | None = None
    """Speed/size trade-off: x264/x265 ``ultrafast`` .. ``veryslow`` (default ``medium``); VP9
    ``cpu-used`` 0..8 (default 4); AV1 SVT preset 0..13 (default 8). GIF ignores it."""


def container_of(path: str | Path) -> str:
    """The ffmpeg muxer for a video file name.

    Raises:
        ValueError: not a video extension.
    """
    fmt = CONTAINERS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: not a video file name (use one of {', '.join(VIDEO_EXTENSIONS)})")
    return fmt


def resolve_encoding(container: str, options: EncodeOptions) -> tuple[str, dict[str, str]]:
    """``(codec name, encoder options)`` for a container, checked.

    Raises:
        ValueError: unknown codec, one the container cannot hold, or a crf/preset out of range.
    """
    codec = options.codec or DEFAULT_CODEC[container]
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r} (use one of {', '.join(CODECS)})")
    ext = next(e for e, c in CONTAINERS.items() if c == container)
    if (codec == "gif") != (container == "gif") or (container == "webm" and codec not in ("vp9", "av1")):
        fits = "gif" if container == "gif" else "vp9, av1" if container == "webm" else "h264, h265, vp9, av1"
        raise ValueError(f"{ext} files take {fits}, not {codec}")
    if codec == "gif":
        return codec, {}  # no quality settings: each frame gets its own palette
    crf = DEFAULT_CRF[codec] if options.crf is None else options.crf
    if not 0 <= crf <= CRF_RANGE[codec]:
        raise ValueError(f"crf for {codec} must be in 0..{CRF_RANGE[codec]}, got {crf}")
    opts = {"crf": str(crf)}
    if codec in ("h264", "h265"):
        preset = options.preset or "medium"
        if preset not in X26X_PRESETS:
            raise ValueError(f"{codec} preset must be one of {', '.join(X26X_PRESETS)}, got {preset!r}")
        opts["preset"] = preset
        if codec == "h265":
            opts["x265-params"] = "log-level=error"
    else:
        name, lo, hi, default = _NUMERIC_PRESETS[codec]
        preset = options.preset or str(default)
        if not preset.isdigit() or not lo <= int(preset) <= hi:
            raise ValueError(f"{codec} preset must be a number in {lo}..{hi}, got {preset!r}")
        opts[name] = preset
        if codec == "vp9":
            opts.update({"b": "0", "row-mt": "1", "deadline": "good"})
    return codec, opts


def write_video(
    path: str | Path,
    frames: Iterable[Frames],
    *,
    source: VideoReader,
    options: EncodeOptions | None = None,
    overwrite: bool = False,
    say: Callable[[str], None] | None = None,
) -> None:
    """Encode ``frames`` into a new video file and copy ``source``'s other streams into it.

    The container comes from the extension (:data:`CONTAINERS`). The file is written atomically: a
    temporary ``.part`` file in the destination folder is renamed into place only when everything is
    written, and removed on any error or interrupt. Odd frame sides are padded by repeating the last
    row/column (4:2:0 video needs even sides).

    Args:
        path: destination; its folder is created.
        frames: batches with the timestamps of ``source`` (the output of :meth:`VideoReader.batches`,
            upscaled or not); all frames must have one size.
        source: the video the frames came from (timing, colour, rotation, metadata, audio, subtitles).
        options: codec, crf and preset.
        overwrite: replace an existing file (otherwise ``FileExistsError``).
        say: receives one-line notices (streams re-encoded or dropped); None: silent.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: bad extension, codec, crf or preset.
        VideoError: ffmpeg failed to encode or mux.
    """
    path = Path(path)
    container = container_of(path)
    codec, codec_opts = resolve_encoding(container, options or EncodeOptions())
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(errno.EEXIST, "already exists (not overwritten)", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)

    ffmpeg_error = load_av().FFmpegError

    def encode(f: BinaryIO) -> None:
        try:
            _Encoder(f, container, codec, codec_opts, source, say or (lambda _m: None)).run(frames)
        except ffmpeg_error as e:  # errors of the frames' producer (the network) pass through untouched
            raise VideoError(path, f"cannot encode ({error_reason(e)})") from None

    atomic_write(path, encode, overwrite=overwrite)


class _Encoder:
    """One output file being written: the video stream from frames, the rest copied from the source."""

    def __init__(
        self,
        f: BinaryIO,
        container: str,
        codec: str,
        opts: dict[str, str],
        source: VideoReader,
        say: Callable[[str], None],
    ) -> None:
        self.f, self.container, self.codec, self.opts = f, container, codec, opts
        self.source, self.say = source, say

    def run(self, batches: Iterable[Frames]) -> None:
        av = load_av()
        it = iter(batches)
        first = next(it, None)
        if first is None:
            raise VideoError(self.source.path, "no frames to write")
        h, w = first.rgb.shape[-2:]
        self.size = (h + h % 2, w + w % 2) if self.codec != "gif" else (h, w)
        out = av.open(self.f, "w", format=self.container)
        copier: StreamCopier | None = None
        try:
            self.out = out
            self.video = self._add_video_stream()
            copier = StreamCopier(out, self.source, self.say)
            self.graph = self._gif_graph() if self.codec == "gif" else None
            self.durations: list[int] = []
            copy_container_metadata(self.source.container, out)
            tb = self.source.time_base
            for batch in itertools.chain([first], it):
                for frame in self._video_frames(batch):
                    self._encode(frame)
                copier.mux_until(float((batch.pts[-1]) * tb) + 1.0)
            self._encode(None)
            copier.mux_until(float("inf"))
            copier.flush()
        finally:
            if copier is not None:
                copier.close()
            try:
                out.close()
            except Exception:  # noqa: BLE001 - closing after an error; the first error is what counts
                pass

    def _add_video_stream(self) -> Any:
        src = self.source
        s = self.out.add_stream(CODECS[self.codec], rate=src.info.rate)
        s.height, s.width = self.size
        cc = s.codec_context
        cc.time_base = src.time_base
        s.time_base = src.time_base
        if self.codec == "av1":
            os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration otherwise
        if self.codec == "gif":
            s.pix_fmt = "pal8"
        else:
            s.pix_fmt = "yuv420p"
            cc.colorspace = src.colour.colorspace
            cc.color_range = RANGE_LIMITED
            cc.color_primaries = src.colour.primaries
            cc.color_trc = src.colour.trc
            if self.codec == "h265" and self.container in ("mp4", "mov"):
                cc.codec_tag = "hvc1"  # what Apple players need to open HEVC
        s.options = self.opts
        sar = src.stream.sample_aspect_ratio
        if sar and sar != 1:
            s.sample_aspect_ratio = sar
        if src.display_matrix and hasattr(s, "set_display_matrix"):
            s.set_display_matrix(src.display_matrix)
        copy_stream_tags(src.stream, s)
        return s

    def _video_frames(self, batch: Frames) -> Iterator[Any]:
        av = load_av()
        rgb = batch.rgb
        h, w = self.size
        if rgb.shape[-2:] != (h, w):
            rgb = torch.nn.functional.pad(rgb, (0, w - rgb.shape[-1], 0, h - rgb.shape[-2]), mode="replicate")
        q = torch.floor(rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (B,H,W,3)
        for arr, pts, dur in zip(q, batch.pts, batch.durations, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            if self.codec != "gif":
                c = self.source.colour
                frame = frame.reformat(
                    format="yuv420p", dst_colorspace=c.matrix, dst_color_range=RANGE_LIMITED
                )
                frame.color_primaries, frame.color_trc = c.primaries, c.trc
            frame.pts = pts
            frame.time_base = self.source.time_base
            if dur:
                frame.duration = dur
            yield frame

    def _encode(self, frame: Any) -> None:
        if self.graph is not None:  # GIF: each frame through palettegen/paletteuse first
            if frame is not None:
                self.durations.append(frame.duration)
            self.graph.push(frame)
            while True:
                try:
                    paletted = self.graph.pull()
                except (load_av().BlockingIOError, load_av().EOFError):
                    break
                duration = self.durations.pop(0)  # the filters give one frame per frame, in order
                for packet in self.video.encode(paletted):
                    if duration:
                        packet.duration = duration  # the GIF encoder drops it: the last frame's delay
                    self.out.mux(packet)
            if frame is not None:
                return
        self.out.mux(self.video.encode(frame))

    def _gif_graph(self) -> Any:
        """A filter graph giving each frame its own 256-colour palette (ffmpeg's palettegen/paletteuse)."""
        av = load_av()
        h, w = self.size
        g = av.filter.Graph()
        src = g.add_buffer(width=w, height=h, format="rgb24", time_base=self.source.time_base)
        split = g.add("split")
        gen = g.add("palettegen", "stats_mode=single")
        use = g.add("paletteuse", "new=1")
        sink = g.add("buffersink")
        src.link_to(split)
        split.link_to(gen, 0, 0)
        split.link_to(use, 1, 0)
        gen.link_to(use, 0, 1)
        use.link_to(sink)
        g.configure()
        return g
