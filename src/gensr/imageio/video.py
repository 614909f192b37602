"""Reading and writing videos with PyAV (its wheels carry ffmpeg): frames in, frames out, the rest copied.

:class:`VideoReader` decodes the first video stream into batches of RGB tensors that keep each frame's
timestamp; :func:`write_video` encodes batches of frames into a new file, written atomically
(:func:`~gensr.imageio.atomic_write`), and copies the source's other streams into it.

What is kept from the source, and how:

- **Timing.** Every frame keeps its presentation timestamp and duration (in the source stream's time
  base), so variable frame rates, GIF frame delays and the start offset come out as they went in;
  the output's nominal rate is the source's average rate. Frames are never dropped or duplicated.
- **Audio and subtitles** are copied packet for packet (no re-encoding, same timestamps) when the output
  container takes their codec; audio it cannot take (AAC into WebM, say) is re-encoded to the
  container's usual codec (Opus for WebM, AAC for MP4/MOV) with a notice; subtitles it cannot take are
  dropped with a notice. GIF holds neither.
- **Colour.** YUV is converted to RGB with the source's matrix and range (an untagged source gets what
  players assume: BT.709 from 1280x720 up, else BT.601), and back with the same matrix, in limited range,
  with matrix, primaries and transfer written explicitly, so players do not guess differently for the
  larger frame. Sources with more than 8 bits are decoded at 16 bits for the network; the output has
  8 bits (``yuv420p``). Transparent pixels (GIF, VP9 alpha) are composited over white.
- **Rotation** (the display matrix phones write), sample aspect ratio, container and stream metadata
  (title, language, creation time), dispositions and chapters.

Output codecs (``codec``): ``h264`` (libx264, the default for MP4, MOV and MKV), ``h265`` (libx265),
``vp9`` (libvpx-vp9, the default for WebM), ``av1`` (SVT-AV1) and ``gif`` (ffmpeg's GIF encoder with a
palette made for each frame). PyAV is imported only when a video is opened.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import torch

from gensr.imageio.files import atomic_write

if TYPE_CHECKING:
    import av
    import av.container
    import av.stream

CONTAINERS: dict[str, str] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".gif": "gif",
}
"""Video file extension -> ffmpeg muxer, for reading (by content) and writing (by extension)."""

VIDEO_EXTENSIONS = tuple(CONTAINERS)

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
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
_NUMERIC_PRESETS = {"vp9": ("cpu-used", 0, 8, 4), "av1": ("preset", 0, 13, 8)}  # option, min, max, default

# AVColorSpace / AVColorRange / AVColorPrimaries / AVColorTransferCharacteristic values (libavutil/pixfmt.h)
_SPC_BT709, _SPC_UNSPECIFIED, _SPC_FCC, _SPC_BT470BG, _SPC_SMPTE170M, _SPC_SMPTE240M = 1, 2, 4, 5, 6, 7
_SPC_BT2020_NCL, _SPC_BT2020_CL = 9, 10
_RANGE_MPEG, _RANGE_JPEG = 1, 2
_PRI_BT709, _PRI_UNSPECIFIED, _PRI_SMPTE170M = 1, 2, 6
_TRC_BT709, _TRC_UNSPECIFIED = 1, 2
# swscale's SWS_CS_* matrix numbers, which PyAV's reformat takes
_SWS_ITU709, _SWS_FCC, _SWS_ITU601, _SWS_SMPTE240M, _SWS_BT2020 = 1, 4, 5, 7, 9
_SWS_OF_SPC = {
    _SPC_BT709: _SWS_ITU709,
    _SPC_FCC: _SWS_FCC,
    _SPC_SMPTE240M: _SWS_SMPTE240M,
    _SPC_BT2020_NCL: _SWS_BT2020,
    _SPC_BT2020_CL: _SWS_BT2020,
}
_SPC_OF_SWS = {
    _SWS_ITU709: _SPC_BT709,
    _SWS_FCC: _SPC_FCC,
    _SWS_ITU601: _SPC_SMPTE170M,
    _SWS_SMPTE240M: _SPC_SMPTE240M,
    _SWS_BT2020: _SPC_BT2020_NCL,
}
_STATS_TAGS = {"DURATION", "ENCODER", "BPS", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES"}  # stale after re-encoding
_CONTAINER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}  # the muxer writes its own


class VideoError(Exception):
    """A video could not be read or written; ``str(err)`` is one line naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def is_video(path: str | Path) -> bool:
    """Whether ``path`` has a video extension (``.mp4 .m4v .mov .mkv .webm .gif``)."""
    return Path(path).suffix.lower() in CONTAINERS


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise VideoError("PyAV", "videos need PyAV: pip install 'gensr[video]' (or pip install av)") from None
    return av


