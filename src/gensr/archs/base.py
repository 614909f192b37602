"""Shared pieces for architectures: hyperparameter capture and upsampler choice."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

F = TypeVar("F", bound=Callable[..., None])

UPSAMPLERS = ("pixelshuffle", "nearest", "deconv")
"""Ways a generator may enlarge its features: pixel shuffle, nearest + conv, transposed conv."""


def store_hparams(init: F) -> F:
    """Decorate a keyword-only ``__init__`` so the module records its full hyperparameters.

    After construction ``module.hparams`` is a plain dict of every keyword argument, defaults
    filled in, which is exactly what :func:`gensr.archs.build_generator` needs to rebuild it.
    """
    sig = inspect.signature(init)
    for p in list(sig.parameters.values())[1:]:
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{init.__qualname__}: parameter {p.name!r} must be keyword-only")

    @functools.wraps(init)
    def wrapper(self: nn.Module, **kwargs: Any) -> None:
        bound = sig.bind(self, **kwargs)
        bound.apply_defaults()
        init(self, **kwargs)
        self.hparams = {k: v for k, v in bound.arguments.items() if k != "self"}

    return wrapper  # type: ignore[return-value]
