"""Where model files are found: the built-in models shipped in the package and the user cache."""

from __future__ import annotations

from pathlib import Path

from gensr.base.cache import cache_dir
from gensr.models.modelfile import ModelFileError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
"""Model files shipped inside the package."""

BUILTIN_MODELS: dict[str, str] = {
    "gensr-x4": "gensr-x4.safetensors",
    "gensr-x4-clean": "gensr-x4-clean.safetensors",
    "gensr-x4-fidelity": "gensr-x4-fidelity.safetensors",
    "gensr-x2": "gensr-x2.safetensors",
}
"""Built-in model name -> file under :data:`WEIGHTS_DIR` (how each was made: ``docs/models.md``)."""

ALIASES: dict[str, str] = {
    "gensr-compact-x4": "gensr-x4-fidelity",  # the L1 placeholder that shipped first, replaced by this
}
"""Former built-in names -> the built-in model that replaced them."""

DEFAULT_MODEL = "gensr-x4"


def resolve_model(name_or_path: str | Path | None = None) -> Path:
    """Find a model file: an existing path, a built-in name, or a name in the user model cache.

    ``None`` gives the built-in default model.
    """
    name = str(name_or_path) if name_or_path is not None else DEFAULT_MODEL
    path = Path(name)
    if path.is_file():
        return path
    name = ALIASES.get(name, name)
    if name in BUILTIN_MODELS:
        return WEIGHTS_DIR / BUILTIN_MODELS[name]
    cached = cache_dir() / "models" / f"{name}.safetensors"
    if cached.is_file():
        return cached
    known = ", ".join(sorted(list_models()))
    raise ModelFileError(f"{name}: no such model file or model name (known models: {known})")


def list_models() -> dict[str, Path]:
    """Built-in models and models in the user cache, name -> file."""
    found = {name: WEIGHTS_DIR / file for name, file in BUILTIN_MODELS.items()}
    user = cache_dir() / "models"
    if user.is_dir():
        found.update({p.stem: p for p in sorted(user.glob("*.safetensors"))})
    return found
