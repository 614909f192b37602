"""Distillation: a student equal to its teacher has zero distillation loss, cached targets equal
on-the-fly ones, the privileged teacher sees the clean LR of the very crop the student gets degraded,
a stale cache is never reused, and an interrupted cache build resumes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from gensr import degrade
from gensr.archs import build_generator
from gensr.data.photos import HRCropDataset
from gensr.train import fit
from gensr.train.config import DistillConfig, load_config
from gensr.train.distill import (
    CachedCrops,
    build_cache,
    cache_key,
    clean_lr,
    load_teacher,
    teacher_targets,
)
from gensr.train.losses import pixel_loss

CONFIGS = Path(__file__).parents[2] / "configs"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def teacher_file(tiny_model_file: Callable[..., Path]) -> Path:
    return tiny_model_file(seed=3)


def crops(photos: Path, patch: int = 32) -> HRCropDataset:
    return HRCropDataset(photos, patch=patch, scale=4, augment=False, seed=0)


def test_student_equal_to_teacher_has_zero_distillation_loss(photos: Path, teacher_file: Path) -> None:
    cfg = DistillConfig(teacher=str(teacher_file), precision="fp32")
    teacher = load_teacher(cfg, 4, CPU)
    student = build_generator("compact", {"num_feat": 8, "num_conv": 2, "scale": 4})
    student.load_state_dict(teacher.net.state_dict())
    hr = torch.stack([crops(photos)[i] for i in range(2)])  # (2, 3, 32, 32)
    # bicubic degradation: the student's LR is the teacher's clean LR
    bicubic = degrade.BicubicConfig(4)
    lr = degrade.apply(hr, degrade.sample_params(bicubic, 2, torch.Generator()), bicubic)
    assert torch.equal(lr, clean_lr(hr, 4))
    t_sr = teacher_targets(teacher, clean_lr(hr, 4))
    with torch.no_grad():
        assert float(pixel_loss("l1", student(lr), t_sr)) == 0.0
    other = build_generator("compact", {"num_feat": 8, "num_conv": 2, "scale": 4})
    with torch.no_grad():
        assert float(pixel_loss("l1", other(lr), t_sr)) > 0.0


def test_cached_targets_equal_on_the_fly(photos: Path, teacher_file: Path, tmp_path: Path) -> None:
    cfg = DistillConfig(teacher=str(teacher_file), precision="fp32", crops=5, batch=5)
    teacher = load_teacher(cfg, 4, CPU)
    ds = crops(photos)
    key = cache_key(teacher, ds.files, 32, cfg)
    folder = build_cache(teacher, ds, tmp_path, cfg, key, progress=False)
    cached = CachedCrops(folder, augment=False)
    assert len(cached) == 5
    hr = torch.stack([cached[i][0] for i in range(5)])
    # the cached crops are the dataset's crops, crop i taken in epoch i // len(ds)
    expect = []
    for i in range(5):
        ds.set_epoch(i // len(ds))
        expect.append(ds[i % len(ds)])
    assert torch.equal(hr, torch.stack(expect))
    on_the_fly = teacher_targets(teacher, clean_lr(hr, 4))
    assert torch.equal(torch.stack([cached[i][1] for i in range(5)]), on_the_fly)


def test_cache_key_changes_with_the_recipe(photos: Path, teacher_file: Path) -> None:
    cfg = DistillConfig(teacher=str(teacher_file), crops=4)
    teacher = load_teacher(cfg, 4, CPU)
    ds = crops(photos)
    base = cache_key(teacher, ds.files, 32, cfg)
    assert cache_key(teacher, ds.files, 32, cfg) == base
    assert cache_key(teacher, ds.files, 64, cfg) != base
    assert cache_key(teacher, ds.files, 32, DistillConfig(teacher=str(teacher_file), crops=5)) != base
    assert cache_key(teacher, ds.files[:1], 32, cfg) != base
    bf16 = load_teacher(DistillConfig(teacher=str(teacher_file), precision="fp32"), 4, CPU)
    assert cache_key(bf16, ds.files, 32, cfg) != base


def test_interrupted_cache_build_resumes(photos: Path, teacher_file: Path, tmp_path: Path) -> None:
    cfg = DistillConfig(teacher=str(teacher_file), precision="fp32", crops=130, batch=16)
    teacher = load_teacher(cfg, 4, CPU)
    ds = crops(photos, patch=16)
    folder = build_cache(teacher, ds, tmp_path, cfg, "k", progress=False)
    shards = sorted(folder.glob("shard_*.npz"))
    assert len(shards) == 3
    stamp = shards[0].stat().st_mtime_ns
    shards[1].unlink()  # as if killed before the second shard was written
    build_cache(teacher, ds, tmp_path, cfg, "k", progress=False)
    assert shards[0].stat().st_mtime_ns == stamp and shards[1].exists()
    assert len(CachedCrops(folder)) == 130


def test_privileged_pairing_uses_the_same_crop(photos: Path, teacher_file: Path, tmp_path: Path) -> None:
    """In a run, the teacher's input is the clean LR of the crop whose degraded LR the student sees."""
    cfg = load_config(
        CONFIGS / "distill-realistic-x4.yaml",
        [
            f"data.train=[{photos}]",
            "data.val=''",
            "data.patch=32",
            "data.batch=2",
            "model.arch=compact",
            "model.hparams={num_feat: 8, num_conv: 2}",
            "train.pretrained=''",
            f"distill.teacher={teacher_file}",
            "distill.precision=fp32",
            "distill.cache=''",
            "loss.perceptual_weight=0",
            "loss.adversarial_weight=0",
            "pretrain.iters=0",
            "train.iters=2",
            "train.tensorboard=false",
        ],
    )
    assert cfg.distill.privileged and cfg.degradation.kind == "realistic"
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    import gensr.train.loop as train_module

    real = train_module.teacher_targets

    def spy(teacher, lr_t):  # type: ignore[no-untyped-def]
        out = real(teacher, lr_t)
        seen.append((lr_t.clone(), out))
        return out

    hrs: list[torch.Tensor] = []
    real_apply = train_module.degrade.apply

    def spy_apply(hr, params, deg):  # type: ignore[no-untyped-def]
        hrs.append(hr.clone())
        return real_apply(hr, params, deg)

    mp = pytest.MonkeyPatch()
    mp.setattr(train_module, "teacher_targets", spy)
    mp.setattr(train_module.degrade, "apply", spy_apply)
    try:
        fit(cfg, tmp_path / "run")
    finally:
        mp.undo()
    assert len(seen) == 2 and len(hrs) == 2
    for (lr_t, _), hr in zip(seen, hrs, strict=True):
        assert torch.equal(lr_t, clean_lr(hr, 4))  # the clean LR of the same crop, not another one


def test_distillation_run_logs_its_term(photos: Path, teacher_file: Path, tmp_path: Path) -> None:
    from gensr.train.runlog import read_log

    cfg = load_config(
        CONFIGS / "distill-clean-x4.yaml",
        [
            f"data.train=[{photos}]",
            "data.val=''",
            "data.patch=32",
            "data.batch=2",
            "model.hparams={num_feat: 8, num_conv: 2}",
            f"distill.teacher={teacher_file}",
            f"distill.cache={tmp_path / 'cache'}",
            "distill.crops=6",
            "train.iters=3",
            "train.log_every=1",
            "train.tensorboard=false",
            "loss.adversarial_weight=0",
            "loss.perceptual_weight=0",
            "distill.perceptual_weight=0",
        ],
    )
    fit(cfg, tmp_path / "run")
    rows = [r for r in read_log(tmp_path / "run" / "log.jsonl") if "stage" in r]
    assert len(rows) == 3 and all(r["g/distill"] > 0 for r in rows)
    assert list((tmp_path / "cache").glob("*/shard_00000.npz"))
