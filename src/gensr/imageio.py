"""Reading and writing images: the one place where files become tensors and back.

An :class:`Image` carries the RGB tensor together with everything needed to write the picture
back faithfully: a straight (not premultiplied) alpha channel, the bit depth, whether it was
grey, and the EXIF and ICC metadata. EXIF orientation is applied on reading, so the tensor is
upright and the stored EXIF says orientation 1.

Formats: PNG, JPEG, WebP, BMP, TIFF. 16-bit PNG and TIFF (grey, grey+alpha, RGB, RGBA) are read
at full precision (see :mod:`gensr.codec16` for the colour ones Pillow cannot hold) and written
back as 16-bit where the output format allows it (PNG, TIFF); other formats get 8 bits.
Writes go to a temporary file in the destination folder, then are renamed into place.
"""

from __future__ import annotations

import dataclasses
import errno
import glob
import io
import os
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

from gensr import codec16

FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
"""File extension -> format, for reading (by content) and writing (by extension)."""

IMAGE_EXTENSIONS = tuple(FORMATS)
_SIXTEEN_BIT = {"PNG", "TIFF"}
_ALPHA = {"PNG", "WEBP", "TIFF"}  # Pillow writes 32-bit BMP but reads it back without alpha
_EXIF = {"PNG", "JPEG", "WEBP"}
_ICC = {"PNG", "JPEG", "WEBP", "TIFF"}
_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_PIXEL_DIMENSIONS = (0xA002, 0xA003)  # Exif PixelXDimension / PixelYDimension: stale after resizing
# IFD0 tags worth keeping from a TIFF file's own tag table (the rest describe its pixel layout)
_TIFF_DESCRIPTIVE = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)


class ImageReadError(Exception):
    """A file could not be read as an image; ``str(err)`` is one line naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Image:
    """A decoded picture: RGB tensor plus what is needed to write it back."""

    rgb: torch.Tensor
    """(1, 3, H, W) float32 in [0, 1]; grey images are replicated into the three channels."""
    alpha: torch.Tensor | None = None
    """(1, 1, H, W) float32 in [0, 1], straight (not premultiplied); None when opaque by format."""
    bits: int = 8
    """Bits per sample of the source (8 or 16)."""
    gray: bool = False
    """The source was greyscale (written back as grey)."""
    palette: bool = False
    """The source was a palette image (written back as RGB or RGBA)."""
    exif: bytes | None = None
    """EXIF block (``Exif\\0\\0`` + TIFF structure) with orientation reset to 1."""
    icc: bytes | None = None
    """ICC colour profile of the RGB (or grey) data."""
    format: str | None = None
    """Source format: "PNG", "JPEG", "WEBP", "BMP" or "TIFF"."""

    def __post_init__(self) -> None:
        if self.rgb.ndim != 4 or self.rgb.shape[:2] != (1, 3):
            raise ValueError(f"rgb must be (1, 3, H, W), got {tuple(self.rgb.shape)}")
        if self.alpha is not None and self.alpha.shape != (1, 1, *self.rgb.shape[2:]):
            raise ValueError(f"alpha {tuple(self.alpha.shape)} does not fit rgb {tuple(self.rgb.shape)}")
        if self.bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16, got {self.bits}")

    @property
    def height(self) -> int:
        return int(self.rgb.shape[2])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[3])

    def replace(self, **changes: Any) -> Image:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------------------- read


def read_image(path: str | Path) -> Image:
    """Read an image file, apply its EXIF orientation, and split off alpha.

    Args:
        path: a PNG, JPEG, WebP, BMP or TIFF file (format detected from the content).

    Returns:
        The :class:`Image`; ``rgb`` is (1, 3, H, W) float32 in [0, 1] in upright orientation.

    Raises:
        ImageReadError: the file is missing, not an image, truncated or of an unsupported kind.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd metadata; the pixels are what count
            arr, bits, gray, palette, fmt, icc, exif = _decode(path)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image") from None
    except PILImage.UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can identify (corrupt or unsupported)") from None
    except Exception as e:  # Pillow's decoders raise OSError, ValueError, SyntaxError, EOFError, ...
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImageReadError(path, f"cannot decode ({reason})") from None

    orientation = int(exif.get(_ORIENTATION, 1) or 1)
    arr = apply_orientation(arr, orientation)
    exif_bytes = _clean_exif(exif, tiff=fmt == "TIFF")

    x = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32) / (65535.0 if bits == 16 else 255.0))
    x = x.permute(2, 0, 1).unsqueeze(0)  # (1, C, H, W)
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
    )


