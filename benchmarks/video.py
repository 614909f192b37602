"""Video speed: ``gensr upscale clip.mp4 -o out.mp4`` on a clip made here, beside the network alone.

Run:  python benchmarks/video.py [--photo PATH] [--size 640x360] [--seconds 3] [--fps 24] [--model NAME]

The clip is a slow diagonal pan across a photo (the bundled sample by default; any photo is resized to
cover the pan), H.264 at crf 16, with a 440 Hz AAC track. The command is timed as a user runs it (a
fresh process: start-up, model load, decoding, the network, encoding, audio copy); the network alone
is timed on the same frames in the same batches, in this process, after one warm-up batch. Prints one
markdown table; the difference between its two rows is what decoding and encoding cost. The machine
may be shared: CPU time (user + system, all threads) does not count the time other processes held the
cores, so frames per CPU-second is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "src" / "gensr" / "samples" / "astronaut.jpg"


def make_clip(path: Path, photo: Path, width: int, height: int, seconds: float, fps: int) -> int:
    import av

    n = round(seconds * fps)
    im = PILImage.open(photo).convert("RGB")
    cover = max(1.25 * width / im.width, 1.25 * height / im.height, 1.0)
    if cover > 1:
        im = im.resize((round(im.width * cover), round(im.height * cover)), PILImage.Resampling.BICUBIC)
    src = np.asarray(im)
    dy, dx = src.shape[0] - height, src.shape[1] - width
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt, v.options = width, height, "yuv420p", {"crf": "16"}
        a = c.add_stream("aac", rate=48000)
        a.layout = "stereo"
        for i in range(n):
            y, x = round(dy * i / max(n - 1, 1)), round(dx * i / max(n - 1, 1))
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(src[y : y + height, x : x + width]), "rgb24")
            f.pts = i
            c.mux(v.encode(f))
        c.mux(v.encode())
        total = round(seconds * 48000)
        for s in range(0, total, 1024):
            t = np.arange(s, min(s + 1024, total)) / 48000
            x2 = np.tile((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), (2, 1))
            fr = av.AudioFrame.from_ndarray(x2, format="fltp", layout="stereo")
            fr.sample_rate, fr.pts = 48000, s
            c.mux(a.encode(fr))
        c.mux(a.encode())
    return n


def network_alone(clip: Path, model: str | None) -> tuple[int, float, float, int]:
    """(frames, seconds, CPU seconds, batch): the network on the clip's frames, batched as gensr does."""
    from gensr.imageio.video import VideoReader
    from gensr.infer import Upscaler
    from gensr.infer.video import frames_per_batch
    from gensr.models import load_model, resolve_model

    net, info = load_model(resolve_model(model))
    up = Upscaler(net, scale=int(info.scale), device="cpu")
    with VideoReader(clip) as v:
        batch, tile = frames_per_batch(up, v.info.height, v.info.width)
        batches = list(v.batches(batch))
    runner = Upscaler(net, scale=int(info.scale), device="cpu", tile=tile)
    runner.upscale_tensor(batches[0].rgb)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for b in batches:
        runner.upscale_tensor(b.rgb)
    return sum(len(b) for b in batches), time.perf_counter() - t0, time.process_time() - c0, batch


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photo", type=Path, default=SAMPLE)
    p.add_argument("--size", default="640x360", help="clip size WxH (default: 640x360)")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--fps", type=int, default=24)
    p.add_argument("--model", default=None, help="gensr model name or file (default: the built-in one)")
    args = p.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        clip, out = Path(tmp) / "clip.mp4", Path(tmp) / "out.mp4"
        n = make_clip(clip, args.photo, width, height, args.seconds, args.fps)
        model = ["--model", args.model] if args.model else []
        cmd = ["gensr", "upscale", str(clip), "-o", str(out), *model]
        t0, c0 = time.perf_counter(), _children_cpu()
        subprocess.run(cmd, check=True)
        wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
        frames, net_s, net_cpu, batch = network_alone(clip, args.model)
    mp = width * height * 16 / 1e6  # output megapixels per frame (x4)
    print(  # noqa: T201
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}; {n} frames {width}x{height} "
        f"at {args.fps} fps, batch {batch}\n\n"
        "| what | frames/s | output MP/s | frames per CPU-second |\n|:--|--:|--:|--:|\n"
        f"| `gensr upscale clip.mp4 -o out.mp4` (whole command) | {n / wall:.2f} | {n * mp / wall:.2f}"
        f" | {n / cpu:.3f} |\n"
        f"| network alone, same frames and batches | {frames / net_s:.2f} | {frames * mp / net_s:.2f}"
        f" | {frames / net_cpu:.3f} |"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
