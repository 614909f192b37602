"""The one reader of the CPU and of the memory available (cgroup v2 and v1 limits count)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gensr.base import machine

CPUINFO_X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480C
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480C
flags\t\t: fpu sse2
"""
CPUINFO_ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd bf16 i8mm
CPU implementer\t: 0x41
"""


def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, text: str | None) -> Path:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    return path


def test_cpu_model_and_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "CPUINFO", fake(monkeypatch, tmp_path, "x86", CPUINFO_X86))
    assert machine.cpu_description() == ("Intel(R) Xeon(R) Platinum 8480C", ["avx2", "fma", "avx512f",
                                          "avx512_bf16", "amx_bf16"])  # fmt: skip
    assert "amx_tile" in machine.cpu_flags()  # every flag of the first processor
    monkeypatch.setattr(machine, "CPUINFO", fake(monkeypatch, tmp_path, "arm", CPUINFO_ARM))
    assert machine.cpu_flags() == {"fp", "asimd", "bf16", "i8mm"}
    assert machine.cpu_description()[1] == [] and machine.cpu_description()[0]  # a name from platform
    monkeypatch.setattr(machine, "CPUINFO", tmp_path / "missing")
    assert machine.cpu_flags() == set()


@pytest.mark.parametrize(
    ("v2", "v1", "want"),
    [
        (None, None, 6 << 30),  # no cgroup files: MemAvailable
        (("max", "123"), None, 6 << 30),  # v2 without a limit
        ((str(4 << 30), str(1 << 30)), None, 3 << 30),  # v2 limit minus usage
        (None, (str(2 << 30), str(1 << 29)), (2 << 30) - (1 << 29)),  # v1
        (None, ("9223372036854771712", "1"), 6 << 30),  # v1's "no limit"
        ((str(1 << 30), str(2 << 30)), None, 0),  # over the limit: nothing left
    ],
)
def test_available_memory_is_capped_by_the_cgroup(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    v2: tuple[str, str] | None,
    v1: tuple[str, str] | None,
    want: int,
) -> None:
    meminfo = "MemTotal:       16000000 kB\nMemAvailable:    6291456 kB\n"
    monkeypatch.setattr(machine, "MEMINFO", fake(monkeypatch, tmp_path, "meminfo", meminfo))
    files = []
    for version, pair in (("v2", v2), ("v1", v1)):
        limit = fake(monkeypatch, tmp_path, f"{version}.limit", None if pair is None else pair[0])
        used = fake(monkeypatch, tmp_path, f"{version}.used", None if pair is None else pair[1])
        files.append((limit, used))
    monkeypatch.setattr(machine, "CGROUP_MEMORY", tuple(files))
    assert machine.available_memory() == want
    assert machine.total_memory() == 16000000 * 1024


def test_memory_unknown_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "MEMINFO", tmp_path / "missing")
    monkeypatch.setattr(machine, "CGROUP_MEMORY", ())
    assert machine.available_memory() is None and machine.total_memory() is None
