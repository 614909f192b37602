"""Read ncnn models (``.param`` text graph + ``.bin`` weights) into gensr generators.

Real-ESRGAN's released ncnn files (``realesrgan-x4plus``, ``realesrgan-x4plus-anime``,
``realesr-animevideov3-x2/x3/x4``) and RealSR's ``REALSR_DF2K_UP4X`` are RRDBNet or
SRVGGNetCompact graphs. :func:`import_ncnn` recognises the family from the graph, derives the
hyperparameters, copies the weights (fp16 blobs become the same values in float32), and then
checks the result: the gensr module and a direct interpretation of the ncnn graph
(:func:`run_graph`) must give the same output on a small input, or the import fails.
The file format is described in :mod:`gensr.models.ncnn_graph`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from gensr.messages import shown
from gensr.models.ncnn_graph import (
    COMPACT_TYPES,
    LAYER_TYPES,
    PARAM_MAGIC,
    RRDBNET_TYPES,
    TAG_FP16,
    TAG_INT8,
    Graph,
    Layer,
    Weights,
    conv_geometry,
    fused_activation,
    parse_param,
    read_bin,
    run_graph,
)
from gensr.models.trust import build_checked

__all__ = [
    "LAYER_TYPES", "PARAM_MAGIC", "TAG_FP16", "TAG_INT8", "Graph", "Layer", "import_ncnn", "parse_param",
    "read_bin", "run_graph",
]  # fmt: skip


def _fail(graph: Graph, msg: str) -> ValueError:
    return ValueError(f"{shown(graph.path)}: {msg}")


def _conv_layers(graph: Graph, weights: Weights) -> list[Layer]:
    convs = graph.of_type("Convolution")
    for la in convs:
        if weights[la.name]["weight"].shape[2:] != (3, 3) or conv_geometry(la) != (
            (1, 1),
            (1, 1),
            (1, 1, 1, 1),
        ):
            raise _fail(graph, f"Convolution {la.name!r} is not 3x3, stride 1, padding 1 (all gensr uses)")
        if "bias" not in weights[la.name]:
            raise _fail(graph, f"Convolution {la.name!r} has no bias; gensr's convolutions all have one")
    if len(convs) < 3:
        raise _fail(graph, f"only {len(convs)} Convolution layers; not an RRDBNet or SRVGGNetCompact")
    return convs


def _conv_state(names: list[str], convs: list[Layer], weights: Weights) -> dict[str, torch.Tensor]:
    state = {}
    for name, la in zip(names, convs, strict=True):
        state[f"{name}.weight"] = torch.from_numpy(weights[la.name]["weight"].copy())
        state[f"{name}.bias"] = torch.from_numpy(weights[la.name]["bias"].copy())
    return state


def _rrdbnet(graph: Graph, weights: Weights) -> tuple[tuple[str, dict[str, Any]], dict[str, torch.Tensor]]:
    convs = _conv_layers(graph, weights)
    sums, adds, interps = graph.of_type("Eltwise"), graph.of_type("BinaryOp"), graph.of_type("Interp")
    num_block, rest = divmod(len(convs) - 6, 15)
    if rest or num_block < 1:
        raise _fail(graph, f"{len(convs)} convolutions is not 15 * num_block + 6, the RRDBNet x4 layout")
    for la in sums:
        if int(la.get(0, 1)) != 1 or la.get(1, ()) != (0.2, 1.0):
            raise _fail(graph, f"Eltwise {la.name!r} is not RDB/RRDB's residual 0.2 * branch + x")
    if len(sums) != 4 * num_block or len(adds) != 1 or int(adds[0].get(0, 0)) != 0:
        raise _fail(graph, "the residual sums are not RRDBNet's (3 RDB + 1 RRDB per block, one trunk add)")
    if [(int(la.get(0, 0)), la.get(1, 1.0), la.get(2, 1.0)) for la in interps] != [(1, 2.0, 2.0)] * 2:
        raise _fail(graph, "an RRDBNet graph must upsample by two nearest x2 Interp layers (only x4 is read)")
    names, acts = ["conv_first"], [("none", 0.0)]
    for b in range(num_block):
        for r in (1, 2, 3):
            names += [f"body.{b}.rdb{r}.conv{c}" for c in range(1, 6)]
            acts += [("leaky", 0.2)] * 4 + [("none", 0.0)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    acts += [("none", 0.0)] + [("leaky", 0.2)] * 3 + [("none", 0.0)]
    for la, want in zip(convs, acts, strict=True):
        if fused_activation(la) != want:
            raise _fail(
                graph, f"Convolution {la.name!r} has activation {fused_activation(la)}, RRDBNet {want}"
            )
    first, last = weights[convs[0].name]["weight"], weights[convs[-1].name]["weight"]
    hparams = {"num_in_ch": int(first.shape[1]), "num_out_ch": int(last.shape[0]), "scale": 4}
    hparams |= {
        "num_feat": int(first.shape[0]),
        "num_block": num_block,
        "num_grow_ch": int(convs[1].get(0, 0)),
    }
    return ("rrdbnet", hparams), _conv_state(names, convs, weights)


def _compact(graph: Graph, weights: Weights) -> tuple[tuple[str, dict[str, Any]], dict[str, torch.Tensor]]:
    convs = _conv_layers(graph, weights)
    shuffles, adds = graph.of_type("PixelShuffle"), graph.of_type("BinaryOp")
    if len(shuffles) != 1 or len(adds) != 1 or int(adds[0].get(0, 0)) != 0:
        raise _fail(graph, "an SRVGGNetCompact graph has one PixelShuffle and one add of the upsampled input")
    up = int(shuffles[0].get(0, 1))
    consumer = {b: la for la in graph.layers for b in la.bottoms}
    acts = []
    for la in convs[:-1]:
        nxt = consumer.get(la.tops[0])
        if nxt is not None and nxt.type == "PReLU":
            acts.append(("prelu", 0.0))
        elif nxt is not None and nxt.type == "ReLU":
            acts.append(("leaky", float(nxt.get(0, 0.0))) if nxt.get(0, 0.0) else ("relu", 0.0))
        else:
            acts.append(fused_activation(la))
    act_types = {("prelu", 0.0): "prelu", ("relu", 0.0): "relu", ("leaky", 0.1): "leakyrelu"}
    if len(set(acts)) != 1 or acts[0] not in act_types or fused_activation(convs[-1]) != ("none", 0.0):
        raise _fail(graph, f"activations {sorted(set(acts))}: SRVGGNetCompact needs one of PReLU, ReLU or "
                    "LeakyReLU(0.1) after every convolution but the last")  # fmt: skip
    # residual: the input, nearest-upsampled by the shuffle factor; then, optionally, a final resize
    resize = [la for la in graph.of_type("Interp") if la.bottoms[0] == adds[0].tops[0]]
    residual = [la for la in graph.of_type("Interp") if la not in resize]
    nearest_up = [(1, float(up), float(up))]
    if [(int(la.get(0, 0)), la.get(1, 1.0), la.get(2, 1.0)) for la in residual] != nearest_up:
        raise _fail(graph, f"expected one nearest x{up} Interp of the input for the residual")
    hparams = {
        "num_in_ch": int(weights[convs[0].name]["weight"].shape[1]),
        "num_feat": int(convs[0].get(0, 0)),
    }
    hparams |= {"num_out_ch": int(convs[-1].get(0, 0)) // (up * up), "num_conv": len(convs) - 2, "scale": up}
    hparams |= {"act_type": act_types[acts[0]]}
    if resize:  # realesr-animevideov3-x2/x3: the x4 network, then a bicubic x0.5 / x0.75 resize
        la = resize[0]
        factor = float(la.get(1, 1.0))
        if (int(la.get(0, 0)), la.get(2, 1.0), int(la.get(6, 0))) != (3, factor, 0) or up * factor % 1:
            raise _fail(graph, f"the output resize {la.name!r} is not a bicubic resize to an integer scale")
        hparams |= {"scale": round(up * factor), "net_scale": up}
    state = _conv_state([f"body.{2 * k}" for k in range(len(convs))], convs, weights)
    if acts[0][0] == "prelu":
        for k, la in enumerate(convs[:-1]):
            slope = weights[consumer[la.tops[0]].name]["slope"]
            state[f"body.{2 * k + 1}.weight"] = torch.from_numpy(slope.copy())
    return ("compact", hparams), state


def import_ncnn(param_path: str | Path, bin_path: str | Path, *, check: bool = True) -> nn.Module:
    """Read an ncnn RRDBNet or SRVGGNetCompact model into the matching gensr generator.

    The family is recognised from the graph's layer types, hyperparameters from its layers, and
    the weights are copied in layer order onto the official Real-ESRGAN parameter names (fp16
    blobs are widened to float32 exactly).

    Args:
        param_path: the ``.param`` text graph.
        bin_path: its ``.bin`` weights.
        check: also run the ncnn graph itself (:func:`run_graph`) and the gensr module on a small
            fixed input and require the same output (max difference 1e-4).

    Returns:
        The generator in eval mode, mapping ``(B, 3, H, W)`` in [0, 1] to ``(B, 3, H*s, W*s)``.
        Raises ``ValueError`` naming the file for unknown layers or graphs gensr cannot express.
    """
    graph = parse_param(param_path)
    weights = read_bin(graph, bin_path)
    types = {la.type for la in graph.layers}
    for la in graph.of_type("Interp"):
        if int(la.get(3, 0)) or int(la.get(4, 0)):
            raise _fail(graph, f"Interp {la.name!r} resizes to a fixed {la.get(3, 0)}x{la.get(4, 0)}; "
                        "gensr networks take any size")  # fmt: skip
    try:
        if types <= COMPACT_TYPES and "PixelShuffle" in types:
            (arch, hparams), state = _compact(graph, weights)
        elif types <= RRDBNET_TYPES and "Eltwise" in types:
            (arch, hparams), state = _rrdbnet(graph, weights)
        else:
            raise _fail(graph, f"layer types {sorted(types)} match neither RRDBNet nor SRVGGNetCompact")
    except (KeyError, IndexError, TypeError, ZeroDivisionError) as err:  # blobs or params that do not connect
        raise _fail(graph, f"malformed graph ({type(err).__name__}: {shown(str(err))[:100]})") from None
    try:
        net = build_checked(arch, hparams, state)  # sizes checked before the network is allocated
    except ValueError as err:
        raise _fail(graph, str(err)) from None
    if check:
        x = torch.rand(1, int(net.hparams["num_in_ch"]), 12, 12, generator=torch.Generator().manual_seed(0))
        try:
            with torch.no_grad():
                ours, theirs = net(x), run_graph(graph, weights, x)
        except RuntimeError as err:  # the graph's own sizes do not chain
            raise _fail(
                graph, f"the ncnn graph cannot run: {shown(str(err).splitlines()[0])[:120]}"
            ) from None
        if ours.shape != theirs.shape:
            raise _fail(graph, f"the ncnn graph gives {tuple(theirs.shape)} for a 12x12 input, gensr "
                        f"{tuple(ours.shape)}: the graph is wired differently")  # fmt: skip
        diff = (ours - theirs).abs().max().item()
        if not diff <= 1e-4:
            raise _fail(graph, f"gensr's {type(net).__name__} differs from the ncnn graph by {diff:.3g} on a "
                        "test input: the graph is wired differently")  # fmt: skip
    return net
