"""gensr's cache folder and the JSON tables kept in it (torch-free).

The cache holds user models, converted backbones, ONNX exports, sample photos and two small JSON
tables of measurements (``tuning.json``: tile windows timed on this CPU; ``engines.json``: torch
against onnxruntime). A table is read whole and rewritten whole through :func:`atomic_write`, so a
reader never sees half a file; two processes storing at once may lose one entry, which is then
measured again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gensr.base.atomic import atomic_write


def cache_dir() -> Path:
    """Where gensr keeps user models and converted backbones: ``$GENSR_CACHE`` or ``~/.cache/gensr``."""
    root = os.environ.get("GENSR_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "gensr"


def read_json_table(path: Path) -> dict[str, Any]:
    """The JSON object stored at ``path``; empty when the file is missing, unreadable or not an object."""
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return table if isinstance(table, dict) else {}


def update_json_table(path: Path, key: str, entry: Any) -> None:
    """Set ``key`` to ``entry`` in the JSON object at ``path`` (created with its folder), written atomically.

    Raises:
        OSError: the cache cannot be written (callers that can measure again ignore it).
    """
    table = read_json_table(path)
    table[key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(table, indent=1, sort_keys=True) + "\n")
