"""``gensr serve``: a web page and HTTP API for upscaling, served from this machine (works offline).

On loopback (127.0.0.1, ::1, localhost) no token is needed; on any other address a token is (given
with ``--token``, or made here and printed in the URL, as Jupyter does), unless
``--insecure-no-token`` says otherwise. Who may do what is :mod:`gensr.serve.access`'s; models run
with the precision, engine and tile ``gensr upscale`` would choose (:mod:`gensr.infer.choose`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gensr import interrupts
from gensr.commands.upscale import ENGINE_CHOICES, PRECISION_CHOICES

if TYPE_CHECKING:
    import torch

    from gensr.serve.jobs import ModelEntry

NAME = "serve"
HELP = "Serve a web page and an HTTP API for upscaling (offline; binds 127.0.0.1 by default)."
EXAMPLE = """examples:
  gensr serve                         # then open http://127.0.0.1:8000/
  gensr serve --port 8080 --open      # and open it in the browser
  gensr serve --model my_model.safetensors --model gensr-compact-x4
  gensr serve --host 0.0.0.0          # reachable from other machines: prints a URL with a token
  gensr serve --host 0.0.0.0 --token "$(cat ~/.gensr-token)" --token "$(cat bob.token)"
  gensr serve --allow-host sr.example.org   # behind a reverse proxy (see docs/security.md)

API:
  curl -F file=@photo.jpg "http://127.0.0.1:8000/v1/upscale?wait=true" -o photo_x4.jpg
  curl -F file=@photo.jpg http://127.0.0.1:8000/v1/upscale       # -> {"id": ...}; GET /v1/jobs/ID
  curl http://127.0.0.1:8000/v1/models                             # OpenAPI: /openapi.json
  curl -H "Authorization: Bearer TOKEN" http://HOST:8000/v1/models  # a server with a token

Needs the serve extra: pip install "gensr[serve]". Exit code 0 after Ctrl-C; 2 on a usage error."""

EXTRA = ("starlette", "uvicorn", "multipart")
"""Import names of the ``serve`` extra's packages (python-multipart imports as ``multipart``)."""


def _count(text: str) -> int:
    """``'16M'`` -> 16_000_000; ``'4096x4096'`` -> 16_777_216; plain integers as they are."""
    t = text.strip().lower().replace("_", "")
    try:
        if "x" in t:
            w, h = t.split("x", 1)
            return int(w) * int(h)
        if t.endswith("m"):
            return int(float(t[:-1]) * 1e6)
        return int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a pixel count such as 16M, 4096x4096 or 8000000"
        ) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="NAME|FILE",
        help="a model to offer (repeatable; the first is the default). Default: the built-in and user models",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (every CUDA device, else mps, else cpu), cpu, cuda:N, or a comma list; one worker each",
    )
    p.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="auto",
        help="as gensr upscale: auto (default) is bf16 where the CPU/GPU computes it natively, else fp32",
    )
    p.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default="auto",
        help="as gensr upscale: auto (default) is onnxruntime where it was measured faster, else torch",
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        metavar="PX",
        help="tile side in input pixels; progress is per tile (default: timed for this machine, as gensr "
        "upscale; 0: whole image)",
    )
    p.add_argument(
        "--max-pixels",
        type=_count,
        default=16_777_216,
        metavar="N",
        help="most input pixels per image, e.g. 16M or 4096x4096 (default: 4096x4096; memory is about "
        "200 bytes per input pixel at x4)",
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=50.0, metavar="MB", help="largest upload (default: 50)"
    )
    p.add_argument("--queue", type=int, default=16, metavar="N", help="most images waiting (default: 16)")
    p.add_argument(
        "--per-client",
        type=int,
        default=None,
        metavar="N",
        help="most images waiting from one client (a token, else an address); more get 429 "
        "(default: a quarter of --queue when a token is used or the address is not loopback, else --queue)",
    )
    g = p.add_argument_group("access (see docs/security.md)")
    g.add_argument(
        "--token",
        action="append",
        default=None,
        metavar="TOKEN",
        help="require this token (repeatable: each sees only its own results, the first sees all). "
        "Default: none on loopback without --allow-host, else one is made and printed with the URL",
    )
    g.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="serve a non-loopback address (or --allow-host) without a token: anyone who reaches it can "
        "use it (loud warning)",
    )
    g.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer to this Host name (a reverse proxy's, e.g. sr.example.org; a token is then "
        "needed even on loopback); repeatable",
    )
    g.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages at ORIGIN (e.g. https://app.example.org) call the API; repeatable; default: none",
    )
    p.add_argument(
        "--keep-minutes",
        type=float,
        default=60.0,
        metavar="MIN",
        help="results are deleted after this (default: 60)",
    )
    p.add_argument("--open", action="store_true", help="open the page in the web browser")
    p.add_argument("--access-log", action="store_true", help="log every HTTP request")


def _usage(msg: str) -> int:
    print(f"gensr serve: error: {msg}", file=sys.stderr)  # noqa: T201
    return 2


def _say(msg: str) -> None:
    print(f"gensr serve: {msg}", file=sys.stderr, flush=True)  # noqa: T201


