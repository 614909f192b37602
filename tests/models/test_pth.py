"""Importing official .pth files: key layouts written out here from the official names, wrappers,
detection of hyperparameters from shapes, outputs equal to a functional re-implementation of the
official forward passes, and refusal of pickles that hold anything but tensors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from gensr.models.pth import detect_arch, import_pth, normalize_keys, unwrap_state_dict

Conv = dict[str, tuple[int, int]]  # layer name -> (out_ch, in_ch) of a 3x3 conv


# ---- official layouts, spelled out name by name --------------------------------------------------


def rrdbnet_layers(nf: int, nb: int, gc: int, scale: int, ch: int = 3) -> Conv:
    """Real-ESRGAN RRDBNet: conv_first, body.N.rdbR.convC, conv_body, conv_up1/2, conv_hr, conv_last."""
    in_ch = {4: ch, 2: ch * 4, 1: ch * 16}[scale]
    layers: Conv = {"conv_first": (nf, in_ch)}
    for n in range(nb):
        for r in (1, 2, 3):
            for c in (1, 2, 3, 4, 5):
                layers[f"body.{n}.rdb{r}.conv{c}"] = (nf if c == 5 else gc, nf + (c - 1) * gc)
    layers.update({"conv_body": (nf, nf), "conv_up1": (nf, nf), "conv_up2": (nf, nf)})
    layers.update({"conv_hr": (nf, nf), "conv_last": (ch, nf)})
    return layers


def msrresnet_layers(nf: int, nb: int, scale: int, ch: int = 3) -> Conv:
    """BasicSR MSRResNet: conv_first, body.N.conv1/2, upconv1 (+upconv2 for x4), conv_hr, conv_last."""
    layers: Conv = {"conv_first": (nf, ch)}
    for n in range(nb):
        layers[f"body.{n}.conv1"] = (nf, nf)
        layers[f"body.{n}.conv2"] = (nf, nf)
    if scale == 4:
        layers["upconv1"] = (nf * 4, nf)
        layers["upconv2"] = (nf * 4, nf)
    else:
        layers["upconv1"] = (nf * scale * scale, nf)
    layers.update({"conv_hr": (nf, nf), "conv_last": (ch, nf)})
    return layers


def random_convs(layers: Conv) -> dict[str, Tensor]:
    state = {}
    for name, (cout, cin) in layers.items():
        state[f"{name}.weight"] = torch.randn(cout, cin, 3, 3) * (0.5 / (cin * 9) ** 0.5)
        state[f"{name}.bias"] = torch.randn(cout) * 0.01
    return state


def compact_state(nf: int, num_conv: int, scale: int, prelu: bool = True, ch: int = 3) -> dict[str, Tensor]:
    """Real-ESRGAN SRVGGNetCompact: body.0 conv, body.1 act, ..., body.{2n+2} conv to ch*scale^2."""
    layers: Conv = {"body.0": (nf, ch)}
    for i in range(1, num_conv + 1):
        layers[f"body.{2 * i}"] = (nf, nf)
    layers[f"body.{2 * num_conv + 2}"] = (ch * scale * scale, nf)
    state = random_convs(layers)
    if prelu:
        for i in range(num_conv + 1):
            state[f"body.{2 * i + 1}.weight"] = torch.rand(nf) * 0.3
    return state


# ---- the official forward passes, written functionally ------------------------------------------


def _conv(sd: dict[str, Tensor], name: str, x: Tensor) -> Tensor:
    return F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)


def ref_rrdbnet(sd: dict[str, Tensor], x: Tensor, nb: int, scale: int) -> Tensor:
    def lrelu(t: Tensor) -> Tensor:
        return F.leaky_relu(t, 0.2)

    feat = _conv(sd, "conv_first", F.pixel_unshuffle(x, 4 // scale) if scale < 4 else x)
    body = feat
    for n in range(nb):
        rrdb_in = body
        for r in (1, 2, 3):
            xs = [body]
            for c in (1, 2, 3, 4):
                xs.append(lrelu(_conv(sd, f"body.{n}.rdb{r}.conv{c}", torch.cat(xs, 1))))
            body = _conv(sd, f"body.{n}.rdb{r}.conv5", torch.cat(xs, 1)) * 0.2 + xs[0]
        body = body * 0.2 + rrdb_in
    feat = feat + _conv(sd, "conv_body", body)
    for up in ("conv_up1", "conv_up2"):
        feat = lrelu(_conv(sd, up, F.interpolate(feat, scale_factor=2, mode="nearest")))
    return _conv(sd, "conv_last", lrelu(_conv(sd, "conv_hr", feat)))


def ref_compact(sd: dict[str, Tensor], x: Tensor, num_conv: int, scale: int) -> Tensor:
    t = x
    for i in range(num_conv + 1):
        t = _conv(sd, f"body.{2 * i}", t)
        t = F.prelu(t, sd[f"body.{2 * i + 1}.weight"]) if f"body.{2 * i + 1}.weight" in sd else F.relu(t)
    t = F.pixel_shuffle(_conv(sd, f"body.{2 * num_conv + 2}", t), scale)
    return t + F.interpolate(x, scale_factor=scale, mode="nearest")


def ref_msrresnet(sd: dict[str, Tensor], x: Tensor, nb: int, scale: int) -> Tensor:
    def lrelu(t: Tensor) -> Tensor:
        return F.leaky_relu(t, 0.1)

    feat = lrelu(_conv(sd, "conv_first", x))
    for n in range(nb):
        feat = feat + _conv(sd, f"body.{n}.conv2", F.relu(_conv(sd, f"body.{n}.conv1", feat)))
    if scale == 4:
        feat = lrelu(F.pixel_shuffle(_conv(sd, "upconv1", feat), 2))
        feat = lrelu(F.pixel_shuffle(_conv(sd, "upconv2", feat), 2))
    else:
        feat = lrelu(F.pixel_shuffle(_conv(sd, "upconv1", feat), scale))
    out = _conv(sd, "conv_last", lrelu(_conv(sd, "conv_hr", feat)))
    return out + F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def _save(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


def _run(net: torch.nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return net(x)


# ---- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_rrdbnet_params_ema_file_imports_and_matches_official_forward(tmp_path: Path, scale: int) -> None:
    sd = random_convs(rrdbnet_layers(nf=8, nb=2, gc=4, scale=scale))
    path = _save(tmp_path / "RealESRGAN.pth", {"params_ema": sd})
    net = import_pth(path)
    assert net.hparams == {
        "num_in_ch": 3, "num_out_ch": 3, "scale": scale, "num_feat": 8,
        "num_block": 2, "num_grow_ch": 4, "upsampler": "nearest",
    }  # fmt: skip
    x = torch.rand(1, 3, 8, 12)
    out = _run(net, x)
    assert out.shape == (1, 3, 8 * scale, 12 * scale)
    assert torch.allclose(out, ref_rrdbnet(sd, x, nb=2, scale=scale), atol=1e-5)


def test_module_prefix_and_nested_wrappers(tmp_path: Path) -> None:
    sd = random_convs(rrdbnet_layers(nf=8, nb=1, gc=4, scale=4))
    wrapped = {"params": {f"module.{k}": v for k, v in sd.items()}, "iter": 5000}
    net = import_pth(_save(tmp_path / "ddp.pth", wrapped))
    x = torch.rand(1, 3, 5, 7)
    assert torch.allclose(_run(net, x), ref_rrdbnet(sd, x, nb=1, scale=4), atol=1e-5)
    # bare state dict, and params_ema preferred over params
    assert unwrap_state_dict(sd).keys() == sd.keys()
    other = {k: torch.zeros_like(v) for k, v in sd.items()}
    picked = unwrap_state_dict({"params": other, "params_ema": sd})
    assert torch.equal(picked["conv_first.weight"], sd["conv_first.weight"])


def test_esrgan_spellings_map_to_official_names(tmp_path: Path) -> None:
    nb = 2
    sd = random_convs(rrdbnet_layers(nf=8, nb=nb, gc=4, scale=4))
    x = torch.rand(1, 3, 6, 6)
    expected = ref_rrdbnet(sd, x, nb=nb, scale=4)

    # ESRGAN repository (2019+): RRDB_trunk / RDBn / trunk_conv / upconvN / HRconv
    new = {}
    for k, v in sd.items():
        k = k.replace("conv_body", "trunk_conv").replace("body.", "RRDB_trunk.").replace(".rdb", ".RDB")
        k = k.replace("conv_up", "upconv").replace("conv_hr", "HRconv")
        new[k] = v
    assert "RRDB_trunk.1.RDB3.conv5.weight" in new and "HRconv.bias" in new
    assert torch.allclose(_run(import_pth(_save(tmp_path / "esrgan.pth", new)), x), expected, atol=1e-5)

    # ESRGAN "old arch": one nn.Sequential named model
    seq = {"conv_first": "model.0", "conv_body": f"model.1.sub.{nb}", "conv_up1": "model.3",
           "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}  # fmt: skip
    old = {}
    for k, v in sd.items():
        layer, kind = k.rsplit(".", 1)
        if layer.startswith("body."):
            _, n, rdb, conv = layer.split(".")
            old[f"model.1.sub.{n}.RDB{rdb[-1]}.{conv}.0.{kind}"] = v
        else:
            old[f"{seq[layer]}.{kind}"] = v
    assert torch.allclose(_run(import_pth(_save(tmp_path / "old.pth", old)), x), expected, atol=1e-5)


@pytest.mark.parametrize(("scale", "prelu"), [(4, True), (2, True), (2, False)])
def test_compact_detection_and_forward(tmp_path: Path, scale: int, prelu: bool) -> None:
    sd = compact_state(nf=8, num_conv=3, scale=scale, prelu=prelu)
    arch, hp = detect_arch(sd)
    assert arch == "compact"
    assert hp["num_feat"] == 8 and hp["num_conv"] == 3 and hp["scale"] == scale
    assert hp["act_type"] == ("prelu" if prelu else "relu")
    net = import_pth(_save(tmp_path / "realesr.pth", {"params": sd}))
    x = torch.rand(1, 3, 7, 5)
    assert torch.allclose(_run(net, x), ref_compact(sd, x, num_conv=3, scale=scale), atol=1e-5)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_msrresnet_detection_and_forward(tmp_path: Path, scale: int) -> None:
    sd = random_convs(msrresnet_layers(nf=8, nb=2, scale=scale))
    arch, hp = detect_arch(sd)
    assert arch == "srresnet"
    assert (hp["num_block"], hp["num_feat"], hp["scale"], hp["batch_norm"]) == (2, 8, scale, False)
    net = import_pth(_save(tmp_path / "msrresnet.pth", {"params": sd}))
    x = torch.rand(1, 3, 5, 6)
    assert torch.allclose(_run(net, x), ref_msrresnet(sd, x, nb=2, scale=scale), atol=1e-5)


@pytest.mark.parametrize(("scale", "nb", "nf"), [(4, 3, 8), (2, 1, 12), (1, 2, 4)])
def test_rrdbnet_detection(scale: int, nb: int, nf: int) -> None:
    arch, hp = detect_arch(random_convs(rrdbnet_layers(nf=nf, nb=nb, gc=4, scale=scale)))
    assert arch == "rrdbnet"
    assert (hp["scale"], hp["num_block"], hp["num_feat"], hp["num_grow_ch"]) == (scale, nb, nf, 4)


def test_pickle_with_an_object_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(marker), "w"))

    sd = random_convs(rrdbnet_layers(nf=8, nb=1, gc=4, scale=4))
    path = _save(tmp_path / "evil.pth", {"params": sd, "extra": Payload()})
    with pytest.raises(ValueError, match=r"evil\.pth.*refused"):
        import_pth(path)
    assert not marker.exists()


def test_unknown_layout_and_garbage_are_named(tmp_path: Path) -> None:
    path = _save(tmp_path / "swinir.pth", {"params": {"layers.0.attn.qkv.weight": torch.zeros(6, 2)}})
    with pytest.raises(ValueError, match=r"swinir\.pth.*unknown layout"):
        import_pth(path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a torch file")
    with pytest.raises(ValueError, match=r"junk\.pth"):
        import_pth(junk)
    with pytest.raises(ValueError, match=r"empty\.pth.*no state dict"):
        import_pth(_save(tmp_path / "empty.pth", {}))


def test_incomplete_official_file_is_rejected(tmp_path: Path) -> None:
    sd = random_convs(rrdbnet_layers(nf=8, nb=2, gc=4, scale=4))
    del sd["body.1.rdb2.conv3.bias"]
    with pytest.raises(ValueError, match=r"cut\.pth"):
        import_pth(_save(tmp_path / "cut.pth", sd))


def test_normalize_keys_leaves_official_layout_alone() -> None:
    sd = compact_state(nf=4, num_conv=1, scale=2)
    assert normalize_keys(sd) is sd
