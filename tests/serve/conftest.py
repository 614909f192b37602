"""A real ``gensr serve`` (uvicorn in a thread, a free port) for the API and page tests.

Servers listen on 127.0.0.1 by default. A server "exposed to the network" is simulated on 127.0.0.2:
gensr treats only 127.0.0.1, ::1 and localhost as loopback (:func:`gensr.serve.access.is_loopback`),
so a bind to 127.0.0.2 gets what a LAN address gets (a token, its own Host name), without privileges.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

pytest.importorskip("starlette", reason='needs the serve extra: pip install "gensr[serve]"')
pytest.importorskip("uvicorn", reason='needs the serve extra: pip install "gensr[serve]"')

from gensr.serve.jobs import JobService, ModelEntry  # noqa: E402

MAX_UPLOAD = 200_000
"""Upload limit of the test servers (bytes)."""
MAX_PIXELS = 160 * 160
"""Pixel limit of the test servers."""


@dataclass
class Running:
    url: str
    service: JobService
    port: int = 0


ServerFactory = Callable[..., AbstractContextManager[Running]]


@pytest.fixture(scope="session")
def tiny_model(tiny_model_file: Callable[..., Path]) -> ModelEntry:
    """The tests' tiny x4 generator (``tiny_model_file`` in tests/conftest.py) as a served model."""
    return ModelEntry(name="tiny-x4", path=tiny_model_file(), scale=4, arch="compact")


@pytest.fixture(scope="session")
def builtin_model() -> ModelEntry:
    from gensr.models import DEFAULT_MODEL, read_model_info, resolve_model

    path = resolve_model(DEFAULT_MODEL)
    info = read_model_info(path)
    return ModelEntry(name=DEFAULT_MODEL, path=path, scale=info.scale, arch=info.arch)


@contextmanager
def serve(
    models: list[ModelEntry],
    *,
    devices: list[torch.device] | None = None,
    capacity: int = 8,
    tile: int | None = 16,
    keep_seconds: float = 600.0,
    max_upload: int = MAX_UPLOAD,
    max_pixels: int = MAX_PIXELS,
    host: str = "127.0.0.1",
    tokens: tuple[str, ...] = (),
    allow_hosts: tuple[str, ...] = (),
    cors: tuple[str, ...] = (),
    per_client: int | None = None,
) -> Iterator[Running]:
    """Run the app under uvicorn on ``host``:<free port> until the block ends, then shut it down.

    ``tokens``, ``allow_hosts`` and ``cors`` are given to :func:`gensr.serve.access.access_for` as
    ``gensr serve`` gives them.
    """
    import uvicorn

    from gensr.serve.access import access_for
    from gensr.serve.app import create_app

    service = JobService(
        models,
        [torch.device("cpu")] if devices is None else devices,
        tile=tile,
        capacity=capacity,
        per_client=per_client,
        keep_seconds=keep_seconds,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    access = access_for(host, port, tokens=tokens, allow_hosts=allow_hosts, cors=cors)
    app = create_app(service, max_upload=max_upload, max_pixels=max_pixels, access=access)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Running(f"http://{host}:{port}", service, port)
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


@pytest.fixture(scope="session")
def server_factory() -> ServerFactory:
    """``with server_factory([model], capacity=...) as running:`` starts a server of its own."""
    return serve


@pytest.fixture(scope="module")
def server(tiny_model: ModelEntry, builtin_model: ModelEntry) -> Iterator[Running]:
    """A server shared by a test module: the tiny model (default) and the built-in one."""
    with serve([tiny_model, builtin_model]) as running:
        yield running


@pytest.fixture(scope="session")
def photo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photo: a 64x64 crop (the face) of the bundled astronaut sample, as JPEG."""
    from PIL import Image

    src = Path(__file__).resolve().parents[2] / "src" / "gensr" / "samples" / "astronaut.jpg"
    dst = tmp_path_factory.mktemp("photo") / "astronaut-face.jpg"
    with Image.open(src) as im:
        im.crop((70, 50, 134, 114)).save(dst, quality=95)
    return dst
