"""Reading images: EXIF orientation applied, alpha split off, 8 or 16 bits kept, budgets checked first.

Every file is opened, its format, size and frame count checked against the budgets
(:data:`~gensr.imageio.image.MAX_PIXELS`, :data:`~gensr.imageio.image.MAX_FRAMES`) from the header,
and only then decoded. Whatever goes wrong while reading becomes an :class:`ImageReadError` naming
the file; untrustworthy metadata is dropped with a note instead (:mod:`gensr.imageio.meta`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from gensr.base.tensors import quantize_uint8
from gensr.imageio import codec16
from gensr.imageio.image import FORMATS, MAX_FRAMES, MAX_PIXELS, Image, ImageReadError
from gensr.imageio.meta import clean_exif, icc_for, orientation, read_exif

_FLOAT_RANGES = (1.0, 255.0, 65535.0)
"""Float samples are read as 0..1, 0..255 or 0..65535, the smallest that holds them all."""


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says, checked against the budgets (see :func:`probe_image`)."""

    width: int
    height: int
    frames: int
    format: str
    durations: tuple[int, ...] = ()
    """Milliseconds each frame is shown (animations); empty for pages and single images."""
    loop: int = 0
    """Times an animation plays (0: forever)."""

    @property
    def pixels(self) -> int:
        return self.width * self.height * self.frames


def probe_image(path: str | Path, *, max_pixels: int | None = MAX_PIXELS) -> ImageInfo:
    """Check a file from its header: a format gensr reads, within the pixel and frame budgets.

    Args:
        path: an image file.
        max_pixels: most pixels (all frames together); None: no limit.

    Returns:
        Its :class:`ImageInfo` (size before EXIF rotation).

    Raises:
        ImageReadError: unreadable, unsupported, or over budget; the message names the file.
    """
    path = Path(path)
    with _reading(path), PILImage.open(path) as im:
        return _probe(im, path, max_pixels)


def read_image(path: str | Path, *, max_pixels: int | None = MAX_PIXELS) -> Image:
    """Read a single-frame image file, apply its EXIF orientation, and split off alpha.

    Args:
        path: a PNG, JPEG, WebP, GIF, BMP or TIFF file (format detected from the content).
        max_pixels: refuse larger images before decoding them; None: no limit.

    Returns:
        The :class:`Image`; ``rgb`` is (1, 3, H, W) float32 in [0, 1] in upright orientation.

    Raises:
        ImageReadError: the file is missing, not an image, truncated, over budget, of an
            unsupported kind, or has several frames (see :func:`read_frames`).
    """
    path = Path(path)
    with _reading(path), PILImage.open(path) as im:
        info = _probe(im, path, max_pixels)
        if info.frames > 1:
            raise ImageReadError(
                path, f"has {info.frames} frames; this reads one (gensr upscale converts every frame)"
            )
        return _frame(im, path)


def read_frames(
    path: str | Path, *, max_pixels: int | None = MAX_PIXELS
) -> tuple[ImageInfo, Iterator[Image]]:
    """Read an animation or a multi-page file frame by frame (a single image gives one frame).

    Frames come out whole (animation blending and disposal applied by Pillow), 8 bits a sample.

    Returns:
        The file's :class:`ImageInfo` and an iterator over its frames as :class:`Image` objects.

    Raises:
        ImageReadError: as :func:`read_image`, also from the iterator; 16-bit frames of a
            multi-frame file are refused.
    """
    path = Path(path)
    info = probe_image(path, max_pixels=max_pixels)

    def frames() -> Iterator[Image]:
        with _reading(path):
            im = PILImage.open(path)
        with im:
            for i in range(info.frames):
                with _reading(path):  # not held across the yield: warning filters are global
                    im.seek(i)
                    if info.frames > 1 and (codec16.needs_decode16(im) or im.mode.startswith(("I", "F"))):
                        raise ImageReadError(path, f"frame {i + 1} has 16-bit or float samples; gensr "
                                             "reads multi-frame files of 8-bit frames only")  # fmt: skip
                    frame = _frame(im, path)
                yield frame

    return info, frames()


