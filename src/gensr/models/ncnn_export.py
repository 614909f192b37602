"""Write gensr generators as ncnn models (``.param`` text graph + ``.bin`` weights).

The files follow the conventions of Real-ESRGAN's released ncnn models, so Upscayl,
realesrgan-ncnn-vulkan and the ``realesrgan-ncnn-py`` runtime load them as custom models:
the input blob is ``data`` and the last one ``output``; the graph maps RGB in [0, 1]
``(3, H, W)`` to RGB ``(3, H*s, W*s)`` (the runtimes scale by 1/255 before and 255 after);
a blob read by several layers goes through a ``Split`` layer; convolution weights are fp16
behind the ``0x01306B47`` tag (``fp16=False``: raw fp32 behind a zero tag), biases and PReLU
slopes raw fp32. The format is the one :mod:`gensr.models.ncnn_graph` reads (see its docstring).

Written directly from the PyTorch modules (no ONNX or pnnx step), layer by layer:

- ``compact`` (SRVGGNetCompact): Convolution + PReLU (or a fused ReLU / LeakyReLU), the last
  Convolution + PixelShuffle, plus ``Interp`` nearest of the input, ``BinaryOp`` add, and for
  ``net_scale != scale`` a bicubic ``Interp``: the layout of ``realesr-animevideov3-x2/x3/x4``.
- ``rrdbnet`` (RRDBNet without pixel-unshuffle, i.e. x3/x4): ``Concat`` dense connections,
  ``Eltwise`` ``0.2 * branch + x`` residuals, the trunk ``BinaryOp`` add, ``Interp`` nearest x2
  stages: the layout of ``realesrgan-x4plus``.
- ``srresnet``: Convolution (BatchNorm folded in) with fused ReLU / LeakyReLU(0.1), residual
  ``BinaryOp`` adds, PixelShuffle or ``Interp`` nearest stages, and the bilinear global residual.

Transposed-convolution upsamplers and RRDBNet's pixel-unshuffle (x1/x2) input are not written
(``ValueError``); export those to ONNX instead.
"""

from __future__ import annotations

import struct
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gensr.archs import arch_name
from gensr.archs.base import ConvPixelShuffle, NearestConv
from gensr.base.atomic import atomic_write
from gensr.models.ncnn_graph import PARAM_MAGIC, TAG_FP16, Weights, parse_param, run_graph

Act = tuple[str, float]
"""A convolution's fused activation: ``("none", 0)``, ``("relu", 0)`` or ``("leaky", slope)``."""
NONE: Act = ("none", 0.0)


