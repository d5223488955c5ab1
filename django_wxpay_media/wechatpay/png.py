"""PNG image data: the size an IHDR header describes, and the IDAT stream inflated to its end.

Used by :mod:`.validation`'s PNG walk. The stream is inflated a piece at a time and
the output thrown away (only its length is kept), so memory stays bounded whatever
the image's size, and a stream that would inflate past the size IHDR gives stops there.
"""

from __future__ import annotations

import zlib

from .errors import CorruptImageError, TruncatedImageError


def _corrupt(what: str) -> CorruptImageError:
    return CorruptImageError(f"The PNG image is damaged ({what}).", format="PNG", detail=what)


#: Bit depths allowed for each PNG colour type, and its channels.
_PNG_COLOUR_TYPES = {0: ((1, 2, 4, 8, 16), 1), 2: ((8, 16), 3), 3: ((1, 2, 4, 8), 1), 4: ((8, 16), 2), 6: ((8, 16), 4)}
#: Adam7 passes: first column, first row, column step, row step.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
#: PNG data is read (CRC, inflation) this many bytes at a time; inflated output is discarded.
PIECE = 64 * 1024


def data_size(header: bytes) -> int:
    """The size of the inflated image data an IHDR describes (filter bytes included)."""
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    bit_depth, colour_type, compression, filter_method, interlace = header[8:13]
    depths, channels = _PNG_COLOUR_TYPES.get(colour_type, ((), 0))
    if bit_depth not in depths or compression != 0 or filter_method != 0 or interlace not in (0, 1):
        raise _corrupt("the IHDR header is invalid")

    def rows(columns: int, count: int) -> int:
        return 0 if columns <= 0 or count <= 0 else count * (1 + (columns * channels * bit_depth + 7) // 8)

    if not interlace:
        return rows(width, height)
    return sum(rows((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in _ADAM7)


class ImageData:
    """The concatenated IDAT stream, inflated as it comes and thrown away: only its length is kept."""

    def __init__(self, expected: int) -> None:
        self._inflater = zlib.decompressobj()
        self._expected = expected
        self._size = 0

    def feed(self, piece: bytes) -> None:
        """Inflate the next piece of the IDAT stream (output counted, then dropped)."""
        if self._inflater.eof:
            return  # bytes after the end of the stream: ignored, as decoders do
        try:
            while True:
                # Bounded: never more than one piece of output in memory, never past the expected size.
                out = self._inflater.decompress(piece, PIECE)
                self._size += len(out)
                if self._size > self._expected:
                    raise _corrupt("the image data is larger than its size says")
                piece = self._inflater.unconsumed_tail
                if self._inflater.eof or (not piece and len(out) < PIECE):
                    return  # a full piece of output may leave more inside: go round again
        except zlib.error:
            raise _corrupt("the image data does not decompress") from None

    def finish(self) -> None:
        """Raise unless the stream ended and gave exactly the data IHDR describes."""
        self.feed(b"")
        if not self._inflater.eof or self._size < self._expected:
            raise TruncatedImageError("The PNG image is cut off: its end is missing.", format="PNG")
