"""Generator candidates through `gensr upscale`, end to end, against a reference model, in one run.

Run:  python benchmarks/archs.py REF.safetensors CAND.safetensors [...] [--photo FILE] [--repeats 3]

Each model upscales the same real photo with the `gensr upscale` command (a subprocess: process
start, decode, inference, encode) in fp32 and in bf16, on the CPU with the given torch threads;
the runs of all models are interleaved and each model's best of ``--repeats`` is kept, so a load
spike hits every model alike. Prints a markdown table: output megapixels per second and the ratio
to the first model (the reference). Used to pick gensr's generator (`docs/models.md`): a candidate
qualifies when it is at least as fast as the reference in both precisions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def upscale_seconds(model: Path, photo: Path, precision: str, threads: int) -> float:
    """Wall time of one `gensr upscale` process (seconds)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "gensr", "upscale", str(photo), "-o", out, "--model", str(model)]
        cmd += ["--precision", precision, "--device", "cpu", "--engine", "torch", "-q"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", type=Path, nargs="+", help="model files; the first is the reference")
    p.add_argument("--photo", type=Path, default=common.PHOTOS / "photos" / "grace_hopper.jpg")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    from PIL import Image

    from gensr.models import read_model_info

    w, h = Image.open(args.photo).size
    best: dict[tuple[Path, str], float] = {}
    for _ in range(args.repeats):
        for model in args.models:
            for precision in ("fp32", "bf16"):
                s = upscale_seconds(model, args.photo, precision, args.threads)
                best[model, precision] = min(best.get((model, precision), float("inf")), s)
    info = common.machine_info()
    lines = [
        f"- Machine: {info['cpu']} ({', '.join(info['flags'])}); torch threads {args.threads}; "
        f"load at end {os.getloadavg()[0]:.2f}",
        f"- Photo: {args.photo.name} ({w}x{h}); best of {args.repeats} interleaved runs\n",
        "| model | arch | fp32 out MP/s | fp32 vs ref | bf16 out MP/s | bf16 vs ref |",
        "|:--|:--|--:|--:|--:|--:|",
    ]
    ref = args.models[0]
    for model in args.models:
        meta = read_model_info(model)
        scale = meta.scale
        mp = w * h * scale * scale / 1e6
        hp = meta.hparams
        arch = f"{meta.arch} {hp.get('num_feat', '')}x{hp.get('num_conv', '')}"
        cells = []
        for precision in ("fp32", "bf16"):
            rate = mp / best[model, precision]
            cells += [f"{rate:.2f}", f"{best[ref, precision] / best[model, precision]:.2f}x"]
        lines.append(f"| {model.stem} | {arch} | " + " | ".join(cells) + " |")
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
