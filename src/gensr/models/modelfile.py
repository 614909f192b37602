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
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported by the functions that build or check networks, so that
    import torch  # `gensr models` (which only reads headers: peek_model_info) starts without it
    from torch import nn

FORMAT_VERSION = "1"
SPANDREL = "spandrel"
"""The ``arch`` of a model file holding a third-party architecture: ``hparams`` is
``{"architecture": spandrel's id, "scale": s}`` and the tensors are the network's own state dict,
from which spandrel rebuilds it (:mod:`gensr.models.spandrel_net`)."""
MAX_HEADER = 100_000_000
"""Largest safetensors JSON header :func:`read_header` reads (the limit of the safetensors library)."""


class ModelFileError(ValueError):
    """A model file is missing, unreadable, or not a gensr model file."""


@dataclass(frozen=True)
class ModelInfo:
    """What a gensr model file says about its network."""

    arch: str
    hparams: dict[str, Any]
    scale: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The architecture as shown to people: ``compact``, ``rrdbnet``, ... or ``SPAN (spandrel)``."""
        if self.arch == SPANDREL:
            return f"{str(self.hparams.get('architecture', '?'))[:40]} (spandrel)"
        return self.arch


def save_model(
    path: str | Path,
    net: nn.Module,
    *,
    info: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Write ``net`` (a gensr generator) as a safetensors model file, atomically.

    Args:
        path: destination ``.safetensors`` file.
        net: a generator from :data:`gensr.archs.GENERATORS` (carries ``hparams``).
        info: provenance stored as JSON (recipe, data, metrics, config, ...).
        dtype: storage dtype of floating-point tensors (default float32; ``torch.float16`` halves the size).
    """
    import torch
    from safetensors.torch import save

    from gensr.archs import arch_name
    from gensr.imageio import atomic_write

    dtype = torch.float32 if dtype is None else dtype
    spandrel = getattr(net, "architecture", None) is not None and hasattr(net, "weights")
    arch = SPANDREL if spandrel else arch_name(net)  # a SpandrelNet stores spandrel's own state dict
    if spandrel:  # spandrel detects everything else from the weights
        hparams: dict[str, Any] = {"architecture": net.architecture, "scale": int(net.scale)}  # type: ignore[dict-item]
    else:
        hparams = dict(net.hparams)  # type: ignore[arg-type]
    state = net.weights() if spandrel else net.state_dict()  # type: ignore[operator]
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in state.items()
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
    """Read and check the metadata of a gensr model file (nothing but the header is read).

    Raises:
        ModelFileError: missing or corrupt file, or metadata that does not describe a gensr
            generator gensr can build (unknown keys, wrong types, sizes over gensr's bounds, a
            ``scale`` that disagrees with the network's); the message names the file.
    """
    from gensr.models.trust import check_hparams

    path = Path(path)
    meta = _open(path, lambda f: f.metadata() or {})
    if meta.get("gensr.format") != FORMAT_VERSION or "arch" not in meta:
        raise _error(
            path, "not a gensr model file (no gensr.format/arch metadata; gensr import converts others)"
        )
    try:
        hparams = _json(meta, "hparams")
        hparams = (
            _check_spandrel(hparams) if meta["arch"] == SPANDREL else check_hparams(meta["arch"], hparams)
        )
        info = _json(meta, "info", "{}")
        if not isinstance(info, dict):
            raise ValueError(f"metadata 'info' must be a JSON object, got {type(info).__name__}")
        text = meta.get("scale", "")
        if not text.isascii() or not text.isdigit() or len(text) > 3:
            raise ValueError(f"metadata scale {text[:20]!r} is not a whole number")
        if int(text) != hparams["scale"]:
            raise ValueError(
                f"metadata says x{int(text)} but its {meta['arch']} network upscales x{hparams['scale']}"
            )
    except ValueError as e:
        raise _error(path, str(e)) from None
    return ModelInfo(arch=meta["arch"], hparams=hparams, scale=int(hparams["scale"]), info=info)