def _decode(path: Path) -> tuple[np.ndarray, int, bool, bool, str, bytes | None, PILImage.Exif]:
    """Pixels as (H, W, C) uint8/uint16 with C = 1, 2 (grey[, alpha]) or 3, 4 (RGB[, alpha]).

    Returns ``(pixels, bits, gray, palette, format, icc, exif)``.
    """
    with PILImage.open(path) as im, PILImage.open(path) as again:
        fmt = "JPEG" if im.format == "MPO" else str(im.format)  # MPO: cameras' multi-picture JPEG
        if fmt not in set(FORMATS.values()):
            raise ImageReadError(path, f"unsupported format {fmt} (gensr reads PNG, JPEG, WebP, BMP, TIFF)")
        icc = im.info.get("icc_profile") or None
        if codec16.needs_decode16(im):
            arr = codec16.decode16(im, again)
            return arr, 16, arr.shape[2] == 2, False, fmt, icc, im.getexif()
        im.load()
        arr, bits, gray, palette = _pixels(im, path)
        if im.mode == "CMYK":
            icc = None  # a CMYK profile does not describe the converted RGB
        return arr, bits, gray, palette, fmt, icc, im.getexif()


def _pixels(im: PILImage.Image, path: Path) -> tuple[np.ndarray, int, bool, bool]:
    """``(pixels, bits, gray, palette)`` of a loaded Pillow image of any mode."""
    mode = im.mode
    transparent = "transparency" in im.info
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im)
        if mode == "I" and (a.min() < 0 or a.max() > 65535):
            raise ImageReadError(path, "32-bit integer samples outside 0..65535 are not supported")
        return a.astype(np.uint16)[..., None], 16, True, False
    if mode == "F":
        a = np.clip(np.nan_to_num(np.asarray(im, dtype=np.float32)), 0.0, 1.0)
        return np.rint(a * 65535).astype(np.uint16)[..., None], 16, True, False
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


def _clean_exif(exif: PILImage.Exif, *, tiff: bool) -> bytes | None:
    """EXIF bytes for the output: orientation 1, no stale pixel dimensions, no TIFF layout tags."""
    if not len(exif):
        return None
    sub_ifds = {tag: dict(exif.get_ifd(tag)) for tag in (_EXIF_IFD, _GPS_IFD) if tag in exif}
    if tiff:  # a TIFF's tag table describes its strips; keep only the descriptive tags
        kept = {t: exif[t] for t in _TIFF_DESCRIPTIVE if t in exif}
        exif = PILImage.Exif()
        for t, v in kept.items():
            exif[t] = v
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    for tag, ifd in sub_ifds.items():
        if tag == _EXIF_IFD:
            ifd = {k: v for k, v in ifd.items() if k not in _PIXEL_DIMENSIONS}
        if ifd:
            exif[tag] = ifd
        elif tag in exif:
            del exif[tag]
    data = exif.tobytes()
    return data if len(exif) else None


# ------------------------------------------------------------------------------------------ write


