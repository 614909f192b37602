"""Third-party architectures through spandrel: detected from a state dict, checked, wrapped for gensr.

gensr reads the file itself (:mod:`gensr.models.thirdparty`) and hands spandrel a state dict of
tensors; spandrel works out the architecture and its hyperparameters. Before any real network
exists, the one spandrel would build is built on PyTorch's ``meta`` device (:func:`_meta_build`):
its parameter and buffer count is held to :data:`gensr.models.trust.MAX_PARAMS`, so a small file
whose shapes declare a huge network is refused without allocating it. spandrel loads weights
strictly, so every parameter of the real network is a tensor of the file.

:class:`SpandrelNet` wraps the network so the tiler sees a gensr generator: ``scale``,
``size_multiple``, ``min_size``, ``square``, ``receptive_radius``, the precisions it runs in, and a
``forward`` that pads a window to the architecture's size requirements as spandrel's own call does
(so a whole-image run equals spandrel's output).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from gensr.base.tensors import pad_reflect
from gensr.models.spandrel_import import import_spandrel

__all__ = ["ARCHS", "SUPPORTED_PURPOSES", "ArchFacts", "SpandrelNet", "build_spandrel", "describe"]

SUPPORTED_PURPOSES = ("SR", "Restoration")
"""spandrel purposes gensr runs: single-image super-resolution and restoration (x1)."""


@dataclass(frozen=True)
class ArchFacts:
    """What gensr knows about one spandrel architecture, beyond what spandrel's descriptor says."""

    local: bool
    """Only convolutions, no attention, pooling over the image or normalisation over it: an output pixel
    sees a bounded neighbourhood, so tiles with that much overlap equal the whole-image run."""
    refused: str = ""
    """Why gensr does not run it (empty: it does)."""
    onnx: bool = False
    """``gensr export --format onnx`` offers it: its graph exported and ran in onnxruntime with the same
    output at two sizes other than the export's example (checked on a small instance by
    ``benchmarks/spandrel_onnx.py``; docs/spandrel.md). Others are refused with one line: their graphs fix
    window reshapes or the input size to the example's, or ``torch.export`` fails on them."""


ARCHS: dict[str, ArchFacts] = {
    # convolution only: exact tiles
    "Compact": ArchFacts(local=True),
    "ESRGAN": ArchFacts(local=True, onnx=True),
    "SwiftSRGAN": ArchFacts(local=True, onnx=True),
    "SPAN": ArchFacts(local=True, onnx=True),
    "PLKSR": ArchFacts(local=True, onnx=True),
    # RealPLKSR: spandrel's id is PLKSR; its GroupNorm sees the whole tile
    "RealPLKSR": ArchFacts(local=False, onnx=True),
    "MoSR": ArchFacts(local=True, onnx=True),
    "DnCNN": ArchFacts(local=True, onnx=True),
    # attention over windows, pooling or normalisation over the image: context beyond any tile
    "ATD": ArchFacts(local=False),
    "CRAFT": ArchFacts(local=False),
    "DAT": ArchFacts(local=False, onnx=True),
    "DCTLSA": ArchFacts(local=False),
    "DITN": ArchFacts(local=False, onnx=True),
    "DRCT": ArchFacts(local=False, onnx=True),
    "FDAT": ArchFacts(local=False),
    "GRL": ArchFacts(local=False),
    "HAT": ArchFacts(local=False),
    "IPT": ArchFacts(local=False),
    "MMRealSR": ArchFacts(local=False),
    "MoESR": ArchFacts(local=False, onnx=True),
    "OmniSR": ArchFacts(local=False),
    "RCAN": ArchFacts(local=False, onnx=True),
    "RealCUGAN": ArchFacts(local=False, onnx=True),
    "RGT": ArchFacts(local=False),
    "SAFMN": ArchFacts(local=False, onnx=True),
    "SeemoRe": ArchFacts(local=False),
    "Swin2SR": ArchFacts(local=False),
    "SwinIR": ArchFacts(local=False),
    "AuraSR": ArchFacts(local=False),
    "DRUNet": ArchFacts(local=False, onnx=True),
    "FBCNN": ArchFacts(local=False),
    "FFTformer": ArchFacts(local=False, onnx=True),
    "HVICIDNet": ArchFacts(local=False),
    "KBNet": ArchFacts(local=False),
    "MixDehazeNet": ArchFacts(local=False, onnx=True),
    "NAFNet": ArchFacts(local=False, onnx=True),
    "RetinexFormer": ArchFacts(local=False, onnx=True),
    "SAFMNBCIE": ArchFacts(local=False, onnx=True),
    "SCUNet": ArchFacts(local=False),
    "Uformer": ArchFacts(local=False),
    # other purposes
    "GFPGAN": ArchFacts(local=False, refused="face restoration, not single-image super-resolution"),
    "RestoreFormer": ArchFacts(
        local=False, refused="face restoration (and it needs torchvision, which gensr does not use)"
    ),
    "LaMa": ArchFacts(local=False, refused="inpainting (and it needs torchvision, which gensr does not use)"),
}
"""Every architecture of spandrel's core registry (spandrel 0.4.2), by spandrel's id (or, where one id
covers several networks, by the network's class name)."""

