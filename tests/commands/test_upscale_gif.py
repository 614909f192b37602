"""GIFs in ``gensr upscale``: images in folders (one frame, or animated frame by frame), videos when named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from gensr.cli import main
from gensr.commands.upscale_video import as_video
from gensr.imageio import probe_image, read_frames


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny x2 compact generator saved as a gensr model file (milliseconds per image)."""
    from gensr.archs import build_generator
    from gensr.models import save_model

    torch.manual_seed(0)
    net = build_generator("compact", {"num_feat": 8, "num_conv": 2, "scale": 2})
    path = tmp_path_factory.mktemp("model") / "tiny_x2.safetensors"
    save_model(path, net)
    return path


def _picture(seed: int, size: tuple[int, int] = (24, 16)) -> PILImage.Image:
    w, h = size
    rng = np.random.default_rng(seed)
    return PILImage.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8))


def _gif(path: Path, frames: int, *, loop: int | None = 0) -> Path:
    pics = [_picture(k) for k in range(frames)]
    kw = {} if loop is None else {"loop": loop}
    if frames == 1:
        pics[0].save(path)
    else:
        pics[0].save(path, save_all=True, append_images=pics[1:], duration=[70, 80, 90][:frames], **kw)
    return path


def test_a_folder_of_gifs_and_pngs_is_all_upscaled(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    _gif(src / "still.gif", 1)
    _gif(src / "sub" / "anim.gif", 3)
    for k in range(2):
        _picture(10 + k).save(src / f"photo{k}.png")
    rc = main(["upscale", str(src), "-o", str(out), "--model", str(model)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "left out" not in err  # GIFs are images, not videos left out
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["photo0_x2.png", "photo1_x2.png", "still_x2.gif", "sub/anim_x2.gif"]

    still = probe_image(out / "still_x2.gif")
    assert (still.width, still.height, still.frames, still.format) == (48, 32, 1, "GIF")
    info, frames = read_frames(out / "sub" / "anim_x2.gif")
    assert (info.width, info.height, info.frames) == (48, 32, 3)
    assert info.durations == (70, 80, 90) and info.loop == 0  # the timing and the loop are kept
    # each frame is the upscale of its own source frame, not a repeat of the first
    means = [float(f.rgb.mean()) for f in frames]
    sources = [float(np.asarray(_picture(k)).mean()) / 255 for k in range(3)]
    assert np.allclose(means, sources, atol=0.02)


def test_a_gif_that_plays_once_still_plays_once(tmp_path: Path, model: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _gif(src / "once.gif", 2, loop=None)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "--model", str(model), "--quiet"]) == 0
    assert "loop" not in PILImage.open(tmp_path / "out" / "once_x2.gif").info


def test_which_gifs_are_videos(tmp_path: Path) -> None:
    still, anim = _gif(tmp_path / "still.gif", 1), _gif(tmp_path / "anim.gif", 3)
    assert not as_video(still, in_folder=False, fmt="same")  # one frame: an image wherever it is
    assert as_video(anim, in_folder=False, fmt="same")  # named and animated: a video, as before
    assert not as_video(anim, in_folder=True, fmt="same")  # in a folder: frame by frame, as an image
    assert as_video(still, in_folder=False, fmt="mp4")  # named for another video container
    assert as_video(tmp_path / "clip.mp4", in_folder=True, fmt="same")
    assert not as_video(tmp_path / "photo.png", in_folder=False, fmt="same")


def test_a_named_one_frame_gif_is_an_image(tmp_path: Path, model: Path) -> None:
    src = _gif(tmp_path / "still.gif", 1)
    assert main(["upscale", str(src), "-o", str(tmp_path / "big.gif"), "--model", str(model), "--quiet"]) == 0
    info = probe_image(tmp_path / "big.gif")
    assert (info.width, info.height, info.frames, info.format) == (48, 32, 1, "GIF")
