"""The source video's other streams and tags, carried into gensr's output by :mod:`gensr.imageio.video_write`.

Audio and subtitle streams are remuxed as they are, or audio re-encoded where the output container
cannot hold its codec; the streams' and the container's tags and dispositions are copied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gensr.imageio.video import VideoReader, load_av

CONTAINER_NAMES = {"mp4": "MP4", "mov": "MOV", "matroska": "MKV", "webm": "WebM", "gif": "GIF"}
_STATS_TAGS = {"DURATION", "ENCODER", "BPS", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES"}  # stale after re-encoding
_CONTAINER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}  # the muxer writes its own


class StreamCopier:
    """The source's audio and subtitle streams, remuxed (or audio re-encoded) into the output.

    A second demuxer on the source file feeds them, so the video decoder and this copier each read
    at their own pace; :meth:`mux_until` keeps the output interleaved with the video.
    """

    def __init__(self, out: Any, source: VideoReader, say: Callable[[str], None]) -> None:
        av = load_av()
        self.out = out
        self.input = av.open(str(source.path), metadata_errors="replace")
        self.map: dict[int, Any] = {}
        self.transcode: dict[int, Any] = {}
        supported = out.supported_codecs
        fmt_name = CONTAINER_NAMES.get(out.format.name.split(",")[0], out.format.name)
        dropped: list[str] = []
        for s in self.input.streams:
            kind, name = s.type, _codec_name(s)
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
            copy_stream_tags(s, o)
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
            index = packet.stream.index
            if packet.dts is None and packet.pts is None:  # a stream's end: flush its decoder
                if index in self.transcode:
                    for frame in packet.decode():
                        self.out.mux(self.map[index].encode(frame))
                continue
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


def _codec_name(s: Any) -> str:
    """The codec's own name (``mp3``, not the decoder's ``mp3float``)."""
    cc = s.codec_context
    if cc is None:
        return "?"
    return str(getattr(cc.codec, "canonical_name", None) or cc.name)


def _audio_rate(codec: str, s: Any) -> int:
    rates = load_av().Codec(codec, "w").audio_rates
    if not rates or s.rate in rates:
        return int(s.rate)
    return 48000 if 48000 in rates else max(rates)


def copy_stream_tags(src: Any, dst: Any) -> None:
    """A stream's tags, less the statistics that re-encoding makes stale."""
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


def copy_container_metadata(src: Any, out: Any) -> None:
    """The source container's tags (title, dates, ...), less those the muxer writes itself."""
    tags = {k: v for k, v in dict(src.metadata).items() if k.lower() not in _CONTAINER_TAGS}
    if tags:
        out.metadata.update(tags)
