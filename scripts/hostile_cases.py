"""Hostile inputs, tried as a new user or an attacker would: each case runs the real ``gensr`` command.

Usage: python scripts/hostile_cases.py [-k SUBSTRING] [-j JOBS] [-v]

Every case builds its files in a fresh temporary folder, runs ``python -m gensr ...`` in a child
process and checks: no traceback, the expected exit code, one line per failure naming the file,
peak memory (max RSS) under a budget, and the case's own check (outputs written, frames kept,
temporary files cleaned, ...). Prints one line per case and the counts; exit 1 if any case fails.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests/ is importable
from tests.hostile import (  # noqa: E402
    GARBAGE_EXIF,
    exif_with,
    photo,
    png_with_chunk,
    save_tiny_model,
    zero_png,
)

MB = 1 << 20
DEFAULT_RSS_MB = 1500


@dataclass
class Result:
    rc: int
    out: str
    err: str
    rss_mb: float
    seconds: float


@dataclass
class Case:
    name: str
    group: str
    setup: Callable[[Path], list[str]]
    rc: int | set[int]
    check: Callable[[Path, Result], str | None] | None = None
    rss_mb: int = DEFAULT_RSS_MB
    env: dict[str, str] = field(default_factory=dict)
    sigint_after: float | None = None


CASES: list[Case] = []


class Skip(Exception):
    """Raised by a case's setup when this machine cannot stage it (reported as skipped, not fine)."""


def case(group: str, rc: int | set[int], *, rss_mb: int = DEFAULT_RSS_MB, sigint_after: float | None = None,
         env: dict[str, str] | None = None) -> Callable:  # fmt: skip
    def deco(fn: Callable[[Path], tuple[list[str], Callable | None] | list[str]]) -> Callable:
        def setup(d: Path) -> list[str]:
            got = fn(d)
            argv, chk = (got, None) if isinstance(got, list) else got
            c.check = chk
            return argv

        c = Case(fn.__name__, group, setup, rc, None, rss_mb, env or {}, sigint_after)
        CASES.append(c)
        return fn

    return deco


# ---- file makers ---------------------------------------------------------------------------------


def save(path: Path, arr: np.ndarray | Image.Image, **kw: object) -> Path:
    im = arr if isinstance(arr, Image.Image) else Image.fromarray(arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def tiny_model(d: Path, scale: int = 4) -> Path:
    return save_tiny_model(d / f"tiny_x{scale}.safetensors", scale)


def model_with_meta(d: Path, **changes: str) -> Path:
    from safetensors import safe_open
    from safetensors.torch import save_file

    src = tiny_model(d)
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for k, v in changes.items():
        meta[k.replace("_", ".") if k == "gensr_format" else k] = v
    out = d / "bad.safetensors"
    save_file(tensors, str(out), metadata=meta)
    return out


def upscale(
    d: Path, *inputs: Path | str, model: Path | str | None = None, extra: tuple[str, ...] = ()
) -> list[str]:
    m = model or tiny_model(d)
    return ["upscale", *map(str, inputs), "-o", str(d / "out"), "--model", str(m), "-q", *extra]


def outputs(d: Path) -> list[str]:
    out = d / "out"
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) if out.is_dir() else []


def want_outputs(n: int) -> Callable[[Path, Result], str | None]:
    def chk(d: Path, r: Result) -> str | None:
        got = outputs(d)
        return None if len(got) == n else f"{len(got)} outputs, wanted {n}: {got}"

    return chk


def error_lines(r: Result) -> list[str]:
    return [ln for ln in r.err.splitlines() if ln.strip()]


def one_line_naming(fragment: str, outputs_wanted: int | None = None) -> Callable[[Path, Result], str | None]:
    def chk(d: Path, r: Result) -> str | None:
        notices = ("inputs failed", ": warning: ", " skipped (output exists), ", "left out (folders give")
        lines = [ln for ln in error_lines(r) if not any(n in ln for n in notices)]
        if len(lines) != 1 or fragment not in lines[0]:
            return f"wanted one line naming {fragment!r}, got {lines}"
        if outputs_wanted is not None and len(outputs(d)) != outputs_wanted:
            return f"{len(outputs(d))} outputs, wanted {outputs_wanted}"
        return None

    return chk


def folder_with(d: Path, bad_name: str, bad: bytes | Callable[[Path], object], n_good: int = 3) -> Path:
    folder = d / "in"
    for i in range(n_good):
        save(folder / f"good{i}.png", photo(12, 16))
    p = folder / bad_name
    if callable(bad):
        bad(p)
    else:
        p.write_bytes(bad)
    return folder


# ---- 1. one bad file must not stop a batch ---------------------------------------------------------


@case("isolation", 0)
def jpeg_exif_orientation_text(d: Path):
    folder = folder_with(d, "bad.jpg", lambda p: save(p, photo(12, 16), exif=exif_with(0x0112, "abc")))
    return upscale(d, folder), want_outputs(4)


@case("isolation", 0)
def png_exif_orientation_text(d: Path):
    folder = folder_with(d, "bad.png", lambda p: save(p, photo(12, 16), exif=exif_with(0x0112, "abc")))
    return upscale(d, folder), want_outputs(4)


@case("isolation", 0)
def webp_exif_orientation_text(d: Path):
    folder = folder_with(d, "bad.webp", lambda p: save(p, photo(12, 16), exif=exif_with(0x0112, "abc")))
    return upscale(d, folder), want_outputs(4)


