"""Every generator in the table, at every scale and upsampler it supports: shapes, gradients, rebuild."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from gensr.archs import GENERATORS, build_generator
from gensr.archs.base import UPSAMPLERS, upsample_factors

TINY: dict[str, dict[str, Any]] = {
    "srresnet": {"num_feat": 8, "num_block": 1},
    "rrdbnet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
    "compact": {"num_feat": 8, "num_conv": 2},
    "span": {"num_feat": 8, "num_block": 1},
}

CASES = [
    (arch, upsampler, scale)
    for arch, cls in GENERATORS.items()
    for upsampler in UPSAMPLERS
    for scale in cls.SCALES[upsampler]  # type: ignore[attr-defined]
]


def test_table_has_tiny_settings_for_every_generator() -> None:
    assert set(TINY) == set(GENERATORS)


def test_every_generator_supports_2_3_4_with_every_upsampler() -> None:
    for cls in GENERATORS.values():
        for upsampler in UPSAMPLERS:
            assert {2, 3, 4} <= set(cls.SCALES[upsampler])  # type: ignore[attr-defined]


@pytest.mark.parametrize(("arch", "upsampler", "scale"), CASES)
def test_shape_odd_sizes_and_backward(arch: str, upsampler: str, scale: int) -> None:
    net = build_generator(arch, {**TINY[arch], "scale": scale, "upsampler": upsampler})
    lr = torch.rand(2, 3, 7, 5, requires_grad=True)  # odd, non-square, not a multiple of 2 or 4
    sr = net(lr)
    assert sr.shape == (2, 3, 7 * scale, 5 * scale)
    assert torch.isfinite(sr).all()
    sr.square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)
    assert lr.grad is not None and lr.grad.abs().sum() > 0
    # the conv feeding the output gets a non-zero gradient
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


@pytest.mark.parametrize(("arch", "upsampler", "scale"), CASES)
def test_hparams_rebuild_identical_module(arch: str, upsampler: str, scale: int) -> None:
    net = build_generator(arch, {**TINY[arch], "scale": scale, "upsampler": upsampler}).eval()
    hp = net.hparams
    assert hp["scale"] == scale and hp["upsampler"] == upsampler
    twin = build_generator(arch, dict(hp)).eval()
    assert twin.hparams == hp
    state = net.state_dict()
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in state.items()}
    twin.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(net(x), twin(x))


def test_hparams_are_keyword_only_and_complete() -> None:
    for arch, cls in GENERATORS.items():
        with pytest.raises(TypeError):
            cls(3)  # positional arguments are refused
        net = build_generator(arch, TINY[arch])
        assert set(net.hparams) >= {"scale", "upsampler", "num_feat"}


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_unsupported_choices_raise(arch: str) -> None:
    with pytest.raises(ValueError, match="upsampler"):
        build_generator(arch, {**TINY[arch], "upsampler": "bicubic"})
    with pytest.raises(ValueError, match="scale"):
        build_generator(arch, {**TINY[arch], "scale": 5})


def test_default_upsamplers_match_official_files() -> None:
    assert build_generator("rrdbnet", TINY["rrdbnet"]).hparams["upsampler"] == "nearest"
    assert build_generator("compact", TINY["compact"]).hparams["upsampler"] == "pixelshuffle"
    assert build_generator("srresnet", TINY["srresnet"]).hparams["upsampler"] == "pixelshuffle"


@pytest.mark.parametrize(("scale", "in_ch"), [(4, 3), (2, 12), (1, 48)])
def test_rrdbnet_official_unshuffle_input_channels(scale: int, in_ch: int) -> None:
    net = build_generator("rrdbnet", {**TINY["rrdbnet"], "scale": scale})
    assert net.conv_first.in_channels == in_ch
    # official layout: two nearest x2 stages whatever the scale
    assert {"conv_up1.weight", "conv_up2.weight"} <= set(net.state_dict())


def test_rrdbnet_unshuffle_pads_like_realesrgan() -> None:
    # Real-ESRGAN reflect-pads the bottom/right to the unshuffle multiple, runs, and crops
    net = build_generator("rrdbnet", {**TINY["rrdbnet"], "scale": 1}).eval()
    x = torch.rand(1, 3, 9, 6)
    with torch.no_grad():
        out = net(x)
        padded = net(torch.nn.functional.pad(x, (0, 2, 0, 3), mode="reflect"))
    assert out.shape == (1, 3, 9, 6)
    assert torch.equal(out, padded[..., :9, :6])


def test_compact_adds_nearest_upsampled_input() -> None:
    net = build_generator("compact", {**TINY["compact"], "scale": 2}).eval()
    with torch.no_grad():
        for p in net.body[-1].parameters():
            p.zero_()  # residual branch outputs zero -> output is the nearest-upsampled input
        x = torch.rand(1, 3, 5, 4)
        expected = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        assert torch.equal(net(x), expected)


def test_srresnet_batch_norm_blocks() -> None:
    net = build_generator("srresnet", {**TINY["srresnet"], "batch_norm": True})
    keys = set(net.state_dict())
    assert {"body.0.bn1.weight", "body.0.bn2.running_mean"} <= keys
    assert "body.0.conv1.bias" not in keys  # BN follows the conv
    net.train()
    out = net(torch.rand(2, 3, 6, 6))
    assert out.shape == (2, 3, 24, 24)


def test_upsample_factors() -> None:
    assert upsample_factors(1) == [] and upsample_factors(3) == [3] and upsample_factors(4) == [2, 2]
    with pytest.raises(ValueError):
        upsample_factors(8)


def test_residual_blocks_get_scaled_init() -> None:
    # kaiming x 0.1: the std of body convs is about 0.1 * sqrt(2 / fan_in)
    net = build_generator("rrdbnet", {"num_feat": 16, "num_block": 1, "num_grow_ch": 16})
    w = net.body[0].rdb1.conv1.weight.detach()
    expected = 0.1 * (2 / (16 * 9)) ** 0.5
    assert abs(float(w.std()) / expected - 1) < 0.2
    assert float(net.body[0].rdb1.conv1.bias.detach().abs().max()) == 0.0


@pytest.mark.parametrize(("scale", "factor"), [(2, 0.5), (3, 0.75)])
def test_compact_net_scale_is_the_x4_net_then_bicubic(scale: int, factor: float) -> None:
    # Real-ESRGAN's ncnn animevideov3 x2/x3 graphs: the x4 network, then a bicubic resize by 0.5/0.75
    x4 = build_generator("compact", {**TINY["compact"], "scale": 4}).eval()
    net = build_generator("compact", {**TINY["compact"], "scale": scale, "net_scale": 4}).eval()
    net.load_state_dict(x4.state_dict(), strict=True)
    x = torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        out = net(x)
        expected = torch.nn.functional.interpolate(
            x4(x), scale_factor=factor, mode="bicubic", align_corners=False
        )
    assert out.shape == (1, 3, 8 * scale, 12 * scale)
    assert torch.allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize(("arch", "upsampler", "scale"), CASES)
def test_declared_geometry_bounds_the_receptive_field(arch: str, upsampler: str, scale: int) -> None:
    net = build_generator(arch, {**TINY[arch], "upsampler": upsampler, "scale": scale}).eval()
    m, radius = net.size_multiple, net.receptive_radius
    assert isinstance(m, int) and m >= 1 and isinstance(radius, int) and radius >= 1
    side = 2 * (radius + 2 * m) + m
    side += (-side) % m
    x = torch.rand(1, 3, side, side, requires_grad=True)
    cy = side // 2 // m * m  # an input pixel on the network's grid
    net(x)[0, :, cy * scale, cy * scale].sum().backward()
    assert x.grad is not None
    ys, xs = torch.nonzero(x.grad[0].abs().sum(0)).unbind(1)
    reach = max(int((ys - cy).abs().max()), int((xs - cy).abs().max()))
    assert reach <= radius


def test_deepen_keeps_the_function_of_a_compact_network() -> None:
    from gensr.archs.compact import SRVGGNetCompact, deepen

    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=3)
    for m in net.body:  # trained-looking PReLU slopes, so an identity slope would show
        if isinstance(m, torch.nn.PReLU):
            m.weight.data.uniform_(0.0, 0.5)
    deep = deepen(net, 7)
    x = torch.rand(2, 3, 10, 12)
    with torch.no_grad():
        assert torch.allclose(deep(x), net(x), atol=1e-6)
    assert deep.hparams["num_conv"] == 7
    assert len(deep.body) == len(SRVGGNetCompact(num_feat=8, num_conv=7).body)
    assert deep.receptive_radius > net.receptive_radius
    with pytest.raises(ValueError, match="num_conv"):
        deepen(net, 2)