@dataclass
class _Graph:
    """An ncnn graph under construction: layers in topological order and their weights."""

    fp16: bool
    lines: list[tuple[str, str, list[str], list[str], str]] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    weights: Weights = field(default_factory=dict)  # float32 copies, for the wiring check
    count: int = 0

    def add(self, kind: str, name: str, bottoms: list[str], params: str = "") -> str:
        """Append a layer with one top blob; returns the blob's name."""
        self.count += 1
        top = f"{self.count}"
        self.lines.append((kind, name, bottoms, [top], params))
        return top

    def conv(
        self, name: str, x: str, weight: torch.Tensor, bias: torch.Tensor | None, act: Act = NONE
    ) -> str:
        """A stride-1 'same' Convolution; ``weight`` (out, in, kh, kw), ``bias`` (out,) or None (zeros)."""
        out, _, kh, kw = weight.shape
        w = weight.detach().float().cpu().numpy()
        b = np.zeros(out, np.float32) if bias is None else bias.detach().float().cpu().numpy()
        params = f"0={out} 1={kw} " + (f"11={kh} " if kh != kw else "") + f"4={kw // 2} "
        params += (f"14={kh // 2} " if kh != kw else "") + f"5=1 6={w.size}"
        if act[0] == "relu":
            params += " 9=1"
        elif act[0] == "leaky":
            params += f" 9=2 -23310=1,{act[1]:e}"
        if self.fp16:
            data = w.astype("<f2").tobytes()
            self.blobs.append(struct.pack("<I", TAG_FP16) + data + b"\0" * (-len(data) % 4))
        else:
            self.blobs.append(struct.pack("<I", 0) + w.astype("<f4").tobytes())
        self.blobs.append(b.astype("<f4").tobytes())
        self.weights[name] = {"weight": w, "bias": b}
        return self.add("Convolution", name, [x], params)

    def prelu(self, name: str, x: str, slope: torch.Tensor) -> str:
        s = slope.detach().float().cpu().numpy().ravel()
        self.blobs.append(s.astype("<f4").tobytes())
        self.weights[name] = {"slope": s}
        return self.add("PReLU", name, [x], f"0={s.size}")

    def interp(self, name: str, x: str, kind: int, factor: float) -> str:
        """``kind`` 1 nearest, 2 bilinear, 3 bicubic (``align_corners=False``), by ``factor``."""
        return self.add("Interp", name, [x], f"0={kind} 1={factor:e} 2={factor:e}")

    def text(self, output: str) -> str:
        """The ``.param`` text, with ``output`` renamed to ``output`` and a Split for shared blobs."""
        rename = {output: "output"}
        lines = [(k, n, [rename.get(b, b) for b in bs], [rename.get(t, t) for t in ts], p)
                 for k, n, bs, ts, p in self.lines]  # fmt: skip
        uses = Counter(b for _, _, bs, _, _ in lines for b in bs)
        taken: Counter[str] = Counter()
        out = [("Input", "input", [], ["data"], "")]
        for kind, name, bottoms, tops, params in lines:
            new_bottoms = []
            for b in bottoms:
                # the first reader takes the Split's last top, as ncnn's converters write it
                new_bottoms.append(f"{b}_splitncnn_{uses[b] - 1 - taken[b]}" if uses[b] > 1 else b)
                taken[b] += 1
            out.append((kind, name, new_bottoms, tops, params))
        result = []
        for kind, name, bottoms, tops, params in out:
            result.append((kind, name, bottoms, tops, params))
            for t in tops:
                if uses[t] > 1:
                    split_tops = [f"{t}_splitncnn_{i}" for i in range(uses[t])]
                    result.append(("Split", f"splitncnn_{t}", [t], split_tops, ""))
        n_blobs = len({t for _, _, _, ts, _ in result for t in ts})
        body = [
            f"{kind:<24} {name:<24} {len(bs)} {len(ts)} {' '.join([*bs, *ts])} {params}".rstrip()
            for kind, name, bs, ts, params in result
        ]
        return "\n".join([str(PARAM_MAGIC), f"{len(result)} {n_blobs}", *body]) + "\n"


def _leaky(module: nn.Module) -> Act:
    if isinstance(module, nn.LeakyReLU):
        return ("leaky", float(module.negative_slope))
    if isinstance(module, nn.ReLU):
        return ("relu", 0.0)
    raise ValueError(f"activation {type(module).__name__} cannot be fused into an ncnn Convolution")


def _act(g: _Graph, name: str, x: str, conv: nn.Conv2d, act: nn.Module, *, shuffle: int = 1) -> str:
    """``act(pixel_shuffle(conv(x), shuffle))``: a PReLU is its own layer, others are fused."""
    if isinstance(act, nn.PReLU):
        y = g.conv(name, x, conv.weight, conv.bias)
        if shuffle > 1:
            y = g.add("PixelShuffle", f"{name}.shuffle", [y], f"0={shuffle}")
        return g.prelu(f"{name}.act", y, act.weight)
    y = g.conv(name, x, conv.weight, conv.bias, _leaky(act))  # elementwise: commutes with the shuffle
    return g.add("PixelShuffle", f"{name}.shuffle", [y], f"0={shuffle}") if shuffle > 1 else y


def _upconv(g: _Graph, name: str, x: str, up: nn.Module, act: nn.Module) -> str:
    """One upsampling stage of :func:`gensr.archs.base.upconv`, followed by ``act``."""
    if isinstance(up, ConvPixelShuffle):
        return _act(g, name, x, up, act, shuffle=up.factor)
    if isinstance(up, NearestConv):
        return _act(g, name, g.interp(f"{name}.up", x, 1, float(up.factor)), up, act)
    raise ValueError(f"{name}: {type(up).__name__} upsampling has no ncnn export; use the ONNX format")


