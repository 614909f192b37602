"""What a training run writes for people to watch: ``RUN_DIR/log.jsonl`` and TensorBoard events.

``log.jsonl`` has one JSON object per line, each with ``iter`` (completed iterations) and either
loss terms (``g/pixel``, ``g/percep``, ``g/adv``, ``g/total``, ``d/real``, ``d/fake``, ``lr``,
``lr_d``, ``stage``), validation metrics (``val/psnr_y``, ``val/ssim_y``, ``val/lpips``, ``val/l1``
and the same for ``val/bicubic_*``), or an ``event`` (``start``, ``resume``, ``nonfinite``,
``warning``, ``interrupted``, ``done``). Loss lines hold no wall-clock time, so an interrupted and
resumed run writes the same loss lines as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gensr.imageio import atomic_write

__all__ = ["RunLog", "read_log", "truncate_log"]


class RunLog:
    """Appends records to ``RUN_DIR/log.jsonl`` (and TensorBoard when asked and installed).

    Args:
        run_dir: the run folder.
        tensorboard: also write scalars with ``torch.utils.tensorboard`` if it can be imported.
    """

    def __init__(self, run_dir: str | Path, *, tensorboard: bool = False) -> None:
        self.path = Path(run_dir) / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # tensorboard not installed: the JSONL log is enough
                self._tb = None
            else:
                self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    @property
    def tensorboard(self) -> bool:
        return self._tb is not None

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (must contain ``iter``); non-finite numbers are written as strings."""
        clean = {
            k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in record.items()
        }
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()
        if self._tb is not None:
            step = int(record["iter"])
            for k, v in record.items():
                if k != "iter" and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._tb.add_scalar(k, v, step)

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``log.jsonl`` (a torn last line is ignored)."""
    records = []
    with Path(path).open(encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def truncate_log(path: str | Path, iteration: int) -> None:
    """Drop records after ``iteration`` (those of steps a resumed run will redo); atomic rewrite."""
    path = Path(path)
    if not path.is_file():
        return
    keep = [r for r in read_log(path) if int(r.get("iter", 0)) <= iteration]
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in keep))
