"""Every spandrel architecture gensr runs: a small random-weight instance, saved as .pth and .safetensors,
upscaled by ``gensr upscale --model`` to spandrel's own whole-image output, tiled within the bound
docs/spandrel.md states, imported and listed by ``gensr models``."""

from __future__ import annotations

import importlib.util
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spandrel_cases import SEAM_OVERLAP, Case, cases, random_state, rgb_psnr, seam_psnr  # noqa: E402

from gensr.cli import main  # noqa: E402
from gensr.imageio import Image, read_image, write_image  # noqa: E402
from gensr.models import load_model  # noqa: E402

pytestmark = pytest.mark.skipif(importlib.util.find_spec("spandrel") is None, reason="spandrel not installed")

SEAM_DB = {
    "RealPLKSR": 42, "SAFMN": 45, "OmniSR": 43, "RCAN": 82, "RealCUGAN": 43, "SwinIR": 73, "HAT": 70,
    "DAT": 66, "Swin2SR": 70, "RGT": 64, "DCTLSA": 27, "DITN": 84, "SeemoRe": 73, "MoESR": 55, "FDAT": 90,
    "GRL": 18, "NAFNet": 89, "DRUNet": 41, "KBNet": 30, "RetinexFormer": 65, "HVICIDNet": 41,
    "MixDehazeNet": 60,
}  # fmt: skip
"""Tiled against whole-image PSNR (dB) at 16-px tiles and 8-px overlap on a 48x40 input (non-local
architectures blended over 4 px, gensr's default for a given overlap), 1 dB under what ``seam_psnr``
gave; architectures not listed tile exactly (>= 100 dB). The measured overlap of ``gensr.infer.seams``
is benchmarked per architecture in ``benchmarks/spandrel_archs.py`` (docs/spandrel.md)."""

CASES = cases()


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.filterwarnings("ignore", message=".*meta parameter.*")


def _files(case: Case, d: Path) -> tuple[dict[str, torch.Tensor], Path, Path]:
    state = random_state(case)
    pth, st = d / f"{case.arch}.pth", d / f"{case.arch}.safetensors"
    torch.save(state, pth)
    save_file(state, str(st))
    return state, pth, st


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.arch)
def test_upscale_gives_spandrels_own_output(case: Case, tmp_path: Path) -> None:
    from gensr.models.spandrel_import import import_spandrel

    state, pth, st = _files(case, tmp_path)
    g = torch.Generator().manual_seed(2)
    h, w = case.size, case.size + 5  # not a multiple of anything: the size requirements pad
    write_image(tmp_path / "in.png", Image(rgb=torch.rand(1, 3, h, w, generator=g), bits=16))
    lr = read_image(tmp_path / "in.png").rgb  # exactly what gensr upscale reads
    ref = import_spandrel().MAIN_REGISTRY.load({k: v.clone() for k, v in state.items()})(lr)
    for model in (pth, st):
        out = tmp_path / f"out-{model.suffix[1:]}.png"
        args = ["upscale", str(tmp_path / "in.png"), "-o", str(out), "--model", str(model), "--tile", "0",
                "--engine", "torch", "--precision", "fp32", "--quiet"]  # fmt: skip
        assert main(args) == 0
        sr = read_image(out).rgb  # 16-bit PNG
        assert sr.shape == ref.shape
        assert rgb_psnr(sr, ref) >= 50, f"{case.arch} from {model.suffix}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.arch)
def test_tiles_within_the_stated_bound(case: Case, tmp_path: Path) -> None:
    _, pth, _ = _files(case, tmp_path)
    net, info = load_model(pth)
    assert info.arch == "spandrel" or case.arch in ("Compact",)
    db = seam_psnr(net, size=(48, 40), overlap=SEAM_OVERLAP)
    assert db >= SEAM_DB.get(case.arch, 100), f"{case.arch}: {db:.1f} dB"
    if getattr(net, "local", False):  # convolution only: exact at the default overlap
        assert seam_psnr(net, size=(96, 88), overlap=None) >= 100


def test_import_then_models_names_every_architecture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GENSR_CACHE", str(tmp_path / "cache"))
    files = [_files(c, tmp_path)[1] for c in CASES]
    assert main(["import", *map(str, files)]) == 0
    capsys.readouterr()
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    for case in CASES:
        row = next(ln for ln in listing.splitlines() if ln.startswith(case.arch + " "))
        shown = "PLKSR" if case.arch == "RealPLKSR" else case.arch
        assert f"{shown} (spandrel)" in row, row
    # an imported file rebuilds the same network
    net, info = load_model(tmp_path / "cache" / "models" / "SPAN.safetensors")
    ref, _ = load_model(files[0])
    x = torch.rand(1, 3, 12, 12)
    assert info.hparams == {"architecture": "SPAN", "scale": 2}
    assert torch.equal(net(x), ref(x))


