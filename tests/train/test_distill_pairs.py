"""Distillation with learnable targets: each cached target is the track teacher's output for the very LR
the student trains on, the tracks follow the mix, the colour fix keeps the teacher's luma, the key changes
with the recipe, a training run uses the pairs, and bad mixes are refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gensr.data.photos import HRCropDataset
from gensr.train import fit
from gensr.train.config import ConfigError, from_dict, load_config
from gensr.train.distill import load_teacher, teacher_targets
from gensr.train.distill_pairs import (
    TRACK_IDS,
    CachedPairs,
    build_pair_cache,
    crop_tracks,
    input_chroma,
    pair_cache_key,
)

CONFIGS = Path(__file__).parents[2] / "configs"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def teachers(tiny_model_file: Callable[..., Path]) -> tuple[Path, Path]:
    return tiny_model_file(seed=3), tiny_model_file(seed=4)


def _cfg(photos: Path, teachers: tuple[Path, Path], **distill: object):
    cfg = load_config(CONFIGS / "distill-mix-x4.yaml")
    dc = {
        "teacher": str(teachers[1]),
        "teachers": {"bicubic": str(teachers[0])},
        "precision": "fp32",
        "crops": 12,
        "batch": 4,
        "margin": 8,
        "cache": "unused",
        **distill,
    }
    return replace(
        cfg, distill=replace(cfg.distill, **dc), data=replace(cfg.data, train=(str(photos),), patch=16)
    )


def _build(cfg, tmp_path: Path) -> tuple[Path, dict]:
    ts = {
        k: load_teacher(
            replace(cfg.distill, teacher=cfg.distill.teachers.get(k, cfg.distill.teacher)), 4, CPU
        )
        for k in cfg.distill.mix
    }
    ds = HRCropDataset(Path(cfg.data.train[0]), patch=32, scale=4, augment=False, seed=0)
    key = pair_cache_key(cfg, ts, ds.files, 32)
    return build_pair_cache(cfg, ts, ds, tmp_path, key, progress=False), ts


def test_targets_are_the_track_teachers_output_for_the_cached_lr(photos, teachers, tmp_path) -> None:
    cfg = _cfg(photos, teachers, input_chroma=())
    folder, ts = _build(cfg, tmp_path)
    full = CachedPairs([folder], scale=4, patch=32, augment=False)  # the whole cached crop, margin included
    assert len(full) == 12
    names = {v: k for k, v in TRACK_IDS.items()}
    assert [names[int(t)] for t in full.track] == crop_tracks(cfg.distill.mix, 12, cfg.distill.seed)
    for i in range(12):
        hr, t_sr, lr = full[i]
        assert hr.shape == t_sr.shape == (3, 32, 32) and lr.shape == (3, 8, 8)
        assert torch.equal(lr, (lr * 255).round() / 255)  # 8-bit levels
        expect = teacher_targets(ts[names[int(full.track[i])]], lr[None])[0]
        assert (t_sr - expect).abs().max() < 2e-3  # stored as float16
    # the training view is the centre, the LR's centre matching the HR's
    centre = CachedPairs([folder], scale=4, patch=16, augment=False)
    hr_c, t_c, lr_c = centre[5]
    hr, t_sr, lr = full[5]
    assert torch.equal(hr_c, hr[:, 8:24, 8:24]) and torch.equal(t_c, t_sr[:, 8:24, 8:24])
    assert torch.equal(lr_c, lr[:, 2:6, 2:6])


def test_clean_track_lr_is_matlab_bicubic_and_degraded_tracks_differ(photos, teachers, tmp_path) -> None:
    from gensr.train.distill import clean_lr

    cfg = _cfg(photos, teachers, crops=30)
    folder, _ = _build(cfg, tmp_path)
    pairs = CachedPairs([folder], scale=4, patch=32, augment=False)
    seen = set()
    for i in range(len(pairs)):
        hr, _, lr = pairs[i]
        track = int(pairs.track[i])
        seen.add(track)
        same = torch.equal(lr, clean_lr(hr[None], 4)[0])
        assert same == (track == TRACK_IDS["bicubic"]) or track == TRACK_IDS["mild"]  # mild may be a no-op
    assert seen == set(TRACK_IDS.values())


def test_train_on_keeps_the_pairs_of_those_kinds(photos, teachers, tmp_path) -> None:
    cfg = _cfg(photos, teachers, crops=20)
    folder, _ = _build(cfg, tmp_path)
    every = CachedPairs([folder], scale=4, patch=16, augment=False)
    clean = CachedPairs([folder], scale=4, patch=16, augment=False, tracks=["bicubic"])
    assert 0 < len(clean) < len(every)
    assert (clean.track == TRACK_IDS["bicubic"]).all()
    assert int((every.track == TRACK_IDS["bicubic"]).sum()) == len(clean)


def test_input_chroma_keeps_luma_and_takes_colour_from_the_input() -> None:
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(1, 1, 8, 8, generator=g).expand(1, 3, 8, 8)  # a grey input
    t = torch.rand(1, 3, 32, 32, generator=g)  # a teacher output with colour
    out = input_chroma(t, lr)
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert torch.allclose((out * w).sum(1), (t * w).sum(1), atol=1e-6)
    spread = out.max(1).values - out.min(1).values
    assert spread.max() < 1e-6  # grey in, grey out


def test_key_changes_with_mix_teachers_and_colour_fix(photos, teachers) -> None:
    cfg = _cfg(photos, teachers)
    ts = {k: load_teacher(replace(cfg.distill, teacher=str(teachers[0])), 4, CPU) for k in cfg.distill.mix}
    files = sorted(photos.glob("*.png"))
    base = pair_cache_key(cfg, ts, files, 32)
    assert pair_cache_key(cfg, ts, files, 32) == base
    assert pair_cache_key(_cfg(photos, teachers, mix={"bicubic": 1.0}), ts, files, 32) != base
    assert pair_cache_key(_cfg(photos, teachers, input_chroma=()), ts, files, 32) != base
    other = dict(ts, mild=load_teacher(replace(cfg.distill, teacher=str(teachers[1])), 4, CPU))
    assert pair_cache_key(cfg, other, files, 32) != base
    assert pair_cache_key(cfg, ts, files[:1], 32) != base


def test_a_run_trains_on_the_pairs(photos, teachers, tmp_path) -> None:
    cfg = _cfg(photos, teachers, cache=str(tmp_path / "cache"))
    cfg = replace(
        cfg,
        model=replace(cfg.model, hparams={"num_feat": 8, "num_conv": 2, "act_type": "prelu"}),
        data=replace(cfg.data, val=str(photos), batch=4),
        train=replace(cfg.train, iters=3, pretrained="", log_every=1, tensorboard=False),
        val=replace(cfg.val, every=0, lpips=False, crop=32, images=1),
    )
    result = fit(cfg, tmp_path / "run")
    assert result.iteration == 3
    assert len(list((tmp_path / "cache").glob("*/shard_*.npz"))) == 1
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"g/distill"' in log  # the distillation term is what it trains on


@pytest.mark.parametrize(
    "distill, message",
    [
        ({"mix": {"blurry": 1.0}}, "unknown input kind"),
        ({"mix": {"mild": 0.0}}, "positive sum"),
        ({"privileged": True}, "privileged: false"),
        ({"cache": ""}, "needs distill.cache"),
        ({"input_chroma": ["sepia"]}, "unknown input kind"),
        ({"train_on": ["clean"]}, "unknown input kind"),
    ],
)
def test_bad_mixes_are_refused(distill: dict, message: str) -> None:
    base = {"teacher": "x", "mix": {"mild": 1.0}, "cache": "c", "privileged": False}
    with pytest.raises(ConfigError, match=message):
        from_dict({"distill": {**base, **distill}})
