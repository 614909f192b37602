"""Names and ``--suffix``: any text is shown on one line; any suffix is accepted safely or refused."""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from gensr.commands.upscale_outputs import suffix_problem
from gensr.messages import reason, shown
from tests.fuzz.conftest import examples


@examples(300)
@given(st.one_of(st.text(), st.binary().map(os.fsdecode)))
def test_shown_is_one_printable_line(count: Counter[str], name: str) -> None:
    count["shown: any name (text, undecodable bytes)"] += 1
    out = shown(name)
    assert out.isprintable() and "\n" not in out
    out.encode("utf-8")  # printable on any UTF-8 terminal: surrogates were escaped
    assert reason(ValueError(name)).isprintable()


suffix_parts = st.sampled_from(
    ["{scale}", "{scale:02d}", "{scale:>300}", "{scale:>99999999999}", "{", "}", "{0}", "{scale.real}",
     "{scale!r}", "{scale[0]}", "/", "..", "\\", "_x"]
)  # fmt: skip


@examples(300)
@given(st.lists(st.one_of(suffix_parts, st.text(max_size=8)), max_size=6).map("".join))
def test_suffix_is_safe_or_refused(count: Counter[str], suffix: str) -> None:
    count["--suffix: any text"] += 1
    problem = suffix_problem(suffix)
    if problem is None:
        text = suffix.format(scale=4)
        assert len(text) <= 64 and "/" not in text and "\0" not in text and text.isprintable()
    else:
        assert isinstance(problem, str) and "\n" not in problem
