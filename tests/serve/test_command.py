"""``gensr serve`` on the command line: the extra, usage errors, the warning, a real start and stop."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gensr.cli import main
from gensr.commands import serve
from gensr.serve.jobs import ModelEntry


def test_without_the_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "gensr[serve]"' in err and "uvicorn" in err


def test_the_core_package_does_not_import_the_web_packages() -> None:
    code = (
        "import sys, gensr.cli, gensr.infer, gensr.models, gensr.imageio; gensr.cli.build_parser(); "
        "print([m for m in ('starlette', 'uvicorn', 'multipart', 'gensr.serve') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_pixel_counts() -> None:
    assert serve._count("16M") == 16_000_000
    assert serve._count("4096x4096") == 4096 * 4096
    assert serve._count("8_000_000") == 8_000_000
    with pytest.raises(argparse.ArgumentTypeError):
        serve._count("lots")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", False), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("::", False), ("192.168.1.5", False), ("myhost", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert serve._loopback(host) is loopback


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--model", "no-such-model"], "no-such-model: no such model"),
        (["--device", "cuda:7"], "cuda:7"),
        (["--queue", "0"], "must be > 0"),
        (["--precision", "fp16", "--device", "cpu"], "fp16"),
    ],
)
def test_usage_errors_exit_2(args: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *args]) == 2
    assert words in capsys.readouterr().err


def test_a_port_in_use_is_a_usage_error(capsys: pytest.CaptureFixture[str], tiny_model: ModelEntry) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--model", str(tiny_model.path)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_opening_the_host_needs_a_token_or_a_loud_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model: ModelEntry
) -> None:
    import uvicorn

    ran: list[Any] = []
    monkeypatch.setattr(serve, "_bind", lambda host, port: socket.create_server(("127.0.0.1", 0)))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: ran.append(self.config.app))
    assert main(["serve", "--host", "0.0.0.0", "--model", str(tiny_model.path)]) == 0
    err = capsys.readouterr().err
    [line] = [ln for ln in err.splitlines() if "http://" in ln]
    token = line.split()[2].split("/?token=")[1]  # made with secrets.token_urlsafe, printed in the URL
    assert len(token) >= 32 and "WARNING" not in err
    assert main(["serve", "--host", "0.0.0.0", "--model", str(tiny_model.path), "--insecure-no-token"]) == 0
    err = capsys.readouterr().err
    assert "WARNING: --insecure-no-token: serving 0.0.0.0 without a token" in err
    assert "?token=" not in err
    # behind a reverse proxy a loopback server is reached from elsewhere: a token too
    assert main(["serve", "--allow-host", "sr.example.org", "--model", str(tiny_model.path)]) == 0
    assert "/?token=" in capsys.readouterr().err
    assert main(["serve", "--token", "x", "--insecure-no-token", "--model", str(tiny_model.path)]) == 2
    assert "contradict" in capsys.readouterr().err
    assert len(ran) == 3


def test_serve_starts_answers_and_cleans_up_on_ctrl_c(tmp_path: Path, tiny_model: ModelEntry) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "GENSR_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "gensr", "serve", "--port", "0", "--model", str(tiny_model.path)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "gensr serve: http://127.0.0.1:PORT/  (models: ...)"
        assert "http://127.0.0.1:" in line and "models: tiny-x4" in line, line
        url = line.split()[2]
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "healthz", timeout=5) as r:
                    health = json.load(r)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert health["status"] == "ok" and health["default_model"] == "tiny-x4"
        assert len(list(tmp_path.glob("gensr-serve-*"))) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(tmp_path.glob("gensr-serve-*")) == []  # the results folder is gone
