"""``gensr import``: .pth -> gensr model file, summary line, no silent overwrite, per-file errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gensr.cli import main
from gensr.commands.import_ import plan_jobs
from gensr.models import load_model, read_model_info


def _official_compact(path: Path, scale: int = 2) -> dict[str, torch.Tensor]:
    # Real-ESRGAN SRVGGNetCompact names: body.0 conv, body.1 PReLU, body.2 conv, body.3 PReLU, body.4 conv
    nf = 4
    sd = {
        "body.0.weight": torch.randn(nf, 3, 3, 3) * 0.1,
        "body.0.bias": torch.zeros(nf),
        "body.1.weight": torch.full((nf,), 0.25),
        "body.2.weight": torch.randn(nf, nf, 3, 3) * 0.1,
        "body.2.bias": torch.zeros(nf),
        "body.3.weight": torch.full((nf,), 0.25),
        "body.4.weight": torch.randn(3 * scale * scale, nf, 3, 3) * 0.1,
        "body.4.bias": torch.zeros(3 * scale * scale),
    }
    torch.save({"params": sd}, path)
    return sd


def test_import_pth_writes_loadable_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "realesr-tiny.pth"
    sd = _official_compact(src)
    out = tmp_path / "tiny.safetensors"
    assert main(["import", str(src), "-o", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert "compact x2" in line and "params" in line and str(out) in line
    net, info = load_model(out)
    assert info.arch == "compact" and info.scale == 2
    assert info.info["source"] == "realesr-tiny.pth" and len(info.info["source_sha256"]) == 64
    assert torch.equal(net.state_dict()["body.4.weight"], sd["body.4.weight"])


def test_never_overwrites_without_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "a.pth"
    _official_compact(src)
    out = tmp_path / "a.safetensors"
    out.write_bytes(b"keep me")
    assert main(["import", str(src), "-o", str(out)]) == 1
    assert out.read_bytes() == b"keep me"
    assert "--overwrite" in capsys.readouterr().err
    assert main(["import", str(src), "-o", str(out), "--overwrite", "--dtype", "fp16"]) == 0
    assert read_model_info(out).arch == "compact"


def test_bad_file_among_good_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.pth", tmp_path / "bad.pth"
    _official_compact(good, scale=4)
    bad.write_bytes(b"garbage")
    outdir = tmp_path / "out"
    assert main(["import", str(good), str(bad), "-o", str(outdir)]) == 1
    assert read_model_info(outdir / "good.safetensors").scale == 4
    assert not (outdir / "bad.safetensors").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.pth" in err[0]


def test_output_must_be_safetensors(tmp_path: Path) -> None:
    src = tmp_path / "a.pth"
    _official_compact(src)
    assert main(["import", str(src), "-o", str(tmp_path / "a.onnx")]) == 2


def test_plan_pairs_ncnn_files(tmp_path: Path) -> None:
    (tmp_path / "x4.param").write_text("7767517\n")
    (tmp_path / "x4.bin").write_bytes(b"\0")
    (tmp_path / "lonely.param").write_text("7767517\n")
    jobs, errors = plan_jobs(
        [str(tmp_path / "x4.bin"), str(tmp_path / "x4.param"), str(tmp_path / "lonely.param"), "m.onnx"]
    )
    assert [(j.kind, j.path.name, j.bin.name if j.bin else None) for j in jobs] == [
        ("ncnn", "x4.param", "x4.bin")
    ]
    assert len(errors) == 2 and "lonely.bin" in errors[0] and "m.onnx" in errors[1]
    jobs, errors = plan_jobs([str(tmp_path / "x4.bin")])  # the .param next to it is found
    assert [j.path.name for j in jobs] == ["x4.param"] and not errors


def test_any_failure_of_one_model_is_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gensr.commands.import_ as import_

    for name in ("a.pth", "b.pth", "c.pth"):
        _official_compact(tmp_path / name)
    real = import_.convert

    def flaky(job: import_.Job) -> torch.nn.Module:
        if job.path.name == "b.pth":
            raise RuntimeError("unexpected trouble\ndeep inside")
        return real(job)

    monkeypatch.setattr(import_, "convert", flaky)
    assert (
        main(["import", *(str(tmp_path / n) for n in ("a.pth", "b.pth", "c.pth")), "-o", str(tmp_path / "o")])
        == 1
    )
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.safetensors", "c.safetensors"]
    assert capsys.readouterr().err == f"gensr import: {tmp_path / 'b.pth'}: unexpected trouble\n"
