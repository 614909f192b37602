"""``gensr upscale`` on folders of generated hostile files: each input done or named once, never a crash."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage

from gensr.cli import main
from gensr.messages import shown
from tests.fuzz.conftest import examples
from tests.fuzz.files import EXT, Spec, file_names, image_files


@pytest.fixture(scope="module")
def model(tiny_model_file: Callable[..., Path]) -> Path:
    return tiny_model_file(2)


@examples(30)
@given(st.lists(st.tuples(file_names, image_files()), min_size=1, max_size=4, unique_by=lambda t: t[0]))
def test_every_input_is_written_or_named_once(
    count: Counter[str],
    model: Path,
    capsys: pytest.CaptureFixture[str],
    files: list[tuple[str, tuple[Spec, bytes]]],
) -> None:
    count["upscale: folders of 2-5 generated files (names with any characters)"] += 1
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "in", Path(d) / "out"
        src.mkdir()
        PILImage.fromarray(np.zeros((5, 6, 3), np.uint8)).save(src / "control.png")
        names = []
        for stem, (spec, data) in files:
            name = f"{stem}{EXT[spec.format]}"
            try:
                (src / name).write_bytes(data)
            except OSError:  # a name this file system refuses (too long in bytes)
                continue
            names.append(name)
        capsys.readouterr()
        rc = main(["upscale", str(src), "-o", str(out), "--model", str(model), "--quiet"])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        written = {p.name for p in out.iterdir()} if out.exists() else set()
        assert "control_x2.png" in written
        assert not [n for n in written if n.endswith(".part")]
        notices = (": warning: ", "inputs failed", "left out (folders give images only")  # not failures
        failures = [ln for ln in err.splitlines() if ln and not any(n in ln for n in notices)]
        assert all(ln.startswith("gensr: ") for ln in err.splitlines()), err
        listed = [n for n in names if os.path.splitext(n)[1] in EXT.values()]
        for name in listed:
            stem = os.path.splitext(name)[0]
            done = any(w.startswith(f"{stem}_x2.") for w in written)
            named = [ln for ln in failures if f"/{shown(name)}: " in ln]
            assert done != bool(named), (name, written, failures)
            assert len(named) <= 1
        assert rc == (1 if failures else 0)
