"""Inference engines: PyTorch, or onnxruntime behind the same tiling.

An engine is a module that maps a ``(1, 3, h, w)`` float32 tile in [0, 1] to its
``(1, 3, h*s, w*s)`` upscale, so :class:`gensr.infer.Upscaler` and :func:`gensr.infer.tile_upscale`
(tiles, overlap, alpha, bit depth) are the same for every engine. ``torch`` is the generator
itself; ``onnxruntime`` is :class:`OnnxNet`, an ``nn.Module`` whose ``forward`` runs an
onnxruntime CPU session on an ONNX export (:mod:`gensr.models.onnx_export`) and which carries the
:class:`~gensr.infer.geometry.Geometry` (from the export's metadata) and ``hparams``.

``auto`` picks onnxruntime only where it was measured faster: the first ``auto`` run on a
machine (CPU model and features, thread count, torch and onnxruntime versions) times both
engines on the built-in model at a 128-pixel tile (:func:`measure_engines`, a few seconds) and
keeps the result in ``<cache>/engines.json``; later runs read it. Without onnxruntime, on GPUs,
and for bf16/fp16, ``auto`` is torch.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gensr import interrupts
from gensr.base.cache import cache_dir, read_json_table, update_json_table
from gensr.base.machine import cpu_description
from gensr.infer.devices import prepare_net
from gensr.infer.geometry import MAX_AUTO_OVERLAP, Geometry
from gensr.models import load_model, resolve_model
from gensr.models.onnx_export import OPSET, export_onnx

ENGINES = ("auto", "torch", "onnxruntime")
MEASURE_SIZE = 128
"""Side of the square input tile :func:`measure_engines` times (a typical CPU tile core)."""
MARGIN = 1.2
"""onnxruntime must be this many times faster than torch for ``auto`` to pick it (beyond the noise of
a shared machine: switching engines for a few per cent is not worth a less travelled path)."""


class EngineError(ValueError):
    """An engine cannot run here (package missing, wrong device or precision, not a gensr ONNX file)."""


def onnxruntime_available() -> bool:
    """Whether the ``onnxruntime`` package is importable."""
    return importlib.util.find_spec("onnxruntime") is not None


def exporter_available() -> bool:
    """Whether ONNX export (``onnx`` + ``onnxscript``) is importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript"))


class OnnxNet(nn.Module):
    """An onnxruntime session on a gensr ONNX export, usable wherever a generator is.

    Args:
        path: a ``.onnx`` file written by :func:`gensr.models.onnx_export.export_onnx` (its ``gensr.*``
            metadata gives the scale, size multiple and receptive radius).
        threads: onnxruntime intra-op threads; None = ``torch.get_num_threads()``.

    Shape: ``(B, 3, h, w)`` float in [0, 1] on the CPU -> ``(B, 3, h*s, w*s)`` in the input's dtype
    (computed in float32, one image at a time).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError:
            raise EngineError("the onnxruntime engine needs onnxruntime: pip install onnxruntime") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own error types for unreadable files
            raise EngineError(f"{path}: onnxruntime cannot load it: {str(e).splitlines()[0]}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if "gensr.scale" not in meta:
            raise EngineError(f"{path}: not a gensr ONNX export (no gensr.scale metadata); use gensr export")
        self.path = Path(path)
        self.scale = int(meta["gensr.scale"])
        self.size_multiple = int(meta.get("gensr.size_multiple", "1"))
        self.receptive_radius = int(meta.get("gensr.receptive_radius", "32"))
        self.local = meta.get("gensr.local", "1") != "0"  # exports before these keys: gensr's own, local
        self.geometry = Geometry(
            scale=self.scale,
            size_multiple=self.size_multiple,
            receptive_radius=self.receptive_radius,
            overlap=min(self.receptive_radius, MAX_AUTO_OVERLAP),
            min_size=int(meta.get("gensr.min_size", "1")),
            square=meta.get("gensr.square", "0") == "1",
            local=self.local,
        )
        self.hparams: dict[str, Any] = json.loads(meta.get("gensr.hparams", "{}"))
        self.hparams.setdefault("scale", self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            raise EngineError(f"the onnxruntime engine runs on the CPU, got a tensor on {x.device}")
        outs = []
        for img in x.detach().float().contiguous():  # (3, h, w) each
            (y,) = self.session.run(["output"], {"data": img[None].numpy()})
            outs.append(torch.from_numpy(y))
        return torch.cat(outs).to(x.dtype)  # (B, 3, h*s, w*s)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def onnx_for_model(model_path: str | Path) -> Path:
    """The ONNX export of a gensr model file, made once into ``<cache>/onnx/`` (keyed by content).

    A ``.onnx`` path is returned as it is. Raises ``ExportDependencyError`` without the exporter.
    """
    model_path = Path(model_path)
    if model_path.suffix.lower() == ".onnx":
        return model_path
    key = f"{_sha256(model_path)[:20]}-torch{torch.__version__.split('+')[0]}-opset{OPSET}"
    out = cache_dir() / "onnx" / f"{model_path.stem}-{key}.onnx"
    if not out.is_file():
        net, _ = load_model(model_path)
        export_onnx(net, out)
    return out


# ------------------------------------------------------------------------------ measurement


def machine_key(threads: int | None = None) -> str:
    """What an engine measurement depends on: CPU, features, threads, torch and onnxruntime versions."""
    try:
        ort_version = importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        ort_version = "none"
    name, flags = cpu_description()
    threads = threads or torch.get_num_threads()
    return (
        f"{name} [{' '.join(flags)}] {threads} threads, torch {torch.__version__}, onnxruntime {ort_version}"
    )


def measure_engines(
    model_path: str | Path | None = None,
    *,
    size: int = MEASURE_SIZE,
    rounds: int = 5,
    threads: int | None = None,
) -> dict[str, float]:
    """Output megapixels per second of each engine on one ``size``-pixel square tile, CPU, fp32.

    The engines run alternately, ``rounds`` times, each round one warm-up and one timed call per
    engine; the fastest round counts (on a shared machine, the least disturbed one).

    Args:
        model_path: a gensr model file or name; None = the built-in model.
        size: input tile side in pixels.
        rounds: alternating rounds.
        threads: threads for both engines; None = ``torch.get_num_threads()``.

    Returns:
        ``{"torch": MP/s, "onnxruntime": MP/s}``.
    """
    path = resolve_model(None if model_path is None else str(model_path))
    threads = threads or torch.get_num_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        net, info = load_model(path)
        prepare_net(net, torch.device("cpu"), torch.float32)
        runs: dict[str, nn.Module] = {
            "torch": net,
            "onnxruntime": OnnxNet(onnx_for_model(path), threads=threads),
        }
        x = torch.rand(1, 3, size, size).contiguous(memory_format=torch.channels_last)
        best = dict.fromkeys(runs, float("inf"))
        with torch.inference_mode():
            for _ in range(rounds):
                for name, engine in runs.items():
                    engine(x)  # warm-up (the first call also plans the kernels)
                    t0 = time.perf_counter()
                    engine(x)
                    best[name] = min(best[name], time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    return {name: (size * info.scale) ** 2 / 1e6 / s for name, s in best.items()}


def _cache_file() -> Path:
    return cache_dir() / "engines.json"


def cached_measurement(threads: int | None = None) -> dict[str, Any] | None:
    """This machine's stored measurement (``torch``, ``onnxruntime`` MP/s, ``engine``), or None."""
    entry = read_json_table(_cache_file()).get(machine_key(threads))
    return entry if isinstance(entry, dict) and entry.get("engine") in ENGINES[1:] else None


