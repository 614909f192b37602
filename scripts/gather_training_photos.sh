#!/usr/bin/env bash
# Gather gensr's offline training photos from Debian packages, reproducibly.
#
# Usage:   scripts/gather_training_photos.sh DIR        (then: gensr train ... data.train=[DIR/train])
# Needs:   apt-get and dpkg (Debian/Ubuntu; no root needed for `apt-get download` once the package
#          lists exist), and a Python with gensr installed ($PYTHON, default python3) -- with
#          scikit-image for its bundled sample photos.
#
# What it does:
#   1. `apt-get download opencv-doc plasma-workspace-wallpapers` into a temporary folder and
#      `dpkg -x` them (nothing is installed).
#   2. Copies, byte for byte, the real colour photographs (jpg/png, colour, shorter side >= 256 px)
#      among the OpenCV example images (usr/share/doc/opencv-doc/examples; the HTML tutorial
#      figures are not used) and the KDE Plasma wallpapers (one file per wallpaper, light variant),
#      minus the exclusions listed below, into DIR/train as opencv_<folder>_<name> / kde_<Name>.
#   3. Writes scikit-image's colour photos there with `gensr data samples`.
#   4. Writes DIR/manifest.tsv (file, package, version, source path, size, sha256) and prints the
#      number of images and total megapixels.
#
# Made with Debian 12 (bookworm): opencv-doc 4.6.0+dfsg-12, plasma-workspace-wallpapers 4:5.27.5-2.
# Other releases ship other versions and possibly other images; the versions used are printed and
# recorded in the manifest.
set -euo pipefail

DIR=${1:?usage: $0 DIR}
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download opencv-doc plasma-workspace-wallpapers)
for deb in "$work"/*.deb; do
    echo "unpacking $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >&2
    dpkg-deb -f "$deb" Package Version | paste -sd ' ' >> "$work/versions.txt"
    dpkg -x "$deb" "$work/root"
done
mkdir -p "$DIR/train"

"$PYTHON" - "$work/root" "$DIR" "$work/versions.txt" <<'PY'
import hashlib, os, shutil, sys
from pathlib import Path

import numpy as np
from PIL import Image

root, out_dir, versions_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
versions = dict(line.replace("Package: ", "").replace("Version: ", "").split(" ", 1)
                for line in versions_file.read_text().splitlines())

OPENCV = "usr/share/doc/opencv-doc/examples"
# Exclusions, relative to OPENCV, with the reason.
EXCLUDE_OPENCV = {
    "dnn_superres/butterfly.png": "validation image (Set5 'butterfly')",
    "data/baboon.jpg": "Set14 'baboon' (an evaluation image)",
    "data/starry_night.jpg": "painting",
    "fuzzy/input.png": "drawing",
    "ximgproc/stanford.png": "map screenshot",
    "data/cards.png": "synthetic",
    "data/detect_blob.png": "synthetic",
    "data/smarties.png": "synthetic render",
    "data/ml.png": "synthetic render",
    "data/opencv-logo.png": "logo",
    "data/imageTextN.png": "text image",
    "data/imageTextR.png": "text image",
    "data/pic2.png": "synthetic",
    "data/pic3.png": "synthetic",
    "data/pic4.png": "synthetic",
    "data/pic5.png": "synthetic",
    "data/pca_test1.jpg": "binary test pattern",
    "data/text_defocus.jpg": "deliberately blurred test image",
    "data/text_motion.jpg": "deliberately blurred test image",
    "data/licenseplate_motion.jpg": "deliberately blurred test image",
    "data/ela_modified.jpg": "manipulated (pasted object)",
}
EXCLUDE_DIRS_OPENCV = {"dnn_superres": "validation images"}
# Wallpapers that are digital art, not photographs (Grey and ColdRipple are grayscale).
EXCLUDE_WALLPAPERS = {
    "Altai", "Autumn", "Canopee", "Cascade", "Cluster", "Elarun", "Flow", "FlyingKonqui", "Honeywave",
    "IceCold", "Kay", "Kokkini", "MilkyWay", "Opal", "PastelHills", "Patak", "SafeLanding", "Shell",
    "Volna", "Grey", "ColdRipple",
}
MIN_SIDE = 256


def is_colour(path: Path) -> bool:
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    return float(np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean()) > 2.0


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


candidates: list[tuple[str, str, Path]] = []  # (output name, package, source)
base = root / OPENCV
for p in sorted(base.rglob("*")):
    rel = p.relative_to(base).as_posix()
    if p.suffix.lower() not in (".jpg", ".jpeg", ".png") or rel in EXCLUDE_OPENCV:
        continue
    if rel.split("/")[0] in EXCLUDE_DIRS_OPENCV:
        continue
    candidates.append(("opencv_" + rel.replace("/", "_"), "opencv-doc", p))
for wall in sorted((root / "usr/share/wallpapers").iterdir()):
    if wall.name in EXCLUDE_WALLPAPERS:
        continue
    files = {f.resolve() for f in (wall / "contents/images").iterdir()}  # sizes are often symlinks
    best = max(files, key=lambda f: (np.prod(size_of(f)), f.name))
    candidates.append((f"kde_{wall.name}{best.suffix.lower()}", "plasma-workspace-wallpapers", best))

train = out_dir / "train"
rows = []
for name, package, src in candidates:
    w, h = size_of(src)
    if min(w, h) < MIN_SIDE or not is_colour(src):
        continue
    dst = train / name
    shutil.copyfile(src, dst)
    digest = hashlib.sha256(dst.read_bytes()).hexdigest()
    rel = src.resolve().relative_to(root.resolve()).as_posix()
    rows.append(f"{name}\t{package}\t{versions[package]}\t/{rel}\t{w}x{h}\t{digest}")
(out_dir / "manifest.tsv").write_text(
    "file\tpackage\tversion\tsource\tsize\tsha256\n" + "\n".join(rows) + "\n"
)
print(f"copied {len(rows)} photos from Debian packages", file=sys.stderr)
PY

"$PYTHON" -m gensr data samples "$DIR/train" --overwrite > /dev/null
"$PYTHON" - "$DIR" <<'PY'
import hashlib, sys
from pathlib import Path

from PIL import Image

out = Path(sys.argv[1])
manifest = out / "manifest.tsv"
listed = {line.split("\t")[0] for line in manifest.read_text().splitlines()[1:]}
try:
    import skimage

    sk_version = skimage.__version__
except ImportError:
    sk_version = "-"
rows, mpx = [], 0.0
for f in sorted((out / "train").iterdir()):
    with Image.open(f) as im:
        w, h = im.size
    mpx += w * h / 1e6
    if f.name not in listed:
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        rows.append(f"{f.name}\tscikit-image (gensr data samples)\t{sk_version}\tskimage.data\t{w}x{h}\t{digest}")
with manifest.open("a") as fh:
    fh.write("".join(r + "\n" for r in rows))
n = len(list((out / "train").iterdir()))
print(f"{n} images, {mpx:.1f} megapixels in {out / 'train'} (manifest: {manifest})")
PY
