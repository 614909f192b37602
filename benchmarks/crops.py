"""Comparison crops a person can look at (a face, handwritten text, foliage), for docs/models.md.

Run:  benchmarks/get_eval_photos.sh && python benchmarks/crops.py      # writes docs/crops/*.jpg

Three held-out pictures (never trained on): matplotlib's Grace Hopper portrait (face), scikit-image's
'text' photograph of handwriting (text; grey, not among the colour photos gensr trains on) and the MATE
'Garden' wallpaper reduced x1/4 (foliage), each a centre crop. ``gensr eval --save-images`` makes the
LR (MATLAB bicubic, then Real-ESRGAN's realistic degradation with seed 0), runs every method and writes
a labelled grid of the busiest 128 px square (HR, LR, then each method with its PSNR-Y), shown x2.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "crops"
METHODS = ("bicubic", "gensr-x4", "gensr-x4-clean", "gensr-x4-fidelity")
PEERS = ("realesrgan-x4plus", "REALSR_DF2K_UP4X")


def held_out_pictures(photos: Path, out: Path) -> None:
    """Write face.png, text.png and foliage.png (HR, 8-bit RGB, sides multiples of 4) into ``out``."""
    from skimage import data

    from gensr.base.tensors import quantize_uint8
    from gensr.degrade import imresize
    from gensr.imageio import read_rgb8

    def save(name: str, hr: torch.Tensor, size: tuple[int, int]) -> None:
        h, w = hr.shape[-2:]
        ch, cw = min(size[0], h) // 4 * 4, min(size[1], w) // 4 * 4
        top, left = (h - ch) // 2, (w - cw) // 2
        crop = hr[0, :, top : top + ch, left : left + cw]
        arr = (crop.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(np.ascontiguousarray(arr), "RGB").save(out / f"{name}.png")

    save("face", read_rgb8(photos / "photos" / "grace_hopper.jpg"), (256, 256))
    garden = quantize_uint8(imresize(read_rgb8(photos / "photos" / "garden.jpg"), scale=1 / 4))
    save("foliage", garden, (256, 256))
    text = torch.from_numpy(data.text()).float().div(255)[None, None].expand(1, 3, -1, -1)
    save("text", text, (172, 256))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=Path, default=common.PHOTOS)
    p.add_argument("--out", type=Path, default=DOCS)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    from gensr.cli import main as gensr_main

    torch.set_num_threads(args.threads)
    models = [*METHODS, *(str(common.imported_model(n)) for n in PEERS)]
    with tempfile.TemporaryDirectory() as tmp:
        hr_dir, grids = Path(tmp) / "hr", Path(tmp) / "grids"
        hr_dir.mkdir()
        held_out_pictures(args.photos, hr_dir)
        for deg in ("bicubic", "realistic"):
            argv = ["eval", "--data", str(hr_dir), "--scale", "4", "--degradation", deg, "--seed", "0"]
            argv += ["--device", "cpu", "--save-images", str(grids / deg)]
            for m in models:
                argv += ["--model", m]
            if gensr_main(argv) != 0:
                return 1
            for png in sorted((grids / deg).glob("*.png")):
                dst = args.out / f"{png.stem}-{deg}.jpg"
                dst.parent.mkdir(parents=True, exist_ok=True)
                Image.open(png).convert("RGB").save(dst, quality=90)
                print(dst)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
