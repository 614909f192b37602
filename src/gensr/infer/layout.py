"""Where the tiles of an image go: windows of one size, spread evenly, cores meeting mid-overlap.

Pure arithmetic on low-resolution pixel coordinates (no torch): :mod:`gensr.infer.tiling` runs
the windows these functions lay out. Every window of an image has one size, starts on the
network's size multiple ``m`` and reaches at least ``overlap`` pixels of real context beyond
its core on every side that has a neighbour.
"""

from __future__ import annotations

import itertools

Box = tuple[int, int, int, int]
"""``(y0, y1, x0, x1)`` in low-resolution pixels."""

Tile = tuple[Box, Box]
"""A tile core and its window ``(wy0, wy1, wx0, wx1)``, both in low-resolution pixels."""


def bands(
    hp: int, win: int, overlap: int, m: int, rows: int | None
) -> list[tuple[tuple[int, int, int], int]]:
    """The bands of an image ``hp`` rows tall: ``((core0, core1, window0), window_rows)`` each.

    A band is a row of windows (:func:`spans`), or, where that would exceed ``rows`` input rows,
    ``rows`` tall cores with windows ``rows + 2 overlap`` tall, all of one size.
    """
    row = spans(0, hp, hp, win, overlap, m)
    if rows is None or all(b - a <= rows for a, b, _ in row):
        return [(s, min(win, hp)) for s in row]
    span = min(hp, rows + 2 * overlap)
    return [
        ((a, b, min(max(a - overlap, 0), hp - span) // m * m), span)
        for a, b in itertools.pairwise(cuts(0, hp, rows, m))
    ]


def spans(a: int, b: int, length: int, win: int, overlap: int, m: int) -> list[tuple[int, int, int]]:
    """Cover ``[a, b)`` of an axis of ``length`` with windows of one size; ``(core0, core1, window0)`` each.

    Windows are ``win`` long (``length`` when shorter), start on multiples of ``m``, reach
    ``overlap`` beyond ``[a, b)`` where the axis allows, and are spread evenly; neighbouring cores
    meet in the middle of their windows' overlap, so every core has at least ``overlap`` of
    context inside its window (or the image border). As few windows as that allows.
    """
    span = min(win, length)
    first = min(max(a - overlap, 0), length - span) // m * m
    last = -(-min(max(b + overlap - span, 0), length - span) // m) * m
    if last <= first or span == length:
        return [(a, b, first)]
    if length % m or span % m:
        raise ValueError(f"an axis of {length} px in windows of {span} px: both must be multiples of {m}")
    n = 2
    while n <= length:  # ends: windows one pixel apart always fit
        starts = [first + round(k * (last - first) / (n - 1) / m) * m for k in range(n)]
        edges = [a] + [(s + span + t) // 2 // m * m for s, t in itertools.pairwise(starts)] + [b]
        ok = all(
            (c0 - s >= overlap or s == 0) and (s + span - c1 >= overlap or s + span == length) and c0 < c1
            for s, c0, c1 in zip(starts, edges, edges[1:], strict=False)
        )
        if ok:
            return [(c0, c1, s) for s, c0, c1 in zip(starts, edges, edges[1:], strict=False)]
        n += 1
    raise ValueError(f"no layout of {win} px windows with {overlap} px of context covers {length} px")


def grid(
    y0: int, y1: int, x0: int, x1: int, win: int, overlap: int, m: int, size: tuple[int, int]
) -> list[Tile]:
    """The tiles of a region (rows of :func:`spans` by columns), in reading order; ``size`` = (Hp, Wp)."""
    ys = spans(y0, y1, size[0], win, overlap, m)
    xs = spans(x0, x1, size[1], win, overlap, m)
    hy, wx = min(win, size[0]), min(win, size[1])
    return [((ya, yb, xa, xb), (wy, wy + hy, wxs, wxs + wx)) for ya, yb, wy in ys for xa, xb, wxs in xs]


def same_shape(a: Tile, b: Tile, win: int) -> bool:
    """Whether two tiles can share a batch: same window size, and ``a`` needs no further split."""
    (_, (ay0, ay1, ax0, ax1)), (_, (by0, by1, bx0, bx1)) = a, b
    small = max(ay1 - ay0, ax1 - ax0) <= win
    return small and (ay1 - ay0, ax1 - ax0) == (by1 - by0, bx1 - bx0)


def cuts(a: int, b: int, tile: int, m: int) -> list[int]:
    """Edges splitting ``[a, b)`` into near-equal parts no longer than ``tile``, on multiples of ``m``."""
    n = -(-(b - a) // tile)
    step = -(-(b - a) // n // m) * m if n > 1 else b - a
    return [*range(a, b, max(step, m)), b]


def fit_window(h: int, w: int, p: int, *, overlap: int, m: int, align: int) -> int:
    """The smallest window side (a multiple of ``align``, at most ``p``) that covers an ``h`` x ``w``
    image with as few windows as ``p`` does: a 1000 x 750 image in 320 px windows with 18 px of
    overlap needs 4 x 3 of them, and 280 px windows give the same 4 x 3 with 23 % fewer pixels."""
    counts = [len(spans(0, n, n, p, overlap, m)) for n in (h, w)]
    need = max(
        n if k == 1 else -(-(n + 2 * overlap * (k - 1)) // k) for n, k in zip((h, w), counts, strict=True)
    )
    s = min(p, -(-need // align) * align)
    while s < p and [len(spans(0, n, n, s, overlap, m)) for n in (h, w)] != counts:
        s += align  # rounding of the window starts to the size multiple can ask for a little more
    return s
