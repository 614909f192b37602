"""Memory budgets: estimated from the header's size alone, compared with what the machine has."""

from __future__ import annotations

import pytest

from gensr.imageio import budget


def test_estimate_streams_png_and_tiff_holds_jpeg_rows_and_frames() -> None:
    base = 100 * 100 * budget.BYTES_PER_INPUT_PX + budget.STREAM_BYTES
    assert budget.upscale_bytes(100, 100, 4) == budget.upscale_bytes(100, 100, 4, fmt="TIFF") == base
    assert budget.upscale_bytes(100, 100, 4, fmt="JPEG") == base + 16 * 100 * 100 * budget.BYTES_PER_HELD_PX
    frames = budget.upscale_bytes(100, 100, 4, frames=10)
    assert frames == base + 16 * 100 * 100 * (budget.BYTES_PER_FRAME_PX + 10 * budget.BYTES_PER_KEPT_FRAME_PX)


def test_problem_only_when_more_than_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "available_memory", lambda: 2**31)
    assert budget.memory_problem(1000, 1000, 4) is None  # 1.1 GB
    msg = budget.memory_problem(10000, 10000, 4, fmt="WEBP")
    assert msg is not None and "x4 needs about 15.9 GB" in msg and "2.0 GB is available" in msg
    monkeypatch.setattr(budget, "available_memory", lambda: None)
    assert budget.memory_problem(10**6, 10**6, 16) is None  # unknown: no refusal


def test_available_memory_is_a_positive_number_here() -> None:
    have = budget.available_memory()
    assert have is None or have > 0


@pytest.mark.parametrize(
    ("text", "n"), [("5000", 5000), ("100M", 10**8), ("1.5g", 1_500_000_000), ("2e6", 2 * 10**6)]
)
def test_parse_pixels(text: str, n: int) -> None:
    assert budget.parse_pixels(text) == n


@pytest.mark.parametrize("text", ["0", "-5", "abc", "nan", "1e30", "M"])
def test_parse_pixels_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        budget.parse_pixels(text)