def _orientation_cases() -> None:
    for value in (0, 9, 65535, -1, 2.5):

        def make(d: Path, value: object = value):
            exif = exif_with(0x0112, value)
            folder = folder_with(d, "bad.jpg", lambda p: save(p, photo(12, 16), exif=exif))
            return upscale(d, folder), want_outputs(4)

        make.__name__ = f"jpeg_exif_orientation_{value}"
        case("isolation", 0)(make)


_orientation_cases()


@case("isolation", 0)
def jpeg_corrupt_exif(d: Path):
    folder = folder_with(d, "bad.jpg", lambda p: save(p, photo(12, 16), exif=GARBAGE_EXIF))
    return upscale(d, folder), want_outputs(4)


@case("isolation", 0)
def png_corrupt_exif(d: Path):
    folder = folder_with(d, "bad.png", png_with_chunk(photo(12, 16), b"eXIf", GARBAGE_EXIF[6:]))
    return upscale(d, folder), want_outputs(4)


@case("isolation", 0)
def webp_corrupt_exif(d: Path):
    folder = folder_with(d, "bad.webp", lambda p: save(p, photo(12, 16), exif=GARBAGE_EXIF))
    return upscale(d, folder), want_outputs(4)


@case("isolation", 1)
def truncated_png_in_folder(d: Path):
    buf = io.BytesIO()
    Image.fromarray(photo(64, 64)).save(buf, "PNG")
    folder = folder_with(d, "bad.png", buf.getvalue()[:200])
    return upscale(d, folder), one_line_naming("bad.png", 3)


@case("isolation", 1)
def text_file_named_png(d: Path):
    folder = folder_with(d, "bad.png", b"hello, not an image\n")
    return upscale(d, folder), one_line_naming("bad.png", 3)


@case("isolation", 1)
def empty_jpeg(d: Path):
    folder = folder_with(d, "bad.jpg", b"")
    return upscale(d, folder), one_line_naming("bad.jpg", 3)


@case("isolation", 1)
def newline_in_name(d: Path):
    folder = folder_with(d, "bad\nname.png", b"garbage")

    def chk(d: Path, r: Result) -> str | None:
        lines = [
            ln
            for ln in error_lines(r)
            if "inputs failed" not in ln and " skipped (output exists), " not in ln
        ]
        if len(lines) != 1 or "bad\\nname.png" not in lines[0]:
            return f"wanted one line with the name escaped, got {lines}"
        return None if len(outputs(d)) == 3 else f"{len(outputs(d))} outputs"

    return upscale(d, folder), chk


@case("isolation", 1)
def undecodable_bytes_in_name(d: Path):
    folder = d / "in"
    for i in range(2):
        save(folder / f"good{i}.png", photo(12, 16))
    bad = os.fsencode(str(folder)) + b"/bad\xff\xfe.png"
    with open(bad, "wb") as f:
        f.write(b"garbage")
    return upscale(d, folder), one_line_naming("bad", 2)


@case("isolation", 1)
def escape_sequence_in_name(d: Path):
    folder = folder_with(d, "bad\x1b[31mred.png", b"garbage")
    return upscale(d, folder), one_line_naming("\\x1b", 3)


@case("isolation", {0, 1})
def gif_is_upscaled_or_refused_with_a_line(d: Path):
    """GIF goes through the video path (another engineer's); either way: done, or one line."""
    folder = folder_with(d, "anim.gif", lambda p: save(p, photo(12, 16)))

    def chk(d: Path, r: Result) -> str | None:
        if r.rc == 0:
            return want_outputs(4)(d, r)
        return one_line_naming("anim.gif", 3)(d, r)

    return upscale(d, folder / "anim.gif", *sorted(folder.glob("good*"))), chk


