"""``gensr upscale``: upscale image files, folders, globs and list files with a gensr model.

The inputs and their sharding under torchrun are :mod:`gensr.commands.upscale_inputs`'s; videos are
:mod:`gensr.commands.upscale_video`'s; output names and their checks :mod:`gensr.commands.upscale_outputs`'s.
Images are upscaled band by band and each band is encoded as it comes
(:meth:`gensr.infer.Upscaler.upscale_bands`, :func:`gensr.imageio.write_bands`); animations and pages frame
by frame (:func:`gensr.imageio.read_frames`, :func:`gensr.imageio.write_frames`). Each input is probed
against the pixel and memory budgets before it is decoded, and whatever goes wrong with it is its one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gensr import interrupts
from gensr.commands import upscale_inputs, upscale_video
from gensr.commands.upscale_inputs import Job
from gensr.commands.upscale_outputs import OUT_EXTENSIONS, check_destination, destination, suffix_problem
from gensr.messages import reason, say, shown

if TYPE_CHECKING:  # torch and what needs it are imported in run(), so that `--help` starts fast
    from gensr.imageio import Image, ImageInfo
    from gensr.infer import Upscaler
    from gensr.infer.tiling import Progress

NAME = "upscale"
HELP = "Upscale images and videos (files, folders, glob patterns, list files) with a super-resolution model."
EXAMPLE = """examples:
  gensr upscale --sample -o out/
  gensr upscale photo.jpg -o out/
  gensr upscale photo.jpg -o big.png
  gensr upscale pictures/ -o upscaled/ --model my_model.safetensors --tile 256
  gensr upscale "scans/**/*.tif" -o out/ --device cuda --precision bf16
  gensr upscale photo.jpg -o out/ --engine onnxruntime   (or --model exported.onnx)
  gensr upscale clip.mp4 -o out.mp4                      (videos: audio copied, --codec/--crf/--preset)
  gensr upscale "clips/*.mkv" anim.gif -o big/ --format mp4
  torchrun --nproc_per_node=4 -m gensr upscale @list.txt -o out/   (sharded over 4 processes)

