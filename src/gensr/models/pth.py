"""Import third-party PyTorch ``.pth`` weights (ESRGAN, Real-ESRGAN, BasicSR) as gensr generators.

Files are read with ``torch.load(weights_only=True)``: only tensors and plain containers are
unpickled, never arbitrary objects. The architecture and its hyperparameters are worked out from
key names and tensor shapes (:func:`detect_arch`), the network is built through
:func:`gensr.archs.build_generator` and the weights are loaded strictly.

Recognised layouts:
    * Real-ESRGAN / BasicSR ``RRDBNet`` (``conv_first``, ``body.N.rdb1.conv1``, ``conv_up1``, ...),
      x4, and x2 / x1 through pixel-unshuffle (``conv_first`` sees 4x / 16x the channels);
    * ESRGAN's own layouts of the same network: ``RRDB_trunk.N.RDB1.conv1``/``trunk_conv``/
      ``upconv1``/``HRconv`` and the "old arch" ``model.0``/``model.1.sub.N.RDB1.conv1.0``/...;
    * Real-ESRGAN ``SRVGGNetCompact`` (``body.0.weight`` ... ``body.{2n+2}.weight``);
    * BasicSR ``MSRResNet`` (``conv_first``, ``body.N.conv1``, ``upconv1``[, ``upconv2``],
      ``conv_hr``, ``conv_last``) and mmsr's ``recon_trunk``/``HRconv`` spelling of it.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gensr.messages import reason, shown
from gensr.models.trust import build_checked

WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "net_g", "model")
"""Keys under which training frameworks nest the generator's state dict, in order of preference."""

