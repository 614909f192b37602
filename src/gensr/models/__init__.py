"""Model files: safetensors + metadata (:mod:`~gensr.models.modelfile`), the built-in models and the
user cache (:mod:`~gensr.models.builtin`), imports of third-party weights (:mod:`~gensr.models.pth`
for PyTorch ``.pth`` files, :mod:`~gensr.models.ncnn` for ncnn graphs), and exports
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
from gensr.models.modelfile import (
    FORMAT_VERSION,
    ModelFileError,
    ModelInfo,
    load_model,
    parameter_count,
    peek_model_info,
    read_model_info,
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
