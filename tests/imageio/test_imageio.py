from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageOps

from gensr.imageio import (
    Image,
    ImageReadError,
    apply_orientation,
    encode,
    list_images,
    read_image,
    write_image,
)


def smooth_rgb(h: int = 24, w: int = 32) -> np.ndarray:
    """A smooth uint8 picture (lossy codecs keep it within a few levels)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.4 * np.sin((x + y) / 7)], axis=-1)
    return np.round(img * 255).astype(np.uint8)


def noisy(shape: tuple[int, ...], dtype: type = np.uint8) -> np.ndarray:
    top = 65536 if dtype == np.uint16 else 256
    return np.random.default_rng(1).integers(0, top, shape).astype(dtype)


def as_array(t: torch.Tensor, maxv: int) -> np.ndarray:
    return np.rint(t[0].permute(1, 2, 0).numpy() * maxv).astype(np.int64)


def srgb_icc() -> bytes:
    try:
        from PIL import ImageCms

        return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except (ImportError, OSError):
        return b"fake icc profile bytes" * 8


# ---------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_lossless_rgb_round_trip_is_exact(tmp_path: Path, ext: str) -> None:
    a = noisy((13, 17, 3))
    PILImage.fromarray(a).save(tmp_path / f"in{ext}")
    img = read_image(tmp_path / f"in{ext}")
    assert img.rgb.shape == (1, 3, 13, 17) and img.rgb.dtype == torch.float32
    assert img.alpha is None and img.bits == 8 and not img.gray
    assert (as_array(img.rgb, 255) == a).all()
    write_image(tmp_path / f"out{ext}", img)
    assert (np.asarray(PILImage.open(tmp_path / f"out{ext}").convert("RGB")) == a).all()


@pytest.mark.parametrize(("ext", "tol"), [(".jpg", 4.0), (".webp", 4.0)])
def test_lossy_rgb_round_trip_is_close(tmp_path: Path, ext: str, tol: float) -> None:
    a = smooth_rgb()
    img = Image(rgb=torch.from_numpy(a / 255.0).float().permute(2, 0, 1)[None])
    write_image(tmp_path / f"x{ext}", img)
    back = read_image(tmp_path / f"x{ext}")
    assert back.rgb.shape == img.rgb.shape
    assert np.abs(as_array(back.rgb, 255) - a).mean() < tol


@pytest.mark.parametrize("ext", [".png", ".webp", ".tif"])
def test_rgba_keeps_straight_alpha(tmp_path: Path, ext: str) -> None:
    a = noisy((10, 12, 4))
    a[..., 3] = np.where(np.arange(12) < 6, 255, 0)[None, :]  # half opaque, half transparent
    a[2, 2, 3] = 128
    PILImage.fromarray(a).save(tmp_path / "in.png")
    img = read_image(tmp_path / "in.png")
    assert img.alpha is not None and img.alpha.shape == (1, 1, 10, 12)
    assert (as_array(img.alpha, 255)[..., 0] == a[..., 3]).all()
    assert (as_array(img.rgb, 255) == a[..., :3]).all()  # colour under alpha 0 kept (straight)
    write_image(tmp_path / f"out{ext}", img, quality=100)
    out = np.asarray(PILImage.open(tmp_path / f"out{ext}").convert("RGBA")).astype(int)
    if ext == ".webp":  # lossy colour; alpha is lossless by default
        assert (out[..., 3] == a[..., 3]).all()
    else:
        visible = a[..., 3] > 0
        assert (out[..., 3] == a[..., 3]).all() and (out[visible] == a[visible]).all()


def test_grey_and_grey_alpha(tmp_path: Path) -> None:
    g = noisy((9, 11))
    PILImage.fromarray(g, "L").save(tmp_path / "l.png")
    img = read_image(tmp_path / "l.png")
    assert img.gray and img.alpha is None and img.bits == 8
    assert (as_array(img.rgb, 255) == g[..., None]).all()  # replicated into 3 channels
    write_image(tmp_path / "l_out.png", img)
    out = PILImage.open(tmp_path / "l_out.png")
    assert out.mode == "L" and (np.asarray(out) == g).all()

    la = np.stack([g, noisy((9, 11))[::-1]], axis=-1)
    PILImage.fromarray(la, "LA").save(tmp_path / "la.png")
    img = read_image(tmp_path / "la.png")
    assert img.gray and img.alpha is not None
    assert (as_array(img.alpha, 255)[..., 0] == la[..., 1]).all()
    write_image(tmp_path / "la_out.png", img)
    out = PILImage.open(tmp_path / "la_out.png")
    assert out.mode == "LA" and (np.asarray(out) == la).all()


def test_palette_with_transparency_becomes_rgba(tmp_path: Path) -> None:
    idx = (np.arange(8 * 8).reshape(8, 8) % 4).astype(np.uint8)
    pal = PILImage.fromarray(idx, "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30] + [0] * (252 * 3))
    pal.save(tmp_path / "p.png", transparency=3)
    img = read_image(tmp_path / "p.png")
    assert img.palette and not img.gray and img.alpha is not None
    alpha = as_array(img.alpha, 255)[..., 0]
    assert (alpha[idx == 3] == 0).all() and (alpha[idx != 3] == 255).all()
    assert (as_array(img.rgb, 255)[idx == 1] == [0, 255, 0]).all()
    write_image(tmp_path / "p_out.png", img)
    assert PILImage.open(tmp_path / "p_out.png").mode == "RGBA"


# ------------------------------------------------------------------------------------------ 16-bit


def test_16bit_grey_png_round_trip_exact(tmp_path: Path) -> None:
    g = noisy((7, 9), np.uint16)
    PILImage.fromarray(g).save(tmp_path / "g16.png")  # Pillow's own 16-bit grey writer
    img = read_image(tmp_path / "g16.png")
    assert img.bits == 16 and img.gray
    assert (as_array(img.rgb, 65535)[..., 0] == g).all()
    write_image(tmp_path / "g16_out.png", img)
    out = PILImage.open(tmp_path / "g16_out.png")
    assert out.mode.startswith("I;16") and (np.asarray(out) == g).all()


@pytest.mark.parametrize("channels", [2, 3, 4])
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_colour_round_trip_exact(tmp_path: Path, channels: int, ext: str) -> None:
    a = noisy((11, 14, channels), np.uint16)
    x = torch.from_numpy(a.astype(np.float32) / 65535).permute(2, 0, 1)[None]
    gray = channels == 2
    rgb = x[:, :1].expand(1, 3, -1, -1) if gray else x[:, :3]
    alpha = x[:, -1:] if channels in (2, 4) else None
    write_image(tmp_path / f"c{ext}", Image(rgb=rgb, alpha=alpha, bits=16, gray=gray))
    back = read_image(tmp_path / f"c{ext}")
    assert back.bits == 16
    assert (as_array(back.rgb, 65535) == as_array(rgb, 65535)).all()
    if alpha is not None:
        assert back.alpha is not None and (as_array(back.alpha, 65535) == as_array(alpha, 65535)).all()
    # an independent decoder sees the same file: Pillow's 8-bit view holds the high bytes
    eight = np.asarray(PILImage.open(tmp_path / f"c{ext}"))
    assert (eight[..., 0] == (a[..., 0] >> 8)).all()


def test_16bit_png_written_by_another_encoder(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    a = noisy((6, 10, 3), np.uint16)
    cv2.imwrite(str(tmp_path / "cv.png"), np.ascontiguousarray(a[..., ::-1]))
    img = read_image(tmp_path / "cv.png")
    assert img.bits == 16 and (as_array(img.rgb, 65535) == a).all()
    write_image(tmp_path / "mine.png", img)
    assert (cv2.imread(str(tmp_path / "mine.png"), cv2.IMREAD_UNCHANGED)[..., ::-1] == a).all()


def test_16bit_tiff_written_by_another_encoder(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    a = noisy((9, 8, 3), np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", a, photometric="rgb", compression="zlib", predictor=True)
    img = read_image(tmp_path / "t.tif")
    assert img.bits == 16 and (as_array(img.rgb, 65535) == a).all()
    write_image(tmp_path / "mine.tif", img)
    assert (tifffile.imread(tmp_path / "mine.tif") == a).all()


def test_16bit_goes_to_8bit_where_the_format_has_no_16bit(tmp_path: Path) -> None:
    a = noisy((5, 6, 3), np.uint16)
    img = Image(rgb=torch.from_numpy(a / 65535.0).float().permute(2, 0, 1)[None], bits=16)
    write_image(tmp_path / "x.bmp", img)
    out = np.asarray(PILImage.open(tmp_path / "x.bmp")).astype(int)
    assert np.abs(out - np.rint(a / 257.0)).max() <= 1


def test_png16_encoder_output_is_valid_png() -> None:
    buf = io.BytesIO()
    enc = encode.PngEncoder(
        buf, width=5, height=4, channels=3, bits=16, icc=b"icc", exif=b"Exif\x00\x00II*\x00"
    )
    enc.write(noisy((4, 5, 3), np.uint16))
    enc.close()
    im = PILImage.open(io.BytesIO(buf.getvalue()))
    im.load()  # CRCs and zlib stream checked by Pillow
    assert im.size == (5, 4) and im.info["icc_profile"] == b"icc"


# ------------------------------------------------------------------------------------ metadata


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation: int) -> None:
    a = noisy((4, 7, 3))
    im = PILImage.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=exif)
    buf.seek(0)
    assert (
        apply_orientation(a, orientation) == np.asarray(ImageOps.exif_transpose(PILImage.open(buf)))
    ).all()


def test_exif_orientation_6_jpeg_comes_out_upright(tmp_path: Path) -> None:
    a = np.zeros((16, 24, 3), np.uint8)  # stored landscape, 24 wide
    a[:4, :6] = 255  # white block at the stored top-left
    exif = PILImage.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    exif[0x010F] = "TestCam"
    PILImage.fromarray(a).save(tmp_path / "r.jpg", exif=exif, quality=95)
    img = read_image(tmp_path / "r.jpg")
    assert (img.height, img.width) == (24, 16)  # portrait
    white = as_array(img.rgb, 255).mean(axis=-1) > 128
    assert white[:6, -4:].mean() > 0.9 and white[:, :8].mean() < 0.05  # block now at top-right
    assert img.exif is not None
    e = PILImage.Exif()
    e.load(img.exif)
    assert e[0x0112] == 1 and e[0x010F] == "TestCam"


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_exif_and_icc_carried_to_output(tmp_path: Path, ext: str) -> None:
    icc = srgb_icc()
    exif = PILImage.Exif()
    exif[0x010F] = "TestCam"
    exif[0x8769] = {0x9003: "2024:05:06 07:08:09", 0xA002: 24}  # DateTimeOriginal, PixelXDimension
    PILImage.fromarray(smooth_rgb()).save(tmp_path / "src.jpg", exif=exif, icc_profile=icc)
    img = read_image(tmp_path / "src.jpg")
    assert img.icc == icc
    write_image(tmp_path / f"out{ext}", img)
    out = PILImage.open(tmp_path / f"out{ext}")
    out.load()
    assert out.info.get("icc_profile") == icc
    e = out.getexif()
    assert e.get(0x010F) == "TestCam"
    sub = e.get_ifd(0x8769)
    assert sub.get(0x9003) == "2024:05:06 07:08:09"
    assert 0xA002 not in sub  # stale pixel dimension dropped


def test_icc_carried_to_tiff_including_16bit(tmp_path: Path) -> None:
    icc = srgb_icc()
    for bits in (8, 16):
        img = Image(rgb=torch.rand(1, 3, 5, 6), bits=bits, icc=icc)
        write_image(tmp_path / f"t{bits}.tif", img)
        assert PILImage.open(tmp_path / f"t{bits}.tif").info.get("icc_profile") == icc
        assert read_image(tmp_path / f"t{bits}.tif").icc == icc


def test_cmyk_jpeg_becomes_rgb_without_its_profile(tmp_path: Path) -> None:
    PILImage.new("CMYK", (8, 6), (0, 255, 255, 0)).save(tmp_path / "c.jpg", icc_profile=b"cmyk profile")
    img = read_image(tmp_path / "c.jpg")
    assert img.icc is None and img.rgb.shape == (1, 3, 6, 8)


def test_jpeg_output_composites_alpha_over_white(tmp_path: Path) -> None:
    rgb = torch.zeros(1, 3, 4, 4)
    alpha = torch.zeros(1, 1, 4, 4)
    alpha[..., :2] = 1
    write_image(tmp_path / "a.jpg", Image(rgb=rgb, alpha=alpha), quality=100)
    out = np.asarray(PILImage.open(tmp_path / "a.jpg")).astype(int)
    assert out[:, 3].min() > 200 and out[:, 0].max() < 60


# -------------------------------------------------------------------------------------- errors


def test_corrupt_files_raise_naming_the_file(tmp_path: Path) -> None:
    good = io.BytesIO()
    PILImage.fromarray(noisy((32, 32, 3))).save(good, "PNG")
    cases = {
        "truncated.png": good.getvalue()[: len(good.getvalue()) // 2],
        "garbage.jpg": b"\xff\xd8\xff" + bytes(range(256)) * 4,
        "empty.png": b"",
        "text.webp": b"hello world",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageReadError) as err:
            read_image(tmp_path / name)
        msg = str(err.value)
        assert name in msg and "\n" not in msg and err.value.path == tmp_path / name
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    dst = tmp_path / "x.png"
    dst.write_bytes(b"precious")
    img = Image(rgb=torch.rand(1, 3, 4, 4))
    with pytest.raises(FileExistsError):
        write_image(dst, img)
    assert dst.read_bytes() == b"precious"
    write_image(dst, img, overwrite=True)
    assert read_image(dst).rgb.shape == (1, 3, 4, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_failed_write_leaves_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gensr.base.atomic as imageio

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(imageio.os, "fsync", disk_full)
    out = tmp_path / "sub"
    with pytest.raises(OSError, match="No space"):
        write_image(out / "x.png", Image(rgb=torch.rand(1, 3, 8, 8)))
    assert list(out.iterdir()) == []
    with pytest.raises(ValueError, match="extension"):
        write_image(tmp_path / "x.ppm", Image(rgb=torch.rand(1, 3, 8, 8)))


def test_image_validates_shapes() -> None:
    with pytest.raises(ValueError):
        Image(rgb=torch.rand(3, 4, 4))
    with pytest.raises(ValueError):
        Image(rgb=torch.rand(1, 3, 4, 4), alpha=torch.rand(1, 1, 4, 5))
    with pytest.raises(ValueError):
        Image(rgb=torch.rand(1, 3, 4, 4), bits=12)


# ---------------------------------------------------------------------------------------- list


def test_list_images_expands_folders_and_globs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for rel in [
        "b.png",
        "a.JPG",
        "sub/c.webp",
        "sub/deeper/d.tif",
        "notes.txt",
        ".hidden/e.png",
        "sub/.f.png",
    ]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    found = list_images([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.JPG",
        "b.png",
        "sub/c.webp",
        "sub/deeper/d.tif",
    ]
    monkeypatch.chdir(tmp_path)
    assert [p.as_posix() for p in list_images(["sub/**/*.tif"])] == ["sub/deeper/d.tif"]
    assert [p.as_posix() for p in list_images(["*.png", "b.png", "notes.txt"])] == ["b.png", "notes.txt"]
    with pytest.raises(FileNotFoundError):
        list_images(["nothing_here.png"])
    with pytest.raises(FileNotFoundError):
        list_images(["*.gif"])


# -------------------------------------------------------------------------- hostile inputs


@pytest.mark.parametrize(
    ("top", "note"), [(1.0, None), (255.0, "float samples read as 0..255"), (65535.0, "0..65535")]
)
def test_float_images_are_read_from_their_range(tmp_path: Path, top: float, note: str | None) -> None:
    a = np.linspace(0, top, 12 * 16, dtype=np.float32).reshape(12, 16)
    PILImage.fromarray(a, "F").save(tmp_path / "f.tif")
    img = read_image(tmp_path / "f.tif")
    assert img.gray and img.bits == 16
    assert abs(float(img.rgb.mean()) - 0.5) < 1e-3 and float(img.rgb.max()) == 1.0
    assert (note is None and img.notes == ()) or (note is not None and note in img.notes[0])


@pytest.mark.parametrize(
    ("value", "match"), [(np.nan, "NaN or infinity"), (-3.0, "span -3..1"), (7e4, "span")]
)
def test_float_images_outside_every_range_are_refused(tmp_path: Path, value: float, match: str) -> None:
    a = np.linspace(0, 1, 12 * 16, dtype=np.float32).reshape(12, 16)
    a[0, 0] = value
    PILImage.fromarray(a, "F").save(tmp_path / "f.tif")
    with pytest.raises(ImageReadError, match=match):
        read_image(tmp_path / "f.tif")


def test_pixel_budget_is_checked_from_the_header(tmp_path: Path) -> None:
    from tests.hostile import zero_png

    (tmp_path / "big.png").write_bytes(zero_png(10000, 10001))
    with pytest.raises(ImageReadError, match=r"big.png: 10000x10001 is 100 MP, more than the 100 MP budget"):
        read_image(tmp_path / "big.png")  # refused before decoding: a decode would take 300 MB
    PILImage.fromarray(noisy((20, 30, 3))).save(tmp_path / "s.png")
    with pytest.raises(ImageReadError, match="600 pixels, more than the 599 pixels budget"):
        read_image(tmp_path / "s.png", max_pixels=599)
