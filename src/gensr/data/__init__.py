"""Images to train on: folders of photos cropped for training, sub-image extraction and the photos
bundled with scikit-image (:mod:`gensr.data.photos`), and the public data sets ``gensr data download``
fetches (:mod:`gensr.data.download`, unpacked by :mod:`gensr.data.unpack`).

Importing this package imports nothing: ``gensr data download --help`` starts without torch.
"""
