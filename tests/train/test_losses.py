"""Loss functions: hand-derived values, perceptual loss properties on the real VGG16 weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gensr.train.config import LossConfig
from gensr.train.losses import (
    PerceptualLoss,
    charbonnier_loss,
    d_loss,
    g_loss,
    grid_loss,
    pixel_loss,
    vgg_layer_names,
)
from gensr.train.steps import train_step_g

LOG2 = math.log(2.0)


def test_pixel_losses_known_values() -> None:
    a, b = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    assert pixel_loss("l1", a, b).item() == pytest.approx(0.5)
    assert pixel_loss("mse", a, b).item() == pytest.approx(0.25)
    assert pixel_loss("charbonnier", a, b).item() == pytest.approx(math.sqrt(0.25 + 1e-6))
    assert charbonnier_loss(a, a).item() == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="pixel loss"):
        pixel_loss("l3", a, b)


def test_adversarial_losses_known_values() -> None:
    zero = torch.zeros(4)
    # vanilla: BCE with logits; logit 0 is probability 1/2 -> log 2 either way
    assert [t.item() for t in d_loss("vanilla", zero, zero)] == pytest.approx([LOG2, LOG2])
    assert g_loss("vanilla", zero).item() == pytest.approx(LOG2)
    big = torch.full((4,), 30.0)
    assert [t.item() for t in d_loss("vanilla", big, -big)] == pytest.approx([0.0, 0.0], abs=1e-12)
    # LSGAN: squared distance to 1 (real) and 0 (fake)
    r, f = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0])
    assert [t.item() for t in d_loss("lsgan", r, f)] == pytest.approx([2.0, 2.0])
    assert g_loss("lsgan", f).item() == pytest.approx(1.0)
    # hinge: relu(1 - real), relu(1 + fake); G: -mean(fake)
    assert [
        t.item() for t in d_loss("hinge", torch.tensor([2.0, 0.0]), torch.tensor([-2.0, 1.0]))
    ] == pytest.approx([0.5, 1.0])
    assert g_loss("hinge", torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)
    # relativistic average: each side against the other's mean, halved
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])  # means 2 and 1
    softplus = nn.functional.softplus
    want_real = 0.5 * softplus(-(real - 1.0)).mean().item()  # BCE(x, 1) = softplus(-x)
    want_fake = 0.5 * softplus(fake - 2.0).mean().item()  # BCE(x, 0) = softplus(x)
    assert [t.item() for t in d_loss("ragan", real, fake)] == pytest.approx([want_real, want_fake])
    want_g = 0.5 * softplus(real - 1.0).mean().item() + 0.5 * softplus(-(fake - 2.0)).mean().item()
    assert g_loss("ragan", fake, real).item() == pytest.approx(want_g)
    with pytest.raises(ValueError, match="needs D"):
        g_loss("ragan", fake)


def test_ragan_gradients_flow_through_fake_only() -> None:
    real = torch.tensor([1.0, 3.0], requires_grad=True)
    fake = torch.tensor([0.0, 2.0], requires_grad=True)
    g_loss("ragan", fake, real).backward()
    assert real.grad is None and fake.grad is not None and fake.grad.abs().sum() > 0
    real.grad = fake.grad = None
    l_real, l_fake = d_loss("ragan", real, fake)
    l_real.backward()
    assert fake.grad is None  # the fake mean is detached in the real term


def test_vgg_layer_names_match_torchvision_indices() -> None:
    from gensr.metrics.backbones import VGG_LAYERS, _vgg_modules

    names16 = vgg_layer_names(nn.Sequential(*_vgg_modules(VGG_LAYERS["vgg16"])))
    assert names16["conv1_1"] == 0 and names16["relu1_2"] == 3 and names16["pool1"] == 4
    assert names16["conv5_3"] == 28 and names16["relu5_3"] == 29 and "conv5_4" not in names16
    names19 = vgg_layer_names(nn.Sequential(*_vgg_modules(VGG_LAYERS["vgg19"])))
    assert names19["conv5_4"] == 34 and names19["relu5_4"] == 35  # SRGAN's "VGG54" is features.35


@pytest.fixture(scope="module")
def vgg16() -> nn.Sequential:
    from gensr.metrics.backbones import vgg16_features

    return vgg16_features()


def test_perceptual_loss_zero_for_identical_and_grad_flows(vgg16: nn.Sequential) -> None:
    loss = PerceptualLoss(vgg16, {"conv1_2": 0.1, "conv2_2": 1.0})
    assert not any(p.requires_grad for p in loss.parameters())
    hr = torch.rand(1, 3, 24, 24)
    assert loss(hr.clone(), hr).item() == 0.0
    sr = (hr + 0.1 * torch.randn_like(hr)).requires_grad_(True)
    value = loss(sr, hr)
    assert value.item() > 0
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())
    loss.train()
    assert not loss.vgg.training  # stays in eval mode


def test_perceptual_blind_to_grid_neither_sees_nor_draws_one(vgg16: nn.Sequential) -> None:
    layers = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_3": 1.0}
    blind, seeing = PerceptualLoss(vgg16, layers, blind_period=4), PerceptualLoss(vgg16, layers)
    hr = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(3))
    grid = _dots(hr.shape, 4, 0.05) - 0.05 / 16  # a dotted grid without a mean
    assert seeing(hr + grid, hr).item() > 0.05
    assert blind(hr + grid, hr).item() < 1e-4  # float rounding only
    sr = (hr + 0.05 * torch.randn_like(hr)).requires_grad_(True)
    blind(sr, hr).backward()  # what the term asks of the network
    assert sr.grad is not None and sr.grad.abs().mean() > 0
    ask = sr.grad / sr.grad.abs().max()
    assert grid_loss(ask, 0 * ask, 4, cells=12).item() < 1e-10  # no energy at the period-4 frequencies
    with pytest.raises(ValueError, match="blind_period"):
        PerceptualLoss(vgg16, layers, blind_period=1)


def test_perceptual_before_activation_differs_from_after(vgg16: nn.Sequential) -> None:
    hr, sr = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    pre = PerceptualLoss(vgg16, {"conv1_2": 1.0})(sr, hr)
    post = PerceptualLoss(vgg16, {"relu1_2": 1.0})(sr, hr)
    # features after ReLU are the clamped pre-activation ones: an L1 distance can only shrink
    assert 0 < post.item() < pre.item()
    # the network is cut after the deepest tap
    assert len(PerceptualLoss(vgg16, {"conv1_2": 1.0}).vgg) == 3


def test_perceptual_loss_rejects_unknown_layers(vgg16: nn.Sequential) -> None:
    with pytest.raises(ValueError, match="conv5_4"):
        PerceptualLoss(vgg16, {"conv5_4": 1.0})  # VGG19 only


def _dots(shape: tuple[int, ...], period: int, level: float) -> torch.Tensor:
    """``level`` on one phase of a ``period``-px grid, 0 elsewhere."""
    g = torch.zeros(shape)
    g[..., ::period, ::period] = level
    return g


def test_grid_loss_ignores_content_and_finds_a_faint_grid() -> None:
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(8, 3, 64, 64, generator=gen)  # content: shared by sr and ref, so it cancels
    noise = (torch.rand(8, 3, 64, 64, generator=gen) - 0.5) * (16 / 255)  # +-8 levels of honest error
    assert grid_loss(ref + 0.02, ref, 4).item() == pytest.approx(0.0, abs=1e-9)  # a shift is no grid
    a = 2 / 255
    dots = _dots(ref.shape, 4, a)  # a 2-level dot every 4 px
    energy = a * a * (15 * 15 + 15) / 16 / 16 / 16  # deviations a*15/16 (1 phase) and -a/16 (15 phases)
    assert grid_loss(dots, 0 * dots, 4).item() == pytest.approx(energy)
    # a grid whose sign follows the content (+ on bright 16-px windows, - on dark): its image mean is ~0
    sign = torch.where(F.avg_pool2d(ref.mean(1, keepdim=True), 16) > 0.5, 1.0, -1.0)
    signed = dots * F.interpolate(sign, scale_factor=16.0, mode="nearest")
    assert grid_loss(signed, 0 * signed, 4, cells=16).item() < 0.1 * energy  # whole images: unseen
    assert grid_loss(signed, 0 * signed, 4).item() == pytest.approx(energy)  # 16-px windows: seen
    # over +-8 levels of noise the energies add: the grid's shows as what it is
    noisy = [grid_loss(ref + noise + d, ref, 4).item() for d in (0, signed)]
    assert noisy[1] - noisy[0] == pytest.approx(energy, rel=0.3)
    assert grid_loss(ref[..., :63, :62], ref[..., :63, :62], 4).item() == 0.0  # cropped to whole windows
    with pytest.raises(ValueError, match="period"):
        grid_loss(ref, ref, 1)


def test_grid_term_removes_a_learned_grid() -> None:
    """Stepping on the grid term alone flattens a per-phase bias and leaves the rest of the image."""
    gen = torch.Generator().manual_seed(1)
    ref = torch.rand(4, 3, 32, 32, generator=gen)
    bias = nn.Parameter(_dots((1, 3, 32, 32), 4, 0.05))  # a network's dotted grid, as a learnable offset
    opt = torch.optim.Adam([bias], lr=2e-3)  # steps of about 0.002: 25 to clear a 0.05 dot
    cfg = LossConfig(pixel_weight=0.0, grid_weight=1.0)
    first = None
    for _ in range(60):
        stats = train_step_g(ref + bias, ref, ref, opt, cfg, period=4)
        first = stats["g/grid"] if first is None else first
        assert stats["g/total"] == pytest.approx(stats["g/grid"])
    assert grid_loss(ref + bias.detach(), ref, 4).item() < 0.15 * first
