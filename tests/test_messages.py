"""One-line messages: names escaped so that no file name can split, recolour or break a line."""

from __future__ import annotations

import errno

import pytest

from gensr.messages import reason, shown


def test_plain_names_are_shown_as_they_are() -> None:
    assert shown("photos/été 2024 (1).jpg") == "photos/été 2024 (1).jpg"


def test_control_characters_and_undecodable_bytes_are_escaped() -> None:
    assert shown("a\nb.png") == "a\\nb.png"
    assert shown("red\x1b[31m.png") == "red\\x1b[31m.png"
    assert shown("tab\there") == "tab\\there"
    assert shown(b"bad\xff.png") == "bad\\udcff.png"
    assert "\n" not in shown("x\r\n\x00y") and shown("x\r\n\x00y").isprintable()


def test_reason_is_one_short_line() -> None:
    assert reason(ValueError("first\nsecond")) == "first"
    assert reason(OSError(errno.ENOSPC, "No space left on device", "/x")) == "no space left on device"
    assert (
        reason(OSError(errno.ENAMETOOLONG, "File name too long")) == "file name too long for the file system"
    )
    assert reason(MemoryError()) == "out of memory"
    assert reason(KeyError()) == "KeyError"
    assert len(reason(ValueError("x" * 5000))) == 300
    assert reason(ValueError("name a\x1bb")) == "name a\\x1bb"


def test_say_writes_each_line_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Line and newline in one write: under torchrun, another process's line cannot land between them."""
    import io
    import sys

    from gensr.messages import say

    class Recorder(io.StringIO):
        writes: list[str] = []

        def write(self, s: str) -> int:
            self.writes.append(s)
            return len(s)

    err = Recorder()
    monkeypatch.setattr(sys, "stderr", err)
    say("gensr: a.png -> out/a_x4.png")
    say("second")
    assert err.writes == ["gensr: a.png -> out/a_x4.png\n", "second\n"]
