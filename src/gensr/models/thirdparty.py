"""Third-party weight files (``.pth``, ``.ckpt``, ``.pt`` state dicts, plain ``.safetensors``) as networks.

The file is read by gensr, never by a library that might run code: ``torch.load(weights_only=True)``
for pickles (:func:`gensr.models.pth.load_pth`), the safetensors header then its tensors for
safetensors. TorchScript archives (which carry code) are refused. The tensors' total size is held to
:data:`gensr.models.trust.MAX_PARAMS` from the header (safetensors) or as read (pickles). gensr's
own layouts (RRDBNet, SRVGGNetCompact, MSRResNet: :mod:`gensr.models.pth`) are built as gensr
generators; any other state dict goes to spandrel (:func:`gensr.models.spandrel_net.build_spandrel`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from gensr.messages import shown
from gensr.models.modelfile import ModelFileError, ModelInfo, read_header, read_safetensors

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = ["PICKLE_SUFFIXES", "is_third_party", "load_third_party", "read_state_dict"]

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt")
"""Suffixes of PyTorch pickles (read with ``weights_only=True``)."""


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a third-party weight file, read without running code, size bounded.

    Raises:
        ModelFileError: a TorchScript archive, an unsafe or unreadable pickle, a corrupt safetensors
            file, no tensors, or more than :data:`~gensr.models.trust.MAX_PARAMS` values; one line
            naming the file.
    """
    from gensr.models.trust import MAX_PARAMS

    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        state = read_safetensors(path, MAX_PARAMS)
    else:
        if _is_torchscript(path):
            raise ModelFileError(
                f"{shown(path)}: refused: a TorchScript archive holds code, which gensr does not run "
                "(save the model's state_dict() as .pth or .safetensors)"
            )
        from gensr.models.pth import load_pth

        try:
            state = load_pth(path)
        except ValueError as e:
            raise ModelFileError(str(e)) from None
        n = sum(v.numel() for v in state.values())
        if n > MAX_PARAMS:
            raise ModelFileError(
                f"{shown(path)}: holds {n / 1e6:.0f} M values, more than gensr's {MAX_PARAMS / 1e6:.0f} M"
            )
    if not state:
        raise ModelFileError(f"{shown(path)}: holds no tensors")
    return state


def load_third_party(path: str | Path) -> tuple[nn.Module, ModelInfo]:
    """Build the network of a third-party weight file: a gensr generator when it is one of gensr's own
    layouts, else whatever spandrel's core detects.

    Returns:
        ``(net, info)``: the network in eval mode on the CPU, float32; ``info.arch`` is a gensr
        architecture or ``"spandrel"`` (``info.hparams["architecture"]`` then names spandrel's).

    Raises:
        ModelFileError: unreadable or unsafe file, unknown layout (the message lists the architectures
            gensr loads), or weights that do not fit; one line naming the file.
    """
    from gensr.models.trust import MAX_PARAMS

    path = Path(path)
    state = read_state_dict(path)
    own = _gensr_own(state)
    if isinstance(own, tuple):
        return own[0], ModelInfo(
            own[1], dict(own[0].hparams), int(own[0].hparams["scale"]), {"source": path.name}
        )
    from gensr.models.spandrel_net import build_spandrel

    try:
        net = build_spandrel(state, max_params=MAX_PARAMS)
    except ValueError as e:
        reason = own if own and str(e).startswith("not an architecture") else str(e)
        raise ModelFileError(f"{shown(path)}: {reason}") from None
    except ImportError as e:  # spandrel missing
        raise ModelFileError(f"{shown(path)}: not one of gensr's own layouts; {e}") from None
    info = ModelInfo("spandrel", dict(net.hparams), net.scale, {"source": path.name})
    return net, info


def _gensr_own(state: dict[str, Tensor]) -> tuple[nn.Module, str] | str:
    """``(net, arch)`` when ``state`` is one of gensr's own layouts, else why not ("" when unknown)."""
    from gensr.models.pth import detect_arch, normalize_keys
    from gensr.models.trust import build_checked

    try:
        fixed = normalize_keys(state)
        arch, hparams = detect_arch(fixed)
    except (ValueError, KeyError, IndexError):
        return ""  # not a layout gensr builds itself: spandrel's turn
    try:
        return build_checked(arch, hparams, fixed), arch
    except (ValueError, KeyError, RuntimeError, IndexError) as e:
        return str(e).splitlines()[0]


def _is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding ``code/`` or ``constants.pkl``)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()[:10_000]
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return any(n.split("/", 1)[-1].startswith(("code/", "constants.pkl")) for n in names)


def is_third_party(path: str | Path) -> bool:
    """Whether ``path`` is a third-party weight file: a PyTorch pickle, or safetensors without gensr
    metadata."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return False
    return read_header(path)[0].get("gensr.format") is None
