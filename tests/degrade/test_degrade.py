from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gensr import degrade as dg
from gensr.base.tensors import quantize_uint8
from gensr.degrade import kernels as K
from gensr.degrade.resize import imresize


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _photo_like(b: int, size: int, seed: int = 0) -> torch.Tensor:
    """Smooth random images on 8-bit levels (B, 3, size, size)."""
    g = _gen(seed)
    x = torch.rand(b, 3, size // 4, size // 4, generator=g)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return quantize_uint8(x + 0.05 * torch.rand(b, 3, size, size, generator=g))


# ---------------------------------------------------------------- kernels


@pytest.mark.parametrize(
    "kernel",
    [
        K.gaussian_kernel(21, 2.0),
        K.gaussian_kernel(7, 0.2),
        K.gaussian_kernel(15, 3.0, 0.5, 0.7),
        K.generalized_gaussian_kernel(21, 1.5, 0.8, -1.0, beta=0.5),
        K.generalized_gaussian_kernel(9, 1.0, beta=4.0),
        K.plateau_kernel(21, 2.0, beta=1.0),
        K.plateau_kernel(13, 2.5, 1.0, 2.0, beta=2.0),
        K.sinc_kernel(21, math.pi / 5),
        K.sinc_kernel(7, math.pi),
        K.pulse_kernel(21),
    ],
)
def test_kernels_sum_to_one(kernel: torch.Tensor) -> None:
    assert kernel.dtype == torch.float32 and kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    assert abs(float(kernel.double().sum()) - 1.0) < 1e-6


@pytest.mark.parametrize("family", range(len(K.KERNEL_TYPES)))
def test_sampled_kernels_of_every_family_sum_to_one(family: int) -> None:
    probs = [0.0] * len(K.KERNEL_TYPES)
    probs[family] = 1.0
    g = _gen(family)
    for _ in range(20):
        k = K.sample_blur_kernel(
            g, sizes=(7, 13, 21), kernel_prob=probs, sinc_prob=0.0, blur_sigma=(0.2, 3.0),
            betag_range=(0.5, 4.0), betap_range=(1.0, 2.0), pad_to=21,
        )  # fmt: skip
        assert k.shape == (21, 21) and (k >= 0).all()
        assert abs(float(k.double().sum()) - 1.0) < 1e-6
        assert torch.equal(k, k.flip(0, 1))  # point symmetric: centred, no shift


def test_sampled_sinc_kernels_sum_to_one_and_are_lowpass() -> None:
    g = _gen(3)
    for _ in range(20):
        k = K.sample_blur_kernel(
            g, sizes=(7, 21), kernel_prob=[1, 0, 0, 0, 0, 0], sinc_prob=1.0, blur_sigma=(1, 2),
            betag_range=(0.5, 4.0), betap_range=(1.0, 2.0), pad_to=21,
        )  # fmt: skip
        assert abs(float(k.double().sum()) - 1.0) < 1e-6
        assert (k < 0).any()  # ringing lobes: not a Gaussian
    resp = torch.fft.fft2(K.pad_kernel(K.sinc_kernel(21, math.pi / 4), 63)).abs()
    assert resp[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert float(resp[31, 31]) < 0.1 * float(resp[0, 0])  # Nyquist is stopped
    assert float(resp[0, 3]) > 0.8  # a frequency well inside the pass band passes


def test_anisotropic_gaussian_orientation_and_spread() -> None:
    k = K.gaussian_kernel(21, 3.0, 1.0, 0.0).double()  # wide along x (columns)
    ax = torch.arange(21, dtype=torch.float64) - 10
    var_x = float((k.sum(0) * ax**2).sum())
    var_y = float((k.sum(1) * ax**2).sum())
    assert var_x == pytest.approx(9.0, rel=0.02) and var_y == pytest.approx(1.0, rel=0.02)
    rotated = K.gaussian_kernel(21, 3.0, 1.0, math.pi / 2)
    assert torch.allclose(rotated, k.float().T, atol=1e-7)


def test_filter2d_pulse_is_identity_and_small_images_work() -> None:
    x = torch.rand(2, 3, 5, 6)
    assert torch.equal(K.filter2d(x, K.pulse_kernel(21)), x)
    y = K.filter2d(x, torch.stack([K.gaussian_kernel(21, 2.0), K.gaussian_kernel(21, 1.0)]))
    assert y.shape == x.shape
    flat = torch.full((1, 3, 4, 4), 0.3)
    assert torch.allclose(K.filter2d(flat, K.gaussian_kernel(21, 3.0)), flat, atol=1e-6)


def test_separable_filter_equals_the_2d_filter_and_trim_undoes_pad() -> None:
    x = torch.rand(2, 3, 40, 30)
    k1 = K.gaussian_kernel_1d(51)
    assert float(k1[25] / k1[0]) == pytest.approx(math.exp(25**2 / (2 * 8.0**2)), rel=1e-9)  # sigma 8
    full = K.filter2d(x, torch.outer(k1, k1).float())
    assert torch.allclose(K.filter2d_separable(x, k1), full, atol=1e-6)
    k = K.gaussian_kernel(9, 1.5)
    assert torch.equal(K.trim_kernel(K.pad_kernel(k, 21)), k)


# ---------------------------------------------------------------- stages


def test_jpeg_stage_is_the_real_encoder() -> None:
    rgb = (_photo_like(1, 40)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float() / 255
    for q in (30, 75, 95):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=q)
        expected = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        got = (dg.jpeg(x, q)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        assert np.array_equal(got, expected)
        assert not np.array_equal(got, rgb)


@pytest.mark.parametrize("gray", [False, True])
def test_gaussian_noise_has_the_asked_sigma(gray: bool) -> None:
    x = torch.full((1, 3, 128, 128), 0.5)
    noisy = (x + dg.gaussian_noise(x, 10.0, gray, _gen(0))).clamp(0, 1)
    d = (noisy - x) * 255
    assert float(d.std()) == pytest.approx(10.0, rel=0.03)
    assert abs(float(d.mean())) < 0.2
    assert torch.equal(d[:, 0], d[:, 1]) == gray


@pytest.mark.parametrize("gray", [False, True])
def test_poisson_noise_preserves_the_mean(gray: bool) -> None:
    ramp = torch.linspace(0.2, 0.8, 256).repeat(3, 256, 1).unsqueeze(0)  # 256 levels in use -> n = 256
    ramp = quantize_uint8(ramp)
    noise = dg.poisson_noise(ramp, 1.0, gray, _gen(1))
    assert abs(float(noise.mean())) < 2e-3
    base = dg.to_gray(ramp) if gray else ramp
    n = 2.0 ** math.ceil(math.log2(torch.unique(base).numel()))
    expected_std = math.sqrt(float(base.mean()) / n)  # shot noise: Var = x / n
    assert float(noise.std()) == pytest.approx(expected_std, rel=0.05)
    assert float(dg.poisson_noise(ramp, 2.0, gray, _gen(1)).std()) == pytest.approx(
        2 * float(noise.std()), rel=1e-5
    )


def test_usm_sharp_keeps_flat_areas_and_raises_edge_contrast() -> None:
    flat = torch.full((1, 3, 64, 64), 0.4)
    assert torch.allclose(dg.usm_sharp(flat), flat, atol=1e-6)
    edge = torch.full((1, 3, 64, 64), 0.3)
    edge[..., 32:] = 0.7
    out = dg.usm_sharp(edge)
    assert float(out[0, 0, 32, 31]) < 0.3 and float(out[0, 0, 32, 32]) > 0.7
    assert float(out.min()) >= 0 and float(out.max()) <= 1


# ---------------------------------------------------------------- the pipeline


def test_realistic_is_reproducible_from_the_seed() -> None:
    cfg = dg.RealisticConfig(scale=4)
    hr = _photo_like(4, 48)
    lr1 = dg.apply(hr, dg.sample_params(cfg, 4, _gen(7)), cfg)
    lr2 = dg.apply(hr, dg.sample_params(cfg, 4, _gen(7)), cfg)
    assert torch.equal(lr1, lr2)
    lr3 = dg.apply(hr, dg.sample_params(cfg, 4, _gen(8)), cfg)
    assert not torch.equal(lr1, lr3)
    params = dg.sample_params(cfg, 4, _gen(7))
    assert torch.equal(dg.apply(hr, params, cfg), dg.apply(hr, params, cfg))  # apply draws nothing new


@pytest.mark.parametrize("scale,size", [(4, 32), (2, 20), (1, 16)])
def test_realistic_output_shape_range_and_levels(scale: int, size: int) -> None:
    cfg = dg.RealisticConfig(scale=scale)
    hr = _photo_like(3, size, seed=scale)
    lr = dg.degrade(hr, cfg, _gen(scale))
    assert lr.shape == (3, 3, size // scale, size // scale) and lr.dtype == torch.float32
    assert float(lr.min()) >= 0 and float(lr.max()) <= 1
    assert torch.equal(lr, (lr * 255).round() / 255)


def test_sampled_parameters_follow_the_configured_ranges() -> None:
    cfg = dg.RealisticConfig()
    p = dg.sample_params(cfg, 300, _gen(0))
    assert isinstance(p, dg.RealisticParams) and p.batch == 300
    for st, sc in ((p.stage1, cfg.stage1), (p.stage2, cfg.stage2)):
        assert float(st.blur.float().mean()) == pytest.approx(sc.blur_prob, abs=0.07)
        assert float(st.poisson.float().mean()) == pytest.approx(1 - sc.gaussian_noise_prob, abs=0.08)
        assert float(st.gray_noise.float().mean()) == pytest.approx(sc.gray_noise_prob, abs=0.08)
        q = st.jpeg_quality
        assert int(q.min()) >= sc.jpeg_range[0] and int(q.max()) <= sc.jpeg_range[1]
        s = st.resize_scale
        assert float(s.min()) >= sc.resize_range[0] and float(s.max()) <= sc.resize_range[1]
        gauss = st.noise_level[~st.poisson]
        assert float(gauss.min()) >= sc.noise_range[0] and float(gauss.max()) <= sc.noise_range[1]
        assert torch.allclose(st.kernel.double().sum((1, 2)), torch.ones(300, dtype=torch.float64), atol=1e-6)
    assert float(p.final_sinc.float().mean()) == pytest.approx(cfg.final_sinc_prob, abs=0.07)
    assert float(p.sinc_first.float().mean()) == pytest.approx(0.5, abs=0.08)
    assert set(p.final_mode.tolist()) == {0, 1, 2}
    assert p.noise_seed.unique().numel() == 300


def _identity_stage(b: int, q: int) -> dg.StageParams:
    return dg.StageParams(
        blur=torch.zeros(b, dtype=torch.bool), kernel=K.pulse_kernel(21).expand(b, 21, 21),
        resize_scale=torch.ones(b, dtype=torch.float64), resize_mode=torch.zeros(b, dtype=torch.int64),
        poisson=torch.zeros(b, dtype=torch.bool), gray_noise=torch.zeros(b, dtype=torch.bool),
        noise_level=torch.zeros(b, dtype=torch.float64), jpeg_quality=torch.full((b,), q),
    )  # fmt: skip


def test_identity_params_leave_only_the_two_jpegs_and_the_resize() -> None:
    hr = _photo_like(2, 32, seed=5)
    base = dg.sample_params(dg.RealisticConfig(), 2, _gen(0))
    assert isinstance(base, dg.RealisticParams)
    params = dataclasses.replace(
        base, stage1=_identity_stage(2, 50), stage2=_identity_stage(2, 80),
        final_sinc=torch.zeros(2, dtype=torch.bool), sinc_first=torch.zeros(2, dtype=torch.bool),
        final_mode=torch.zeros(2, dtype=torch.int64),
    )  # fmt: skip
    # scale 1: every resize is the identity -> JPEG(q=50) then JPEG(q=80)
    cfg1 = dg.RealisticConfig(scale=1)
    expected = torch.cat([dg.jpeg(dg.jpeg(hr[i : i + 1], 50), 80) for i in range(2)])
    assert torch.equal(dg.apply(hr, params, cfg1), expected)
    # scale 2 (stage 2 and the final resize go to 16x16 with 'area' = 2x2 mean)
    cfg2 = dg.RealisticConfig(scale=2)
    s2 = dataclasses.replace(params.stage2, resize_scale=torch.full((2,), 1.0, dtype=torch.float64))
    once = torch.cat([dg.jpeg(hr[i : i + 1], 50) for i in range(2)])
    lr = F.interpolate(once, size=(16, 16), mode="area")
    expected = quantize_uint8(torch.cat([dg.jpeg(lr[i : i + 1], 80) for i in range(2)]))
    assert torch.equal(dg.apply(hr, dataclasses.replace(params, stage2=s2), cfg2), expected)


def test_bicubic_degradation_is_imresize_then_quantize() -> None:
    hr = _photo_like(2, 24, seed=2)
    cfg = dg.BicubicConfig(scale=3, matlab_uint8=False)
    lr = dg.degrade(hr, cfg, _gen(0))
    assert torch.equal(lr, quantize_uint8(imresize(hr, scale=1 / 3)))
    cfg = dg.BicubicConfig(scale=4)  # default: MATLAB's uint8 arithmetic
    lr = dg.apply(hr, dg.sample_params(cfg, 2, _gen(0)), cfg)
    assert lr.shape == (2, 3, 6, 6)
    assert torch.equal(lr, quantize_uint8(imresize(hr, scale=1 / 4, round_uint8=True)))


def test_configs_reject_bad_values_and_stage2_has_its_own_defaults() -> None:
    with pytest.raises(ValueError):
        dg.StageConfig(kernel_prob=(0.5, 0.5, 0.5, 0, 0, 0))
    with pytest.raises(ValueError):
        dg.StageConfig(jpeg_range=(90, 30))
    with pytest.raises(ValueError):
        dg.RealisticConfig(kernel_sizes=(8,))
    with pytest.raises(TypeError):
        dg.BicubicConfig(scael=4)  # type: ignore[call-arg]
    s2 = dg.SecondStageConfig(jpeg_range=(60, 95))
    assert s2.blur_prob == 0.8 and s2.blur_sigma == (0.2, 1.5) and s2.resize_range == (0.3, 1.2)
    with pytest.raises(ValueError):
        dg.apply(torch.rand(1, 3, 30, 30), dg.BicubicParams(1), dg.BicubicConfig(scale=4))
