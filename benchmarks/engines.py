"""Engine benchmark: gensr's PyTorch path against onnxruntime on the same ONNX-exported model, on the CPU.

Run:  python benchmarks/engines.py            # ~1 min on 2 CPU cores -> section "engines" of RESULTS.md
      python benchmarks/engines.py --store    # also store the winner for `gensr upscale --engine auto`

For the built-in model (or ``--model``), each row times one square input tile (``--sizes``) at each
thread count (``--threads``): PyTorch fp32 in channels-last, as :func:`gensr.infer.tile_upscale`
runs it, and an :class:`gensr.infer.engines.OnnxNet` (onnxruntime's CPU provider, same thread count for
intra-op work) on the model's ONNX export, both timed by :func:`gensr.infer.engines.measure_engines` (the
measurement ``--engine auto`` makes): alternating rounds, one warm-up and one timed call per engine
each, the fastest round counts (the machine is shared; the least disturbed run is the one to compare).
The CPU flags are printed, since onnxruntime's and PyTorch's kernels take different paths on AVX2,
AVX-512 and AMX machines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from gensr.base.machine import cpu_flags  # noqa: E402
from gensr.infer.engines import MARGIN, MEASURE_SIZE, measure_engines, onnx_for_model, store_measurement  # noqa: E402
from gensr.models import resolve_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model name or file (default: the built-in model)")
    p.add_argument("--sizes", default="64,128,256", help="input tile sides (default: 64,128,256)")
    p.add_argument("--threads", default="1,2", help="thread counts (default: 1,2)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per row (default: 5)")
    p.add_argument("--store", action="store_true", help="store the winner for `gensr upscale --engine auto`")
    p.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = p.parse_args(argv)
    import onnxruntime

    info = common.machine_info()
    print(f"CPU: {info['cpu']}\nflags: {' '.join(sorted(cpu_flags()))}", file=sys.stderr)  # noqa: T201
    model = resolve_model(args.model)
    onnx_for_model(model)  # export once, outside the timings
    rows, default_threads = [], torch.get_num_threads()
    results: dict[tuple[int, int], dict[str, float]] = {}
    for threads in (int(t) for t in args.threads.split(",")):
        for size in (int(s) for s in args.sizes.split(",")):
            r = measure_engines(model, size=size, rounds=args.rounds, threads=threads)
            results[(threads, size)] = r
            ratio = r["onnxruntime"] / r["torch"]
            rows.append([str(threads), f"{size}²", r["torch"], r["onnxruntime"], f"{ratio:.2f}×"])
            print(f"{threads} threads, {size}px: {r}", file=sys.stderr)  # noqa: T201
    torch.set_num_threads(default_threads)
    decide = results.get((default_threads, MEASURE_SIZE))
    body = [
        "## Engines: PyTorch vs onnxruntime (CPU, fp32)",
        "",
        common.machine_header(info),
        f"- onnxruntime {onnxruntime.__version__} (CPUExecutionProvider), model `{model.name}`, "
        f"ONNX opset 18 export; output megapixels per second, best of {args.rounds} alternating rounds",
        "",
        common.markdown_table(
            ["threads", "input tile", "torch MP/s", "onnxruntime MP/s", "ort / torch"], rows
        ),
    ]
    if decide is not None:
        winner = "onnxruntime" if decide["onnxruntime"] > MARGIN * decide["torch"] else "torch"
        body += [
            "",
            f"`gensr upscale --engine auto` here ({default_threads} threads, {MEASURE_SIZE}² tile): "
            f"**{winner}** (onnxruntime is picked only when more than {MARGIN:.2f}× faster).",
        ]
        if args.store:
            store_measurement(decide, default_threads)
    text = "\n".join(body)
    if args.no_write:
        print(text)  # noqa: T201
    else:
        common.write_section("engines", text)
        print(f"wrote section 'engines' of {common.RESULTS}", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
