"""``gensr upscale`` on videos: a clip with audio through the command line, interrupts, folders and globs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from gensr.cli import main  # noqa: E402
from gensr.imageio import read_image  # noqa: E402
from gensr.infer import Upscaler  # noqa: E402

MakeClip = Callable[..., Path]


@pytest.fixture(scope="module")
def model(tiny_model_file: Callable[..., Path]) -> Path:
    return tiny_model_file()


def upscale(*args: str | Path) -> int:
    return main(["upscale", *map(str, args), "--quiet"])


def streams(path: Path) -> dict[str, object]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        info: dict[str, object] = {
            "frames": len(frames),
            "rate": v.average_rate,
            "size": (frames[0].width, frames[0].height),
            "first": frames[0].to_ndarray(format="rgb24"),
            "audio_codec": None,
            "audio": [],
        }
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            packets = [p for p in c.demux(a) if p.dts is not None]
            info["audio_codec"] = a.codec_context.name
            info["audio"] = [(p.pts, bytes(p)) for p in packets]
            info["audio_seconds"] = float(
                (packets[-1].pts + packets[-1].duration - packets[0].pts) * a.time_base
            )
    return info


def test_clip_with_audio_through_the_command(tmp_path: Path, make_clip: MakeClip) -> None:
    """Built-in model, 2 s at 12 fps: frame count, rate, 4x size, audio copied, first frame = image path."""
    clip = make_clip(tmp_path / "clip.mp4")
    assert upscale(clip, "-o", tmp_path / "out.mp4") == 0
    src, out = streams(clip), streams(tmp_path / "out.mp4")
    assert out["frames"] == src["frames"] == 24
    assert out["rate"] == src["rate"] == 12
    assert out["size"] == (256, 192)
    assert out["audio_codec"] == "aac" and out["audio_seconds"] == pytest.approx(src["audio_seconds"])
    assert out["audio"] == src["audio"]  # not re-encoded

    # the first frame, decoded and upscaled as an image, matches the video's first frame
    from PIL import Image as PILImage

    PILImage.fromarray(src["first"]).save(tmp_path / "first.png")
    assert upscale(tmp_path / "first.png", "-o", tmp_path / "first_x4.png") == 0
    image = read_image(tmp_path / "first_x4.png").rgb
    video = torch.from_numpy(out["first"]).permute(2, 0, 1)[None].float() / 255
    psnr = 10 * np.log10(1 / float(((image - video) ** 2).mean()))
    assert psnr >= 30, psnr


def test_interrupted_video_leaves_no_output(
    tmp_path: Path, make_clip: MakeClip, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = make_clip(tmp_path / "clip.mp4")
    calls = 0
    real = Upscaler.upscale_tensor

    def interrupted(self: Upscaler, lr: torch.Tensor, progress: object = None) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return real(self, lr)

    monkeypatch.setattr(Upscaler, "upscale_tensor", interrupted)
    (tmp_path / "out").mkdir()
    assert upscale(clip, "-o", tmp_path / "out", "--model", model) == 130
    assert list((tmp_path / "out").iterdir()) == []


def test_folders_leave_videos_out_and_globs_take_them(
    tmp_path: Path, make_clip: MakeClip, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "a.mp4", frames=6, audio=None)
    from PIL import Image as PILImage

    PILImage.new("RGB", (8, 6), (200, 10, 10)).save(folder / "p.png")
    assert upscale(folder, "-o", tmp_path / "o1", "--model", model) == 0
    assert sorted(p.name for p in (tmp_path / "o1").iterdir()) == ["p_x4.png"]
    assert "1 video file left out" in capsys.readouterr().err

    assert upscale(f"{folder}/*.mp4", "-o", tmp_path / "o2", "--model", model, "--format", "mkv") == 0
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["a_x4.mkv"]
    assert streams(tmp_path / "o2" / "a_x4.mkv")["frames"] == 6


def test_gif_to_mp4_and_usage_errors(
    tmp_path: Path, make_clip: MakeClip, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    frames = [PILImage.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    assert upscale(tmp_path / "anim.gif", "-o", tmp_path / "out", "--model", model, "--format", "mp4") == 0
    out = streams(tmp_path / "out" / "anim_x4.mp4")
    assert out["frames"] == 3 and out["size"] == (64, 48) and out["audio_codec"] is None

    clip = make_clip(tmp_path / "clip.mp4", frames=4, audio=None)
    assert upscale(clip, "-o", tmp_path / "x.webm", "--model", model, "--codec", "h264") == 1
    assert upscale(clip, "-o", tmp_path / "x.png", "--model", model) == 1
    assert upscale(tmp_path / "anim.gif", "-o", tmp_path / "out", "--model", model, "--format", "mp4") == 1
    err = capsys.readouterr().err
    assert ".webm files take vp9, av1, not h264" in err
    assert "a video needs a video file name" in err
    assert "already exists" in err
    assert not (tmp_path / "x.webm").exists() and not (tmp_path / "x.png").exists()


def test_without_pyav_a_video_fails_with_the_install_hint(
    tmp_path: Path,
    make_clip: MakeClip,
    model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=2, audio=None)
    monkeypatch.setitem(sys.modules, "av", None)  # import av raises ImportError
    assert upscale(clip, "-o", tmp_path / "out", "--model", model) == 1
    assert "pip install 'gensr[video]'" in capsys.readouterr().err


def test_the_command_line_does_not_import_pyav() -> None:
    code = "import sys, gensr.cli; sys.exit('av' in sys.modules or 'gensr.imageio.video' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
