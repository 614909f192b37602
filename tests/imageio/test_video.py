"""Video reading and writing (PyAV): timing, audio, rotation, metadata, GIF, atomic writes.

Covers :mod:`gensr.imageio.video` and :mod:`gensr.imageio.video_write` together."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

av = pytest.importorskip("av")

from gensr.imageio.video import VIDEO_EXTENSIONS, Frames, VideoError, VideoReader  # noqa: E402
from gensr.imageio.video_write import EncodeOptions, resolve_encoding, write_video  # noqa: E402

MakeClip = Callable[..., Path]


def doubled(reader: VideoReader, n: int = 5) -> Iterator[Frames]:
    """The reader's frames, 2x nearest-neighbour: a stand-in for a network."""
    for b in reader.batches(n):
        yield b.replace(rgb=b.rgb.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))


def audio_packets(path: Path) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.dts is not None]


def video_pts_seconds(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * s.time_base) for f in c.decode(s)]


def test_reader_batches_frames_with_their_timestamps(tmp_path: Path, make_clip: MakeClip) -> None:
    clip = make_clip(tmp_path / "c.mp4", rotate=90)
    with VideoReader(clip) as v:
        info = v.info
        batches = list(v.batches(5))
    assert (info.width, info.height, info.frames, info.rate) == (64, 48, 24, Fraction(12))
    assert info.rotation == 90 and info.audio == ("aac",) and info.duration == pytest.approx(2.0, abs=0.05)
    assert [len(b) for b in batches] == [5, 5, 5, 5, 4]
    assert batches[0].rgb.shape == (5, 3, 48, 64) and batches[0].rgb.dtype == torch.float32
    assert 0 <= float(batches[0].rgb.min()) and float(batches[0].rgb.max()) <= 1
    pts = [p for b in batches for p in b.pts]
    assert [float(p * v.time_base) for p in pts] == pytest.approx([i / 12 for i in range(24)])


def test_mp4_keeps_timing_audio_rotation_metadata(tmp_path: Path, make_clip: MakeClip) -> None:
    clip = make_clip(tmp_path / "c.mp4", rotate=90, title="gensr test")
    out = tmp_path / "out" / "d.mp4"
    with VideoReader(clip) as v:
        write_video(out, doubled(v), source=v)
    assert video_pts_seconds(out) == pytest.approx(video_pts_seconds(clip), abs=1e-3)
    assert audio_packets(out) == audio_packets(clip)  # copied packet for packet, same timestamps
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.width, s.height, s.average_rate) == ("h264", 128, 96, 12)
        assert c.metadata.get("title") == "gensr test"
        first = next(c.decode(s))
        assert first.rotation == 90
        assert (first.colorspace, first.color_range) == (6, 1)  # BT.601 (as decoded), limited range, tagged
    assert list(out.parent.iterdir()) == [out]  # no temporary file left


def test_webm_reencodes_aac_to_opus(tmp_path: Path, make_clip: MakeClip) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=12)
    notes: list[str] = []
    with VideoReader(clip) as v:
        write_video(tmp_path / "d.webm", doubled(v), source=v, say=notes.append)
    assert notes == ["audio stream #1: WebM cannot hold aac; re-encoded to libopus"]
    with av.open(str(tmp_path / "d.webm")) as c:
        assert [s.codec_context.name for s in c.streams] == ["vp9", "opus"]
        audio = c.streams.audio[0]
        frames = [f for f in c.decode(audio)]
    seconds = sum(f.samples for f in frames) / audio.rate
    assert seconds == pytest.approx(1.0, abs=0.03)
    assert video_pts_seconds(tmp_path / "d.webm") == pytest.approx([i / 12 for i in range(12)], abs=1e-3)


def test_gif_frame_delays_survive_to_gif_and_mp4(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    delays = [50, 100, 50, 200, 300]  # milliseconds: a variable frame rate
    frames = [PILImage.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)) for _ in delays]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=delays, loop=0)
    for name in ("b.gif", "b.mp4"):
        with VideoReader(tmp_path / "a.gif") as v:
            write_video(tmp_path / name, doubled(v, n=2), source=v)
    starts = np.cumsum([0, *delays[:-1]]) / 1000
    assert video_pts_seconds(tmp_path / "b.mp4") == pytest.approx(starts, abs=1e-3)
    with PILImage.open(tmp_path / "b.gif") as g:
        assert g.size == (32, 24) and g.n_frames == 5
        got = []
        for i in range(g.n_frames):
            g.seek(i)
            got.append(g.info["duration"])
    assert got == delays


