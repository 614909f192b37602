"""The cache folder and its JSON tables, written through ``atomic_write``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gensr.base.cache import cache_dir, read_json_table, update_json_table


def test_cache_dir_follows_gensr_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENSR_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("GENSR_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "gensr"


def test_json_table_update_keeps_other_keys_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "table.json"
    assert read_json_table(path) == {}
    update_json_table(path, "a", {"x": 1})
    update_json_table(path, "b", [2])
    update_json_table(path, "a", {"x": 3})
    assert json.loads(path.read_text()) == {"a": {"x": 3}, "b": [2]}
    assert os.listdir(path.parent) == ["table.json"]


@pytest.mark.parametrize("text", ["not json", "[1, 2]", ""])
def test_a_damaged_table_reads_as_empty_and_is_replaced(tmp_path: Path, text: str) -> None:
    path = tmp_path / "table.json"
    path.write_text(text)
    assert read_json_table(path) == {}
    update_json_table(path, "k", 1)
    assert read_json_table(path) == {"k": 1}
