"""The :class:`Upscaler`: a generator ready to upscale images on one device (tiled, with alpha)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from gensr.imageio import Image
from gensr.infer.alpha import fill_transparent, upscale_alpha
from gensr.infer.devices import choose_precision, prepare_net, resolve_device
from gensr.infer.geometry import geometry_of
from gensr.infer.seams import chosen_overlap
from gensr.infer.tiling import Progress, iter_bands, run_tiles
from gensr.infer.tuning import Plan, make_plan
from gensr.metrics.artefacts import is_neutral

ALPHA_METHODS = ("bicubic", "net")


class Upscaler:
    """A generator ready to upscale :class:`~gensr.imageio.Image` objects on one device.

    Args:
        net: the generator (moved to the device and precision once, here).
        scale: its factor; None reads ``net.hparams["scale"]`` or ``net.scale``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or a device.
        precision: ``fp32`` (default), ``auto`` (bf16 where the device computes it natively, else
            fp32), ``bf16`` (fp32 where it is not native; ``precision_note`` says so),
            ``fp16`` (CUDA only), or a dtype.
        tile: tile core side in input pixels; None = automatic (for speed, see
            :func:`gensr.infer.tuning.auto_tile`); 0 = the whole image in one piece.
        overlap: tile context in input pixels; None = from the network's depth (local networks) or
            measured for this model (:mod:`gensr.infer.seams`).
        batch: tiles per network call; None = automatic (1 on the CPU).
        alpha: ``bicubic`` (default) or ``net`` (alpha run through the network as grey).
        notify: told (one line) when tile windows are timed for this machine, once.

    Attributes:
        geometry: the network's :class:`~gensr.infer.geometry.Geometry` (scale, size multiple,
            receptive radius, default overlap), read once here.
        dtype: the precision the network runs in.
        precision_note: why ``dtype`` differs from the precision asked for, or None.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        scale: int | None = None,
        device: str | torch.device = "auto",
        precision: str | torch.dtype = "fp32",
        tile: int | None = None,
        overlap: int | None = None,
        batch: int | None = None,
        alpha: str = "bicubic",
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype, self.precision_note = choose_precision(precision, self.device)
        self.geometry = geometry_of(net, scale)
        runs = getattr(net, "precisions", None)  # third-party architectures: what spandrel says they run
        if runs is not None and self.dtype not in runs:
            if precision != "auto":
                self.precision_note = (
                    f"this {getattr(net, 'architecture', 'model')} model does not run in "
                    f"{str(self.dtype).removeprefix('torch.')}; running fp32"
                )
            self.dtype = torch.float32
        if alpha not in ALPHA_METHODS:
            raise ValueError(f"unknown alpha method {alpha!r}; use {', '.join(ALPHA_METHODS)}")
        for name, value in (("tile", tile), ("overlap", overlap), ("batch", batch)):
            if value is not None and value < (1 if name == "batch" else 0):
                raise ValueError(f"{name} must be {'>= 1' if name == 'batch' else '>= 0'}, got {value}")
        self.net, self.scale, self.tile, self.overlap, self.alpha = (
            net,
            self.geometry.scale,
            tile,
            overlap,
            alpha,
        )
        self.batch, self.notify = batch, notify
        self._measured: dict[int, tuple[int, int]] = {}  # tile -> (overlap, blend), non-local networks
        prepare_net(net, self.device, self.dtype)

    def plan(self, h: int, w: int, *, bands: bool = False) -> Plan:
        """How an ``h`` x ``w`` input is run: :func:`gensr.infer.tuning.make_plan` with these settings.

        A non-local network cut into tiles gets the overlap and blend measured for it
        (:func:`gensr.infer.seams.chosen_overlap`, once) unless an overlap was given.
        """

        def at(overlap: int | None, blend: int | None = None) -> Plan:
            return make_plan(
                self.net,
                self.geometry,
                h,
                w,
                tile=self.tile,
                overlap=overlap,
                batch=self.batch,
                device=self.device,
                dtype=self.dtype,
                bands=bands,
                notify=self.notify,
                blend=blend,
            )

        run = at(self.overlap)
        if self.geometry.local or self.overlap is not None or run.window >= max(self.geometry.padded(h, w)):
            return run  # exact tiles, the user's overlap, or one piece
        if run.tile not in self._measured:
            self._measured[run.tile] = chosen_overlap(
                self.net,
                self.geometry,
                device=self.device,
                dtype=self.dtype,
                tile=run.tile,
                notify=self.notify,
            )
        return at(*self._measured[run.tile])

    def upscale_tensor(self, lr: torch.Tensor, progress: Progress | None = None) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 3, H*s, W*s) in [0, 1], on the CPU."""
        run = self.plan(*lr.shape[-2:])
        return run_tiles(
            self.net, lr, self.geometry, run, device=self.device, dtype=self.dtype, progress=progress
        )

    def upscale(self, image: Image, progress: Progress | None = None) -> Image:
        """Upscale an image, keeping alpha, bit depth, grey mode, EXIF and ICC.

        The bands of :meth:`upscale_bands`, gathered into one :class:`~gensr.imageio.Image`.
        """
        bands = list(self.upscale_bands(image, progress))
        rgb = torch.cat([b.rgb for b in bands], dim=2)  # (1, 3, H*s, W*s)
        alpha = None if image.alpha is None else torch.cat([b.alpha for b in bands], dim=2)  # type: ignore[misc]
        return image.replace(rgb=rgb, alpha=alpha)

    def upscale_bands(self, image: Image, progress: Progress | None = None) -> Iterator[Image]:
        """Upscale an image as bands of full-width output rows, top to bottom, in flat host memory.

        Each band is an :class:`~gensr.imageio.Image` (colour and alpha of the same rows, the
        image's bit depth, grey mode, EXIF and ICC) for :func:`gensr.imageio.write_bands` to encode
        as it comes; the host holds the input, one tile and one band , never the
        whole output (:meth:`plan` with ``bands``). Alpha is upscaled band by band too.
        """
        rgb, alpha = image.rgb, image.alpha
        # a grey picture, even stored as colour, stays grey: a network can add colour to it (a GAN-trained
        # one does, a few levels: it saw colour photos as real)
        grey = image.gray or is_neutral(rgb)
        if alpha is not None:
            rgb = fill_transparent(rgb, alpha)
        run = self.plan(image.height, image.width, bands=True)

        def bands(x: torch.Tensor, progress: Progress | None = None) -> Iterator[torch.Tensor]:
            return iter_bands(
                self.net, x, self.geometry, run, device=self.device, dtype=self.dtype, progress=progress
            )

        net_alpha = None
        if alpha is not None and self.alpha == "net" and not bool((alpha == 1).all()):
            net_alpha = bands(alpha.expand(-1, 3, -1, -1))  # the same bands: same plan
        y = 0
        for sr in bands(rgb, progress):  # (1, 3, rows, W*s)
            n = sr.shape[-2]
            a = None
            if net_alpha is not None:
                a = next(net_alpha).mean(dim=1, keepdim=True)
            elif alpha is not None:
                a = upscale_alpha(alpha, self.scale, rows=(y, y + n))
            if grey:
                sr = sr.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
            yield image.replace(rgb=sr, alpha=a)
            y += n
            del sr, a  # before the next band is computed


def tile_upscale(
    net: nn.Module,
    lr: torch.Tensor,
    *,
    scale: int,
    tile: int | None = None,
    overlap: int | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = torch.float32,
    batch: int | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """One-call form of :meth:`Upscaler.upscale_tensor`: (B, 3, H, W) -> (B, 3, H*s, W*s) on the CPU.

    ``net`` is moved to ``device`` and ``dtype`` in place (as ``nn.Module.to`` does) and set to eval mode.
    ``tile``, ``overlap``, ``batch`` and ``dtype`` (a precision) are as in :class:`Upscaler`.
    """
    up = Upscaler(net, scale=scale, device=device, precision=dtype, tile=tile, overlap=overlap, batch=batch)
    return up.upscale_tensor(lr, progress)
