"""Golden image: ``gensr upscale`` with the shipped built-in model on a real photo crop.

Pins the whole inference path (read, tile, network, quantize, write). The expected PNG was made by
this same command; regenerate it only on purpose with ``GENSR_UPDATE_GOLDEN=1 python -m pytest
tests/test_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from gensr.cli import main

GOLDEN = Path(__file__).parent / "golden"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "gensr" / "samples" / "astronaut.jpg"


def test_builtin_model_upscale_matches_golden(tmp_path: Path) -> None:
    crop = PILImage.open(SAMPLE).convert("RGB").crop((96, 40, 144, 88))  # 48x48 face crop
    crop.save(tmp_path / "astronaut48.png")
    args = ["upscale", str(tmp_path / "astronaut48.png"), "-o", str(tmp_path / "out"), "--device", "cpu"]
    assert main([*args, "--tile", "32", "--precision", "fp32", "--quiet"]) == 0
    out = tmp_path / "out" / "astronaut48_x4.png"
    expected = GOLDEN / "astronaut48_x4.png"
    if os.environ.get("GENSR_UPDATE_GOLDEN"):
        expected.write_bytes(out.read_bytes())
    got = np.asarray(PILImage.open(out)).astype(np.int16)
    want = np.asarray(PILImage.open(expected)).astype(np.int16)
    assert got.shape == want.shape == (192, 192, 3)
    assert np.abs(got - want).max() <= 1
