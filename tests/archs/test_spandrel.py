"""spandrel's architectures as gensr generators: built from hyperparameters, trained (gradients), saved
as a spandrel model file that loads back as the same network with the same hyperparameters; every wrong
configuration is one line saying what is accepted."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import torch

from gensr.archs import TRAINABLE, arch_name, build_generator
from gensr.models import load_model, save_model
from gensr.train.config import ConfigError, from_dict

pytestmark = pytest.mark.skipif(importlib.util.find_spec("spandrel") is None, reason="spandrel not installed")

TINY: dict[str, dict[str, Any]] = {
    "SPAN": {"feature_channels": 8},
    "RealPLKSR": {"dim": 8, "n_blocks": 2, "kernel_size": 7},
    "PLKSR": {"dim": 8, "n_blocks": 2, "kernel_size": 7, "ccm_type": "DCCM"},
    "MoSR": {"dim": 8, "n_block": 1},
    "SwiftSRGAN": {"num_channels": 8, "num_blocks": 1},
    "SAFMN": {"dim": 8, "n_blocks": 1},
}
CASES = [(name, scale) for name in sorted(TINY) for scale in ((2, 4) if name == "SwiftSRGAN" else (2, 3))]


def test_every_trainable_architecture_has_a_tiny_setting() -> None:
    from gensr.archs.spandrel import TRAINABLE as SPANDREL_TRAINABLE

    assert set(TINY) == set(SPANDREL_TRAINABLE) and "spandrel" in TRAINABLE


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_train_save_and_load_back_the_same_network(name: str, scale: int, tmp_path: Path) -> None:
    from gensr.archs.spandrel import trainable_hparams

    torch.manual_seed(0)
    net = build_generator("spandrel", {"architecture": name, "scale": scale, **TINY[name]})
    assert arch_name(net) == "spandrel" and net.training and net.scale == scale
    assert net.hparams["architecture"] == name and set(TINY[name].items()) <= set(net.hparams.items())
    lr = torch.rand(2, 3, 9, 7)
    sr = net(lr)
    assert sr.shape == (2, 3, 9 * scale, 7 * scale)
    sr.square().mean().backward()
    trained = [p for p in net.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None for p in trained)  # DDP needs every trained weight used
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    opt.step()  # the derived weights (SPAN's eval_conv) are now stale until the file is written
    save_model(tmp_path / "m.safetensors", net)
    back, info = load_model(tmp_path / "m.safetensors")
    assert info.arch == "spandrel" and info.hparams == {"architecture": back.architecture, "scale": scale}
    assert type(back.model) is type(net.model) and trainable_hparams(back) == net.hparams
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.allclose(back(x), net.eval()(x), atol=1e-5)  # the file is the trained network
    twin = build_generator("spandrel", dict(net.hparams))  # what validation and release rebuild
    twin.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(twin.eval()(x), net(x))


def _config(hparams: dict[str, Any]) -> None:
    scale = 3 if hparams.get("architecture") == "SwiftSRGAN" else 4
    from_dict({"scale": scale, "model": {"arch": "spandrel", "hparams": hparams}})


KNOWN = "trainable: MoSR, PLKSR, RealPLKSR, SAFMN, SPAN, SwiftSRGAN"
SPAN_KEYS = "architecture, feature_channels, norm, upscale, num_in_ch, num_out_ch"
WRONG: list[tuple[dict[str, Any], str]] = [
    ({"architecture": "SPANN"}, f"architecture: 'SPANN' is not a spandrel architecture gensr trains "
     f"(did you mean 'SPAN'?); {KNOWN}"),
    ({"feature_channels": 8}, f"architecture: missing; {KNOWN}"),
    ({"architecture": "SwinIR"}, f"architecture: 'SwinIR' is not a spandrel architecture gensr trains; "
     f"{KNOWN}"),
    ({"architecture": "SPAN", "feature_chanels": 8}, "feature_chanels: not a hyperparameter of SPAN "
     f"(did you mean 'feature_channels'? accepted: {SPAN_KEYS})"),
    ({"architecture": "SPAN", "upscale": 2}, "upscale: must be 4 (the config's scale), got 2"),
    ({"architecture": "SPAN", "num_out_ch": 1}, "num_out_ch: must be 3 (gensr trains RGB models), got 1"),
    ({"architecture": "SPAN", "feature_channels": 4096}, "feature_channels: 4096 is outside 1..512"),
    ({"architecture": "SPAN", "norm": "yes"}, "norm: expected bool, got 'yes'"),
    ({"architecture": "RealPLKSR", "kernel_size": 8}, "kernel_size: must be odd, got 8"),
    ({"architecture": "PLKSR", "ccm_type": "XCCM"}, "ccm_type: 'XCCM' is not one of CCM, ICCM, DCCM"),
    ({"architecture": "SwiftSRGAN"}, "architecture: SwiftSRGAN upscales x2, x4, x8 only, not x3"),
]  # fmt: skip


@pytest.mark.parametrize(("hparams", "message"), WRONG)
def test_wrong_hyperparameters_are_one_line_naming_what_is_accepted(
    hparams: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as e:
        _config(hparams)
    assert str(e.value) == f"model.hparams.{message}"


def test_the_architectures_own_scale_and_channels_may_be_repeated() -> None:
    hp = {"architecture": "SPAN", "num_in_ch": 3, "num_out_ch": 3, "upscale": 4, "feature_channels": 8}
    _config(hp)
    assert build_generator("spandrel", {**hp, "scale": 4}).hparams == {
        "architecture": "SPAN", "scale": 4, "feature_channels": 8, "norm": True
    }  # fmt: skip


def test_values_spandrel_would_read_back_differently_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^spandrel reads these weights back as RealPLKSR split_ratio=0\.29"
    ):
        build_generator("spandrel", {"architecture": "RealPLKSR", "scale": 2, "dim": 64, "split_ratio": 0.3})
