"""``gensr models``: list built-in and cached models with their architecture, scale and size."""

from __future__ import annotations

import argparse

NAME = "models"
HELP = (
    "List built-in models and those in the user model folder (gensr import puts them there): "
    "name, architecture, scale, parameters, file."
)
EXAMPLE = "Example: gensr models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true", help="also print each model's provenance")


def run(args: argparse.Namespace) -> int:
    from gensr.models import (
        DEFAULT_MODEL,
        ModelFileError,
        cache_dir,
        list_models,
        parameter_count,
        peek_model_info,
    )

    rows = []
    for name, path in list_models().items():
        try:
            info = peek_model_info(path)  # the header only: listing needs no torch
        except ModelFileError as e:
            rows.append((name, "?", "?", "?", f"{path} ({e})"))
            continue
        n = parameter_count(path)
        tag = " (default)" if name == DEFAULT_MODEL else ""
        rows.append((name + tag, info.label, f"x{info.scale}", f"{n / 1e6:.2f}M", str(path)))
        if args.verbose and info.info:
            rows.append(("", "", "", "", str(info.info)))
    header = ("name", "arch", "scale", "params", "file")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])  # noqa: T201
    print(f"user models: {cache_dir() / 'models'}")  # noqa: T201
    return 0
