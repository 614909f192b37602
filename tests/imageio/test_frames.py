"""Multi-frame files: animated PNG/WebP and multi-page TIFF read frame by frame and written back alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from gensr.imageio import Image, ImageReadError, probe_image, read_frames, read_image, write_frames


def _frames(n: int = 4, h: int = 6, w: int = 8) -> list[PILImage.Image]:
    rng = np.random.default_rng(n)
    return [PILImage.fromarray(rng.integers(0, 256, (h, w, 4)).astype(np.uint8)) for _ in range(n)]


def _save(path: Path, frames: list[PILImage.Image], **kw: object) -> Path:
    frames[0].save(path, save_all=True, append_images=frames[1:], **kw)
    return path


def _durations(path: Path) -> list[int]:
    with PILImage.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()
            out.append(int(im.info.get("duration", 0)))
        return out


ANIMATED = {
    ".png": {"duration": [50, 60, 70, 80], "loop": 2},
    ".webp": {"duration": [50, 60, 70, 80], "loop": 2, "lossless": True},
    ".tif": {},
}


@pytest.mark.parametrize("ext", list(ANIMATED))
def test_frames_round_trip(tmp_path: Path, ext: str) -> None:
    src = _save(tmp_path / f"a{ext}", _frames(), **ANIMATED[ext])
    info = probe_image(src)
    assert (info.width, info.height, info.frames) == (8, 6, 4)
    assert info.durations == ((50, 60, 70, 80) if ext != ".tif" else ())
    assert info.loop == (2 if ext != ".tif" else 0)
    _, frames = read_frames(src)
    got = list(frames)
    assert len(got) == 4 and all(f.alpha is not None and f.rgb.shape == (1, 3, 6, 8) for f in got)
    original = np.asarray(_frames()[2])
    seen = original[..., 3] > 0  # lossless WebP may change the colour of invisible pixels
    assert (np.rint(got[2].rgb[0].permute(1, 2, 0).numpy() * 255) == original[..., :3])[seen].all()
    n = write_frames(tmp_path / f"b{ext}", got, durations=info.durations, loop=info.loop)
    assert n == 4
    again = probe_image(tmp_path / f"b{ext}")
    assert (again.frames, again.durations, again.loop) == (4, info.durations, info.loop)
    if ext != ".tif":
        assert _durations(tmp_path / f"b{ext}") == [50, 60, 70, 80]


def test_read_image_refuses_several_frames_instead_of_keeping_the_first(tmp_path: Path) -> None:
    src = _save(tmp_path / "a.webp", _frames(), duration=100, lossless=True)
    with pytest.raises(ImageReadError, match=r"a.webp: has 4 frames"):
        read_image(src)


def test_single_images_are_one_frame(tmp_path: Path) -> None:
    _frames(1)[0].save(tmp_path / "one.webp", lossless=True)
    info, frames = read_frames(tmp_path / "one.webp")
    assert info.frames == 1 and len(list(frames)) == 1


def test_frame_budget_counts_every_frame(tmp_path: Path) -> None:
    src = _save(tmp_path / "a.tif", _frames(5))
    assert probe_image(src, max_pixels=5 * 48).frames == 5
    with pytest.raises(
        ImageReadError, match=r"8x6 x 5 frames is 240 pixels, more than the 239 pixels budget"
    ):
        probe_image(src, max_pixels=5 * 48 - 1)


def test_16bit_pages_are_refused(tmp_path: Path) -> None:
    pages = [PILImage.fromarray(np.full((4, 5), 1000 * i, np.uint16)) for i in range(3)]
    src = _save(tmp_path / "g16.tif", pages)
    _, frames = read_frames(src)
    with pytest.raises(ImageReadError, match="16-bit or float"):
        list(frames)


def test_single_picture_formats_and_size_changes_are_refused(tmp_path: Path) -> None:
    f = Image(rgb=torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="holds one picture"):
        write_frames(tmp_path / "a.jpg", [f, f])
    with pytest.raises(ValueError, match="frame 2 is 5x4"):
        write_frames(tmp_path / "a.png", [f, Image(rgb=torch.rand(1, 3, 4, 5))])
    assert list(tmp_path.iterdir()) == []
