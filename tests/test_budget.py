"""Memory budgets: estimated from the header's size alone, compared with what the machine has."""

from __future__ import annotations

import pytest

from gensr import budget


def test_estimate_grows_with_output_pixels_and_kept_frames() -> None:
    one = budget.upscale_bytes(100, 100, 4)
    assert one == 100 * 100 * (budget.BYTES_PER_INPUT_PX + 16 * budget.BYTES_PER_OUTPUT_PX)
    assert budget.upscale_bytes(100, 100, 2) < one
    assert budget.upscale_bytes(100, 100, 4, frames=10) == one + 10 * 16 * 100 * 100 * 4


def test_problem_only_when_more_than_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "available_memory", lambda: 2**30)
    assert budget.memory_problem(1000, 1000, 4) is None  # 0.8 GB
    msg = budget.memory_problem(10000, 10000, 4)
    assert msg is not None and "x4 needs about 74.5 GB" in msg and "1.0 GB is available" in msg
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
