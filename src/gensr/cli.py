"""The ``gensr`` command line: one module per subcommand under :mod:`gensr.commands`.

Each command module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Exit codes: 0 all done; 1 some inputs failed (each named, the others done); 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from gensr import __version__
from gensr.commands import COMMANDS


def build_parser(commands: list[ModuleType] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gensr",
        description="Generative image super-resolution: upscale, evaluate, train.",
        epilog="Example: gensr upscale photo.jpg -o out/",
    )
    parser.add_argument("--version", action="version", version=f"gensr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in commands or COMMANDS:
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=mod.HELP,
            epilog=getattr(mod, "EXAMPLE", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print("gensr: interrupted", file=sys.stderr)  # noqa: T201
        return 130


if __name__ == "__main__":
    sys.exit(main())