@case("isolation", 1)
def corrupt_video_among_images(d: Path):
    folder = folder_with(d, "clip.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    return upscale(d, folder / "clip.mp4", *sorted(folder.glob("good*"))), one_line_naming("clip.mp4", 3)


@case("isolation", 1)
def same_output_name_twice(d: Path):
    save(d / "a.png", photo(12, 16))
    save(d / "a.jpg", photo(12, 16))
    return upscale(d, d / "a.png", d / "a.jpg", extra=("--format", "png")), one_line_naming("a", 1)


@case("isolation", 1)
def output_would_replace_input(d: Path):
    save(d / "out" / "a_x4.png", photo(12, 16))
    return upscale(d, d / "out" / "a_x4.png", extra=("--suffix", "")), one_line_naming("a_x4.png", 1)


# ---- 2. tracebacks -----------------------------------------------------------------------------------


@case("traceback", 1)
def output_name_too_long(d: Path):
    src = save(d / ("n" * 250 + ".png"), photo(12, 16))
    save(d / "ok.png", photo(12, 16))
    return upscale(d, src, d / "ok.png"), one_line_naming("nnnn", 1)


@case("traceback", 2)
def suffix_300_wide(d: Path):
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png", extra=("--suffix", "{scale:>300}")), one_line_naming("suffix")


@case("traceback", 2, rss_mb=1500)
def suffix_huge_width(d: Path):
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png", extra=("--suffix", "{scale:>99999999999}")), one_line_naming("suffix")


@case("traceback", 2)
def suffix_attribute_access(d: Path):
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png", extra=("--suffix", "{scale.__class__}")), one_line_naming("suffix")


@case("traceback", 2)
def suffix_with_path_separator(d: Path):
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png", extra=("--suffix", "/../../escaped")), one_line_naming("suffix")


for _bad_scale in ("0", "-4", "abc", "1e9", ""):

    def _scale_case(d: Path, value: str = _bad_scale):
        save(d / "a.png", photo(12, 16))
        return upscale(d, d / "a.png", model=model_with_meta(d, scale=value)), one_line_naming(
            "bad.safetensors"
        )

    _scale_case.__name__ = f"model_meta_scale_{_bad_scale or 'empty'}"
    case("traceback", 2)(_scale_case)


@case("traceback", 2)
def model_meta_scale_disagrees(d: Path):
    for i in range(3):
        save(d / f"a{i}.png", photo(12, 16))
    argv = upscale(d, *(d / f"a{i}.png" for i in range(3)), model=model_with_meta(d, scale="2"))
    return argv, one_line_naming("bad.safetensors")


for _name, _hp in {
    "not_json": "{num_feat: 4",
    "json_list": "[1, 2]",
    "unknown_key": json.dumps({"num_feat": 4, "num_conv": 1, "scale": 4, "evil": 1}),
    "string_width": json.dumps({"num_feat": "4", "num_conv": 1, "scale": 4}),
    "float_width": json.dumps({"num_feat": 4.5, "num_conv": 1, "scale": 4}),
    "negative_depth": json.dumps({"num_feat": 4, "num_conv": -3, "scale": 4}),
    "bool_width": json.dumps({"num_feat": True, "num_conv": 1, "scale": 4}),
    "percent_in_value": json.dumps({"num_feat": 4, "num_conv": 1, "scale": 4, "act_type": "%s%s"}),
}.items():

    def _hp_case(d: Path, hp: str = _hp):
        save(d / "a.png", photo(12, 16))
        return upscale(d, d / "a.png", model=model_with_meta(d, hparams=hp)), one_line_naming(
            "bad.safetensors"
        )

    _hp_case.__name__ = f"model_hparams_{_name}"
    case("traceback", 2)(_hp_case)


@case("traceback", 2)
def model_arch_unknown(d: Path):
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png", model=model_with_meta(d, arch="evil")), one_line_naming("bad.safetensors")


@case("traceback", 2)
def model_not_safetensors(d: Path):
    save(d / "a.png", photo(12, 16))
    (d / "m.safetensors").write_bytes(os.urandom(300))
    return upscale(d, d / "a.png", model=d / "m.safetensors"), one_line_naming("m.safetensors")


@case("traceback", 2)
def model_header_length_huge(d: Path):
    save(d / "a.png", photo(12, 16))
    (d / "m.safetensors").write_bytes(struct.pack("<Q", 1 << 62) + b"{}")
    return upscale(d, d / "a.png", model=d / "m.safetensors"), one_line_naming("m.safetensors")


@case("traceback", 2)
def model_truncated(d: Path):
    save(d / "a.png", photo(12, 16))
    data = tiny_model(d).read_bytes()
    (d / "m.safetensors").write_bytes(data[: len(data) - 50])
    return upscale(d, d / "a.png", model=d / "m.safetensors"), one_line_naming("m.safetensors")


@case("traceback", 2)
def model_nan_weights(d: Path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    src = tiny_model(d)
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors["body.0.weight"][0, 0, 0, 0] = float("nan")
    save_file(tensors, str(d / "nan.safetensors"), metadata=meta)
    save(d / "a.png", photo(12, 16))
    save(d / "b.png", photo(12, 16))

    def chk(d: Path, r: Result) -> str | None:
        if "fp32" in r.err:
            return f"advises fp32: {r.err!r}"
        return one_line_naming("nan.safetensors")(d, r)

    return upscale(d, d / "a.png", d / "b.png", model=d / "nan.safetensors"), chk


@case("traceback", 2)
def model_int_weights(d: Path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    src = tiny_model(d)
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k).to(torch.int8) for k in f.keys()}
    save_file(tensors, str(d / "int.safetensors"), metadata=meta)
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png", model=d / "int.safetensors"), one_line_naming("int.safetensors")


def _pth(d: Path, state: dict, name: str = "m.pth") -> list[str]:
    torch.save(state, d / name)
    return ["import", str(d / name), "-o", str(d / "m.safetensors")]


def _compact_state(nf: int = 4, n: int = 1, scale: int = 4) -> dict:
    from gensr.archs import build_generator

    return build_generator("compact", {"num_feat": nf, "num_conv": n, "scale": scale}).state_dict()


@case("traceback", 1)
def pth_1d_conv_weight(d: Path):
    s = _compact_state()
    s["body.0.weight"] = torch.zeros(5)
    return _pth(d, s), one_line_naming("m.pth")


@case("traceback", 1)
def pth_0d_conv_weight(d: Path):
    s = _compact_state()
    s["body.0.weight"] = torch.tensor(1.0)
    return _pth(d, s), one_line_naming("m.pth")


@case("traceback", 1)
def pth_0d_last_weight(d: Path):
    s = _compact_state()
    s["body.2.weight"] = torch.tensor(1.0)
    return _pth(d, s), one_line_naming("m.pth")


@case("traceback", 1)
def pth_rrdb_1d_first(d: Path):
    s = {"conv_first.weight": torch.zeros(3), "body.0.rdb1.conv1.weight": torch.zeros(2),
         "conv_body.weight": torch.zeros(1), "conv_up2.weight": torch.zeros(1),
         "conv_last.weight": torch.zeros(2)}  # fmt: skip
    return _pth(d, s), one_line_naming("m.pth")


@case("memory", 1, rss_mb=1200)
def pth_zero_size_huge_width(d: Path):
    s = _compact_state()
    s["body.0.weight"] = torch.zeros(8000, 3, 0, 0)
    return _pth(d, s), one_line_naming("m.pth")


@case("traceback", 1)
def pth_malicious_pickle(d: Path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {d / 'pwned'}",))

    import pickle

    (d / "m.pth").write_bytes(pickle.dumps({"params": Evil()}))

    def chk(d: Path, r: Result) -> str | None:
        return "payload ran" if (d / "pwned").exists() else one_line_naming("m.pth")(d, r)

    return ["import", str(d / "m.pth"), "-o", str(d / "m.safetensors")], chk


@case("traceback", 1)
def pth_random_bytes(d: Path):
    (d / "m.pth").write_bytes(os.urandom(500))
    return ["import", str(d / "m.pth"), "-o", str(d / "m.safetensors")], one_line_naming("m.pth")


@case("traceback", 2)
def pth_torchscript_archive(d: Path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 12, 3, padding=1)), str(d / "m.pt"))
    save(d / "a.png", photo())
    return upscale(d, d / "a.png", model=d / "m.pt"), one_line_naming("m.pt")


