"""Alpha channels: upscaled apart from the colour, with no halos at transparent edges.

The network sees straight (not premultiplied) RGB. The colour under fully transparent pixels is
arbitrary, so :func:`fill_transparent` replaces it with colour bled in from visible neighbours
before upscaling; :func:`upscale_alpha` then upscales alpha by bicubic interpolation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def fill_transparent(rgb: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Replace the colour of fully transparent pixels by colour bled in from visible ones.

    The RGB under alpha 0 is arbitrary (often black or white). Fed to the network it makes a
    false edge at every outline, which the upscaled, soft alpha edge then shows as a dark or
    light halo. Push-pull filling (average down a pyramid, interpolate back up) gives those
    pixels the colours of their nearest visible neighbours, so outlines have no false edge.
    Visible pixels (alpha > 0) are unchanged.

    Args:
        rgb: (B, 3, H, W) straight colour.
        alpha: (B, 1, H, W) in [0, 1].

    Returns:
        (B, 3, H, W).
    """
    known = (alpha > 0).to(rgb.dtype)
    if bool(known.all()) or not bool(known.any()):
        return rgb
    levels = [(rgb * known, known)]
    while max(levels[-1][1].shape[-2:]) > 1:
        c, k = levels[-1]
        levels.append((F.avg_pool2d(c, 2, ceil_mode=True), F.avg_pool2d(k, 2, ceil_mode=True)))
    c, k = levels[-1]
    filled = c / k.clamp_min(1e-12)
    for c, k in reversed(levels[:-1]):
        up = F.interpolate(filled, size=c.shape[-2:], mode="bilinear", align_corners=False)
        filled = torch.where(k > 0, c / k.clamp_min(1e-12), up)
    return torch.where(alpha > 0, rgb, filled)


def upscale_alpha(alpha: torch.Tensor, scale: int, rows: tuple[int, int] | None = None) -> torch.Tensor:
    """Upscale a straight alpha channel by bicubic interpolation, clamped to [0, 1].

    Bicubic is the default because it is faithful: it invents no texture in a mask the network
    was never trained on, and it costs no second network pass. Hard edges come out soft, like
    anti-aliasing; with :func:`fill_transparent` the colour under a soft edge is the object's
    own, so there is no halo. :class:`~gensr.infer.upscaler.Upscaler` with ``alpha="net"`` runs the
    network instead.

    Args:
        alpha: (B, 1, H, W) in [0, 1].
        scale: integer factor.
        rows: only these output rows ``[r0, r1)``, computed from the input rows they need (2 above
            and 2 below, bicubic's reach), so a band costs its own size; the same values as the
            rows of the whole upscale (bit for bit when ``1/scale`` is exact in floating point).

    Returns:
        (B, 1, H*scale, W*scale) in [0, 1], or (B, 1, r1 - r0, W*scale) for ``rows``.
    """
    b, _, h, w = alpha.shape
    r0, r1 = (0, h * scale) if rows is None else rows
    if bool((alpha == 1).all()):
        return torch.ones(b, 1, r1 - r0, w * scale)
    # output row r samples input y = (r + 0.5) / scale - 0.5 with taps floor(y) - 1 .. floor(y) + 2
    lo = max(0, math.floor((r0 + 0.5) / scale - 0.5) - 1)
    hi = min(h, math.floor((r1 - 0.5) / scale - 0.5) + 3)
    up = F.interpolate(alpha[..., lo:hi, :].float(), scale_factor=scale, mode="bicubic", align_corners=False)
    return up[..., r0 - lo * scale : r1 - lo * scale, :].clamp_(0, 1)
