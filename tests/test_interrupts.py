"""Ctrl-C counted even when a library swallows the KeyboardInterrupt."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from gensr import interrupts


def _swallowing_library() -> None:
    try:
        os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, delivered while "library code" runs
        signal.getsignal(signal.SIGINT)  # a bytecode boundary: Python runs the handler here
    except BaseException:  # noqa: BLE001 - what a careless library does
        pass


def test_a_swallowed_ctrl_c_is_still_seen() -> None:
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("the test runner handles SIGINT itself")
    with interrupts.counted():
        interrupts.check()  # nothing pressed yet
        _swallowing_library()
        assert interrupts.pending()
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
        interrupts.handled()  # `gensr serve`: Ctrl-C is how it stops
        assert not interrupts.pending()
        interrupts.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_count_starts_at_zero_each_time() -> None:
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("the test runner handles SIGINT itself")
    with interrupts.counted():
        _swallowing_library()
    with interrupts.counted():
        assert not interrupts.pending()


def test_ctrl_c_in_an_import_waits_for_the_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Raising inside an import can abort the process (a pybind11 callback in torch's import): the
    interrupt is held until the import is done, then delivered where the program goes on."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("the test runner handles SIGINT itself")
    (tmp_path / "gensr_slow_import.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "for _ in range(20):\n"
        "    time.sleep(0.01)\n"
        "DONE = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gensr_slow_import", raising=False)
    after = []
    with pytest.raises(KeyboardInterrupt), interrupts.counted():
        import gensr_slow_import  # noqa: F401

        after.append(time.monotonic())
        time.sleep(5)  # the interrupt arrives here, well before the sleep ends
    assert sys.modules["gensr_slow_import"].DONE and after
    assert time.monotonic() - after[0] < 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_held_back_ctrl_c_raised_by_check_is_not_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held-back Ctrl-C can reach a :func:`interrupts.check` before the watcher sends it again;
    then it must not arrive a second time (it would land in the code that reports the first)."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("the test runner handles SIGINT itself")
    code = "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n"
    (tmp_path / "gensr_quick_import.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gensr_quick_import", raising=False)
    monkeypatch.setattr(interrupts, "_RECHECK_S", 0.3)  # the watcher looks late: check() comes first
    with interrupts.counted():
        import gensr_quick_import  # noqa: F401

        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
        time.sleep(1.0)  # a second KeyboardInterrupt would be raised here
    assert interrupts.pending()
