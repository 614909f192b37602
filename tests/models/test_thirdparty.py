"""Third-party weight files stay untrusted: TorchScript archives, pickles with code, sizes declared far beyond
the data, wrong shapes and unknown layouts each give one line naming the file; no code runs and nothing
huge is allocated. And spandrel imports whether torchvision is absent, broken or working."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spandrel_cases import cases, random_state  # noqa: E402

from gensr.models import ModelFileError, load_model  # noqa: E402

needs_spandrel = pytest.mark.skipif(
    importlib.util.find_spec("spandrel") is None, reason="spandrel not installed"
)


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    text = str(e.value)
    assert "\n" not in text and text.startswith(str(path)), text
    for w in words:
        assert w in text, text
    return text


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_torchscript_archive_is_refused(tmp_path: Path) -> None:
    import warnings

    path = tmp_path / "m.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript is deprecated; such files still circulate
        torch.jit.save(torch.jit.script(_Tiny()), str(path))
    _refused(path, "TorchScript", "refused")


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch pwned-by-gensr-test",))


def test_pickle_with_code_is_refused_and_does_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("m.pth", "m.ckpt"):
        path = tmp_path / name
        torch.save({"params": {"w": torch.zeros(1)}, "extra": _Evil()}, path)
        _refused(path, "refused")
        (tmp_path / "raw.pth").write_bytes(pickle.dumps({"params": _Evil()}))
        _refused(tmp_path / "raw.pth")
    assert not (tmp_path / "pwned-by-gensr-test").exists()


def test_safetensors_declaring_huge_tensors_is_refused_before_reading(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 4]}}
    text = json.dumps(header).encode()
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * 4)
    _refused(path, "M values")


def test_unknown_state_dict_names_what_gensr_loads(tmp_path: Path) -> None:
    torch.save({"encoder.weight": torch.zeros(4, 4)}, tmp_path / "x.pth")
    text = _refused(tmp_path / "x.pth", "RRDBNet", "SRVGGNetCompact")
    if importlib.util.find_spec("spandrel") is not None:
        assert "SPAN" in text and "SwinIR" in text


def test_random_bytes_and_empty(tmp_path: Path) -> None:
    (tmp_path / "r.pth").write_bytes(os.urandom(300))
    _refused(tmp_path / "r.pth")
    (tmp_path / "r.safetensors").write_bytes(os.urandom(300))
    _refused(tmp_path / "r.safetensors")
    torch.save({}, tmp_path / "e.pth")
    _refused(tmp_path / "e.pth")


_BOUNDED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))  # the network declared needs ~ 400 GB
from gensr.models import ModelFileError, load_model
try:
    load_model(sys.argv[1])
except ModelFileError as e:
    print(e)
"""


@needs_spandrel
def test_small_file_declaring_a_huge_network_is_refused_without_allocating(tmp_path: Path) -> None:
    span = next(c for c in cases() if c.arch == "SPAN")
    state = random_state(span)
    # the first conv claims 50 000 features: the network would have ~ 10^11 parameters, the file 150 k values
    state["conv_1.sk.weight"] = torch.zeros(50_000, 3, 1, 1)
    torch.save(state, tmp_path / "big.pth")
    out = subprocess.run(
        [sys.executable, "-c", _BOUNDED, str(tmp_path / "big.pth")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip()
    assert "\n" not in line and "big.pth" in line and "SPAN" in line and "50000" in line, line


@needs_spandrel
def test_wrong_shapes_give_one_line(tmp_path: Path) -> None:
    swinir = next(c for c in cases() if c.arch == "SwinIR")
    state = random_state(swinir)
    key = next(k for k in state if k.endswith("attn.proj.weight"))
    state[key] = torch.zeros(5, 7)
    torch.save(state, tmp_path / "s.pth")
    _refused(tmp_path / "s.pth", "SwinIR")


@needs_spandrel
def test_spandrel_model_file_whose_metadata_lies(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    span = next(c for c in cases() if c.arch == "SPAN")
    lie = json.dumps({"architecture": "SwinIR", "scale": 2})
    meta = {"gensr.format": "1", "arch": "spandrel", "hparams": lie, "scale": "2", "info": "{}"}
    save_file(random_state(span), str(tmp_path / "lie.safetensors"), metadata=meta)
    _refused(tmp_path / "lie.safetensors", "SwinIR", "SPAN")
    meta["hparams"] = json.dumps({"architecture": "SPAN", "scale": 2, "depth": 10**9})
    save_file(random_state(span), str(tmp_path / "odd.safetensors"), metadata=meta)
    _refused(tmp_path / "odd.safetensors", "exactly")


# ---- torchvision: absent, broken, working ------------------------------------------------------------

_PROBE = (
    "import sys; from gensr.models.spandrel_import import import_spandrel, using_standin; "
    "import_spandrel(); print('standin' if using_standin() else 'real', 'spandrel' in sys.modules)"
)


def _probe(tmp_path: Path, torchvision_init: str | None) -> str:
    env = dict(os.environ)
    if torchvision_init is not None:
        pkg = tmp_path / "site" / "torchvision"
        (pkg / "transforms").mkdir(parents=True)
        (pkg / "__init__.py").write_text(torchvision_init)
        (pkg / "transforms" / "__init__.py").write_text("")
        (pkg / "transforms" / "functional.py").write_text(
            "InterpolationMode = object\ndef rotate(*a): pass\ndef normalize(*a): pass\n"
        )
        env["PYTHONPATH"] = str(tmp_path / "site") + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


@needs_spandrel
@pytest.mark.slow
def test_spandrel_imports_with_torchvision_broken_or_working(tmp_path: Path) -> None:
    if importlib.machinery.PathFinder.find_spec("torchvision") is None:  # sys.path only, not sys.modules
        assert _probe(tmp_path / "a", None) == "standin True"
    broken = "raise RuntimeError('operator torchvision::nms does not exist')\n"
    assert _probe(tmp_path / "b", broken) == "standin True"
    assert _probe(tmp_path / "c", "from . import transforms\n") == "real True"
