"""Memory benchmark: peak resident memory of `gensr upscale` on very large outputs (x4, CPU).

Run:  python benchmarks/memory.py        # ~10-20 min on 2 CPU cores -> section "memory" of RESULTS.md

Each row is one `gensr upscale INPUT -o OUT.ext --engine torch --device cpu` in a fresh subprocess,
its peak resident set size (``ru_maxrss`` of that child, from ``os.wait4``) and wall time. Inputs are
square mosaics of real photos (crops of the largest held-out photos of ``get_eval_photos.sh``, or
``--photos DIR``), 1500² (36 MP out) and 2500² (100 MP out) by default, written once as PNG into
``$GENSR_BENCH_CACHE/memory``. Outputs: PNG and TIFF (encoded band by band as the tiles finish) and
JPEG (gathered as 8-bit, then encoded by Pillow). The output is checked for its size and deleted.
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


def mosaic(side: int, photos: list[Path], dst: Path) -> Path:
    """A ``side``² RGB PNG tiled from centre crops of ``photos`` (2x2 or more cells, photos in turn)."""
    from PIL import Image

    if dst.is_file():
        return dst
    cells = 2
    while -(-side // cells) > 1280:
        cells += 1
    cell = -(-side // cells)
    usable = []
    for p in photos:
        with Image.open(p) as im:
            if min(im.size) >= cell:
                usable.append(p)
    if not usable:
        raise SystemExit(f"no photo has both sides >= {cell} px in {[str(p) for p in photos]}")
    out = Image.new("RGB", (side, side))
    for i in range(cells * cells):
        with Image.open(usable[i % len(usable)]) as im:
            rgb = im.convert("RGB")
            left, top = (rgb.width - cell) // 2, (rgb.height - cell) // 2
            out.paste(
                rgb.crop((left, top, left + cell, top + cell)), ((i % cells) * cell, (i // cells) * cell)
            )
    dst.parent.mkdir(parents=True, exist_ok=True)
    out.save(dst)
    return dst


def run(cmd: list[str]) -> tuple[float, float, str]:
    """``(peak RSS MiB, wall seconds, stderr)`` of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    err = p.stderr.read()
    _pid, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err}")
    return usage.ru_maxrss / 1024, wall, err


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1500,2500", help="input sides (default: 1500,2500 -> 36 and 100 MP)")
    p.add_argument("--formats", default="png,tif,jpg", help="output formats (default: png,tif,jpg)")
    p.add_argument("--photos", type=Path, default=common.PHOTOS / "photos", help="folder of photos to tile")
    p.add_argument("--model", default=None, help="model name or file (default: the built-in model)")
    p.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = p.parse_args(argv)
    info = common.machine_info()
    photos = sorted(f for f in args.photos.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
    photos.sort(key=lambda f: -os.path.getsize(f))
    rows = []
    base_cmd = [sys.executable, "-m", "gensr", "upscale", "--engine", "torch", "--device", "cpu", "-q"]
    if args.model:
        base_cmd += ["--model", args.model]
    idle, _, _ = run([sys.executable, "-c", "import torch, gensr.cli"])
    with tempfile.TemporaryDirectory(prefix="gensr-memory-") as tmp:
        for side in (int(s) for s in args.sizes.split(",")):
            src = mosaic(side, photos, common.CACHE / "memory" / f"mosaic{side}.png")
            for ext in args.formats.split(","):
                dst = Path(tmp) / f"out{side}.{ext}"
                rss, wall, _ = run([*base_cmd, str(src), "-o", str(dst)])
                size_mb = dst.stat().st_size / 1e6
                from PIL import Image

                Image.MAX_IMAGE_PIXELS = None  # our own output: no decompression bomb
                with Image.open(dst) as im:
                    assert im.size == (4 * side, 4 * side), im.size
                dst.unlink()
                mp = (4 * side) ** 2 / 1e6
                print(f"{side}² -> {mp:.0f} MP {ext}: {rss:.0f} MiB, {wall:.1f} s", file=sys.stderr)  # noqa: T201
                rows.append(
                    [
                        f"{side}² → {4 * side}² ({mp:.0f} MP)",
                        ext.upper(),
                        f"{rss:.0f}",
                        wall,
                        mp / wall,
                        size_mb,
                    ]
                )
    body = [
        "## Memory: very large outputs (x4, CPU, `--precision auto`: bf16 where the CPU has it)",
        "",
        common.machine_header(info),
        f"- `python -m gensr upscale INPUT -o OUT.ext --engine torch --device cpu -q`, built-in model, "
        f"automatic tiles; inputs: mosaics of photos from `{args.photos}`; peak RSS of the process "
        f"(`ru_maxrss`), `import torch, gensr.cli` alone: {idle:.0f} MiB",
        "",
        common.markdown_table(
            ["input → output", "format", "peak RSS MiB", "wall s", "output MP/s", "file MB"], rows
        ),
    ]
    text = "\n".join(body)
    if args.no_write:
        print(text)  # noqa: T201
    else:
        common.write_section("memory", text)
        print(f"wrote section 'memory' of {common.RESULTS}", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
