"""``gensr import``: third-party weights (.pth/.pt/.ckpt state dicts and plain .safetensors of gensr's own
layouts or of any architecture spandrel's core detects; ncnn .param + .bin) -> a gensr model file."""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

from gensr import interrupts
from gensr.messages import reason, shown

NAME = "import"
HELP = (
    "Convert third-party weights (.pth/.pt/.ckpt/.safetensors of ESRGAN, SPAN, SwinIR, ... through spandrel; "
    "ncnn .param+.bin) into gensr .safetensors model files (default: the user model folder)."
)
EXAMPLE = (
    "Examples:\n"
    "  gensr import RealESRGAN_x4plus.pth -o realesrgan-x4.safetensors\n"
    "  gensr import x4.param x4.bin -o x4.safetensors\n"
    "  gensr import a.pth b.pth -o models/      (several models: -o is a folder)\n"
    "  gensr import 4x-SPAN.safetensors          (no -o: into the user model folder; see gensr models)"
)

PTH_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
"""Suffixes of weight files read as state dicts (:mod:`gensr.models.thirdparty`)."""


@dataclass(frozen=True)
class Job:
    """One model to convert: a ``.pth`` file, or an ncnn ``.param`` with its ``.bin``."""

    kind: str  # "pth" (any state dict file) | "ncnn"
    path: Path  # the weights file or the .param
    bin: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.path} + {self.bin.name}" if self.bin else str(self.path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="FILE",
        help=".pth/.pt/.ckpt/.safetensors file(s), or ncnn .param (+ .bin)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="OUT",
        help="output .safetensors file; a folder when several models are given "
        "(default: the user model folder)",
    )
    parser.add_argument(
        "--dtype", choices=("fp32", "fp16"), default="fp32", help="storage precision of the weights"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def plan_jobs(inputs: list[str]) -> tuple[list[Job], list[str]]:
    """Group input paths into conversion jobs; an ncnn ``.param`` pairs with the ``.bin`` of its stem.

    Returns:
        ``(jobs, errors)``: errors are one-line messages naming the file.
    """
    jobs: list[Job] = []
    errors: list[str] = []
    paths = [Path(p) for p in inputs]
    bins = {p.with_suffix(""): p for p in paths if p.suffix.lower() == ".bin"}
    params = {p.with_suffix("") for p in paths if p.suffix.lower() == ".param"}
    for p in paths:
        suffix = p.suffix.lower()
        if suffix in PTH_SUFFIXES:
            jobs.append(Job("pth", p))
        elif suffix == ".param":
            b = bins.get(p.with_suffix(""), p.with_suffix(".bin"))
            if not b.is_file():
                errors.append(f"{p}: no matching ncnn weights file {b.name}")
            else:
                jobs.append(Job("ncnn", p, b))
        elif suffix == ".bin":
            if p.with_suffix("") in params:
                continue  # taken with its .param
            param = p.with_suffix(".param")
            if param.is_file():
                jobs.append(Job("ncnn", param, p))
            else:
                errors.append(f"{p}: ncnn weights without a {param.name} next to them")
        else:
            errors.append(
                f"{p}: unknown model file type (expected .pth, .pt, .ckpt, .safetensors or ncnn .param/.bin)"
            )
    return jobs, errors


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(job: Job) -> nn.Module:
    """Build the network for one job (lazy imports: ncnn and spandrel support are optional)."""
    if job.kind == "pth":
        from gensr.models.thirdparty import load_third_party

        return load_third_party(job.path)[0]
    from gensr.models.ncnn import import_ncnn

    assert job.bin is not None
    return import_ncnn(job.path, job.bin)


def run(args: argparse.Namespace) -> int:
    from gensr.models import cache_dir, save_model

    jobs, errors = plan_jobs(args.inputs)
    for e in errors:
        print(f"gensr import: {shown(e)}", file=sys.stderr)  # noqa: T201
    if not jobs:
        return 1 if errors else 2
    if args.output is None:
        args.output = str(cache_dir() / "models") + "/"
    out = Path(args.output)
    as_dir = len(jobs) > 1 or out.is_dir() or args.output.endswith(("/", "\\"))
    if not as_dir and out.suffix.lower() != ".safetensors":
        print(f"gensr import: {shown(out)}: the output must be a .safetensors file", file=sys.stderr)  # noqa: T201
        return 2
    import torch

    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    failed = len(errors)
    for job in jobs:
        dest = out / f"{job.path.stem}.safetensors" if as_dir else out
        if dest.exists() and not args.overwrite:
            print(f"gensr import: {shown(dest)}: exists (use --overwrite to replace it)", file=sys.stderr)  # noqa: T201
            failed += 1
            continue
        try:
            net = convert(job)
            info = {
                "source": job.path.name,
                "source_format": job.kind,
                "source_sha256": _sha256(job.path),
            }
            if job.bin is not None:
                info["source_bin"] = job.bin.name
            save_model(dest, net, info=info, dtype=dtype)
        except Exception as e:  # noqa: BLE001 - one model's failure, whatever it is, is that model's line
            interrupts.check()
            text = reason(e)
            msg = text if text.startswith(shown(job.path)) else f"{shown(job.label)}: {text}"
            print(f"gensr import: {msg}", file=sys.stderr)  # noqa: T201
            failed += 1
            continue
        n = sum(p.numel() for p in net.parameters())
        scale = net.hparams["scale"]  # type: ignore[index]
        print(f"{shown(dest)}: {_arch_label(net)} x{scale}, {n / 1e6:.3f}M params (from {shown(job.label)})")  # noqa: T201
    return 1 if failed else 0


def _arch_label(net: nn.Module) -> str:
    """``rrdbnet``, ``compact``, ... for gensr's own networks; ``SPAN (spandrel)`` for others."""
    from gensr.archs import arch_name

    third = getattr(net, "architecture", None)
    return f"{third} (spandrel)" if isinstance(third, str) else arch_name(net)
