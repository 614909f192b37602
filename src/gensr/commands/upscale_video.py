"""The video part of ``gensr upscale``: its options, which inputs are videos, output names, one video job.

Argparse and printing only; the work is :func:`gensr.infer.video.upscale_video`. Nothing heavy (PyAV,
torch) is imported until a video is upscaled.

Folders give images only: a video costs as much as thousands of photos, so it is upscaled only when
named, directly or by a glob pattern (``"clips/*.mp4"``, ``"DIR/**/*.mkv"``). A folder holding videos
says how many it left out. GIFs are both (:func:`as_video`): in a folder, and wherever they have one
frame, they are images (animated ones upscaled frame by frame into a GIF, as animated PNG and WebP are);
an animated GIF named directly or by a glob is a video, as it always was.
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gensr.infer import Upscaler

VIDEO_FORMATS = {"mp4": ".mp4", "mkv": ".mkv", "webm": ".webm", "mov": ".mov", "gif": ".gif"}
"""``--format`` choices for videos -> extension."""
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".gif")
"""Extensions read as videos (the keys of :data:`gensr.imageio.video.CONTAINERS`, without importing it)."""
CODEC_CHOICES = ("h264", "h265", "vp9", "av1", "gif")


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("video")
    g.add_argument(
        "--codec",
        choices=CODEC_CHOICES,
        default=None,
        help="video codec (default: h264 for .mp4/.mov/.mkv, vp9 for .webm, gif for .gif)",
    )
    g.add_argument(
        "--crf",
        type=int,
        default=None,
        metavar="N",
        help="constant quality, lower is better (default: h264 18, h265 20, vp9 24, av1 28)",
    )
    g.add_argument(
        "--preset",
        default=None,
        help="encoder speed: h264/h265 ultrafast..veryslow (default medium), vp9 0..8 (4), av1 0..13 (8)",
    )


IMAGE_TOO = (".gif",)
"""Video extensions that are images as well: found in a folder, or of one frame (see :func:`as_video`)."""


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def as_video(src: Path, *, in_folder: bool, fmt: str) -> bool:
    """Whether an input is upscaled as a video (PyAV, timestamps, audio) rather than as an image.

    Videos are; images are not; a GIF is an image when it was found in a folder or has one frame, and
    a video when named (directly or by a glob) with several frames or converted to another video
    container (``--format mp4``). A GIF whose header cannot be read goes the video way, as before.

    Args:
        src: the input file.
        in_folder: it was found in a folder INPUT.
        fmt: ``--format``.
    """
    if not is_video(src):
        return False
    if src.suffix.lower() not in IMAGE_TOO:
        return True
    if in_folder:
        return False
    if fmt in VIDEO_FORMATS and VIDEO_FORMATS[fmt] not in IMAGE_TOO:
        return True
    from gensr.imageio import ImageReadError, probe_image

    try:
        return probe_image(src, max_pixels=None).frames > 1
    except ImageReadError:
        return True


def list_inputs(inp: str, say: Callable[[str], None]) -> list[Path]:
    """Files of one INPUT: :func:`~gensr.imageio.list_images`, plus the videos a glob pattern matches.

    Raises:
        FileNotFoundError: as ``list_images`` (a glob matching neither images nor videos).
    """
    from gensr.imageio import list_images

    p = Path(inp)
    if p.is_dir():
        videos = sum(
            1
            for f in p.rglob("*")
            if is_video(f)
            and f.suffix.lower() not in IMAGE_TOO
            and not any(part.startswith(".") for part in f.relative_to(p).parts)
        )
        if videos:
            say(
                f"gensr: {inp}: {videos} video file{'s' * (videos > 1)} left out (folders give images only;"
                f" name videos, or use a glob such as '{p / '**' / '*.mp4'}')"
            )
        return list_images([inp])
    if p.exists() or not glob.has_magic(inp):
        return list_images([inp])
    videos = [Path(m) for m in glob.glob(inp, recursive=True) if is_video(Path(m)) and Path(m).is_file()]
    try:
        images = list_images([inp])
    except FileNotFoundError:
        if not videos:
            raise
        images = []
    return sorted({*images, *videos})


def out_name(src: Path, args: argparse.Namespace, scale: int) -> str:
    """``<name><suffix>.<ext>``: the container of ``--format`` when it is a video one, else the input's."""
    ext = VIDEO_FORMATS.get(args.format, src.suffix.lower())
    return f"{src.stem}{args.suffix.format(scale=scale)}{ext}"


def run_job(args: argparse.Namespace, up: Upscaler, src: Path, dst: Path) -> str | None:
    """Upscale one video into ``dst``; None when done, else the reason it failed (one line)."""
    from tqdm import tqdm

    from gensr.imageio.video import VideoError
    from gensr.imageio.video_write import EncodeOptions
    from gensr.infer.video import upscale_video
    from gensr.messages import say as say_line

    if not is_video(dst):
        return f"-o {dst}: a video needs a video file name ({', '.join(VIDEO_SUFFIXES)})"
    bar = tqdm(
        total=None,
        desc=src.name[:24],
        unit="frame",
        leave=False,
        file=sys.stderr,
        disable=True if args.quiet else None,
        dynamic_ncols=True,
    )

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    def say(msg: str) -> None:
        if not args.quiet:
            say_line(f"gensr: {src}: {msg}")

    options = EncodeOptions(codec=args.codec, crf=args.crf, preset=args.preset)
    try:
        r = upscale_video(up, src, dst, options=options, overwrite=args.overwrite, progress=progress, say=say)
    except VideoError as e:
        return e.reason
    except (OSError, FloatingPointError, RuntimeError, ValueError) as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    finally:
        bar.close()
    if not args.quiet:
        tqdm.write(
            f"{src} -> {dst}  {r.width}x{r.height} -> {r.out_width}x{r.out_height}, {r.frames} frames"
            f"  {r.seconds:.1f} s ({r.frames / max(r.seconds, 1e-9):.2f} frames/s)",
            file=sys.stderr,
        )
    return None
