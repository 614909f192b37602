"""``atomic_write``: the one way gensr writes files, with the permissions any new file gets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from gensr.archs import build_generator
from gensr.base.atomic import TEMP_PATTERN, sweep_stale_parts
from gensr.imageio import Image, atomic_write, write_image
from gensr.models import save_model
from gensr.train.checkpoint import save_checkpoint
from gensr.train.runlog import truncate_log


@pytest.fixture(params=[0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_bytes_text_and_writer_functions(tmp_path: Path) -> None:
    atomic_write(tmp_path / "a", b"\x00\x01")
    atomic_write(tmp_path / "b", "grün\n")
    atomic_write(tmp_path / "c", lambda f: f.write(b"xyz"))
    assert (tmp_path / "a").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b").read_text(encoding="utf-8") == "grün\n"
    assert (tmp_path / "c").read_bytes() == b"xyz"
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "a", b"new", overwrite=False)
    assert (tmp_path / "a").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temporary files left


def test_a_failing_writer_leaves_nothing(tmp_path: Path) -> None:
    def boom(f: object) -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "x", boom)
    assert list(tmp_path.iterdir()) == []


def test_every_writer_gives_umask_permissions(tmp_path: Path, umask: int) -> None:
    want = 0o666 & ~umask
    net = build_generator("compact", {"num_feat": 4, "num_conv": 1, "scale": 2})
    save_model(tmp_path / "m.safetensors", net)
    ckpt = save_checkpoint(tmp_path / "run", 1, {"g": net.state_dict()}, keep_last=1)
    write_image(tmp_path / "i.png", Image(rgb=torch.rand(1, 3, 4, 4)))
    (tmp_path / "log.jsonl").write_text('{"iter": 1}\n{"iter": 2}\n')
    os.chmod(tmp_path / "log.jsonl", 0o600)
    truncate_log(tmp_path / "log.jsonl", 1)
    atomic_write(tmp_path / "config.yaml", "a: 1\n")
    written = ("m.safetensors", "i.png", "log.jsonl", "config.yaml")
    for path in (ckpt, *(tmp_path / name for name in written)):
        assert (path.stat().st_mode & 0o777) == want, path.name


def test_temporary_names_are_short_for_the_longest_legal_name(tmp_path: Path) -> None:
    name = "n" * 255  # the longest name most file systems take
    seen: list[str] = []

    def writer(f: object) -> None:
        seen.extend(p.name for p in tmp_path.iterdir())
        f.write(b"x")  # type: ignore[attr-defined]

    atomic_write(tmp_path / name, writer)
    assert (tmp_path / name).read_bytes() == b"x"
    assert len(seen) == 1 and TEMP_PATTERN.match(seen[0]) and len(seen[0]) == 20


def test_stale_parts_of_a_killed_run_are_swept(tmp_path: Path) -> None:
    import time

    old = time.time() - 3600
    stale = tmp_path / ".gensr-0123abcd.part"
    fresh = tmp_path / ".gensr-fedcba98.part"  # written after this process started: maybe a live run's
    foreign = tmp_path / ".notes.part"
    for p in (stale, fresh, foreign):
        p.write_bytes(b"half")
    for p in (stale, foreign):
        os.utime(p, (old, old))
    assert sweep_stale_parts(tmp_path) == [stale]
    assert fresh.exists() and foreign.exists()


def test_a_part_locked_by_a_running_writer_is_kept(tmp_path: Path) -> None:
    import fcntl
    import time

    part = tmp_path / ".gensr-00000000.part"
    part.write_bytes(b"being written")
    old = time.time() - 3600
    os.utime(part, (old, old))
    with part.open("rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        assert sweep_stale_parts(tmp_path) == []
    assert sweep_stale_parts(tmp_path) == [part]


def test_disk_full_is_an_oserror_naming_the_cause_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from gensr.messages import reason

    def full(f: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as e:
        atomic_write(tmp_path / "ckpt.pt", full)
    assert reason(e.value) == "no space left on device"
    assert list(tmp_path.iterdir()) == []