Output files are named <name>_x<scale>.<ext> (see --suffix, --format); folder inputs keep
their subfolders, and so do relative paths in a list file (@FILE: one path a line).
Folders give images only, GIFs included; name videos (MP4, MOV, MKV, WebM, GIF) or use a glob.
Animated PNG/WebP/GIF and multi-page TIFF are upscaled frame by frame into the same kind of file
(an animated GIF named directly is a video: timing kept, --format mp4 converts it).
Under torchrun each process takes every N-th input, on its own device (cuda:LOCAL_RANK or
the CPU), and outputs that exist are skipped, so a rerun resumes (see --skip-existing).
Exit code 0: all done; 1: some inputs failed (each named on stderr, the others done); 2: usage
(before any work)."""

_MULTI_FRAME = (".png", ".webp", ".gif", ".tif", ".tiff")  # output formats holding several frames
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")  # gensr.infer.PRECISION_CHOICES (tested)
ALPHA_CHOICES = ("bicubic", "net")  # gensr.infer.ALPHA_METHODS (tested)
ENGINE_CHOICES = ("auto", "torch", "onnxruntime")  # gensr.infer.engines.ENGINES (tested)
MAX_PIXELS = 100_000_000  # gensr.imageio.MAX_PIXELS (tested)
SAMPLE_PHOTO = Path(__file__).resolve().parent.parent / "samples" / "astronaut.jpg"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="image or video files, folders (recursive; images only), glob patterns,"
        " or @FILE: a list of paths, one a line",
    )
    p.add_argument(
        "--sample",
        action="store_true",
        help="also upscale the photo bundled with gensr (a 256x256 crop of scikit-image's 'astronaut')",
    )
    p.add_argument(
        "-o",
        "--output",
        default=".",
        metavar="OUT",
        help="output folder (created), or an output file name when there is one input (default: .)",
    )
    p.add_argument(
        "--model", default=None, metavar="NAME|FILE", help="built-in model name or .safetensors file"
    )
    p.add_argument(
        "--scale", type=int, default=None, metavar="N", help="expected factor; must match the model's"
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        metavar="PX",
        help="tile side in input pixels (default: automatic, sized for speed; 0: whole image)",
    )
    p.add_argument("--overlap", type=int, default=None, metavar="PX", help="tile context in input pixels")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="auto",
        help="auto (default): bf16 where the CPU/GPU computes it natively (AMX, AVX512-BF16, Ampere+), "
        "else fp32; bf16 without native support runs fp32 (said on stderr); fp16 needs CUDA",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads (default: PyTorch's, one per core)",
    )
    p.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default="auto",
        help="auto (default): onnxruntime where it was measured faster on this CPU, else torch",
    )
    p.add_argument(
        "--format",
        choices=["same", *OUT_EXTENSIONS, *upscale_video.VIDEO_FORMATS],
        default="same",
        help="output format of images, or container of videos (default: same as input)",
    )
    p.add_argument("--suffix", default="_x{scale}", help="added to output names (default: _x{scale})")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1..100 (default: 95)")
    p.add_argument(
        "--alpha", choices=ALPHA_CHOICES, default="bicubic", help="how alpha is upscaled (default: bicubic)"
    )
    p.add_argument(
        "--max-pixels",
        type=_pixels,
        default=MAX_PIXELS,
        metavar="N",
        help=f"refuse inputs larger than N pixels, all frames together (default: {MAX_PIXELS // 10**6}M)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip inputs whose output exists (resume a stopped run); the default under torchrun",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or per-file lines")
    upscale_video.add_arguments(p)


def _pixels(text: str) -> int:
    from gensr.imageio.budget import parse_pixels

    try:
        return parse_pixels(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _usage(msg: str) -> int:
    print(f"gensr upscale: error: {msg}", file=sys.stderr)  # noqa: T201
    return 2


def run(args: argparse.Namespace) -> int:
    if args.sample:
        args.inputs = [*args.inputs, str(SAMPLE_PHOTO)]
    if not args.inputs:
        return _usage("give at least one INPUT (or --sample)")
    if not 1 <= args.quality <= 100:
        return _usage("--quality must be in 1..100")
    if args.tile is not None and args.tile < 0 or args.overlap is not None and args.overlap < 0:
        return _usage("--tile and --overlap must be >= 0")
    problem = suffix_problem(args.suffix)
    if problem:
        return _usage(f"--suffix {shown(args.suffix)!r}: {problem}")
    if args.threads is not None and args.threads < 1:
        return _usage("--threads must be >= 1")
    # GNU OpenMP's idle threads spin for work; on a machine shared with other jobs the spinning takes
    # the cores the work needs (2-core Xeon at load 5-6: the 12 MP photo took 29-34 s spinning, 7-10 s
    # passive). Read when torch starts its threads, so set before importing torch; a user's value wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from gensr.imageio import FORMATS
    from gensr.infer import resolve_device
    from gensr.infer.choose import load_upscaler
    from gensr.infer.engines import EngineError

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rank, world, local_rank = upscale_inputs.torchrun_place()
    try:
        device = resolve_device(args.device, local_rank=local_rank if world > 1 else None)
    except ValueError as e:
        return _usage(str(e))
    try:  # precision, engine and tile decided as gensr serve decides them
        loaded = load_upscaler(
            args.model,
            device=device,
            precision=args.precision,
            engine=args.engine,
            tile=args.tile,
            overlap=args.overlap,
            alpha=args.alpha,
            say=None if args.quiet or rank else say,
        )
    except EngineError as e:
        return _usage(str(e))
    except Exception as e:  # noqa: BLE001 - any failure to find or load the model is a usage error
        interrupts.check()  # unless it was a Ctrl-C that a library turned into an error
        return _usage(
            reason(e) if isinstance(e, ValueError) else f"{shown(args.model or 'model')}: {reason(e)}"
        )
    up, scale, model_name = loaded.upscaler, loaded.upscaler.scale, loaded.name
    if args.scale is not None and args.scale != scale:
        return _usage(
            f"model {model_name} upscales x{scale}, not x{args.scale} (gensr never resizes after the model)"
        )

    jobs, failed, total = upscale_inputs.plan_jobs(args.inputs, rank, world, say)
    out = Path(args.output)
    file_target = (
        (out.suffix.lower() in FORMATS or upscale_video.is_video(out))
        and not out.is_dir()
        and not args.output.endswith(("/", os.sep))
    )
    if file_target and total > 1:
        return _usage(f"-o {shown(args.output)} is a file name, but there are {total} inputs; give a folder")

    skip = args.skip_existing or (world > 1 and not args.overwrite)
    counts = _run_jobs(args, up, jobs, out, file_target, skip, rank if world > 1 else None)
    counts["failed"] += failed
    if world > 1:
        counts = upscale_inputs.sum_over_processes(counts, device)
    if rank == 0 and (counts["failed"] and total > 1 or world > 1 or counts["skipped"]):
        say(
            f"gensr: {counts['written']} written, {counts['skipped']} skipped (output exists),"
            f" {counts['failed']} failed, of {total} inputs" + (f" on {world} processes" if world > 1 else "")
        )
    return 1 if counts["failed"] else 0  # the same on every process: torchrun sees one outcome


def _run_jobs(
    args: argparse.Namespace,
    up: Upscaler,
    jobs: list[Job],
    out: Path,
    file_target: bool,
    skip: bool,
    rank: int | None,
) -> dict[str, int]:
    """Upscale each job; returns the counts ``written``, ``skipped`` and ``failed``.

    Whatever goes wrong with one input (unreadable, over budget, an output that cannot be written,
    a device error) is that input's one line; the others go on.
    """
    from tqdm import tqdm

    disable = True if args.quiet or rank else None  # None: bars only on a terminal (and on process 0)
    tag = "" if rank is None else f"[{rank}] "
    counts = {"written": 0, "skipped": 0, "failed": 0}
    written: dict[Path, Path] = {}
    files = tqdm(jobs, desc="images", unit="img", file=sys.stderr, disable=disable, dynamic_ncols=True)
    for job in files:
        interrupts.check()  # a Ctrl-C swallowed during the imports or the last input stops here
        t0 = time.perf_counter()
        try:
            done = _run_job(args, up, job, out, file_target, skip, written, disable)
        except Exception as e:  # noqa: BLE001 - one input's failure, whatever it is, is that input's line
            interrupts.check()
            text = reason(e)  # an ImageReadError names the file already
            say(f"gensr: {tag}{text if text.startswith(shown(job.src)) else f'{shown(job.src)}: {text}'}")
            counts["failed"] += 1
            continue
        counts["skipped" if done is None else "written"] += 1
        if done is not None and not args.quiet:
            say(f"{tag}{shown(job.src)} -> {done}  {time.perf_counter() - t0:.1f} s")
    return counts


def _run_job(
    args: argparse.Namespace,
    up: Upscaler,
    job: Job,
    out: Path,
    file_target: bool,
    skip: bool,
    written: dict[Path, Path],
    disable: bool | None,
) -> str | None:
    """Upscale one input; returns what to report (``dst  WxH -> WxH``), or None when skipped."""
    from tqdm import tqdm

    from gensr.imageio import FORMATS, probe_image
    from gensr.imageio.budget import memory_problem

    if upscale_video.as_video(job.src, in_folder=job.in_folder, fmt=args.format):
        dst = out if file_target else out / job.subdir / upscale_video.out_name(job.src, args, up.scale)
        if skip and dst.exists():
            return None
        problem = check_destination(dst, job.src, written, args.overwrite)
        problem = problem or upscale_video.run_job(args, up, job.src, dst)
        if problem:
            raise ValueError(problem)
        written[dst.resolve()] = job.src
        return shown(dst)
    if skip and job.src.suffix.lower() in FORMATS:  # the output's name is known before reading
        if destination(job, None, args, up.scale, out, file_target).exists():
            return None
    info = probe_image(job.src, max_pixels=args.max_pixels)  # header only: format, size, frames
    dst = destination(job, info.format, args, up.scale, out, file_target)
    if skip and dst.exists():
        return None
    fmt = FORMATS.get(dst.suffix.lower(), "PNG")
    problem = check_destination(dst, job.src, written, args.overwrite)
    problem = problem or memory_problem(info.width, info.height, up.scale, info.frames, fmt)
    if problem:
        raise ValueError(problem)
    bar = tqdm(total=info.width * info.height, desc=shown(job.src.name)[:24], unit="px", unit_scale=True,
               leave=False, file=sys.stderr, disable=disable, dynamic_ncols=True)  # fmt: skip

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        if info.frames == 1:
            size = _upscale_image(args, up, job.src, dst, progress)
        else:
            size = _upscale_frames(args, up, job.src, dst, info, progress, bar.reset)
    finally:
        bar.close()
    written[dst.resolve()] = job.src
    return f"{shown(dst)}  {size}"


def _upscale_image(args: argparse.Namespace, up: Upscaler, src: Path, dst: Path, progress: Progress) -> str:
    """Bands of rows, each encoded as it comes: the whole output is never held."""
    from gensr.imageio import read_image, write_bands

    img = read_image(src, max_pixels=args.max_pixels)
    _warn(src, img.notes)
    bands = up.upscale_bands(img, progress)
    write_bands(dst, bands, height=img.height * up.scale, overwrite=args.overwrite, quality=args.quality)
    return f"{img.width}x{img.height} -> {img.width * up.scale}x{img.height * up.scale}"


def _upscale_frames(
    args: argparse.Namespace,
    up: Upscaler,
    src: Path,
    dst: Path,
    info: ImageInfo,
    progress: Progress,
    next_frame: Callable[[], object],
) -> str:
    """An animation or multi-page file, frame by frame, into the same kind of file."""
    from gensr.imageio import read_frames, write_frames

    if dst.suffix.lower() not in _MULTI_FRAME:
        raise ValueError(f"has {info.frames} frames; {dst.suffix} holds one (use --format png, webp or tif)")
    _, frames = read_frames(src, max_pixels=args.max_pixels)
    notes: dict[str, None] = {}

    def upscaled() -> Iterator[Image]:
        for frame in frames:
            notes.update(dict.fromkeys(frame.notes))
            next_frame()
            yield up.upscale(frame, progress)

    n = write_frames(dst, upscaled(), durations=info.durations, loop=info.loop,
                     overwrite=args.overwrite, quality=args.quality)  # fmt: skip
    _warn(src, tuple(notes))
    return f"{info.width}x{info.height} -> {info.width * up.scale}x{info.height * up.scale}, {n} frames"


def _warn(src: Path, notes: tuple[str, ...]) -> None:
    for note in notes:
        say(f"gensr: {shown(src)}: warning: {note}")
