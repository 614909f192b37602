"""Reading any file gives a well-formed Image or one ImageReadError line naming it; never anything else."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import torch
from hypothesis import given
from hypothesis import strategies as st

from gensr.imageio import (
    Image,
    ImageReadError,
    probe_image,
    read_frames,
    read_image,
    write_frames,
    write_image,
)
from gensr.messages import shown
from tests.fuzz.conftest import examples
from tests.fuzz.files import EXT, Spec, image_files


def _check_image(img: Image) -> None:
    assert img.rgb.dtype == torch.float32 and img.rgb.shape[:2] == (1, 3)
    assert bool(torch.isfinite(img.rgb).all()) and 0 <= float(img.rgb.min()) and float(img.rgb.max()) <= 1
    assert img.alpha is None or img.alpha.shape == (1, 1, *img.rgb.shape[2:])
    assert all(isinstance(n, str) and n.isprintable() for n in img.notes)
    assert img.icc is None or img.icc[16:20] == (b"GRAY" if img.gray else b"RGB ")


def _check_error(e: ImageReadError, path: Path) -> None:
    text = str(e)
    assert text.startswith(f"{shown(path)}: ") and "\n" not in text and len(text) < 600, text


@examples(160)
@given(image_files())
def test_any_file_reads_cleanly_or_fails_in_one_line(count: Counter[str], case: tuple[Spec, bytes]) -> None:
    count["read_image: any file (every format, mode, EXIF, ICC, damage)"] += 1
    spec, data = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"in{EXT[spec.format]}"
        path.write_bytes(data)
        try:
            info = probe_image(path)
        except ImageReadError as e:
            _check_error(e, path)
            return
        assert info.width >= 1 and info.height >= 1 and info.frames >= 1
        try:
            frames = list(read_frames(path)[1])
            if info.frames == 1:
                frames = [read_image(path)]
        except ImageReadError as e:
            _check_error(e, path)
            return
        for img in frames:
            _check_image(img)
        ext = EXT[spec.format] if spec.format != "GIF" else ".png"
        if len(frames) == 1:
            write_image(Path(d) / f"out{ext}", frames[0])
        else:
            write_frames(
                Path(d) / f"out{ext}" if ext in (".png", ".webp", ".tif") else Path(d) / "out.png", frames
            )
        assert [p.name for p in Path(d).iterdir() if p.name.endswith(".part")] == []


@examples(60)
@given(image_files(damaged=False), st.integers(1, 2000))
def test_budget_refuses_from_the_header(count: Counter[str], case: tuple[Spec, bytes], budget: int) -> None:
    count["probe_image: pixel budget decided from the header"] += 1
    spec, data = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"in{EXT[spec.format]}"
        path.write_bytes(data)
        try:
            info = probe_image(path, max_pixels=budget)
        except ImageReadError as e:
            _check_error(e, path)
            assert "budget" in str(e) or "unsupported" in str(e) or "decode" in str(e) or "identify" in str(e)
            return
        assert info.pixels <= budget


@examples(90)
@given(st.sampled_from([".jpg", ".png", ".webp"]), st.binary(max_size=120), st.booleans())
def test_any_exif_bytes_keep_the_image(count: Counter[str], ext: str, exif: bytes, prefixed: bool) -> None:
    """EXIF is handled the same in every format: whatever its bytes, the pixels are read."""
    count["EXIF: any bytes in JPEG, PNG, WebP"] += 1
    import numpy as np
    from PIL import Image as PILImage

    from tests.hostile import png_with_chunk

    pixels = np.full((5, 7, 3), 90, np.uint8)
    block = b"Exif\0\0" + exif if prefixed else exif
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"a{ext}"
        if ext == ".png":
            path.write_bytes(png_with_chunk(pixels, b"eXIf", block[6:] if prefixed else block))
        else:
            try:
                PILImage.fromarray(pixels).save(
                    path, exif=block, **({"lossless": True} if ext == ".webp" else {})
                )
            except Exception:  # noqa: BLE001 - Pillow's writer parses some blocks; those cannot be made
                return
        img = read_image(path)
        _check_image(img)
        assert img.rgb.shape[2:] in ((5, 7), (7, 5))
