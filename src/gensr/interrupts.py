"""Ctrl-C that a library half-catches, still honoured.

Python turns SIGINT into ``KeyboardInterrupt``, but code that gensr calls does not always let it
through: torch's import turns an interrupted import into an ``ImportError`` ("cannot load module
more than once"), and an interrupt can land inside a broad ``except`` of a library. So the command
line counts SIGINTs (:func:`counted`), and gensr's own broad handlers, the per-input loops and the
engine measurement, call :func:`check` to stop as the user asked instead of going on.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SEEN = [0]


@contextmanager
def counted() -> Iterator[None]:
    """Count SIGINTs while the block runs (main thread, Python's default handler only; the count
    starts at zero); each still raises KeyboardInterrupt as usual."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield  # someone else (a test harness, an embedding program) handles Ctrl-C
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        _SEEN[0] += 1
        raise KeyboardInterrupt

    _SEEN[0] = 0
    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pending() -> bool:
    """Whether a SIGINT arrived while :func:`counted` was active."""
    return _SEEN[0] > 0


def handled() -> None:
    """Forget the Ctrl-Cs so far: the command took them as its normal way to stop (``gensr serve``)."""
    _SEEN[0] = 0


def check() -> None:
    """Raise ``KeyboardInterrupt`` if the user pressed Ctrl-C, even if a library swallowed it."""
    if pending():
        raise KeyboardInterrupt