@case("memory", 2, rss_mb=1500)
def safetensors_declares_huge_tensor(d: Path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 4]}}).encode()
    (d / "m.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    save(d / "a.png", photo())
    return upscale(d, d / "a.png", model=d / "m.safetensors"), one_line_naming("m.safetensors")


def _span_state() -> dict:
    from gensr.models.spandrel_import import SpandrelMissing, import_spandrel

    try:
        import_spandrel()
    except SpandrelMissing as e:
        raise Skip(str(e)) from None
    from spandrel.architectures.SPAN import SPAN

    return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2).state_dict()


@case("memory", 2, rss_mb=1500)
def spandrel_small_file_huge_network(d: Path):
    s = _span_state()
    s["conv_1.sk.weight"] = torch.zeros(50_000, 3, 1, 1)  # SPAN's width: a ~10^11-parameter network
    torch.save(s, d / "m.pth")
    save(d / "a.png", photo())
    return upscale(d, d / "a.png", model=d / "m.pth"), one_line_naming("m.pth")


@case("traceback", 2)
def spandrel_wrong_shape(d: Path):
    s = _span_state()
    s["conv_cat.weight"] = torch.zeros(8, 5, 1, 1)
    torch.save(s, d / "m.pth")
    save(d / "a.png", photo())
    return upscale(d, d / "a.png", model=d / "m.pth"), one_line_naming("m.pth")


@case("traceback", 2)
def unknown_state_dict(d: Path):
    torch.save({"encoder.0.weight": torch.zeros(4, 3, 3, 3)}, d / "m.pth")
    save(d / "a.png", photo())
    return upscale(d, d / "a.png", model=d / "m.pth"), one_line_naming("m.pth")


def _ncnn(d: Path, lines: list[str], blob: bytes) -> list[str]:
    (d / "m.param").write_text("7767517\n" + f"{len(lines)} 20\n" + "\n".join(lines) + "\n")
    (d / "m.bin").write_bytes(blob)
    return ["import", str(d / "m.param"), str(d / "m.bin"), "-o", str(d / "m.safetensors")]


def _compact_ncnn(
    interp: str = "Interp up 1 1 d0 g 0=1 1=2.000000e+00 2=2.000000e+00",
) -> tuple[list[str], bytes]:
    def conv(name: str, b: str, t: str, cin: int, cout: int) -> str:
        return f"Convolution {name} 1 1 {b} {t} 0={cout} 1=3 4=1 5=1 6={cout * cin * 9}"

    lines = ["Input in0 0 1 data", "Split sp 1 2 data d0 d1", conv("c0", "d1", "a", 3, 3),
             "PReLU p0 1 1 a b 0=3",
             conv("c1", "b", "c", 3, 3), "PReLU p1 1 1 c d 0=3", conv("c2", "d", "e", 3, 12),
             "PixelShuffle ps 1 1 e f 0=2", interp, "BinaryOp add 2 1 f g output"]  # fmt: skip
    blob = b""
    for cout, cin, prelu in ((3, 3, True), (3, 3, True), (12, 3, False)):
        blob += (
            struct.pack("<I", 0) + np.zeros(cout * cin * 9, "<f4").tobytes() + np.zeros(cout, "<f4").tobytes()
        )
        blob += np.zeros(3, "<f4").tobytes() if prelu else b""
    return lines, blob


@case("traceback", 0)
def ncnn_valid_control(d: Path):
    return _ncnn(d, *_compact_ncnn())


@case("traceback", 1)
def ncnn_interp_explicit_size(d: Path):
    return _ncnn(d, *_compact_ncnn("Interp up 1 1 d0 g 0=1 1=2.0 2=2.0 3=7 4=9")), one_line_naming("m.param")


@case("traceback", 1)
def ncnn_prelu_negative_count(d: Path):
    lines, blob = _compact_ncnn()
    lines[3] = "PReLU p0 1 1 a b 0=-1000000"
    return _ncnn(d, lines, blob), one_line_naming("m.param")


