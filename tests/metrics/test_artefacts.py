"""The periodic-artefact and colour-shift measures on synthetic grids, real photos and interpolation."""

from __future__ import annotations

import pytest
import torch
from skimage import data

from gensr.base.tensors import quantize_uint8
from gensr.degrade.resize import imresize
from gensr.metrics.artefacts import grey_spread, is_grey, periodic_peaks, periodic_ratio, tint


def _photo(arr: object) -> torch.Tensor:
    x = torch.as_tensor(arr).float() / 255
    if x.dim() == 2:
        x = x[..., None].expand(*x.shape, 3)
    return x.permute(2, 0, 1)[None].contiguous()


def _bicubic_upscale(hr: torch.Tensor) -> torch.Tensor:
    lr = imresize(hr, scale=0.25, round_uint8=True)
    return quantize_uint8(imresize(lr, scale=4.0, round_uint8=True))


@pytest.fixture(scope="module")
def coffee() -> torch.Tensor:
    return _photo(data.coffee()[100:356, 150:406])  # (1, 3, 256, 256), a real colour photo


def test_dotted_grid_is_large_and_bicubic_small(coffee: torch.Tensor) -> None:
    bic = _bicubic_upscale(coffee)
    clean = periodic_ratio(bic, 4)
    dotted = bic.clone()
    dotted[..., ::4, ::4] += 4 / 255  # a faint dot every 4 px: what a pixel shuffle leaves
    grid = periodic_ratio(quantize_uint8(dotted), 4)
    assert clean < 20
    assert grid > 100
    assert grid > 20 * clean


def test_period_two_grid_shows_at_period_four_too(coffee: torch.Tensor) -> None:
    bic = _bicubic_upscale(coffee)
    lines = bic.clone()
    lines[..., ::2, :] += 4 / 255  # horizontal lines every 2 px: frequency (N/2, 0), a multiple of N/4
    peaks = periodic_peaks(quantize_uint8(lines), 4)
    assert peaks.shape == (15,)
    assert float(peaks.max()) > 100
    assert periodic_ratio(quantize_uint8(lines), 2) > 100


def test_odd_sizes_are_cropped_to_the_period(coffee: torch.Tensor) -> None:
    bic = _bicubic_upscale(coffee)[..., :203, :198]
    assert 0 < periodic_ratio(bic, 4) < 20


@pytest.mark.parametrize(
    ("shape", "period"),
    [((1, 3, 12, 12), 4), ((1, 1, 64, 64), 4), ((2, 3, 64, 64), 4), ((1, 3, 64, 64), 1)],
)
def test_periodic_rejects_bad_input(shape: tuple[int, ...], period: int) -> None:
    with pytest.raises(ValueError, match="periodic_peaks"):
        periodic_peaks(torch.rand(shape), period)


def test_grey_spread_and_is_grey() -> None:
    grey = _photo(data.camera()[:64, :64])
    assert is_grey(grey) and grey_spread(grey) == 0.0
    shifted = grey.clone()
    shifted[:, 0] = (shifted[:, 0] + 3 / 255).clamp(max=1)  # red raised 3 levels (less where it clips)
    assert not is_grey(shifted)
    assert 2.5 < grey_spread(shifted) <= 3.0


def test_tint_is_the_mean_channel_shift(coffee: torch.Tensor) -> None:
    assert tint(coffee, coffee) == 0.0
    x = coffee.clone()
    x[:, 2] = (x[:, 2] - 6 / 255).clamp(min=0)  # blue lowered 6 levels
    assert 1.5 < tint(x, coffee) <= 2.0  # (0 + 0 + ~6) / 3
    with pytest.raises(ValueError, match="tint"):
        tint(x[..., :10, :], coffee)
