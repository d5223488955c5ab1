"""Small, real images for the consumer's complaint pictures (no imaging library).

:func:`png` writes a solid-colour truecolour PNG (zlib, CRCs); :func:`jpeg` a
solid-colour baseline JPEG, 8×8 pixels, one DC coefficient per component (a solid
block has no AC energy). Both decode in any viewer or imaging library.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

__all__ = ["consumer_image", "jpeg", "png", "png_chunk", "rgb_png"]

#: Colours the seeded consumer images cycle through (RGB).
PALETTE = ((220, 60, 50), (40, 140, 220), (60, 170, 90), (240, 190, 40))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def rgb_png(width: int, height: int, rows: Iterable[bytes]) -> bytes:
    """An 8-bit truecolour PNG, no interlace, from ``height`` rows of ``width`` RGB pixels (3 bytes each)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    scanlines = b"".join(b"\x00" + row for row in rows)  # filter type 0 (None) before each row
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(scanlines))
        + png_chunk(b"IEND", b"")
    )


def png(rgb: tuple[int, int, int], size: int = 16) -> bytes:
    """A ``size``×``size`` PNG of one colour."""
    return rgb_png(size, size, (bytes(rgb) * size for _ in range(size)))


def _ycbcr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return (
        round(y),
        round(128 - 0.168736 * r - 0.331264 * g + 0.5 * b),
        round(128 + 0.5 * r - 0.418688 * g - 0.081312 * b),
    )


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, length: int) -> None:
        self.bits += [(value >> (length - 1 - i)) & 1 for i in range(length)]

    def bytes(self) -> bytes:
        bits = self.bits + [1] * (-len(self.bits) % 8)  # pad with 1s
        out = bytearray()
        for i in range(0, len(bits), 8):
            byte = int("".join(map(str, bits[i : i + 8])), 2)
            out.append(byte)
            if byte == 0xFF:
                out.append(0)  # byte stuffing
        return bytes(out)


def jpeg(rgb: tuple[int, int, int]) -> bytes:
    """An 8×8 baseline JPEG (JFIF, YCbCr, no subsampling) of one colour."""

    def segment(marker: int, data: bytes) -> bytes:
        return bytes((0xFF, marker)) + struct.pack(">H", len(data) + 2) + data

    jfif = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    quant = segment(0xDB, b"\x00" + b"\x01" * 64)  # table 0: every step 1
    frame = segment(0xC0, b"\x08\x00\x08\x00\x08\x03" + b"\x01\x11\x00" + b"\x02\x11\x00" + b"\x03\x11\x00")
    # DC table 0: categories 0..11, each a 4-bit code (0000…1011); AC table 0: only EOB, code "0".
    dc_counts = bytes([0, 0, 0, 12] + [0] * 12)
    huffman = segment(0xC4, b"\x00" + dc_counts + bytes(range(12)) + b"\x10" + bytes([1] + [0] * 15) + b"\x00")
    scan_header = segment(0xDA, b"\x03" + b"\x01\x00" + b"\x02\x00" + b"\x03\x00" + b"\x00\x3f\x00")
    bits = _Bits()
    for value in _ycbcr(rgb):
        dc = 8 * (max(0, min(255, value)) - 128)  # the DC coefficient of a solid block, quantised by 1
        category = abs(dc).bit_length()
        bits.put(category, 4)
        if category:
            bits.put(dc if dc > 0 else dc + (1 << category) - 1, category)
        bits.put(0, 1)  # EOB: no AC coefficients
    return b"\xff\xd8" + jfif + quant + frame + huffman + scan_header + bits.bytes() + b"\xff\xd9"


def consumer_image(index: int) -> tuple[bytes, str, str]:
    """The ``index``-th seeded consumer image: ``(bytes, content type, extension)``.

    Even indexes are JPEG, odd ones PNG, each in its own colour.
    """
    colour = PALETTE[index % len(PALETTE)]
    if index % 2 == 0:
        return jpeg(colour), "image/jpeg", "jpg"
    return png(colour), "image/png", "png"
