"""Who may use ``gensr serve``: the Host and Origin checks, tokens and CORS, as one ASGI middleware.

Every request passes :class:`Guard` before the application sees it, in this order:

1. **Host** (DNS rebinding): the ``Host`` header must name this server: its bind address, the
   loopback names for a loopback bind, the machine's names and any IP address for a wildcard bind
   (``0.0.0.0``, ``::``; an address cannot be rebound), and the names given with ``--allow-host``
   (a reverse proxy's). Else 400.
2. **Origin** (cross-site uploads): a request that changes something (POST, PUT, PATCH, DELETE) whose
   ``Origin`` header is present and is not this server's own ``scheme://host`` is refused with 403,
   unless that origin was allowed with ``--cors``. CORS answers (preflight and
   ``Access-Control-Allow-Origin``) are given to those origins only, and to no one by default.
3. **Token** (when the server has tokens): ``Authorization: Bearer TOKEN``, or the cookie that
   opening ``/?token=TOKEN`` sets (HttpOnly, SameSite=Strict; the answer redirects to the URL without
   the token). Else 401. The page itself (``/`` and ``/static/``) is the same for everyone and holds
   nothing private, so it loads without a token and says, through the API's 401, what to open.

The application finds who asked in the ASGI scope: ``scope["gensr.owner"]`` (the number of the token
used, None without tokens) and ``scope["gensr.client"]`` (the token's number, else the remote address),
see :func:`owner` and :func:`client`. Tokens are compared in constant time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

LOOPBACK = ("localhost", "127.0.0.1", "::1")
"""The binds that count as this machine only; other 127.x addresses are treated as network addresses."""
WILDCARD = ("0.0.0.0", "::", "")
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PATHS = ("/", "/static/")
"""The page and its script and style: the same for everyone, loaded without a token."""
DRAIN_MAX = 1 << 20
"""Bytes of a refused request's body still read, so that the client reads the answer, not a reset."""
_DEFAULT_PORTS = {"http": 80, "https": 443}

Scope = dict[str, Any]


def is_loopback(host: str) -> bool:
    """Whether a bind address keeps the server on this machine: ``localhost``, ``127.0.0.1`` or ``::1``.

    >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback("127.0.0.2"), is_loopback("0.0.0.0")
    (True, True, False, False)
    """
    return host.strip().lower().strip("[]") in LOOPBACK


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Access:
    """What :class:`Guard` lets through."""

    tokens: tuple[str, ...] = ()
    """Accepted tokens (empty: none needed). The first is the server's own: it reads every job; any
    other reads only the jobs sent with it."""
    hosts: frozenset[str] = field(default_factory=frozenset)
    """``Host`` names the server answers to (lower case, IPv6 without brackets)."""
    any_address: bool = False
    """Any IP address is a good ``Host`` too (wildcard binds)."""
    cors: tuple[str, ...] = ()
    """Origins (``scheme://host[:port]``) whose pages may call the API."""
    cookie: str = "gensr-token"
    """Name of the token cookie (made per port by :func:`access_for`: cookies ignore ports)."""

    def __post_init__(self) -> None:
        if any(not t for t in self.tokens):
            raise ValueError("a token must not be empty")
        for origin in self.cors:
            if _origin_key(origin) is None or urlsplit(origin).path not in ("", "/"):
                raise ValueError(f"--cors {origin!r}: give an origin such as https://app.example.org")

    def host_ok(self, host_header: str) -> bool:
        name = host_name(host_header)
        return name in self.hosts or (self.any_address and _is_address(name))

    def match(self, given: str | None) -> int | None:
        """The number of the token ``given`` is, or None; every token is compared, in constant time."""
        if given is None:
            return None
        found = None
        raw = given.encode("utf-8", "surrogateescape")
        for i, token in enumerate(self.tokens):
            if hmac.compare_digest(raw, token.encode()) and found is None:
                found = i
        return found


def access_for(
    bind: str,
    port: int,
    *,
    tokens: Iterable[str] = (),
    allow_hosts: Iterable[str] = (),
    cors: Iterable[str] = (),
) -> Access:
    """The :class:`Access` of a server bound to ``bind``:``port`` (see the module for the names)."""
    bind = bind.strip().lower().strip("[]")
    hosts = {bind, *(host_name(h) for h in allow_hosts)}
    if is_loopback(bind):
        hosts |= set(LOOPBACK)
    wildcard = bind in WILDCARD
    if wildcard:
        hosts |= set(LOOPBACK) | {socket.gethostname().lower(), socket.getfqdn().lower()}
    hosts.discard("")
    return Access(
        tokens=tuple(tokens),
        hosts=frozenset(hosts),
        any_address=wildcard,
        cors=tuple(o.rstrip("/") for o in cors),
        cookie=f"gensr-token-{port}",
    )


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without port, brackets or final dot, in lower case.

    >>> host_name("LocalHost:8000"), host_name("[::1]:8000"), host_name("example.org."), host_name("::1")
    ('localhost', '::1', 'example.org', '::1')
    """
    h = host.strip().lower()
    if h.startswith("["):
        h = h[1 : h.find("]")] if "]" in h else h[1:]
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin (default ports filled in), or None when it is not one."""
    try:
        u = urlsplit(origin.strip())
        port = u.port or _DEFAULT_PORTS.get(u.scheme.lower())
    except ValueError:
        return None
    if not u.scheme or not u.hostname or port is None:
        return None
    return u.scheme.lower(), u.hostname.lower().rstrip("."), port


