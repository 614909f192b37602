"""Write gensr generators as ONNX models with dynamic height and width.

The graph has one input ``data``, float32 RGB in [0, 1], shape ``(1, 3, H, W)``, and one output
``output``, ``(1, 3, H*s, W*s)``, not clamped (clamp to [0, 1] after it, as gensr does).
``H`` and ``W`` are dynamic; they must be multiples of ``gensr.size_multiple`` (4 or 2 for
RRDBNet x1/x2, which pixel-unshuffle; 1 otherwise). The exporter is PyTorch's
``torch.export``-based one (``torch.onnx.export(dynamo=True)``, which needs ``onnxscript``:
``pip install 'gensr[export]'``) at opset :data:`OPSET`; the file is checked with
``onnx.checker`` and carries what gensr needs to run it, as metadata properties:

    ``gensr.arch``, ``gensr.hparams`` (JSON), ``gensr.scale``, ``gensr.opset``,
    ``gensr.size_multiple``, ``gensr.receptive_radius`` (tile overlap, input pixels),
    ``gensr.min_size``, ``gensr.square``, ``gensr.local`` (1, or 0: tiles are blended),
    ``gensr.input`` / ``gensr.output`` (a one-line description of the tensors).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gensr.archs import arch_name
from gensr.base.atomic import atomic_write
from gensr.models.spandrel_net import SpandrelNet

OPSET = 18
"""ONNX opset of exported files (onnxruntime >= 1.14 runs it)."""
INPUT_DOC = "data: float32 (1, 3, H, W), RGB in [0, 1]; H, W multiples of gensr.size_multiple"
OUTPUT_DOC = "output: float32 (1, 3, H*scale, W*scale), RGB, clamp to [0, 1]"


class ExportDependencyError(ImportError):
    """``onnx`` or ``onnxscript`` (needed by PyTorch's ONNX exporter) is not installed."""


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote."""

    path: Path
    opset: int
    scale: int
    size_multiple: int
    metadata: dict[str, str]


def _require_exporter() -> Any:
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's dynamo exporter imports it)
    except ImportError as e:
        raise ExportDependencyError(
            f"ONNX export needs the onnx and onnxscript packages ({e.name} is missing): "
            "pip install 'gensr[export]'"
        ) from None
    return onnx


def onnx_metadata(net: nn.Module, opset: int = OPSET) -> dict[str, str]:
    """The ``gensr.*`` metadata properties for generator ``net`` (see the module docstring)."""
    hparams: dict[str, Any] = dict(net.hparams)  # type: ignore[arg-type]
    return {
        "gensr.arch": "spandrel" if isinstance(getattr(net, "architecture", None), str) else arch_name(net),
        "gensr.hparams": json.dumps(hparams, sort_keys=True),
        "gensr.scale": str(int(hparams["scale"])),
        "gensr.opset": str(opset),
        "gensr.size_multiple": str(int(net.size_multiple)),
        "gensr.receptive_radius": str(int(net.receptive_radius)),
        "gensr.min_size": str(int(getattr(net, "min_size", 1))),
        "gensr.square": str(int(bool(getattr(net, "square", False)))),
        "gensr.local": str(int(bool(getattr(net, "local", True)))),
        "gensr.input": INPUT_DOC,
        "gensr.output": OUTPUT_DOC,
    }


def export_onnx(net: nn.Module, path: str | Path, *, opset: int = OPSET) -> OnnxExport:
    """Export generator ``net`` to an ONNX file with dynamic ``H``, ``W`` (written atomically).

    Args:
        net: a gensr generator (any architecture in :data:`gensr.archs.GENERATORS`).
        path: the ``.onnx`` file to write (weights inside it, float32).
        opset: the ONNX opset.

    Returns:
        :class:`OnnxExport`. Raises :class:`ExportDependencyError` without ``onnx``/``onnxscript``.
    """
    if getattr(net, "onnx", True) is False:  # a spandrel architecture whose export is not known to work
        raise ValueError(
            f"ONNX export of {getattr(net, 'architecture', 'this')} models is not offered "
            "(only the architectures docs/spandrel.md lists as exporting)"
        )
    onnx = _require_exporter()
    net = net.float().cpu().eval()
    if isinstance(net, SpandrelNet):
        net = net.for_export()
    m = int(net.size_multiple)
    example = torch.rand(1, int(net.hparams.get("num_in_ch", 3)), 16 * m, 16 * m)  # spandrel's: RGB
    dims: list[Any] = [torch.export.Dim(d, min=1) for d in ("h", "w")]
    if m > 1:
        dims = [m * d for d in dims]  # the graph reshapes by m: sides are multiples of it
    quiet = io.StringIO()
    level = logging.getLogger("torch.onnx").level
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                net,
                (example,),
                input_names=["data"],
                output_names=["output"],
                dynamic_shapes=({2: dims[0], 3: dims[1]},),
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    finally:
        logging.getLogger("torch.onnx").setLevel(level)
    assert program is not None
    model = program.model_proto
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))  # as written
    meta = onnx_metadata(net, opset)
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    model.doc_string = f"gensr {meta['gensr.arch']} x{meta['gensr.scale']}. {INPUT_DOC}. {OUTPUT_DOC}."
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, model.SerializeToString())
    return OnnxExport(path, opset, int(meta["gensr.scale"]), m, meta)
