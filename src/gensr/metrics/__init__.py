"""Image quality: PSNR and SSIM with the field's conventions (:mod:`gensr.metrics.fidelity`), LPIPS
(:mod:`gensr.metrics.lpips`) and the pretrained backbones it and the perceptual loss stand on
(:mod:`gensr.metrics.backbones`); the periodic-artefact and colour-shift measures
(:mod:`gensr.metrics.artefacts`)."""

from __future__ import annotations

from gensr.metrics.fidelity import psnr, rgb_to_y, ssim

__all__ = ["psnr", "rgb_to_y", "ssim"]
