"""Training data: folders of HR images, random crops with flips/rotations, sub-image extraction,
and the colour photos bundled with scikit-image.

Images are decoded once to 8-bit RGB (``(H, W, 3)`` uint8, EXIF orientation applied); crops are
returned as ``(3, P, P)`` float32 tensors in [0, 1]. Every random choice of a crop is derived from
``(seed, epoch, index)`` alone, so a dataset gives the same crops with any number of DataLoader
workers and in any order.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from gensr.imageio import Image, ImageReadError, image_size, list_images, read_rgb8, write_image

SAMPLE_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "motorcycle_left",
    "motorcycle_right",
    "retina",
    "rocket",
)
"""The colour photographs shipped inside scikit-image (``skimage.data``); its other images are
grayscale, synthetic (colorwheel) or need a download."""


def read_uint8(path: str | os.PathLike[str]) -> np.ndarray:
    """An image as ``(H, W, 3)`` uint8 RGB, read through :func:`gensr.imageio.read_rgb8`."""
    rgb = read_rgb8(path)[0]  # (3, H, W) on uint8 levels
    return (rgb * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def _generator(seed: int, epoch: int, index: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """The k-th (0..7) of the 8 flips/90-degree rotations of an ``(H, W, ...)`` array:
    bit 0 flips left-right, bit 1 flips top-bottom, bit 2 transposes (swaps H and W)."""
    if k & 1:
        x = x[:, ::-1]
    if k & 2:
        x = x[::-1]
    if k & 4:
        x = x.swapaxes(0, 1)
    return x


class HRCropDataset(Dataset[torch.Tensor]):
    """Random square crops of HR images, for training.

    Item ``i`` is a crop of image ``i % n_images`` at a random position, flipped and rotated at
    random (when ``augment``); the randomness comes from ``(seed, epoch, i)`` only. Call
    :meth:`set_epoch` before each epoch to get new crops (with persistent DataLoader workers the
    workers keep their own copy of the dataset: re-create the DataLoader iterator instead).

    Images smaller than ``min_size`` (default: the patch) on either side are skipped with one
    warning that counts them; they are not padded.

    Args:
        root_or_files: a folder (searched recursively), an image file, or a list of them.
        patch: crop size P in HR pixels; a multiple of ``scale``.
        scale: the SR factor the crops are for (checks that P is a multiple).
        cache: decode every image once, at construction, and keep it in memory (as uint8; forked
            workers share it). Skipped with a warning above ``cache_mpx`` megapixels in total.
        augment: random flips and 90-degree rotations.
        min_size: skip images whose shorter side is below this (at least ``patch``).
        seed: base seed of the crops.
        repeat: the dataset length is ``repeat * n_images`` (more crops per epoch of a small set).
        cache_mpx: the largest total size, in megapixels, that ``cache`` keeps in memory.
    """

    def __init__(
        self,
        root_or_files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        patch: int,
        scale: int = 1,
        cache: bool = True,
        augment: bool = True,
        min_size: int | None = None,
        seed: int = 0,
        repeat: int = 1,
        cache_mpx: float = 1024.0,
    ) -> None:
        if patch < 1 or scale < 1 or patch % scale:
            raise ValueError(f"patch ({patch}) must be a positive multiple of scale ({scale})")
        if repeat < 1:
            raise ValueError("repeat must be at least 1")
        min_side = max(patch, min_size or 0)
        files, sizes, skipped = [], [], []
        roots = [root_or_files] if isinstance(root_or_files, (str, os.PathLike)) else root_or_files
        for path in list_images(roots):
            h, w = image_size(path)
            if min(h, w) < min_side:
                skipped.append(path.name)
            else:
                files.append(path)
                sizes.append((h, w))
        if skipped:
            shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
            warnings.warn(
                f"skipped {len(skipped)} image(s) smaller than {min_side} px: {shown}", stacklevel=2
            )
        if not files:
            raise ValueError(f"no image of at least {min_side}x{min_side} px in {root_or_files}")
        self.files: list[Path] = files
        self.sizes: list[tuple[int, int]] = sizes
        self.patch, self.scale, self.augment = patch, scale, augment
        self.seed, self.repeat, self.epoch = seed, repeat, 0
        self._images: list[np.ndarray] | None = None
        mpx = sum(h * w for h, w in sizes) / 1e6
        if cache and mpx > cache_mpx:
            warnings.warn(f"not caching {mpx:.0f} MPx of images (limit {cache_mpx:.0f})", stacklevel=2)
        elif cache:
            self._images = [read_uint8(f) for f in files]

    def __len__(self) -> int:
        return len(self.files) * self.repeat

    def set_epoch(self, epoch: int) -> None:
        """Select the crops of this epoch."""
        self.epoch = int(epoch)

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as ``(H, W, 3)`` uint8 (from the cache when there is one)."""
        return self._images[i] if self._images is not None else read_uint8(self.files[i])

    def __getitem__(self, index: int) -> torch.Tensor:
        """A ``(3, P, P)`` float32 RGB crop in [0, 1]."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        img = self.image(index % len(self.files))
        g = _generator(self.seed, self.epoch, index)
        h, w = img.shape[:2]
        p = self.patch
        top = int(torch.randint(h - p + 1, (), generator=g))
        left = int(torch.randint(w - p + 1, (), generator=g))
        crop = img[top : top + p, left : left + p]
        if self.augment:
            crop = dihedral(crop, int(torch.randint(8, (), generator=g)))
        chw = np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32)  # a writable copy
        chw /= 255.0
        return torch.from_numpy(chw)


def _starts(n: int, crop: int, step: int, thresh_size: int) -> list[int]:
    if n <= crop:
        return [0]
    starts = list(range(0, n - crop + 1, step))
    if n - (starts[-1] + crop) > thresh_size:
        starts.append(n - crop)
    return starts


def save_png(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` uint8 array as PNG through :func:`gensr.imageio.write_image` (replacing)."""
    chw = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0)  # (1, 3, H, W)
    write_image(path, Image(rgb=chw.float() / 255), overwrite=True)


