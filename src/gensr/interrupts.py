"""Ctrl-C that a library half-catches, still honoured.

Python turns SIGINT into ``KeyboardInterrupt``, but code that gensr calls does not always let it
through: torch's import turns an interrupted import into an ``ImportError`` ("cannot load module
more than once"), and an interrupt can land inside a broad ``except`` of a library. So the command
line counts SIGINTs (:func:`counted`), and gensr's own broad handlers, the per-input loops and the
engine measurement, call :func:`check` to stop as the user asked instead of going on.

A Ctrl-C during an import waits for the import to finish: an import runs C++ extension code that calls
back into Python (torch's ``_c10d_init`` through pybind11), and a KeyboardInterrupt raised in such a
callback aborts the process (``terminate called after throwing an instance of
'pybind11::error_already_set'``, SIGABRT, seen once in 4 tries of Ctrl-C 0.3 s into ``gensr upscale``).
So the handler, when it finds an import on the stack, only counts; a watcher thread sends the SIGINT
again once the main thread has left every import (torch's takes about a second).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_SEEN = [0]
_ACTIVE = threading.Event()  # set while counted() has its handler installed
_OWED = threading.Event()  # a Ctrl-C held back during an import, not raised yet
_RESENT = threading.Event()  # the SIGINT on its way is the watcher's, not the user's
_WATCHING = threading.Event()  # a watcher thread is waiting for the imports to end
_RECHECK_S = 0.02


def _importing(frame: FrameType | None) -> bool:
    """Whether an import is under way on this stack (importlib's frames are on it)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _resend_after_imports(main: int) -> None:
    """Watcher thread: SIGINT to the main thread once no import is on its stack, unless the held-back
    Ctrl-C was raised meanwhile (:func:`check`)."""
    try:
        while True:
            time.sleep(_RECHECK_S)
            if not (_ACTIVE.is_set() and _OWED.is_set()):
                return  # counted() ended, or check() raised it
            if not _importing(sys._current_frames().get(main)):
                _RESENT.set()
                signal.pthread_kill(main, signal.SIGINT)
                return
    finally:
        _WATCHING.clear()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if _RESENT.is_set():  # the watcher's SIGINT
        _RESENT.clear()
        if not _OWED.is_set():
            return  # check() raised the held-back Ctrl-C meanwhile: raising again would hit its handler
    else:
        _SEEN[0] += 1
    if _importing(frame):  # raising here can abort the process: ask again after the import
        _OWED.set()
        if not _WATCHING.is_set():
            _WATCHING.set()
            main = threading.main_thread().ident
            assert main is not None
            threading.Thread(target=_resend_after_imports, args=(main,), daemon=True).start()
        return
    _OWED.clear()
    raise KeyboardInterrupt


@contextmanager
def counted() -> Iterator[None]:
    """Count SIGINTs while the block runs (main thread, Python's default handler only; the count
    starts at zero); each still raises KeyboardInterrupt as usual, after the import under way if any."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield  # someone else (a test harness, an embedding program) handles Ctrl-C
        return
    _SEEN[0] = 0
    for flag in (_OWED, _RESENT):
        flag.clear()
    signal.signal(signal.SIGINT, _on_sigint)
    _ACTIVE.set()
    try:
        yield
    finally:
        _ACTIVE.clear()
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
        _OWED.clear()  # raised here: the watcher must not send it again
        raise KeyboardInterrupt
