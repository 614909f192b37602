"""``gensr data``: obtain and prepare training / evaluation images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "data"
HELP = "Obtain and prepare images: built-in sample photos, sub-image extraction, dataset downloads."
EXAMPLE = (
    "Examples:\n"
    "  gensr data samples data/train              # scikit-image's colour photos as PNG\n"
    "  gensr data prepare DIV2K_train_HR DIV2K_sub --crop 480 --step 240\n"
    "  gensr data download --list\n"
    "  gensr data download set5 datasets/         # -> datasets/benchmark/Set5/HR"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("samples", help="write scikit-image's bundled colour photos as PNG files")
    p.add_argument("dir", type=Path, metavar="DIR", help="output folder (created)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")

    p = sub.add_parser("prepare", help="cut large images into overlapping sub-images (PNG) for training")
    p.add_argument("src", type=Path, metavar="SRC", help="folder of HR images (recursive)")
    p.add_argument("dst", type=Path, metavar="DST", help="output folder (created)")
    p.add_argument("--crop", type=int, default=480, metavar="PX", help="sub-image size (default 480)")
    p.add_argument(
        "--step", type=int, default=240, metavar="PX", help="distance between sub-images (default 240)"
    )
    p.add_argument(
        "--thresh-size", type=int, default=0, metavar="PX",
        help="largest remainder at the far edges left without its own sub-image (default 0)",
    )  # fmt: skip

    from gensr.data.download import DATASETS

    p = sub.add_parser(
        "download", help="download a standard dataset (needs internet), resumable and checksummed"
    )
    p.add_argument("name", nargs="?", choices=sorted(DATASETS), metavar="NAME", help="dataset (see --list)")
    p.add_argument("dir", nargs="?", type=Path, metavar="DIR", help="target folder")
    p.add_argument("--list", action="store_true", help="list the known datasets and exit")
    p.add_argument("--remove-archive", action="store_true", help="delete the archive after extraction")


def _samples(args: argparse.Namespace) -> int:
    from gensr.data.photos import sample_photos, save_png

    try:
        photos = sample_photos()
    except ImportError as e:
        print(f"gensr data samples: {e}", file=sys.stderr)  # noqa: T201
        return 1
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, rgb in photos:
        out = args.dir / f"{name}.png"
        if out.exists() and not args.overwrite:
            print(f"{out}: exists, kept (use --overwrite)", file=sys.stderr)  # noqa: T201
            continue
        save_png(out, rgb)
        print(f"{out}  {rgb.shape[1]}x{rgb.shape[0]}")  # noqa: T201
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from gensr.data.photos import extract_subimages

    if not args.src.is_dir():
        print(f"gensr data prepare: {args.src}: not a folder", file=sys.stderr)  # noqa: T201
        return 2
    if args.crop < 1 or args.step < 1 or args.thresh_size < 0:
        print("gensr data prepare: --crop and --step must be positive, --thresh-size >= 0", file=sys.stderr)  # noqa: T201
        return 2
    errors: list[tuple[Path, str]] = []
    written = extract_subimages(args.src, args.dst, args.crop, args.step, args.thresh_size, errors=errors)
    for path, reason in errors:
        print(f"{path}: {reason}", file=sys.stderr)  # noqa: T201
    print(f"wrote {len(written)} sub-images to {args.dst}")  # noqa: T201
    return 1 if errors else 0


def _list() -> int:
    from gensr.data.download import DATASETS

    for name, src in DATASETS.items():
        size = f"{src.size / 1e6:.0f} MB" if src.size else "size unpublished"
        check = "sha256" if src.sha256 else "md5" if src.md5 else "no checksum"
        print(f"{name:12s} {src.description}\n{'':12s} {src.url} ({size}, {check}: {src.checksum_source})")  # noqa: T201
    return 0


def _download(args: argparse.Namespace) -> int:
    from gensr.data.download import DownloadError, download_dataset

    if args.list:
        return _list()
    if args.name is None or args.dir is None:
        print("gensr data download: give NAME and DIR, or --list", file=sys.stderr)  # noqa: T201
        return 2
    from tqdm import tqdm

    bar = tqdm(unit="B", unit_scale=True, desc=args.name, file=sys.stderr)

    def progress(done: int, total: int | None) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        hr = download_dataset(args.name, args.dir, keep_archive=not args.remove_archive, progress=progress)
    except (DownloadError, OSError) as e:
        bar.close()
        print(f"gensr data download {args.name}: {e}", file=sys.stderr)  # noqa: T201
        return 1
    bar.close()
    print(f"{args.name}: HR images in {hr}")  # noqa: T201
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "samples":
        return _samples(args)
    if args.action == "prepare":
        return _prepare(args)
    return _download(args)