@case("memory", 1, rss_mb=1200)
def ncnn_conv_claims_huge_weight(d: Path):
    lines, blob = _compact_ncnn()
    lines[2] = "Convolution c0 1 1 d1 a 0=8000 1=3 4=1 5=1 6=2000000000"
    return _ncnn(d, lines, blob), one_line_naming("m.")


@case("traceback", 1)
def ncnn_param_binary_garbage(d: Path):
    (d / "m.param").write_bytes(b"7767517\n\xff\xfe\x00garbage")
    (d / "m.bin").write_bytes(b"")
    return ["import", str(d / "m.param"), str(d / "m.bin"), "-o", str(d / "m.safetensors")], one_line_naming(
        "m."
    )


@case("traceback", 1)
def ncnn_param_huge_numbers(d: Path):
    lines, blob = _compact_ncnn()
    lines[6] = "Convolution c2 1 1 d e 0=99999999999999999999 1=3 4=1 5=1 6=1"
    return _ncnn(d, lines, blob), one_line_naming("m.param")


@case("traceback", 130, sigint_after=0.3)
def ctrl_c_during_imports_early(d: Path):
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png"), None


@case("traceback", 130, sigint_after=1.2)
def ctrl_c_during_imports_late(d: Path):
    # the last imports or the first tiles: a 12x16 input was done by 1.2 s on a quick machine (exit 0,
    # the Ctrl-C came after the end); this one runs about 5 s here
    save(d / "a.png", photo(1200, 1200))
    return upscale(d, d / "a.png"), None


@case("traceback", 130, sigint_after=5.0)
def ctrl_c_during_upscale(d: Path):
    # still running at 5 s on any machine: the built-in model in fp32 on 32-px tiles (about a minute alone)
    save(d / "a.png", photo(1500, 1500))
    return upscale(d, d / "a.png", model="gensr-x4", extra=("--tile", "32", "--precision", "fp32")), None


@case("traceback", 1)
def eval_bad_image_in_data(d: Path):
    save(d / "hr" / "a.png", photo(32, 32))
    (d / "hr" / "b.png").write_bytes(b"garbage")
    save(d / "hr" / "c.png", photo(32, 32), exif=exif_with(0x0112, "abc"))
    argv = ["eval", "--data", str(d / "hr"), "--scale", "4", "--model", "bicubic", "--no-lpips"]
    return argv, one_line_naming("b.png")


@case("traceback", 2)
def eval_bad_model(d: Path):
    save(d / "hr" / "a.png", photo(32, 32))
    argv = ["eval", "--data", str(d / "hr"), "--scale", "4", "--model", str(model_with_meta(d, scale="0")),
            "--no-lpips"]  # fmt: skip
    return argv, one_line_naming("bad.safetensors")


@case("traceback", 2)
def train_config_binary(d: Path):
    (d / "c.yaml").write_bytes(b"\xff\xfe\x00\x01" * 20)
    return ["train", "--config", str(d / "c.yaml"), "--run-dir", str(d / "run")], one_line_naming("c.yaml")


@case("traceback", 2)
def train_config_yaml_list(d: Path):
    (d / "c.yaml").write_text("- 1\n- 2\n")
    return ["train", "--config", str(d / "c.yaml"), "--run-dir", str(d / "run")], one_line_naming("c.yaml")


@case("traceback", 2)
def train_resume_corrupt_checkpoint(d: Path):
    run = d / "run"
    (run / "checkpoints").mkdir(parents=True)
    cfg = Path(__file__).resolve().parent.parent / "configs" / "srresnet.yaml"
    (run / "config.yaml").write_text(cfg.read_text())
    (run / "checkpoints" / "ckpt_00000010.pt").write_bytes(os.urandom(100))
    return ["train", "--resume", str(run)], one_line_naming("ckpt_00000010.pt")


@case("traceback", {0, 1})
def models_with_corrupt_cached_model(d: Path):
    (d / "cache" / "models").mkdir(parents=True)
    (d / "cache" / "models" / "bad.safetensors").write_bytes(b"garbage")
    return ["models", "--verbose"], None


@case("traceback", 2)
def release_not_a_run(d: Path):
    (d / "run").mkdir()
    return ["release", str(d / "run"), "-o", str(d / "m.safetensors")], None


@case("traceback", {0, 1, 2})
def plot_garbage_log(d: Path):
    (d / "run").mkdir()
    (d / "run" / "log.jsonl").write_bytes(b'{"iter": "x", "g/pixel": [1]}\n\xff\xfe\n{"iter": 1e999}\n')
    return ["plot", str(d / "run"), "-o", str(d / "c.png")], None


# ---- 3. memory from lies -----------------------------------------------------------------------------


@case("memory", 1, rss_mb=1000)
def png_over_the_pixel_budget(d: Path):
    """10000x10001 (a few hundred KB): one pixel row over the default 100 MP, refused from the header."""
    (d / "big.png").write_bytes(zero_png(10000, 10001))
    save(d / "ok.png", photo(12, 16))
    return upscale(d, d / "big.png", d / "ok.png"), one_line_naming("big.png: 10000x10001 is 100 MP", 1)


