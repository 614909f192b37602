"""Devices and precisions for inference: clear errors instead of silent fallbacks."""

from __future__ import annotations

import torch

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto", *, local_rank: int | None = None) -> torch.device:
    """Turn ``auto | cpu | cuda | cuda:N | mps`` into a device, failing clearly when it is absent.

    The one device resolver: ``gensr upscale``, ``gensr eval`` and training use it.

    Args:
        name: ``auto`` picks CUDA, then Apple MPS, then the CPU.
        local_rank: under torchrun, this process's GPU: ``auto`` and ``cuda`` become ``cuda:local_rank``.

    Returns:
        The device.

    Raises:
        ValueError: unknown name, or the device is not available in this PyTorch / machine.
    """
    name = name.strip().lower()
    if local_rank is not None and name in ("auto", "cuda") and torch.cuda.is_available():
        name = f"cuda:{local_rank}"
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "this PyTorch has no CUDA support" if torch.version.cuda is None else "no CUDA device found"
            raise ValueError(f"device {name!r} asked for, but {why}; use --device cpu")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' asked for, but Apple MPS is not available; use --device cpu")
        return torch.device("mps")
    raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")


def resolve_precision(precision: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Turn ``fp32 | bf16 | fp16`` into a dtype the device supports.

    fp32 is the default everywhere; bf16 runs on CPU and on CUDA devices that support it; fp16
    only on CUDA (on a CPU it is slow or unsupported, Real-ESRGAN#319).

    Raises:
        ValueError: unknown precision, or unsupported on ``device``.
    """
    if isinstance(precision, torch.dtype):
        dtype = precision
        name = {v: k for k, v in PRECISIONS.items()}.get(dtype, str(dtype))
    else:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
        name, dtype = precision, PRECISIONS[precision]
    if dtype not in PRECISIONS.values():
        raise ValueError(f"unsupported dtype {dtype}; use {', '.join(PRECISIONS)}")
    if dtype == torch.float16 and device.type != "cuda":
        raise ValueError(f"precision {name} needs a CUDA device (got {device.type}); use bf16 or fp32")
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"{torch.cuda.get_device_name(device)} does not support bf16; use fp16 or fp32")
    if dtype == torch.bfloat16 and device.type == "mps":
        raise ValueError("precision bf16 is not supported on mps; use fp32")
    return dtype
