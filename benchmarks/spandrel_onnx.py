"""Whether a spandrel architecture's graph exports to ONNX and runs the same in onnxruntime.

One architecture per run (an export can crash the process: SPAN's did, torch 2.13, before its Conv3XC layers
were folded for export): the small random-weight instance of ``tests/models/spandrel_cases.py`` is exported
by ``gensr.models.onnx_export.export_onnx`` (its refusal lifted for the check) and run by ``OnnxNet`` on
inputs of two sizes other than the example's, against PyTorch (the lower PSNR of the two is printed).
``ArchFacts.onnx`` in ``gensr.models.spandrel_net`` records the architectures that passed.

Usage: python benchmarks/spandrel_onnx.py ARCH
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "models"))

from spandrel_cases import cases, random_state, rgb_psnr  # noqa: E402

from gensr.infer.engines import OnnxNet  # noqa: E402
from gensr.models import load_model  # noqa: E402
from gensr.models.onnx_export import export_onnx  # noqa: E402


def main(arch: str) -> None:
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    case = next(c for c in cases() if c.arch == arch)
    d = Path(tempfile.mkdtemp())
    torch.save(random_state(case), d / "m.pth")
    net, _ = load_model(d / "m.pth")
    net.onnx = True  # the check itself
    t0 = time.time()
    try:
        export_onnx(net, d / "m.onnx")
        m = net.size_multiple
        side = max(case.size, 16) // m * m
        onnx = OnnxNet(d / "m.onnx", threads=1)
        dbs = []
        for dh, dw in ((2, 3), (5, 1)):  # two sizes, neither the example's; square where it must be
            x = torch.rand(1, 3, side + dh * m, side + (dh if net.square else dw) * m)
            dbs.append(rgb_psnr(onnx(x).clamp(0, 1), net(x).clamp(0, 1)))
        db = min(dbs)
        print(f"{arch}: exports, onnxruntime vs PyTorch {db:.1f} dB ({time.time() - t0:.0f} s)")  # noqa: T201
    except Exception as e:  # noqa: BLE001 - the point is to report it
        first = str(e).splitlines()[0][:150] if str(e) else type(e).__name__
        print(f"{arch}: fails: {type(e).__name__}: {first}")  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1])