def store_measurement(speeds: dict[str, float], threads: int | None = None) -> dict[str, Any]:
    """Record ``speeds`` (from :func:`measure_engines`) for this machine; returns the entry."""
    faster = speeds["onnxruntime"] > MARGIN * speeds["torch"]
    entry = {**{k: round(v, 4) for k, v in speeds.items()}, "engine": "onnxruntime" if faster else "torch"}
    entry |= {"tile": MEASURE_SIZE, "date": time.strftime("%Y-%m-%d")}
    update_json_table(_cache_file(), machine_key(threads), entry)
    return entry


def choose_engine(
    requested: str, device: torch.device, dtype: torch.dtype, *, say: Callable[[str], None] | None = None
) -> str:
    """Resolve ``auto | torch | onnxruntime`` to the engine to run.

    ``onnxruntime`` is checked (CPU, fp32, package present: else :class:`EngineError`); ``auto``
    gives torch on other devices or precisions and without onnxruntime or the exporter, else the
    stored measurement's winner, measuring first (and telling ``say``) when there is none.
    """
    if requested not in ENGINES:
        raise EngineError(f"unknown engine {requested!r}; use {', '.join(ENGINES)}")
    if requested == "torch":
        return "torch"
    if requested == "onnxruntime":
        if not onnxruntime_available():
            raise EngineError("--engine onnxruntime needs onnxruntime: pip install 'gensr[onnxruntime]'")
        if device.type != "cpu" or dtype != torch.float32:
            raise EngineError(f"the onnxruntime engine runs fp32 on the CPU (asked: {device.type}, {dtype})")
        return "onnxruntime"
    if (
        device.type != "cpu"
        or dtype != torch.float32
        or not onnxruntime_available()
        or not exporter_available()
    ):
        return "torch"
    entry = cached_measurement()
    if entry is None:
        if say is not None:
            say("gensr: measuring torch against onnxruntime on this CPU, once (engine auto)...")
        try:
            entry = store_measurement(measure_engines())
        except Exception as e:  # noqa: BLE001 - a failed measurement must not stop the upscale
            interrupts.check()  # but a Ctrl-C that the exporter turned into an error does
            if say is not None:
                why = str(e).splitlines()[0] if str(e) else type(e).__name__
                say(f"gensr: engine auto: could not measure onnxruntime ({why}); using torch")
            return "torch"
        if say is not None:
            say(
                f"gensr: torch {entry['torch']:.2f}, onnxruntime {entry['onnxruntime']:.2f} output MP/s "
                f"-> {entry['engine']} (stored in {_cache_file()})"
            )
    return str(entry["engine"])


def load_network(
    model: str | None,
    engine: str,
    device: torch.device,
    dtype: torch.dtype,
    say: Callable[[str], None] | None,
) -> tuple[nn.Module, int, str]:
    """(network, scale, display name) for a built-in model name, a model file or a gensr ONNX export.

    With the onnxruntime engine (asked for, or chosen by ``auto``) the network is an
    :class:`~gensr.infer.engines.OnnxNet` on the model's ONNX export.
    """
    path = resolve_model(model)
    if path.suffix.lower() == ".onnx":
        if engine == "torch":
            raise EngineError(f"{path}: an ONNX model runs with --engine onnxruntime (or auto)")
        choose_engine("onnxruntime", device, dtype)
        onnx_net = OnnxNet(path)
        return onnx_net, onnx_net.scale, path.name
    net, info = load_model(path)
    if engine == "auto" and info.arch == "spandrel":
        return net, int(info.scale), path.name  # auto measured gensr's own networks, not these
    if choose_engine(engine, device, dtype, say=say) == "onnxruntime":
        net = OnnxNet(onnx_for_model(path))
    return net, int(info.scale), path.name
