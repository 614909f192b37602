from __future__ import annotations

from pathlib import Path

import torch

from gensr.models import load_model, resolve_model
from gensr.train.config import load_config
from gensr.train.setup import generator_from_config


def test_pretrained_accepts_a_builtin_model_name() -> None:
    preset = Path(__file__).parents[2] / "configs" / "realesrgan-compact.yaml"
    cfg = load_config(preset, ["model.arch=''", "train.pretrained=gensr-compact-x4"])
    cfg, g = generator_from_config(cfg, True)
    shipped, info = load_model(resolve_model("gensr-compact-x4"))
    assert cfg.model.arch == info.arch == "compact"
    for (k, a), (k2, b) in zip(g.state_dict().items(), shipped.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
