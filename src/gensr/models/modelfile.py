"""gensr model files: safetensors weights + metadata that rebuilds the network.

Metadata keys (all strings, as safetensors requires):
    ``gensr.format``  "1"
    ``arch``          a key of :data:`gensr.archs.GENERATORS`
    ``hparams``       JSON of the keyword hyperparameters
    ``scale``         the integer upscaling factor
    ``info``          JSON of free-form provenance: recipe, data, metrics, config, source file
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save
from torch import nn

from gensr.archs import GENERATORS, arch_name, build_generator
from gensr.imageio import atomic_write

FORMAT_VERSION = "1"


class ModelFileError(ValueError):
    """A model file is missing, unreadable, or not a gensr model file."""


@dataclass(frozen=True)
class ModelInfo:
    """What a gensr model file says about its network."""

    arch: str
    hparams: dict[str, Any]
    scale: int
    info: dict[str, Any] = field(default_factory=dict)


def save_model(
    path: str | Path,
    net: nn.Module,
    *,
    info: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
) -> None:
    """Write ``net`` (a gensr generator) as a safetensors model file, atomically.

    Args:
        path: destination ``.safetensors`` file.
        net: a generator from :data:`gensr.archs.GENERATORS` (carries ``hparams``).
        info: provenance stored as JSON (recipe, data, metrics, config, ...).
        dtype: storage dtype of floating-point tensors (``torch.float16`` halves the size).
    """
    arch = arch_name(net)
    hparams: dict[str, Any] = dict(net.hparams)  # type: ignore[arg-type]
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in net.state_dict().items()
    }
    meta = {
        "gensr.format": FORMAT_VERSION,
        "arch": arch,
        "hparams": json.dumps(hparams, sort_keys=True),
        "scale": str(int(hparams["scale"])),
        "info": json.dumps(info or {}, sort_keys=True),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, save(tensors, metadata=meta))


def read_model_info(path: str | Path) -> ModelInfo:
    """Read only the metadata of a gensr model file."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise ModelFileError(f"{path}: not a safetensors file ({e})") from None
    if meta.get("gensr.format") != FORMAT_VERSION or meta.get("arch") not in GENERATORS:
        raise ModelFileError(f"{path}: not a gensr model file (missing or unknown 'arch' metadata)")
    return ModelInfo(
        arch=meta["arch"],
        hparams=json.loads(meta["hparams"]),
        scale=int(meta["scale"]),
        info=json.loads(meta.get("info", "{}")),
    )


def load_model(path: str | Path, *, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, ModelInfo]:
    """Rebuild the network stored in a gensr model file; returns it in eval mode on the CPU."""
    info = read_model_info(path)
    net = build_generator(info.arch, info.hparams)
    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelFileError(f"{path}: weights do not fit {info.arch} {info.hparams}: {e}") from None
    return net.to(dtype).eval(), info
