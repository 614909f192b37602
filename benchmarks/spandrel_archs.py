"""Per spandrel architecture: loads, size requirements, tiles exact or seam PSNR, precisions (markdown).

Small random-weight instances (``tests/models/spandrel_cases.py``) saved as .pth and read back through
``gensr.models.load_model``; the seam PSNR is gensr's tiled output against its own whole-image output
(``seam_psnr``, 16-px tiles: 48x40 input at 8 px overlap / 96x88 input at the default overlap). The
table goes to ``docs/spandrel.md``.

Usage: python benchmarks/spandrel_archs.py [ARCH ...]
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "models"))

from spandrel_cases import cases, random_state, seam_psnr  # noqa: E402

from gensr.models import load_model  # noqa: E402


def main(only: list[str]) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    head = (
        "architecture",
        "local",
        "size requirement",
        "tiles vs whole image, dB (overlap 8 / default)",
        "precisions",
    )
    print("| " + " | ".join(head) + " |")  # noqa: T201
    print("|---|---|---|---|---|")  # noqa: T201
    with tempfile.TemporaryDirectory() as d:
        for case in cases():
            if only and case.arch not in only:
                continue
            path = Path(d) / f"{case.arch}.pth"
            torch.save(random_state(case), path)
            net, _ = load_model(path)
            req = [
                f"min {net.min_size}" if net.min_size > 1 else "",
                f"x{net.size_multiple}" if net.size_multiple > 1 else "",
                "square" if net.square else "",
            ]
            quick = seam_psnr(net, size=(48, 40), overlap=8)
            full = seam_psnr(net, size=(96, 88), overlap=None)
            tiles = " / ".join("exact" if db >= 100 else f"{db:.1f}" for db in (quick, full))
            prec = ", ".join(str(t).removeprefix("torch.").replace("float", "fp").replace("bfp16", "bf16")
                             for t in net.precisions)  # fmt: skip
            print(f"| {case.arch} | {'yes' if net.local else 'no'} | {' '.join(r for r in req if r) or '-'} "  # noqa: T201
                  f"| {tiles} | {prec} |")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