@case("memory", 130, rss_mb=2500, sigint_after=60)
def png_10000_square_streams(d: Path):
    """A 291 KB 10000x10000 PNG: within the budget, so it is upscaled band by band (PNG output is
    streamed); memory stays near the decoded input (100 MP: 1.2 GB of float32) instead of growing to 19 GB.
    Interrupted after a minute: no output and no temporary file may be left."""
    (d / "big.png").write_bytes(zero_png(10000, 10000))

    def chk(d: Path, r: Result) -> str | None:
        left = [p.name for p in (d / "out").iterdir()] if (d / "out").exists() else []
        return f"left behind: {left}" if left else None

    return upscale(d, d / "big.png"), chk


@case("memory", 1, rss_mb=1000)
def png_header_60000_square(d: Path):
    (d / "big.png").write_bytes(zero_png(60000, 60000)[:2000])
    save(d / "ok.png", photo(12, 16))
    return upscale(d, d / "big.png", d / "ok.png"), one_line_naming("big.png", 1)


@case("memory", 1, rss_mb=1000)
def webp_16383_square(d: Path):
    save(d / "big.webp", Image.new("RGB", (16383, 16383)), lossless=False, quality=1)
    save(d / "ok.png", photo(12, 16))
    return upscale(d, d / "big.webp", d / "ok.png"), one_line_naming("big.webp", 1)


@case("memory", 1, rss_mb=1000)
def max_pixels_flag(d: Path):
    save(d / "a.png", photo(100, 100))
    save(d / "ok.png", photo(10, 10))
    return upscale(d, d / "a.png", d / "ok.png", extra=("--max-pixels", "5000")), one_line_naming("a.png", 1)


@case("memory", 2, rss_mb=1000)
def model_meta_num_feat_8000(d: Path):
    save(d / "a.png", photo(12, 16))
    hp = json.dumps({"num_feat": 8000, "num_conv": 1, "scale": 4})
    return upscale(d, d / "a.png", model=model_with_meta(d, hparams=hp)), one_line_naming("bad.safetensors")


@case("memory", 2, rss_mb=1000)
def model_meta_num_conv_100000(d: Path):
    save(d / "a.png", photo(12, 16))
    hp = json.dumps({"num_feat": 4, "num_conv": 100000, "scale": 4})
    return upscale(d, d / "a.png", model=model_with_meta(d, hparams=hp)), one_line_naming("bad.safetensors")


@case("memory", 1, rss_mb=1000)
def png_iccp_bomb(d: Path):
    icc = zlib.compress(b"\0" * (200 * MB), 9)
    folder = folder_with(d, "bomb.png", png_with_chunk(photo(12, 16), b"iCCP", b"x\0\0" + icc))
    return upscale(d, folder), None


@case("memory", {0, 1}, rss_mb=1000)
def png_ztxt_bomb(d: Path):
    txt = zlib.compress(b"A" * (200 * MB), 9)
    folder = folder_with(d, "bomb.png", png_with_chunk(photo(12, 16), b"zTXt", b"k\0\0" + txt))
    return upscale(d, folder), None


@case("memory", {0, 1}, rss_mb=1000)
def tiff_many_pages(d: Path):
    frames = [Image.fromarray(photo(4, 4)) for _ in range(3000)]
    frames[0].save(d / "pages.tif", save_all=True, append_images=frames[1:])
    return upscale(d, d / "pages.tif"), None


# ---- 4. nothing silently lost --------------------------------------------------------------------------


def _frames(path: Path) -> tuple[int, list[int]]:
    with Image.open(path) as im:
        n = getattr(im, "n_frames", 1)
        durations = []
        for i in range(n):
            im.seek(i)
            im.load()  # a WebP frame's duration is read when the frame is decoded
            durations.append(int(im.info.get("duration", 0)))
    return n, durations


def _anim(d: Path, name: str, **kw: object) -> Path:
    frames = [Image.fromarray(np.full((8, 10, 3), 40 * i, np.uint8)) for i in range(4)]
    frames[0].save(d / name, save_all=True, append_images=frames[1:], **kw)
    return d / name


def _kept_or_refused(name: str, n: int, durations: list[int] | None) -> Callable[[Path, Result], str | None]:
    def chk(d: Path, r: Result) -> str | None:
        got = outputs(d)
        if r.rc == 1:
            return one_line_naming(name)(d, r) or (None if not got else f"wrote {got} and failed")
        if len(got) != 1:
            return f"outputs {got}"
        frames, durs = _frames(d / "out" / got[0])
        if frames != n:
            return f"{frames} frames out, {n} in"
        if durations is not None and durs != durations:
            return f"durations {durs}, wanted {durations}"
        return None

    return chk


@case("loss", {0, 1})
def animated_webp(d: Path):
    src = _anim(d, "a.webp", duration=[100, 200, 300, 400], loop=0, lossless=True)
    return upscale(d, src), _kept_or_refused("a.webp", 4, [100, 200, 300, 400])


@case("loss", {0, 1})
def apng(d: Path):
    src = _anim(d, "a.png", duration=[100, 200, 300, 400], loop=0)
    return upscale(d, src), _kept_or_refused("a.png", 4, [100, 200, 300, 400])


@case("loss", {0, 1})
def multipage_tiff(d: Path):
    src = _anim(d, "a.tif")
    return upscale(d, src), _kept_or_refused("a.tif", 4, None)


@case("loss", 1)
def animated_webp_to_jpeg(d: Path):
    src = _anim(d, "a.webp", duration=100, lossless=True)
    return upscale(d, src, extra=("--format", "jpg")), one_line_naming("a.webp", 0)


