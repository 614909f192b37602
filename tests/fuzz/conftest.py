"""The fuzz suite: hypothesis profiles sized for CI, and a count of the cases each property tried.

Examples are derandomized (the same cases on every run, so CI is reproducible) and no example
database is written. ``GENSR_FUZZ_SCALE=N`` multiplies every property's ``max_examples`` (e.g. 20 for
a long local hunt, with ``GENSR_FUZZ_RANDOM=1`` for fresh cases each run).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("GENSR_FUZZ_SCALE", "1"))

settings.register_profile(
    "gensr-fuzz",
    deadline=None,
    database=None,
    derandomize=os.environ.get("GENSR_FUZZ_RANDOM") != "1",
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
settings.load_profile("gensr-fuzz")

CASES: Counter[str] = Counter()
SECONDS: Counter[str] = Counter()


def examples(n: int) -> settings:
    """Hypothesis settings running ``n`` examples (times ``GENSR_FUZZ_SCALE``)."""
    return settings(max_examples=max(1, int(n * SCALE)))


@pytest.fixture
def count(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    """Call ``count[name] += 1`` once per generated case; the totals are printed after the run."""
    t0 = time.perf_counter()
    yield CASES
    SECONDS[request.node.name] += time.perf_counter() - t0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.fuzz)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    total, seconds = sum(CASES.values()), sum(SECONDS.values())
    terminalreporter.write_line(f"fuzz: {total} generated cases in {seconds:.0f} s")
    for name, n in sorted(CASES.items()):
        terminalreporter.write_line(f"  {n:5d}  {name}")