CONTEXT_RADIUS = 32
"""Receptive radius declared for non-local architectures (their reach is the whole image): the tiler's
largest automatic overlap."""


class SpandrelNet(nn.Module):
    """A network spandrel built, as a gensr generator: ``(B, C, H, W) -> (B, C, H*s, W*s)``, range [0, 1].

    Attributes:
        model: spandrel's network (its state dict is the file's).
        architecture: spandrel's id (``"SPAN"``, ``"SwinIR"``, ...).
        scale, size_multiple, min_size, square: from spandrel's descriptor; ``forward`` pads any input
            to them (reflect, then replicate, bottom and right) and crops the output.
        local: :attr:`ArchFacts.local` of the architecture.
        receptive_radius: conv half-kernels summed for local architectures, :data:`CONTEXT_RADIUS` else.
        precisions: the dtypes the architecture runs in (float32 always; bf16, fp16 where spandrel says).
        hparams: ``{"architecture": id, "scale": s}`` (what a gensr model file stores).
    """

    def __init__(self, descriptor: Any) -> None:
        super().__init__()
        self.model: nn.Module = descriptor.model
        self.architecture: str = descriptor.architecture.id
        self.scale = int(descriptor.scale)
        req = descriptor.size_requirements
        self.size_multiple, self.square = int(req.multiple_of), bool(req.square)
        self.min_size = max(1, int(req.minimum))  # spandrel says 0 for none
        facts = ARCHS.get(type(self.model).__name__) or ARCHS[self.architecture]  # RealPLKSR under PLKSR
        self.local, self.onnx = facts.local, facts.onnx
        self.receptive_radius = _conv_radius(self.model) if self.local else CONTEXT_RADIUS
        optional = ((torch.bfloat16, descriptor.supports_bfloat16), (torch.float16, descriptor.supports_half))
        self.precisions: tuple[torch.dtype, ...] = (torch.float32,) + tuple(dt for dt, ok in optional if ok)
        self.hparams: dict[str, Any] = {"architecture": self.architecture, "scale": self.scale}
        self._call: Callable[[nn.Module, Tensor], Tensor] = descriptor._call_fn  # the pinned spandrel's call

    def padding(self, h: int, w: int) -> tuple[int, int]:
        """``(bottom, right)`` pixels an ``h x w`` input needs to meet the size requirements."""
        hh, ww = max(h, self.min_size), max(w, self.min_size)
        m = self.size_multiple
        hh, ww = -(-hh // m) * m, -(-ww // m) * m
        if self.square:
            hh = ww = max(hh, ww)
        return hh - h, ww - w

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]  # (B, C, h, w)
        ph, pw = self.padding(h, w)
        if ph or pw:
            x = pad_reflect(x, (0, pw, 0, ph))
        y = self._call(self.model, x)
        return y[..., : h * self.scale, : w * self.scale]  # (B, C, h*s, w*s)

    def weights(self) -> dict[str, Tensor]:
        """The state dict as a file stores it (spandrel's keys)."""
        return self.model.state_dict()

    def for_export(self) -> SpandrelNet:
        """A copy in eval mode to trace for export, the same function: SPAN's ``Conv3XC`` layers, which
        re-parameterise their training branches into ``eval_conv`` on every call (weights assigned inside
        ``forward``: torch.export crashed on it, a segfault in torch 2.13), replaced by that convolution."""
        net = copy.deepcopy(self).eval()
        _fold_conv3xc(net.model)
        return net


def build_spandrel(state: Mapping[str, Tensor], *, max_params: int) -> SpandrelNet:
    """Detect the architecture of ``state`` with spandrel and build it, bounded before allocating.

    Args:
        state: name -> tensor (read by gensr: ``weights_only`` pickles or safetensors).
        max_params: most parameters and buffers the network may hold.

    Returns:
        The network in eval mode on the CPU, float32.

    Raises:
        ValueError: not an architecture spandrel's core knows (the message lists those gensr runs),
            a purpose gensr does not serve, not 3 channels in and out, too large, or weights that do
            not fit the architecture spandrel detected; one line.
    """
    spandrel = import_spandrel()
    arch = _detect(spandrel, state)
    facts = ARCHS.get(arch.id)
    if facts is None:
        raise ValueError(
            f"spandrel architecture {arch.id} is not in gensr's table of spandrel {spandrel.__version__}"
        )
    if facts.refused:
        raise ValueError(f"a {arch.id} model: {facts.refused}")
    n = _meta_build(arch, state)
    if n is not None and n > max_params:
        raise ValueError(f"this {arch.id} network would have {n / 1e6:.0f} M parameters, more than gensr's "
                         f"{max_params / 1e6:.0f} M")  # fmt: skip
    d = _load(arch, state)
    if d.purpose not in SUPPORTED_PURPOSES:
        raise ValueError(f"a {arch.id} model for {d.purpose}, not single-image super-resolution")
    if (d.input_channels, d.output_channels) != (3, 3):
        raise ValueError(f"this {arch.id} model maps {d.input_channels} channels to {d.output_channels}; "
                         "gensr runs RGB models (3 to 3)")  # fmt: skip
    for k, v in d.model.state_dict().items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ValueError(f"tensor {k} holds NaN or infinity")
    return SpandrelNet(d).float().eval()


