"""Engine choice: explicit engines are checked, ``auto`` follows the stored per-machine measurement."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from gensr.infer import engines
from gensr.infer.engines import EngineError, choose_engine, store_measurement
from gensr.infer.geometry import default_overlap

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENSR_CACHE", str(tmp_path))


@pytest.fixture
def available(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend onnxruntime and the exporter are installed (the choice itself never imports them)."""
    monkeypatch.setattr(engines, "onnxruntime_available", lambda: True)
    monkeypatch.setattr(engines, "exporter_available", lambda: True)


def _no_measuring(*_args: object, **_kw: object) -> dict[str, float]:
    raise AssertionError("measured although a measurement is stored")


def test_explicit_engines_are_checked(available: None) -> None:
    assert choose_engine("torch", torch.device("cuda"), torch.float16) == "torch"
    assert choose_engine("onnxruntime", CPU, torch.float32) == "onnxruntime"
    with pytest.raises(EngineError, match="fp32 on the CPU"):
        choose_engine("onnxruntime", torch.device("cuda"), torch.float32)
    with pytest.raises(EngineError, match="fp32 on the CPU"):
        choose_engine("onnxruntime", CPU, torch.bfloat16)
    with pytest.raises(EngineError, match="unknown engine"):
        choose_engine("tensorrt", CPU, torch.float32)


def test_onnxruntime_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "onnxruntime_available", lambda: False)
    monkeypatch.setattr(engines, "measure_engines", _no_measuring)
    assert choose_engine("auto", CPU, torch.float32) == "torch"
    with pytest.raises(EngineError, match="pip install"):
        choose_engine("onnxruntime", CPU, torch.float32)


def test_auto_is_torch_off_the_cpu_and_below_fp32(available: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "measure_engines", _no_measuring)
    store_measurement({"torch": 1.0, "onnxruntime": 2.0})
    assert choose_engine("auto", CPU, torch.float32) == "onnxruntime"
    assert choose_engine("auto", CPU, torch.bfloat16) == "torch"
    assert choose_engine("auto", torch.device("cuda"), torch.float32) == "torch"


@pytest.mark.parametrize(
    ("torch_mps", "ort_mps", "winner"), [(1.0, 1.15, "torch"), (1.0, 1.3, "onnxruntime"), (2.0, 1.0, "torch")]
)
def test_auto_measures_once_then_reads_the_stored_winner(
    available: None, monkeypatch: pytest.MonkeyPatch, torch_mps: float, ort_mps: float, winner: str
) -> None:
    calls: list[int] = []

    def fake_measure(*_args: object, **_kw: object) -> dict[str, float]:
        calls.append(1)
        return {"torch": torch_mps, "onnxruntime": ort_mps}

    monkeypatch.setattr(engines, "measure_engines", fake_measure)
    said: list[str] = []
    assert choose_engine("auto", CPU, torch.float32, say=said.append) == winner
    assert choose_engine("auto", CPU, torch.float32, say=said.append) == winner
    assert len(calls) == 1 and len(said) == 2  # "measuring ..." and the result, once
    assert f"-> {winner}" in said[1]
    stored = engines.cached_measurement()
    assert stored is not None and (stored["torch"], stored["onnxruntime"]) == (torch_mps, ort_mps)


def test_failed_measurement_falls_back_to_torch(available: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kw: object) -> dict[str, float]:
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(engines, "measure_engines", broken)
    said: list[str] = []
    assert choose_engine("auto", CPU, torch.float32, say=said.append) == "torch"
    assert "exporter exploded" in said[-1] and engines.cached_measurement() is None


def test_a_module_can_state_its_receptive_radius() -> None:
    class Opaque(nn.Module):
        receptive_radius = 7

    assert default_overlap(Opaque()) == 7


def test_onnx_net_refuses_files_gensr_did_not_write(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["data"], ["output"])],
        "identity",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, None, None])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "id.onnx")
    with pytest.raises(EngineError, match=r"id\.onnx: not a gensr ONNX export"):
        engines.OnnxNet(tmp_path / "id.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(EngineError, match=r"junk\.onnx: onnxruntime cannot load it"):
        engines.OnnxNet(tmp_path / "junk.onnx")
