"""The row-by-row encoders and ``write_bands``: files Pillow (and gensr) read back exactly, whatever
the bands; the same pixels as one ``write_image``; nothing left behind when the rows fall short."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from gensr.imageio import Image, encode, read_image, write_bands, write_image


def exif_bytes() -> bytes:
    e = PILImage.Exif()
    e[0x010F] = "TestCam"
    return e.tobytes()


def noisy(h: int, w: int, c: int, bits: int, seed: int = 0) -> np.ndarray:
    dtype = np.uint16 if bits == 16 else np.uint8
    return np.random.default_rng(seed).integers(0, 1 << bits, (h, w, c)).astype(dtype)


def encoded(fmt: str, a: np.ndarray, cuts: list[int], **kw: object) -> bytes:
    f = io.BytesIO()
    bits = 16 if a.dtype == np.uint16 else 8
    enc = encode.open_encoder(
        f, fmt, width=a.shape[1], height=a.shape[0], channels=a.shape[2], bits=bits, **kw
    )  # type: ignore[arg-type]
    for y0, y1 in zip([0, *cuts], [*cuts, a.shape[0]], strict=True):
        enc.write(a[y0:y1])
    enc.close()
    return f.getvalue()


def decoded(data: bytes, suffix: str, tmp_path: Path) -> np.ndarray:
    """Samples as gensr reads them (Pillow plus its 16-bit colour decoder), (H, W, C) integers."""
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    img = read_image(path)
    maxv = 65535 if img.bits == 16 else 255
    planes = img.rgb[:, :1] if img.gray else img.rgb
    if img.alpha is not None:
        planes = torch.cat([planes, img.alpha], dim=1)
    return np.rint(planes[0].permute(1, 2, 0).numpy().astype(np.float64) * maxv).astype(np.int64)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_streamed_png_and_tiff_decode_exactly(tmp_path: Path, fmt: str, bits: int, channels: int) -> None:
    if fmt == "TIFF" and bits == 16 and channels == 2:
        pytest.skip("Pillow cannot read 16-bit grey+alpha TIFF (gensr writes it as RGBA)")
    a = noisy(23, 19, channels, bits, seed=channels)
    data = encoded(fmt, a, [1, 2, 9, 9, 22])  # uneven bands, an empty one, a last single row
    assert (decoded(data, ".png" if fmt == "PNG" else ".tif", tmp_path) == a).all()
    assert data == encoded(fmt, a, [])  # the bands do not change the file


def test_multi_chunk_png_and_multi_strip_tiff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encode.PngEncoder, "IDAT_SIZE", 64)
    monkeypatch.setattr(encode.TiffEncoder, "STRIP_SIZE", 300)
    a = noisy(120, 100, 3, 8)
    png = encoded("PNG", a, list(range(10, 120, 10)), icc=b"profile", exif=exif_bytes())
    assert png.count(b"IDAT") > 2
    im = PILImage.open(io.BytesIO(png))
    assert im.info["icc_profile"] == b"profile"
    assert (np.asarray(im) == a).all()
    tif = encoded("TIFF", a, [7, 20], icc=b"profile")
    im = PILImage.open(io.BytesIO(tif))
    assert len(im.tag_v2[273]) == 120 and im.info["icc_profile"] == b"profile"  # a row a strip
    assert (np.asarray(im) == a).all()


def test_encoders_check_the_rows() -> None:
    enc = encode.PngEncoder(io.BytesIO(), width=4, height=3, channels=3, bits=8)
    with pytest.raises(ValueError, match="rows must be"):
        enc.write(np.zeros((1, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="rows must be"):
        enc.write(np.zeros((1, 4, 3), np.uint16))
    enc.write(np.zeros((2, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="2 of 3 rows"):
        enc.close()
    with pytest.raises(ValueError, match="more than 3"):
        enc.write(np.zeros((2, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="8 bits"):
        encode.open_encoder(io.BytesIO(), "JPEG", width=2, height=2, channels=3, bits=16)


def image(h: int, w: int, *, channels: int, bits: int, gray: bool = False) -> Image:
    g = torch.Generator().manual_seed(h * w + channels)
    rgb = torch.rand(1, 1 if gray else 3, h, w, generator=g).expand(1, 3, h, w)
    alpha = torch.rand(1, 1, h, w, generator=g) if channels in (2, 4) else None
    return Image(rgb=rgb, alpha=alpha, bits=bits, gray=gray, icc=b"icc", exif=exif_bytes())


def bands_of(img: Image, cuts: list[int]) -> list[Image]:
    edges = [0, *cuts, img.height]
    return [
        img.replace(rgb=img.rgb[..., y0:y1, :], alpha=None if img.alpha is None else img.alpha[..., y0:y1, :])
        for y0, y1 in zip(edges, edges[1:], strict=False)
    ]


@pytest.mark.parametrize(
    ("ext", "channels", "bits", "gray"),
    [
        (".png", 3, 8, False),
        (".png", 4, 16, False),
        (".png", 2, 8, True),
        (".png", 1, 16, True),
        (".tif", 4, 8, False),
        (".tif", 2, 16, True),
        (".jpg", 4, 8, False),
        (".webp", 2, 8, True),
        (".bmp", 3, 16, False),
    ],
)
def test_write_bands_equals_write_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ext: str, channels: int, bits: int, gray: bool
) -> None:
    import gensr.imageio.write as write

    img = image(21, 13, channels=channels, bits=bits, gray=gray)
    write_image(tmp_path / f"whole{ext}", img)
    monkeypatch.setattr(write, "_SLICE_PIXELS", 40)  # several slices a band too
    monkeypatch.setattr(encode.PillowEncoder, "PASTE_BYTES", 100)  # several pastes
    write_bands(tmp_path / f"bands{ext}", bands_of(img, [5, 6, 17]), height=21)
    whole, bands = (read_image(tmp_path / f"{n}{ext}") for n in ("whole", "bands"))
    assert torch.equal(whole.rgb, bands.rgb) and (whole.bits, whole.gray) == (bands.bits, bands.gray)
    assert (whole.alpha is None) == (bands.alpha is None)
    if whole.alpha is not None:
        assert torch.equal(whole.alpha, bands.alpha)  # type: ignore[arg-type]
    if ext in (".png", ".tif"):  # lossless: the pixels given, to the level
        maxv = 65535 if bits == 16 else 255
        assert (bands.rgb - img.rgb).abs().max() <= 0.5 / maxv + 1e-6


def test_short_bands_write_nothing(tmp_path: Path) -> None:
    img = image(10, 8, channels=3, bits=8)
    for ext in (".png", ".tif", ".jpg"):
        with pytest.raises(ValueError, match="6 of 10 rows"):
            write_bands(tmp_path / f"x{ext}", bands_of(img, [6])[:1], height=10)

    def failing():  # type: ignore[no-untyped-def]
        yield img
        raise RuntimeError("tile failed")

    with pytest.raises(RuntimeError, match="tile failed"):
        write_bands(tmp_path / "y.png", failing(), height=20)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def test_paeth_filter_matches_the_png_definition() -> None:
    """Per byte, as the PNG specification writes it (9.4), with the row above carried across bands."""
    rng = np.random.default_rng(0)
    for h, stride, bpp in [(5, 15, 3), (4, 32, 8), (1, 3, 3), (3, 2, 2)]:
        rows = rng.integers(0, 256, (h, stride)).astype(np.uint8)
        prev = rng.integers(0, 256, stride).astype(np.uint8)
        got = encode.paeth_filter(rows, bpp, prev)
        full = np.concatenate([prev[None], rows]).astype(int)
        for y in range(h):
            for i in range(stride):
                a = full[y + 1, i - bpp] if i >= bpp else 0
                b, c = full[y, i], (full[y, i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                assert got[y, 1 + i] == (full[y + 1, i] - pred) % 256
        assert (got[:, 0] == 4).all()
        assert (encode.paeth_filter(rows, bpp)[1:] == got[1:]).all()  # only the first row sees prev


def test_jpeg_of_pure_noise_is_written(tmp_path: Path) -> None:
    """Pillow sizes an optimised JPEG's buffer at 2 bytes a pixel; noise at quality 95, 4:4:4 needs more
    ("broken data stream when writing image file"): the picture is written unoptimised instead."""
    a = noisy(256, 256, 3, 8)
    out = tmp_path / "noise.jpg"
    write_image(out, Image(rgb=torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255))
    assert out.stat().st_size > 2 * 256 * 256  # more than Pillow's optimised buffer
    with PILImage.open(out) as im:
        assert im.format == "JPEG" and im.size == (256, 256)
        got = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert np.abs(got - a).mean() < 12  # quality 95 on noise: a JPEG of this picture, not another
    f = io.BytesIO(b"head")  # the encoder writes from where the stream is, and only one picture
    f.seek(4)
    enc = encode.open_encoder(f, "JPEG", width=256, height=256, channels=3, bits=8, quality=95)
    enc.write(a)
    enc.close()
    assert f.getvalue() == b"head" + out.read_bytes()
