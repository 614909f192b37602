"""Ctrl-C counted even when a library swallows the KeyboardInterrupt."""

from __future__ import annotations

import os
import signal

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
