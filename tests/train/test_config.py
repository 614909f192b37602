"""Training config: strict YAML -> frozen dataclasses, typed --set overrides, round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from gensr.cli import main
from gensr.train.config import ConfigError, TrainConfig, dump_config, from_dict, load_config, parse_override

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_are_frozen() -> None:
    cfg = load_config(None)
    assert cfg == TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.iters = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("loss:\n  pixel_wieght: 1.0\n", "loss.pixel_wieght"),
        ("trian:\n  iters: 5\n", "trian"),
        (
            "degradation:\n  realistic:\n    stage1:\n      jpeg_rnage: [30, 95]\n",
            "degradation.realistic.stage1.jpeg_rnage",
        ),
        ("model:\n  arch: srresnet\n  hparams: {num_feats: 8}\n", "model.hparams.num_feats"),
    ],
)
def test_unknown_key_fails_naming_the_full_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, text))
    assert str(e.value).startswith(key + ":")


def test_typo_suggests_the_right_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'pixel_weight'"):
        load_config(_write(tmp_path, "loss:\n  pixel_wieght: 1.0\n"))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("train:\n  iters: ten\n", "train.iters"),
        ("train:\n  iters: 1.5\n", "train.iters"),
        ("loss:\n  adversarial: wgan\n", "loss.adversarial"),
        ("val:\n  lpips: 1\n", "val.lpips"),
        ("optim:\n  betas: [0.9]\n", "optim.betas"),
        ("model:\n  hparams: {num_feat: eight}\n", "model.hparams.num_feat"),
        ("data:\n  patch: 30\n", "data.patch"),  # not a multiple of scale 4
        ("perceptual:\n  layers: {conv9_1: 1.0}\n", "perceptual.layers.conv9_1"),
        ("model:\n  hparams: {scale: 2}\n", "model.hparams.scale"),
    ],
)
def test_wrong_type_or_value_fails_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, text))
    assert str(e.value).startswith(key + ":")


def test_set_overrides_are_parsed_and_type_checked(tmp_path: Path) -> None:
    path = _write(tmp_path, "train:\n  iters: 10\nloss:\n  pixel: mse\n")
    cfg = load_config(
        path,
        [
            "train.iters=500",
            "optim.lr_g=2e-4",
            "val.lpips=false",
            "data.train=[a/HR, b/HR]",
            "model.hparams.num_feat=8",
            "optim.milestones=[100, 200]",
        ],
    )
    assert cfg.train.iters == 500 and cfg.optim.lr_g == 2e-4 and cfg.val.lpips is False
    assert cfg.data.train == ("a/HR", "b/HR")
    assert cfg.model.hparams == {"num_feat": 8}
    assert cfg.optim.milestones == (100, 200)
    assert cfg.loss.pixel == "mse"  # untouched YAML values stay
    with pytest.raises(ConfigError, match=r"^train\.iters:"):
        load_config(path, ["train.iters=many"])
    with pytest.raises(ConfigError, match=r"^train\.itres:"):
        load_config(path, ["train.itres=5"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(path, ["train.iters"])


def test_parse_override_values() -> None:
    assert parse_override("a.b=1e-4") == ("a.b", 1e-4)
    assert parse_override("a.b=true") == ("a.b", True)
    assert parse_override("a.b=None") == ("a.b", None)
    assert parse_override("a.b=runs/x y") == ("a.b", "runs/x y")


def test_scale_flows_into_the_degradation() -> None:
    cfg = load_config(None, ["scale=2", "data.patch=64"])
    assert cfg.degradation.bicubic.scale == 2 and cfg.degradation.realistic.scale == 2
    with pytest.raises(ConfigError, match=r"^degradation\.bicubic\.scale:"):
        load_config(None, ["scale=2", "data.patch=64", "degradation.bicubic.scale=4"])


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_presets_load_and_round_trip(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.recipe and path.read_text().startswith("#")  # each preset states its source
    again = from_dict(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_cli_typo_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "loss:\n  perceptual_wieght: 1.0\n")
    code = main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run")])
    assert code == 2
    assert "loss.perceptual_wieght: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_config_checks_know_the_tracks_gensr_eval_knows() -> None:
    from gensr.evaluate import TRACKS
    from gensr.train import config_check

    assert config_check.TRACKS == TRACKS


def test_grid_weight_needs_an_upsampling_period() -> None:
    with pytest.raises(ConfigError, match=r"^loss\.grid_weight: must be >= 0"):
        from_dict({"loss": {"grid_weight": -1}})
    with pytest.raises(ConfigError, match=r"^loss\.grid_weight: a grid needs an upsampling period"):
        from_dict({"scale": 1, "loss": {"grid_weight": 1.0}})
    assert from_dict({"loss": {"grid_weight": 2.0}}).loss.grid_weight == 2.0
    with pytest.raises(ConfigError, match=r"^loss\.grid_cells: must be >= 1"):
        from_dict({"loss": {"grid_cells": 0}})


def test_blind_to_grid_needs_an_upsampling_period() -> None:
    with pytest.raises(ConfigError, match=r"^perceptual\.blind_to_grid: a grid needs an upsampling period"):
        from_dict({"scale": 1, "perceptual": {"blind_to_grid": True}})
    assert from_dict({"perceptual": {"blind_to_grid": True}}).perceptual.blind_to_grid


def test_grid_cells_default_is_the_losses_own() -> None:
    from gensr.train.losses import GRID_CELLS

    assert from_dict({}).loss.grid_cells == GRID_CELLS