def _reason(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text.removeprefix(f"[Errno {getattr(e, 'errno', '')}] ") if getattr(e, "errno", None) else text


@dataclass(frozen=True)
class Colour:
    """How a stream's YUV maps to RGB: swscale matrix, range and the tags to write."""

    matrix: int
    """swscale ``SWS_CS_*`` number (what ``VideoFrame.reformat`` takes)."""
    full_range: bool
    primaries: int
    trc: int


@dataclass(frozen=True)
class VideoInfo:
    """What :class:`VideoReader` learnt from a video's header and first frame."""

    width: int
    height: int
    rate: Fraction
    """Average frame rate (frames per second); the nominal rate of the output."""
    frames: int
    """Frame count from the container, else estimated from duration x rate (0 when unknown)."""
    duration: float | None
    """Seconds, when the container says."""
    codec: str
    pix_fmt: str
    rotation: float
    """Display rotation in degrees, counter-clockwise (0 when none)."""
    audio: tuple[str, ...]
    """Codec of each audio stream."""
    subtitles: tuple[str, ...]


@dataclass(frozen=True)
class Frames:
    """A batch of consecutive frames of one video."""

    rgb: torch.Tensor
    """(B, 3, H, W) float32 in [0, 1], RGB."""
    pts: tuple[int, ...]
    """Presentation time of each frame, in :attr:`VideoReader.time_base` units."""
    durations: tuple[int, ...]
    """Display duration of each frame in the same units (0: unknown)."""

    def __len__(self) -> int:
        return len(self.pts)

    def replace(self, **changes: Any) -> Frames:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)


