"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gensr.data.photos import sample_photos


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real-photo crops (136 px) to cut training crops from."""
    imgs = dict(sample_photos())
    root = tmp_path_factory.mktemp("photos")
    Image.fromarray(np.ascontiguousarray(imgs["astronaut"][60:196, 150:286])).save(root / "a.png")
    Image.fromarray(np.ascontiguousarray(imgs["coffee"][100:236, 200:336])).save(root / "c.png")
    return root
