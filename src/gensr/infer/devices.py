"""Devices and precisions for inference: clear errors instead of silent fallbacks.

Precision ``auto`` runs bf16 only where the hardware computes it natively and fp32 elsewhere.
On a CPU, "native" means PyTorch's oneDNN has bf16 kernels *and* the CPU has bf16 dot-product
instructions (x86 ``avx512_bf16`` or ``amx_bf16``; Arm ``bf16``): oneDNN also accepts bf16 on
plain AVX-512 CPUs by emulating it, and without AVX-512 a bf16 convolution falls to
``aten::_slow_conv2d_forward``, 10-400x slower than fp32 (measured on an AVX2-only Zen 3).
"""

from __future__ import annotations

import torch
from torch import nn

from gensr.base.machine import cpu_flags

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PRECISION_CHOICES = ("auto", *PRECISIONS)
"""What ``--precision`` accepts: ``auto`` picks bf16 where it is native (:func:`native_bf16`), else fp32."""
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")
"""``/proc/cpuinfo`` flags of bf16 dot-product instructions (x86 AMX, x86 AVX-512, Arm)."""


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


def _onednn_bf16() -> bool:
    """PyTorch's own probe: oneDNN has bf16 kernels for this CPU (native or emulated)."""
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(probe()) if probe is not None else False


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and why (the reason is shown when bf16 is refused).

    CPU: oneDNN's bf16 kernels (:func:`_onednn_bf16`) and a bf16 instruction in :data:`BF16_CPU_FLAGS`.
    CUDA: ``torch.cuda.is_bf16_supported`` without emulation (Ampere and newer). MPS: no.
    """
    if device.type == "cpu":
        if not _onednn_bf16():
            return (
                False,
                "PyTorch has no oneDNN bf16 kernels for this CPU (bf16 would be several times slower)",
            )
        have = [f for f in BF16_CPU_FLAGS if f in cpu_flags()]
        if not have:
            return False, (
                "this CPU has no bf16 instructions (no avx512_bf16 or amx_bf16), so bf16 would be emulated "
                "and slower than fp32"
            )
        return True, f"this CPU has {' and '.join(have)}"
    if device.type == "cuda":
        try:
            ok = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # PyTorch < 2.3 has no emulation argument
            ok = torch.cuda.is_bf16_supported()
        name = torch.cuda.get_device_name(device)
        return (True, f"{name} has bf16") if ok else (False, f"{name} does not compute bf16 natively")
    return False, f"bf16 is not supported on {device.type}"


def choose_precision(precision: str | torch.dtype, device: torch.device) -> tuple[torch.dtype, str | None]:
    """Turn ``auto | fp32 | bf16 | fp16`` (or a dtype) into the dtype to run, with a notice when it differs.

    ``auto`` gives bf16 where :func:`native_bf16` says so, else fp32 (never slower than fp32).
    An explicit bf16 where it is not native runs fp32, and the notice says why. fp16 runs only
    on CUDA (on a CPU it is slow or unsupported, Real-ESRGAN#319).

    Returns:
        ``(dtype, notice)``: the notice is None when the precision is as asked (or ``auto``).

    Raises:
        ValueError: unknown precision, or fp16 off CUDA.
    """
    if isinstance(precision, torch.dtype):
        dtype = precision
        name = {v: k for k, v in PRECISIONS.items()}.get(dtype, str(dtype))
        if dtype not in PRECISIONS.values():
            raise ValueError(f"unsupported dtype {dtype}; use {', '.join(PRECISIONS)}")
    elif precision == "auto":
        return (torch.bfloat16 if native_bf16(device)[0] else torch.float32), None
    elif precision in PRECISIONS:
        name, dtype = precision, PRECISIONS[precision]
    else:
        raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISION_CHOICES)}")
    if dtype == torch.float16 and device.type != "cuda":
        raise ValueError(f"precision {name} needs a CUDA device (got {device.type}); use bf16 or fp32")
    if dtype == torch.bfloat16:
        native, why = native_bf16(device)
        if not native:
            return torch.float32, f"precision bf16 asked for, but {why}; running fp32"
    return dtype, None


def resolve_precision(precision: str | torch.dtype, device: torch.device) -> torch.dtype:
    """The dtype :func:`choose_precision` runs (its notice dropped)."""
    return choose_precision(precision, device)[0]


def prepare_net(net: nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """Put ``net`` in eval mode on ``device`` in ``dtype`` (in place); channels-last on the CPU."""
    net.eval()
    p = next(net.parameters(), None)
    if p is not None and (p.device != device or p.dtype != dtype):
        net.to(device=device, dtype=dtype)
    if device.type == "cpu":
        try:
            net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        except RuntimeError:  # a weight that is not 4-D (some third-party architectures): as it is
            pass
