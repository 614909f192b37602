"""How video frames are batched and tiled (:func:`gensr.infer.video.frames_per_batch`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from gensr.infer import Upscaler
from gensr.infer.geometry import default_overlap
from gensr.infer.tuning import window_cap
from gensr.infer.video import MAX_FRAMES_PER_CALL, PIXELS_PER_CALL, frames_per_batch
from gensr.models import load_model


@pytest.fixture
def tiny(tiny_model_file: Callable[..., Path]) -> Callable[[], torch.nn.Module]:
    return lambda: load_model(tiny_model_file())[0]


def test_small_frames_are_batched_large_ones_go_alone(tiny: Callable[[], torch.nn.Module]) -> None:
    up = Upscaler(tiny(), device="cpu")
    assert frames_per_batch(up, 48, 64) == (MAX_FRAMES_PER_CALL, 64)
    cap = window_cap(up.net, up.geometry, overlap=default_overlap(up.net), device=up.device, dtype=up.dtype)
    assert frames_per_batch(up, 128, 128)[0] == min(PIXELS_PER_CALL, cap * cap) // (128 * 128) >= 2
    batch, tile = frames_per_batch(up, 480, 640)
    assert batch == 1 and tile < 640  # one frame per call, in tiles sized for speed (never all at once)


def test_a_given_tile_is_kept(tiny: Callable[[], torch.nn.Module]) -> None:
    assert frames_per_batch(Upscaler(tiny(), device="cpu", tile=32), 48, 64) == (1, 32)
    assert frames_per_batch(Upscaler(tiny(), device="cpu", tile=128), 48, 64) == (MAX_FRAMES_PER_CALL, 128)


def test_batched_frames_equal_frames_one_by_one(tiny: Callable[[], torch.nn.Module]) -> None:
    up = Upscaler(tiny(), device="cpu", tile=64)
    x = torch.rand(3, 3, 24, 32)
    one_by_one = torch.cat([up.upscale_tensor(x[i : i + 1]) for i in range(3)])
    assert torch.allclose(up.upscale_tensor(x), one_by_one, atol=1e-5)
