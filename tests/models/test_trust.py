"""Model files as untrusted input: hyperparameters and shapes checked on the meta device first."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gensr.archs import GENERATORS, build_generator
from gensr.models import ModelFileError, load_model, read_model_info, save_model
from gensr.models.pth import import_pth
from gensr.models.trust import MAX_PARAMS, build_checked, check_hparams, expected_shapes

TINY = {"num_feat": 4, "num_conv": 1, "scale": 4}


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    path = tmp_path / "tiny.safetensors"
    save_model(path, build_generator("compact", TINY))
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}


def _with(tmp_path: Path, tiny: tuple[dict[str, str], dict[str, torch.Tensor]], **meta: str) -> Path:
    path = tmp_path / "bad.safetensors"
    save_file(tiny[1], str(path), metadata={**tiny[0], **meta})
    return path


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"scale": "0"}, "metadata says x0"),
        ({"scale": "-4"}, "'-4' is not a whole number"),
        ({"scale": "abc"}, "'abc' is not a whole number"),
        ({"scale": "2"}, "metadata says x2 but its compact network upscales x4"),
        ({"hparams": "{num_feat: 4"}, "'hparams' is not valid JSON"),
        ({"hparams": "[1, 2]"}, "must be a JSON object, got list"),
        ({"hparams": json.dumps({**TINY, "evil": 1})}, "unknown hyperparameters for compact: 'evil'"),
        ({"hparams": json.dumps({**TINY, "num_feat": "4"})}, "num_feat = '4' is not int"),
        ({"hparams": json.dumps({**TINY, "num_feat": 4.5})}, "num_feat = 4.5 is not int"),
        ({"hparams": json.dumps({**TINY, "num_feat": True})}, "num_feat = True is not int"),
        ({"hparams": json.dumps({**TINY, "num_conv": -3})}, "num_conv = -3 is outside 0..512"),
        ({"hparams": json.dumps({**TINY, "act_type": "%s%s"})}, "act_type must be one of"),
        ({"hparams": json.dumps({**TINY, "num_feat": 8000})}, "num_feat = 8000 is outside 1..2048"),
        ({"arch": "evil"}, "unknown architecture 'evil'"),
        ({"info": "[]"}, "'info' must be a JSON object"),
    ],
)
def test_bad_metadata_is_the_models_error_naming_the_file(
    tmp_path: Path, tiny: tuple[dict[str, str], dict[str, torch.Tensor]], meta: dict[str, str], match: str
) -> None:
    path = _with(tmp_path, tiny, **meta)
    with pytest.raises(ModelFileError, match=match) as e:
        load_model(path)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_hparams_schema_fills_defaults_and_checks_types() -> None:
    full = check_hparams("compact", {"num_feat": 8})
    assert full["num_conv"] == 16 and full["net_scale"] is None
    assert check_hparams("compact", {"net_scale": 4})["net_scale"] == 4
    for arch, cls in GENERATORS.items():  # every default is accepted by its own schema
        check_hparams(arch, {})
        assert expected_shapes(arch, {}) == {k: tuple(v.shape) for k, v in cls().state_dict().items()}


def test_huge_networks_are_refused_before_allocating() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=f"more than gensr's {MAX_PARAMS // 10**6} M"):
        expected_shapes("rrdbnet", {"num_feat": 2048, "num_block": 64, "num_grow_ch": 2048})
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing was built


def test_shapes_in_the_file_must_fit_the_metadata(
    tmp_path: Path, tiny: tuple[dict[str, str], dict[str, torch.Tensor]]
) -> None:
    meta, tensors = tiny
    wide = dict(tensors, **{"body.0.weight": torch.zeros(8, 3, 3, 3)})
    save_file(wide, str(tmp_path / "w.safetensors"), metadata=meta)
    with pytest.raises(
        ModelFileError, match=r"tensor body.0.weight is \(8, 3, 3, 3\), the network needs \(4, 3, 3, 3\)"
    ):
        load_model(tmp_path / "w.safetensors")
    extra = dict(tensors, evil=torch.zeros(1))
    save_file(extra, str(tmp_path / "e.safetensors"), metadata=meta)
    with pytest.raises(ModelFileError, match="it does not have, e.g. 'evil'"):
        load_model(tmp_path / "e.safetensors")


def test_nan_and_integer_weights_are_refused(
    tmp_path: Path, tiny: tuple[dict[str, str], dict[str, torch.Tensor]]
) -> None:
    meta, tensors = tiny
    nan = {k: v.clone() for k, v in tensors.items()}
    nan["body.0.weight"][0, 0, 0, 0] = float("nan")
    save_file(nan, str(tmp_path / "nan.safetensors"), metadata=meta)
    with pytest.raises(ModelFileError, match="tensor body.0.weight holds NaN or infinity"):
        load_model(tmp_path / "nan.safetensors")
    ints = {k: v.to(torch.int8) for k, v in tensors.items()}
    save_file(ints, str(tmp_path / "int.safetensors"), metadata=meta)
    with pytest.raises(ModelFileError, match="holds I8 values, not floating point"):
        load_model(tmp_path / "int.safetensors")


def test_read_model_info_checks_without_reading_weights(
    tmp_path: Path, tiny: tuple[dict[str, str], dict[str, torch.Tensor]]
) -> None:
    info = read_model_info(_with(tmp_path, tiny))
    assert info.scale == 4 and info.hparams["num_feat"] == 4


def test_build_checked_gives_the_weights_it_was_given() -> None:
    net = build_generator("compact", TINY)
    again = build_checked("compact", TINY, net.state_dict())
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), again(x))


@pytest.mark.parametrize(
    ("key", "shape", "match"),  # shapes, not tensors: a 0-d tensor alive all session trips gc-walking tests
    [
        ("body.0.weight", (5,), r"body indices \[2, 4\] do not follow conv"),
        ("body.2.weight", (), r"body indices \[0, 4\] do not follow conv"),
        ("body.0.weight", (8000, 3, 0, 0), r"has shape \(8000, 3, 0, 0\), not a convolution weight"),
        ("body.0.weight", (3000, 3, 3, 3), r"num_feat = 3000 is outside 1..2048"),
        ("body.0.weight", (8, 3, 3, 3), r"tensor body.0.bias is \(4,\), the network needs \(8,\)"),
    ],
)
def test_pth_shapes_are_checked_before_building(
    tmp_path: Path, key: str, shape: tuple[int, ...], match: str
) -> None:
    state: dict[str, Any] = build_generator("compact", TINY).state_dict()
    state[key] = torch.zeros(shape)
    torch.save(state, tmp_path / "m.pth")
    with pytest.raises(ValueError, match=match) as e:
        import_pth(tmp_path / "m.pth")
    assert str(e.value).startswith(f"{tmp_path / 'm.pth'}: ")


@pytest.mark.parametrize("key", ["conv_first.weight", "conv_last.weight", "body.0.rdb1.conv1.weight"])
def test_pth_rrdbnet_with_a_flat_tensor_is_named(tmp_path: Path, key: str) -> None:
    state = build_generator("rrdbnet", {"num_feat": 4, "num_block": 1, "num_grow_ch": 2}).state_dict()
    state[key] = torch.zeros(3)
    torch.save(state, tmp_path / "m.pth")
    with pytest.raises(ValueError, match=rf"m.pth: {key} has shape \(3,\), not a convolution weight"):
        import_pth(tmp_path / "m.pth")
