"""gensr: generative image super-resolution (train, evaluate, upscale)."""

from __future__ import annotations

__version__ = "0.1.0"
