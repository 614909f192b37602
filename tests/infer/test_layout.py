"""Window layout: one size per image, evenly spread, every core with its context."""

from __future__ import annotations

import itertools

import pytest

from gensr.infer import layout


def test_spans_cover_the_axis_with_context() -> None:
    for length, win, ov, m in [(1000, 280, 18, 1), (37, 16, 3, 1), (752, 320, 20, 4), (5000, 128, 6, 2)]:
        row = layout.spans(0, length, length, win, ov, m)
        assert row[0][0] == 0 and row[-1][1] == length
        assert all(b0 == a1 for (_, a1, _), (b0, _, _) in itertools.pairwise(row))  # cores tile the axis
        for c0, c1, s in row:
            assert s % m == 0 and 0 <= s and s + min(win, length) <= length
            assert c0 - s >= ov or s == 0
            assert s + min(win, length) - c1 >= ov or s + min(win, length) == length


def test_spans_refuse_an_axis_off_the_size_multiple() -> None:
    with pytest.raises(ValueError, match="multiples of 4"):
        layout.spans(0, 750, 750, 320, 20, 4)  # 750 px is not padded to the network's multiple


def test_fit_window_keeps_the_count_with_fewer_pixels() -> None:
    for h, w, p, ov in [(750, 1000, 320, 18), (2000, 3000, 256, 18), (520, 520, 288, 18), (97, 4000, 128, 5)]:
        s = layout.fit_window(h, w, p, overlap=ov, m=1, align=8)
        assert s <= p and s % 8 == 0 or s == p
        for n in (h, w):
            assert len(layout.spans(0, n, n, s, ov, 1)) == len(layout.spans(0, n, n, p, ov, 1))
    assert layout.fit_window(750, 1000, 320, overlap=18, m=1, align=8) == 280  # 4 x 3 windows either way
    assert layout.fit_window(752, 1000, 320, overlap=20, m=4, align=8) % 4 == 0