class VideoReader:
    """Decode the first video stream of a file into :class:`Frames` batches.

    The first frame is decoded on opening (it tells the pixel format, colour tags and rotation), so a
    file with no decodable video frame fails here. Use as a context manager.

    Args:
        path: an MP4, MOV, MKV, WebM or GIF file (anything ffmpeg reads, in fact).

    Raises:
        VideoError: missing, not a video, or no frame can be decoded.
    """

    def __init__(self, path: str | Path) -> None:
        av = _av()
        self.path = Path(path)
        try:
            self._container = av.open(str(path), metadata_errors="replace")
        except Exception as e:  # PyAV raises its FFmpegError family (OSError/ValueError subclasses)
            raise VideoError(path, f"cannot open ({_reason(e)})") from None
        try:
            if not self._container.streams.video:
                raise VideoError(path, "has no video stream")
            self.stream = self._container.streams.video[0]
            self.stream.thread_type = "AUTO"
            self._frames = self._decode()
            first = next(self._frames, None)
            if first is None:
                raise VideoError(path, "no video frame could be decoded")
        except VideoError:
            self._container.close()
            raise
        except Exception as e:
            self._container.close()
            raise VideoError(path, f"cannot decode ({_reason(e)})") from None
        self._first: Any = first
        self.time_base: Fraction = self.stream.time_base or Fraction(1, 1000)
        self.display_matrix = _display_matrix(first)
        self.colour = _colour_of(first)
        self.info = self._info(first)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    @property
    def container(self) -> av.container.InputContainer:
        return self._container

    def batches(self, n: int) -> Iterator[Frames]:
        """Yield the frames in presentation order, ``n`` at a time (the last batch may be shorter).

        Frames without a timestamp get the previous one plus one frame at the average rate; a
        timestamp that does not increase is moved just past the previous one.
        """
        frames = itertools.chain([self._first], self._frames)
        step = max(1, round(1 / (self.info.rate * self.time_base))) if self.info.rate else 1
        last: int | None = None
        batch: list[Any] = []
        for f in frames:
            pts = f.pts if f.pts is not None else (last + step if last is not None else 0)
            if last is not None and pts <= last:
                pts = last + 1
            last = pts
            batch.append((f, pts))
            if len(batch) == n:
                yield self._to_frames(batch)
                batch = []
        if batch:
            yield self._to_frames(batch)

    def _decode(self) -> Iterator[Any]:
        try:
            yield from self._container.decode(self.stream)
        except Exception as e:
            raise VideoError(self.path, f"cannot decode ({_reason(e)})") from None

    def _to_frames(self, batch: list[tuple[Any, int]]) -> Frames:
        rgb = torch.stack([_frame_to_tensor(f, self.colour) for f, _ in batch])  # (B, 3, H, W)
        durations = tuple(int(f.duration or 0) for f, _ in batch)
        return Frames(rgb=rgb, pts=tuple(p for _, p in batch), durations=durations)

    def _info(self, first: Any) -> VideoInfo:
        s, c = self.stream, self._container
        rate = s.average_rate or s.guessed_rate or s.base_rate or Fraction(25)
        duration = float(s.duration * self.time_base) if s.duration else None
        if duration is None and c.duration:
            duration = c.duration / 1_000_000
        frames = int(s.frames or 0) or (round(duration * rate) if duration else 0)
        return VideoInfo(
            width=first.width,
            height=first.height,
            rate=Fraction(rate),
            frames=frames,
            duration=duration,
            codec=s.codec_context.name,
            pix_fmt=first.format.name,
            rotation=float(first.rotation or 0) if self.display_matrix else 0.0,
            audio=tuple(a.codec_context.name for a in c.streams.audio),
            subtitles=tuple(t.codec_context.name for t in c.streams.subtitles),
        )


def _display_matrix(frame: Any) -> list[int] | None:
    """The 3x3 display matrix (9 int32, ffmpeg's layout) a frame carries, or None."""
    for sd in frame.side_data:
        if getattr(sd.type, "name", "") == "DISPLAYMATRIX":
            m = np.frombuffer(bytes(sd), dtype="<i4")
            if m.size == 9 and not np.array_equal(m, [65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30]):
                return [int(v) for v in m]
    return None


def _colour_of(frame: Any) -> Colour:
    """The matrix and range to decode a frame with, and the tags to write (see the module docstring)."""
    fmt = frame.format
    if not fmt.name.startswith(("yuv", "nv", "p0", "p2", "y2", "uyv", "yuy")):  # RGB, palette, grey
        return Colour(_SWS_ITU709, False, _PRI_BT709, _TRC_BT709)
    spc = int(frame.colorspace)
    if spc in _SWS_OF_SPC:
        matrix = _SWS_OF_SPC[spc]
    elif spc in (_SPC_BT470BG, _SPC_SMPTE170M):
        matrix = _SWS_ITU601
    else:  # untagged: what players assume
        matrix = _SWS_ITU709 if frame.width >= 1280 or frame.height > 576 else _SWS_ITU601
    full = int(frame.color_range) == _RANGE_JPEG or fmt.name.startswith("yuvj")
    primaries = int(frame.color_primaries)
    trc = int(frame.color_trc)
    if primaries in (0, _PRI_UNSPECIFIED) or primaries > 22:
        primaries = _PRI_BT709 if matrix == _SWS_ITU709 else _PRI_SMPTE170M
    if trc in (0, _TRC_UNSPECIFIED) or trc > 18:
        trc = _TRC_BT709
    return Colour(matrix, full, primaries, trc)


