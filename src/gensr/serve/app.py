"""The ASGI application of ``gensr serve`` (Starlette): the page, the HTTP API, JSON errors.

Routes (all answers that are not images are JSON; errors are ``{"error": "..."}``):

- ``GET /`` the page; ``GET /static/*`` its script and style (no other assets, nothing external)
- ``POST /v1/upscale`` an image as multipart (field ``file``) or as the raw request body;
  202 ``{"id": ...}``, or with ``wait=true`` the upscaled image itself
- ``GET /v1/jobs/{id}`` status and progress; ``GET /v1/jobs/{id}/result`` the image;
  ``DELETE /v1/jobs/{id}`` cancel and delete; ``GET /v1/results.zip?ids=a,b`` finished results
- ``GET /v1/models``, ``GET /healthz``, ``GET /openapi.json``

Every request passes :class:`gensr.serve.access.Guard` first (Host, Origin, token, CORS). A job is
seen only with the token it was sent with, or the server's own token (:func:`gensr.serve.access.may_read`);
others get the same 404 as for a job that does not exist.
"""

from __future__ import annotations

import asyncio
import shutil
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gensr import __version__
from gensr.imageio import read_image, write_image
from gensr.serve import access as guard
from gensr.serve.access import Access, Guard, access_for
from gensr.serve.jobs import CANCELLED, DONE, FAILED, QUEUED, ClientBusy, Job, JobService, QueueFull
from gensr.serve.openapi import openapi_spec
from gensr.serve.receive import MULTIPART_SLACK, Body, receive, too_big_error
from gensr.serve.uploads import MEDIA_TYPES, UploadError, probe_image

STATIC = Path(__file__).parent / "static"
RETRY_AFTER_S = 5
"""Seconds a client is told to wait when the queue (or its own share of it) is full."""
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
"""The page may load nothing from anywhere else."""


