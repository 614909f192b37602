"""Reading videos with PyAV (its wheels carry ffmpeg): frames as RGB tensors that keep their timestamps.

:class:`VideoReader` decodes the first video stream of a file into :class:`Frames` batches, each frame
with its presentation timestamp and duration in the stream's time base;
:func:`gensr.imageio.video_write.write_video` encodes such batches (upscaled) into a new file and copies
the source's other streams. Between them, what is kept from the source, and how:

- **Timing.** Every frame keeps its timestamp and duration, so variable frame rates, GIF frame delays
  and the start offset come out as they went in; the output's nominal rate is the source's average
  rate. Frames are never dropped or duplicated.
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

PyAV is imported only when a video is opened.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    import av.container

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

# AVColorSpace / AVColorRange / AVColorPrimaries / AVColorTransferCharacteristic values (libavutil/pixfmt.h)
_SPC_BT709, _SPC_FCC, _SPC_BT470BG, _SPC_SMPTE170M, _SPC_SMPTE240M, _SPC_BT2020_NCL = 1, 4, 5, 6, 7, 9
_SPC_BT2020_CL = 10
RANGE_LIMITED, RANGE_FULL = 1, 2
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
_SPC_OF_SWS = {v: k for k, v in _SWS_OF_SPC.items() if k != _SPC_BT2020_CL} | {_SWS_ITU601: _SPC_SMPTE170M}


class VideoError(Exception):
    """A video could not be read or written; ``str(err)`` is one line naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def is_video(path: str | Path) -> bool:
    """Whether ``path`` has a video extension (``.mp4 .m4v .mov .mkv .webm .gif``)."""
    return Path(path).suffix.lower() in CONTAINERS


def load_av() -> Any:
    """The ``av`` module (PyAV), imported on first use.

    Raises:
        VideoError: PyAV is not installed (the reason says how to install it).
    """
    try:
        import av
    except ImportError:
        raise VideoError("PyAV", "videos need PyAV: pip install 'gensr[video]' (or pip install av)") from None
    return av


def error_reason(e: BaseException) -> str:
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

    @property
    def colorspace(self) -> int:
        """The matrix as the ``AVColorSpace`` tag written into the output."""
        return _SPC_OF_SWS[self.matrix]


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
        av = load_av()
        self.path = Path(path)
        try:
            self._container = av.open(str(path), metadata_errors="replace")
        except Exception as e:  # PyAV raises its FFmpegError family (OSError/ValueError subclasses)
            raise VideoError(path, f"cannot open ({error_reason(e)})") from None
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
            raise VideoError(path, f"cannot decode ({error_reason(e)})") from None
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
        """Yield the frames in presentation order, ``n`` at a time (the last batch may be shorter); once.

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
            raise VideoError(self.path, f"cannot decode ({error_reason(e)})") from None

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
    if fmt.is_rgb or not any(c.is_chroma for c in fmt.components):  # RGB, palette, grey: no matrix
        return Colour(_SWS_ITU709, False, _PRI_BT709, _TRC_BT709)
    spc = int(frame.colorspace)
    if spc in _SWS_OF_SPC:
        matrix = _SWS_OF_SPC[spc]
    elif spc in (_SPC_BT470BG, _SPC_SMPTE170M):
        matrix = _SWS_ITU601
    else:  # untagged: what players assume
        matrix = _SWS_ITU709 if frame.width >= 1280 or frame.height > 576 else _SWS_ITU601
    full = int(frame.color_range) == RANGE_FULL or fmt.name.startswith("yuvj")
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
    alpha = fmt.has_palette or any(c.is_alpha for c in fmt.components)
    target = ("rgba64le" if alpha else "rgb48le") if deep else ("rgba" if alpha else "rgb24")
    arr = frame.to_ndarray(
        format=target,
        src_colorspace=colour.matrix,
        src_color_range=RANGE_FULL if colour.full_range else RANGE_LIMITED,
    )
    x = torch.from_numpy(arr.astype(np.float32) / (65535.0 if deep else 255.0)).permute(2, 0, 1)
    if alpha:
        x = x[:3] * x[3:] + (1 - x[3:])
    return x.contiguous()