def read_rgb8(path: str | Path) -> torch.Tensor:
    """Read an image into the 8-bit domain of training and evaluation.

    :func:`read_image`, alpha dropped (straight colour kept), grey repeated to RGB, 16-bit samples
    rounded to the nearest 8-bit level.

    Returns:
        (1, 3, H, W) float32 in [0, 1] on the 256 uint8 levels.
    """
    return quantize_uint8(read_image(path).rgb)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` from the file header (no full decode), after EXIF rotation.

    Raises:
        ImageReadError: the file cannot be opened as an image; the message names it.
    """
    with _reading(Path(path)), PILImage.open(path) as im:
        w, h = im.size
        turn = orientation(read_exif(im, []), [])
    return (w, h) if turn in (5, 6, 7, 8) else (h, w)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn anything that goes wrong while reading ``path`` into one :class:`ImageReadError`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd metadata; the budgets are checked here
            yield
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image") from None
    except PILImage.DecompressionBombError as e:
        raise ImageReadError(path, f"refused by Pillow's size limit ({e})") from None
    except PILImage.UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can identify (corrupt or unsupported)") from None
    except MemoryError:
        raise ImageReadError(path, "out of memory while decoding") from None
    except Exception as e:  # Pillow's decoders raise OSError, ValueError, SyntaxError, EOFError, ...
        from gensr.messages import reason

        raise ImageReadError(path, f"cannot decode ({reason(e)})") from None


def _probe(im: PILImage.Image, path: Path, max_pixels: int | None) -> ImageInfo:
    fmt = "JPEG" if im.format == "MPO" else str(im.format)  # MPO: cameras' multi-picture JPEG
    if fmt not in set(FORMATS.values()):
        raise ImageReadError(path, f"unsupported format {fmt} (gensr reads PNG, JPEG, WebP, GIF, BMP, TIFF)")
    w, h = im.size
    if w < 1 or h < 1:
        raise ImageReadError(path, f"has no pixels ({w}x{h})")
    frames = 1 if fmt == "JPEG" else int(getattr(im, "n_frames", 1))  # MPO's extra pictures are previews
    if frames > MAX_FRAMES:
        raise ImageReadError(path, f"has {frames} frames, more than {MAX_FRAMES}")
    if max_pixels is not None and w * h * frames > max_pixels:
        what = f"{w}x{h}" + (f" x {frames} frames" if frames > 1 else "")
        raise ImageReadError(
            path, f"{what} is {_count(w * h * frames)}, more than the {_count(max_pixels)} budget"
        )
    durations: tuple[int, ...] = ()
    loop = 0
    if frames > 1 and fmt in ("PNG", "WEBP", "GIF"):
        got = []
        for i in range(frames):
            im.seek(i)
            if fmt == "WEBP":
                im.load()  # Pillow reads a WebP frame's duration when it decodes the frame
            got.append(int(im.info.get("duration", 0) or 0))
        durations, loop = tuple(got), int(im.info.get("loop", 0) or 0)
        if fmt == "GIF":  # no loop extension: plays once; a loop count N: plays N + 1 times
            loop = 1 if "loop" not in im.info else loop + 1 if loop else 0
        im.seek(0)
    return ImageInfo(w, h, frames, fmt, durations, loop)


def _count(pixels: int) -> str:
    """>>> _count(100_000_000), _count(240)
    ('100 MP', '240 pixels')
    """
    return f"{pixels / 1e6:.3g} MP" if pixels >= 10**5 else f"{pixels} pixels"


def _frame(im: PILImage.Image, path: Path) -> Image:
    """The current frame of an opened (probed) file as an :class:`Image`."""
    notes: list[str] = []
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    if codec16.needs_decode16(im):
        with PILImage.open(path) as again:
            arr = codec16.decode16(im, again)
        bits, gray, palette = 16, arr.shape[2] == 2, False
    else:
        im.load()
        arr, bits, gray, palette = _pixels(im, path, notes)
    exif = read_exif(im, notes)  # after decoding: Pillow loads a PNG to find its EXIF
    icc = icc_for(im.info.get("icc_profile"), gray=gray, notes=notes)
    arr = apply_orientation(arr, orientation(exif, notes))
    exif_bytes = clean_exif(exif, tiff=fmt == "TIFF", notes=notes)

    planar = np.array(arr.transpose(2, 0, 1), dtype=np.float32, order="C")  # (C, H, W), one copy
    np.divide(planar, 65535.0 if bits == 16 else 255.0, out=planar)
    x = torch.from_numpy(planar).unsqueeze(0)  # (1, C, H, W)
    n_colour = 1 if gray else 3
    rgb = x[:, :n_colour].expand(1, 3, -1, -1) if gray else x[:, :3]
    alpha = x[:, n_colour : n_colour + 1].contiguous() if x.shape[1] > n_colour else None
    return Image(
        rgb=rgb.contiguous(),
        alpha=alpha,
        bits=bits,
        gray=gray,
        palette=palette,
        exif=exif_bytes,
        icc=icc,
        format=fmt,
        notes=tuple(dict.fromkeys(notes)),
    )


def _pixels(im: PILImage.Image, path: Path, notes: list[str]) -> tuple[np.ndarray, int, bool, bool]:
    """``(pixels, bits, gray, palette)`` of a loaded Pillow image of any mode.

    Pixels are (H, W, C) uint8/uint16 with C = 1, 2 (grey[, alpha]) or 3, 4 (RGB[, alpha]).
    """
    mode = im.mode
    transparent = "transparency" in im.info
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im)
        if mode == "I" and (a.min() < 0 or a.max() > 65535):
            raise ImageReadError(path, "32-bit integer samples outside 0..65535 are not supported")
        return a.astype(np.uint16)[..., None], 16, True, False
    if mode == "F":
        return _float_pixels(np.asarray(im, dtype=np.float32), path, notes)[..., None], 16, True, False
    if mode == "LAB":
        return np.asarray(_lab_to_srgb(im, path)), 8, False, False
    if mode in ("1", "L") and not transparent:
        return np.asarray(im.convert("L"))[..., None], 8, True, False
    if mode in ("1", "L", "LA", "La"):
        return np.asarray(im.convert("LA")), 8, True, False
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or transparent or getattr(im.palette, "mode", "") == "RGBA"
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB")), 8, False, True
    if mode in ("RGBA", "RGBa") or (mode == "RGB" and transparent):
        return np.asarray(im.convert("RGBA")), 8, False, False
    return np.asarray(im.convert("RGB")), 8, False, False


def _float_pixels(a: np.ndarray, path: Path, notes: list[str]) -> np.ndarray:
    """Float samples as uint16, mapped from the smallest of 0..1, 0..255, 0..65535 that holds them."""
    if not np.isfinite(a).all():
        raise ImageReadError(path, "float samples include NaN or infinity")
    lo, hi = float(a.min()), float(a.max())
    top = next((t for t in _FLOAT_RANGES if lo >= 0 and hi <= t), None)
    if top is None:
        raise ImageReadError(path, f"float samples span {lo:g}..{hi:g}; gensr reads 0..1, 0..255 or 0..65535")
    if top != 1.0:
        notes.append(f"float samples read as 0..{top:g}")
    return np.rint(a * (65535.0 / top)).astype(np.uint16)


def _lab_to_srgb(im: PILImage.Image, path: Path) -> PILImage.Image:
    """CIE Lab pixels converted to sRGB with littleCMS (Pillow's own LAB -> RGB only copies bytes)."""
    try:
        from PIL import ImageCms

        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.applyTransform(im, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))  # type: ignore[return-value]
    except ImportError:
        raise ImageReadError(path, "Lab colour needs Pillow's ImageCms (littleCMS), not installed") from None


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an ``(H, W, ...)`` array upright for an EXIF orientation 1..8 (as ``ImageOps.exif_transpose``)."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return arr.swapaxes(0, 1)
    if orientation == 6:
        return arr.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:
        return arr.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return arr.swapaxes(0, 1)[::-1]
    return arr
