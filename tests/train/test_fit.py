"""The trainer: every preset trains on real photos (tiny sizes), steps update what they should,
SIGTERM + --resume reproduces the uninterrupted loss log bit for bit, non-finite guard, release, plot."""

from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gensr.archs import build_discriminator, build_generator
from gensr.cli import main
from gensr.models import save_model
from gensr.train import TrainingError, fit, learning_rate, train_step_d, train_step_g
from gensr.train.checkpoint import list_checkpoints, load_checkpoint
from gensr.train.config import TrainConfig, dump_config, load_config
from gensr.train.losses import PerceptualLoss
from gensr.train.runlog import read_log
from gensr.train.strict import to_plain

CONFIGS = Path(__file__).parents[2] / "configs"
PRESETS = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
TINY_G = {
    "srresnet": "{num_feat: 8, num_block: 1}",
    "rrdbnet": "{num_feat: 8, num_block: 1, num_grow_ch: 4}",
    "compact": "{num_feat: 8, num_conv: 2}",
    "spandrel": "{architecture: SPAN, feature_channels: 8}",
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two 136 px crops of real photos to train on, one 64 px crop of another to validate on."""
    from gensr.data.photos import sample_photos

    imgs = dict(sample_photos())
    root = tmp_path_factory.mktemp("photos")
    (root / "train").mkdir()
    (root / "val").mkdir()
    Image.fromarray(np.ascontiguousarray(imgs["astronaut"][60:196, 150:286])).save(root / "train" / "a.png")
    Image.fromarray(np.ascontiguousarray(imgs["coffee"][100:236, 200:336])).save(root / "train" / "c.png")
    Image.fromarray(np.ascontiguousarray(imgs["rocket"][200:264, 300:364])).save(root / "val" / "r.png")
    return root / "train", root / "val"


def tiny(preset: str, photos: tuple[Path, Path], *extra: str) -> TrainConfig:
    """A preset shrunk to seconds: tiny networks, 2 crops per batch, 1 + 2 iterations, shallow VGG taps."""
    base = load_config(CONFIGS / f"{preset}.yaml")
    patch = (
        128 if base.discriminator.arch == "vgg" and base.loss.adversarial_weight > 0 else 32
    )  # VGG D: 128/256
    overrides = [
        f"data.train=[{photos[0]}]",
        f"data.val={photos[1]}",
        f"data.patch={patch}",
        "data.batch=2",
        "data.workers=0",
        f"model.hparams={TINY_G[base.model.arch]}",
        "discriminator.hparams.num_feat=4",
        "perceptual.layers={conv1_2: 0.5, relu2_1: 0.5}",
        "pretrain.iters=1",
        "optim.warmup_iters=0",
        "train.iters=2",
        "train.log_every=1",
        "train.tensorboard=false",
        "val.every=0",
        "val.crop=64",
        "val.lpips=false",
        "val.save_images=1",
    ]
    if base.distill.mix:  # cached pairs need a cache: a few, from a tiny teacher for every kind of input
        cache = photos[0].parent / "pairs"
        overrides += [f"distill.teacher={tiny_teacher(photos[0].parent)}", "distill.teachers={}"]
        overrides += [f"distill.cache={cache}", "distill.crops=8", "distill.margin=8", "data.batch=2"]
    elif base.distill.teacher:  # a tiny x4 teacher instead of the preset's (imported) one, targets on the fly
        overrides += [f"distill.teacher={tiny_teacher(photos[0].parent)}", "distill.cache=''"]
    if base.train.pretrained:
        overrides.append("train.pretrained=''")
    return load_config(CONFIGS / f"{preset}.yaml", [*overrides, *extra])


def tiny_teacher(folder: Path) -> Path:
    path = folder / "teacher.safetensors"
    if not path.exists():
        torch.manual_seed(5)
        save_model(path, build_generator("compact", {"num_feat": 8, "num_conv": 2, "scale": 4}))
    return path


def losses(run_dir: Path) -> list[dict[str, object]]:
    return [r for r in read_log(run_dir / "log.jsonl") if "stage" in r]


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_trains(preset: str, photos: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = tiny(preset, photos, "train.ckpt_every=1", "train.keep_last=2")
    result = fit(cfg, tmp_path)
    assert result.iteration == 3 and not result.interrupted
    assert [i for i, _ in list_checkpoints(tmp_path)] == [2, 3]
    records = losses(tmp_path)
    assert [r["stage"] for r in records] == [1, 2, 2]
    for r in records:
        assert all(np.isfinite(v) for k, v in r.items() if isinstance(v, float)), r
    keys = set(records[-1])
    assert ("g/percep" in keys) == (cfg.loss.perceptual_weight > 0)
    assert ("g/adv" in keys) == ("d/real" in keys) == (cfg.loss.adversarial_weight > 0)
    assert "g/percep" not in records[0] and "g/adv" not in records[0]  # stage 1: pixel loss only
    assert records[0]["lr"] == cfg.pretrain.lr and records[1]["lr"] == cfg.optim.lr_g
    # G's weights moved away from their (seeded) initialization
    state = load_checkpoint(result.checkpoint)
    torch.manual_seed(cfg.train.seed)
    init = build_generator(cfg.model.arch, {**cfg.model.hparams, "scale": cfg.scale}).state_dict()
    assert any(not torch.equal(init[k], v) for k, v in state["g"].items())
    assert state["config"] == to_plain(cfg)
    assert "val/psnr_y" in result.metrics and "val/bicubic_psnr_y" in result.metrics
    assert (tmp_path / "config.yaml").read_text() == dump_config(cfg)
    assert list((tmp_path / "samples").glob("iter_00000003_*.png"))


def test_preset_perceptual_layers_exist_in_vgg16() -> None:
    from gensr.metrics.backbones import vgg16_features

    vgg = vgg16_features()
    checked = 0
    for preset in PRESETS:
        cfg = load_config(CONFIGS / f"{preset}.yaml")
        if cfg.loss.perceptual_weight > 0:
            loss = PerceptualLoss(vgg, cfg.perceptual.layers, cfg.perceptual.criterion)
            assert sorted(loss.taps.values()) == sorted(cfg.perceptual.layers.values()), preset
            checked += 1
    assert checked >= 3  # srgan, esrgan, realesrgan and the compact presets weigh a perceptual loss


def test_bf16_autocast_trains(photos: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = tiny("realesrgan-compact", photos, "train.precision=bf16", "data.val=''")
    fit(cfg, tmp_path)
    records = losses(tmp_path)
    assert len(records) == 3 and all(np.isfinite(r["g/total"]) for r in records)


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "ragan", "hinge"])
def test_steps_update_g_then_d_and_restore_requires_grad(kind: str) -> None:
    from gensr.metrics.backbones import vgg16_features

    g = build_generator("compact", {"num_feat": 8, "num_conv": 1, "scale": 2})
    d = build_discriminator("unet", {"num_feat": 4})
    percep = PerceptualLoss(vgg16_features(), {"conv1_2": 1.0})
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    cfg = load_config(
        None, [f"loss.adversarial={kind}", "loss.adversarial_weight=0.1", "loss.perceptual_weight=1"]
    )
    hr = torch.rand(2, 3, 32, 32)
    lr = torch.nn.functional.avg_pool2d(hr, 2)
    g0 = [p.detach().clone() for p in g.parameters()]
    d0 = [p.detach().clone() for p in d.parameters()]
    sr = g(lr)
    stats = train_step_g(sr, hr, hr, opt_g, cfg.loss, perceptual=percep, d=d)
    assert (
        set(stats) >= {"g/pixel", "g/percep", "g/adv", "g/total", "g/grad_norm"} and stats["g/skipped"] == 0
    )
    assert stats["g/total"] == pytest.approx(
        stats["g/pixel"] + stats["g/percep"] + 0.1 * stats["g/adv"], rel=1e-5
    )
    assert all(not torch.equal(a, p) for a, p in zip(g0, g.parameters(), strict=True))
    assert all(
        torch.equal(a, p) for a, p in zip(d0, d.parameters(), strict=True)
    )  # D untouched by the G step
    assert all(p.requires_grad for p in d.parameters())  # ... and trainable again
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in d.parameters())
    stats = train_step_d(sr, hr, d, opt_d, kind, grad_clip=1e-3)
    assert {"d/real", "d/fake"} <= set(stats) and stats["d/skipped"] == 0
    assert stats["d/grad_norm"] > 1e-3  # the norm before clipping is reported
    assert any(not torch.equal(a, p) for a, p in zip(d0, d.parameters(), strict=True))


def test_non_finite_step_is_skipped() -> None:
    g = build_generator("compact", {"num_feat": 8, "num_conv": 1, "scale": 2})
    opt = torch.optim.Adam(g.parameters(), 1e-3)
    hr = torch.rand(1, 3, 16, 16)
    target = hr.clone()
    target[0, 0, 0, 0] = float("nan")
    before = [p.detach().clone() for p in g.parameters()]
    stats = train_step_g(g(torch.rand(1, 3, 8, 8)), target, hr, opt, load_config(None).loss)
    assert stats["g/skipped"] == 1.0 and not np.isfinite(stats["g/pixel"])
    assert all(torch.equal(a, p) for a, p in zip(before, g.parameters(), strict=True))
    assert not opt.state  # Adam's moments never saw the bad gradient


def test_learning_rate_schedules() -> None:
    o = load_config(None, ["optim.schedule=cosine", "optim.min_lr_ratio=0.1", "optim.warmup_iters=10"]).optim
    assert learning_rate(o, 1.0, 0, 110) == pytest.approx(0.1)
    assert learning_rate(o, 1.0, 10, 110) == pytest.approx(1.0)
    assert learning_rate(o, 1.0, 60, 110) == pytest.approx(0.55)
    assert learning_rate(o, 1.0, 110, 110) == pytest.approx(0.1)


# ---------------------------------------------------------------- resume


def resume_config(photos: tuple[Path, Path]) -> TrainConfig:
    # realistic degradation (its generator state matters), GAN + perceptual, EMA, a stage boundary at 1
    return tiny("realesrgan-compact", photos, "train.iters=4", "val.every=2", "train.ckpt_every=100")


@pytest.fixture(scope="module")
def uninterrupted(photos: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference run, launched through ``gensr train`` (the CLI)."""
    run = tmp_path_factory.mktemp("run") / "a"
    cfg_file = run.parent / "tiny.yaml"
    cfg_file.write_text(dump_config(resume_config(photos)))
    assert main(["train", "--config", str(cfg_file), "--run-dir", str(run)]) == 0
    assert main(["train", "--config", str(cfg_file), "--run-dir", str(run)]) == 2  # refuses to clobber it
    return run


@pytest.mark.parametrize("k", [1, 3])  # 1: at the stage boundary; 3: inside stage 2
def test_sigterm_then_resume_equals_uninterrupted(
    k: int, photos: tuple[Path, Path], uninterrupted: Path, tmp_path: Path
) -> None:
    cfg = resume_config(photos)

    def kill_at_k(it: int) -> None:
        if it == k:
            os.kill(os.getpid(), signal.SIGTERM)

    first = fit(cfg, tmp_path, callback=kill_at_k)
    assert first.interrupted and first.iteration == k
    assert [i for i, _ in list_checkpoints(tmp_path)] == [k]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler removed again
    assert main(["train", "--resume", str(tmp_path)]) == 0
    assert losses(tmp_path) == losses(uninterrupted)  # every loss term, lr and stage, from 1 to 5
    vals = [r for r in read_log(uninterrupted / "log.jsonl") if "val/psnr_y" in r]
    assert vals == [r for r in read_log(tmp_path / "log.jsonl") if "val/psnr_y" in r] and len(vals) == 3
    a, b = (
        load_checkpoint(list_checkpoints(uninterrupted)[-1][1]),
        load_checkpoint(list_checkpoints(tmp_path)[-1][1]),
    )
    for part in ("g", "ema", "d"):
        assert all(torch.equal(a[part][key], b[part][key]) for key in a[part]), part


def test_stop_after_then_resume_equals_uninterrupted(
    photos: tuple[Path, Path], uninterrupted: Path, tmp_path: Path
) -> None:
    """``train.stop_after`` ends a bounded piece of the schedule with a checkpoint; --resume goes on."""
    from dataclasses import replace

    cfg = resume_config(photos)
    cfg = replace(cfg, train=replace(cfg.train, stop_after=3))
    first = fit(cfg, tmp_path)
    assert first.interrupted and first.iteration == 3
    assert [i for i, _ in list_checkpoints(tmp_path)][-1] == 3
    assert main(["train", "--resume", str(tmp_path)]) == 0
    assert losses(tmp_path) == losses(uninterrupted)


def test_release_and_plot(uninterrupted: Path, tmp_path: Path) -> None:
    from gensr.models import load_model

    out = tmp_path / "m.safetensors"
    assert main(["release", str(uninterrupted), "-o", str(out), "--fp16"]) == 0
    assert main(["release", str(uninterrupted), "-o", str(out)]) == 2  # no silent overwrite
    net, info = load_model(out)
    state = load_checkpoint(list_checkpoints(uninterrupted)[-1][1])
    assert info.arch == "compact" and info.scale == 4
    assert info.info["weights"] == "ema" and info.info["iteration"] == 5
    assert info.info["config"] == state["config"] and info.info["recipe"].startswith("Real-ESRGAN")
    assert info.info["metrics"]["psnr_y"] == state["val"]["val/psnr_y"]
    for key, v in net.state_dict().items():
        assert torch.equal(v, state["ema"][key].half().float()), key
    png = tmp_path / "curves.png"
    assert main(["plot", str(uninterrupted), "-o", str(png)]) == 0
    with Image.open(png) as im:
        assert im.width >= 1000 and im.height >= 400  # a grid of panels: losses, lr and validation metrics


def test_finetune_from_released_model(uninterrupted: Path, photos: tuple[Path, Path], tmp_path: Path) -> None:
    from gensr.models import load_model

    model = tmp_path / "m.safetensors"
    assert main(["release", str(uninterrupted), "-o", str(model)]) == 0
    cfg = tiny(
        "srresnet",
        photos,
        "model.arch=''",
        "model.hparams={}",
        f"train.pretrained={model}",
        "pretrain.iters=0",
        "train.iters=1",
        "optim.lr_g=0.0",
        "data.val=''",
    )
    result = fit(cfg, tmp_path / "run")
    saved = load_config(tmp_path / "run" / "config.yaml")
    assert saved.model.arch == "compact" and saved.model.hparams["num_conv"] == 2  # taken from the file
    net, _ = load_model(model)
    g = load_checkpoint(result.checkpoint)["g"]
    assert all(
        torch.equal(g[key], v) for key, v in net.state_dict().items()
    )  # lr 0: still the file's weights


def test_repeated_non_finite_losses_stop_the_run(photos: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = tiny(
        "srresnet",
        photos,
        "pretrain.iters=0",
        "train.iters=20",
        "optim.lr_g=1e30",
        "train.max_nonfinite=3",
        "train.ckpt_every=1",
        "data.val=''",
    )
    with pytest.raises(TrainingError, match="3 steps in a row had a non-finite") as e:
        fit(cfg, tmp_path)
    good = list_checkpoints(tmp_path)
    assert good and str(good[-1][1]) in str(e.value)
    stopped = int(str(e.value).split("iteration ")[1].split(":")[0])
    assert good[-1][0] == stopped - 3  # nothing written during the bad streak
    events = [r for r in read_log(tmp_path / "log.jsonl") if r.get("event") == "nonfinite"]
    assert [r["iter"] for r in events] == list(range(stopped - 2, stopped + 1))
    state = load_checkpoint(good[-1][1])
    assert all(torch.isfinite(v).all() for v in state["g"].values())


def test_loader_workers_do_not_change_the_batches(photos: tuple[Path, Path]) -> None:
    from torch.utils.data import DataLoader

    from gensr.train.sampling import EpochItems, StreamBatchSampler
    from gensr.train.setup import train_dataset

    ds = train_dataset(tiny("srresnet", photos))
    batches = []
    for workers in (0, 2):
        sampler = StreamBatchSampler(len(ds), 0, 3, 1, 4)  # batches 1..3 of 3 items: they span epochs
        batches.append(list(DataLoader(EpochItems(ds), batch_sampler=sampler, num_workers=workers)))
    assert len(batches[0]) == 3
    assert all(torch.equal(a, b) for a, b in zip(*batches, strict=True))


def test_discriminator_collapse_is_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from gensr.train.loop import _enforce_guards
    from gensr.train.runlog import RunLog
    from gensr.train.state import Guards, update_guards

    cfg = load_config(None, ["train.collapse_iters=3"])
    d_wins = {"g/skipped": 0.0, "d/skipped": 0.0, "d/real": 1e-5, "d/fake": 2e-5}
    guards = Guards()
    with RunLog(tmp_path) as log:
        for it in range(1, 6):
            guards = update_guards(guards, d_wins)
            run = SimpleNamespace(cfg=cfg, iteration=it, guards=guards, log=log, run_dir=tmp_path)
            _enforce_guards(run, {"d/real": 1e-5, "d/fake": 2e-5})  # type: ignore[arg-type]
    assert guards == Guards(nonfinite=0, collapse=5)
    assert update_guards(guards, {"d/real": 0.3, "d/fake": 0.4}).collapse == 0  # the streak ends
    warnings = [r for r in read_log(tmp_path / "log.jsonl") if r.get("event") == "warning"]
    assert [r["iter"] for r in warnings] == [3]  # once per streak
    assert "discriminator loss has stayed below 1e-3 for 3 iterations" in capsys.readouterr().err


def test_stage1_is_the_users_pixel_term_alone() -> None:
    from gensr.train.steps import train_step_g

    g = build_generator("compact", {"num_feat": 4, "num_conv": 1, "scale": 2})
    d = build_discriminator("unet", {"num_feat": 4})
    lr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    loss = load_config(None, ["loss.pixel_weight=0.25", "loss.adversarial_weight=0.1"]).loss
    opt = torch.optim.Adam(g.parameters())
    stats = train_step_g(g(lr), hr, hr, opt, loss, stage=1, d=d)
    assert "g/adv" not in stats and "g/percep" not in stats
    assert stats["g/total"] == pytest.approx(0.25 * stats["g/pixel"])
    assert "g/adv" in train_step_g(g(lr), hr, hr, opt, loss, stage=2, d=d)


def test_samples_are_split_into_train_and_held_out() -> None:
    from gensr.train.setup import SAMPLE_VAL, sample_files

    train, val = sample_files()
    assert [p.stem for p in val] == list(SAMPLE_VAL) and len(train) == 7
    assert not {p.stem for p in train} & set(SAMPLE_VAL)
    assert all(p.is_file() for p in train + val)


# ---------------------------------------------------------------- spandrel architectures


def span_config(photos: tuple[Path, Path], *extra: str) -> TrainConfig:
    """The Real-ESRGAN recipe (pixel, perceptual and GAN terms, realistic degradation, EMA, a stage
    boundary at 1) with a tiny SPAN of spandrel's as G."""
    return tiny(
        "realesrgan",
        photos,
        "model.arch=spandrel",
        f"model.hparams={TINY_G['spandrel']}",
        "train.iters=3",
        "val.every=2",
        "train.ckpt_every=100",
        *extra,
    )


needs_spandrel = pytest.mark.skipif(
    importlib.util.find_spec("spandrel") is None, reason="spandrel not installed"
)


@needs_spandrel
def test_spandrel_span_trains_resumes_releases_and_loads_back(
    photos: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dataclasses import replace

    from gensr.archs.spandrel import trainable_hparams
    from gensr.imageio import read_image
    from gensr.models import load_model

    cfg = span_config(photos)
    cfg_file = tmp_path / "span.yaml"
    cfg_file.write_text(dump_config(cfg))
    whole, piece = tmp_path / "whole", tmp_path / "piece"
    assert main(["train", "--config", str(cfg_file), "--run-dir", str(whole)]) == 0
    records = losses(whole)
    assert [r["stage"] for r in records] == [1, 2, 2, 2] and {"g/percep", "g/adv", "d/real"} <= set(
        records[-1]
    )
    assert (
        len([r for r in read_log(whole / "log.jsonl") if "val/psnr_y" in r]) == 2
    )  # iteration 2 and the end
    first = fit(replace(cfg, train=replace(cfg.train, stop_after=2)), piece)
    assert first.interrupted and main(["train", "--resume", str(piece)]) == 0
    assert losses(piece) == losses(whole)  # the checkpoint holds all of SPAN's state

    out = tmp_path / "span.safetensors"
    assert main(["release", str(whole), "-o", str(out)]) == 0
    net, info = load_model(out)  # through the path of any third-party SPAN file
    assert info.arch == "spandrel" and info.hparams == {"architecture": "SPAN", "scale": 4}
    assert trainable_hparams(net) == {"architecture": "SPAN", "scale": 4, "feature_channels": 8, "norm": True}
    state = load_checkpoint(list_checkpoints(whole)[-1][1])
    ema = build_generator("spandrel", {**cfg.model.hparams, "scale": 4})
    ema.load_state_dict(state["ema"])
    lr = read_image(photos[1] / "r.png").rgb[..., :16, :16]
    with torch.no_grad():
        assert torch.allclose(net(lr), ema.eval()(lr), atol=1e-5)

    up = tmp_path / "up.png"
    argv = ["upscale", str(photos[1] / "r.png"), "-o", str(up), "--model", str(out), "--precision", "fp32"]
    assert main(argv) == 0
    with torch.no_grad():
        want = net(read_image(photos[1] / "r.png").rgb).clamp(0, 1)
    assert (read_image(up).rgb - want).abs().max() <= 1 / 255 + 1e-6  # 8-bit rounding apart
    monkeypatch.setenv("GENSR_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "models").mkdir(parents=True)
    out.rename(tmp_path / "cache" / "models" / "my-span.safetensors")
    capsys.readouterr()
    assert main(["models"]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("my-span "))
    assert "SPAN (spandrel)" in row and "x4" in row, row
    argv = ["eval", "--data", str(photos[1]), "--scale", "4", "--model", "my-span", "--no-lpips"]
    assert main([*argv, "--json", str(tmp_path / "e.json")]) == 0
    import json

    score = json.loads((tmp_path / "e.json").read_text())["methods"]["my-span"]["mean"]["psnr_y"]
    assert np.isfinite(score)


@needs_spandrel
def test_training_starts_from_a_spandrel_file_or_says_why_not(
    photos: tuple[Path, Path], tmp_path: Path
) -> None:
    from gensr.models import load_model
    from gensr.models.spandrel_import import import_spandrel
    from gensr.train.config import ConfigError
    from gensr.train.setup import generator_from_config

    torch.manual_seed(3)
    span = build_generator(
        "spandrel", {"architecture": "SPAN", "scale": 4, "feature_channels": 8, "norm": False}
    )
    torch.save(span.weights(), tmp_path / "span.pth")  # a community file as spandrel users share it
    cfg = span_config(
        photos, "model.arch=''", "model.hparams={}", f"train.pretrained={tmp_path / 'span.pth'}"
    )
    cfg, g = generator_from_config(cfg, True)
    assert cfg.model.arch == "spandrel" and cfg.model.hparams == {
        "architecture": "SPAN", "feature_channels": 8, "norm": False
    }  # fmt: skip
    file_net, _ = load_model(tmp_path / "span.pth")
    assert all(torch.equal(v, file_net.state_dict()[k]) for k, v in g.state_dict().items())
    with pytest.raises(ConfigError, match=r"differs from model \(spandrel; feature_channels\)"):
        generator_from_config(
            span_config(
                photos,
                "model.hparams={architecture: SPAN, feature_channels: 16, norm: false}",
                f"train.pretrained={tmp_path / 'span.pth'}",
            ),
            True,
        )

    import_spandrel()
    from spandrel.architectures.OmniSR import OmniSR

    omni = OmniSR(num_feat=8, block_num=1, up_scale=4, window_size=4)
    torch.save(omni.state_dict(), tmp_path / "omni.pth")
    cfg = span_config(
        photos, "model.arch=''", "model.hparams={}", f"train.pretrained={tmp_path / 'omni.pth'}"
    )
    with pytest.raises(ConfigError) as e:
        generator_from_config(cfg, False)
    why = "a OmniSR model; gensr trains MoSR, PLKSR, RealPLKSR, SAFMN, SPAN, SwiftSRGAN of spandrel's"
    assert str(e.value) == f"train.pretrained: {tmp_path / 'omni.pth'}: {why}"
