"""Images to train on: folders of photos cropped for training, sub-image extraction, the photos bundled
with scikit-image (:mod:`gensr.data.photos`) and the public data sets ``gensr data download`` fetches
(:mod:`gensr.data.download`)."""

from __future__ import annotations

from gensr.data.photos import SAMPLE_PHOTOS, HRCropDataset, extract_subimages, sample_photos, save_png

__all__ = ["SAMPLE_PHOTOS", "HRCropDataset", "extract_subimages", "sample_photos", "save_png"]
