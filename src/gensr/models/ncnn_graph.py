"""ncnn model files (``.param`` text graph + ``.bin`` weights): parsing and a reference interpreter.

:func:`run_graph` executes a parsed graph directly with torch ops; :mod:`gensr.models.ncnn` uses it
to check that an imported gensr module computes the same thing.

The ncnn file format, as read here:

- ``.param``: magic ``7767517``; ``layer_count blob_count``; one line per layer,
  ``Type name n_bottoms n_tops bottoms... tops... key=value...``. Keys ``<= -23300`` hold arrays
  for id ``-23300 - key``, written ``count,v1,v2,...``. Values with ``.`` or ``e`` are floats.
- ``.bin``: the weights of each layer in layer order. A ``Convolution`` weight starts with a
  4-byte tag (``0x01306B47``: fp16 data padded to 4 bytes; ``0``: raw fp32); its bias and a
  ``PReLU``'s slopes are raw fp32 without a tag. Weight layout is PyTorch's ``(out, in, kh, kw)``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gensr.messages import shown

PARAM_MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38

ParamValue = int | float | tuple[int | float, ...]
Weights = dict[str, dict[str, np.ndarray]]

COMPACT_TYPES = frozenset("Input Split Convolution PReLU ReLU PixelShuffle Interp BinaryOp".split())
"""Layer types of an SRVGGNetCompact graph (Real-ESRGAN's ``realesr-animevideov3``)."""
RRDBNET_TYPES = frozenset("Input Split Convolution Concat Eltwise Interp BinaryOp".split())
"""Layer types of an RRDBNet graph (``realesrgan-x4plus``, RealSR)."""
LAYER_TYPES = tuple(sorted(COMPACT_TYPES | RRDBNET_TYPES))
"""Every ncnn layer type gensr reads; any other type is an error naming it."""


@dataclass(frozen=True)
class Layer:
    """One line of a ``.param`` file; ``params`` maps ncnn's parameter ids to values or arrays."""

    type: str
    name: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: dict[int, ParamValue]

    def get(self, key: int, default: ParamValue) -> ParamValue:
        """Parameter ``key``, or ncnn's default for it."""
        return self.params.get(key, default)


@dataclass(frozen=True)
class Graph:
    """A parsed ``.param`` file: layers in file order (ncnn writes them topologically sorted)."""

    path: Path
    layers: tuple[Layer, ...]

    def of_type(self, layer_type: str) -> list[Layer]:
        """The layers of one type, in file order."""
        return [la for la in self.layers if la.type == layer_type]


def _value(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse_param(path: str | Path) -> Graph:
    """Parse an ncnn ``.param`` text file.

    Args:
        path: the ``.param`` file.

    Returns:
        The :class:`Graph`. Raises ``ValueError`` naming the file when it is malformed.
    """
    path = Path(path)
    lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines or lines[0] != [str(PARAM_MAGIC)]:
        raise ValueError(f"{path}: not an ncnn .param file (first line must be {PARAM_MAGIC})")
    try:
        n_layers, _n_blobs = (int(v) for v in lines[1])
        layers = []
        for tokens in lines[2:]:
            ltype, name, nb, nt = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
            blobs, params = tokens[4 : 4 + nb + nt], {}
            if len(blobs) != nb + nt:
                raise ValueError(f"layer {name!r} lists fewer than {nb} + {nt} blobs")
            for item in tokens[4 + nb + nt :]:
                key, _, text = item.partition("=")
                if int(key) > -23300:
                    params[int(key)] = _value(text)
                    continue
                count, *vals = text.split(",")
                if int(count) != len(vals):
                    raise ValueError(f"array {item!r} declares {count} values, has {len(vals)}")
                params[-23300 - int(key)] = tuple(_value(v) for v in vals)
            layers.append(Layer(ltype, name, tuple(blobs[:nb]), tuple(blobs[nb:]), params))
    except (ValueError, IndexError) as err:
        raise ValueError(f"{path}: malformed ncnn .param file: {err}") from err
    if len(layers) != n_layers:
        raise ValueError(f"{path}: header says {n_layers} layers, file has {len(layers)}")
    return Graph(path, tuple(layers))


class _Reader:
    def __init__(self, path: Path) -> None:
        self.data, self.pos, self.path = path.read_bytes(), 0, shown(path)

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"{self.path}: file ends inside {what} (needs {n} bytes at {self.pos})")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def raw_fp32(self, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * count, what), dtype="<f4").astype(np.float32)

    def tagged(self, count: int, what: str) -> np.ndarray:
        (tag,) = struct.unpack("<I", self.take(4, what))
        if tag == TAG_FP16:
            data = self.take((2 * count + 3) // 4 * 4, what)  # padded to 4 bytes
            return np.frombuffer(data[: 2 * count], dtype="<f2").astype(np.float32)
        if tag == 0:
            return self.raw_fp32(count, what)
        kind = "int8" if tag == TAG_INT8 else "quantized"
        raise ValueError(f"{self.path}: {what} is {kind} data (tag 0x{tag:08X}); gensr reads fp16 and fp32")


def _blob_sizes(graph: Graph, la: Layer) -> tuple[int, int]:
    """``(tagged weight values, raw fp32 values)`` a layer reads from the ``.bin``, checked for sense."""
    where = f"{shown(graph.path)}: layer {shown(la.name)!r}"
    if la.type not in LAYER_TYPES:
        raise ValueError(
            f"{where}: unsupported ncnn layer type {shown(la.type)!r}; gensr reads {LAYER_TYPES}"
        )
    try:
        if la.type == "Convolution":
            if int(la.get(8, 0)) or int(la.get(19, 0)):
                raise ValueError("int8 or dynamic-weight convolutions are not supported")
            out, size, kw = int(la.get(0, 0)), int(la.get(6, 0)), int(la.get(1, 0))
            kh = int(la.get(11, kw))
            if out <= 0 or kw <= 0 or kh <= 0 or size <= 0 or size % (out * kh * kw):
                raise ValueError(f"weight size {size} does not fit {out} outputs of {kh}x{kw}")
            return size, out if int(la.get(5, 0)) else 0
        if la.type == "PReLU":
            n = int(la.get(0, 0))
            if n <= 0:
                raise ValueError(f"{n} slopes")
            return 0, n
    except (TypeError, ValueError) as e:  # int() of an array parameter, or the checks above
        raise ValueError(f"{where}: {e}") from None
    return 0, 0


def read_bin(graph: Graph, path: str | Path) -> Weights:
    """Read the weights of ``graph`` from its ``.bin`` file.

    Args:
        graph: the parsed ``.param`` file the weights belong to.
        path: the ``.bin`` file.

    Returns:
        ``{layer name: {"weight": (out, in, kh, kw), "bias": (out,)}}`` for ``Convolution`` and
        ``{layer name: {"slope": (n,)}}`` for ``PReLU``; float32 arrays.
    """
    path = Path(path)
    sizes = {la.name: _blob_sizes(graph, la) for la in graph.layers}
    least = sum((4 + 2 * w if w else 0) + 4 * b for w, b in sizes.values())  # weights as fp16 at best
    if least > path.stat().st_size:
        raise ValueError(f"{shown(path)}: {path.stat().st_size} bytes, but {graph.path.name} needs at least "
                         f"{least} bytes of weights; wrong or truncated .bin?")  # fmt: skip
    reader = _Reader(path)
    weights: Weights = {}
    for la in graph.layers:
        size, bias = sizes[la.name]
        if la.type == "Convolution":
            out, kw = int(la.get(0, 0)), int(la.get(1, 0))
            kh = int(la.get(11, kw))
            weights[la.name] = {
                "weight": reader.tagged(size, f"weight of {la.name!r}").reshape(out, -1, kh, kw)
            }
            if bias:
                weights[la.name]["bias"] = reader.raw_fp32(bias, f"bias of {la.name!r}")
        elif la.type == "PReLU":
            weights[la.name] = {"slope": reader.raw_fp32(bias, f"slopes of {la.name!r}")}
    if reader.pos != len(reader.data):
        left = len(reader.data) - reader.pos
        raise ValueError(f"{path}: {left} bytes left after the last layer of {graph.path.name}; wrong .bin?")
    return weights


def fused_activation(la: Layer) -> tuple[str, float]:
    """A Convolution's own activation (ncnn params 9 and 10) as ``(kind, slope)``."""
    kind, args = int(la.get(9, 0)), la.get(10, ())
    slope = float(args[0]) if isinstance(args, tuple) and args else 0.0
    return {0: ("none", 0.0), 1: ("relu", 0.0), 2: ("leaky", slope)}.get(kind, (f"type {kind}", 0.0))


def conv_geometry(la: Layer) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """A Convolution's ``(stride_hw, dilation_hw, pad_lrtb)``; h defaults to w, right/bottom to left/top."""
    dil_w, stride_w, pad_l = int(la.get(2, 1)), int(la.get(3, 1)), int(la.get(4, 0))
    pad_t = int(la.get(14, pad_l))
    pads = (pad_l, int(la.get(15, pad_l)), pad_t, int(la.get(16, pad_t)))
    return (int(la.get(13, stride_w)), stride_w), (int(la.get(12, dil_w)), dil_w), pads


def _conv(x: torch.Tensor, la: Layer, w: dict[str, torch.Tensor], where: str) -> torch.Tensor:
    stride, dilation, pads = conv_geometry(la)
    if min(pads) < 0 or float(la.get(18, 0.0)) != 0.0:
        raise ValueError(f"{where}: 'same'-style or non-zero padding is not supported")
    y = F.conv2d(F.pad(x, pads), w["weight"], w.get("bias"), stride, 0, dilation)
    kind, slope = fused_activation(la)
    if kind not in ("none", "relu", "leaky"):
        raise ValueError(f"{where}: fused activation {kind} is not supported (only none, relu, leaky relu)")
    return y if kind == "none" else F.leaky_relu(y, slope)


def _interp(x: torch.Tensor, la: Layer, where: str) -> torch.Tensor:
    kind, hs, ws = int(la.get(0, 0)), float(la.get(1, 1.0)), float(la.get(2, 1.0))
    oh, ow = int(la.get(3, 0)), int(la.get(4, 0))
    size = (oh, ow) if oh and ow else (int(x.shape[-2] * hs), int(x.shape[-1] * ws))
    modes = {1: "nearest", 2: "bilinear", 3: "bicubic"}
    if kind not in modes or int(la.get(5, 0)):
        raise ValueError(f"{where}: Interp type {kind} (dynamic size {la.get(5, 0)}) is not supported")
    if kind == 1:
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=modes[kind], align_corners=bool(la.get(6, 0)))


