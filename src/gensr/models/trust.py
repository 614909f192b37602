"""Model files are untrusted input: hyperparameters and tensor shapes are checked before any tensor exists.

Whatever a file claims (gensr metadata, shapes in a ``.pth``, layer sizes in an ncnn graph), the
network is first built on PyTorch's ``meta`` device, which allocates nothing. Its parameter count
is held to :data:`MAX_PARAMS` and every tensor the file holds must have exactly the shape that
network needs. Only then are real tensors made (:func:`build_checked`), without spending time on
an initialisation the file's weights overwrite, and the weights must be finite.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from gensr.archs import GENERATORS

__all__ = ["MAX_DEPTH", "MAX_PARAMS", "MAX_WIDTH", "build_checked", "check_hparams", "expected_shapes"]

MAX_PARAMS = 200_000_000
"""Largest network gensr builds from a file: 800 MB of float32 (Real-ESRGAN x4plus has 16.7 M)."""
MAX_WIDTH = 2048
"""Largest feature width (``num_feat``, ``num_grow_ch``)."""
MAX_DEPTH = 512
"""Largest number of blocks or convolutions (``num_block``, ``num_conv``)."""
MAX_CHANNELS = 64
"""Largest number of image channels in or out."""
MAX_SCALE = 16

_BOUNDS: dict[str, tuple[int, int]] = {
    "num_feat": (1, MAX_WIDTH),
    "num_grow_ch": (1, MAX_WIDTH),
    "num_block": (0, MAX_DEPTH),
    "num_conv": (0, MAX_DEPTH),
    "num_in_ch": (1, MAX_CHANNELS),
    "num_out_ch": (1, MAX_CHANNELS),
    "scale": (1, MAX_SCALE),
    "net_scale": (1, MAX_SCALE),
}
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "int | None": (int, type(None)),
    "bool": (bool,),
    "float": (int, float),
    "str": (str,),
}


def check_hparams(arch: str, hparams: object) -> dict[str, Any]:
    """The hyperparameters of generator ``arch``, checked against its signature and gensr's bounds.

    Returns:
        ``hparams`` with the defaults filled in.

    Raises:
        ValueError: unknown architecture, not a dict, unknown keys, wrong types, out of bounds.
    """
    if arch not in GENERATORS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(GENERATORS))}")
    if not isinstance(hparams, dict):
        raise ValueError(f"hyperparameters must be a JSON object, got {type(hparams).__name__}")
    params = {
        name: p
        for name, p in inspect.signature(GENERATORS[arch].__init__).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    unknown = sorted(set(map(str, hparams)) - set(params))
    if unknown:
        raise ValueError(f"unknown hyperparameters for {arch}: {', '.join(map(repr, unknown[:5]))}")
    full = {name: hparams.get(name, p.default) for name, p in params.items()}
    for name, value in full.items():
        types = _TYPES.get(str(params[name].annotation))
        if value is inspect.Parameter.empty:
            raise ValueError(f"{arch} needs hyperparameter {name!r}")
        if types is not None and (
            not isinstance(value, types) or (bool not in types and isinstance(value, bool))
        ):
            raise ValueError(f"hyperparameter {name} = {_short(value)} is not {params[name].annotation}")
        lo, hi = _BOUNDS.get(name, (None, None))
        if lo is not None and isinstance(value, int) and not lo <= value <= hi:
            raise ValueError(f"hyperparameter {name} = {value} is outside {lo}..{hi}")
    return full


def expected_shapes(arch: str, hparams: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Shapes of every tensor in the state dict of ``arch(**hparams)``, found without allocating.

    Raises:
        ValueError: the hyperparameters are rejected by the architecture, or the network would have
            more than :data:`MAX_PARAMS` parameters.
    """
    net = _meta_net(arch, hparams)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def build_checked(arch: str, hparams: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Build generator ``arch`` with the weights ``state``, after checking every shape and value.

    Args:
        arch: a key of :data:`gensr.archs.GENERATORS`.
        hparams: its hyperparameters (checked with :func:`check_hparams`).
        state: the full state dict; every tensor must have the shape the network needs.

    Returns:
        The network in eval mode on the CPU, float32.

    Raises:
        ValueError: any check fails; the message says which hyperparameter or tensor.
    """
    full = check_hparams(arch, dict(hparams))
    net = _meta_net(arch, full)
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    check_shapes(arch, want, {k: tuple(v.shape) for k, v in state.items()})
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ValueError(f"tensor {k} holds NaN or infinity")
    # the real tensors replace the meta ones (``assign``): no empty copies to allocate and fill, and
    # none of the meta device's shape machinery (importing it cost 0.5 s of every process start)
    real = {k: v.float() if v.is_floating_point() else v.clone() for k, v in state.items()}
    net.load_state_dict(real, strict=True, assign=True)
    if any(t.is_meta for t in (*net.parameters(), *net.buffers())):  # a buffer outside the state dict
        with torch.device("cpu"):
            net = GENERATORS[arch](**full)
        net.load_state_dict(real, strict=True)
    return net.float().eval()


def check_shapes(arch: str, want: Mapping[str, tuple[int, ...]], have: Mapping[str, tuple[int, ...]]) -> None:
    """Raise ``ValueError`` naming the first tensor missing, extra, or of another shape than ``want``."""
    missing = [k for k in want if k not in have]
    extra = [k for k in have if k not in want]
    wrong = [k for k in want if k in have and have[k] != want[k]]
    if missing:
        problem = f"{len(missing)} tensor(s) missing, e.g. {missing[0]}"
    elif extra:
        problem = f"{len(extra)} tensor(s) it does not have, e.g. {_short(extra[0])}"
    elif wrong:
        k = wrong[0]
        problem = f"tensor {k} is {have[k]}, the network needs {want[k]}"
    else:
        return
    raise ValueError(f"weights do not fit the {arch} network described: {problem}")


def _meta_net(arch: str, hparams: Mapping[str, Any]) -> nn.Module:
    try:
        with torch.device("meta"):
            net = GENERATORS[arch](**hparams)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{arch} rejects its hyperparameters: {str(e).splitlines()[0]}") from None
    n = sum(p.numel() for p in net.parameters())
    if n > MAX_PARAMS:
        raise ValueError(f"{arch} with these hyperparameters has {n / 1e6:.0f} M parameters, "
                         f"more than gensr's {MAX_PARAMS / 1e6:.0f} M")  # fmt: skip
    return net


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