def describe(state: Mapping[str, Tensor]) -> Any:
    """spandrel's model descriptor of ``state`` (detected, then built with these weights), unchecked: for
    state dicts gensr made itself (:class:`gensr.archs.spandrel.SpandrelArch`), not for files.

    Raises:
        ValueError: spandrel detects no architecture, or the weights do not fit the one it detects.
    """
    spandrel = import_spandrel()
    return _load(_detect(spandrel, state), state)


@torch.no_grad()
def _fold_conv3xc(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if type(child).__name__ == "Conv3XC":
            child.update_params()  # type: ignore[operator]
            conv = child.eval_conv
            setattr(module, name, nn.Sequential(conv, nn.LeakyReLU(0.05)) if child.has_relu else conv)
        else:
            _fold_conv3xc(child)


def _conv_radius(model: nn.Module) -> int:
    """Every convolution's half kernel (times its dilation), summed: an upper bound of the receptive
    radius of a convolution-only network, in input pixels (parallel branches count twice)."""
    r = 0
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            r += max((k // 2) * d for k, d in zip(m.kernel_size, m.dilation, strict=True))
    return r


def supported_names() -> str:
    """The architectures gensr runs, for messages."""
    return ", ".join(sorted(k for k, f in ARCHS.items() if not f.refused))


def _detect(spandrel: Any, state: Mapping[str, Tensor]) -> Any:
    for support in spandrel.MAIN_REGISTRY:
        try:
            if support.detect(state):
                return support.architecture
        except Exception:  # noqa: BLE001, S112 - a detector that trips on odd shapes has not detected
            continue
    raise ValueError(
        "not an architecture gensr knows: gensr's own (RRDBNet, SRVGGNetCompact, MSRResNet) or spandrel's "
        f"{supported_names()}"
    )


def _load(arch: Any, state: Mapping[str, Tensor]) -> Any:
    try:
        return arch.load(dict(state))
    except Exception as e:  # noqa: BLE001 - spandrel's loaders raise anything on odd shapes
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ValueError(f"weights do not fit the {arch.id} network spandrel detected: {text}") from None


class _MetaParameters(TorchFunctionMode):
    """Tensors made by factory functions with :data:`SMALL` values or more go to the ``meta`` device
    (shapes only, nothing allocated); smaller ones are real, so that what architectures read back while
    they are built (drop-path rates from ``linspace``, ``weight.data = eye(3)``) works."""

    SMALL = 4096

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        from torch.utils._device import _device_constructors

        kwargs = dict(kwargs or {})
        if func not in _device_constructors() or kwargs.get("device") is not None:
            return func(*args, **kwargs)
        shape_only = func(*args, **{**kwargs, "device": "meta"})
        if isinstance(shape_only, Tensor) and shape_only.numel() >= self.SMALL:
            return shape_only
        return func(*args, **kwargs)


def _meta_build(arch: Any, state: Mapping[str, Tensor]) -> int | None:
    """Parameters and buffers of the network spandrel would build for ``state``, counted on ``meta``.

    Loading the file's tensors into meta parameters copies nothing.

    Returns:
        The count, or None when the architecture cannot be built this way (then the file's own tensors,
        already counted against the bound, are all the real build may hold as parameters, since spandrel
        loads them strictly).

    Raises:
        ValueError: the weights do not fit the network (the real build would fail the same way, after
            allocating it).
    """
    import warnings

    try:
        with warnings.catch_warnings(), _MetaParameters():
            warnings.simplefilter("ignore")  # "copying from a non-meta parameter ... is a no-op"
            d = arch.load(dict(state))
    except Exception as e:  # noqa: BLE001 - spandrel's loaders raise anything on odd shapes
        text = str(e).strip()
        if text.startswith("Error(s) in loading state_dict"):
            lines = [ln.strip() for ln in text.splitlines()[1:] if ln.strip()]
            first = lines[0][:200] if lines else "the state dict does not fit"
            raise ValueError(f"weights do not fit the {arch.id} network spandrel detected: {first}") from None
        return None
    model = d.model
    return sum(t.numel() for t in (*model.parameters(), *model.buffers()))
