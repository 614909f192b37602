"""Import spandrel (third-party architectures) whether torchvision is present, absent or broken.

spandrel 0.4.2 imports torchvision when it is imported, but only two of its architectures use it:
LaMa (inpainting: ``InterpolationMode``, ``rotate``) and RestoreFormer (faces: ``normalize``), neither
of which gensr runs. PyPI's torchvision for a given torch is often a CUDA build that does not even
import beside a CPU torch (``operator torchvision::nms does not exist``), and installing it pulls a
CUDA torch. So gensr never imports torchvision itself: when spandrel cannot import a real one, a
stand-in module holding those three names (which raise one line when used) is registered first.

Install spandrel without its torchvision requirement: ``pip install --no-deps spandrel==0.4.2`` plus
``einops`` and ``typing_extensions`` (the ``spandrel`` extra of gensr lists these two).
"""

from __future__ import annotations

import enum
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

SPANDREL_VERSION = "0.4.2"
"""The spandrel release gensr is tested with (``scripts/setup-dev.sh`` installs it)."""

STANDIN_FLAG = "__gensr_standin__"
"""Attribute set on the stand-in ``torchvision`` module (how tests and ``gensr models`` tell)."""

INSTALL_HINT = f"pip install --no-deps spandrel=={SPANDREL_VERSION} einops typing_extensions"


class SpandrelMissing(ImportError):
    """spandrel is not installed (the message says how to install it)."""


class _InterpolationMode(enum.Enum):
    """Names of torchvision's ``InterpolationMode`` members (LaMa mentions them at import time)."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _needs_torchvision(*_: Any, **__: Any) -> Any:
    raise RuntimeError(
        "this architecture needs torchvision (LaMa inpainting, RestoreFormer faces), which gensr does not use"
    )


def standin_torchvision() -> dict[str, types.ModuleType]:
    """The stand-in modules ``torchvision``, ``.transforms`` and ``.transforms.functional``, by name."""
    root = types.ModuleType("torchvision", "gensr's stand-in: torchvision is missing or does not import")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = _InterpolationMode  # type: ignore[attr-defined]
    functional.rotate = _needs_torchvision  # type: ignore[attr-defined]
    functional.normalize = _needs_torchvision  # type: ignore[attr-defined]
    transforms.functional = functional  # type: ignore[attr-defined]
    root.transforms = transforms  # type: ignore[attr-defined]
    root.__path__ = []  # a package, so "import torchvision.transforms.functional" resolves in sys.modules
    transforms.__path__ = []
    for m in (root, transforms, functional):  # importlib.util.find_spec (torch.onnx asks) needs a spec
        m.__spec__ = importlib.machinery.ModuleSpec(m.__name__, None, is_package=m is not functional)
    setattr(root, STANDIN_FLAG, True)
    return {m.__name__: m for m in (root, transforms, functional)}


def _forget(prefix: str) -> None:
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]


def import_spandrel() -> types.ModuleType:
    """``import spandrel``, with the torchvision stand-in registered first where needed.

    A real torchvision is used when it imports; when it is absent, or importing it fails (a CUDA
    build beside a CPU torch), its half-imported modules are dropped and the stand-in takes its place.

    Raises:
        SpandrelMissing: spandrel is not installed (one line saying how to install it).
    """
    loaded = sys.modules.get("spandrel")
    if loaded is not None:
        return loaded
    if importlib.util.find_spec("spandrel") is None:
        raise SpandrelMissing(f"third-party architectures need spandrel: {INSTALL_HINT}")
    if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is None:
        sys.modules.update(standin_torchvision())
        return importlib.import_module("spandrel")
    try:
        return importlib.import_module("spandrel")
    except Exception as e:  # noqa: BLE001 - a broken torchvision fails in many ways (RuntimeError, OSError, ...)
        if not _from_torchvision(e):
            raise
    _forget("spandrel")
    _forget("torchvision")
    sys.modules.update(standin_torchvision())
    return importlib.import_module("spandrel")


def _from_torchvision(e: BaseException) -> bool:
    """Whether an import failure happened inside torchvision (its traceback passes through it)."""
    tb = e.__traceback__
    while tb is not None:
        if "torchvision" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return isinstance(e, ImportError) and (e.name or "").startswith("torchvision")


def using_standin() -> bool:
    """Whether the torchvision spandrel sees is gensr's stand-in."""
    return bool(getattr(sys.modules.get("torchvision"), STANDIN_FLAG, False))
