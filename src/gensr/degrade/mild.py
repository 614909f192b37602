"""A mild, one-round degradation: what phones and the web mostly give.

Light optical blur, a downscale with a random interpolation, a little sensor noise and one JPEG
at a common quality -- no second round, no sinc ringing, no heavy noise. Real-ESRGAN's second-order
model (:class:`gensr.degrade.RealisticConfig`) is the heavy end of real inputs; a model judged on
that alone over-restores ordinary photos, so evaluation and training use this track beside it.

``sample_mild(cfg, B, generator)`` draws every random choice; ``apply_mild(hr, params, cfg)`` is then
deterministic (the same split as the other degradations).
"""

from __future__ import annotations

import torch

from gensr.degrade.config import MildConfig, MildParams
from gensr.degrade.kernels import filter2d, gaussian_kernel, rand_choice, rand_uniform
from gensr.degrade.ops import gaussian_noise, jpeg, resize_to

__all__ = ["sample_mild", "apply_mild"]


def sample_mild(cfg: MildConfig, batch: int, generator: torch.Generator) -> MildParams:
    """Draw ``batch`` sets of parameters from the CPU ``generator``."""
    rows = []
    for _ in range(batch):
        blur = rand_uniform(generator, 0.0, 1.0) < cfg.blur_prob
        sigma = rand_uniform(generator, *cfg.blur_sigma)
        mode = rand_choice(generator, cfg.resize_prob)
        noisy = rand_uniform(generator, 0.0, 1.0) < cfg.noise_prob
        level = rand_uniform(generator, *cfg.noise_range)
        gray = rand_uniform(generator, 0.0, 1.0) < cfg.gray_noise_prob
        use_jpeg = rand_uniform(generator, 0.0, 1.0) < cfg.jpeg_prob
        q = int(torch.randint(cfg.jpeg_range[0], cfg.jpeg_range[1] + 1, (), generator=generator))
        seed = int(torch.randint(2**62, (), generator=generator))
        rows.append((sigma if blur else 0.0, mode, level if noisy else 0.0, gray, q if use_jpeg else 0, seed))
    cols = list(zip(*rows, strict=True))
    return MildParams(
        blur_sigma=torch.tensor(cols[0], dtype=torch.float64),
        resize_mode=torch.tensor(cols[1], dtype=torch.int64),
        noise_sigma=torch.tensor(cols[2], dtype=torch.float64),
        gray_noise=torch.tensor(cols[3], dtype=torch.bool),
        jpeg_quality=torch.tensor(cols[4], dtype=torch.int64),
        noise_seed=torch.tensor(cols[5], dtype=torch.int64),
    )


def _blur_size(sigma: float) -> int:
    return 2 * max(1, int(3 * sigma + 0.999)) + 1


def _one(x: torch.Tensor, p: MildParams, i: int, lr_size: tuple[int, int]) -> torch.Tensor:
    sigma = float(p.blur_sigma[i])
    if sigma > 0:
        x = filter2d(x, gaussian_kernel(_blur_size(sigma), sigma))
    x = resize_to(x, lr_size, int(p.resize_mode[i]))
    level = float(p.noise_sigma[i])
    if level > 0:
        g = torch.Generator(device=x.device).manual_seed(int(p.noise_seed[i]))
        x = (x + gaussian_noise(x, level, bool(p.gray_noise[i]), g)).clamp(0, 1)
    q = int(p.jpeg_quality[i])
    return jpeg(x, q) if q else x


def apply_mild(hr: torch.Tensor, params: MildParams, cfg: MildConfig) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1], H and W multiples of ``cfg.scale`` -> (B, 3, H/s, W/s) float32 in [0, 1]
    (not yet rounded to 8-bit levels: :func:`gensr.degrade.apply` rounds every kind the same way)."""
    b, _, h, w = hr.shape
    if params.batch != b:
        raise ValueError("params do not match a mild degradation of this batch")
    lr_size = (h // cfg.scale, w // cfg.scale)
    with torch.no_grad():
        return torch.cat([_one(hr[i : i + 1], params, i, lr_size) for i in range(b)])