def test_interrupted_write_leaves_no_file(tmp_path: Path, make_clip: MakeClip) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=12)
    (tmp_path / "out").mkdir()

    def failing(v: VideoReader) -> Iterator[Frames]:
        for i, b in enumerate(doubled(v, n=4)):
            if i == 2:
                raise KeyboardInterrupt
            yield b

    with VideoReader(clip) as v, pytest.raises(KeyboardInterrupt):
        write_video(tmp_path / "out" / "d.mp4", failing(v), source=v)
    assert list((tmp_path / "out").iterdir()) == []


def test_existing_file_is_not_overwritten(tmp_path: Path, make_clip: MakeClip) -> None:
    clip = make_clip(tmp_path / "c.mp4", frames=4, audio=None)
    (tmp_path / "d.mp4").write_bytes(b"keep")
    with VideoReader(clip) as v, pytest.raises(FileExistsError):
        write_video(tmp_path / "d.mp4", doubled(v), source=v)
    assert (tmp_path / "d.mp4").read_bytes() == b"keep"
    with VideoReader(clip) as v:
        write_video(tmp_path / "d.mp4", doubled(v), source=v, overwrite=True)
    assert len(video_pts_seconds(tmp_path / "d.mp4")) == 4


def test_not_a_video(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(VideoError, match="x.mp4"):
        VideoReader(tmp_path / "x.mp4")
    with pytest.raises(VideoError, match="no such file|cannot open"):
        VideoReader(tmp_path / "missing.mp4")


def test_encoding_choices() -> None:
    assert resolve_encoding("mp4", EncodeOptions()) == ("h264", {"crf": "18", "preset": "medium"})
    assert resolve_encoding("webm", EncodeOptions())[0] == "vp9"
    assert resolve_encoding("matroska", EncodeOptions(codec="av1", preset="10"))[1]["preset"] == "10"
    assert resolve_encoding("gif", EncodeOptions(crf=20)) == ("gif", {})
    for container, options, message in [
        ("webm", EncodeOptions(codec="h264"), "take vp9, av1"),
        ("mp4", EncodeOptions(codec="gif"), "take h264"),
        ("mp4", EncodeOptions(crf=52), "0..51"),
        ("mp4", EncodeOptions(preset="5"), "ultrafast"),
        ("webm", EncodeOptions(preset="fast"), "0..8"),
    ]:
        with pytest.raises(ValueError, match=message):
            resolve_encoding(container, options)


def test_the_command_knows_the_video_extensions() -> None:
    from gensr.commands.upscale_video import VIDEO_SUFFIXES

    assert VIDEO_SUFFIXES == VIDEO_EXTENSIONS  # kept apart so that the CLI need not import torch or PyAV


def test_odd_sides_are_padded_for_yuv420(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [PILImage.fromarray(rng.integers(0, 256, (11, 15, 3), dtype=np.uint8)) for _ in range(2)]
    frames[0].save(tmp_path / "odd.gif", save_all=True, append_images=frames[1:], duration=100)
    with VideoReader(tmp_path / "odd.gif") as v:
        write_video(tmp_path / "odd.mp4", v.batches(2), source=v)  # not upscaled: 15x11
    with av.open(str(tmp_path / "odd.mp4")) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (16, 12)


def test_variable_frame_rate_and_late_audio_keep_their_times(tmp_path: Path) -> None:
    """Irregular frame times and an audio track starting at 0.5 s come out at the same times (A/V sync)."""
    times_ms = [0, 40, 80, 200, 240, 400, 440, 480, 700, 740]
    with av.open(str(tmp_path / "vfr.mp4"), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 32, 24, "yuv420p"
        v.codec_context.time_base = Fraction(1, 1000)
        a = c.add_stream("aac", rate=48000)
        a.layout = "mono"
        for i, t in enumerate(times_ms):
            f = av.VideoFrame.from_ndarray(np.full((24, 32, 3), i * 20, np.uint8), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 1000)
            c.mux(v.encode(f))
        c.mux(v.encode())
        for s in range(24000, 48000, 1024):
            x = (0.3 * np.sin(np.arange(s, s + 1024) / 48000 * 2 * np.pi * 440)).astype(np.float32)[None]
            fr = av.AudioFrame.from_ndarray(x, format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 48000, s
            c.mux(a.encode(fr))
        c.mux(a.encode())

    def audio_times(path: Path) -> list[float]:
        with av.open(str(path)) as c:
            return [float(f.pts * f.time_base) for f in c.decode(audio=0)]

    for name in ("out.mp4", "out.mkv"):
        with VideoReader(tmp_path / "vfr.mp4") as v:
            write_video(tmp_path / name, doubled(v), source=v)
        assert video_pts_seconds(tmp_path / name) == pytest.approx([t / 1000 for t in times_ms], abs=1e-3)
        assert audio_times(tmp_path / name) == pytest.approx(audio_times(tmp_path / "vfr.mp4"), abs=1e-3)