def _frame_to_tensor(frame: Any, colour: Colour) -> torch.Tensor:
    """A decoded frame -> (3, H, W) float32 RGB in [0, 1]; alpha composited over white."""
    fmt = frame.format
    deep = max(c.bits for c in fmt.components) > 8
    alpha = fmt.has_alpha if hasattr(fmt, "has_alpha") else "a" in fmt.name
    target = ("rgba64le" if alpha else "rgb48le") if deep else ("rgba" if alpha else "rgb24")
    arr = frame.to_ndarray(
        format=target,
        src_colorspace=colour.matrix,
        src_color_range=_RANGE_JPEG if colour.full_range else _RANGE_MPEG,
    )
    x = torch.from_numpy(arr.astype(np.float32) / (65535.0 if deep else 255.0)).permute(2, 0, 1)
    if alpha:
        x = x[:3] * x[3:] + (1 - x[3:])
    return x.contiguous()


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
        raise FileExistsError(17, "already exists (not overwritten)", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)

    def encode(f: BinaryIO) -> None:
        try:
            _Encoder(f, container, codec, codec_opts, source, say or (lambda _m: None)).run(frames)
        except (VideoError, KeyboardInterrupt, FileExistsError, ValueError):
            raise
        except Exception as e:  # PyAV's FFmpegError family
            raise VideoError(path, f"cannot encode ({_reason(e)})") from None

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
        av = _av()
        it = iter(batches)
        first = next(it, None)
        if first is None:
            raise VideoError(self.source.path, "no frames to write")
        h, w = first.rgb.shape[-2:]
        self.size = (h + h % 2, w + w % 2) if self.codec != "gif" else (h, w)
        out = av.open(self.f, "w", format=self.container)
        copier: _StreamCopier | None = None
        try:
            self.out = out
            self.video = self._add_video_stream()
            copier = _StreamCopier(out, self.source, self.say)
            self.graph = self._gif_graph() if self.codec == "gif" else None
            self.durations: list[int] = []
            _copy_container_metadata(self.source.container, out)
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
            cc.colorspace = _SPC_OF_SWS[src.colour.matrix]
            cc.color_range = _RANGE_MPEG
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
        _copy_stream_tags(src.stream, s)
        return s

    def _video_frames(self, batch: Frames) -> Iterator[Any]:
        av = _av()
        rgb = batch.rgb
        h, w = self.size
        if rgb.shape[-2:] != (h, w):
            rgb = torch.nn.functional.pad(rgb, (0, w - rgb.shape[-1], 0, h - rgb.shape[-2]), mode="replicate")
        q = torch.floor(rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (B,H,W,3)
        for arr, pts, dur in zip(q, batch.pts, batch.durations, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            if self.codec != "gif":
                c = self.source.colour
                frame = frame.reformat(format="yuv420p", dst_colorspace=c.matrix, dst_color_range=_RANGE_MPEG)
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
                except (_av().BlockingIOError, _av().EOFError):
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
        av = _av()
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


class _StreamCopier:
    """The source's audio and subtitle streams, remuxed (or audio re-encoded) into the output.

    A second demuxer on the source file feeds them, so the video decoder and this copier each read
    at their own pace; :meth:`mux_until` keeps the output interleaved with the video.
    """

    def __init__(self, out: Any, source: VideoReader, say: Callable[[str], None]) -> None:
        av = _av()
        self.out = out
        self.input = av.open(str(source.path), metadata_errors="replace")
        self.map: dict[int, Any] = {}
        self.transcode: dict[int, Any] = {}
        supported = out.supported_codecs
        fmt_name = CONTAINER_NAMES.get(out.format.name.split(",")[0], out.format.name)
        dropped: list[str] = []
        for s in self.input.streams:
            kind, name = s.type, s.codec_context.name if s.codec_context else "?"
            if kind not in ("audio", "subtitle"):
                if kind != "video":
                    dropped.append(f"{kind} stream #{s.index}")
                elif s.index != source.stream.index:
                    dropped.append(f"extra video stream #{s.index} ({name})")
                continue
            if name in supported:
                o = out.add_stream_from_template(s)
                o.time_base = s.time_base
            elif kind == "audio" and out.default_audio_codec not in (None, "none"):
                o = out.add_stream(out.default_audio_codec, rate=_audio_rate(out.default_audio_codec, s))
                o.layout = s.layout
                o.bit_rate = 128_000 if s.layout.nb_channels <= 2 else 64_000 * s.layout.nb_channels
                self.transcode[s.index] = s
                say(f"audio stream #{s.index}: {fmt_name} cannot hold {name}; re-encoded to {o.name}")
            else:
                dropped.append(f"{kind} stream #{s.index} ({name})")
                continue
            _copy_stream_tags(s, o)
            _copy_disposition(s, o)
            self.map[s.index] = o
        if dropped:
            say(f"not copied (the {fmt_name} container cannot hold them): {', '.join(dropped)}")
        try:
            chapters = self.input.chapters()
            if chapters:
                out.set_chapters(chapters)
        except (AttributeError, ValueError):
            pass
        streams = [s for s in self.input.streams if s.index in self.map]
        self._packets = self.input.demux(streams) if streams else iter(())
        self._done = not streams

    def mux_until(self, seconds: float) -> None:
        """Mux packets whose time is up to ``seconds`` (all of them for ``inf``)."""
        while not self._done:
            packet = next(self._packets, None)
            if packet is None:
                self._done = True
                break
            if packet.dts is None and packet.pts is None:  # the demuxer's end-of-stream marker
                continue
            index = packet.stream.index
            t = packet.pts if packet.pts is not None else packet.dts
            if index in self.transcode:
                for frame in packet.decode():
                    self.out.mux(self.map[index].encode(frame))
            else:
                packet.stream = self.map[index]
                self.out.mux(packet)
            if t is not None and packet.time_base is not None and float(t * packet.time_base) > seconds:
                break

    def flush(self) -> None:
        for index in self.transcode:
            self.out.mux(self.map[index].encode(None))

    def close(self) -> None:
        self.input.close()


CONTAINER_NAMES = {"mp4": "MP4", "mov": "MOV", "matroska": "MKV", "webm": "WebM", "gif": "GIF"}


def _audio_rate(codec: str, s: Any) -> int:
    rates = _av().Codec(codec, "w").audio_rates
    if not rates or s.rate in rates:
        return int(s.rate)
    return 48000 if 48000 in rates else max(rates)


def _copy_stream_tags(src: Any, dst: Any) -> None:
    tags = {
        k: v
        for k, v in dict(src.metadata).items()
        if k.upper() not in _STATS_TAGS and not k.upper().startswith("_STATISTICS")
    }
    if tags:
        dst.metadata.update(tags)


def _copy_disposition(src: Any, dst: Any) -> None:
    try:
        dst.disposition = src.disposition
    except (AttributeError, TypeError, ValueError):
        pass


def _copy_container_metadata(src: Any, out: Any) -> None:
    tags = {k: v for k, v in dict(src.metadata).items() if k.lower() not in _CONTAINER_TAGS}
    if tags:
        out.metadata.update(tags)


def probe_video(path: str | Path) -> VideoInfo:
    """:class:`VideoInfo` of a video file (opens it and decodes its first frame)."""
    with VideoReader(path) as v:
        return v.info


def read_frames(path: str | Path, n: int = 1) -> Iterator[Frames]:
    """All frames of a video, ``n`` at a time (:meth:`VideoReader.batches`)."""
    with VideoReader(path) as v:
        yield from v.batches(n)


__all__ = [
    "CODECS",
    "CONTAINERS",
    "VIDEO_EXTENSIONS",
    "EncodeOptions",
    "Frames",
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "container_of",
    "is_video",
    "probe_video",
    "read_frames",
    "resolve_encoding",
    "write_video",
]
