"""Loss functions of GAN super-resolution: pixel, grid, perceptual (VGG) and adversarial.

Functions first; :class:`PerceptualLoss` is a thin module only because it owns a frozen VGG.
No loss here carries a weight: the weights α, β, γ are multiplied in
:func:`gensr.train.train_step_g`, where a reader sees them.

Images are ``(B, 3, H, W)`` RGB in [0, 1]; discriminator outputs are raw logits of any shape.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "PIXEL_LOSSES",
    "ADVERSARIAL_LOSSES",
    "pixel_loss",
    "charbonnier_loss",
    "grid_loss",
    "vgg_layer_names",
    "PerceptualLoss",
    "d_loss",
    "g_loss",
]

PIXEL_LOSSES = ("l1", "mse", "charbonnier")
ADVERSARIAL_LOSSES = ("vanilla", "lsgan", "ragan", "hinge")

_MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics the VGG weights expect
_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------- pixel


def charbonnier_loss(sr: Tensor, hr: Tensor, eps: float = 1e-3) -> Tensor:
    """Mean of ``sqrt((sr - hr)^2 + eps^2)``, a smooth L1 (LapSRN).

    >>> round(charbonnier_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).item(), 6)
    0.001
    """
    return torch.sqrt((sr - hr) ** 2 + eps * eps).mean()


def pixel_loss(kind: str, sr: Tensor, hr: Tensor) -> Tensor:
    """Pixel loss between ``sr`` and ``hr`` (same shape), averaged over all elements.

    Args:
        kind: ``"l1"``, ``"mse"`` or ``"charbonnier"``.
        sr: network output.
        hr: target.

    Returns:
        A scalar tensor.
    """
    if kind == "l1":
        return F.l1_loss(sr, hr)
    if kind == "mse":
        return F.mse_loss(sr, hr)
    if kind == "charbonnier":
        return charbonnier_loss(sr, hr)
    raise ValueError(f"pixel loss must be one of {', '.join(PIXEL_LOSSES)}, got {kind!r}")


GRID_CELLS = 4
"""Side, in periods, of the windows :func:`grid_loss` compares phases in (16 px at x4)."""


def grid_loss(sr: Tensor, ref: Tensor, period: int, cells: int = GRID_CELLS) -> Tensor:
    """How far the residual ``sr - ref`` differs between the ``period**2`` phases of the upsampling grid.

    A pixel-shuffle network that draws a dotted grid adds an offset to the output pixels of one
    phase ``(y mod p, x mod p)`` that the others do not get, with a size and sign that may follow
    the content (a perceptual term's grid does: its batch mean is near 0). So the phases are
    compared locally: in every window of ``cells x cells`` periods, the mean residual of each phase
    minus the mean of all phases there; the loss is the mean square of that deviation (per channel,
    window and image), the residual's energy at the period-``p`` frequencies, which a teacher
    without a grid does not have. Natural content cancels (it is in ``ref`` too). Squared, so the
    honest error of a small window (its noise) adds a constant and the push against a grid of
    amplitude ``a`` is ``2a`` however noisy the residual; the values are small (a 2-level dot every
    4 px: 3.6e-6), hence weights in the hundreds.

    Args:
        sr: network output, ``(B, C, H, W)``; cropped (bottom/right) to whole windows.
        ref: what ``sr`` should look like (the pixel target or a teacher's output), same shape.
        period: the upsampling period (the model's scale), >= 2.
        cells: window side in periods (at most the image's; then one window).

    Returns:
        A scalar tensor, 0 when every phase has the same mean residual in every window.

    >>> sr = torch.zeros(1, 1, 8, 8); sr[..., ::2, ::2] = 0.4  # a dot every 2 px: deviations .3, -.1 x 3
    >>> round(grid_loss(sr, torch.zeros_like(sr), 2).item(), 4)
    0.03
    """
    if period < 2:
        raise ValueError(f"grid_loss: period must be >= 2, got {period}")
    b, c, h, w = sr.shape
    k = max(1, min(cells, h // period, w // period))
    h, w = h // (period * k) * period * k, w // (period * k) * period * k
    r = (sr[..., :h, :w] - ref[..., :h, :w]).reshape(b, c, h // period, period, w // period, period)
    r = r.permute(0, 1, 3, 5, 2, 4).reshape(b, c * period * period, h // period, w // period)
    phases = F.avg_pool2d(r, k).view(b, c, period * period, -1)  # (B, C, p*p, windows)
    return (phases - phases.mean(dim=2, keepdim=True)).square().mean()


# ---------------------------------------------------------------- perceptual


def vgg_layer_names(features: nn.Sequential) -> dict[str, int]:
    """Name -> index of every output in a torchvision-layout VGG ``features``.

    ``convB_I`` is the I-th conv of block B (its output before the ReLU), ``reluB_I`` the ReLU
    after it, ``poolB`` the max-pool closing block B. VGG16's last conv is ``conv5_3``, VGG19's ``conv5_4``.
    """
    names: dict[str, int] = {}
    block, conv = 1, 0
    for i, m in enumerate(features):
        if isinstance(m, nn.Conv2d):
            conv += 1
            names[f"conv{block}_{conv}"] = i
        elif isinstance(m, nn.ReLU):
            names[f"relu{block}_{conv}"] = i
        elif isinstance(m, nn.MaxPool2d):
            names[f"pool{block}"] = i
            block, conv = block + 1, 0
    return names


class PerceptualLoss(nn.Module):
    """Weighted distance between VGG features of ``sr`` and ``hr`` (Johnson et al.; SRGAN; ESRGAN).

    ``loss = sum_l w_l * criterion(f_l(norm(sr)), f_l(norm(hr)))`` with ImageNet normalization.
    The VGG is frozen (no parameter requires grad) and stays in eval mode; gradients flow to ``sr``.

    Args:
        features: a torchvision-layout VGG ``features`` (e.g. :func:`gensr.metrics.backbones.vgg16_features`).
        layers: layer name (see :func:`vgg_layer_names`) -> weight, e.g. ``{"conv5_3": 1.0}``.
        criterion: ``"l1"`` or ``"mse"``.
        blind_period: 0, or the upsampling period ``p``: both images are first averaged over ``p x p``
            pixels (stride 1), a filter whose response is exactly 0 at the frequencies of a
            period-``p`` grid, so the term can neither see such a grid nor ask the network for one
            (its gradient has no energy there). Finer detail above the period still counts.
    """

    def __init__(
        self, features: nn.Sequential, layers: dict[str, float], criterion: str = "l1", blind_period: int = 0
    ) -> None:
        super().__init__()
        if blind_period < 0 or blind_period == 1:
            raise ValueError(f"blind_period must be 0 or >= 2, got {blind_period}")
        self.blind_period = blind_period
        names = vgg_layer_names(features)
        unknown = [n for n in layers if n not in names]
        if unknown:
            known = ", ".join(n for n in names if re.match(r"conv", n))
            raise ValueError(
                f"unknown VGG layer(s) {', '.join(unknown)}; this VGG has {known} (and relu/pool)"
            )
        if criterion not in ("l1", "mse"):
            raise ValueError(f"perceptual criterion must be 'l1' or 'mse', got {criterion!r}")
        self.taps = {names[n]: float(w) for n, w in layers.items()}
        last = max(self.taps) if self.taps else -1
        # a private copy cut after the last tap, with non-inplace ReLUs (a tap before an
        # activation must not be overwritten by it)
        mods = [nn.ReLU(inplace=False) if isinstance(m, nn.ReLU) else m for m in list(features)[: last + 1]]
        self.vgg = nn.Sequential(*mods).eval().requires_grad_(False)
        self.criterion = criterion
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """The VGG stays in eval mode whatever its parent does."""
        return super().train(False)

    def _features(self, x: Tensor) -> dict[int, Tensor]:
        p = self.blind_period
        if p:  # (B, 3, H, W) -> (B, 3, H - p + 1, W - p + 1): a p x p box, zero at period p
            x = F.avg_pool2d(x, p, stride=1)
        h = (x - self.mean) / self.std
        out = {}
        for i, m in enumerate(self.vgg):
            h = m(h)
            if i in self.taps:
                out[i] = h
        return out

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        """Scalar loss; ``sr``, ``hr``: ``(B, 3, H, W)`` in [0, 1]. ``hr`` gets no gradient."""
        fs = self._features(sr)
        with torch.no_grad():
            fh = self._features(hr)
        dist = F.l1_loss if self.criterion == "l1" else F.mse_loss
        total = sr.new_zeros(())
        for i, w in self.taps.items():
            total = total + w * dist(fs[i].float(), fh[i].float())
        return total


# ---------------------------------------------------------------- adversarial


def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def d_loss(kind: str, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """Discriminator loss terms on logits of real (``hr``) and fake (detached ``sr``) images.

    Args:
        kind: ``"vanilla"`` (BCE, SRGAN), ``"lsgan"`` (least squares to 1/0), ``"ragan"``
            (relativistic average, ESRGAN: each side against the other's detached mean, halved),
            ``"hinge"`` (``relu(1 - real)``, ``relu(1 + fake)``).
        real: ``D(hr)`` logits.
        fake: ``D(sr.detach())`` logits.

    Returns:
        ``(loss_real, loss_fake)`` scalars; the discriminator minimizes their sum.

    >>> [round(t.item(), 4) for t in d_loss("vanilla", torch.zeros(2), torch.zeros(2))]
    [0.6931, 0.6931]
    """
    if kind == "vanilla":
        return _bce(real, 1.0), _bce(fake, 0.0)
    if kind == "lsgan":
        return F.mse_loss(real, torch.ones_like(real)), F.mse_loss(fake, torch.zeros_like(fake))
    if kind == "ragan":
        return (
            0.5 * _bce(real - fake.detach().mean(), 1.0),
            0.5 * _bce(fake - real.detach().mean(), 0.0),
        )
    if kind == "hinge":
        return F.relu(1.0 - real).mean(), F.relu(1.0 + fake).mean()
    raise ValueError(f"adversarial loss must be one of {', '.join(ADVERSARIAL_LOSSES)}, got {kind!r}")


def g_loss(kind: str, fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Generator adversarial loss on ``D(sr)`` logits (gradients flow into ``sr`` through D).

    Args:
        kind: as :func:`d_loss`.
        fake: ``D(sr)`` logits.
        real: ``D(hr)`` logits, needed (and detached) for ``"ragan"`` only.

    Returns:
        A scalar the generator minimizes.

    >>> round(g_loss("vanilla", torch.zeros(3)).item(), 4)
    0.6931
    """
    if kind == "vanilla":
        return _bce(fake, 1.0)
    if kind == "lsgan":
        return F.mse_loss(fake, torch.ones_like(fake))
    if kind == "ragan":
        if real is None:
            raise ValueError("the relativistic GAN loss needs D(hr) logits")
        real = real.detach()
        return 0.5 * _bce(real - fake.mean(), 0.0) + 0.5 * _bce(fake - real.mean(), 1.0)
    if kind == "hinge":
        return -fake.mean()
    raise ValueError(f"adversarial loss must be one of {', '.join(ADVERSARIAL_LOSSES)}, got {kind!r}")
