"""The job queue of ``gensr serve``: bounded, one worker thread per device, results on disk for a while.

Memory stays bounded however many clients there are: at most ``queue`` jobs wait (their uploads are files
on disk, not in memory), at most ``per_client`` of them from one client (so that one client cannot fill
the queue for everyone), and each device runs one job at a time, so at most one decoded image and its
result are in memory per device. Each worker keeps the last :data:`MODELS_PER_WORKER` models it used
loaded on its device, each loaded as ``gensr upscale`` loads it (:func:`gensr.infer.choose.load_upscaler`:
the same precision, engine and tile choice, so the same bytes). Every job has its own folder under one
``tempfile.mkdtemp()`` folder; a finished job's folder is deleted ``keep_seconds`` after it finished, and
the whole folder at :meth:`JobService.close`.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gensr.imageio import ImageReadError, read_image, write_bands
from gensr.infer import Upscaler
from gensr.infer.choose import load_upscaler
from gensr.serve.uploads import Probe, result_name

log = logging.getLogger("gensr.serve")

MODELS_PER_WORKER = 2
"""Models a worker keeps loaded on its device (least recently used one dropped first)."""
MAX_KEPT_JOBS = 1000
"""Finished jobs kept at most; beyond that the oldest are deleted before their time is up."""

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


class QueueFull(Exception):
    """The queue holds ``capacity`` waiting jobs already; try again later."""


class ClientBusy(Exception):
    """This client has ``per_client`` jobs waiting already; try again later."""


class _Cancelled(Exception):
    """Raised inside the progress callback to stop a running job."""


@dataclass(eq=False)
class Job:
    """One upload on its way to a result. Fields written by the worker are read by the web handlers."""

    id: str
    folder: Path
    """This job's own folder (holds ``src`` and the result)."""
    src: Path
    name: str
    """The client's file name, made safe (see :func:`gensr.serve.uploads.safe_name`)."""
    probe: Probe
    model: str
    client: str = ""
    """Who sent it, for the per-client bound: a token's number, or the remote address."""
    owner: int | None = None
    """The number of the token it was sent with (None: the server has no tokens)."""
    created: float = field(default_factory=time.time)
    status: str = QUEUED
    done_px: int = 0
    total_px: int = 0
    """Progress in low-resolution pixels (padded), from :class:`~gensr.infer.Upscaler`'s callback."""
    error: str | None = None
    error_status: int = 500
    """HTTP code that describes ``error``: 422 the file would not decode, 500 anything else."""
    result: Path | None = None
    out_size: tuple[int, int] | None = None
    """(width, height) of the result."""
    scale: int | None = None
    started: float | None = None
    finished: float | None = None
    cancel: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def progress(self) -> float:
        """Fraction done, 0..1."""
        if self.status == DONE:
            return 1.0
        return self.done_px / self.total_px if self.total_px else 0.0


@dataclass(frozen=True)
class ModelEntry:
    """A model offered by the server."""

    name: str
    path: Path
    scale: int
    arch: str


