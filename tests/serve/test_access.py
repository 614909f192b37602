"""Who gets in, against a real uvicorn server: tokens, Host and Origin checks, CORS, per-client bounds.

A server "on the network" listens on 127.0.0.2 (see conftest: only 127.0.0.1, ::1 and localhost count
as loopback), with the token ``gensr serve`` would have made for it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image as PILImage

from gensr.serve.access import Access, access_for, host_name, is_loopback
from gensr.serve.jobs import ModelEntry

SERVER, ALICE, BOB = "server-token-0123456789", "alice-token-0123456789", "bob-token-0123456789"


def png(seed: int = 0, size: int = 8) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (size, size, 3)).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    assert list(r.json()) == ["error"] and words in r.json()["error"], r.json()


@pytest.fixture(scope="module")
def exposed(server_factory: Any, tiny_model: ModelEntry) -> Iterator[Any]:
    """A server on 127.0.0.2 with three tokens: the server's own, Alice's and Bob's."""
    with server_factory([tiny_model], host="127.0.0.2", tokens=(SERVER, ALICE, BOB)) as running:
        yield running


def test_without_a_token_401_with_it_200(exposed: Any) -> None:
    r = httpx.get(f"{exposed.url}/v1/models")
    refused(r, 401, "this server needs its token")
    assert r.headers["www-authenticate"] == "Bearer"
    refused(httpx.get(f"{exposed.url}/healthz", headers=bearer("guess")), 401, "not one of this server's")
    refused(httpx.get(f"{exposed.url}/healthz", headers={"Cookie": "gensr-token-1=guess"}), 401, "needs")
    for token in (SERVER, ALICE):
        r = httpx.get(f"{exposed.url}/v1/models", headers=bearer(token))
        assert r.status_code == 200 and r.json()["default"] == "tiny-x4"
    # the page is the same for everyone (its API calls need the token); so are its script and style
    assert httpx.get(f"{exposed.url}/").status_code == 200
    assert httpx.get(f"{exposed.url}/static/app.js").status_code == 200
    refused(httpx.post(f"{exposed.url}/v1/upscale", content=png()), 401, "needs its token")