def _check_conv(name: str, conv: nn.Module) -> nn.Conv2d:
    if not isinstance(conv, nn.Conv2d) or isinstance(conv, (ConvPixelShuffle, NearestConv)):
        raise ValueError(f"{name}: expected a plain Conv2d, got {type(conv).__name__}")
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1 or conv.padding != (1, 1):
        raise ValueError(f"{name}: only 3x3 stride-1 'same' convolutions are written")
    return conv


def _compact(g: _Graph, net: nn.Module) -> str:
    body = list(net.body)
    x = "data"
    i = 0
    while i < len(body) - 1:
        conv, act = body[i], body[i + 1]
        if type(conv) is nn.Conv2d:
            x = _act(g, f"body.{i}", x, _check_conv(f"body.{i}", conv), act)
        else:  # an upsampling stage
            x = _upconv(g, f"body.{i}", x, conv, act)
        i += 2
    last = _check_conv(f"body.{i}", body[i])
    x = g.conv(f"body.{i}", x, last.weight, last.bias)
    n = int(net.net_scale)
    if isinstance(net.shuffle, nn.PixelShuffle) and n > 1:
        x = g.add("PixelShuffle", "shuffle", [x], f"0={n}")
    up = g.interp("residual", "data", 1, float(n)) if n > 1 else "data"
    x = g.add("BinaryOp", "add", [x, up])
    if net.net_scale != net.scale:
        x = g.interp("resize", x, 3, net.scale / net.net_scale)
    return x


def _rrdbnet(g: _Graph, net: nn.Module) -> str:
    if net.unshuffle != 1:
        raise ValueError(
            f"RRDBNet x{net.scale} pixel-unshuffles its input, which ncnn's runtimes do not pad for; "
            "only x3/x4 RRDBNet has an ncnn export (use the ONNX format)"
        )
    fea = g.conv("conv_first", "data", net.conv_first.weight, net.conv_first.bias)
    leaky: Act = ("leaky", float(net.lrelu.negative_slope))
    x = fea
    for b, rrdb in enumerate(net.body):
        block_in = x
        for r, rdb in enumerate((rrdb.rdb1, rrdb.rdb2, rrdb.rdb3), start=1):
            feats = [x]
            for c in range(1, 6):
                name = f"body.{b}.rdb{r}.conv{c}"
                src = feats[0] if c == 1 else g.add("Concat", f"{name}.cat", list(feats))
                conv = _check_conv(name, getattr(rdb, f"conv{c}"))
                feats.append(g.conv(name, src, conv.weight, conv.bias, leaky if c < 5 else NONE))
            x = g.add("Eltwise", f"body.{b}.rdb{r}", [feats[-1], x], "0=1 -23301=2,2.000000e-01,1.000000e+00")
        x = g.add("Eltwise", f"body.{b}", [x, block_in], "0=1 -23301=2,2.000000e-01,1.000000e+00")
    x = g.conv("conv_body", x, net.conv_body.weight, net.conv_body.bias)
    x = g.add("BinaryOp", "trunk", [fea, x])
    for i in range(1, net.num_up + 1):
        x = _upconv(g, f"conv_up{i}", x, getattr(net, f"conv_up{i}"), net.lrelu)
    x = g.conv("conv_hr", x, net.conv_hr.weight, net.conv_hr.bias, leaky)
    return g.conv("conv_last", x, net.conv_last.weight, net.conv_last.bias)


