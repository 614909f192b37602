"""Distributed training: 2 CPU processes (gloo) with the same global batch train the same weights
as 1 process; the data each process sees is its share of the single-process batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from gensr.train.checkpoint import latest_checkpoint, load_checkpoint
from gensr.train.config import TrainConfig, dump_config, load_config
from gensr.train.sampling import StreamBatchSampler, batch_items, shard_params


def test_shards_partition_the_global_batch() -> None:
    for b in range(5):
        whole = batch_items(5, 3, 4, b)
        parts = [list(StreamBatchSampler(5, 3, 4, b, b + 1, rank=r, world=2))[0] for r in range(2)]
        assert parts[0] + parts[1] == whole
    # the stream visits every image once per epoch
    stream = [i for b in range(5) for i, _ in batch_items(5, 3, 4, b)]
    assert sorted(stream[:5]) == sorted(stream[5:10]) == list(range(5))
    with pytest.raises(ValueError, match="divisible"):
        StreamBatchSampler(5, 0, 3, 0, 1, rank=0, world=2)


def test_shard_params_keeps_each_images_degradation() -> None:
    from gensr import degrade

    cfg = degrade.RealisticConfig(scale=2)
    params = degrade.sample_params(cfg, 4, torch.Generator().manual_seed(0))
    hr = torch.rand(4, 3, 32, 32)
    whole = degrade.apply(hr, params, cfg)
    half = degrade.apply(hr[2:], shard_params(params, 2, 4), cfg)
    assert torch.equal(whole[2:], half)


def _config(data: Path) -> TrainConfig:
    return load_config(
        None,
        [
            f"data.train=[{data}]",
            "data.val=''",
            "data.patch=32",
            "data.batch=4",
            "data.workers=0",
            "model.arch=compact",
            "model.hparams={num_feat: 8, num_conv: 2}",
            "discriminator.arch=unet",
            "discriminator.hparams={num_feat: 4}",
            "loss.adversarial=vanilla",
            "loss.adversarial_weight=0.1",
            "degradation.kind=realistic",
            "pretrain.iters=1",
            "train.iters=3",
            "train.log_every=1",
            "train.tensorboard=false",
        ],
    )


def _worker(rank: int, world: int, port: int, cfg_file: str, run_dir: str) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    torch.set_num_threads(1)
    from gensr.cli import main  # what `torchrun -m gensr train ...` runs in each process

    assert main(["train", "--config", cfg_file, "--run-dir", run_dir]) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_match_one(tmp_path: Path) -> None:
    from gensr.data.photos import sample_photos
    from gensr.train import fit
    from gensr.train.runlog import read_log

    imgs = dict(sample_photos())
    data = tmp_path / "data"
    data.mkdir()
    for name, (y, x) in {"astronaut": (60, 150), "coffee": (100, 200), "rocket": (200, 300)}.items():
        Image.fromarray(np.ascontiguousarray(imgs[name][y : y + 48, x : x + 48])).save(data / f"{name}.png")
    cfg = _config(data)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(dump_config(cfg))

    fit(cfg, tmp_path / "one")
    mp.spawn(_worker, args=(2, _free_port(), str(cfg_file), str(tmp_path / "two")), nprocs=2, join=True)

    one, two = (load_checkpoint(latest_checkpoint(tmp_path / r)) for r in ("one", "two"))  # type: ignore[arg-type]
    assert one["iteration"] == two["iteration"] == 4
    for part in ("g", "ema", "d"):
        for key, v in one[part].items():
            torch.testing.assert_close(two[part][key], v, rtol=1e-4, atol=1e-5, msg=f"{part}.{key}")
    logs = [[r for r in read_log(tmp_path / r / "log.jsonl") if "stage" in r] for r in ("one", "two")]
    assert len(logs[0]) == len(logs[1]) == 4
    for a, b in zip(
        *logs, strict=True
    ):  # rank 0 logs the mean over processes = the single-process batch mean
        for key in ("g/pixel", "g/adv", "d/real", "d/fake"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
