"""The base layer: primitives every package uses, importing nothing else of gensr.

- :mod:`gensr.base.atomic`: :func:`~gensr.base.atomic.atomic_write`, the one way gensr writes a file.
- :mod:`gensr.base.cache`: the cache folder and its JSON tables of measurements.
- :mod:`gensr.base.machine`: CPU model and features, memory available (cgroup-aware).
- :mod:`gensr.base.tensors`: the one padding and the one 8-bit quantizer (the only module here that
  imports torch).
"""
