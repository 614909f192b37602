"""The one way in to a model file of any kind: a gensr model file (:mod:`gensr.models.modelfile`) or
third-party weights (:mod:`gensr.models.thirdparty`: ``.pth``/``.ckpt``/``.pt`` state dicts, plain
safetensors), told apart by suffix and header."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gensr.models import modelfile
from gensr.models.modelfile import ModelInfo
from gensr.models.thirdparty import is_third_party, load_third_party

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["load_model", "read_model_info"]


def load_model(path: str | Path, *, dtype: torch.dtype | None = None) -> tuple[nn.Module, ModelInfo]:
    """Build the network of a model file in eval mode on the CPU (in ``dtype``, default float32).

    gensr model files as :func:`gensr.models.modelfile.load_model` reads them; third-party weights as
    :func:`gensr.models.thirdparty.load_third_party` does (gensr's own layouts, else spandrel).

    Raises:
        ModelFileError: one line naming the file and what is wrong with it.
    """
    if not is_third_party(path):
        return modelfile.load_model(path, dtype=dtype)
    import torch

    net, info = load_third_party(path)
    return net.to(torch.float32 if dtype is None else dtype).eval(), info


def read_model_info(path: str | Path) -> ModelInfo:
    """What a model file holds: a gensr file's checked metadata (its header only), or for third-party
    weights what building them finds."""
    return load_third_party(path)[1] if is_third_party(path) else modelfile.read_model_info(path)
