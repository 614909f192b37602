"""Hypothesis strategies for hostile files: images of every kind gensr meets, then damaged.

An image is drawn as (format, mode, size, frames, EXIF, ICC, text chunk) from the combinations
Pillow can write, encoded, then optionally damaged (cut short, bytes flipped, bytes inserted,
header size fields rewritten). Names come from the same strategies, with control characters and
undecodable bytes.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from PIL import Image as PILImage
from PIL import ImageCms, PngImagePlugin

from tests.hostile import GARBAGE_EXIF, exif_with

MODES: dict[str, tuple[str, ...]] = {
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
    "JPEG": ("L", "RGB", "CMYK"),
    "WEBP": ("RGB", "RGBA"),
    "BMP": ("1", "L", "P", "RGB"),
    "TIFF": ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "F", "LAB"),
    "GIF": ("L", "P"),
}
"""Modes Pillow writes for each format."""
MULTI_FRAME = ("PNG", "WEBP", "TIFF", "GIF")
EXT = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif"}


def _profile(space: str) -> bytes:
    base = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB" if space != "LAB" else "LAB")).tobytes()
    return base if space in ("RGB", "LAB") else base[:16] + space.encode().ljust(4) + base[20:]


PROFILES = {name: _profile(name) for name in ("RGB", "GRAY", "CMYK", "LAB")}

exif_values = st.one_of(
    st.integers(-(2**15), 2**32 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
)
exif_blocks = st.one_of(
    st.none(),
    st.builds(lambda v: exif_with(0x0112, v), exif_values),
    st.builds(lambda v: exif_with(0x010F, v), exif_values),
    st.just(GARBAGE_EXIF),
    st.binary(min_size=0, max_size=80).map(lambda b: b"Exif\0\0" + b),
)
icc_profiles = st.one_of(
    st.none(), st.sampled_from(sorted(PROFILES)).map(PROFILES.get), st.binary(max_size=200)
)


@dataclass(frozen=True)
class Spec:
    """What a generated file was meant to be (reported by hypothesis when a property fails)."""

    format: str
    mode: str
    width: int
    height: int
    frames: int
    exif: bytes | None
    icc: bytes | None
    damage: str


def _pixels(mode: str, w: int, h: int, rng: np.random.Generator, float_top: float) -> PILImage.Image:
    if mode == "F":
        return PILImage.fromarray((rng.random((h, w)) * float_top).astype(np.float32), "F")
    if mode == "I;16":
        return PILImage.fromarray(rng.integers(0, 65536, (h, w)).astype(np.uint16))
    bands = {"1": 1, "L": 1, "P": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4, "LAB": 3}[mode]
    arr = rng.integers(0, 256, (h, w, bands)).astype(np.uint8)
    if mode in ("1", "L", "P"):
        return PILImage.fromarray(arr[..., 0], "L").convert(mode)
    return PILImage.fromarray(arr, mode)


def encode(spec: Spec, seed: int, float_top: float = 1.0) -> bytes:
    """The file's bytes before damage (Pillow refusing a combination gives a plain RGB PNG)."""
    rng = np.random.default_rng(seed)
    frames = [_pixels(spec.mode, spec.width, spec.height, rng, float_top) for _ in range(spec.frames)]
    kw: dict[str, object] = {}
    if spec.exif is not None and spec.format in ("PNG", "JPEG", "WEBP", "TIFF"):
        kw["exif"] = spec.exif
    if spec.icc is not None and spec.format in ("PNG", "JPEG", "WEBP", "TIFF"):
        kw["icc_profile"] = spec.icc
    if spec.frames > 1:
        kw.update(save_all=True, append_images=frames[1:])
        if spec.format in ("PNG", "WEBP", "GIF"):
            kw.update(duration=[40 + 10 * i for i in range(spec.frames)], loop=0)
    if spec.format == "WEBP":
        kw["lossless"] = True
    buf = io.BytesIO()
    try:
        frames[0].save(buf, spec.format, **kw)
    except Exception:  # noqa: BLE001 - Pillow refuses some combinations (SyntaxError for odd EXIF, ...)
        buf = io.BytesIO()
        PILImage.new("RGB", (spec.width, spec.height)).save(buf, "PNG")
    return buf.getvalue()


def damage(data: bytes, how: str, at: float, noise: bytes) -> bytes:
    """``data`` cut short, with bytes flipped or inserted, or with its size fields made huge."""
    i = int(at * len(data))
    if how == "cut":
        return data[:i]
    if how == "flip":
        return data[:i] + bytes(b ^ 0xFF for b in noise) + data[i + len(noise) :]
    if how == "insert":
        return data[:i] + noise + data[i:]
    if how == "huge-size" and data[:8] == b"\x89PNG\r\n\x1a\n":
        return data[:16] + struct.pack(">II", 60000, 60000) + data[24:]
    return data


@st.composite
def image_files(draw: st.DrawFn, damaged: bool = True) -> tuple[Spec, bytes]:
    fmt = draw(st.sampled_from(sorted(MODES)))
    mode = draw(st.sampled_from(MODES[fmt]))
    w, h = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    frames = draw(st.integers(1, 3)) if fmt in MULTI_FRAME and mode not in ("F", "I;16", "LAB") else 1
    how = draw(st.sampled_from(["none", "none", "cut", "flip", "insert", "huge-size"])) if damaged else "none"
    spec = Spec(fmt, mode, w, h, frames, draw(exif_blocks), draw(icc_profiles), how)
    top = draw(st.sampled_from([1.0, 255.0, 65535.0, 1e6]))
    data = encode(spec, draw(st.integers(0, 2**16)), top)
    if spec.format == "PNG" and draw(st.booleans()):
        data = _with_text(data, draw(st.binary(max_size=64)))
    return spec, damage(data, how, draw(st.floats(0, 1)), draw(st.binary(min_size=1, max_size=16)))


def _with_text(png: bytes, text: bytes) -> bytes:
    try:
        im = PILImage.open(io.BytesIO(png))
        info = PngImagePlugin.PngInfo()
        info.add_text("k", text.decode("latin-1"), zip=True)
        out = io.BytesIO()
        im.save(out, "PNG", pnginfo=info)
        return out.getvalue()
    except Exception:  # noqa: BLE001 - a frame Pillow cannot re-save: keep the original
        return png


file_names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=30
).filter(lambda s: s not in (".", "..") and not s.startswith("."))
