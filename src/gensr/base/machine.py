"""What this machine offers (torch-free): the CPU's model and features, and the memory still available.

One reader each: ``/proc/cpuinfo`` for the CPU (x86 ``model name`` and ``flags``, Arm ``Features``), and
``/proc/meminfo`` capped by the cgroup's limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``) for the
memory, so a container's limit counts wherever gensr sizes something by memory.
"""

from __future__ import annotations

import platform
from pathlib import Path

CONV_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_bf16")
"""SIMD features that change how fast convolutions run: the ones :func:`cpu_description` names."""
_NO_LIMIT = 1 << 60
"""cgroup v1 writes "no limit" as a huge number (``9223372036854771712``)."""
CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")
CGROUP_MEMORY = (
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),  # cgroup v2
    (
        Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        Path("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ),
)
"""(limit, usage) files of this process's memory cgroup, v2 then v1."""


def _cpuinfo() -> tuple[str | None, set[str]]:
    """(model name or None, feature flags) of the first processor in ``/proc/cpuinfo``."""
    name: str | None = None
    try:
        text = CPUINFO.read_text()
    except OSError:
        return None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name is None:
            name = value.strip()
        elif key in ("flags", "Features"):
            return name, set(value.split())
    return name, set()


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (x86 ``flags``, Arm ``Features``); empty elsewhere."""
    return _cpuinfo()[1]


def cpu_description() -> tuple[str, list[str]]:
    """(CPU model name, its features in :data:`CONV_FLAGS`): what a speed measurement depends on."""
    name, flags = _cpuinfo()
    return name or platform.processor() or platform.machine(), [f for f in CONV_FLAGS if f in flags]


def _meminfo(key: str) -> int | None:
    """Bytes of ``key`` (``MemAvailable``, ``MemTotal``) in ``/proc/meminfo``, or None."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def total_memory() -> int | None:
    """Bytes of memory of this machine (``MemTotal``), or None where ``/proc/meminfo`` is missing."""
    return _meminfo("MemTotal")


def available_memory() -> int | None:
    """Bytes of memory this process may still use (``MemAvailable``, capped by a cgroup limit), or None."""
    found = [n for n in (_meminfo("MemAvailable"),) if n is not None]
    for limit_file, used_file in CGROUP_MEMORY:
        try:
            limit = limit_file.read_text().strip()
            if limit == "max" or int(limit) >= _NO_LIMIT:
                continue
            found.append(max(int(limit) - int(used_file.read_text()), 0))
        except (OSError, ValueError):
            continue
    return min(found) if found else None
