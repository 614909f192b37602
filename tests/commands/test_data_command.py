"""``gensr data samples | prepare | download``."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gensr.cli import main
from gensr.data import download as dl
from gensr.data.photos import SAMPLE_PHOTOS


def test_samples_writes_the_photos_as_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    skdata = pytest.importorskip("skimage.data")
    assert main(["data", "samples", str(tmp_path / "s")]) == 0
    files = sorted((tmp_path / "s").iterdir())
    assert [f.name for f in files] == sorted(f"{n}.png" for n in SAMPLE_PHOTOS)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s" / "astronaut.png")), skdata.astronaut())
    assert len(capsys.readouterr().out.splitlines()) == len(SAMPLE_PHOTOS)
    (tmp_path / "s" / "rocket.png").write_bytes(b"mine")
    assert main(["data", "samples", str(tmp_path / "s")]) == 0  # existing files are kept
    assert (tmp_path / "s" / "rocket.png").read_bytes() == b"mine"
    assert "exists" in capsys.readouterr().err


def test_prepare_cuts_sub_images_and_names_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save(src / "a.png")
    assert main(["data", "prepare", str(src), str(tmp_path / "out"), "--crop", "32", "--step", "32"]) == 0
    assert len(list((tmp_path / "out").glob("a_s*.png"))) == 2 * 3
    assert "wrote 6 sub-images" in capsys.readouterr().out
    (src / "bad.jpg").write_bytes(b"not a jpeg")
    assert main(["data", "prepare", str(src), str(tmp_path / "out2"), "--crop", "32", "--step", "32"]) == 1
    err = capsys.readouterr().err
    assert "bad.jpg" in err and "cannot read" in err
    assert main(["data", "prepare", str(tmp_path / "missing"), str(tmp_path / "out3")]) == 2


def test_download_list_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "download", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in dl.DATASETS) and "sha256" in out and "md5" in out
    assert main(["data", "download"]) == 2
    with pytest.raises(SystemExit) as e:
        main(["data", "download", "imagenet", "x"])
    assert e.value.code == 2


def test_download_from_a_file_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in ("pack/Tiny/HR/1.png", "pack/Tiny/LR/1.png"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tf.addfile(info, io.BytesIO(b"png"))
    archive = tmp_path / "pack.tar"
    archive.write_bytes(buf.getvalue())
    md5 = hashlib.md5(buf.getvalue()).hexdigest()
    src = dl.DatasetSource("tiny", archive.as_uri(), None, None, md5, "test", "pack/Tiny", "pack/Tiny/HR")
    monkeypatch.setitem(dl.DATASETS, "tiny", src)
    dst = tmp_path / "datasets"
    assert main(["data", "download", "tiny", str(dst), "--remove-archive"]) == 0
    assert (dst / "pack/Tiny/HR/1.png").read_bytes() == b"png"
    assert not (dst / "pack.tar").exists()
    assert str(dst / "pack/Tiny/HR") in capsys.readouterr().out
    bad = dl.DatasetSource("tiny", archive.as_uri(), None, None, "0" * 32, "test", "pack/Other", "pack/Other")
    monkeypatch.setitem(dl.DATASETS, "tiny", bad)
    assert main(["data", "download", "tiny", str(tmp_path / "d2")]) == 1
    assert "md5" in capsys.readouterr().err
