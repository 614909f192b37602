"""The job queue without HTTP: workers, cancellation, expiry, cleanup."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import gensr.infer.choose as choose
from gensr.serve.jobs import Job, JobService, ModelEntry, QueueFull
from gensr.serve.uploads import probe_image


def submit(svc: JobService, tmp_path: Path, model: str, size: int = 8, name: str = "a.png") -> Job:
    src = tmp_path / f"{name}.{time.monotonic_ns()}"
    PILImage.fromarray(np.zeros((size, size, 3), np.uint8)).save(src, format="PNG")
    folder = svc.new_folder()
    shutil.move(src, folder / "input")
    probe = probe_image(folder / "input", name, max_pixels=10**6)
    return svc.submit(folder, folder / "input", name, probe, model)


def test_one_worker_runs_jobs_of_two_models_in_turn(
    tmp_path: Path, tiny_model: ModelEntry, builtin_model: ModelEntry
) -> None:
    svc = JobService([tiny_model, builtin_model], [torch.device("cpu")], tile=8)
    svc.start()
    try:
        done = [submit(svc, tmp_path, m.name) for m in (tiny_model, builtin_model, tiny_model)]
        for job in done:
            assert job.done.wait(30), job.status
            assert job.status == "done" and job.out_size == (32, 32)
            assert job.done_px == job.total_px == 64
            assert job.result is not None and job.result.name == "a_x4.png" and job.result.is_file()
    finally:
        svc.close()
    assert not svc.root.exists()


class _Blocking(choose.Upscaler):
    """An Upscaler that reports progress until released (to catch a job while it runs)."""

    started = threading.Event()
    release = threading.Event()

    def upscale_bands(self, image: Any, progress: Any = None) -> Any:
        while not self.release.is_set():
            progress(1, 2)
            self.started.set()
            time.sleep(0.01)
        yield from super().upscale_bands(image, progress)


@pytest.fixture
def blocking(monkeypatch: pytest.MonkeyPatch) -> type[_Blocking]:
    _Blocking.started.clear()
    _Blocking.release.clear()
    monkeypatch.setattr(choose, "Upscaler", _Blocking)  # what JobService.load builds
    return _Blocking


def test_deleting_a_running_job_stops_it_and_removes_its_files(
    tmp_path: Path, tiny_model: ModelEntry, blocking: type[_Blocking]
) -> None:
    svc = JobService([tiny_model], [torch.device("cpu")], capacity=1)
    svc.start()
    try:
        running = submit(svc, tmp_path, "tiny-x4")
        assert blocking.started.wait(30)
        assert running.status == "running" and running.progress == 0.5
        waiting = submit(svc, tmp_path, "tiny-x4")
        assert svc.position(waiting) == 0
        with pytest.raises(QueueFull):
            submit(svc, tmp_path, "tiny-x4")
        assert svc.delete(running.id)
        assert running.done.wait(30) and running.status == "cancelled"
        blocking.release.set()
        assert waiting.done.wait(30) and waiting.status == "done"
        deadline = time.monotonic() + 10
        while running.folder.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not running.folder.exists()
        assert svc.get(running.id) is None and not svc.delete(running.id)
    finally:
        svc.close()


def test_close_cancels_running_and_waiting_jobs(
    tmp_path: Path, tiny_model: ModelEntry, blocking: type[_Blocking]
) -> None:
    svc = JobService([tiny_model], [torch.device("cpu")])
    svc.start()
    running = submit(svc, tmp_path, "tiny-x4")
    assert blocking.started.wait(30)
    waiting = submit(svc, tmp_path, "tiny-x4")
    t0 = time.monotonic()
    svc.close()
    assert time.monotonic() - t0 < 5
    assert running.status == waiting.status == "cancelled"
    assert not svc.root.exists()


def test_expire_deletes_old_finished_jobs_only(tmp_path: Path, tiny_model: ModelEntry) -> None:
    svc = JobService([tiny_model], [], keep_seconds=60)  # no worker: jobs stay queued
    try:
        queued = submit(svc, tmp_path, "tiny-x4")
        finished = submit(svc, tmp_path, "tiny-x4")
        svc._waiting.remove(finished)  # as if a worker had taken it
        svc._finish(finished, "done")
        assert svc.expire(now=time.time() + 30) == []
        assert svc.expire(now=time.time() + 61) == [finished.id]
        assert not finished.folder.exists() and queued.folder.exists()
    finally:
        svc.close()
    assert not svc.root.exists()


def test_unknown_model_is_refused(tmp_path: Path, tiny_model: ModelEntry) -> None:
    svc = JobService([tiny_model], [])
    try:
        with pytest.raises(KeyError):
            submit(svc, tmp_path, "other")
    finally:
        svc.close()