def _float_tiff(d: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr.astype(np.float32), "F").save(d / "f.tif")
    return d / "f.tif"


@case("loss", {0, 1})
def float_tiff_0_255(d: Path):
    src = _float_tiff(d, np.linspace(0, 255, 12 * 16).reshape(12, 16))

    def chk(d: Path, r: Result) -> str | None:
        if r.rc == 1:
            return one_line_naming("f.tif")(d, r)
        out = np.asarray(Image.open(d / "out" / outputs(d)[0])).astype(np.float64)
        mean = out.mean() / (65535 if out.max() > 255 else 255)
        return None if 0.35 < mean < 0.65 else f"mean {mean:.2f} of full scale, wanted about 0.5"

    return upscale(d, src), chk


@case("loss", {0, 1})
def float_tiff_0_1(d: Path):
    src = _float_tiff(d, np.linspace(0, 1, 12 * 16).reshape(12, 16))

    def chk(d: Path, r: Result) -> str | None:
        out = np.asarray(Image.open(d / "out" / outputs(d)[0])).astype(np.float64)
        mean = out.mean() / (65535 if out.max() > 255 else 255)
        return None if 0.35 < mean < 0.65 else f"mean {mean:.2f} of full scale"

    return upscale(d, src), chk


@case("loss", 1)
def float_tiff_nan(d: Path):
    a = np.linspace(0, 1, 12 * 16).reshape(12, 16)
    a[0, 0] = np.nan
    return upscale(d, _float_tiff(d, a)), one_line_naming("f.tif", 0)


@case("loss", 1)
def float_tiff_negative(d: Path):
    return upscale(d, _float_tiff(d, np.linspace(-50, 50, 12 * 16).reshape(12, 16))), one_line_naming(
        "f.tif", 0
    )


def _icc_space(path: Path) -> str | None:
    with Image.open(path) as im:
        icc = im.info.get("icc_profile")
    return icc[16:20].decode("latin-1") if icc else None


@case("loss", {0, 1})
def lab_tiff_icc(d: Path):
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    Image.new("LAB", (16, 12), (50, 0, 0)).save(d / "lab.tif", icc_profile=lab)

    def chk(d: Path, r: Result) -> str | None:
        if r.rc == 1:
            return one_line_naming("lab.tif")(d, r)
        space = _icc_space(d / "out" / outputs(d)[0])
        return None if space in (None, "RGB ") else f"ICC colour space {space!r} on RGB pixels"

    return upscale(d, d / "lab.tif"), chk


@case("loss", 0)
def grey_icc_on_rgb_png(d: Path):
    grey = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    grey = grey[:16] + b"GRAY" + grey[20:]
    save(d / "a.png", photo(12, 16), icc_profile=grey)

    def chk(d: Path, r: Result) -> str | None:
        space = _icc_space(d / "out" / outputs(d)[0])
        return None if space in (None, "RGB ") else f"ICC colour space {space!r} on RGB pixels"

    return upscale(d, d / "a.png"), chk


@case("loss", 0)
def srgb_icc_kept(d: Path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    save(d / "a.jpg", photo(12, 16), icc_profile=srgb)

    def chk(d: Path, r: Result) -> str | None:
        return None if _icc_space(d / "out" / outputs(d)[0]) == "RGB " else "sRGB profile lost"

    return upscale(d, d / "a.jpg"), chk


@case("loss", 0)
def control_formats_fine(d: Path):
    save(d / "g16.png", np.random.default_rng(0).integers(0, 65536, (8, 9)).astype(np.uint16))
    save(d / "cmyk.jpg", Image.fromarray(photo(8, 9, 4), "CMYK"))
    save(d / "p.png", Image.fromarray(photo(12, 16)).convert("P"))
    save(d / "la.png", Image.fromarray(photo(8, 9, 2), "LA"))
    save(d / "one.png", photo(1, 1))
    save(d / "line.png", photo(1, 5000))
    names = ["g16.png", "cmyk.jpg", "p.png", "la.png", "one.png", "line.png"]
    return upscale(d, *(d / n for n in names)), want_outputs(6)


# ---- 5. crash safety --------------------------------------------------------------------------------


@case("crash", 0)
def long_input_name_legal_output(d: Path):
    src = save(d / ("n" * 240 + ".png"), photo(12, 16))
    return upscale(d, src), want_outputs(1)


@case("crash", 0)
def stale_part_file_cleaned(d: Path):
    (d / "out").mkdir()
    stale = d / "out" / ".gensr-deadbeef.part"
    stale.write_bytes(b"half")
    other = d / "out" / ".notes.part"
    other.write_bytes(b"not gensr's")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    save(d / "a.png", photo(12, 16))

    def chk(d: Path, r: Result) -> str | None:
        if stale.exists():
            return "stale .gensr-*.part left"
        if not other.exists():
            return "removed a file that is not gensr's"
        return None

    return upscale(d, d / "a.png"), chk


@case("crash", 1)
def disk_full(d: Path):
    """A 64 KB file system as the output folder: the big output fails in one line, the small one is kept."""
    (d / "out").mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d / "out")],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode:
        raise Skip("cannot mount a small tmpfs here (needs root)")
    save(d / "big.png", photo(200, 200))  # 800x800 noise: about 1.9 MB as PNG
    save(d / "small.png", photo(4, 4))

    def chk(d: Path, r: Result) -> str | None:
        parts = [p.name for p in (d / "out").iterdir() if p.name.endswith(".part")]
        if parts:
            return f"temporary files left on the full disk: {parts}"
        return one_line_naming("big.png: no space left on device", 1)(d, r)

    return upscale(d, d / "big.png", d / "small.png"), chk