def test_precision_auto_never_picks_what_the_model_cannot_run(tmp_path: Path) -> None:
    from gensr.infer import Upscaler

    _, pth, _ = _files(CASES[0], tmp_path)
    net, _ = load_model(pth)
    net.precisions = (torch.float32,)  # as spandrel says of RealPLKSR's fp16, say of bf16 here
    assert Upscaler(net, precision="auto", device="cpu").dtype == torch.float32
    up = Upscaler(net, precision="bf16", device="cpu")
    assert up.dtype == torch.float32 and up.precision_note


def test_gensr_own_layouts_stay_gensr_modules(tmp_path: Path) -> None:
    from gensr.archs import SRVGGNetCompact

    net = SRVGGNetCompact(num_feat=8, num_conv=2, scale=2)
    torch.save({"params": net.state_dict()}, tmp_path / "c.pth")
    loaded, info = load_model(tmp_path / "c.pth")
    assert type(loaded) is SRVGGNetCompact and info.arch == "compact" and not math.isnan(info.scale)


def test_export_refuses_architectures_not_known_to_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    swinir = next(c for c in CASES if c.arch == "SwinIR")  # its graph fixes the window reshapes
    _, pth, _ = _files(swinir, tmp_path)
    assert main(["export", str(pth), "-o", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "SwinIR" in err and "not offered" in err, err
    assert main(["export", str(pth), "-o", str(tmp_path / "x.param")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "x.param" in err, err


def test_span_exports_to_onnx_with_its_conv3xc_folded(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    from gensr.infer.engines import OnnxNet

    _, pth, _ = _files(CASES[0], tmp_path)  # SPAN: torch.export crashed while Conv3XC re-parameterised itself
    assert main(["export", str(pth), "-o", str(tmp_path / "x.onnx")]) == 0
    net, _ = load_model(pth)
    x = torch.rand(1, 3, 13, 11)
    with torch.no_grad():
        assert rgb_psnr(OnnxNet(tmp_path / "x.onnx", threads=1)(x).clamp(0, 1), net(x).clamp(0, 1)) >= 100

    def conv3xc(m: torch.nn.Module) -> int:
        return sum(type(c).__name__ == "Conv3XC" for c in m.modules())

    assert conv3xc(net.for_export()) == 0 and conv3xc(net) == 20  # folded in a copy


def test_the_docs_say_which_architectures_export_to_onnx() -> None:
    from gensr.models.spandrel_net import ARCHS

    docs = (Path(__file__).parents[2] / "docs" / "spandrel.md").read_text(encoding="utf-8")
    rows = {
        r.split("|")[1].strip(): r.split("|")[-2].strip() for r in docs.splitlines() if r.startswith("| ")
    }
    for case in CASES:
        assert rows[case.arch].startswith("yes") == ARCHS[case.arch].onnx, case.arch


def test_eval_compares_third_party_files_with_the_built_ins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import numpy as np
    from PIL import Image as PILImage
    from skimage import data

    monkeypatch.setenv("GENSR_CACHE", str(tmp_path / "cache"))
    photos = tmp_path / "hr"
    photos.mkdir()
    PILImage.fromarray(np.ascontiguousarray(data.astronaut()[40:104, 180:244])).save(photos / "a.png")
    _, pth, st = _files(next(c for c in CASES if c.arch == "RealPLKSR"), tmp_path)
    st = st.rename(tmp_path / "other.safetensors")
    out = tmp_path / "r.json"
    argv = ["eval", "--data", str(photos), "--scale", "2", "--model", "gensr-x2", "--model", str(pth),
            "--model", str(st), "--no-lpips", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    methods = json.loads(out.read_text())["methods"]
    assert list(methods) == ["bicubic", "gensr-x2", "RealPLKSR", "other"]
    a, b = methods["RealPLKSR"]["mean"]["psnr_y"], methods["other"]["mean"]["psnr_y"]
    assert math.isfinite(a) and a == pytest.approx(b, abs=1e-6)  # the same weights from .pth and .safetensors


def test_serve_offers_a_third_party_file_with_its_architecture(tmp_path: Path) -> None:
    from gensr.commands.serve import _models

    _, pth, _ = _files(CASES[0], tmp_path)
    (entry,) = _models([str(pth)])
    assert (entry.name, entry.arch, entry.scale) == ("SPAN", "SPAN (spandrel)", 2)  # as /v1/models lists it
