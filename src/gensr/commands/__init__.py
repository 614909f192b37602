"""Subcommands of ``gensr``: an explicit list, in the order ``--help`` shows them."""

from __future__ import annotations

from types import ModuleType

COMMANDS: list[ModuleType] = []
