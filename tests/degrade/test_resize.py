from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gensr.degrade.resize import contributions, cubic, imresize, output_size

resize_right = pytest.importorskip("resize_right")
from resize_right import interp_methods  # noqa: E402

BUTTERFLY_DEFAULT = Path("/tmp/opencv-doc/usr/share/doc/opencv-doc/examples/dnn_superres/butterfly.png")


def _reference(x: torch.Tensor, **kw: object) -> torch.Tensor:
    """resize-right (numpy backend, MATLAB's symmetric padding) on a (B, C, H, W) tensor, float64."""
    arr = x.double().permute(2, 3, 0, 1).numpy()  # resize-right resizes the leading numpy dims
    out = resize_right.resize(arr, interp_method=interp_methods.cubic, pad_mode="symmetric", **kw)
    return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 3, 0, 1)


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4])
def test_matches_resize_right_on_scales(scale: float) -> None:
    x = torch.rand(2, 3, 48, 36)
    ours = imresize(x, scale=scale)
    ref = _reference(x, scale_factors=[scale, scale])
    assert ours.shape == ref.shape == (2, 3, round(48 * scale), round(36 * scale))
    assert (ours.double() - ref).abs().max().item() <= 1e-4


@pytest.mark.parametrize("size", [(17, 29), (100, 7), (31, 36), (48, 36)])
def test_size_argument_matches_resize_right(size: tuple[int, int]) -> None:
    x = torch.rand(1, 3, 48, 36)
    ours = imresize(x, size=size)
    ref = _reference(x, out_shape=size)
    assert ours.shape[-2:] == size
    assert (ours.double() - ref).abs().max().item() <= 1e-4


def test_no_antialias_is_plain_cubic_sampling() -> None:
    # Without antialiasing, halving samples between pixel pairs: weights cubic(+-0.5), cubic(+-1.5).
    w, idx = contributions(8, 4, 0.5, False)
    expected = cubic(np.array([1.5, 0.5, -0.5, -1.5]))
    np.testing.assert_allclose(w[1], expected / expected.sum())
    assert idx[1].tolist() == [1, 2, 3, 4]


def test_contributions_rows_sum_to_one_and_mirror() -> None:
    w, idx = contributions(5, 20, 4.0, True)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert idx.min() >= 0 and idx.max() < 5
    # first output pixel sits left of input pixel 0: its out-of-range taps mirror to 0, 1, ...
    assert idx[0, 0] in (0, 1)


def test_identity_and_constant() -> None:
    x = torch.rand(1, 3, 10, 12)
    assert torch.equal(imresize(x, scale=1), x)
    c = torch.full((1, 1, 9, 15), 0.3)
    for s in (1 / 3, 2.5, 4):
        assert torch.allclose(imresize(c, scale=s), torch.full_like(imresize(c, scale=s), 0.3), atol=1e-6)


def test_output_size_rules() -> None:
    assert output_size(300, 1 / 3) == 100
    assert output_size(256, 1 / 3) == 86  # ceil, as MATLAB
    assert imresize(torch.rand(1, 1, 256, 255), scale=1 / 3).shape[-2:] == (86, 85)
    assert imresize(torch.rand(1, 1, 8, 8), scale=(2, 0.5)).shape[-2:] == (16, 4)


def test_gradient_flows() -> None:
    x = torch.rand(1, 3, 12, 12, requires_grad=True)
    imresize(x, scale=0.5).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_round_uint8_stays_on_grid() -> None:
    x = torch.randint(0, 256, (1, 3, 16, 16)).float() / 255
    y = imresize(x, scale=0.5, round_uint8=True)
    assert torch.equal(y * 255, (y * 255).round())
    assert y.min() >= 0 and y.max() <= 1
    # rounding after each pass stays within one level of rounding only at the end
    z = torch.floor(imresize(x, scale=0.5) * 255 + 0.5).clamp(0, 255)
    assert (y * 255 - z).abs().max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    x = torch.rand(2, 3, 40, 40)
    assert torch.allclose(imresize(x.cuda(), scale=0.25).cpu(), imresize(x, scale=0.25), atol=1e-5)


def _butterfly() -> Path:
    path = Path(os.environ.get("GENSR_BUTTERFLY", BUTTERFLY_DEFAULT))
    if not path.is_file():
        pytest.skip(
            f"Set5 butterfly not found at {path}; unpack Debian opencv-doc "
            "(cd /tmp && apt-get download opencv-doc && dpkg -x opencv-doc*.deb /tmp/opencv-doc) "
            "or set GENSR_BUTTERFLY"
        )
    return path


@pytest.mark.parametrize(("scale", "expected"), [(2, 27.44), (3, 24.04), (4, 22.10)])
def test_butterfly_bicubic_psnr_y_anchor(scale: int, expected: float) -> None:
    from PIL import Image

    from gensr.metrics import psnr

    arr = np.asarray(Image.open(_butterfly()).convert("RGB"), dtype=np.float64) / 255
    hr = torch.from_numpy(arr).permute(2, 0, 1)[None]
    hr = hr[..., : hr.shape[-2] // scale * scale, : hr.shape[-1] // scale * scale]
    lr = imresize(hr, scale=1 / scale, round_uint8=True)  # MATLAB imresize on uint8
    sr = imresize(lr, scale=scale, round_uint8=True)
    value = psnr(sr, hr, crop=scale, y_channel=True, quantize=True).item()
    assert abs(value - expected) <= 0.05, value
