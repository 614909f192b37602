"""Subcommands of ``gensr``: an explicit list, in the order ``--help`` shows them."""

from __future__ import annotations

from types import ModuleType

from gensr.commands import data, eval, export, import_, models, plot, release, serve, train, upscale

COMMANDS: list[ModuleType] = [
    upscale,
    models,
    import_,
    export,
    eval,
    data,
    train,
    release,
    plot,
    serve,
]
