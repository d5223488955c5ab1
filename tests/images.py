"""Tiny, valid images made in code: distinct bytes per ``seed`` or ``tag`` (so distinct sha256).

The only place tests get image bytes from (with ``media_root`` in conftest.py for storage).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from django_wxpay_media.sandbox.images import png_chunk, rgb_png


def png_bytes(seed: int = 0, size: int = 4) -> bytes:
    """A ``size``×``size`` RGB PNG whose colour depends on ``seed``."""
    pixel = bytes([seed % 256, (seed // 256) % 256, (seed * 7) % 256])
    return rgb_png(size, size, (pixel * size for _ in range(size)))


def png(tag: str = "") -> bytes:
    """A valid 4×4 PNG whose bytes depend on ``tag`` (carried in a ``tEXt`` chunk)."""
    base = png_bytes(0)
    text = b"Comment\x00" + tag.encode()
    return base[:-12] + png_chunk(b"tEXt", text) + base[-12:]  # before IEND


def jpeg(tag: str = "") -> bytes:
    """A valid 1×1 JPEG whose bytes depend on ``tag`` (carried in a COM segment)."""
    comment = tag.encode() or b"-"
    return _JPEG_HEAD + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + _JPEG_TAIL


def bmp_bytes(seed: int = 0, size: int = 2) -> bytes:
    """A ``size``×``size`` 24-bit BMP (BITMAPINFOHEADER) whose colour depends on ``seed``."""
    row = bytes([seed % 256, (seed // 256) % 256, (seed * 3) % 256]) * size
    row += b"\x00" * ((4 - len(row) % 4) % 4)
    pixels = row * size
    header_size = 14 + 40
    return (
        b"BM"
        + struct.pack("<IHHI", header_size + len(pixels), 0, 0, header_size)
        + struct.pack("<IiiHHIIiiII", 40, size, size, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
        + pixels
    )


# A 1×1 grey baseline JPEG (as a common encoder writes it); the seed goes into a
# COM segment, so each seed gives different bytes of the same valid picture.
_JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")
_JPEG_TAIL = bytes.fromhex(
    "ffdb0043000302020302020303030304030304050805050404050a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b"
    "0b1016101113141515150c0f171816141812141514ffdb00430103040405040509050509140d0b0d1414141414141414"
    "141414141414141414141414141414141414141414141414141414141414141414141414141414141414ffc000110800"
    "01000103012200021101031101ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc4"
    "00b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c115"
    "52d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63646566"
    "6768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2"
    "c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc4001f01000301010101"
    "01010101010000000000000102030405060708090a0bffc400b511000201020404030407050404000102770001020311"
    "04052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a35"
    "363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a9293"
    "9495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6"
    "e7e8e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f0028a28a00ffd9"
)


def jpeg_bytes(seed: int = 0) -> bytes:
    comment = f"seed {seed}".encode()
    return _JPEG_HEAD + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + _JPEG_TAIL


def big_png(total_size: int) -> bytes:
    """A PNG of exactly ``total_size`` bytes (padding in a private ancillary chunk)."""
    base = png_bytes(1)
    pad = total_size - len(base) - 12
    assert pad >= 0
    data = b"\x00" * pad
    chunk = struct.pack(">I", pad) + b"prVt" + data + struct.pack(">I", zlib.crc32(b"prVt" + data) & 0xFFFFFFFF)
    return base[:-12] + chunk + base[-12:]


def stored_files(root: Path) -> list[Path]:
    """Every file under ``root`` (the ``media_root`` fixture), sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file())