def write_image(path: str | Path, image: Image, *, overwrite: bool = False, quality: int = 95) -> None:
    """Write ``image`` to ``path``; the format comes from the extension.

    16 bits are kept for PNG and TIFF, other formats get 8. Alpha is kept where the format has
    it (PNG, WebP, TIFF); JPEG and BMP get the image composited over white. EXIF goes to PNG, JPEG
    and WebP; the ICC profile to PNG, JPEG, WebP and TIFF. The file appears complete or not at all.

    Args:
        path: destination; its folder is created.
        image: what to write.
        overwrite: replace an existing file (otherwise ``FileExistsError``).
        quality: JPEG / WebP quality, 1..100.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: unknown extension.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image extension (use one of {', '.join(IMAGE_EXTENSIONS)})")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(errno.EEXIST, "already exists (not overwritten)", str(path))
    data = _encode(image, fmt, quality)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, data, overwrite=overwrite)


def _encode(image: Image, fmt: str, quality: int) -> bytes:
    bits = 16 if image.bits == 16 and fmt in _SIXTEEN_BIT else 8
    maxv = 65535 if bits == 16 else 255
    colour = image.rgb.float().clamp(0, 1)
    if image.gray:
        colour = colour.mean(dim=1, keepdim=True)
    alpha = image.alpha.float().clamp(0, 1) if image.alpha is not None else None
    if alpha is not None and fmt not in _ALPHA:
        colour = colour * alpha + (1 - alpha)  # no alpha in the format: composite over white
        alpha = None
    planes = colour if alpha is None else torch.cat([colour, alpha], dim=1)
    if planes.shape[1] == 2 and (fmt == "WEBP" or (bits == 16 and fmt == "TIFF")):
        # grey+alpha that the format (or Pillow, for 16-bit TIFF) cannot hold: write RGBA
        planes = torch.cat([planes[:, :1].expand(-1, 3, -1, -1), planes[:, 1:]], dim=1)
    q = (planes[0] * maxv).round().permute(1, 2, 0).numpy().astype(np.uint16 if bits == 16 else np.uint8)
    exif = image.exif if fmt in _EXIF else None
    icc = image.icc if fmt in _ICC else None
    if bits == 16:
        return (
            codec16.encode_png16(q, icc=icc, exif=exif) if fmt == "PNG" else codec16.encode_tiff16(q, icc=icc)
        )

    pil = PILImage.fromarray(q[..., 0] if q.shape[2] == 1 else q)  # L, LA, RGB or RGBA
    kw: dict[str, Any] = {}
    if icc:
        kw["icc_profile"] = icc
    if exif and not (fmt == "JPEG" and len(exif) > 65533):  # JPEG's APP1 segment holds at most 64 KiB
        kw["exif"] = exif
    if fmt == "JPEG":
        kw.update(quality=quality, subsampling=0 if quality >= 90 else 2, optimize=True)
    elif fmt == "WEBP":
        kw.update(quality=quality, method=4)
    elif fmt == "TIFF":
        kw.update(compression="tiff_adobe_deflate")
    elif fmt == "PNG":
        kw.update(compress_level=6)
    buf = io.BytesIO()
    pil.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write via a temporary file in the same folder, then rename (or hard-link when not overwriting)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # fails if path appeared meanwhile: never clobbers
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, "already exists (not overwritten)", str(path)) from None
        except OSError:  # file system without hard links
            if path.exists():
                raise FileExistsError(errno.EEXIST, "already exists (not overwritten)", str(path)) from None
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------------- list


def list_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand files, folders (recursively) and glob patterns into image files.

    Files named explicitly are kept whatever their extension (reading them says what is wrong);
    folders and globs contribute files with an image extension, skipping hidden names. Each
    input's files are sorted; inputs keep their order; duplicates are dropped.

    Args:
        inputs: paths, folders or glob patterns (``**`` recurses).

    Returns:
        The image paths.

    Raises:
        FileNotFoundError: an input is neither a file nor a folder and matches no file.
    """
    seen: set[Path] = set()
    out: list[Path] = []
    for inp in inputs:
        p = Path(inp)
        if p.is_file():
            found = [p]
        elif p.is_dir():
            found = _images_under(p)
        elif glob.has_magic(str(inp)):
            found = []
            for m in sorted(glob.glob(str(inp), recursive=True)):
                q = Path(m)
                if q.is_dir():
                    found += _images_under(q)
                elif q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS:
                    found.append(q)
            if not found:
                raise FileNotFoundError(errno.ENOENT, "no image files match", str(inp))
        else:
            raise FileNotFoundError(errno.ENOENT, "no such file or folder", str(inp))
        for f in sorted(found) if len(found) > 1 else found:
            if f not in seen:
                seen.add(f)
                out.append(f)
    return out


def _images_under(folder: Path) -> list[Path]:
    return sorted(
        f
        for f in folder.rglob("*")
        if f.suffix.lower() in IMAGE_EXTENSIONS
        and f.is_file()
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    )
