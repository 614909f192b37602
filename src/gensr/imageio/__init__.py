"""Reading and writing images: the one place where files become tensors and back.

An :class:`Image` carries the RGB tensor together with everything needed to write the picture
back faithfully: a straight (not premultiplied) alpha channel, the bit depth, whether it was
grey, and the EXIF and ICC metadata. EXIF orientation is applied on reading, so the tensor is
upright and the stored EXIF says orientation 1.

Formats: PNG, JPEG, WebP, GIF, BMP, TIFF (GIF written with a palette of 256 colours). 16-bit PNG and TIFF
(grey, grey+alpha, RGB, RGBA) are read at full precision (see :mod:`gensr.imageio.codec16` for the colour
ones Pillow cannot hold) and written back as 16-bit where the output format allows it (PNG, TIFF); other
formats get 8 bits.

Writes go to a temporary file in the destination folder, then are renamed into place
(:func:`atomic_write`, used by every file gensr writes). :func:`write_bands` writes a picture that
arrives as bands of rows (PNG and TIFF encoded as they come, :mod:`gensr.imageio.encode`), so an
upscaled 100 MP image is never held whole.
"""

from __future__ import annotations

from gensr.base.atomic import atomic_write
from gensr.imageio.files import list_images
from gensr.imageio.image import (
    FORMATS,
    IMAGE_EXTENSIONS,
    MAX_FRAMES,
    MAX_PIXELS,
    Image,
    ImageReadError,
)
from gensr.imageio.read import (
    ImageInfo,
    apply_orientation,
    image_size,
    probe_image,
    read_frames,
    read_image,
    read_rgb8,
)
from gensr.imageio.write import write_bands, write_frames, write_image

__all__ = [
    "FORMATS",
    "IMAGE_EXTENSIONS",
    "MAX_FRAMES",
    "MAX_PIXELS",
    "Image",
    "ImageInfo",
    "ImageReadError",
    "apply_orientation",
    "atomic_write",
    "image_size",
    "list_images",
    "probe_image",
    "read_frames",
    "read_image",
    "read_rgb8",
    "write_bands",
    "write_frames",
    "write_image",
]
