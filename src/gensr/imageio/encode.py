"""Encoders fed row by row: PNG and TIFF are written as the rows come; JPEG, WebP and BMP are gathered.

Every image gensr writes goes through one of these (:func:`gensr.imageio.write_bands`), so a 100 MP
output is encoded band by band without ever being held: :class:`PngEncoder` compresses each band
into ``IDAT`` chunks of one zlib stream (Paeth filter), :class:`TiffEncoder` writes deflate strips
(horizontal-differencing predictor) and the tag table after them. Pillow's JPEG, WebP and BMP
encoders need the whole picture, so :class:`PillowEncoder` keeps the 8-bit rows (3 bytes a pixel
for RGB) and encodes them at the end; no float copy is ever held.

Rows are ``(h, W, C)`` ``uint8`` or ``uint16`` arrays with ``C`` = 1 grey, 2 grey+alpha, 3 RGB,
4 RGBA; alpha is straight (unassociated).
"""

from __future__ import annotations

import mmap
import struct
import zlib
from typing import Any, BinaryIO, Protocol

import numpy as np
from PIL import Image as PILImage

JPEG_OPTIMIZE_MAX_PIXELS = 16_000_000
"""Larger JPEGs are written without Huffman optimisation (a few per cent bigger): libjpeg would hold
every DCT coefficient of the picture (6 bytes a pixel) and Pillow a 2-byte-a-pixel output buffer."""


class Encoder(Protocol):
    def write(self, rows: np.ndarray) -> None:
        """Append ``(h, W, C)`` rows below the ones written so far."""

    def close(self) -> None:
        """Finish the file; raises ``ValueError`` unless exactly ``height`` rows were written."""


def open_encoder(
    f: BinaryIO,
    fmt: str,
    *,
    width: int,
    height: int,
    channels: int,
    bits: int,
    icc: bytes | None = None,
    exif: bytes | None = None,
    quality: int = 95,
) -> Encoder:
    """An encoder writing a ``fmt`` file (``PNG``, ``TIFF``, ``JPEG``, ``WEBP``, ``GIF``, ``BMP``) into ``f``.

    16 bits only for PNG and TIFF; EXIF is written by PNG, JPEG and WebP (the caller decides what
    the format gets); ``quality`` is for JPEG and WebP.
    """
    if fmt == "PNG":
        return PngEncoder(f, width=width, height=height, channels=channels, bits=bits, icc=icc, exif=exif)
    if fmt == "TIFF":
        return TiffEncoder(f, width=width, height=height, channels=channels, bits=bits, icc=icc)
    if bits != 8:
        raise ValueError(f"{fmt} holds 8 bits a sample, not {bits}")
    return PillowEncoder(
        f, fmt, width=width, height=height, channels=channels, icc=icc, exif=exif, quality=quality
    )


class _Rows:
    """Row bookkeeping shared by the encoders: shape and dtype checks, the running row count."""

    def __init__(self, width: int, height: int, channels: int, bits: int) -> None:
        if width < 1 or height < 1 or not 1 <= channels <= 4 or bits not in (8, 16):
            raise ValueError(f"cannot encode {width}x{height}, {channels} channels, {bits} bits")
        self.width, self.height, self.channels, self.bits = width, height, channels, bits
        self.done = 0

    def check(self, rows: np.ndarray) -> None:
        dtype = np.uint16 if self.bits == 16 else np.uint8
        if rows.dtype != dtype or rows.ndim != 3 or rows.shape[1:] != (self.width, self.channels):
            want = f"(h, {self.width}, {self.channels}) {np.dtype(dtype)}"
            raise ValueError(f"rows must be {want}, got {rows.dtype} {rows.shape}")
        if self.done + rows.shape[0] > self.height:
            raise ValueError(f"more than {self.height} rows written")
        self.done += rows.shape[0]

    def check_complete(self) -> None:
        if self.done != self.height:
            raise ValueError(f"{self.done} of {self.height} rows written")


# --------------------------------------------------------------------------------------------- PNG


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def paeth_filter(rows: np.ndarray, bpp: int, prev: np.ndarray | None = None) -> np.ndarray:
    """Paeth-filter scanlines; ``rows`` is ``(H, stride)`` uint8, ``prev`` the scanline above them
    (None: the first rows of the image). Returns ``(H, 1 + stride)`` with the filter-type byte."""
    x = rows.astype(np.int16)
    up = np.empty_like(x)
    up[0] = 0 if prev is None else prev
    up[1:] = x[:-1]
    out = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    out[:, 0] = 4  # filter type: Paeth
    out[:, 1 : 1 + bpp] = (x[:, :bpp] - up[:, :bpp]).astype(np.uint8)  # no left neighbour: predicts up
    a, b, c = x[:, :-bpp], up[:, bpp:], up[:, :-bpp]  # left, up, up-left
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)  # |p - a|, |p - b|, |p - c|
    pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    np.subtract(x[:, bpp:], pred, out=pred)
    out[:, 1 + bpp :] = pred.astype(np.uint8)  # modulo 256
    return out


class PngEncoder:
    """A PNG (8 or 16 bits, grey / grey+alpha / RGB / RGBA) written row by row.

    The header (``IHDR``, ``iCCP``, ``eXIf``) is written at once; each :meth:`write` filters its rows
    (Paeth, continuing from the row above) and feeds them to one zlib stream, whose output goes out as
    ``IDAT`` chunks of about 1 MiB.
    """

    IDAT_SIZE = 1 << 20

    def __init__(
        self,
        f: BinaryIO,
        *,
        width: int,
        height: int,
        channels: int,
        bits: int,
        icc: bytes | None = None,
        exif: bytes | None = None,
        level: int = 6,
    ) -> None:
        self._rows = _Rows(width, height, channels, bits)
        self._f, self._bpp = f, channels * bits // 8
        self._z = zlib.compressobj(level)
        self._prev: np.ndarray | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
        head = [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)),
        ]
        if icc:
            head.append(_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
        if exif:
            head.append(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
        f.write(b"".join(head))

    def write(self, rows: np.ndarray) -> None:
        self._rows.check(rows)
        if not rows.shape[0]:
            return
        h = rows.shape[0]
        raw = np.ascontiguousarray(rows, dtype=">u2" if self._rows.bits == 16 else np.uint8)
        lines = raw.view(np.uint8).reshape(h, -1)  # (h, stride)
        self._emit(self._z.compress(paeth_filter(lines, self._bpp, self._prev).tobytes()))
        self._prev = lines[-1].copy()

    def close(self) -> None:
        self._rows.check_complete()
        self._emit(self._z.flush(), last=True)
        self._f.write(_chunk(b"IEND", b""))

    def _emit(self, data: bytes, last: bool = False) -> None:
        if data:
            self._pending.append(data)
            self._pending_size += len(data)
        if self._pending_size >= self.IDAT_SIZE or (last and self._pending_size):
            self._f.write(_chunk(b"IDAT", b"".join(self._pending)))
            self._pending, self._pending_size = [], 0


# -------------------------------------------------------------------------------------------- TIFF

_SHORT, _LONG, _UNDEFINED = 3, 4, 7


class TiffEncoder:
    """A little-endian baseline TIFF (8 or 16 bits, 1..4 samples) written strip by strip.

    Strips of about 1 MiB are compressed with Adobe deflate after horizontal differencing
    (predictor 2) and written as they fill; the tag table (strip offsets and sizes, ICC profile as
    tag 34675) follows them, and the header's pointer to it is filled in at :meth:`close` (``f`` must
    be seekable). EXIF is not written (it would need its own sub-IFD). Classic TIFF: at most 4 GiB.
    """

    STRIP_SIZE = 1 << 20

    def __init__(
        self, f: BinaryIO, *, width: int, height: int, channels: int, bits: int, icc: bytes | None = None
    ) -> None:
        self._rows = _Rows(width, height, channels, bits)
        self._f, self._icc = f, icc
        self._start = f.tell()
        self._strip_rows = max(1, min(height, self.STRIP_SIZE // (width * channels * bits // 8)))
        self._pending: np.ndarray | None = None
        self._offsets: list[int] = []
        self._sizes: list[int] = []
        f.write(b"II*\x00" + struct.pack("<I", 0))  # the tag table's offset, filled in at close

    def write(self, rows: np.ndarray) -> None:
        self._rows.check(rows)
        rows = rows if self._pending is None else np.concatenate([self._pending, rows])
        n = self._strip_rows
        full = rows.shape[0] // n * n
        for y in range(0, full, n):
            self._strip(rows[y : y + n])
        self._pending = rows[full:].copy() if full < rows.shape[0] else None

    def close(self) -> None:
        self._rows.check_complete()
        if self._pending is not None:
            self._strip(self._pending)
            self._pending = None
        r = self._rows
        entries: list[tuple[int, int, list[int] | bytes]] = [
            (256, _LONG, [r.width]),
            (257, _LONG, [r.height]),
            (258, _SHORT, [r.bits] * r.channels),
            (259, _SHORT, [8]),  # Adobe deflate
            (262, _SHORT, [2 if r.channels >= 3 else 1]),  # RGB or BlackIsZero
            (273, _LONG, self._offsets),
            (277, _SHORT, [r.channels]),
            (278, _LONG, [self._strip_rows]),
            (279, _LONG, self._sizes),
            (284, _SHORT, [1]),  # chunky
            (317, _SHORT, [2]),  # horizontal differencing
        ]
        if r.channels in (2, 4):
            entries.append((338, _SHORT, [2]))  # extra sample: unassociated alpha
        entries.append((339, _SHORT, [1] * r.channels))  # unsigned integer samples
        if self._icc:
            entries.append((34675, _UNDEFINED, self._icc))
        pos = self._pos()
        if pos % 2:
            self._f.write(b"\x00")
            pos += 1
        ifd_pos = pos
        extra_pos = ifd_pos + 2 + 12 * len(entries) + 4
        ifd, extra = bytearray(struct.pack("<H", len(entries))), bytearray()
        for tag, typ, vals in entries:
            blob = (
                bytes(vals)
                if typ == _UNDEFINED
                else struct.pack(f"<{len(vals)}{'H' if typ == _SHORT else 'I'}", *vals)
            )
            if len(blob) > 4:
                field = struct.pack("<I", extra_pos + len(extra))
                extra += blob + (b"\x00" if len(blob) % 2 else b"")
            else:
                field = blob.ljust(4, b"\x00")
            ifd += struct.pack("<HHI", tag, typ, len(vals)) + field
        ifd += struct.pack("<I", 0)  # no next IFD
        if extra_pos + len(extra) >= 1 << 32:
            raise ValueError("the TIFF would pass 4 GiB, the most a classic TIFF can address; write PNG")
        self._f.write(bytes(ifd) + bytes(extra))
        end = self._f.tell()
        self._f.seek(self._start + 4)
        self._f.write(struct.pack("<I", ifd_pos))
        self._f.seek(end)

    def _pos(self) -> int:
        return self._f.tell() - self._start

    def _strip(self, rows: np.ndarray) -> None:
        diff = rows.copy()
        diff[:, 1:] -= rows[:, :-1]  # per sample, modulo 2**bits
        data = zlib.compress(
            np.ascontiguousarray(diff, dtype="<u2" if self._rows.bits == 16 else np.uint8), 6
        )
        pos = self._pos()
        if pos + len(data) >= 1 << 32:
            raise ValueError("the TIFF would pass 4 GiB, the most a classic TIFF can address; write PNG")
        self._offsets.append(pos)
        self._sizes.append(len(data))
        self._f.write(data)


# ----------------------------------------------------------------------- JPEG, WebP, BMP (gathered)

_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


class PillowEncoder:
    """JPEG, WebP, GIF or BMP through Pillow, whose encoders take a whole picture.

    The 8-bit rows are copied as they come into one anonymous memory map (3 bytes a pixel for RGB:
    one block, so the many short-lived band buffers cannot fragment around it). At :meth:`close` they
    are pasted, a few megabytes at a time, into a Pillow image allocated untouched (4 bytes a pixel),
    and each pasted part of the map is handed back to the system at once: the picture is held about
    once, never twice, and never as floats.
    """

    PASTE_BYTES = 16 << 20

    def __init__(
        self,
        f: BinaryIO,
        fmt: str,
        *,
        width: int,
        height: int,
        channels: int,
        icc: bytes | None = None,
        exif: bytes | None = None,
        quality: int = 95,
    ) -> None:
        self._rows = _Rows(width, height, channels, 8)
        self._f, self._fmt = f, fmt
        self._map = mmap.mmap(-1, width * height * channels)
        self._pixels = np.frombuffer(self._map, np.uint8).reshape(height, width, channels)
        kw: dict[str, Any] = {}
        if icc:
            kw["icc_profile"] = icc
        if exif and not (fmt == "JPEG" and len(exif) > 65533):  # JPEG's APP1 segment holds at most 64 KiB
            kw["exif"] = exif
        if fmt == "JPEG":
            optimize = width * height <= JPEG_OPTIMIZE_MAX_PIXELS
            kw.update(quality=quality, subsampling=0 if quality >= 90 else 2, optimize=optimize)
        elif fmt == "WEBP":
            kw.update(quality=quality, method=4)
        elif fmt not in ("BMP", "GIF"):  # GIF: Pillow makes a palette of the picture's 256 colours
            raise ValueError(f"no encoder for {fmt}")
        self._kw = kw

    def write(self, rows: np.ndarray) -> None:
        y = self._rows.done
        self._rows.check(rows)
        self._pixels[y : y + rows.shape[0]] = rows

    def close(self) -> None:
        self._rows.check_complete()
        r = self._rows
        row_bytes = r.width * r.channels
        step = max(1, self.PASTE_BYTES // row_bytes)
        im = PILImage.new(_MODES[r.channels], (r.width, r.height), None)  # not initialised: pages untouched
        done = 0  # bytes of the map already handed back
        for y in range(0, r.height, step):
            part = self._pixels[y : y + step]
            im.paste(PILImage.fromarray(part[..., 0] if r.channels == 1 else part), (0, y))
            end = (y + part.shape[0]) * row_bytes // mmap.PAGESIZE * mmap.PAGESIZE
            if end > done and hasattr(self._map, "madvise"):
                self._map.madvise(mmap.MADV_DONTNEED, done, end - done)
                done = end
        del part
        self._pixels = np.empty((0, r.width, r.channels), np.uint8)
        self._map.close()
        start = self._f.tell()
        try:
            im.save(self._f, format=self._fmt, **self._kw)
        except OSError:
            # an optimised JPEG is written from one buffer Pillow sizes at 2 bytes a pixel (quality >= 95);
            # a picture of fine noise at 4:4:4 needs more ("broken data stream"): write it unoptimised,
            # which libjpeg flushes as it goes
            if not self._kw.get("optimize"):
                raise
            self._f.seek(start)
            self._f.truncate()
            im.save(self._f, format=self._fmt, **{**self._kw, "optimize": False})
        im.close()
