"""Model files as untrusted input: any metadata, any .pth shapes, any ncnn graph damage.

A generated file either loads as a working network or fails with one line naming the file;
nothing is built before its size is known (the parameter budget is checked on the meta device).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import save_file

from gensr.archs import build_generator
from gensr.messages import shown
from gensr.models import ModelFileError, load_model
from gensr.models.ncnn import import_ncnn
from gensr.models.pth import import_pth
from tests.fuzz.conftest import examples

TINY = {"num_feat": 4, "num_conv": 1, "scale": 2}
NET = build_generator("compact", TINY)
STATE = {k: v.detach().clone() for k, v in NET.state_dict().items()}
META = {"gensr.format": "1", "arch": "compact", "hparams": json.dumps(TINY), "scale": "2", "info": "{}"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
hparam_dicts = st.dictionaries(
    st.sampled_from(["num_feat", "num_conv", "scale", "act_type", "upsampler", "net_scale", "num_in_ch",
                     "num_out_ch", "num_block", "evil"]),
    st.one_of(st.integers(-5, 10_000), st.sampled_from(["prelu", "relu", "pixelshuffle", "%s"]), json_values),
    max_size=5,
).map(lambda d: {**TINY, **d})  # fmt: skip
metadata = st.fixed_dictionaries(
    {},
    optional={
        "gensr.format": st.sampled_from(["1", "2", ""]),
        "arch": st.sampled_from(["compact", "rrdbnet", "srresnet", "evil", ""]),
        "hparams": st.one_of(hparam_dicts.map(lambda d: json.dumps(d, default=str)), st.text(max_size=20)),
        "scale": st.one_of(st.integers(-4, 20).map(str), st.text(max_size=5)),
        "info": st.one_of(json_values.map(json.dumps), st.text(max_size=10)),
    },
).map(lambda m: {**META, **m})


def _fails_cleanly(e: Exception, path: Path) -> None:
    text = str(e)
    assert text.startswith(f"{shown(path)}: ") and "\n" not in text, text


def _works(net: torch.nn.Module) -> None:
    with torch.no_grad():
        y = net(torch.rand(1, 3, 4, 5))
    assert y.shape[-2:] == (4 * net.hparams["scale"], 5 * net.hparams["scale"])  # type: ignore[index]


@examples(150)
@given(metadata)
def test_any_metadata_loads_or_is_named(count: Counter[str], meta: dict[str, str]) -> None:
    count["load_model: any metadata on real weights"] += 1
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.safetensors"
        save_file(STATE, str(path), metadata=meta)
        try:
            net, info = load_model(path)
        except ModelFileError as e:
            _fails_cleanly(e, path)
            return
        assert info.scale == net.hparams["scale"]  # type: ignore[index]
        _works(net)


shapes = st.lists(st.integers(0, 9), min_size=0, max_size=5).map(tuple)


@examples(120)
@given(st.dictionaries(st.sampled_from(sorted(STATE)), shapes, max_size=3), st.integers(1, 10_000))
def test_any_pth_shapes_load_or_are_named(
    count: Counter[str], reshaped: dict[str, tuple[int, ...]], wide: int
) -> None:
    count[".pth import: compact layouts with any tensor shapes"] += 1
    state: dict[str, Any] = dict(STATE)
    for key, shape in reshaped.items():
        state[key] = torch.zeros(shape)
    if wide > 5000:  # a tiny file claiming a very wide layer
        state["body.0.weight"] = torch.zeros(wide, 3, 0, 0)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.pth"
        torch.save(state, path)
        try:
            net = import_pth(path)
        except ValueError as e:
            _fails_cleanly(e, path)
            return
        _works(net)


PARAM = """7767517
10 13
Input in0 0 1 data
Split sp 1 2 data d0 d1
Convolution c0 1 1 d1 a 0=3 1=3 4=1 5=1 6=81
PReLU p0 1 1 a b 0=3
Convolution c1 1 1 b c 0=3 1=3 4=1 5=1 6=81
PReLU p1 1 1 c d 0=3
Convolution c2 1 1 d e 0=12 1=3 4=1 5=1 6=324
PixelShuffle ps 1 1 e f 0=2
Interp up 1 1 d0 g 0=1 1=2.000000e+00 2=2.000000e+00
BinaryOp add 2 1 f g output
"""
BIN = b"".join(
    b"\0\0\0\0" + torch.zeros(n * 9 * c).numpy().tobytes() + torch.zeros(n).numpy().tobytes()
    + (torch.full((3,), 0.25).numpy().tobytes() if prelu else b"")
    for n, c, prelu in ((3, 3, True), (3, 3, True), (12, 3, False))
)  # fmt: skip
tokens = st.one_of(
    st.integers(-(10**12), 10**12).map(str), st.sampled_from(["-23300=2,1,2", "3=7", "0=0", "x", "", "1.5e9"])
)


@examples(120)
@given(st.lists(st.tuples(st.integers(0, 200), tokens), max_size=3), st.integers(0, len(BIN)), st.booleans())
def test_any_ncnn_damage_imports_or_is_named(
    count: Counter[str], edits: list[tuple[int, str]], cut: int, truncate: bool
) -> None:
    count["ncnn import: damaged .param tokens and truncated .bin"] += 1
    words = PARAM.split(" ")
    for at, token in edits:
        words[at % len(words)] = token
    with tempfile.TemporaryDirectory() as d:
        param, binf = Path(d) / "m.param", Path(d) / "m.bin"
        param.write_text(" ".join(words))
        binf.write_bytes(BIN[:cut] if truncate else BIN)
        try:
            net = import_ncnn(param, binf)
        except ValueError as e:
            assert str(e).startswith((f"{shown(param)}: ", f"{shown(binf)}: ")) and "\n" not in str(e), str(e)
            return
        _works(net)


def test_the_unfuzzed_network_and_state_work() -> None:
    """The control of the fuzzed cases: the network they start from runs, and its state loads back."""
    _works(NET.eval())
    back = build_generator("compact", TINY)
    back.load_state_dict(STATE)
    _works(back.eval())