def _folded(conv: nn.Conv2d, bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``conv`` then ``bn`` (eval mode) as one convolution's (weight, bias)."""
    if isinstance(bn, nn.Identity):
        return conv.weight, conv.bias
    assert isinstance(bn, nn.BatchNorm2d) and bn.running_var is not None and bn.running_mean is not None
    k = (bn.weight if bn.weight is not None else 1) / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    shift = bn.bias if bn.bias is not None else 0
    return conv.weight * k[:, None, None, None], (bias - bn.running_mean) * k + shift


def _srresnet(g: _Graph, net: nn.Module) -> str:
    leaky: Act = ("leaky", float(net.lrelu.negative_slope))
    x = g.conv("conv_first", "data", net.conv_first.weight, net.conv_first.bias, leaky)
    for b, block in enumerate(net.body):
        y = g.conv(
            f"body.{b}.conv1", x, *_folded(_check_conv("conv1", block.conv1), block.bn1), ("relu", 0.0)
        )
        y = g.conv(f"body.{b}.conv2", y, *_folded(_check_conv("conv2", block.conv2), block.bn2))
        x = g.add("BinaryOp", f"body.{b}", [x, y])
    for i in range(1, net.num_up + 1):
        x = _upconv(g, f"upconv{i}", x, getattr(net, f"upconv{i}"), net.lrelu)
    x = g.conv("conv_hr", x, net.conv_hr.weight, net.conv_hr.bias, leaky)
    x = g.conv("conv_last", x, net.conv_last.weight, net.conv_last.bias)
    return g.add("BinaryOp", "residual", [x, g.interp("upsample", "data", 2, float(net.scale))])


WRITERS = {"compact": _compact, "rrdbnet": _rrdbnet, "srresnet": _srresnet}
"""Architectures (keys of :data:`gensr.archs.GENERATORS`) with an ncnn writer."""


@dataclass(frozen=True)
class NcnnExport:
    """What :func:`export_ncnn` wrote."""

    param: Path
    bin: Path
    layers: int
    blobs: int
    fp16: bool
    max_diff: float
    """Largest difference between the network and the written graph (run by
    :func:`gensr.models.ncnn_graph.run_graph` with fp32 copies of the weights) on a small random input."""


@torch.no_grad()
def export_ncnn(
    net: nn.Module, param_path: str | Path, bin_path: str | Path, *, fp16: bool = True
) -> NcnnExport:
    """Write generator ``net`` as an ncnn ``.param`` / ``.bin`` pair.

    Before anything is written, the graph is run by gensr's ncnn interpreter
    (:func:`gensr.models.ncnn_graph.run_graph`) with fp32 copies of the weights on a random ``(1, 3, 12, 12)``
    input and must agree with ``net`` to 1e-4 (a wiring check; fp16 storage then rounds the
    convolution weights, which costs accuracy measured in ``tests/models/test_ncnn_export.py``).

    Args:
        net: a gensr generator (:data:`WRITERS` lists the architectures), any device and dtype.
        param_path: the text graph to write.
        bin_path: the weights to write.
        fp16: convolution weights as fp16 (the released files' choice, half the size) or fp32.

    Returns:
        :class:`NcnnExport`. Raises ``ValueError`` for architectures or layers ncnn export lacks.
    """
    arch = arch_name(net)
    if arch not in WRITERS:
        raise ValueError(f"no ncnn export for architecture {arch!r}; ncnn export covers {', '.join(WRITERS)}")
    net = net.float().cpu().eval()
    g = _Graph(fp16=fp16)
    text = g.text(WRITERS[arch](g, net))
    param_path, bin_path = Path(param_path), Path(bin_path)
    with tempfile.TemporaryDirectory() as tmp:
        check = Path(tmp) / param_path.name
        check.write_text(text, encoding="utf-8")
        graph = parse_param(check)
        x = torch.rand(1, int(net.hparams["num_in_ch"]), 12, 12, generator=torch.Generator().manual_seed(0))
        diff = (net(x) - run_graph(graph, g.weights, x)).abs().max().item()
    if not diff <= 1e-4:
        raise ValueError(
            f"{param_path}: the written graph differs from the {arch} network by {diff:.3g} (a bug)"
        )
    param_path.parent.mkdir(parents=True, exist_ok=True)
    bin_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(bin_path, b"".join(g.blobs))
    atomic_write(param_path, text)
    return NcnnExport(
        param_path, bin_path, len(graph.layers), int(text.split("\n")[1].split()[1]), fp16, diff
    )
