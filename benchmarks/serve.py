"""``gensr serve`` under load, and beside ``gensr upscale`` on the same photo (run by hand, not by the tests).

Two measurements, each against a real ``gensr serve`` started here as a subprocess on 127.0.0.1:

``load``: ``--clients`` threads each upload ``--images`` small photos (crops of the bundled sample)
through ``POST /v1/upscale``, poll their jobs and download the results, waiting ``Retry-After``
seconds whenever the server answers 503 (queue full) or 429 (this client's share full). Prints how
many results came back (all of them, or the run failed), the answers seen, the wall time and the
server's peak RSS (``VmHWM`` of its process).

``speed PHOTO``: the same photo through ``gensr upscale`` (a subprocess timed from start to exit,
start-up included, and the time its own line reports for the picture) and through the server
(``POST /v1/upscale?wait=true``, upload and download included, after one warm-up request), both with
their defaults; alternating rounds, the best of each counts. Also checks that the bytes are equal.

    python benchmarks/serve.py load --clients 40 --images 3
    python benchmarks/serve.py speed photo.jpg --rounds 3
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "gensr" / "samples" / "astronaut.jpg"


class Server:
    """``gensr serve --port 0`` in a subprocess; ``url`` once it answers."""

    def __init__(self, *extra: str) -> None:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "gensr", "serve", "--port", "0", *extra]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = ""
        while "http://" not in line:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("gensr serve did not start")
        self.url = line.split()[2].rstrip("/")
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep the pipe drained
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/healthz", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        print(f"gensr serve answered {time.perf_counter() - t0:.1f} s after it was started")  # noqa: T201

    def peak_rss_mib(self) -> float:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]

    def stop(self) -> None:
        t0 = time.perf_counter()
        self.proc.send_signal(2)  # Ctrl-C
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        print(f"gensr serve stopped {time.perf_counter() - t0:.1f} s after Ctrl-C")  # noqa: T201


def _crops(n: int, size: int) -> list[bytes]:
    out = []
    with Image.open(SAMPLE) as im:
        for k in range(n):
            x, y = (k * 37) % (im.width - size), (k * 53) % (im.height - size)
            buf = io.BytesIO()
            im.crop((x, y, x + size, y + size)).save(buf, format="PNG")
            out.append(buf.getvalue())
    return out


def _one_client(url: str, images: list[bytes], seen: Counter[str], lock: threading.Lock) -> int:
    """Upload each image, honouring Retry-After; returns how many results came back."""
    got = 0
    with httpx.Client(timeout=600) as http:
        for k, data in enumerate(images):
            while True:
                r = http.post(f"{url}/v1/upscale", files={"file": (f"img{k}.png", data)})
                with lock:
                    seen[str(r.status_code)] += 1
                if r.status_code in (429, 503):
                    time.sleep(float(r.headers.get("retry-after", "1")))
                    continue
                r.raise_for_status()
                break
            job = r.json()["id"]
            while (status := http.get(f"{url}/v1/jobs/{job}").json()["status"]) in ("queued", "running"):
                time.sleep(0.2)
            if status == "done":
                result = http.get(f"{url}/v1/jobs/{job}/result")
                got += result.status_code == 200 and len(result.content) > 0
    return got


def load(args: argparse.Namespace) -> int:
    images = _crops(args.images, args.size)
    server = Server(*args.serve_args)
    seen: Counter[str] = Counter()
    lock, counts = threading.Lock(), [0] * args.clients
    try:
        t0 = time.perf_counter()

        def run(i: int) -> None:
            counts[i] = _one_client(server.url, images, seen, lock)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        rss = server.peak_rss_mib()
    finally:
        server.stop()
    want = args.clients * args.images
    answers = ", ".join(f"{n}× {code}" for code, n in sorted(seen.items()))
    print(f"{sum(counts)}/{want} results back from {args.clients} clients × {args.images} images "  # noqa: T201
          f"({args.size}x{args.size} PNG), {wall:.1f} s; answers to uploads: {answers}; "
          f"server peak RSS {rss:.0f} MiB")  # fmt: skip
    return 0 if sum(counts) == want else 1


def speed(args: argparse.Namespace) -> int:
    photo = Path(args.photo)
    work = Path(tempfile.mkdtemp(prefix="gensr-bench-serve-"))
    server = Server(*args.serve_args)
    best: dict[str, float] = {}
    try:
        with httpx.Client(timeout=1800) as http:

            def through_server() -> bytes:
                r = http.post(
                    f"{server.url}/v1/upscale?wait=true", files={"file": (photo.name, photo.read_bytes())}
                )
                r.raise_for_status()
                return r.content

            through_server()  # warm-up: model load and tile timing happen once per server
            for _ in range(args.rounds):
                out = work / "out"
                t0 = time.perf_counter()
                p = subprocess.run(
                    [sys.executable, "-m", "gensr", "upscale", str(photo), "-o", str(out), "--overwrite"],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                _keep(best, "gensr upscale, whole process", time.perf_counter() - t0)
                line = re.search(r" -> .*  ([0-9.]+) s$", p.stderr, re.M)
                if line:
                    _keep(best, "gensr upscale, its per-picture line", float(line.group(1)))
                t0 = time.perf_counter()
                served = through_server()
                _keep(best, "gensr serve, POST ?wait=true", time.perf_counter() - t0)
        written = next((work / "out").iterdir()).read_bytes()
    finally:
        server.stop()
    with Image.open(photo) as im:
        size = f"{im.width}x{im.height} ({im.width * im.height / 1e6:.2f} MP)"
    print(f"{photo.name} {size}, best of {args.rounds} alternating rounds, load {os.getloadavg()[0]:.1f}:")  # noqa: T201
    for what, s in best.items():
        print(f"  {what:38s} {s:7.2f} s")  # noqa: T201
    print(f"  same bytes: {served == written}")  # noqa: T201
    return 0 if served == written else 1


def _keep(best: dict[str, float], key: str, seconds: float) -> None:
    best[key] = min(best.get(key, float("inf")), seconds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    lp = sub.add_parser("load", help="many clients honouring Retry-After; every result must come back")
    lp.add_argument("--clients", type=int, default=40)
    lp.add_argument("--images", type=int, default=3, help="per client")
    lp.add_argument("--size", type=int, default=96, help="side of the uploaded crops (px)")
    sp = sub.add_parser("speed", help="one photo through gensr upscale and through the server")
    sp.add_argument("photo")
    sp.add_argument("--rounds", type=int, default=3)
    for q in (lp, sp):
        q.add_argument("--serve-args", nargs=argparse.REMAINDER, default=[], help="passed to gensr serve")
    args: Any = p.parse_args(argv)
    return load(args) if args.what == "load" else speed(args)


if __name__ == "__main__":
    sys.exit(main())