def test_the_token_url_sets_a_strict_cookie_and_redirects(exposed: Any) -> None:
    r = httpx.get(f"{exposed.url}/?token={ALICE}")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    name = f"gensr-token-{exposed.port}"
    assert cookie.startswith(f"{name}={ALICE};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert httpx.get(f"{exposed.url}/healthz", headers={"Cookie": f"{name}={ALICE}"}).status_code == 200
    r = httpx.get(f"{exposed.url}/v1/models?token={ALICE}&x=1")
    assert r.status_code == 303 and r.headers["location"] == "/v1/models?x=1"
    refused(httpx.get(f"{exposed.url}/?token=wrong"), 401, "the token in the URL is not this server's")


def test_results_belong_to_the_token_that_made_them(exposed: Any) -> None:
    r = httpx.post(f"{exposed.url}/v1/upscale?wait=true", content=png(1), headers=bearer(ALICE), timeout=60)
    assert r.status_code == 200
    job = r.headers["x-job-id"]
    for token, status in ((ALICE, 200), (SERVER, 200), (BOB, 404)):
        assert httpx.get(f"{exposed.url}/v1/jobs/{job}", headers=bearer(token)).status_code == status
        r = httpx.get(f"{exposed.url}/v1/jobs/{job}/result", headers=bearer(token))
        assert r.status_code == status
    refused(httpx.get(f"{exposed.url}/v1/results.zip?ids={job}", headers=bearer(BOB)), 404, "none of these")
    assert httpx.get(f"{exposed.url}/v1/results.zip?ids={job}", headers=bearer(ALICE)).status_code == 200
    refused(httpx.delete(f"{exposed.url}/v1/jobs/{job}", headers=bearer(BOB)), 404, "no such job")
    assert httpx.delete(f"{exposed.url}/v1/jobs/{job}", headers=bearer(ALICE)).status_code == 204


def test_a_foreign_host_is_refused(server: Any, server_factory: Any, tiny_model: ModelEntry) -> None:
    port = server.url.rsplit(":", 1)[1]
    # DNS rebinding: evil.example resolves to 127.0.0.1, and the browser sends its own name
    r = httpx.get(f"{server.url}/v1/models", headers={"Host": f"evil.example:{port}"})
    refused(r, 400, "does not answer to the name 'evil.example'")
    refused(
        httpx.post(f"{server.url}/v1/upscale", content=png(), headers={"Host": "evil.example"}), 400, "Host"
    )
    for name in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST"):
        assert httpx.get(f"{server.url}/v1/models", headers={"Host": name}).status_code == 200
    with server_factory([tiny_model], devices=[], allow_hosts=("sr.example.org",)) as proxied:
        assert httpx.get(f"{proxied.url}/healthz", headers={"Host": "sr.example.org"}).status_code == 200
        refused(httpx.get(f"{proxied.url}/healthz", headers={"Host": "evil.example"}), 400, "--allow-host")


def test_a_foreign_origin_cannot_post_and_gets_no_cors(server: Any) -> None:
    r = httpx.post(f"{server.url}/v1/upscale", content=png(), headers={"Origin": "https://example.org"})
    refused(r, 403, "a POST from another site (https://example.org) is not accepted")
    r = httpx.delete(f"{server.url}/v1/jobs/x", headers={"Origin": "null"})
    refused(r, 403, "another site")
    r = httpx.post(f"{server.url}/v1/upscale", content=png(), headers={"Origin": server.url})
    assert r.status_code == 202, r.text  # the page's own uploads
    r = httpx.get(f"{server.url}/v1/models", headers={"Origin": "https://example.org"})
    assert r.status_code == 200 and not [h for h in r.headers if h.startswith("access-control-")]
    r = httpx.options(
        f"{server.url}/v1/upscale",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"},
    )
    assert not [h for h in r.headers if h.startswith("access-control-")]


def test_cors_is_given_to_the_origins_named(server_factory: Any, tiny_model: ModelEntry) -> None:
    app_origin = "https://app.example.org"
    with server_factory([tiny_model], devices=[], cors=(app_origin,)) as running:
        r = httpx.options(
            f"{running.url}/v1/upscale",
            headers={"Origin": app_origin, "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 204 and r.headers["access-control-allow-origin"] == app_origin
        assert "Authorization" in r.headers["access-control-allow-headers"]
        r = httpx.post(f"{running.url}/v1/upscale", content=png(), headers={"Origin": app_origin})
        assert r.status_code == 202 and r.headers["access-control-allow-origin"] == app_origin
        assert "Location" in r.headers["access-control-expose-headers"]
        r = httpx.post(f"{running.url}/v1/upscale", content=png(), headers={"Origin": "https://other.org"})
        refused(r, 403, "another site")


def test_one_client_over_its_bound_gets_429(server_factory: Any, tiny_model: ModelEntry) -> None:
    with server_factory(
        [tiny_model], devices=[], capacity=8, per_client=2, host="127.0.0.2", tokens=(SERVER, ALICE, BOB)
    ) as running:  # no worker: jobs stay queued
        url = f"{running.url}/v1/upscale"
        for k in range(2):
            assert httpx.post(url, content=png(k), headers=bearer(ALICE)).status_code == 202
        r = httpx.post(url, content=png(2), headers=bearer(ALICE))
        refused(r, 429, "you have 2 images waiting already")
        assert r.headers["retry-after"] == "5"
        assert httpx.post(url, content=png(3), headers=bearer(BOB)).status_code == 202  # others get a turn
        assert running.service.waiting() == 3


def test_access_rules() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2", "0.0.0.0")] == [
        True, True, True, True, False, False
    ]  # fmt: skip
    assert host_name("[::1]:80") == "::1" and host_name("Example.ORG.:8080") == "example.org"
    loop = access_for("127.0.0.1", 8000)
    assert loop.host_ok("localhost:8000") and loop.host_ok("[::1]:8000") and not loop.host_ok("10.0.0.1")
    assert not loop.host_ok("") and not loop.host_ok("localhost.evil.example")
    lan = access_for("192.168.1.5", 8000, tokens=["t"])
    assert (
        lan.host_ok("192.168.1.5:8000") and not lan.host_ok("localhost") and lan.cookie == "gensr-token-8000"
    )
    wild = access_for("0.0.0.0", 8000, tokens=["t"], allow_hosts=["Proxy.Example:443"])
    assert wild.host_ok("10.1.2.3") and wild.host_ok("[fe80::1]") and wild.host_ok("proxy.example")
    assert not wild.host_ok("evil.example")
    assert Access(tokens=("a", "b", "c")).match("b") == 1 and Access(tokens=("a",)).match("ab") is None
    with pytest.raises(ValueError, match="origin"):
        access_for("127.0.0.1", 8000, cors=["example.org"])


def test_the_command_on_a_network_address_prints_a_token_url(tmp_path: Path, tiny_model: ModelEntry) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "GENSR_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "gensr", "serve", "--host", "127.0.0.2", "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, "--model", str(tiny_model.path)], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "gensr serve: http://127.0.0.2:PORT/?token=...  (models: ...)"
        url = line.split()[2]
        assert url.startswith("http://127.0.0.2:") and "/?token=" in url, line
        base, token = url.split("?token=")
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(base + "healthz", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.status_code == 401
        r = httpx.get(base + "healthz", headers=bearer(token), timeout=5)
        assert r.status_code == 200 and json.loads(r.text)["status"] == "ok"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(120) == 0  # a loaded 2-core machine takes half a minute to unload torch
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
