"""``gensr upscale`` against hostile inputs: one line per bad input, the others done, nothing lost."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image as PILImage

from gensr.cli import main
from gensr.imageio import budget
from tests.hostile import GARBAGE_EXIF, exif_with, photo, png_with_chunk, zero_png


@pytest.fixture(scope="module")
def model(tiny_model_file: Callable[..., Path]) -> Path:
    return tiny_model_file()


def run(*args: object) -> int:
    return main(["upscale", *map(str, args), "--quiet"])


def lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip()]


def test_one_bad_file_never_stops_a_folder(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        PILImage.fromarray(photo()).save(folder / f"good{i}.png")
    PILImage.fromarray(photo()).save(folder / "text_orientation.jpg", exif=exif_with(0x0112, "abc"))
    (folder / "corrupt_exif.png").write_bytes(png_with_chunk(photo(), b"eXIf", GARBAGE_EXIF[6:]))
    PILImage.fromarray(photo()).save(folder / "corrupt_exif.webp", exif=GARBAGE_EXIF)
    (folder / "bad\nname.png").write_bytes(b"not an image")
    (folder / "empty.jpg").write_bytes(b"")
    assert run(folder, "-o", tmp_path / "out", "--model", model) == 1
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert out == ["corrupt_exif_x4.png", "corrupt_exif_x4.webp", "good0_x4.png", "good1_x4.png",
                   "good2_x4.png", "text_orientation_x4.jpg"]  # fmt: skip
    err = lines(capsys.readouterr().err)
    failures = [ln for ln in err if "warning" not in ln]
    assert (
        len(failures) == 3
        and failures[-1] == "gensr: 6 written, 0 skipped (output exists), 2 failed, of 8 inputs"
    )
    assert (
        f"gensr: {folder}/bad\\nname.png: not an image Pillow can identify (corrupt or unsupported)"
        in failures
    )
    assert any(
        ln.endswith("text_orientation.jpg: warning: EXIF orientation 'abc' is not 1..8; ignored")
        for ln in err
    )


def test_usage_errors_come_before_any_work(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PILImage.fromarray(photo()).save(tmp_path / "a.png")
    for suffix in (
        "{scale:>300}",
        "{scale:>99999999999}",
        "{scale.__class__}",
        "/../x",
        "{0}",
        "{",
        "x" * 70,
    ):
        assert run(tmp_path / "a.png", "-o", tmp_path / "out", "--model", model, "--suffix", suffix) == 2
    err = lines(capsys.readouterr().err)
    assert len(err) == 7 and all(ln.startswith("gensr upscale: error: --suffix") for ln in err)
    assert not (tmp_path / "out").exists()


def test_output_names_too_long_fail_that_input_only(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PILImage.fromarray(photo()).save(tmp_path / ("n" * 250 + ".png"))
    PILImage.fromarray(photo()).save(tmp_path / ("m" * 240 + ".png"))  # output 247 bytes: legal
    assert run(tmp_path / ("n" * 250 + ".png"), tmp_path / ("m" * 240 + ".png"), "-o", tmp_path / "o",
               "--model", model) == 1  # fmt: skip
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["m" * 240 + "_x4.png"]
    err = lines(capsys.readouterr().err)
    assert len(err) == 2 and "is 257 bytes, more than the 255 the file system allows" in err[0]


def test_animations_are_upscaled_frame_by_frame(tmp_path: Path, model: Path) -> None:
    frames = [PILImage.fromarray(photo(6, 8, 4) // (i + 1)) for i in range(3)]
    frames[0].save(tmp_path / "a.webp", save_all=True, append_images=frames[1:], duration=[40, 50, 60],
                   loop=0, lossless=True)  # fmt: skip
    frames[0].save(tmp_path / "a.png", save_all=True, append_images=frames[1:], duration=[40, 50, 60])
    frames[0].save(tmp_path / "a.tif", save_all=True, append_images=frames[1:])
    for name in ("a.webp", "a.png", "a.tif"):
        assert run(tmp_path / name, "-o", tmp_path / "o", "--model", model) == 0
        with PILImage.open(tmp_path / "o" / name.replace("a.", "a_x4.")) as im:
            assert im.n_frames == 3 and im.size == (32, 24)
    assert run(tmp_path / "a.webp", "-o", tmp_path / "j", "--model", model, "--format", "jpg") == 1
    assert not (tmp_path / "j").exists() or not list((tmp_path / "j").iterdir())


def test_pixel_and_memory_budgets_refuse_before_decoding(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "big.png").write_bytes(zero_png(4000, 3000))  # 12 MP in 40 KB
    PILImage.fromarray(photo()).save(tmp_path / "ok.png")
    assert run(tmp_path / "big.png", tmp_path / "ok.png", "-o", tmp_path / "o", "--model", model,
               "--max-pixels", "10M") == 1  # fmt: skip
    assert "big.png: 4000x3000 is 12 MP, more than the 10 MP budget" in capsys.readouterr().err
    monkeypatch.setattr(budget, "available_memory", lambda: 2**30)
    t0 = time.perf_counter()
    assert run(tmp_path / "big.png", "-o", tmp_path / "o", "--model", model) == 1
    assert time.perf_counter() - t0 < 5  # refused from the header, not after decoding 12 MP
    png, jpg = budget.upscale_bytes(4000, 3000, 4), budget.upscale_bytes(4000, 3000, 4, fmt="JPEG")
    assert f"big.png: upscaling it x4 needs about {png / 2**30:.1f} GB of memory, 1.0 GB is available" in (
        capsys.readouterr().err
    )
    assert run(tmp_path / "big.png", "-o", tmp_path / "o", "--model", model, "--format", "jpg") == 1
    assert f"needs about {jpg / 2**30:.1f} GB" in capsys.readouterr().err  # JPEG holds its 8-bit rows


def test_stale_temporary_files_are_cleaned_and_none_left(tmp_path: Path, model: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    stale = out / ".gensr-deadbeef.part"
    stale.write_bytes(b"half an image from a killed run")
    old = time.time() - 600
    os.utime(stale, (old, old))
    PILImage.fromarray(photo()).save(tmp_path / "a.png")
    assert run(tmp_path / "a.png", "-o", out, "--model", model) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_x4.png"]


def test_bad_model_files_are_one_usage_line(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(model), framework="pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, str(tmp_path / "x2.safetensors"), metadata={**meta, "scale": "2"})
    for i in range(3):
        PILImage.fromarray(photo()).save(tmp_path / f"a{i}.png")
    inputs = [tmp_path / f"a{i}.png" for i in range(3)]
    assert run(*inputs, "-o", tmp_path / "o", "--model", tmp_path / "x2.safetensors") == 2
    err = lines(capsys.readouterr().err)
    assert err == [f"gensr upscale: error: {tmp_path / 'x2.safetensors'}: metadata says x2 but its compact "
                   "network upscales x4"]  # fmt: skip
