"""What a new user sees first: `gensr upscale --sample` beside a plain bicubic enlargement, at 1:1.

Run:  python benchmarks/sample_crops.py [--model NAME|FILE]      # writes docs/crops/sample-*.png

Runs the real command (`gensr upscale --sample`, the built-in default unless ``--model``), enlarges the
same 256x256 sample photo x4 with Pillow's bicubic filter (what an image viewer does), and writes two
256x256 windows of the 1024x1024 results side by side, unscaled: the face (skin, eyes, hair) and a flat,
dark area (where a periodic grid would show). Each strip is labelled and reports the periodic-artefact
ratio (:func:`gensr.metrics.artefacts.periodic_ratio`) of the whole output.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from gensr.commands.upscale import SAMPLE_PHOTO
from gensr.metrics.artefacts import periodic_ratio

DOCS = Path(__file__).resolve().parent.parent / "docs" / "crops"
WINDOWS = {"face": (400, 130, 656, 386), "flat": (120, 620, 376, 876)}
"""Name -> (left, top, right, bottom) in the 1024x1024 output."""


def _tensor(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)[None].float() / 255


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="", help="model name or file (default: the built-in default)")
    ap.add_argument("--out", type=Path, default=DOCS)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sample_x4.png"
        cmd = [sys.executable, "-m", "gensr", "upscale", "--sample", "-o", str(out)]
        subprocess.run(cmd + (["--model", args.model] if args.model else []), check=True)
        gensr_im = Image.open(out).convert("RGB")
        gensr_im.load()
    src = Image.open(SAMPLE_PHOTO).convert("RGB")
    bicubic = src.resize((src.width * 4, src.height * 4), Image.BICUBIC)
    label = args.model or "gensr upscale --sample"
    shown = [("bicubic (Pillow)", bicubic), (label, gensr_im)]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, box in WINDOWS.items():
        w, h = box[2] - box[0], box[3] - box[1]
        strip = Image.new("RGB", (w * len(shown) + 8 * (len(shown) - 1), h + 18), "white")
        draw = ImageDraw.Draw(strip)
        for i, (title, im) in enumerate(shown):
            x = i * (w + 8)
            strip.paste(im.crop(box), (x, 18))
            draw.text((x + 2, 3), f"{title}  periodic {periodic_ratio(_tensor(im), 4):.0f}", fill="black")
        strip.save(args.out / f"sample-{name}.png")
        print(args.out / f"sample-{name}.png")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
