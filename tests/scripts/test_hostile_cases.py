"""The hostile cases of ``scripts/hostile_cases.py`` as tests (marker ``hostile``): each runs the real
``gensr`` command line in a child process and checks its exit code, its one line per failure, its
peak memory and its outputs. ``python -m pytest -m "not hostile"`` leaves them out.

The cases run two at a time in the background from the first test on (each is mostly a child
process starting torch), and each test waits for its own.
"""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.hostile


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hostile_cases", ROOT / "scripts" / "hostile_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hostile_cases"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


CASES = _load()


@pytest.fixture(scope="module")
def running() -> Any:
    pool = ThreadPoolExecutor(2)
    futures = {c.name: pool.submit(CASES.run_case, c, sys.executable, False) for c in CASES.CASES}
    yield futures
    pool.shutdown(cancel_futures=True)


def test_there_are_cases_in_every_group() -> None:
    groups = {c.group for c in CASES.CASES}
    assert len(CASES.CASES) >= 90 and {"crash", "isolation", "loss", "memory", "traceback"} <= groups, groups


@pytest.mark.parametrize("name", [c.name for c in CASES.CASES])
def test_hostile_case(name: str, running: dict[str, Future[Any]]) -> None:
    _case, problem, result = running[name].result()
    if problem is not None and problem.startswith("SKIP"):
        pytest.skip(problem)
    err = "" if result is None else "\n".join(result.err.splitlines()[-8:])
    assert problem is None, f"{problem}\n{err}"
