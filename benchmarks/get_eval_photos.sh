#!/usr/bin/env bash
# Fetch the held-out evaluation photos of benchmarks/quality.py from Debian packages, reproducibly.
#
# Usage:   benchmarks/get_eval_photos.sh [DIR]     (default: ~/.cache/gensr/benchmarks/photos,
#                                                   or $GENSR_BENCH_CACHE/photos)
# Needs:   apt-get and dpkg-deb (Debian/Ubuntu, package lists present: run `apt-get update` once),
#          sha256sum. Nothing is installed: `apt-get download` + `dpkg-deb --fsys-tarfile | tar -x`.
#
# Two sets, all real photographs, none of them used for training (gensr's training photos come
# from opencv-doc, plasma-workspace-wallpapers and scikit-image, with butterfly and baboon
# excluded; see scripts/gather_training_photos.sh):
#   classic/  Set5 'butterfly' (PNG) and Set14 'baboon' (a 512x512 JPEG copy), from opencv-doc.
#   photos/   six MATE nature wallpapers (photographs, GPL-2+, mate-backgrounds) and the Grace
#             Hopper portrait from matplotlib's sample data (python-matplotlib-data).
# The files are copied byte for byte and checked against the SHA-256 sums below (made with
# Debian 12 bookworm: opencv-doc 4.6.0+dfsg-12, mate-backgrounds 1.26.0-1,
# python-matplotlib-data 3.6.3-1), so another package version that changed an image fails loudly.
# quality.py then derives the HR crops from these files (see its docstring).
set -euo pipefail

DIR=${1:-${GENSR_BENCH_CACHE:-$HOME/.cache/gensr/benchmarks}/photos}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# package | path inside the package | destination (relative to DIR) | sha256
FILES="
opencv-doc|usr/share/doc/opencv-doc/examples/dnn_superres/butterfly.png|classic/butterfly.png|1c50e61afddd60ebb3829d85187f4e46c9eb8fd8249237ddf0c8904a3286598d
opencv-doc|usr/share/doc/opencv-doc/examples/data/baboon.jpg|classic/baboon.jpg|1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f
mate-backgrounds|usr/share/backgrounds/mate/nature/Dune.jpg|photos/dune.jpg|8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91
mate-backgrounds|usr/share/backgrounds/mate/nature/Garden.jpg|photos/garden.jpg|d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78
mate-backgrounds|usr/share/backgrounds/mate/nature/GreenMeadow.jpg|photos/greenmeadow.jpg|8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832
mate-backgrounds|usr/share/backgrounds/mate/nature/RainDrops.jpg|photos/raindrops.jpg|3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16
mate-backgrounds|usr/share/backgrounds/mate/nature/TwoWings.jpg|photos/twowings.jpg|665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb
mate-backgrounds|usr/share/backgrounds/mate/nature/Wood.jpg|photos/wood.jpg|19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07
python-matplotlib-data|usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg|photos/grace_hopper.jpg|a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130
"

packages=$(echo "$FILES" | awk -F'|' 'NF {print $1}' | sort -u)
# shellcheck disable=SC2086
(cd "$work" && apt-get download $packages)
mkdir -p "$DIR"
: > "$work/sums"
for pkg in $packages; do
    deb=$(ls "$work/${pkg}"_*.deb)
    echo "unpacking $pkg $(dpkg-deb -f "$deb" Version)" >&2
    members=$(echo "$FILES" | awk -F'|' -v p="$pkg" '$1 == p {print "./" $2}')
    # shellcheck disable=SC2086
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" $members
    echo "$pkg $(dpkg-deb -f "$deb" Version)" >> "$work/versions"
done
echo "$FILES" | while IFS='|' read -r pkg src dst sum; do
    [ -n "$pkg" ] || continue
    mkdir -p "$(dirname "$DIR/$dst")"
    cp "$work/$src" "$DIR/$dst"
    echo "$sum  $DIR/$dst" >> "$work/sums"
done
sha256sum --quiet -c "$work/sums"
{
    echo "# fetched by benchmarks/get_eval_photos.sh; packages:"
    sed 's/^/#   /' "$work/versions"
    echo "$FILES" | awk -F'|' 'NF {print $3 "\t" $1 "\t/" $2 "\t" $4}'
} > "$DIR/manifest.tsv"
echo "$(echo "$FILES" | grep -c '|') photos in $DIR (checksums verified)"
