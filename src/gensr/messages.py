"""One-line messages about files: names shown safely, exceptions reduced to a reason.

Every line gensr prints about an input has the form ``gensr: <file>: <reason>``. A file name may
hold anything but ``/`` and NUL: newlines would split the line, terminal escape sequences would
recolour it, and undecodable bytes (surrogate escapes) would make ``print`` itself fail. So names
are shown with control and undecodable characters escaped as ``repr`` does, everything else as is.
"""

from __future__ import annotations

import errno
import os
import sys
from contextlib import nullcontext
from pathlib import Path

__all__ = ["reason", "say", "shown"]


def say(msg: str) -> None:
    """Write ``msg`` and a newline to stderr in one write, around any tqdm progress bars.

    One write keeps lines whole: stderr is unbuffered, so ``print`` or ``tqdm.write`` send the text
    and the newline apart, and under torchrun another process's line landed between them
    (2 processes x 5000 lines: 8466 intact with ``tqdm.write``, all with one write). Bars are
    cleared and redrawn only where tqdm is loaded (no bar exists otherwise).
    """
    tqdm = sys.modules.get("tqdm")
    around = tqdm.tqdm.external_write_mode(file=sys.stderr) if tqdm is not None else nullcontext()
    with around:
        sys.stderr.write(msg + "\n")


def shown(name: str | Path | bytes) -> str:
    """``name`` printable on one line: control characters and undecodable bytes escaped.

    >>> shown("photo 1.png")
    'photo 1.png'
    >>> shown("a\\nb.png")
    'a\\\\nb.png'
    >>> shown(b"bad\\xff.png")
    'bad\\\\udcff.png'
    """
    text = os.fsdecode(name) if isinstance(name, bytes) else str(name)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def reason(exc: BaseException, limit: int = 300) -> str:
    """The first line of what an exception says, for ``gensr: <file>: <reason>``.

    ``OSError`` gives its ``strerror`` (without the errno and the file name, which the caller names),
    ``MemoryError`` says so in words, anything else its message or its type's name, cut at ``limit``.
    """
    if isinstance(exc, OSError) and exc.strerror:
        if exc.errno == errno.ENOSPC:
            return "no space left on device"
        if exc.errno == errno.ENAMETOOLONG:
            return "file name too long for the file system"
        return exc.strerror[0].lower() + exc.strerror[1:]
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = str(exc).strip()
    first = shown(text.splitlines()[0] if text else type(exc).__name__)
    return first if len(first) <= limit else first[: limit - 3] + "..."
