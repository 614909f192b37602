from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gensr.base.tensors import quantize_uint8
from gensr.metrics import psnr, rgb_to_y, ssim


def _np(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).double().numpy()


def test_psnr_golden() -> None:
    # 20 * log10(2 / 0.2) = 20 dB (1.2 is not exact in float32: 1e-5)
    one = torch.ones(1, 1, 4, 4)
    assert psnr(one, 1.2 * one, y_channel=False, max_val=2.0).item() == pytest.approx(20.0, abs=1e-5)
    # mse 0.01 on [0, 1] -> 20 dB; per image in a batch
    a = torch.zeros(2, 3, 5, 5)
    b = torch.stack([torch.full((3, 5, 5), 0.1), torch.full((3, 5, 5), 0.01)])
    assert torch.allclose(psnr(a, b, y_channel=False), torch.tensor([20.0, 40.0], dtype=torch.float64))
    assert psnr(a, a, y_channel=False).isinf().all()


def test_rgb_to_y_known_values() -> None:
    rgb = torch.tensor([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    y = rgb_to_y(rgb.view(5, 3, 1, 1)).flatten() * 255
    expected = torch.tensor([16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966], dtype=torch.float64)
    assert torch.allclose(y, expected)


def test_rgb_to_y_matches_skimage() -> None:
    x = torch.rand(1, 3, 8, 9, dtype=torch.float64)
    ref = rgb2ycbcr(_np(x))[..., 0]  # MATLAB rgb2ycbcr, 0..255 scale
    assert np.allclose(rgb_to_y(x)[0, 0].numpy() * 255, ref, atol=1e-9)


@pytest.mark.parametrize("y_channel", [True, False])
def test_psnr_matches_skimage(y_channel: bool) -> None:
    hr = torch.rand(1, 3, 32, 40)
    sr = (hr + 0.05 * torch.randn_like(hr)).clamp(0, 1)
    ours = psnr(sr, hr, crop=4, y_channel=y_channel).item()
    a, b = _np(sr)[4:-4, 4:-4], _np(hr)[4:-4, 4:-4]
    if y_channel:
        a, b = rgb2ycbcr(a)[..., 0], rgb2ycbcr(b)[..., 0]
        ref = peak_signal_noise_ratio(b, a, data_range=255)
    else:
        ref = peak_signal_noise_ratio(b, a, data_range=1)
    assert abs(ours - ref) < 1e-3


@pytest.mark.parametrize("y_channel", [True, False])
def test_ssim_matches_skimage(y_channel: bool) -> None:
    from skimage import data

    hr = torch.from_numpy(data.astronaut()[100:164, 150:230].astype(np.float32) / 255).permute(2, 0, 1)[None]
    sr = quantize_uint8(hr + 0.04 * torch.randn_like(hr))
    ours = ssim(sr, hr, crop=2, y_channel=y_channel).item()
    a, b = _np(sr)[2:-2, 2:-2] * 255, _np(hr)[2:-2, 2:-2] * 255
    kw = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}
    if y_channel:
        ref = structural_similarity(rgb2ycbcr(a / 255)[..., 0], rgb2ycbcr(b / 255)[..., 0], **kw)
    else:
        ref = structural_similarity(a, b, channel_axis=2, **kw)
    assert 0.3 < ours < 0.99
    assert abs(ours - ref) < 1e-3


def test_ssim_identity_and_batch() -> None:
    x = torch.rand(3, 3, 20, 20)
    assert torch.allclose(ssim(x, x), torch.ones(3, dtype=torch.float64))
    y = x.clone()
    y[1] = 1 - y[1]
    s = ssim(x, y)
    assert s[0] == 1 and s[2] == 1 and s[1] < 0.5


def test_quantize_option_rounds_to_uint8_levels() -> None:
    hr = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    sr = hr + 0.01 * torch.randn_like(hr)
    q_hr, q_sr = quantize_uint8(hr), quantize_uint8(sr)
    assert torch.equal(q_hr * 255, (q_hr * 255).round())
    assert q_sr.min() >= 0 and q_sr.max() <= 1
    assert psnr(sr, hr, quantize=True).item() == psnr(q_sr, q_hr).item()
    assert psnr(sr, hr, quantize=True).item() != psnr(sr, hr).item()


def test_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError):
        ssim(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 20), crop=5)