def load_model(path: str | Path, *, dtype: torch.dtype | None = None) -> tuple[nn.Module, ModelInfo]:
    """Rebuild the network stored in a gensr model file; returns it in eval mode on the CPU
    (in ``dtype``, default float32).

    The metadata, the shape and type of every tensor (from the header) and the parameter count
    are checked before any tensor is read (:mod:`gensr.models.trust`); the weights must be finite.

    Raises:
        ModelFileError: as :func:`read_model_info`, or weights that do not fit the network.
    """
    import torch

    from gensr.models.trust import build_checked, check_shapes, expected_shapes

    dtype = torch.float32 if dtype is None else dtype
    path = Path(path)
    info = read_model_info(path)
    if info.arch == SPANDREL:
        return _load_spandrel(path, info, dtype)
    try:
        want = expected_shapes(info.arch, info.hparams)
        have = _open(path, lambda f: {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()})
        check_shapes(info.arch, want, have)
        kinds = _open(path, lambda f: {k: f.get_slice(k).get_dtype() for k in f.keys()})
        odd = {
            k: t for k, t in kinds.items() if t not in _FLOAT_DTYPES and not k.endswith("num_batches_tracked")
        }
        if odd:
            k = next(iter(odd))
            raise ValueError(f"tensor {k} holds {odd[k]} values, not floating point")
        state = _open(path, lambda f: {k: f.get_tensor(k) for k in f.keys()})
        net = build_checked(info.arch, info.hparams, state)
    except ValueError as e:
        raise _error(path, str(e)) from None
    except RuntimeError as e:  # load_state_dict: a shape check above should have caught it
        raise _error(path, f"weights do not fit {info.arch}: {str(e).splitlines()[0]}") from None
    return net.to(dtype).eval(), info


_FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


def _check_spandrel(hparams: Any) -> dict[str, Any]:
    """The hyperparameters of a ``spandrel`` model file: ``{"architecture": id, "scale": s}``, checked."""
    from gensr.models.spandrel_net import ARCHS
    from gensr.models.trust import MAX_SCALE

    if not isinstance(hparams, dict) or set(hparams) != {"architecture", "scale"}:
        raise ValueError("a spandrel model's hyperparameters are exactly 'architecture' and 'scale'")
    arch, scale = hparams["architecture"], hparams["scale"]
    if not isinstance(arch, str) or arch not in ARCHS or ARCHS[arch].refused:
        raise ValueError(f"spandrel architecture {str(arch)[:40]!r} is not one gensr runs")
    if not isinstance(scale, int) or isinstance(scale, bool) or not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"hyperparameter scale = {str(scale)[:20]} is outside 1..{MAX_SCALE}")
    return dict(hparams)


def _load_spandrel(path: Path, info: ModelInfo, dtype: torch.dtype) -> tuple[nn.Module, ModelInfo]:
    """A ``spandrel`` model file: its tensors (bounded by the header) through spandrel's detection,
    which must find the architecture and scale the metadata names."""
    from gensr.models.spandrel_net import build_spandrel
    from gensr.models.trust import MAX_PARAMS

    state = read_safetensors(path, MAX_PARAMS)
    try:
        net = build_spandrel(state, max_params=MAX_PARAMS)
    except ImportError as e:
        raise _error(path, str(e)) from None
    except ValueError as e:
        raise _error(path, str(e)) from None
    found = (net.architecture, net.scale)
    if found != (info.hparams["architecture"], info.scale):
        raise _error(path, f"metadata says {info.hparams['architecture']} x{info.scale}, the weights are "
                           f"{found[0]} x{found[1]}")  # fmt: skip
    return net.to(dtype).eval(), info


def _error(path: Path, reason: str) -> ModelFileError:
    from gensr.messages import shown

    return ModelFileError(f"{shown(path)}: {reason}")