@case("crash", 1)
def output_folder_is_a_file(d: Path):
    save(d / "a.png", photo(12, 16))
    (d / "out").write_bytes(b"x")
    return upscale(d, d / "a.png"), one_line_naming("out")


@case("crash", 2)
def file_target_with_two_inputs(d: Path):
    save(d / "a.png", photo(12, 16))
    save(d / "b.png", photo(12, 16))
    return ["upscale", str(d / "a.png"), str(d / "b.png"), "-o", str(d / "x.png"), "--model",
            str(tiny_model(d)), "-q"], one_line_naming("x.png")  # fmt: skip


@case("crash", 2)
def quality_zero(d: Path):
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png", extra=("--quality", "0")), one_line_naming("quality")


@case("crash", 2)
def device_unavailable(d: Path):
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png", extra=("--device", "cuda:7")), None


@case("crash", 2)
def missing_model(d: Path):
    save(d / "a.png", photo(12, 16))
    return upscale(d, d / "a.png", model=d / "nope.safetensors"), one_line_naming("nope")


# ---- runner --------------------------------------------------------------------------------------------


_WRAPPER = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(sys.executable, [sys.executable, "-m", "gensr", *sys.argv[1:]])
_, status, ru = os.wait4(pid, 0)
with open(os.environ["HOSTILE_RSS_FILE"], "w") as f:
    f.write(str(ru.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""
"""Runs gensr as the child of a small fresh process, so that its peak RSS (``ru_maxrss``) does not
start from the harness's own size (a forked child inherits its parent's high-water mark)."""


def run_case(c: Case, python: str, keep: bool) -> tuple[Case, str | None, Result | None]:
    d = Path(tempfile.mkdtemp(prefix=f"hostile-{c.name[:20]}-"))
    try:
        argv = c.setup(d)
    except Skip as e:
        return c, f"SKIP {e}", None
    except Exception as e:  # noqa: BLE001
        return c, f"setup failed: {type(e).__name__}: {e}", None
    rss_file = d / ".rss"
    env = {**os.environ, "GENSR_CACHE": str(d / "cache"), "PYTHONUNBUFFERED": "1",
           "HOSTILE_RSS_FILE": str(rss_file), **c.env}  # fmt: skip
    t0 = time.perf_counter()
    p = subprocess.Popen([python, "-c", _WRAPPER, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, cwd=d, start_new_session=True)  # fmt: skip
    if c.sigint_after is not None:
        time.sleep(c.sigint_after)
        os.killpg(p.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    try:
        out, err = p.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
    rss = int(rss_file.read_text()) / 1024 if rss_file.exists() else 0.0
    r = Result(p.returncode, out.decode(errors="replace"), err.decode(errors="replace"), rss,
               time.perf_counter() - t0)  # fmt: skip
    problems = []
    rc_ok = r.rc in c.rc if isinstance(c.rc, set) else r.rc == c.rc
    if not rc_ok:
        problems.append(f"exit {r.rc}, wanted {c.rc}")
    if "Traceback" in r.err:
        problems.append("traceback")
    if r.rss_mb > c.rss_mb:
        problems.append(f"peak memory {r.rss_mb:.0f} MB > {c.rss_mb} MB")
    if not problems and c.check is not None:
        try:
            msg = c.check(d, r)
        except Exception as e:  # noqa: BLE001
            msg = f"check failed: {type(e).__name__}: {e}"
        if msg:
            problems.append(msg)
    if (d / "out").is_mount():
        subprocess.run(["umount", str(d / "out")], check=False)
    if not keep:
        subprocess.run(["rm", "-rf", str(d)], check=False)
    return c, "; ".join(problems) or None, r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only cases whose name or group contains this")
    ap.add_argument("-j", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("-v", action="store_true", help="show stderr of failing cases")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    ap.add_argument("--skip", default="", help="comma-separated case names not to run")
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    chosen = [c for c in CASES if (args.k in c.name or args.k == c.group) and c.name not in skip]
    results = []
    with ThreadPoolExecutor(args.j) as pool:
        for c, problem, r in pool.map(lambda c: run_case(c, sys.executable, args.keep), chosen):
            status = "ok  " if problem is None else "skip" if problem.startswith("SKIP") else "FAIL"
            extra = f"  {r.seconds:5.1f} s {r.rss_mb:6.0f} MB" if r else ""
            print(f"{status} {c.group:<10} {c.name:<36}{extra}  {problem or ''}", flush=True)  # noqa: T201
            if problem and args.v and r is not None:
                print("     | " + "\n     | ".join(r.err.splitlines()[-8:]), flush=True)  # noqa: T201
            if status == "skip":
                continue
            results.append({"case": c.name, "group": c.group, "ok": problem is None, "problem": problem})
    n_ok = sum(r["ok"] for r in results)
    by_group: dict[str, list[int]] = {}
    for r in results:
        by_group.setdefault(r["group"], [0, 0])[0 if r["ok"] else 1] += 1
    print(f"\n{len(results)} cases: {n_ok} fine, {len(results) - n_ok} not  "  # noqa: T201
          + "  ".join(f"{g} {ok}/{ok + bad}" for g, (ok, bad) in by_group.items()))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if n_ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