def owner(scope: Scope) -> int | None:
    """The number of the token a request came with (0: the server's own; -1: none, on the page's open
    paths), or None when the server has no tokens."""
    value = scope.get("gensr.owner")
    return value if isinstance(value, int) else None


def client(scope: Scope) -> str:
    """Who sent a request, for fairness: ``token N`` with tokens, else the remote address."""
    return str(scope.get("gensr.client", ""))


def may_read(scope: Scope, job_owner: int | None) -> bool:
    """Whether the sender of a request may see a job sent with token ``job_owner``."""
    who = owner(scope)
    return who is None or who == 0 or who == job_owner


class Guard:
    """ASGI middleware applying an :class:`Access` to every HTTP request (see the module)."""

    def __init__(self, app: Any, access: Access) -> None:
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        a, headers, method = self.access, Headers(scope=scope), scope["method"]
        host = headers.get("host", "")
        if not a.host_ok(host):
            why = (
                f"refused: this server does not answer to the name {host_name(host)!r} (Host header; "
                "a page on another site may be trying DNS rebinding); a reverse proxy's name is allowed "
                "with gensr serve --allow-host NAME"
            )
            await _refuse(400, why, scope, receive, send)
            return
        origin = headers.get("origin")
        own = f"{scope.get('scheme', 'http')}://{host}"
        allowed = origin is not None and _origin_key(origin) in {_origin_key(o) for o in a.cors}
        if method == "OPTIONS" and allowed and "access-control-request-method" in headers:
            await _preflight(origin or "")(scope, receive, send)
            return
        if (
            method in CHANGING
            and origin is not None
            and not allowed
            and _origin_key(origin) != _origin_key(own)
        ):
            why = (
                f"refused: a {method} from another site ({origin}) is not accepted (cross-site request); "
                "gensr serve --cors ORIGIN lets a web app at ORIGIN use the API"
            )
            await _refuse(403, why, scope, receive, send)
            return
        remote = (scope.get("client") or ("",))[0]
        scope["gensr.client"] = remote
        if a.tokens:
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            given = [v for k, v in query if k == "token"]
            if given and method in ("GET", "HEAD"):
                await self._exchange(given[-1], query, scope, receive, send)
                return
            number = self._credentials(headers)
            if number is None and not _is_open(scope["path"]):
                await _refuse(
                    401, _needs_token(headers), scope, receive, send, {"WWW-Authenticate": "Bearer"}
                )
                return
            scope["gensr.owner"] = -1 if number is None else number  # -1: the page, no token: no job
            if number is not None:
                scope["gensr.client"] = f"token {number}"
        if allowed:
            send = _with_cors(send, origin or "")
        await self.app(scope, receive, send)

    def _credentials(self, headers: Headers) -> int | None:
        auth = headers.get("authorization")
        if auth is not None:
            scheme, _, value = auth.partition(" ")
            return self.access.match(value.strip()) if scheme.lower() == "bearer" else None
        cookies = _cookies(headers.get("cookie", ""))
        return self.access.match(cookies.get(self.access.cookie))

    async def _exchange(
        self, token: str, query: list[tuple[str, str]], scope: Scope, receive: Any, send: Any
    ) -> None:
        """``?token=T``: set the cookie and redirect to the same URL without the token."""
        if self.access.match(token) is None:
            why = "the token in the URL is not this server's; open the URL gensr serve printed"
            await _refuse(401, why, scope, receive, send, {"WWW-Authenticate": "Bearer"})
            return
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        location = scope["path"] + (f"?{rest}" if rest else "")
        response = Response(status_code=303, headers={"Location": location, "Cache-Control": "no-store"})
        response.set_cookie(
            self.access.cookie,
            token,
            httponly=True,
            samesite="strict",
            secure=scope.get("scheme") == "https",
            path="/",
        )
        await response(scope, receive, send)


def _is_open(path: str) -> bool:
    return path == "/" or any(path.startswith(p) for p in OPEN_PATHS[1:])


def _needs_token(headers: Headers) -> str:
    if "authorization" in headers:
        return "refused: the token given (Authorization: Bearer) is not one of this server's tokens"
    return (
        "this server needs its token: open the URL gensr serve printed (it ends in /?token=...), "
        "or send the header Authorization: Bearer TOKEN"
    )


def _cookies(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out.setdefault(name, value.strip().strip('"'))
    return out


async def _refuse(
    status: int, message: str, scope: Scope, receive: Any, send: Any, headers: dict[str, str] | None = None
) -> None:
    """One JSON error; a body the client is sending is read (up to :data:`DRAIN_MAX`) and dropped."""
    headers = dict(headers or {})
    size, complete = 0, not _has_body(scope)
    while not complete and size <= DRAIN_MAX:
        message_in = await receive()
        if message_in["type"] == "http.disconnect":
            return
        size += len(message_in.get("body", b""))
        complete = not message_in.get("more_body", False)
    if not complete:
        headers["Connection"] = "close"
    await JSONResponse({"error": message}, status, headers=headers)(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    length = headers.get("content-length", "0")
    return "transfer-encoding" in headers or (length.isdigit() and int(length) > 0)


def _preflight(origin: str) -> Response:
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, DELETE",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )


def _with_cors(send: Any, origin: str) -> Any:
    extra = [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", b"Location, Retry-After, X-Job-Id, Content-Disposition"),
        (b"vary", b"Origin"),
    ]

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped
