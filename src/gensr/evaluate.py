"""The field's evaluation protocol: HR -> LR -> each method -> PSNR-Y / SSIM-Y / LPIPS / seconds.

For every HR image (8-bit RGB):

1. mod-crop to a multiple of ``scale`` (top-left kept, as BasicSR / MATLAB ``modcrop``);
2. LR: ``bicubic`` = MATLAB ``imresize(hr, 1/scale)`` on uint8 (rounded after each 1-D pass,
   :func:`gensr.degrade.resize.imresize` with ``round_uint8``); ``realistic`` = Real-ESRGAN's second-order
   degradation (:mod:`gensr.degrade`) seeded with ``seed + image index``; or given LR files;
3. each method upscales the LR: ``bicubic`` (MATLAB ``imresize(lr, scale)`` on uint8),
   ``bilinear`` / ``nearest`` / ``lanczos`` (Pillow), or a gensr model (tiled on ``device``);
4. SR and HR are rounded to 8-bit levels; PSNR and SSIM on the BT.601 Y channel with ``crop``
   pixels (default ``scale``) removed from each border; LPIPS v0.1 (AlexNet) on the whole RGB image;
   ``seconds`` is the wall time of step 3 alone;
5. the artefact measures of :mod:`gensr.metrics.artefacts` (:func:`artefact_scores`): ``periodic``, the power
   ratio of the strongest period-``scale`` frequency of the output to its neighbourhood (a grid left by
   the upsampling layer); ``grey_spread``, the channel spread the output adds to a grey photo (NaN for
   colour photos); ``tint``, the shift of the output's channel means from the HR's (NaN for grey photos).
   Means over images skip NaN.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from gensr.base.tensors import quantize_uint8
from gensr.degrade import DegradationConfig, MildConfig, RealisticConfig, degrade
from gensr.degrade.resize import imresize
from gensr.imageio import IMAGE_EXTENSIONS, read_rgb8
from gensr.metrics import psnr, rgb_to_y, ssim
from gensr.metrics.artefacts import grey_spread, is_grey, periodic_ratio, tint

__all__ = [
    "INTERPOLATIONS",
    "METRICS",
    "Method",
    "EvalResult",
    "interpolation_method",
    "model_method",
    "mod_crop",
    "make_lr",
    "score",
    "artefact_scores",
    "evaluate",
    "comparison_grid",
]

INTERPOLATIONS = ("bicubic", "bilinear", "nearest", "lanczos")
DEGRADATIONS: dict[str, Callable[..., DegradationConfig]] = {"mild": MildConfig, "realistic": RealisticConfig}
"""The random degradations of evaluation (besides ``bicubic``), by name: each makes a config from
``scale``."""
TRACKS = ("bicubic", "mild", "realistic")
"""Every kind of input a model is judged on: clean, mild real, heavy real."""
METRICS = ("psnr_y", "ssim_y", "lpips", "seconds", "periodic", "grey_spread", "tint")
"""Per-image scores; ``grey_spread`` is NaN on colour photos and ``tint`` on grey ones."""
_PIL_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Method:
    """A way to upscale: ``upscale(lr)`` maps ``(1, 3, h, w)`` [0, 1] to ``(1, 3, h*s, w*s)`` on the CPU."""

    name: str
    upscale: Callable[[torch.Tensor], torch.Tensor]


@dataclass
class EvalResult:
    """Scores per method and image: ``scores[method][image][metric]``; failures as ``(file, reason)``."""

    scale: int
    degradation: str
    crop: int
    scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def mean(self, method: str) -> dict[str, float]:
        """Mean of each metric over the images scored with ``method``, NaN skipped (NaN if none)."""
        rows = list(self.scores.get(method, {}).values())
        return {m: nan_mean([r.get(m, math.nan) for r in rows]) for m in METRICS}

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict: settings, per method the mean and the per-image scores, failures."""
        return {
            "scale": self.scale,
            "degradation": self.degradation,
            "crop_border": self.crop,
            "protocol": "8-bit SR/HR; PSNR/SSIM on BT.601 Y (16-235), border crop; LPIPS v0.1 alex on RGB",
            "methods": {m: {"mean": self.mean(m), "images": imgs} for m, imgs in self.scores.items()},
            "failures": [{"file": f, "reason": r} for f, r in self.failures],
        }


def nan_mean(values: Iterable[float]) -> float:
    """Mean of the finite-or-infinite values, NaN skipped; NaN when nothing is left."""
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def _to_pil(x: torch.Tensor) -> Image.Image:
    arr = (quantize_uint8(x[0]).permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()
    return Image.fromarray(arr, "RGB")


def _from_pil(im: Image.Image) -> torch.Tensor:
    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)[None]  # (1, 3, H, W)


def interpolation_method(name: str, scale: int) -> Method:
    """``bicubic`` (MATLAB, uint8 emulation) or ``bilinear``/``nearest``/``lanczos`` (Pillow) upscaling."""
    if name == "bicubic":
        return Method(name, lambda lr: imresize(lr, scale=scale, round_uint8=True))
    if name not in _PIL_FILTERS:
        raise ValueError(f"unknown interpolation {name!r}; choose from {', '.join(INTERPOLATIONS)}")
    flt = _PIL_FILTERS[name]

    def up(lr: torch.Tensor) -> torch.Tensor:
        h, w = lr.shape[-2:]
        return _from_pil(_to_pil(lr).resize((w * scale, h * scale), flt))

    return Method(name, up)


def model_method(spec: str, scale: int, *, device: torch.device, tile: int | None = None) -> Method:
    """A gensr model (file path or model name) run by a :class:`gensr.infer.Upscaler` (tiled, fp32).

    Raises:
        gensr.models.ModelFileError: unknown name or unreadable file.
        ValueError: the model's scale differs from ``scale``.
    """
    from gensr.infer import Upscaler
    from gensr.models import load_model, resolve_model

    path = resolve_model(spec)
    net, info = load_model(path)
    if info.scale != scale:
        raise ValueError(f"model {spec} upscales x{info.scale}, but the evaluation is x{scale}")
    up = Upscaler(net, scale=scale, device=device, tile=0 if tile is None else tile)  # default: untiled
    name = Path(spec).stem if Path(spec).suffix.lower() in (".safetensors", ".pth", ".pt", ".ckpt") else spec
    return Method(name, up.upscale_tensor)


def _image_keys(paths: Sequence[Path]) -> list[str]:
    """Names of the images in reports: paths relative to their common folder."""
    if not paths:
        return []
    root = Path(os.path.commonpath([str(p.parent.resolve()) for p in paths]))
    return [str(p.resolve().relative_to(root)) for p in paths]


