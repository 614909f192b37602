"""Start-up: the commands that only print (help, the model list) never import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after(code: str) -> set[str]:
    """Top-level modules imported by ``code`` run in a fresh interpreter (stdout is discarded)."""
    script = (
        "import contextlib, io, sys\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    {code}\n"
        "print('MODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES "))
    return set(line.split()[1:])


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["upscale", "--help"], ["models", "--help"], ["train", "--help"], ["eval", "--help"]],
)
def test_help_does_not_import_torch(argv: list[str]) -> None:
    mods = _modules_after(f"from gensr.cli import main\n    try: main({argv!r})\n    except SystemExit: pass")
    assert "gensr" in mods and "torch" not in mods


def test_models_lists_without_torch() -> None:
    mods = _modules_after("from gensr.cli import main\n    assert main(['models']) == 0")
    assert "torch" not in mods and "numpy" not in mods
