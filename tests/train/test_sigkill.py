"""SIGKILL at random moments of ``gensr train``, then --resume: the same loss trace as an uninterrupted run.

Runs ``scripts/sigkill_trials.py`` (10 trials there by default; 2 here, to keep the suite short).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "sigkill_trials.py"


@pytest.mark.slow
def test_sigkill_then_resume_reproduces_the_loss_trace(tmp_path: Path) -> None:
    pytest.importorskip("skimage", reason="the trials train on scikit-image's photos")
    p = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--trials",
            "2",
            "--iters",
            "4",
            "--seed",
            "3",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stdout + p.stderr[-2000:]
    assert "2 of 2 trials resumed to the uninterrupted loss trace" in p.stdout
    assert p.stdout.count(" kills, ") == 2 and " 0 kills," not in p.stdout