def extract_subimages(
    src_dir: str | os.PathLike[str],
    dst_dir: str | os.PathLike[str],
    crop: int = 480,
    step: int = 240,
    thresh_size: int = 0,
    *,
    errors: list[tuple[Path, str]] | None = None,
) -> list[Path]:
    """Cut large images into overlapping ``crop x crop`` PNG tiles, so training reads small files.

    Along each side, tiles start every ``step`` pixels; a last tile flush with the far edge is
    added when more than ``thresh_size`` pixels would otherwise be left out. A side shorter than
    ``crop`` is kept whole (one, smaller, tile). Tile ``k`` (from 1) of ``a/b.jpg`` is written as
    ``a_b_s{k:03d}.png``.

    Args:
        src_dir: folder of images (searched recursively).
        dst_dir: output folder (created).
        crop: tile size in pixels.
        step: distance between tile starts.
        thresh_size: the largest remainder left out at the far edges.
        errors: when given, an image that cannot be read is appended as ``(path, reason)`` and
            skipped; otherwise the error is raised.

    Returns:
        Paths of the written tiles, in order.
    """
    if crop < 1 or step < 1 or thresh_size < 0:
        raise ValueError("crop and step must be positive and thresh_size non-negative")
    src, dst = Path(src_dir), Path(dst_dir)
    dst.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for path in list_images([src]):
        rel = path.relative_to(src) if path.is_relative_to(src) else Path(path.name)
        stem = "_".join((*rel.parent.parts, rel.stem))
        try:
            img = read_uint8(path)
        except ImageReadError as e:
            if errors is None:
                raise
            errors.append((path, f"cannot read image: {e}"))
            continue
        h, w = img.shape[:2]
        k = 0
        for top in _starts(h, crop, step, thresh_size):
            for left in _starts(w, crop, step, thresh_size):
                k += 1
                out = dst / f"{stem}_s{k:03d}.png"
                save_png(out, np.ascontiguousarray(img[top : top + crop, left : left + crop]))
                written.append(out)
    return written


def sample_photos() -> list[tuple[str, np.ndarray]]:
    """The colour photos bundled with scikit-image (:data:`SAMPLE_PHOTOS`), read offline.

    Returns:
        ``(name, (H, W, 3) uint8 RGB array)`` pairs, in :data:`SAMPLE_PHOTOS` order.

    Raises:
        ImportError: scikit-image is not installed (``pip install scikit-image``).
    """
    try:
        from skimage import data as skdata
    except ImportError as e:
        raise ImportError(
            "the sample photos come from scikit-image, which is not installed: pip install scikit-image"
        ) from e
    left, right, _ = skdata.stereo_motorcycle()
    photos = []
    for name in SAMPLE_PHOTOS:
        if name == "motorcycle_left":
            arr = left
        elif name == "motorcycle_right":
            arr = right
        else:
            arr = getattr(skdata, name)()
        photos.append((name, np.ascontiguousarray(arr[:, :, :3], dtype=np.uint8)))
    return photos
