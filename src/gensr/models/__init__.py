"""Model files: safetensors + metadata (:mod:`~gensr.models.modelfile`), the built-in models and the
user cache (:mod:`~gensr.models.builtin`), third-party weights (:mod:`~gensr.models.thirdparty`: gensr's own
layouts through :mod:`~gensr.models.pth`, any other architecture spandrel detects through
:mod:`~gensr.models.spandrel_net`; :mod:`~gensr.models.ncnn` for ncnn graphs), read through one
:func:`load_model` (:mod:`~gensr.models.loader`), and exports
(:mod:`~gensr.models.ncnn_export`, :mod:`~gensr.models.onnx_export`; imported on use).

Importing this package does not import torch (``gensr models`` only reads file headers);
:func:`load_model` and :func:`save_model` import it when called."""

from __future__ import annotations

from gensr.models.builtin import (
    BUILTIN_MODELS,
    DEFAULT_MODEL,
    WEIGHTS_DIR,
    cache_dir,
    list_models,
    resolve_model,
)
from gensr.models.loader import load_model, read_model_info
from gensr.models.modelfile import (
    FORMAT_VERSION,
    ModelFileError,
    ModelInfo,
    parameter_count,
    peek_model_info,
    save_model,
)

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "FORMAT_VERSION",
    "WEIGHTS_DIR",
    "ModelFileError",
    "ModelInfo",
    "cache_dir",
    "list_models",
    "load_model",
    "parameter_count",
    "peek_model_info",
    "read_model_info",
    "resolve_model",
    "save_model",
]
