"""EXIF and ICC are handled the same for every format: what cannot be trusted is dropped, the image kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageCms

from gensr.imageio import read_image, write_image
from gensr.imageio.meta import icc_for, icc_space
from tests.hostile import GARBAGE_EXIF, exif_with, png_with_chunk

PIXELS = np.random.default_rng(3).integers(0, 256, (6, 9, 3)).astype(np.uint8)


def _save(path: Path, **kw: object) -> Path:
    PILImage.fromarray(PIXELS).save(path, **kw)
    return path


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
@pytest.mark.parametrize("value", ["abc", 0, 9, 65535, -1, 2.5])
def test_bad_orientation_is_ignored_with_a_note(tmp_path: Path, ext: str, value: object) -> None:
    img = read_image(_save(tmp_path / f"a{ext}", exif=exif_with(0x0112, value)))
    assert img.rgb.shape == (1, 3, 6, 9)  # not turned
    assert any("orientation" in n and "ignored" in n for n in img.notes), img.notes


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_corrupt_exif_is_dropped_and_the_image_kept(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"a{ext}"
    if ext == ".png":  # Pillow's PNG writer would parse it; write the chunk by hand
        path.write_bytes(png_with_chunk(PIXELS, b"eXIf", GARBAGE_EXIF[6:]))
    else:
        _save(path, exif=GARBAGE_EXIF, **({"quality": 100} if ext == ".jpg" else {"lossless": True}))
    img = read_image(path)
    assert img.rgb.shape == (1, 3, 6, 9) and img.exif is None
    assert img.notes in ((), ("unreadable EXIF dropped",))  # Pillow may read nothing rather than fail
    write_image(tmp_path / f"out{ext}", img)


def test_good_orientation_gives_no_note(tmp_path: Path) -> None:
    img = read_image(_save(tmp_path / "a.jpg", exif=exif_with(0x0112, 6)))
    assert img.rgb.shape == (1, 3, 9, 6) and img.notes == ()


def _profile(space: str) -> bytes:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return srgb[:16] + space.encode().ljust(4) + srgb[20:]


def test_icc_space_and_matching() -> None:
    assert icc_space(_profile("RGB")) == "RGB" and icc_space(_profile("GRAY")) == "GRAY"
    notes: list[str] = []
    assert icc_for(_profile("RGB"), gray=False, notes=notes) is not None and notes == []
    assert icc_for(_profile("GRAY"), gray=False, notes=notes) is None
    assert icc_for(_profile("Lab"), gray=False, notes=notes) is None
    assert icc_for(_profile("RGB"), gray=True, notes=notes) is None
    assert icc_for(b"\0" * (5 << 20), gray=False, notes=notes) is None
    assert len(notes) == 4 and "MB dropped" in notes[-1]


def test_a_grey_profile_is_not_carried_onto_rgb_pixels(tmp_path: Path) -> None:
    img = read_image(_save(tmp_path / "a.png", icc_profile=_profile("GRAY")))
    assert img.icc is None and "ICC profile for GRAY dropped (RGB pixels)" in img.notes


def test_lab_tiff_becomes_srgb_without_its_profile(tmp_path: Path) -> None:
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    PILImage.new("LAB", (5, 4), (128, 128, 128)).save(tmp_path / "lab.tif", icc_profile=lab)  # L 50%, a=b=0
    img = read_image(tmp_path / "lab.tif")
    assert img.icc is None and not img.gray
    rgb = img.rgb[0, :, 0, 0].tolist()
    assert max(rgb) - min(rgb) < 0.02 and 0.4 < rgb[0] < 0.55  # neutral mid grey, not Pillow's byte copy


def test_exif_bigger_than_the_budget_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gensr.imageio.meta as meta

    monkeypatch.setattr(meta, "MAX_EXIF_BYTES", 10)
    img = read_image(_save(tmp_path / "a.jpg", exif=exif_with(0x010F, "a camera with a long name")))
    assert img.exif is None and any("EXIF of" in n for n in img.notes)


def test_pillow_text_chunk_limit_refuses_a_zlib_bomb_quickly(tmp_path: Path) -> None:
    import zlib

    from gensr.imageio import ImageReadError

    bomb = zlib.compress(b"\0" * (64 << 20), 9)
    (tmp_path / "b.png").write_bytes(png_with_chunk(PIXELS, b"iCCP", b"x\0\0" + bomb))
    with pytest.raises(ImageReadError, match="b.png: cannot decode"):
        read_image(tmp_path / "b.png")