def _open(path: Path, read: Any) -> Any:
    """``read(f)`` on the safetensors file opened with ``safe_open``, errors named with the file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return read(f)
    except FileNotFoundError:
        raise _error(path, "no such model file") from None
    except IsADirectoryError:
        raise _error(path, "is a folder, not a model file") from None
    except MemoryError:
        raise _error(path, "out of memory while reading") from None
    except ModelFileError:
        raise
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        from gensr.messages import reason

        raise _error(path, f"not a readable safetensors file ({reason(e)})") from None


def _json(meta: dict[str, str], key: str, default: str | None = None) -> Any:
    text = meta.get(key, default)
    if text is None:
        raise ValueError(f"metadata {key!r} is missing")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"metadata {key!r} is not valid JSON ({str(e).splitlines()[0]})") from None


def read_header(path: str | Path) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The metadata and the tensor table (name -> dtype, shape, offsets) of a safetensors file.

    Parses the file's JSON header directly (8-byte little-endian length, then JSON), without
    torch or numpy, so that listing models starts fast.

    Raises:
        ModelFileError: missing file, or not a safetensors header.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(8)
            (n,) = struct.unpack("<Q", head) if len(head) == 8 else (-1,)
            if not 2 <= n <= MAX_HEADER:
                raise ValueError("no safetensors header")
            table = json.loads(f.read(n))
            if not isinstance(table, dict):
                raise ValueError("the header is not a JSON object")
    except FileNotFoundError:
        raise _error(path, "no such model file") from None
    except IsADirectoryError:
        raise _error(path, "is a folder, not a model file") from None
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as e:
        raise _error(path, f"not a readable safetensors file ({str(e).splitlines()[0][:200]})") from None
    meta = table.pop("__metadata__", None)
    return (meta if isinstance(meta, dict) else {}), table


def peek_model_info(path: str | Path) -> ModelInfo:
    """What a model file's header says (arch, hyperparameters, scale, info), for listing: no torch.

    Only the format is checked; :func:`read_model_info` checks the hyperparameters against the
    architecture (and needs torch), :func:`load_model` everything.

    Raises:
        ModelFileError: not a gensr model file, or unreadable metadata.
    """
    path = Path(path)
    meta = read_header(path)[0]
    if meta.get("gensr.format") != FORMAT_VERSION or not isinstance(meta.get("arch"), str):
        raise _error(
            path, "not a gensr model file (no gensr.format/arch metadata; gensr import converts others)"
        )
    try:
        hparams, info = _json(meta, "hparams"), _json(meta, "info", "{}")
        if not isinstance(hparams, dict) or not isinstance(info, dict):
            raise ValueError("metadata 'hparams' and 'info' must be JSON objects")
        return ModelInfo(arch=meta["arch"], hparams=hparams, scale=int(meta.get("scale", "")), info=info)
    except ValueError as e:
        raise _error(path, str(e)) from None


def parameter_count(path: str | Path) -> int:
    """Number of weights stored in a safetensors file, from its header (no torch needed)."""
    total = 0
    for entry in read_header(path)[1].values():
        n = 1
        for d in entry.get("shape", []) if isinstance(entry, dict) else []:
            n *= int(d)
        total += n
    return total


def read_safetensors(path: str | Path, max_values: int) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, after checking from its header that they hold at most
    ``max_values`` values and have valid shapes.

    Raises:
        ModelFileError: unreadable, invalid shapes, or more values; the message names the file.
    """
    path = Path(path)
    n = 0
    for name, entry in read_header(path)[1].items():
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            from gensr.messages import shown

            raise _error(path, f"tensor {shown(str(name))[:60]} has no valid shape")
        size = 1
        for d in shape:
            size *= d
        n += size
    if n > max_values:
        raise _error(path, f"declares {n / 1e6:.0f} M values, more than gensr's {max_values / 1e6:.0f} M")
    return _open(path, lambda f: {k: f.get_tensor(k) for k in f.keys()})