def run_graph(graph: Graph, weights: Weights, x: torch.Tensor) -> torch.Tensor:
    """Run an ncnn graph directly with PyTorch ops (the reference that
    :func:`~gensr.models.ncnn.import_ncnn` checks against).

    Args:
        graph: the parsed ``.param`` file.
        weights: its weights from :func:`read_bin`.
        x: ``(B, C, H, W)`` input for the graph's ``Input`` layer.

    Returns:
        The blob named ``output`` (else the last layer's first top).
    """
    blobs: dict[str, torch.Tensor] = {}
    tw = {name: {k: torch.from_numpy(v) for k, v in d.items()} for name, d in weights.items()}
    for la in graph.layers:
        where = f"{shown(graph.path)}: layer {shown(la.name)!r} ({shown(la.type)})"
        missing = [b for b in la.bottoms if b not in blobs]
        if missing:
            raise ValueError(f"{where}: input blob {shown(missing[0])!r} comes from no earlier layer")
        ins = [blobs[b] for b in la.bottoms]
        if la.type == "Input":
            out = x
        elif la.type == "Split":
            out = ins[0]
        elif la.type == "Convolution":
            out = _conv(ins[0], la, tw[la.name], where)
        elif la.type == "ReLU":
            out = F.leaky_relu(ins[0], float(la.get(0, 0.0)))
        elif la.type == "PReLU":
            out = F.prelu(ins[0], tw[la.name]["slope"])
        elif la.type == "Concat":
            if int(la.get(0, 0)) != 0:
                raise ValueError(f"{where}: only channel concatenation (axis 0) is supported")
            out = torch.cat(ins, dim=1)
        elif la.type == "Eltwise":
            coeffs = la.get(1, ()) or (1.0,) * len(ins)
            if int(la.get(0, 1)) != 1 or not isinstance(coeffs, tuple):
                raise ValueError(f"{where}: only the weighted sum (operation 1) is supported")
            out = sum(float(c) * t for c, t in zip(coeffs, ins, strict=True))
        elif la.type == "BinaryOp":
            ops = {0: torch.add, 1: torch.sub, 2: torch.mul, 3: torch.div}
            if int(la.get(0, 0)) not in ops:
                raise ValueError(f"{where}: operation {la.get(0, 0)} is not supported (add/sub/mul/div only)")
            b = torch.tensor(float(la.get(2, 0.0))) if int(la.get(1, 0)) else ins[1]
            out = ops[int(la.get(0, 0))](ins[0], b)
        elif la.type == "Interp":
            out = _interp(ins[0], la, where)
        elif la.type == "PixelShuffle":
            if int(la.get(1, 0)) != 0:
                raise ValueError(f"{where}: only PixelShuffle mode 0 (PyTorch's order) is supported")
            out = F.pixel_shuffle(ins[0], int(la.get(0, 1)))
        else:
            raise ValueError(f"{where}: unsupported ncnn layer type {la.type!r}")
        blobs.update((top, out) for top in la.tops)
    if "output" in blobs:
        return blobs["output"]
    if not graph.layers or not graph.layers[-1].tops:
        raise ValueError(f"{shown(graph.path)}: the graph has no output blob")
    return blobs[graph.layers[-1].tops[0]]
