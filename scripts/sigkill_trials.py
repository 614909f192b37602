"""SIGKILL ``gensr train`` at random moments, resume, and require the uninterrupted run's loss trace.

Usage: python scripts/sigkill_trials.py [--trials 10] [--seed 0] [--iters 8] [--workdir DIR]

One reference run trains a tiny Real-ESRGAN-compact recipe (realistic degradation, GAN, perceptual,
EMA, a stage boundary) uninterrupted through the ``gensr train`` command. Each trial starts the
same run and kills it with SIGKILL (no handler can run) at a random moment, up to three times;
after each kill it checks that the newest checkpoint loads and resumes with ``gensr train --resume``
(or starts afresh when no checkpoint was written yet), until the run finishes. A trial passes when
every loss line (``g/*``, ``d/*``, ``lr``, ``stage``) and every validation line equal the reference's,
each resume started from the newest complete checkpoint, and no temporary ``.part`` file is left.
Prints one line per trial and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
KILLS_PER_TRIAL = 3


def make_config(work: Path, iters: int) -> Path:
    """A seconds-long recipe on two real photo crops (and a third to validate on)."""
    from gensr.data.photos import sample_photos
    from gensr.train.config import dump_config, load_config

    imgs = dict(sample_photos())
    (work / "train").mkdir(parents=True, exist_ok=True)
    (work / "val").mkdir(exist_ok=True)
    Image.fromarray(np.ascontiguousarray(imgs["astronaut"][60:196, 150:286])).save(work / "train" / "a.png")
    Image.fromarray(np.ascontiguousarray(imgs["coffee"][100:236, 200:336])).save(work / "train" / "c.png")
    Image.fromarray(np.ascontiguousarray(imgs["rocket"][200:264, 300:364])).save(work / "val" / "r.png")
    cfg = load_config(
        ROOT / "configs" / "realesrgan-compact.yaml",
        [
            f"data.train=[{work / 'train'}]", f"data.val={work / 'val'}", "data.patch=32", "data.batch=2",
            "data.workers=0", "model.hparams={num_feat: 8, num_conv: 2}", "discriminator.hparams.num_feat=4",
            "perceptual.layers={conv1_2: 0.5, relu2_1: 0.5}", "pretrain.iters=2", f"train.iters={iters}",
            "train.log_every=1", "train.tensorboard=false", "train.ckpt_every=1", "train.keep_last=2",
            "val.every=3", "val.crop=64", "val.lpips=false", "val.save_images=1",
        ],
    )  # fmt: skip
    path = work / "tiny.yaml"
    path.write_text(dump_config(cfg))
    return path


def gensr(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "gensr", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def trace(run: Path) -> tuple[list[dict], list[dict]]:
    """The loss lines and the validation lines of a run's log."""
    from gensr.train.runlog import read_log

    records = read_log(run / "log.jsonl")
    return [r for r in records if "stage" in r], [r for r in records if "val/psnr_y" in r]


def newest_checkpoint(run: Path) -> int | None:
    """Iteration of the newest checkpoint, which must load; None if there is none."""
    from gensr.train.checkpoint import latest_checkpoint, load_checkpoint

    path = latest_checkpoint(run)
    return None if path is None else int(load_checkpoint(path)["iteration"])


def kill_moment(p: subprocess.Popen[bytes], run: Path, rng: random.Random, total: int) -> bool:
    """Wait for a random moment of the run and SIGKILL it there; False if it ended first.

    One kill in five lands during start-up (imports, networks, data); the others after a random
    number of logged iterations plus a random fraction of a second, so they fall inside steps,
    validations and checkpoint writes alike.
    """
    if rng.random() < 0.2:
        deadline, target = time.monotonic() + rng.uniform(0.2, 4.0), None
    else:
        deadline, target = None, rng.randrange(max(total - 1, 1))
    while p.poll() is None:
        if deadline is None and target is not None and _logged(run) > target:
            deadline = time.monotonic() + rng.uniform(0.0, 0.6)
        if deadline is not None and time.monotonic() >= deadline:
            p.send_signal(signal.SIGKILL)
            p.communicate()
            return True
        time.sleep(0.01)
    return False


def _logged(run: Path) -> int:
    try:
        return (run / "log.jsonl").read_bytes().count(b'"stage"')
    except OSError:
        return 0


def trial(config: Path, run: Path, rng: random.Random, total: int) -> tuple[int, str | None]:
    """One trial: ``(kills, what went wrong or None)``."""
    kills = 0
    while True:
        try:
            ckpt = newest_checkpoint(run)
        except Exception as e:  # noqa: BLE001 - a checkpoint that does not load is the failure looked for
            return kills, f"newest checkpoint unreadable after {kills} kills: {e}"
        args = ("train", "--resume", str(run)) if ckpt is not None else ("train", "--config", str(config),
                                                                          "--run-dir", str(run))  # fmt: skip
        p = gensr(*args)
        if kills < KILLS_PER_TRIAL and kill_moment(p, run, rng, total):
            kills += 1
            continue
        _, err = p.communicate()
        if p.returncode != 0:
            return kills, f"exit {p.returncode}: {err.decode(errors='replace').strip()[-300:]}"
        if ckpt is not None:
            resumed = [json.loads(ln) for ln in (run / "log.jsonl").read_text().splitlines()
                       if '"resume"' in ln]  # fmt: skip
            if not resumed or resumed[-1]["iter"] != ckpt:
                return (
                    kills,
                    f"resumed at {resumed[-1]['iter'] if resumed else None}, newest checkpoint {ckpt}",
                )
        return kills, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iters", type=int, default=8, help="stage-2 iterations of the tiny recipe")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gensr-sigkill-"))
    config = make_config(work, args.iters)
    ref = work / "reference"
    t0 = time.perf_counter()
    p = gensr("train", "--config", str(config), "--run-dir", str(ref))
    _, err = p.communicate()
    duration = time.perf_counter() - t0
    if p.returncode != 0:
        print(f"reference run failed: {err.decode(errors='replace')[-500:]}")  # noqa: T201
        return 1
    want = trace(ref)
    print(f"reference: {len(want[0])} loss lines, {len(want[1])} validation lines, {duration:.1f} s")  # noqa: T201
    rng = random.Random(args.seed)
    failed = 0
    for i in range(args.trials):
        t = time.perf_counter()
        for attempt in range(3):  # a run that ended before its random moment was never killed: again
            run = work / f"trial{i}" if not attempt else work / f"trial{i}-{attempt}"
            kills, problem = trial(config, run, rng, len(want[0]))
            if kills or problem:
                break
        if problem is None and trace(run) != want:
            problem = "loss or validation trace differs from the uninterrupted run's"
        leftovers = [str(q.relative_to(run)) for q in run.rglob("*.part")]
        if problem is None and leftovers:
            problem = f"temporary files left: {leftovers}"
        log = run / "log.jsonl"
        resumes = log.read_text().count('"resume"') if log.exists() else 0
        print(f"trial {i}: {'ok  ' if problem is None else 'FAIL'} {kills} kills, {resumes} resumes, "  # noqa: T201
              f"{time.perf_counter() - t:.1f} s  {problem or ''}", flush=True)  # fmt: skip
        failed += problem is not None
    print(f"{args.trials - failed} of {args.trials} trials resumed to the uninterrupted loss trace")  # noqa: T201
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
