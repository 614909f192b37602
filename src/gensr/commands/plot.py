"""``gensr plot``: draw a run's loss and validation curves into one PNG (Pillow only, no matplotlib)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

NAME = "plot"
HELP = "Draw the loss, learning-rate and validation curves of a training run to a PNG."
EXAMPLE = "Example:\n  gensr plot runs/esrgan -o esrgan-curves.png"

_ORDER = (
    "g/total",
    "g/pixel",
    "g/percep",
    "g/adv",
    "d/real",
    "d/fake",
    "d/real_logit",
    "d/fake_logit",
    "g/grad_norm",
    "d/grad_norm",
    "lr",
    "lr_d",
)
_PANEL_W, _PANEL_H, _COLS = 380, 230, 3
_MARGIN_L, _MARGIN_R, _MARGIN_T, _MARGIN_B = 62, 14, 26, 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="a gensr train run folder (reads log.jsonl)"
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="PNG", help="image to write (default: RUN_DIR/curves.png)"
    )


def series(records: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Numeric series by key from log records: ``{"g/pixel": [(iter, value), ...]}`` (events skipped)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for r in records:
        if "event" in r:
            continue
        for k, v in r.items():
            if k in ("iter", "stage") or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            out.setdefault(k, []).append((int(r["iter"]), float(v)))
    return out


def _panels(data: dict[str, list[tuple[int, float]]]) -> list[tuple[str, str | None]]:
    """``(key, baseline key)`` per panel: losses in a fixed order, then validation metrics."""
    keys = [k for k in _ORDER if k in data] + sorted(
        k for k in data if k not in _ORDER and not k.startswith("val/")
    )
    panels: list[tuple[str, str | None]] = [(k, None) for k in keys]
    for k in sorted(k for k in data if k.startswith("val/") and not k.startswith("val/bicubic_")):
        base = "val/bicubic_" + k.removeprefix("val/")
        panels.append((k, base if base in data else None))
    return panels


def _smooth(values: list[float], alpha: float = 0.9) -> list[float]:
    out, acc = [], None
    for v in values:
        if math.isfinite(v):
            acc = v if acc is None else alpha * acc + (1 - alpha) * v
        out.append(acc if acc is not None else v)
    return out


def _fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def _draw_panel(
    dr: Any,
    font: Any,
    box: tuple[int, int, int, int],
    title: str,
    pts: list[tuple[int, float]],
    base_pts: list[tuple[int, float]],
) -> None:
    """A line chart in ``box`` (left, top, right, bottom): raw (pale) and smoothed values, baseline red."""
    ox, oy, right, bottom = box
    x0, y0, x1, y1 = ox + _MARGIN_L, oy + _MARGIN_T, right - _MARGIN_R, bottom - _MARGIN_B
    dr.text((x0, oy + 6), title + ("   (red: bicubic)" if base_pts else ""), fill="black", font=font)
    dr.rectangle((x0, y0, x1, y1), outline="#888888")
    if not pts:
        dr.text((x0 + 8, y0 + 8), "no finite values", fill="#aa0000", font=font)
        return
    xs = [i for i, _ in pts]
    vals = sorted(v for _, v in pts + base_pts)
    lo = vals[0]
    hi = (
        vals[min(len(vals) - 1, int(0.99 * (len(vals) - 1) + 0.5))] if len(vals) > 50 else vals[-1]
    )  # robust top
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * abs(lo) - 1e-6, hi + 0.5 * abs(hi) + 1e-6
    xlo, xhi = min(xs), max(max(xs), min(xs) + 1)

    def px(i: float, v: float) -> tuple[float, float]:
        v = min(max(v, lo), hi)
        return x0 + (i - xlo) / (xhi - xlo) * (x1 - x0), y1 - (v - lo) / (hi - lo) * (y1 - y0)

    for frac in (0.0, 0.5, 1.0):
        v = lo + frac * (hi - lo)
        y = px(xlo, v)[1]
        dr.line((x0 - 3, y, x0, y), fill="#888888")
        dr.text((ox + 4, y - 7), _fmt(v), fill="#333333", font=font)
    for i in (xlo, xhi):
        dr.text((px(i, lo)[0] - 12, y1 + 6), str(int(i)), fill="#333333", font=font)
    if base_pts:
        line = [px(i, v) for i, v in base_pts]
        dr.line(line if len(line) > 1 else [px(xlo, base_pts[0][1]), px(xhi, base_pts[0][1])], fill="#d62728")
    if len(pts) == 1:
        x, y = px(*pts[0])
        dr.ellipse((x - 3, y - 3, x + 3, y + 3), fill="#1f77b4")
        return
    many = len(pts) > 30
    dr.line([px(i, v) for i, v in pts], fill="#aec7e8" if many else "#1f77b4", width=1)
    if many:
        smooth = _smooth([v for _, v in pts])
        dr.line([px(i, v) for i, v in zip(xs, smooth, strict=True)], fill="#1f77b4", width=2)


def draw(data: dict[str, list[tuple[int, float]]], title: str = "") -> Any:
    """Render one panel per series (validation metrics with their bicubic baseline) to a PIL image."""
    from PIL import Image, ImageDraw, ImageFont

    panels = _panels(data)
    rows = max(1, math.ceil(len(panels) / _COLS))
    head = 28 if title else 0
    img = Image.new("RGB", (_COLS * _PANEL_W, rows * _PANEL_H + head), "white")
    dr = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=12)
    if title:
        dr.text((8, 6), title, fill="black", font=ImageFont.load_default(size=15))
    for n, (key, base) in enumerate(panels):
        ox, oy = (n % _COLS) * _PANEL_W, head + (n // _COLS) * _PANEL_H
        pts = [(i, v) for i, v in data[key] if math.isfinite(v)]
        base_pts = [(i, v) for i, v in data.get(base, []) if math.isfinite(v)] if base else []
        _draw_panel(dr, font, (ox, oy, ox + _PANEL_W, oy + _PANEL_H), key, pts, base_pts)
    return img


def run(args: argparse.Namespace) -> int:
    from gensr.train.runlog import read_log

    log = args.run_dir / "log.jsonl"
    if not log.is_file():
        msg = f"gensr plot: {log}: no such file (is {args.run_dir} a gensr train run folder?)"
        print(msg, file=sys.stderr)  # noqa: T201
        return 2
    data = series(read_log(log))
    if not data:
        print(f"gensr plot: {log} has no loss or metric records yet", file=sys.stderr)  # noqa: T201
        return 1
    out = args.output or args.run_dir / "curves.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    draw(data, title=str(args.run_dir)).save(out)
    print(out)  # noqa: T201
    return 0
