"""ONNX export: the file's contract (names, dynamic axes, opset, metadata) and onnxruntime against PyTorch."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from torch import nn

from gensr.archs import build_generator
from gensr.models import load_model, resolve_model

pytestmark = pytest.mark.peer


def _peer(name: str) -> ModuleType:
    """Import a peer package, or skip when it is absent; with ``GENSR_REQUIRE_PEER=1`` absence fails."""
    if os.environ.get("GENSR_REQUIRE_PEER") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name, exc_type=ImportError)


def _photo(top: int, left: int, h: int, w: int) -> torch.Tensor:
    """A real photo crop (scikit-image's astronaut), ``(1, 3, h, w)`` float32 in [0, 1]."""
    from skimage import data

    img = np.ascontiguousarray(data.astronaut()[top : top + h, left : left + w])
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255


def _psnr(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def builtin_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path]:
    """The built-in model and its ONNX export (exported once for the module, ~3 s)."""
    _peer("onnx")
    _peer("onnxscript")
    from gensr.models.onnx_export import export_onnx

    net, _ = load_model(resolve_model("gensr-compact-x4"))
    path = tmp_path_factory.mktemp("onnx") / "gensr-compact-x4.onnx"
    export_onnx(net, path)
    return net, path


def test_file_contract(builtin_onnx: tuple[nn.Module, Path]) -> None:
    onnx = _peer("onnx")
    from gensr.models.onnx_export import OPSET

    _, path = builtin_onnx
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    dims = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*model.graph.input, *model.graph.output]
    }
    assert dims == {"data": [1, 3, "h", "w"], "output": [1, 3, "4*h", "4*w"]}
    assert [(o.domain, o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")] == [("", OPSET)]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["gensr.opset"] == str(OPSET) and meta["gensr.arch"] == "compact"
    assert (meta["gensr.scale"], meta["gensr.size_multiple"], meta["gensr.receptive_radius"]) == (
        "4",
        "1",
        "18",
    )
    assert (meta["gensr.min_size"], meta["gensr.square"], meta["gensr.local"]) == ("1", "0", "1")


def test_onnxruntime_matches_pytorch_at_two_sizes(builtin_onnx: tuple[nn.Module, Path]) -> None:
    ort = _peer("onnxruntime")
    net, path = builtin_onnx
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for lr in (_photo(80, 190, 48, 64), _photo(200, 100, 37, 21)):  # face/hair; suit: dynamic H, W
        (out,) = session.run(["output"], {"data": lr.numpy()})
        with torch.no_grad():
            sr = net(lr).numpy()
        assert out.shape == sr.shape == (1, 3, 4 * lr.shape[2], 4 * lr.shape[3])
        assert _psnr(np.clip(out, 0, 1), np.clip(sr, 0, 1)) >= 50.0


def test_pixel_unshuffle_rrdbnet_exports_with_sides_on_its_multiple(tmp_path: Path) -> None:
    ort = _peer("onnxruntime")
    _peer("onnxscript")
    from gensr.models.onnx_export import export_onnx

    net = build_generator("rrdbnet", {"num_feat": 8, "num_grow_ch": 4, "num_block": 1, "scale": 2}).eval()
    done = export_onnx(net, tmp_path / "x2.onnx")
    assert (done.scale, done.size_multiple) == (2, 2)
    session = ort.InferenceSession(str(done.path), providers=["CPUExecutionProvider"])
    for lr in (_photo(80, 190, 24, 32), _photo(10, 10, 18, 12)):
        (out,) = session.run(["output"], {"data": lr.numpy()})
        with torch.no_grad():
            assert _psnr(out, net(lr).numpy()) >= 50.0


def test_onnx_engine_tiles_like_torch(builtin_onnx: tuple[nn.Module, Path]) -> None:
    """The same Upscaler, tiling and overlap, with an OnnxNet in place of the PyTorch module."""
    _peer("onnxruntime")
    from gensr.infer import Upscaler
    from gensr.infer.engines import OnnxNet
    from gensr.infer.geometry import default_overlap

    net, path = builtin_onnx
    engine = OnnxNet(path)
    assert (engine.scale, default_overlap(engine)) == (4, default_overlap(net))
    lr = _photo(60, 170, 40, 52)
    tiled_onnx = Upscaler(engine, device="cpu", tile=24).upscale_tensor(lr)
    tiled_torch = Upscaler(net, device="cpu", tile=24).upscale_tensor(lr)
    assert tiled_onnx.shape == (1, 3, 160, 208)
    assert _psnr(tiled_onnx, tiled_torch) >= 50.0
