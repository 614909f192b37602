"""The ``gensr`` command line: one module per subcommand under :mod:`gensr.commands`.

Each command module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Exit codes: 0 all done; 1 some inputs failed (each named, the others done); 2 usage error;
130 interrupted. No traceback reaches the user: an unexpected error is one line
``gensr <command>: error: <reason>`` (exit 1) unless ``gensr --debug`` is given. This module imports
only the standard library at first, so that Ctrl-C while torch is still importing is a plain exit 130.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from gensr import __version__, interrupts


def build_parser(commands: list[ModuleType] | None = None) -> argparse.ArgumentParser:
    if commands is None:
        from gensr.commands import COMMANDS

        commands = COMMANDS
    parser = argparse.ArgumentParser(
        prog="gensr",
        description="Generative image super-resolution: upscale, evaluate, train.",
        epilog="Example: gensr upscale photo.jpg -o out/",
    )
    parser.add_argument("--version", action="version", version=f"gensr {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in commands:
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


def _wants_debug(argv: list[str]) -> bool:
    """``--debug`` among the options before the command name."""
    for arg in argv:
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            return False
    return False


def _say(msg: str) -> None:
    from gensr.messages import say

    say(msg)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = _wants_debug(argv)
    with interrupts.counted():
        return _main(argv, debug)


def _main(argv: list[str], debug: bool) -> int:
    where = "gensr"
    try:
        args = build_parser().parse_args(argv)  # imports the commands (and torch)
        where = f"gensr {args.command}"
        code = int(args._run(args))
        interrupts.check()  # a Ctrl-C some library swallowed: the user still asked to stop
        return code
    except KeyboardInterrupt:
        _say(f"{where}: interrupted")
        return 130
    except Exception as e:
        if interrupts.pending() and not debug:
            # a Ctrl-C that some library caught half-way (torch's import turns a second import of itself
            # into an ImportError): what the user did was interrupt, so say that
            _say(f"{where}: interrupted")
            return 130
        if debug:
            raise
        from gensr.messages import reason, shown

        about = f"{shown(e.filename)}: " if isinstance(e, OSError) and e.filename else ""
        _say(f"{where}: error: {about}{reason(e)} ({type(e).__name__}; gensr --debug shows where)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
