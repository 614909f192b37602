"""``gensr export`` and ``gensr upscale --engine``: files, messages and exit codes."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from gensr.cli import main
from gensr.models.ncnn import import_ncnn


def _peer(name: str) -> ModuleType:
    """Import a peer package, or skip when it is absent; with ``GENSR_REQUIRE_PEER=1`` absence fails."""
    if os.environ.get("GENSR_REQUIRE_PEER") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name, exc_type=ImportError)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENSR_CACHE", str(tmp_path / "cache"))


def _tiny(path: Path, arch: str = "compact", **hparams: object) -> Path:
    from gensr.archs import build_generator
    from gensr.models import save_model

    torch.manual_seed(0)
    save_model(path, build_generator(arch, {"num_feat": 8, **hparams}))
    return path


def test_ncnn_export_writes_the_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "models" / "gensr-compact-x4.param"
    assert main(["export", "gensr-compact-x4", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "40 layers" in said and "fp16" in said and "'data' in" in said
    net = import_ncnn(out, out.with_suffix(".bin"))
    assert net.hparams["scale"] == 4
    assert main(["export", "gensr-compact-x4", "-o", str(out)]) == 1  # never overwrites silently
    assert "already exists" in capsys.readouterr().err
    assert main(["export", "gensr-compact-x4", "-o", str(out), "--overwrite", "--fp32"]) == 0
    assert out.with_suffix(".bin").stat().st_size > 2_000_000  # fp32 weights


def test_usage_errors_and_unexportable_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "gensr-compact-x4", "-o", str(tmp_path / "m.txt")]) == 2
    assert "give --format" in capsys.readouterr().err
    assert main(["export", "no-such-model", "-o", str(tmp_path / "m.param")]) == 2
    assert main(["export", "gensr-compact-x4", "-o", str(tmp_path / "m.param"), "--opset", "17"]) == 2
    capsys.readouterr()
    x2 = _tiny(tmp_path / "rrdb_x2.safetensors", "rrdbnet", num_grow_ch=4, num_block=1, scale=2)
    assert main(["export", str(x2), "-o", str(tmp_path / "r.param")]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(f"gensr export: {tmp_path / 'r.param'}: RRDBNet x2 pixel-unshuffles")
        and "\n" not in err
    )
    assert not (tmp_path / "r.param").exists() and not (tmp_path / "r.bin").exists()


def test_onnx_export_and_upscale_engines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _peer("onnx")
    _peer("onnxscript")
    _peer("onnxruntime")
    model = _tiny(tmp_path / "tiny_x4.safetensors", num_conv=2)
    onnx_file = tmp_path / "tiny_x4.onnx"
    assert main(["export", str(model), "-o", str(onnx_file)]) == 0
    assert "ONNX opset 18" in capsys.readouterr().out

    rng = np.random.default_rng(0)
    PILImage.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    runs = {
        "torch": ["--model", str(model), "--engine", "torch"],
        "onnxruntime": ["--model", str(model), "--engine", "onnxruntime"],  # exported into the cache
        "onnx-file": ["--model", str(onnx_file)],
    }
    outs = {}
    for name, flags in runs.items():
        dst = tmp_path / f"{name}.png"
        assert (
            main(["upscale", str(tmp_path / "a.png"), "-o", str(dst), "--quiet", "--tile", "12", *flags]) == 0
        )
        outs[name] = np.asarray(PILImage.open(dst)).astype(int)
    assert outs["torch"].shape == (80, 112, 3)
    assert np.abs(outs["onnxruntime"] - outs["torch"]).max() <= 1
    assert np.array_equal(outs["onnx-file"], outs["onnxruntime"])
    assert len(list((tmp_path / "cache" / "onnx").glob("tiny_x4-*.onnx"))) == 1
    argv = ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"), "--model", str(onnx_file)]
    assert main([*argv, "--engine", "torch"]) == 2
    assert "runs with --engine onnxruntime" in capsys.readouterr().err