def create_app(
    service: JobService, *, max_upload: int, max_pixels: int, access: Access | None = None
) -> Starlette:
    """The application; it starts ``service``'s workers on startup and closes it on shutdown.

    Args:
        service: the job queue (not started yet).
        max_upload: most bytes in one uploaded file (more: 413).
        max_pixels: most input pixels, width × height (more: 422).
        access: who may use it (:mod:`gensr.serve.access`); None: a loopback server without tokens.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await run_in_threadpool(service.close)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": CSP})

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "devices": [str(d) for d in service.devices],
                "queue": {"waiting": service.waiting(), "capacity": service.capacity},
                "limits": {"max_upload_bytes": max_upload, "max_pixels": max_pixels},
                "default_model": service.default_model,
            }
        )

    async def models(request: Request) -> Response:
        listing = [
            {"name": m.name, "scale": m.scale, "arch": m.arch, "default": m.name == service.default_model}
            for m in service.models.values()
        ]
        return JSONResponse({"default": service.default_model, "models": listing})

    async def upscale(request: Request) -> Response:
        body = Body(request)
        mine = service.waiting(guard.client(request.scope))
        if mine >= service.per_client and service.waiting() < service.capacity:  # a full queue says 503
            await body.drain()  # refused before the upload is stored (checked again when it is queued)
            return _client_busy(service.per_client, close=not body.complete)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_upload + MULTIPART_SLACK:
            if "100-continue" not in request.headers.get("expect", "").lower():
                await body.drain()  # clients that sent it all read the answer only once it is sent
            return _error(413, str(too_big_error(max_upload)), close=not body.complete)
        folder = service.new_folder()
        try:
            src = folder / "input"
            name, fields = await receive(request, body, src, max_upload)
            params = {**request.query_params, **fields}
            model = params.get("model") or service.default_model
            if model not in service.models:
                known = ", ".join(service.models)
                raise UploadError(404, f"unknown model {model!r} (this server offers: {known})")
            probe = await run_in_threadpool(probe_image, src, name, max_pixels=max_pixels)
            job = service.submit(
                folder,
                src,
                name,
                probe,
                model,
                client=guard.client(request.scope),
                owner=guard.owner(request.scope),
            )
        except UploadError as e:
            shutil.rmtree(folder, ignore_errors=True)
            await body.drain()
            return _error(e.status, str(e), close=not body.complete)
        except QueueFull:
            return _error(
                503,
                f"the server is busy ({service.capacity} images are waiting); try again in {RETRY_AFTER_S} s",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        except ClientBusy:
            return _client_busy(service.per_client)
        except ClientDisconnect:
            shutil.rmtree(folder, ignore_errors=True)
            return Response(status_code=400)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if not _flag(params.get("wait")):
            return JSONResponse(_job_json(job, service), 202, headers={"Location": f"/v1/jobs/{job.id}"})
        await _wait(job, request, service)
        return _result(job, download=False)

    async def job_status(request: Request) -> Response:
        return JSONResponse(_job_json(_job(request), service))

    async def job_delete(request: Request) -> Response:
        if not service.delete(_job(request).id):
            raise HTTPException(404, "no such job (finished jobs are deleted after a while)")
        return Response(status_code=204)

    async def job_result(request: Request) -> Response:
        return _result(_job(request), download=_flag(request.query_params.get("download")))

    async def job_preview(request: Request) -> Response:
        job = _job(request)
        which = request.query_params.get("which", "result")
        if which not in ("input", "result"):
            raise HTTPException(422, "which must be 'input' or 'result'")
        if which == "result" and job.status != DONE:
            return _result(job, download=False)  # the reason there is no result
        src = job.src if which == "input" else job.result
        assert src is not None
        dst = job.folder / f"preview-{which}.png"
        if not dst.exists():
            await run_in_threadpool(_png_preview, src, dst)
        return FileResponse(dst, media_type="image/png")

    async def results_zip(request: Request) -> Response:
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        jobs = [
            j
            for j in map(service.get, ids)
            if j is not None and j.status == DONE and j.result and guard.may_read(request.scope, j.owner)
        ]
        if not jobs:
            raise HTTPException(404, "none of these jobs has a finished result (they expire after a while)")
        dst = service.new_folder() / "gensr-results.zip"
        await run_in_threadpool(_zip, [j.result for j in jobs if j.result], dst)
        cleanup = BackgroundTask(shutil.rmtree, dst.parent, ignore_errors=True)
        return FileResponse(dst, media_type="application/zip", filename=dst.name, background=cleanup)

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_spec(__version__, max_upload=max_upload, max_pixels=max_pixels))

    def _job(request: Request) -> Job:
        job = service.get(request.path_params["id"])
        if job is None or not guard.may_read(request.scope, job.owner):  # another token's: as if absent
            raise HTTPException(404, "no such job (finished jobs are deleted after a while)")
        return job

    routes = [
        Route("/", page),
        Route("/healthz", healthz),
        Route("/openapi.json", openapi),
        Route("/v1/models", models),
        Route("/v1/upscale", upscale, methods=["POST"]),
        Route("/v1/jobs/{id}", job_status),
        Route("/v1/jobs/{id}", job_delete, methods=["DELETE"]),
        Route("/v1/jobs/{id}/result", job_result),
        Route("/v1/jobs/{id}/preview", job_preview),
        Route("/v1/results.zip", results_zip),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers: dict[Any, Any] = {HTTPException: _http_error, Exception: _internal_error}
    guarded = [Middleware(Guard, access=access or access_for("127.0.0.1", 0))]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers, middleware=guarded)


# ------------------------------------------------------------------------------------ answering


def _error(
    status: int, message: str, *, close: bool = False, headers: dict[str, str] | None = None
) -> Response:
    headers = dict(headers or {})
    if close:  # the body was not read: do not keep the connection for a next request
        headers["Connection"] = "close"
    return JSONResponse({"error": message}, status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and exc.detail == "Not Found":
        return _error(404, f"no such page or API route: {request.url.path}")
    return _error(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


async def _internal_error(request: Request, exc: Exception) -> Response:
    return _error(500, f"internal error: {type(exc).__name__}: {exc}")


def _client_busy(most: int, *, close: bool = False) -> Response:
    return _error(
        429,
        f"you have {most} images waiting already (the most for one client, so that others get a turn); "
        f"try again in {RETRY_AFTER_S} s",
        headers={"Retry-After": str(RETRY_AFTER_S)},
        close=close,
    )


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


async def _wait(job: Job, request: Request, service: JobService) -> None:
    """Wait for ``job`` to end; a client that hangs up cancels it."""
    ticks = 0
    while not job.done.is_set():
        await asyncio.sleep(0.05)
        ticks += 1
        if ticks % 10 == 0 and await request.is_disconnected():
            service.delete(job.id)
            return


def _result(job: Job, *, download: bool) -> Response:
    if job.status == DONE and job.result is not None:
        return FileResponse(
            job.result,
            media_type=MEDIA_TYPES[job.result.suffix],
            filename=job.result.name,
            content_disposition_type="attachment" if download else "inline",
            headers={"X-Job-Id": job.id, "Cache-Control": "private, max-age=3600"},
        )
    if job.status == FAILED:
        return _error(job.error_status, job.error or "failed")
    if job.status == CANCELLED:
        return _error(409, f"{job.name}: cancelled")
    return _error(409, f"{job.name}: not finished yet ({job.status}, {job.progress:.0%})")


def _job_json(job: Job, service: JobService) -> dict[str, Any]:
    p = job.probe
    out = None
    if job.status == DONE and job.result is not None and job.out_size is not None:
        out = {"name": job.result.name, "width": job.out_size[0], "height": job.out_size[1]}
    end = job.finished
    return {
        "id": job.id,
        "status": job.status,
        "progress": round(job.progress, 4),
        "queue_position": service.position(job) if job.status == QUEUED else None,
        "model": job.model,
        "scale": service.models[job.model].scale,
        "input": {"name": job.name, "width": p.width, "height": p.height, "format": p.format},
        "output": out,
        "error": job.error,
        "seconds": round(end - job.started, 3) if end is not None and job.started is not None else None,
        "result_url": f"/v1/jobs/{job.id}/result",
    }


def _png_preview(src: Path, dst: Path) -> None:
    """An 8-bit PNG of ``src`` that any browser shows (TIFF results, 16-bit files)."""
    img = read_image(src, max_pixels=None)  # a result of this server: larger than any upload
    write_image(dst, img.replace(bits=8, exif=None), overwrite=True)


def _zip(files: list[Path], dst: Path) -> None:
    """Store ``files`` in a zip (no compression: they are compressed images), renaming duplicates."""
    used: set[str] = set()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        for f in files:
            name, n = f.name, 1
            while name in used:
                n += 1
                name = f"{f.stem} ({n}){f.suffix}"
            used.add(name)
            z.write(f, name)