class JobService:
    """Queue, workers and temporary folder; thread-safe.

    Args:
        models: the models offered, by name; the first is the default.
        devices: one worker thread each (an empty list runs nothing: jobs only queue).
        precision: ``auto`` (as ``gensr upscale``), ``fp32``, ``bf16`` or ``fp16`` (CUDA only).
        engine: ``auto`` (as ``gensr upscale``), ``torch`` or ``onnxruntime``.
        tile: tile side in input pixels (progress is reported per tile); None = timed for this
            machine, as ``gensr upscale`` does; 0 = the whole image.
        capacity: most jobs waiting (running ones not counted); more raise :class:`QueueFull`.
        per_client: most jobs waiting from one client; more raise :class:`ClientBusy`. None = ``capacity``.
        keep_seconds: a finished job and its files are deleted this long after it finished.
        say: told about precision, engine and tile choices (one line each); None: silent.
    """

    def __init__(
        self,
        models: list[ModelEntry],
        devices: list[torch.device],
        *,
        precision: str = "auto",
        engine: str = "auto",
        tile: int | None = None,
        capacity: int = 8,
        per_client: int | None = None,
        keep_seconds: float = 3600.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        if not models:
            raise ValueError("no models to offer")
        self.models = {m.name: m for m in models}
        self.default_model = models[0].name
        self.devices, self.precision, self.engine, self.tile = devices, precision, engine, tile
        self.capacity, self.keep_seconds, self.say = capacity, keep_seconds, say
        self.per_client = capacity if per_client is None else per_client
        self.root = Path(tempfile.mkdtemp(prefix="gensr-serve-"))
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._stop = threading.Event()  # wakes the janitor (workers wait on _cond)
        self._threads: list[threading.Thread] = []
        self._running: dict[int, str] = {}  # worker index -> job id

    # ----------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start one worker thread per device and the janitor that deletes old results."""
        for i, device in enumerate(self.devices):
            t = threading.Thread(
                target=self._work, args=(i, device), name=f"gensr-worker-{device}", daemon=True
            )
            t.start()
            self._threads.append(t)
        janitor = threading.Thread(target=self._janitor, name="gensr-janitor", daemon=True)
        janitor.start()
        self._threads.append(janitor)

    def close(self, timeout: float = 10.0) -> None:
        """Cancel waiting and running jobs, stop the threads and delete the temporary folder."""
        with self._cond:
            self._closed = True
            for job in self._jobs.values():
                job.cancel = True
            while self._waiting:
                self._finish(self._waiting.popleft(), CANCELLED)
            self._cond.notify_all()
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        shutil.rmtree(self.root, ignore_errors=True)

    # ---------------------------------------------------------------------------------------- jobs

    def new_folder(self) -> Path:
        """A fresh folder for an upload (its name is the future job id)."""
        folder = self.root / secrets.token_urlsafe(12)
        folder.mkdir()
        return folder

    def submit(
        self,
        folder: Path,
        src: Path,
        name: str,
        probe: Probe,
        model: str,
        *,
        client: str = "",
        owner: int | None = None,
    ) -> Job:
        """Queue an accepted upload; the job id is its folder's name.

        Args:
            client: who sends it (see :attr:`Job.client`), for the per-client bound.
            owner: the number of the token it came with (see :attr:`Job.owner`).

        Raises:
            QueueFull: ``capacity`` jobs are waiting already (``folder`` is deleted).
            ClientBusy: ``per_client`` jobs of ``client`` are waiting already (``folder`` is deleted).
            KeyError: unknown model.
        """
        if model not in self.models:
            raise KeyError(model)
        job = Job(
            id=folder.name,
            folder=folder,
            src=src,
            name=name,
            probe=probe,
            model=model,
            client=client,
            owner=owner,
        )
        with self._cond:
            if self._closed or len(self._waiting) >= self.capacity:
                shutil.rmtree(folder, ignore_errors=True)
                raise QueueFull
            if sum(j.client == client for j in self._waiting) >= self.per_client:
                shutil.rmtree(folder, ignore_errors=True)
                raise ClientBusy
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._cond.notify()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int | None:
        """Jobs ahead of a waiting job (0: next), or None when it is not waiting."""
        with self._cond:
            try:
                return self._waiting.index(job)
            except ValueError:
                return None

    def waiting(self, client: str | None = None) -> int:
        """Jobs waiting (only ``client``'s, when given)."""
        with self._cond:
            return sum(client is None or j.client == client for j in self._waiting)

    def delete(self, job_id: str) -> bool:
        """Cancel a job (a running one stops at its next tile) and delete its files; False if unknown."""
        with self._cond:
            job = self._jobs.pop(job_id, None)
            if job is None:
                return False
            job.cancel = True
            if job in self._waiting:
                self._waiting.remove(job)
                self._finish(job, CANCELLED)
            running = job.id in self._running.values()
        if not running:  # a running job's folder is deleted by its worker
            shutil.rmtree(job.folder, ignore_errors=True)
        return True

    # ------------------------------------------------------------------------------------- workers

    def _take(self, index: int) -> Job | None:
        with self._cond:
            while not self._waiting and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            job = self._waiting.popleft()
            job.status, job.started = RUNNING, time.time()
            self._running[index] = job.id
            return job

    def _work(self, index: int, device: torch.device) -> None:
        cache: OrderedDict[str, Upscaler] = OrderedDict()
        while (job := self._take(index)) is not None:
            try:
                self._run(job, device, cache)
            except _Cancelled:
                self._finish(job, CANCELLED)
            except Exception as e:  # noqa: BLE001 - one bad job must not stop the worker
                if not isinstance(e, (RuntimeError, ValueError, OSError, FloatingPointError)):
                    log.exception("job %s (%s) failed", job.id, job.name)
                job.error = f"{job.name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                self._finish(job, FAILED)
            with self._cond:
                self._running.pop(index, None)
                gone = job.id not in self._jobs  # deleted while running
            if gone:
                shutil.rmtree(job.folder, ignore_errors=True)

    def _run(self, job: Job, device: torch.device, cache: OrderedDict[str, Upscaler]) -> None:
        up = self._upscaler(job.model, device, cache)
        job.scale = up.scale
        try:
            img = read_image(job.src)
        except ImageReadError as e:
            job.error, job.error_status = f"{job.name}: {e.reason}", 422
            self._finish(job, FAILED)
            return

        def progress(done: int, total: int) -> None:
            if job.cancel:
                raise _Cancelled
            job.done_px, job.total_px = done, total

        dst = job.folder / result_name(job.name, job.probe.format, up.scale)
        out_size = (img.width * up.scale, img.height * up.scale)
        # encoded band by band as the tiles finish: the full-size output is never held (a cancel or an
        # error inside leaves no file)
        write_bands(dst, up.upscale_bands(img, progress), height=out_size[1])
        del img
        if job.cancel:
            raise _Cancelled
        job.result, job.out_size = dst, out_size
        self._finish(job, DONE)

    def load(self, model: str, device: torch.device) -> Upscaler:
        """``model`` ready on ``device``, loaded as ``gensr upscale`` loads it (precision, engine, tile).

        Raises:
            ValueError: the precision or engine cannot run on ``device``; or what loading raises.
        """
        return load_upscaler(
            self.models[model].path,
            device=device,
            precision=self.precision,
            engine=self.engine,
            tile=self.tile,
            say=self.say,
        ).upscaler

    def _upscaler(self, model: str, device: torch.device, cache: OrderedDict[str, Upscaler]) -> Upscaler:
        if model in cache:
            cache.move_to_end(model)
            return cache[model]
        while len(cache) >= MODELS_PER_WORKER:
            cache.popitem(last=False)
        cache[model] = self.load(model, device)
        return cache[model]

    def _finish(self, job: Job, status: str) -> None:
        job.status, job.finished = status, time.time()
        job.done.set()

    # ------------------------------------------------------------------------------------- janitor

    def _janitor(self) -> None:
        period = min(60.0, max(0.05, self.keep_seconds / 4))
        while not self._stop.wait(period):
            self.expire()

    def expire(self, now: float | None = None) -> list[str]:
        """Delete finished jobs older than ``keep_seconds`` (and the oldest beyond :data:`MAX_KEPT_JOBS`)."""
        now = time.time() if now is None else now
        with self._cond:
            finished = sorted(
                (j for j in self._jobs.values() if j.finished is not None), key=lambda j: j.finished or 0
            )
            extra = max(0, len(finished) - MAX_KEPT_JOBS)
            old = [
                j
                for k, j in enumerate(finished)
                if k < extra or now - (j.finished or now) > self.keep_seconds
            ]
            for j in old:
                del self._jobs[j.id]
        for j in old:
            shutil.rmtree(j.folder, ignore_errors=True)
        return [j.id for j in old]