_ESRGAN_RENAMES = (
    (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv(\d)\.", r"conv_up\1."),
    (r"^HRconv\.", "conv_hr."),
)
_MMSR_RENAMES = (
    (r"^recon_trunk\.", "body."),
    (r"^HRconv\.", "conv_hr."),
)


def unwrap_state_dict(obj: Any) -> dict[str, Tensor]:
    """Peel framework wrappers off a loaded checkpoint and drop DataParallel ``module.`` prefixes.

    Args:
        obj: what ``torch.load`` returned.

    Returns:
        A flat ``name -> tensor`` dict.

    Raises:
        ValueError: when no dict of tensors is found.
    """
    for _ in range(3):  # e.g. {"state_dict": {"params_ema": {...}}}
        if not isinstance(obj, dict):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None or any(isinstance(v, Tensor) for v in obj.values()):
            break
        obj = inner
    if not isinstance(obj, dict) or not obj:
        raise ValueError("no state dict found (expected a dict of tensors, maybe under 'params_ema')")
    state = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    if not state:
        raise ValueError(f"no tensors found; top-level keys: {', '.join(map(str, list(obj)[:8]))}")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _rename(state: dict[str, Tensor], rules: tuple[tuple[str, str], ...]) -> dict[str, Tensor]:
    out = {}
    for k, v in state.items():
        for pattern, repl in rules:
            k = re.sub(pattern, repl, k)
        out[k] = v
    return out


def _old_esrgan_to_new(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """ESRGAN "old arch" (``model.N`` Sequential) x4 keys -> official RRDBNet keys."""
    if "model.10.weight" not in state or "model.13.weight" in state:
        raise ValueError("only the x4 layout of ESRGAN's old architecture is supported")
    nb = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", k)))
    fixed = {"model.0.": "conv_first.", f"model.1.sub.{nb}.": "conv_body.", "model.3.": "conv_up1.",
             "model.6.": "conv_up2.", "model.8.": "conv_hr.", "model.10.": "conv_last."}  # fmt: skip
    out = {}
    for k, v in state.items():
        m = re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", k)
        if m:
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = v
            continue
        prefix = next((p for p in fixed if k.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"unexpected key {k!r} in an ESRGAN old-arch file")
        out[fixed[prefix] + k[len(prefix) :]] = v
    return out


def normalize_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename the ESRGAN / mmsr spellings of RRDBNet and MSRResNet to the official BasicSR names."""
    if "model.0.weight" in state and "model.1.sub.0.RDB1.conv1.0.weight" in state:
        return _old_esrgan_to_new(state)
    if "RRDB_trunk.0.RDB1.conv1.weight" in state:
        return _rename(state, _ESRGAN_RENAMES)
    if "recon_trunk.0.conv1.weight" in state:
        return _rename(state, _MMSR_RENAMES)
    return state


def _count(state: dict[str, Tensor], pattern: str) -> int:
    """Number of distinct integers captured by ``pattern`` (group 1) over the keys."""
    found = {int(m.group(1)) for k in state if (m := re.match(pattern, k))}
    if found and found != set(range(len(found))):
        raise ValueError(f"blocks matching {pattern!r} are not numbered 0..n-1: {sorted(found)}")
    return len(found)


def _conv(state: dict[str, Tensor], key: str) -> Tensor:
    """``state[key]``, checked to be a convolution weight ``(out, in, kh, kw)`` with no empty side."""
    w = state[key]
    if w.ndim != 4 or 0 in w.shape:
        raise ValueError(f"{key} has shape {tuple(w.shape)}, not a convolution weight (out, in, kh, kw)")
    return w


def _detect_rrdbnet(state: dict[str, Tensor]) -> dict[str, Any]:
    if "conv_up3.weight" in state:
        raise ValueError("RRDBNet with a third upsampling stage (x8) is not supported")
    if "conv_up2.weight" not in state:
        raise ValueError("RRDBNet without conv_up2 is not an official layout")
    first = _conv(state, "conv_first.weight")
    num_out_ch = int(_conv(state, "conv_last.weight").shape[0])
    in_ch = int(first.shape[1])
    unshuffle = {num_out_ch: 4, 4 * num_out_ch: 2, 16 * num_out_ch: 1}
    if in_ch not in unshuffle:
        raise ValueError(
            f"conv_first takes {in_ch} channels for {num_out_ch} output channels: "
            "not x4, nor x2/x1 pixel-unshuffle"
        )
    scale = unshuffle[in_ch]
    return {
        "num_in_ch": num_out_ch if scale != 4 else in_ch,
        "num_out_ch": num_out_ch,
        "scale": scale,
        "num_feat": int(first.shape[0]),
        "num_block": _count(state, r"body\.(\d+)\.rdb1\.conv1\.weight$"),
        "num_grow_ch": int(_conv(state, "body.0.rdb1.conv1.weight").shape[0]),
        "upsampler": "nearest",
    }


def _detect_compact(state: dict[str, Tensor]) -> dict[str, Any]:
    convs = sorted(
        int(m.group(1))
        for k, v in state.items()
        if (m := re.match(r"body\.(\d+)\.weight$", k)) and v.ndim == 4
    )
    if not convs:
        raise ValueError("no 4-D convolution weights under body.N.weight")
    last = convs[-1]
    num_conv = (last - 2) // 2
    if convs != list(range(0, last + 1, 2)) or last != 2 * num_conv + 2 or num_conv < 0:
        raise ValueError(f"conv layers at body indices {convs} do not follow conv, act, ..., conv")
    first = _conv(state, "body.0.weight")
    num_in_ch = int(first.shape[1])
    out_planes = int(_conv(state, f"body.{last}.weight").shape[0])
    scale = round((out_planes / num_in_ch) ** 0.5)
    if scale < 1 or num_in_ch * scale * scale != out_planes:
        raise ValueError(f"last conv has {out_planes} channels: not {num_in_ch} x scale^2")
    # only PReLU has weights; ReLU vs LeakyReLU cannot be told apart and ReLU is assumed
    act_type = "prelu" if "body.1.weight" in state else "relu"
    return {
        "num_in_ch": num_in_ch,
        "num_out_ch": num_in_ch,
        "num_feat": int(first.shape[0]),
        "num_conv": num_conv,
        "scale": scale,
        "act_type": act_type,
        "upsampler": "pixelshuffle",
    }


def _detect_srresnet(state: dict[str, Tensor]) -> dict[str, Any]:
    num_feat = int(_conv(state, "conv_first.weight").shape[0])
    if "upconv2.weight" in state:
        scale = 4
    else:
        ratio = int(_conv(state, "upconv1.weight").shape[0]) // num_feat
        scale = {4: 2, 9: 3}.get(ratio, 0)
        if not scale:
            raise ValueError(f"upconv1 gives {ratio}x the features: not a x2/x3 pixel shuffle")
    num_in_ch = int(state["conv_first.weight"].shape[1])
    return {
        "num_in_ch": num_in_ch,
        "num_out_ch": int(_conv(state, "conv_last.weight").shape[0]),
        "num_feat": num_feat,
        "num_block": _count(state, r"body\.(\d+)\.conv1\.weight$"),
        "scale": scale,
        "batch_norm": "body.0.bn1.weight" in state,
        "upsampler": "pixelshuffle",
    }


def detect_arch(state_dict: dict[str, Tensor]) -> tuple[str, dict[str, Any]]:
    """Work out the gensr architecture and hyperparameters of an (unwrapped) state dict.

    Args:
        state_dict: ``name -> tensor`` in one of the official layouts (see the module docstring);
            run :func:`normalize_keys` first for the ESRGAN / mmsr spellings.

    Returns:
        ``(arch, hparams)`` ready for :func:`gensr.archs.build_generator`.

    Raises:
        ValueError: the layout is not recognised, with the reason.
    """
    keys = set(state_dict)
    if {"conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight"} <= keys:
        return "rrdbnet", _detect_rrdbnet(state_dict)
    if {"conv_first.weight", "body.0.conv1.weight", "upconv1.weight", "conv_last.weight"} <= keys:
        return "srresnet", _detect_srresnet(state_dict)
    if "body.0.weight" in keys and all(re.match(r"body\.\d+\.(weight|bias)$", k) for k in keys):
        return "compact", _detect_compact(state_dict)
    sample = ", ".join(sorted(keys)[:6])
    raise ValueError(
        f"unknown layout (not RRDBNet, SRVGGNetCompact or MSRResNet); {len(keys)} keys, e.g. {sample}"
    )


def load_pth(path: str | Path) -> dict[str, Tensor]:
    """Read a ``.pth`` safely (``weights_only=True``) and return its unwrapped state dict.

    Raises:
        ValueError: unreadable file, a pickle holding objects other than tensors and containers,
            or no state dict inside; the message names the file.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols; refusals are errors below
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{shown(path)}: no such file") from None
    except pickle.UnpicklingError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        told = next((ln for ln in lines if ln.startswith(("Unsupported", "Trying to"))), None)
        first = shown(told or (lines[0] if lines else type(e).__name__))[:200]
        raise ValueError(
            f"{shown(path)}: refused: the file holds Python objects other than tensors, which gensr does "
            f"not unpickle ({first})"
        ) from None
    except Exception as e:  # corrupt zip, truncated file, not a torch file at all
        raise ValueError(
            f"{shown(path)}: not a readable PyTorch file ({type(e).__name__}: {reason(e)})"
        ) from None
    try:
        return unwrap_state_dict(obj)
    except ValueError as e:
        raise ValueError(f"{shown(path)}: {e}") from None


def import_pth(path: str | Path) -> nn.Module:
    """Load a third-party ``.pth`` as a gensr generator, architecture detected from its weights.

    Args:
        path: an ESRGAN / Real-ESRGAN / BasicSR generator file.

    Returns:
        The generator (a :data:`gensr.archs.GENERATORS` class) in eval mode on the CPU, float32.

    Raises:
        ValueError: the file is unsafe, unreadable, or its layout unknown; the message names the
            file and the reason.
    """
    state = load_pth(path)
    try:
        state = normalize_keys(state)
        arch, hparams = detect_arch(state)
        return build_checked(arch, hparams, state)  # shapes and sizes checked before allocating
    except KeyError as e:
        raise ValueError(f"{shown(path)}: incomplete weights, missing {e}") from None
    except (ValueError, RuntimeError, IndexError) as e:
        raise ValueError(f"{shown(path)}: {str(e).splitlines()[0]}") from None
