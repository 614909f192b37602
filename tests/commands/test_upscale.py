from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from gensr.cli import main
from gensr.imageio import read_image


@pytest.fixture(scope="module")
def model(tiny_model_file: Callable[..., Path]) -> Path:
    return tiny_model_file()


def photo(h: int = 12, w: int = 16, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(h * w + channels).integers(0, 256, (h, w, channels)).astype(np.uint8)


def upscale(*args: str | Path) -> int:
    return main(["upscale", *map(str, args), "--quiet"])


def test_rgb_and_rgba_come_out_four_times_larger(tmp_path: Path, model: Path) -> None:
    PILImage.fromarray(photo()).save(tmp_path / "a.jpg")
    rgba = photo(channels=4)
    rgba[..., 3] = 0
    rgba[3:9, 4:12, 3] = 255
    PILImage.fromarray(rgba).save(tmp_path / "b.png")
    assert upscale(tmp_path / "a.jpg", tmp_path / "b.png", "-o", tmp_path / "out", "--model", model) == 0
    a = PILImage.open(tmp_path / "out" / "a_x4.jpg")
    assert a.size == (64, 48) and a.format == "JPEG"
    b = PILImage.open(tmp_path / "out" / "b_x4.png")
    assert b.size == (64, 48) and b.mode == "RGBA"
    alpha = np.asarray(b)[..., 3]
    assert alpha[20, 32] == 255 and alpha[2, 2] == 0  # inside the opaque box / outside it


def test_16bit_stays_16bit(tmp_path: Path, model: Path) -> None:
    g = np.random.default_rng(0).integers(0, 65536, (8, 10)).astype(np.uint16)
    PILImage.fromarray(g).save(tmp_path / "g16.png")
    assert upscale(tmp_path / "g16.png", "-o", tmp_path, "--model", model) == 0
    out = PILImage.open(tmp_path / "g16_x4.png")
    assert out.mode.startswith("I;16") and out.size == (40, 32)
    img = read_image(tmp_path / "g16_x4.png")
    assert img.bits == 16 and img.gray
    levels = np.unique(np.asarray(out))
    assert (levels % 257 != 0).any()  # real 16-bit values, not 8-bit ones scaled up


def test_exif_rotated_jpeg_comes_out_upright(tmp_path: Path, model: Path) -> None:
    a = np.zeros((12, 20, 3), np.uint8)
    a[:3, :5] = 255  # bright corner at the stored top-left
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.fromarray(a).save(tmp_path / "r.jpg", exif=exif)
    assert upscale(tmp_path / "r.jpg", "-o", tmp_path / "o", "--model", model, "--format", "png") == 0
    out = PILImage.open(tmp_path / "o" / "r_x4.png")
    assert out.size == (48, 80)  # portrait: (12*4) wide, (20*4) tall
    assert out.getexif().get(0x0112, 1) == 1
    grey = np.asarray(out.convert("L")).astype(float)
    assert grey[:20, -12:].mean() > 150 and grey[:20, :12].mean() < 100  # corner now at the top-right


def test_corrupt_input_among_good_ones(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PILImage.fromarray(photo()).save(tmp_path / "good1.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    PILImage.fromarray(photo(9, 7)).save(tmp_path / "good2.png")
    rc = upscale(tmp_path, "-o", tmp_path / "out", "--model", model)
    assert rc == 1
    assert (tmp_path / "out" / "good1_x4.png").is_file() and (tmp_path / "out" / "good2_x4.png").is_file()
    assert not (tmp_path / "out" / "broken_x4.png").exists()
    err_lines = [ln for ln in capsys.readouterr().err.splitlines() if "broken.png" in ln]
    assert (
        len(err_lines) == 1
        and err_lines[0].startswith("gensr: ")
        and str(tmp_path / "broken.png") in err_lines[0]
    )
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files


def test_existing_output_is_not_overwritten(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PILImage.fromarray(photo()).save(tmp_path / "a.png")
    out = tmp_path / "a_x4.png"
    out.write_bytes(b"keep me")
    assert upscale(tmp_path / "a.png", "-o", tmp_path, "--model", model) == 1
    assert out.read_bytes() == b"keep me"
    assert "a_x4.png" in capsys.readouterr().err
    assert upscale(tmp_path / "a.png", "-o", tmp_path, "--model", model, "--overwrite") == 0
    assert PILImage.open(out).size == (64, 48)


def test_folder_keeps_subfolders_and_single_file_target(tmp_path: Path, model: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    PILImage.fromarray(photo()).save(tmp_path / "in" / "top.png")
    PILImage.fromarray(photo(5, 6)).save(tmp_path / "in" / "sub" / "deep.webp")
    assert upscale(tmp_path / "in", "-o", tmp_path / "out", "--model", model, "--suffix=-big") == 0
    assert (tmp_path / "out" / "top-big.png").is_file()
    assert PILImage.open(tmp_path / "out" / "sub" / "deep-big.webp").size == (24, 20)
    assert upscale(tmp_path / "in" / "top.png", "-o", tmp_path / "one.jpg", "--model", model) == 0
    assert PILImage.open(tmp_path / "one.jpg").size == (64, 48)


def test_tiled_and_untiled_outputs_agree(tmp_path: Path, model: Path) -> None:
    PILImage.fromarray(photo(40, 44)).save(tmp_path / "p.png")
    assert upscale(tmp_path / "p.png", "-o", tmp_path / "t", "--model", model, "--tile", "16") == 0
    assert upscale(tmp_path / "p.png", "-o", tmp_path / "u", "--model", model, "--tile", "0") == 0
    tiled = np.asarray(PILImage.open(tmp_path / "t" / "p_x4.png")).astype(int)
    whole = np.asarray(PILImage.open(tmp_path / "u" / "p_x4.png")).astype(int)
    assert np.abs(tiled - whole).max() <= 1


def test_usage_errors_exit_2(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    PILImage.fromarray(photo()).save(tmp_path / "a.png")
    PILImage.fromarray(photo()).save(tmp_path / "b.png")
    assert main(["upscale"]) == 2  # no INPUT and no --sample
    with pytest.raises(SystemExit) as e:
        main(["upscale", str(tmp_path / "a.png"), "--precision", "fp64"])
    assert e.value.code == 2
    assert upscale(tmp_path / "a.png", "--model", tmp_path / "nope.safetensors", "-o", tmp_path) == 2
    assert upscale(tmp_path / "a.png", "--model", model, "--precision", "fp16", "--device", "cpu") == 2
    assert upscale(tmp_path / "a.png", "--model", model, "--scale", "2", "-o", tmp_path) == 2
    assert upscale(tmp_path / "a.png", tmp_path / "b.png", "--model", model, "-o", tmp_path / "x.png") == 2
    err = capsys.readouterr().err
    assert "nope.safetensors" in err and "CUDA" in err
    assert not list(tmp_path.glob("*_x4.png"))


def test_missing_input_fails_that_input_only(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PILImage.fromarray(photo()).save(tmp_path / "a.png")
    assert upscale(tmp_path / "a.png", tmp_path / "missing.png", "-o", tmp_path / "o", "--model", model) == 1
    assert (tmp_path / "o" / "a_x4.png").is_file()
    assert "missing.png" in capsys.readouterr().err


def test_builtin_model_upscales_the_bundled_sample(tmp_path: Path) -> None:
    """README's first command: no --model, the bundled photo, the shipped weights."""
    assert upscale("--sample", "-o", tmp_path) == 0
    out = read_image(tmp_path / "astronaut_x4.jpg")
    assert out.rgb.shape == (1, 3, 1024, 1024)
    # a real model, not noise: close to a plain bicubic enlargement of the same photo
    src = read_image(Path(__file__).parents[2] / "src/gensr/samples/astronaut.jpg").rgb
    ref = torch.nn.functional.interpolate(src, scale_factor=4, mode="bicubic").clamp(0, 1)
    assert (out.rgb - ref).abs().mean() < 0.03


def test_sample_or_input_is_required(tmp_path: Path) -> None:
    assert upscale("-o", tmp_path) == 2


@pytest.mark.parametrize(
    ("name", "pixels"),
    [
        ("rgb8.png", lambda: photo(13, 11)),
        ("rgba8.png", lambda: photo(13, 11, 4)),
        ("la8.png", lambda: photo(13, 11, 2)),
        ("grey16.png", lambda: photo(13, 11, 1)[..., 0].astype(np.uint16) * 257 + 3),
        ("rgb8.tif", lambda: photo(13, 11)),
        ("rgba8.tif", lambda: photo(13, 11, 4)),
    ],
)
def test_streamed_output_equals_the_whole_image_path(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, name: str, pixels: Callable[[], np.ndarray]
) -> None:
    """`gensr upscale` encodes bands of 3 input rows as they come; the file holds what upscaling the
    whole image in one piece and writing it gives (within one level)."""
    import gensr.infer.tuning as tuning
    from gensr.imageio import write_image
    from gensr.infer import fill_transparent, tile_upscale, upscale_alpha
    from gensr.models import load_model

    a = pixels()
    PILImage.fromarray(a if a.ndim == 2 or a.shape[2] > 1 else a[..., 0]).save(tmp_path / name)
    monkeypatch.setattr(tuning, "BAND_BYTES", 4 * 3 * 16 * 11 * 3)  # 3 input rows a band
    assert upscale(tmp_path / name, "-o", tmp_path / "out", "--model", model, "--precision", "fp32") == 0

    img = read_image(tmp_path / name)
    net = load_model(model)[0]
    rgb = img.rgb if img.alpha is None else fill_transparent(img.rgb, img.alpha)
    sr = tile_upscale(net, rgb, scale=4, tile=1 << 20)  # one piece
    if img.gray:
        sr = sr.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    alpha = None if img.alpha is None else upscale_alpha(img.alpha, 4)
    write_image(tmp_path / f"ref{Path(name).suffix}", img.replace(rgb=sr, alpha=alpha))

    out = read_image(tmp_path / "out" / f"{Path(name).stem}_x4{Path(name).suffix}")
    ref = read_image(tmp_path / f"ref{Path(name).suffix}")
    assert (out.bits, out.gray, out.alpha is None) == (ref.bits, ref.gray, ref.alpha is None)
    level = 1 / (65535 if ref.bits == 16 else 255)
    assert (out.rgb - ref.rgb).abs().max() <= level + 1e-6
    if ref.alpha is not None:
        assert (out.alpha - ref.alpha).abs().max() <= level + 1e-6  # type: ignore[operator]


# --------------------------------------------------------------------------- torchrun: sharded inputs


def test_shares_of_the_inputs_are_disjoint_and_cover_them(tmp_path: Path) -> None:
    from gensr.commands.upscale_inputs import plan_jobs

    (tmp_path / "dir").mkdir()
    for n in ("b", "a", "c"):
        PILImage.fromarray(photo()).save(tmp_path / "dir" / f"{n}.png")
    listing = tmp_path / "list.txt"
    listing.write_text("# one path a line\nx/one.png\n\n  y/two.jpg \n/abs/three.png\n../up.png\n")
    inputs = [str(tmp_path / "dir"), f"@{listing}", str(tmp_path / "missing.png"), f"@{tmp_path / 'nope'}"]
    whole, failed, total = plan_jobs(inputs, 0, 1, print)
    assert (failed, total) == (2, 9) and len(whole) == 7
    assert [j.src.name for j in whole[:3]] == ["a.png", "b.png", "c.png"]  # sorted
    assert [j.subdir for j in whole[3:]] == [Path("x"), Path("y"), Path(), Path()]  # list: folders kept
    shares = [plan_jobs(inputs, r, 3, print) for r in range(3)]
    assert sum(s[1] for s in shares) == 2 and {s[2] for s in shares} == {9}  # failures counted once
    assert sorted(str(j.src) for s in shares for j in s[0]) == sorted(str(j.src) for j in whole)


@pytest.mark.slow
def test_torchrun_two_processes_shard_resume_and_match_one(tmp_path: Path, model: Path) -> None:
    """`torchrun --nproc_per_node=2 -m gensr upscale @list -o OUT` (2 CPU processes, gloo): every output
    written once by the process whose share it is, the same files as one process; a rerun skips all."""
    import os
    import subprocess
    import sys

    from gensr.data.photos import sample_photos

    photos = dict(sample_photos())
    names = ["astronaut", "coffee", "rocket", "chelsea", "motorcycle_left", "immunohistochemistry"]
    entries = []
    for i, name in enumerate(names):
        rel = Path("in") / ("a" if i % 2 else "b") / f"{'same' if i < 2 else name}.png"  # a name in 2 folders
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(np.ascontiguousarray(photos[name][40:60, 50:74])).save(tmp_path / rel)
        entries.append(str(rel))
    (tmp_path / "list.txt").write_text("\n".join(entries) + "\n")
    common = ["@list.txt", "--model", str(model), "--device", "cpu", "--engine", "torch"]

    def torchrun() -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run(
            [*cmd, "-m", "gensr", "upscale", *common, "-o", "two"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    run = torchrun()
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [ln for ln in run.stderr.splitlines() if " -> two/" in ln]
    assert len(lines) == len(names), run.stderr
    for i, rel in enumerate(entries):  # input i is process (i mod 2)'s, and written by it alone
        mine = [ln for ln in lines if ln.split(" -> ")[0].endswith(f" {rel}")]
        assert len(mine) == 1 and mine[0].startswith(f"[{i % 2}] "), (rel, lines)
    assert "6 written, 0 skipped (output exists), 0 failed, of 6 inputs on 2 processes" in run.stderr

    cwd = Path.cwd()
    try:
        os.chdir(tmp_path)
        assert upscale(*common, "-o", "one") == 0
    finally:
        os.chdir(cwd)
    for rel in entries:
        out = Path(rel).with_name(Path(rel).stem + "_x4.png")
        assert (tmp_path / "two" / out).read_bytes() == (tmp_path / "one" / out).read_bytes()
    assert len(list((tmp_path / "two").rglob("*.png"))) == len(names)

    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "two").rglob("*.png")}
    rerun = torchrun()
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "0 written, 6 skipped (output exists), 0 failed, of 6 inputs on 2 processes" in rerun.stderr
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "two").rglob("*.png")}


def test_option_choices_match_the_library() -> None:
    """The command's choices are spelt out so that `--help` needs no torch; they must not drift."""
    from gensr.commands import upscale as cmd
    from gensr.infer import ALPHA_METHODS, PRECISION_CHOICES
    from gensr.infer.engines import ENGINES

    assert (cmd.PRECISION_CHOICES, cmd.ALPHA_CHOICES, cmd.ENGINE_CHOICES) == (
        PRECISION_CHOICES,
        ALPHA_METHODS,
        ENGINES,
    )


def test_threads_and_precision_notice(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gensr.infer.devices as devices

    PILImage.fromarray(photo()).save(tmp_path / "a.png")
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(n))
    seen: list[int] = []
    assert (
        main(
            [
                "upscale",
                str(tmp_path / "a.png"),
                "-o",
                str(tmp_path / "o"),
                "--model",
                str(model),
                "--threads",
                "3",
            ]
        )
        == 0
    )
    assert seen == [3]
    assert upscale(tmp_path / "a.png", "-o", tmp_path, "--model", model, "--threads", "0") == 2
    capsys.readouterr()
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "fma"})  # an AVX2-only CPU
    argv = ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"), "--model", str(model)]
    assert main([*argv, "--precision", "bf16", "--device", "cpu"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if "bf16" in ln]
    assert len(err) == 1 and "running fp32" in err[0] and "avx512_bf16" in err[0]
    assert main([*argv, "--overwrite", "--device", "cpu"]) == 0  # auto: fp32 here, and says nothing
    assert "bf16" not in capsys.readouterr().err
