"""The image formats WeChat Pay takes, told by their first bytes, and the walk of each one's structure.

PNG chunks to IEND with their CRCs and the image data inflated, JPEG segments to
the scan and its end marker, BMP headers against the pixel data: a cut-off or
broken file is refused while no imaging library is needed. A file is walked in
memory (a ``memoryview``) or a window at a time (:class:`_FileView`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import IO, overload

from . import png
from .errors import CorruptImageError, TruncatedImageError, UnsupportedImageFormatError


@dataclass(frozen=True)
class ImageFormat:
    name: str
    extension: str
    content_type: str


JPEG = ImageFormat("JPEG", "jpg", "image/jpeg")
PNG = ImageFormat("PNG", "png", "image/png")
BMP = ImageFormat("BMP", "bmp", "image/bmp")
FORMATS = (JPEG, PNG, BMP)

# BITMAPINFOHEADER sizes of the BMP variants Windows and common tools write.
_BMP_DIB_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def detect_format(data: bytes) -> ImageFormat | None:
    """The image format named by ``data``'s magic bytes, or ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    # "BM" alone is too weak (any text may start with it): check the DIB header size too.
    if len(data) >= 18 and data.startswith(b"BM") and int.from_bytes(data[14:18], "little") in _BMP_DIB_HEADER_SIZES:
        return BMP
    return None


class _FileView:
    """Read-only random access to a seekable binary file, one window in memory at a time.

    Offers what the structure walks use on a ``memoryview``: ``len()``, an index
    (an int) and a short slice (bytes), so a file is checked without being loaded.
    """

    __slots__ = ("_file", "_size", "_start", "_window", "window_size")

    def __init__(self, file: IO[bytes], size: int, window_size: int = 64 * 1024) -> None:
        self._file = file
        self._size = size
        self.window_size = window_size
        self._start = 0
        self._window = b""

    def __len__(self) -> int:
        return self._size

    def _read_at(self, start: int, count: int) -> bytes:
        self._file.seek(start)
        chunks: list[bytes] = []
        while count > 0:
            chunk = self._file.read(count)
            if not chunk:  # the file shrank since its size was taken: what is left is what counts
                break
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    @overload
    def __getitem__(self, key: int) -> int: ...
    @overload
    def __getitem__(self, key: slice) -> bytes: ...
    def __getitem__(self, key: int | slice) -> int | bytes:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self._size)
            if stop <= start:
                return b""
            if not (self._start <= start and stop <= self._start + len(self._window)):
                if stop - start > self.window_size:
                    return self._read_at(start, stop - start)
                self._start, self._window = start, self._read_at(start, self.window_size)
            return self._window[start - self._start : stop - self._start]
        if not 0 <= key < self._size:
            raise IndexError(key)
        if not self._start <= key < self._start + len(self._window):
            self._start, self._window = key, self._read_at(key, self.window_size)
            if not self._window:
                raise IndexError(key)
        return self._window[key - self._start]

    def find(self, needle: bytes, start: int) -> int:
        """The first offset of ``needle`` at or after ``start``, or -1; read a window at a time."""
        position = start
        span = max(self.window_size, 2 * len(needle))  # each step moves forward
        while position < self._size:
            block = self._read_at(position, span)
            if not block:
                return -1
            found = block.find(needle)
            if found >= 0:
                return position + found
            if position + len(block) >= self._size:
                return -1
            position += max(1, len(block) - (len(needle) - 1))  # a needle may cross two windows
        return -1


_Image = memoryview | _FileView


def _find(data: _Image, needle: bytes, start: int) -> int:
    if isinstance(data, _FileView):
        return data.find(needle, start)
    return bytes(data[start:]).find(needle)


def _check_structure(data: _Image) -> ImageFormat:
    image_format = detect_format(bytes(data[:18]))
    if image_format is None:
        raise UnsupportedImageFormatError(
            "The file is not a JPEG, PNG or BMP image (checked by its content, not its name)."
        )
    _STRUCTURE_CHECKS[image_format.name](data)
    return image_format


def _truncated(kind: str) -> TruncatedImageError:
    return TruncatedImageError(f"The {kind} image is cut off: its end is missing.", format=kind)


def _corrupt(kind: str, what: str) -> CorruptImageError:
    return CorruptImageError(f"The {kind} image is damaged ({what}).", format=kind, detail=what)


