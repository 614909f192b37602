"""Validation during training on several tracks: the LR of each track is the one `gensr eval` makes,
metrics per track and their mean, the bicubic baseline per track, old configs unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gensr.archs import build_generator
from gensr.degrade import BicubicConfig, RealisticConfig
from gensr.evaluate import make_lr, mod_crop
from gensr.imageio import read_rgb8
from gensr.train.config import ConfigError, load_config
from gensr.train.validate import RUN_TRACK, load_val_set, validate

TRACKS = ("bicubic", "mild", "realistic")
METRICS = ("psnr_y", "ssim_y", "l1", "periodic")


@pytest.fixture(scope="module")
def val_photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three 64 px crops of real photos (scikit-image's samples)."""
    from gensr.data.photos import sample_photos

    imgs = dict(sample_photos())
    root = tmp_path_factory.mktemp("val")
    out = []
    for name, (top, left) in (("rocket", (200, 300)), ("coffee", (100, 200)), ("chelsea", (60, 120))):
        path = root / f"{name}.png"
        Image.fromarray(np.ascontiguousarray(imgs[name][top : top + 64, left : left + 64])).save(path)
        out.append(path)
    return out


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator("compact", {"num_feat": 8, "num_conv": 2, "scale": 4}).eval()


def test_each_track_has_eval_s_lr(val_photos: list[Path]) -> None:
    val = load_val_set(val_photos, scale=4, crop=0, degradation=BicubicConfig(scale=4), seed=7, lpips=None,
                       tracks=TRACKS)  # fmt: skip
    assert list(val.lr) == list(TRACKS)
    for track in TRACKS:
        assert len(val.lr[track]) == 3
        for i, path in enumerate(val_photos):
            expected = make_lr(mod_crop(read_rgb8(path), 4), 4, track, seed=7 + i)  # as `gensr eval --seed 7`
            assert torch.equal(val.lr[track][i], expected)
    assert not torch.equal(val.lr["mild"][0], val.lr["realistic"][0])


def test_metrics_per_track_and_their_mean(
    val_photos: list[Path], net: torch.nn.Module, tmp_path: Path
) -> None:
    val = load_val_set(val_photos, scale=4, crop=0, degradation=BicubicConfig(scale=4), seed=0, lpips=None,
                       tracks=TRACKS)  # fmt: skip
    out = validate(net, val, device=torch.device("cpu"), save_dir=tmp_path, save_images=1, tag="it")
    for m in METRICS:
        per_track = [out[f"val/{label}_{m}"] for label in ("clean", "mild", "heavy")]
        assert out[f"val/{m}"] == pytest.approx(sum(per_track) / 3)
        base = [out[f"val/bicubic_{label}_{m}"] for label in ("clean", "mild", "heavy")]
        assert out[f"val/bicubic_{m}"] == pytest.approx(sum(base) / 3)
    # bicubic is stronger on its own clean track than on the heavy one
    assert out["val/bicubic_clean_psnr_y"] > out["val/bicubic_heavy_psnr_y"]
    assert 0 < out["val/bicubic_clean_periodic"] < 50  # no grid in interpolation
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "it_bicubic_rocket.png", "it_mild_rocket.png", "it_realistic_rocket.png"
    ]  # fmt: skip


def test_without_tracks_the_run_s_degradation_is_used(val_photos: list[Path], net: torch.nn.Module) -> None:
    deg = RealisticConfig(scale=4)
    val = load_val_set(val_photos[:2], scale=4, crop=0, degradation=deg, seed=3, lpips=None)
    assert list(val.lr) == [RUN_TRACK]
    out = validate(net, val, device=torch.device("cpu"))
    assert set(out) == {f"val/{m}" for m in METRICS} | {f"val/bicubic_{m}" for m in METRICS}
    bic = load_val_set(
        val_photos[:2], scale=4, crop=0, degradation=BicubicConfig(scale=4), seed=3, lpips=None
    )
    assert torch.equal(bic.lr[RUN_TRACK][1], make_lr(mod_crop(read_rgb8(val_photos[1]), 4), 4, "bicubic"))


def test_unknown_track_is_rejected(val_photos: list[Path]) -> None:
    with pytest.raises(ValueError, match="heavy"):
        load_val_set(val_photos, scale=4, crop=0, degradation=BicubicConfig(scale=4), seed=0, lpips=None,
                     tracks=("heavy",))  # fmt: skip


@pytest.mark.parametrize(
    ("override", "error"),
    [("val.tracks=[bicubic, heavy]", "unknown track 'heavy'"), ("val.tracks=[mild, mild]", "twice"),
     ("val.images=-1", "val.images")],
)  # fmt: skip
def test_config_checks_tracks(override: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        load_config(None, [override])


def test_config_default_and_twelve_images() -> None:
    assert load_config(None).val.tracks == ()
    cfg = load_config(None, ["val.tracks=[bicubic, mild, realistic]", "val.images=12"])
    assert cfg.val.tracks == TRACKS and cfg.val.images == 12