def mod_crop(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop the bottom/right so that height and width are multiples of ``scale``."""
    h, w = hr.shape[-2:]
    return hr[..., : h - h % scale, : w - w % scale]


def make_lr(hr: torch.Tensor, scale: int, degradation: str, *, seed: int = 0) -> torch.Tensor:
    """LR of a mod-cropped HR ``(1, 3, H, W)``: ``(1, 3, H/s, W/s)`` on 8-bit levels.

    ``bicubic``: MATLAB ``imresize(uint8(hr), 1/scale)``; ``mild`` / ``realistic``:
    :func:`gensr.degrade.degrade` with :class:`~gensr.degrade.MildConfig` / Real-ESRGAN's defaults and a
    generator seeded with ``seed``.
    """
    if degradation == "bicubic":
        return quantize_uint8(imresize(hr, scale=1.0 / scale, round_uint8=True))
    if degradation in DEGRADATIONS:
        gen = torch.Generator().manual_seed(seed)
        return quantize_uint8(degrade(hr, DEGRADATIONS[degradation](scale=scale), gen))
    raise ValueError(f"unknown degradation {degradation!r}; choose 'bicubic', 'mild' or 'realistic'")


def score(
    sr: torch.Tensor, hr: torch.Tensor, *, crop: int, lpips: torch.nn.Module | None
) -> dict[str, float]:
    """PSNR-Y, SSIM-Y (border ``crop``) and LPIPS (whole image; NaN if ``lpips`` is None), 8-bit rounded."""
    sr, hr = quantize_uint8(sr.float()), quantize_uint8(hr.float())
    out = {
        "psnr_y": float(psnr(sr, hr, crop=crop, y_channel=True)[0]),
        "ssim_y": float(ssim(sr, hr, crop=crop, y_channel=True)[0]),
        "lpips": math.nan,
    }
    if lpips is not None:
        dev = next(lpips.buffers()).device
        with torch.inference_mode():
            out["lpips"] = float(lpips(sr.to(dev), hr.to(dev))[0])
    return out


def artefact_scores(sr: torch.Tensor, hr: torch.Tensor, *, scale: int) -> dict[str, float]:
    """``periodic`` (at period ``scale``; NaN for ``scale`` 1 or a tiny image), and ``grey_spread`` (grey HR)
    or ``tint`` (colour HR), of an 8-bit-rounded ``(1, 3, H, W)`` output against its HR."""
    sr, hr = quantize_uint8(sr.float()), quantize_uint8(hr.float())
    try:
        periodic = periodic_ratio(sr, scale) if scale >= 2 else math.nan
    except ValueError:  # too small for the spectrum: no value rather than a failed image
        periodic = math.nan
    grey = is_grey(hr)
    return {
        "periodic": periodic,
        "grey_spread": grey_spread(sr) if grey else math.nan,
        "tint": math.nan if grey else tint(sr, hr),
    }


def _find_lr(lr_dir: Path, stem: str, scale: int) -> Path | None:
    for name in (stem, f"{stem}x{scale}", f"{stem}_x{scale}", f"{stem}_LR", f"{stem}_lr"):
        for suffix in IMAGE_EXTENSIONS:
            for cand in (lr_dir / f"{name}{suffix}", lr_dir / f"{name}{suffix.upper()}"):
                if cand.is_file():
                    return cand
    return None


def evaluate(
    hr_paths: Sequence[Path],
    methods: Sequence[Method],
    *,
    scale: int,
    degradation: str = "bicubic",
    seed: int = 0,
    lr_dir: Path | None = None,
    crop: int | None = None,
    lpips: torch.nn.Module | None = None,
    save_images: Path | None = None,
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda it: it,
) -> EvalResult:
    """Score every method on every HR image; an image that fails is recorded and skipped.

    Args:
        hr_paths: HR image files.
        methods: from :func:`interpolation_method` / :func:`model_method`.
        scale: integer SR factor.
        degradation: ``bicubic``, ``mild`` or ``realistic`` (ignored with ``lr_dir``).
        seed: base seed of the mild/realistic degradation (image ``i`` uses ``seed + i``).
        lr_dir: folder of given LR images, matched by name (``baby.png``, ``babyx4.png``, ...).
        crop: border pixels cropped for PSNR/SSIM; default ``scale``.
        lpips: an :class:`gensr.metrics.lpips.LPIPS` module, or None to skip LPIPS (reported as NaN).
        save_images: folder for one comparison grid PNG per image.
        progress: wraps the image iterable (e.g. a tqdm progress bar).

    Returns:
        The scores and failures.
    """
    crop = scale if crop is None else crop
    result = EvalResult(scale=scale, degradation="given LR" if lr_dir else degradation, crop=crop)
    for m in methods:
        result.scores[m.name] = {}
    keys = dict(zip(hr_paths, _image_keys(hr_paths), strict=True))
    for m in methods:  # warm-up (lazy initialisation, autotuning) so that "seconds" is steady-state
        m.upscale(torch.zeros(1, 3, 16, 16))
    for index, path in enumerate(progress(hr_paths)):
        key = keys[path]
        try:
            hr = mod_crop(read_rgb8(path), scale)
            if lr_dir is not None:
                lr_path = _find_lr(lr_dir, path.stem, scale)
                if lr_path is None:
                    raise FileNotFoundError(f"no LR image for it in {lr_dir}")
                lr = read_rgb8(lr_path)
                lh, lw = lr.shape[-2:]
                if lh * scale > hr.shape[-2] or lw * scale > hr.shape[-1]:
                    raise ValueError(f"LR {lr_path.name} is {lw}x{lh}, too large for x{scale} of this HR")
                hr = hr[..., : lh * scale, : lw * scale]
            else:
                lr = make_lr(hr, scale, degradation, seed=seed + index)
            if min(hr.shape[-2:]) <= 2 * crop + 10:
                raise ValueError(
                    f"image is too small ({hr.shape[-1]}x{hr.shape[-2]}) for crop {crop} and SSIM"
                )
            srs = []
            for m in methods:
                t0 = time.perf_counter()
                sr = m.upscale(lr)
                seconds = time.perf_counter() - t0
                if sr.shape != hr.shape:
                    raise ValueError(
                        f"method {m.name} returned {tuple(sr.shape)}, expected {tuple(hr.shape)}"
                    )
                result.scores[m.name][key] = {
                    **score(sr, hr, crop=crop, lpips=lpips),
                    "seconds": seconds,
                    **artefact_scores(sr, hr, scale=scale),
                }
                srs.append((m.name, sr))
        except Exception as e:  # one bad image (or one too large for the device) is reported, not fatal
            for m in methods:
                result.scores[m.name].pop(key, None)
            reason = str(e).removeprefix(f"{path}: ") or type(e).__name__
            result.failures.append((str(path), reason))
            continue
        if save_images is not None:
            labels = [(f"{name}  {result.scores[name][key]['psnr_y']:.2f} dB", sr) for name, sr in srs]
            grid = comparison_grid(hr, lr, labels, scale=scale)
            out = save_images / Path(key).with_suffix(".png")
            out.parent.mkdir(parents=True, exist_ok=True)
            grid.save(out)
    return result


def _busiest_box(hr: torch.Tensor, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` square with the most gradient energy (on a half-size grid)."""
    y = rgb_to_y(hr)[0, 0]
    energy = (y[1:, :-1] - y[:-1, :-1]).abs() + (y[:-1, 1:] - y[:-1, :-1]).abs()
    h, w = energy.shape
    step = max(1, size // 4)
    best, best_pos = -1.0, (0, 0)
    for top in range(0, max(1, h - size + 1), step):
        for left in range(0, max(1, w - size + 1), step):
            e = float(energy[top : top + size, left : left + size].sum())
            if e > best:
                best, best_pos = e, (top, left)
    return best_pos


def comparison_grid(
    hr: torch.Tensor,
    lr: torch.Tensor,
    srs: Sequence[tuple[str, torch.Tensor]],
    *,
    scale: int,
    crop_size: int = 128,
    zoom: int = 2,
    columns: int = 4,
) -> Image.Image:
    """A labelled side-by-side grid of the same crop: HR, LR (pixel-replicated), then each SR.

    Args:
        hr: ``(1, 3, H, W)`` reference; lr ``(1, 3, H/s, W/s)``; srs: ``(label, (1, 3, H, W))`` pairs.
        scale: the SR factor (crop corners align to it so the LR crop matches).
        crop_size: crop side in HR pixels (clipped to the image).
        zoom: nearest-neighbour enlargement of each panel, to show pixels.
        columns: panels per row.

    Returns:
        An RGB PIL image.
    """
    h, w = hr.shape[-2:]
    size = max(scale, min(crop_size, h, w) // scale * scale)
    top, left = _busiest_box(hr, size)
    top, left = top // scale * scale, left // scale * scale
    lr_up = lr.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    panels = [("HR", hr), (f"LR x{scale}", lr_up), *srs]
    font = ImageFont.load_default(size=13)
    label_h, pad, side = 18, 4, size * zoom
    rows = math.ceil(len(panels) / columns)
    cols = min(columns, len(panels))
    canvas = Image.new("RGB", (cols * (side + pad) + pad, rows * (side + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (label, img) in enumerate(panels):
        r, c = divmod(k, columns)
        x0, y0 = pad + c * (side + pad), pad + r * (side + label_h + pad)
        crop = img[..., top : top + size, left : left + size]
        canvas.paste(_to_pil(crop).resize((side, side), Image.Resampling.NEAREST), (x0, y0 + label_h))
        draw.text((x0 + 2, y0 + 2), label, fill="black", font=font)
    return canvas