def _check_png(data: _Image) -> None:
    """Walk the chunks from the signature to IEND: IHDR first, sane lengths, every CRC, and
    an IDAT stream that inflates to its end and to the size IHDR gives (a window at a time)."""
    position = 8
    stream: png.ImageData | None = None
    while True:
        if position + 8 > len(data):
            raise _truncated("PNG")
        length = int.from_bytes(data[position : position + 4], "big")
        kind = bytes(data[position + 4 : position + 8])
        if length > 0x7FFFFFFF or not kind.isalpha() or not kind.isascii():
            raise _corrupt("PNG", "a chunk header is invalid")
        end = position + 12 + length  # length, type, data, CRC
        if end > len(data):
            raise _truncated("PNG")
        if stream is None:
            if kind != b"IHDR" or length != 13:
                raise _corrupt("PNG", "the IHDR header does not come first")
            width = int.from_bytes(data[position + 8 : position + 12], "big")
            height = int.from_bytes(data[position + 12 : position + 16], "big")
            if not 0 < width <= 0x7FFFFFFF or not 0 < height <= 0x7FFFFFFF:
                raise _corrupt("PNG", "the width or height is zero")
            stream = png.ImageData(png.data_size(bytes(data[position + 8 : position + 21])))
            seen_data = False
        elif kind == b"IHDR":
            raise _corrupt("PNG", "a second IHDR header")
        crc = zlib.crc32(kind)
        for start in range(position + 8, end - 4, png.PIECE):
            piece = bytes(data[start : min(start + png.PIECE, end - 4)])
            crc = zlib.crc32(piece, crc)
            if kind == b"IDAT":
                stream.feed(piece)
        if crc != int.from_bytes(data[end - 4 : end], "big"):
            raise _corrupt("PNG", "a chunk's checksum (CRC) does not match")
        if kind == b"IDAT":
            seen_data = True
        elif kind == b"IEND":
            if not seen_data:
                raise _corrupt("PNG", "no image data")
            stream.finish()
            return  # bytes after IEND are tolerated, as every decoder does
        position = end


# JPEG markers without a length field: TEM and RST0-7 (SOI and EOI never occur inside the walk).
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
# Start-of-frame markers (baseline, extended, progressive, lossless, arithmetic...); not DHT/JPG/DAC.
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _check_jpeg(data: _Image) -> None:
    """Walk the segments from SOI to the first scan (SOS), then require an EOI after it."""
    position = 2
    frame = False
    size = len(data)
    while True:
        # Markers may be preceded by any number of 0xFF fill bytes.
        if position >= size:
            raise _truncated("JPEG")
        if data[position] != 0xFF:
            raise _corrupt("JPEG", "a segment does not start with a marker")
        while position < size and data[position] == 0xFF:
            position += 1
        if position >= size:
            raise _truncated("JPEG")
        marker = data[position]
        position += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0x00, 0xD8):
            raise _corrupt("JPEG", "an invalid marker")
        if marker == 0xD9:
            raise _corrupt("JPEG", "the image ends before its picture data")
        if position + 2 > size:
            raise _truncated("JPEG")
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2:
            raise _corrupt("JPEG", "a segment length is invalid")
        if position + length > size:
            raise _truncated("JPEG")
        if marker in _JPEG_SOF:
            if length < 8:
                raise _corrupt("JPEG", "the frame header is too short")
            width = int.from_bytes(data[position + 5 : position + 7], "big")
            if width == 0:
                raise _corrupt("JPEG", "the width is zero")
            frame = True
        position += length
        if marker == 0xDA:  # SOS: entropy-coded data follows
            if not frame:
                raise _corrupt("JPEG", "the picture data comes before its frame header")
            break
    # Entropy-coded data stuffs every 0xFF as FF 00, so FF D9 after the scan header is
    # the end marker; anything after it (camera trailers, MPF images) is tolerated.
    if _find(data, b"\xff\xd9", position) < 0:
        raise _truncated("JPEG")


_BMP_RGB, _BMP_BITFIELDS, _BMP_ALPHABITFIELDS = 0, 3, 6


def _check_bmp(data: _Image) -> None:
    """Check the file and DIB headers against the data: sizes, planes, bit depth, pixel bytes."""
    size = len(data)
    dib = int.from_bytes(data[14:18], "little")
    if size < 14 + dib:
        raise _truncated("BMP")
    offset = int.from_bytes(data[10:14], "little")
    if dib == 12:  # BITMAPCOREHEADER (OS/2 1.x)
        width = int.from_bytes(data[18:20], "little")
        height = int.from_bytes(data[20:22], "little", signed=True)
        planes = int.from_bytes(data[22:24], "little")
        bits = int.from_bytes(data[24:26], "little")
        compression = _BMP_RGB
    else:
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        planes = int.from_bytes(data[26:28], "little")
        bits = int.from_bytes(data[28:30], "little")
        compression = int.from_bytes(data[30:34], "little")
    if width <= 0 or height == 0:
        raise _corrupt("BMP", "the width or height is zero")
    if planes != 1 or bits not in (1, 2, 4, 8, 16, 24, 32, 64):
        raise _corrupt("BMP", "the bit depth is invalid")
    if offset < 14 + dib:
        raise _corrupt("BMP", "the pixel data overlaps the headers")
    # The file-size field is not compared: real encoders write 0 or a wrong value there.
    if compression in (_BMP_RGB, _BMP_BITFIELDS, _BMP_ALPHABITFIELDS):
        row = (bits * width + 31) // 32 * 4
        if offset + row * abs(height) > size:
            raise _truncated("BMP")
    elif offset >= size:  # compressed (RLE, embedded JPEG/PNG): the length is not known in advance
        raise _truncated("BMP")


_STRUCTURE_CHECKS = {"JPEG": _check_jpeg, "PNG": _check_png, "BMP": _check_bmp}
