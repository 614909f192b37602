"""The mild degradation: deterministic replay, 8-bit levels, light (close to bicubic), and strict config."""

import pytest
import torch

from gensr.degrade import MildConfig, RealisticConfig, apply, degrade, imresize, sample_params


def _photo_like(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, 16, 16, generator=g)
    return imresize(base, scale=8.0).clamp(0, 1).repeat(3, 1, 1, 1)  # smooth (3, 3, 128, 128)


def test_replays_bit_for_bit_and_lands_on_8bit_levels() -> None:
    hr = _photo_like()
    cfg = MildConfig()
    params = sample_params(cfg, 3, torch.Generator().manual_seed(5))
    a, b = apply(hr, params, cfg), apply(hr, params, cfg)
    assert a.shape == (3, 3, 32, 32)
    assert torch.equal(a, b)
    assert torch.equal(a, (a * 255).round() / 255)


def test_mild_is_much_closer_to_bicubic_than_the_heavy_model() -> None:
    hr = _photo_like(1).repeat(4, 1, 1, 1)
    bic = imresize(hr, scale=0.25)
    mild = degrade(hr, MildConfig(), torch.Generator().manual_seed(0))
    heavy = degrade(hr, RealisticConfig(), torch.Generator().manual_seed(0))
    d_mild = (mild - bic).abs().mean().item()
    d_heavy = (heavy - bic).abs().mean().item()
    assert d_mild < 0.5 * d_heavy


def test_every_choice_can_be_off() -> None:
    cfg = MildConfig(blur_prob=0.0, noise_prob=0.0, jpeg_prob=0.0, resize_prob=(1.0, 0.0, 0.0))
    hr = _photo_like()
    lr = degrade(hr, cfg, torch.Generator().manual_seed(0))
    area = torch.nn.functional.avg_pool2d(hr, 4)
    assert (lr - area).abs().max().item() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize(
    "kwargs", [{"jpeg_range": (60, 101)}, {"blur_prob": 1.5}, {"noise_range": (3.0, 1.0)}, {"scale": 0}]
)
def test_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        MildConfig(**kwargs)
