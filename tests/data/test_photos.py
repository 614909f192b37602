from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from gensr.data import photos as D
from gensr.imageio import ImageReadError, list_images


def _write(path: Path, h: int, w: int, seed: int) -> np.ndarray:
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return rgb


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    _write(tmp_path / "a.png", 40, 56, 0)
    _write(tmp_path / "sub" / "b.png", 48, 36, 1)
    _write(tmp_path / "tiny.png", 10, 12, 2)  # smaller than the patch: skipped
    (tmp_path / "notes.txt").write_text("not an image")
    _write(tmp_path / ".hidden" / "c.png", 40, 40, 3)
    return tmp_path


def test_training_folders_are_listed_by_imageio(folder: Path) -> None:
    files = list_images([folder])
    assert [p.relative_to(folder).as_posix() for p in files] == ["a.png", "sub/b.png", "tiny.png"]
    assert list_images([folder / "a.png"]) == [folder / "a.png"]
    with pytest.raises(FileNotFoundError):
        list_images([folder / "missing"])


def _window_of(crop: np.ndarray, img: np.ndarray) -> bool:
    """Is crop some flip/rotation of a window of img?"""
    p = crop.shape[0]
    for k in range(8):
        c = D.dihedral(crop, k)  # the dihedral maps are involutions or their inverse is in the set
        for top in range(img.shape[0] - p + 1):
            for left in range(img.shape[1] - p + 1):
                if np.array_equal(img[top : top + p, left : left + p], c):
                    return True
    return False


def test_crops_are_windows_of_the_images(folder: Path) -> None:
    with pytest.warns(UserWarning, match="skipped 1 image"):
        ds = D.HRCropDataset(folder, patch=16, scale=4)
    assert len(ds) == 2 and [p.name for p in ds.files] == ["a.png", "b.png"]
    imgs = [np.asarray(Image.open(p).convert("RGB")) for p in ds.files]
    for i in range(len(ds)):
        x = ds[i]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32
        assert float(x.min()) >= 0 and float(x.max()) <= 1
        crop = (x.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        assert _window_of(crop, imgs[i])


def test_crops_are_deterministic_per_seed_epoch_and_index(folder: Path) -> None:
    with pytest.warns(UserWarning):
        a = D.HRCropDataset(folder, patch=16, scale=2, seed=3, repeat=4)
    with pytest.warns(UserWarning):
        b = D.HRCropDataset(folder, patch=16, scale=2, seed=3, repeat=4, cache=False)
    assert len(a) == 8
    forward = [a[i] for i in range(len(a))]
    backward = [b[i] for i in reversed(range(len(b)))][::-1]
    assert all(torch.equal(x, y) for x, y in zip(forward, backward, strict=True))
    a.set_epoch(1)
    assert not all(torch.equal(x, a[i]) for i, x in enumerate(forward))
    a.set_epoch(0)
    loader = DataLoader(a, batch_size=4, num_workers=2, shuffle=False)
    batches = torch.cat(list(loader))
    assert torch.equal(batches, torch.stack(forward))


def test_augmentation_covers_all_flips_and_rotations(tmp_path: Path) -> None:
    img = _write(tmp_path / "x.png", 8, 8, 5)  # patch = image: only the augmentation varies
    ds = D.HRCropDataset(tmp_path, patch=8, repeat=64)
    seen = set()
    variants = [D.dihedral(img, k) for k in range(8)]
    assert len({v.tobytes() for v in variants}) == 8
    for i in range(len(ds)):
        crop = (ds[i].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        seen.add(next(k for k, v in enumerate(variants) if np.array_equal(v, crop)))
    assert seen == set(range(8))
    plain = D.HRCropDataset(tmp_path, patch=8, augment=False)
    assert np.array_equal((plain[0].permute(1, 2, 0) * 255).round().byte().numpy(), img)


def test_dataset_rejects_bad_arguments(folder: Path) -> None:
    with pytest.raises(ValueError):
        D.HRCropDataset(folder, patch=18, scale=4)
    with pytest.raises(ValueError, match="no image"), pytest.warns(UserWarning):
        D.HRCropDataset(folder, patch=100)


def test_extract_subimages_count_sizes_and_content(tmp_path: Path) -> None:
    src = tmp_path / "src"
    big = _write(src / "big.png", 100, 70, 0)
    _write(src / "sub" / "small.png", 30, 30, 1)
    out = D.extract_subimages(src, tmp_path / "dst", crop=40, step=20)
    # rows start at 0, 20, 40, 60 (60 + 40 = 100); columns at 0, 20 and 30 (flush with the edge)
    names = [p.name for p in out]
    assert len(out) == 4 * 3 + 1
    assert names[0] == "big_s001.png" and names[-1] == "sub_small_s001.png"
    sizes = [Image.open(p).size for p in out]
    assert sizes[:-1] == [(40, 40)] * 12 and sizes[-1] == (30, 30)
    tile = np.asarray(Image.open(out[2]))  # row 0, column start 30
    assert np.array_equal(tile, big[0:40, 30:70])
    more = D.extract_subimages(src, tmp_path / "dst2", crop=40, step=20, thresh_size=10)
    assert len(more) == 4 * 2 + 1  # the 10-px remainder is left out


def test_extract_subimages_reports_unreadable_files(tmp_path: Path) -> None:
    _write(tmp_path / "src" / "ok.png", 50, 50, 0)
    (tmp_path / "src" / "broken.png").write_bytes(b"not a png")
    errors: list[tuple[Path, str]] = []
    out = D.extract_subimages(tmp_path / "src", tmp_path / "dst", crop=40, step=40, errors=errors)
    assert len(out) == 4 and [p.name for p, _ in errors] == ["broken.png"]
    with pytest.raises(ImageReadError):
        D.extract_subimages(tmp_path / "src", tmp_path / "dst3", crop=40, step=40)


def test_sample_photos_are_colour_photos() -> None:
    pytest.importorskip("skimage")
    photos = D.sample_photos()
    assert [n for n, _ in photos] == list(D.SAMPLE_PHOTOS)
    for name, rgb in photos:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, name
        assert min(rgb.shape[:2]) >= 256, name
        assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2]).mean() > 5, name  # really colour