def run(args: argparse.Namespace) -> int:
    missing = [m for m in EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        return _usage(
            f'the web server needs the serve extra (missing {", ".join(missing)}): pip install "gensr[serve]"'
        )
    if (
        args.max_pixels < 1
        or args.max_upload_mb <= 0
        or args.queue < 1
        or args.keep_minutes <= 0
        or (args.tile is not None and args.tile < 0)
        or (args.per_client is not None and args.per_client < 1)
    ):
        return _usage(
            "--max-pixels, --max-upload-mb, --queue, --per-client and --keep-minutes must be > 0, --tile >= 0"
        )
    if args.token and args.insecure_no_token:
        return _usage("--token and --insecure-no-token contradict each other")
    if args.token and any(not t.strip() for t in args.token):
        return _usage("--token must not be empty")
    # a reverse proxy (--allow-host) exposes a loopback server as much as a network address does
    private = _loopback(args.host) and not args.allow_host
    tokens = list(args.token or ([] if private or args.insecure_no_token else [secrets.token_urlsafe(24)]))
    exposed = bool(tokens) or not private
    per_client = args.per_client or (max(1, args.queue // 4) if exposed else args.queue)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as gensr upscale (see there), before torch starts
    try:
        devices = _devices(args.device, args.precision)
        models = _models(args.model)
    except ValueError as e:
        return _usage(str(e))

    import uvicorn

    from gensr.messages import say
    from gensr.serve.access import access_for
    from gensr.serve.app import create_app
    from gensr.serve.jobs import JobService

    try:
        sock = _bind(args.host, args.port)
    except OSError as e:
        return _usage(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}")
    host, port = sock.getsockname()[:2]
    service = None
    try:
        access = access_for(args.host, port, tokens=tokens, allow_hosts=args.allow_host, cors=args.cors)
        service = JobService(
            models,
            devices,
            precision=args.precision,
            engine=args.engine,
            tile=args.tile,
            capacity=args.queue,
            per_client=per_client,
            keep_seconds=args.keep_minutes * 60,
            say=say,
        )
        service.load(service.default_model, devices[0])  # an engine or precision that cannot run: now
    except Exception as e:  # noqa: BLE001 - whatever stops the default model from loading is a usage error
        interrupts.check()
        sock.close()
        if service is not None:
            service.close()
        return _usage(str(e).splitlines()[0] if str(e) else type(e).__name__)
    app = create_app(
        service, max_upload=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels, access=access
    )
    url = f"http://{_url_host(host, args.host)}:{port}/" + (f"?token={tokens[0]}" if tokens else "")
    if not private and not tokens:
        where = f"{args.host} and {', '.join(args.allow_host)}" if args.allow_host else args.host
        _say(
            f"WARNING: --insecure-no-token: serving {where} without a token: anyone who can reach it "
            "can upload images, use this machine's processors and read the results"
        )
    names = ", ".join(m.name for m in models)
    _say(f"{url}  (models: {names}; devices: {', '.join(map(str, devices))}; Ctrl-C stops)")
    if args.open:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=args.access_log,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down cleanly, then re-raises Ctrl-C: that is how a server stops
        interrupts.handled()
        _say("stopped")
    finally:
        sock.close()
        service.close()  # in case the lifespan never ran (idempotent)
    return 0


def _devices(spec: str, precision: str) -> list[torch.device]:
    """The devices named by ``--device``, each checked to support ``precision``."""
    import torch

    from gensr.infer import resolve_device, resolve_precision

    names = [s.strip() for s in spec.split(",") if s.strip()] or ["auto"]
    found: list[torch.device] = []
    for name in names:
        if name == "auto" and torch.cuda.is_available():
            devs = [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
        else:
            dev = resolve_device(name)
            devs = [torch.device("cuda", torch.cuda.current_device()) if dev == torch.device("cuda") else dev]
        found += [d for d in devs if d not in found]
    for d in found:
        resolve_precision(precision, d)
    return found


def _models(given: list[str] | None) -> list[ModelEntry]:
    from gensr.models import DEFAULT_MODEL, ModelFileError, list_models, read_model_info, resolve_model
    from gensr.serve.jobs import ModelEntry

    known = list_models()
    if given:
        pairs: list[tuple[str, Path]] = []
        for g in given:
            try:
                path = resolve_model(g)
            except ModelFileError as e:
                raise ValueError(str(e)) from None
            pairs.append((g if g in known else Path(g).stem, path))
    else:
        pairs = sorted(known.items(), key=lambda kv: kv[0] != DEFAULT_MODEL)
    entries: list[ModelEntry] = []
    for name, path in pairs:
        try:
            info = read_model_info(path)
        except ModelFileError as e:
            if given:
                raise ValueError(str(e)) from None
            _say(f"skipping model {name}: {e}")
            continue
        if name not in [e.name for e in entries]:
            entries.append(ModelEntry(name=name, path=Path(path), scale=info.scale, arch=info.label))
    return entries


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _loopback(host: str) -> bool:
    """127.0.0.1, ::1 and localhost only (other 127.x addresses need a token: see gensr.serve.access)."""
    return host.strip().lower().strip("[]") in ("localhost", "127.0.0.1", "::1")


def _url_host(bound: str, asked: str) -> str:
    if bound in ("0.0.0.0", "::"):
        return socket.gethostname()
    return f"[{bound}]" if ":" in bound else bound
