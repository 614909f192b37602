"""Per spandrel architecture: loads, size requirements, seams against the whole image, precisions (markdown).

Small random-weight instances (``tests/models/spandrel_cases.py``) saved as .pth and read back through
``gensr.models.load_model``. Seams: gensr's tiled output against its own whole-image output on the
sample photo reduced 2x (256x256 input, 32-px tile cores), PSNR over RGB; "exact" is >= 100 dB. Local
(convolution-only) architectures are cut at their receptive radius. For the others the table gives the
cut at a 32-px overlap (for comparison) and what ``gensr.infer.seams`` measured for the model on
its own probe (the centre of the sample photo): the overlap, cut or blended, the dB that choice gives on
the 256x256 input, and the seconds the measurement took. Random-weight seams are not those of trained
models. The table goes to ``docs/spandrel.md``.

Usage: python benchmarks/spandrel_archs.py [ARCH ...]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "models"))

from spandrel_cases import cases, random_state, rgb_psnr  # noqa: E402

from gensr.imageio import read_image  # noqa: E402
from gensr.infer import Upscaler  # noqa: E402
from gensr.infer.seams import SAMPLE  # noqa: E402
from gensr.infer.tiling import run_tiles  # noqa: E402
from gensr.infer.tuning import make_plan  # noqa: E402
from gensr.models import load_model  # noqa: E402

N = 256
"""Side of the test input (the sample photo reduced 2x)."""


def _db(db: float) -> str:
    return "exact" if db >= 100 else f"{db:.1f}"


def main(only: list[str]) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    photo = read_image(SAMPLE).rgb  # (1, 3, 512, 512)
    lr = F.interpolate(photo, size=(N, N), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    cols = ["architecture", "local", "size requirement", "cut at 32 px, dB", "measured: overlap, tiling, dB"]
    cols.append("precisions")
    print("| " + " | ".join(cols) + " |")  # noqa: T201
    print("|---|---|---|---|---|---|")  # noqa: T201
    with tempfile.TemporaryDirectory() as d:
        os.environ["GENSR_CACHE"] = d  # every model measured afresh
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
            whole = Upscaler(net, tile=0).upscale_tensor(lr)
            t0 = time.perf_counter()
            up = Upscaler(net, tile=32)
            plan = up.plan(N, N)
            took = time.perf_counter() - t0
            measured = rgb_psnr(up.upscale_tensor(lr), whole)
            if net.local:
                cut, chosen = "-", f"{plan.overlap} px, cut, {_db(measured)}"
            else:
                ref = Upscaler(net, tile=32, overlap=32)
                run = make_plan(net, ref.geometry, N, N, tile=32, overlap=32, batch=1, device=ref.device,
                                dtype=ref.dtype, blend=0)  # fmt: skip
                tiled = run_tiles(net, lr, ref.geometry, run, device=ref.device, dtype=ref.dtype)
                cut = _db(rgb_psnr(tiled, whole))
                how = "blended" if plan.blend else "cut"
                chosen = f"{plan.overlap} px, {how}, {_db(measured)} ({took:.0f} s to measure)"
            prec = ", ".join(str(t).removeprefix("torch.").replace("float", "fp").replace("bfp16", "bf16")
                             for t in net.precisions)  # fmt: skip
            print(f"| {case.arch} | {'yes' if net.local else 'no'} | {' '.join(r for r in req if r) or '-'} "  # noqa: T201
                  f"| {cut} | {chosen} | {prec} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
