"""gensr model files: safetensors + metadata round trip, fp16 storage, clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gensr.archs import build_generator
from gensr.models import ModelFileError, load_model, read_model_info, save_model

NETS: list[tuple[str, dict[str, Any]]] = [
    ("compact", {"num_feat": 8, "num_conv": 2, "scale": 2}),
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2}),
    ("srresnet", {"num_feat": 8, "num_block": 1, "scale": 3, "batch_norm": True, "upsampler": "deconv"}),
]


@pytest.mark.parametrize(("arch", "hparams"), NETS)
def test_round_trip_rebuilds_network_and_outputs(tmp_path: Path, arch: str, hparams: dict[str, Any]) -> None:
    net = build_generator(arch, hparams).eval()
    path = tmp_path / "m.safetensors"
    save_model(path, net, info={"recipe": "test", "metrics": {"psnr": 30.5}})
    loaded, info = load_model(path)
    assert info.arch == arch
    assert info.hparams == net.hparams
    assert info.scale == hparams["scale"]
    assert info.info == {"recipe": "test", "metrics": {"psnr": 30.5}}
    assert type(loaded) is type(net) and not loaded.training
    x = torch.rand(1, 3, 8, 6)
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_metadata_is_plain_strings(tmp_path: Path) -> None:
    net = build_generator(*NETS[0])
    path = tmp_path / "m.safetensors"
    save_model(path, net)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["arch"] == "compact" and meta["scale"] == "2"
    assert json.loads(meta["hparams"])["num_conv"] == 2
    assert read_model_info(path).hparams == net.hparams


def test_fp16_storage_halves_size_and_stays_close(tmp_path: Path) -> None:
    net = build_generator("compact", {"num_feat": 16, "num_conv": 2, "scale": 2}).eval()
    p32, p16 = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_model(p32, net)
    save_model(p16, net, dtype=torch.float16)
    with safe_open(str(p16), framework="pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    loaded, _ = load_model(p16)
    assert next(loaded.parameters()).dtype == torch.float32  # loads as fp32 by default
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        diff = (net(x) - loaded(x)).abs().max()
    assert 0 < float(diff) < 1e-2


def test_integer_buffers_survive_fp16(tmp_path: Path) -> None:
    net = build_generator(*NETS[2])
    net.train()
    net(torch.rand(2, 3, 6, 6))  # BN counts one batch
    path = tmp_path / "bn.safetensors"
    save_model(path, net, dtype=torch.float16)
    loaded, _ = load_model(path)
    assert int(loaded.state_dict()["body.0.bn1.num_batches_tracked"]) == 1


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such"):
        load_model(tmp_path / "nope.safetensors")


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ModelFileError, match="bad.safetensors"):
        load_model(path)
    path.write_bytes(b"")
    with pytest.raises(ModelFileError):
        read_model_info(path)


def test_plain_safetensors_is_not_a_gensr_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="not an architecture gensr knows"):  # third-party weights
        load_model(path)


def test_weights_that_do_not_fit_hparams(tmp_path: Path) -> None:
    net = build_generator(*NETS[0])
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    meta = {
        "gensr.format": "1",
        "arch": "compact",
        "hparams": json.dumps({**net.hparams, "num_conv": 3}),
        "scale": "2",
        "info": "{}",
    }
    path = tmp_path / "lie.safetensors"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ModelFileError, match="do not fit"):
        load_model(path)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    net = build_generator(*NETS[0])
    path = tmp_path / "sub" / "m.safetensors"
    save_model(path, net)
    save_model(path, net)  # replacing is save_model's caller's decision; it must stay whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.safetensors"]


def test_header_is_read_without_torch(tmp_path: Path) -> None:
    """`gensr models` reads metadata and parameter counts from the JSON header alone."""
    from gensr.models import parameter_count, peek_model_info

    net = build_generator(*NETS[1])
    path = tmp_path / "m.safetensors"
    save_model(path, net)
    assert parameter_count(path) == sum(v.numel() for v in net.state_dict().values())
    meta = {"gensr.format": "1", "arch": "future_arch", "hparams": "{}", "scale": "4"}
    save_file({"w": torch.zeros(2)}, str(tmp_path / "f.safetensors"), metadata=meta)
    assert peek_model_info(tmp_path / "f.safetensors").arch == "future_arch"  # listed as it is...
    with pytest.raises(ModelFileError, match="unknown architecture"):  # ...and refused when checked
        read_model_info(tmp_path / "f.safetensors")
    assert peek_model_info(path).hparams == read_model_info(path).hparams
    (tmp_path / "huge.safetensors").write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        peek_model_info(tmp_path / "huge.safetensors")
