"""Images that real encoders write: Pillow in many modes, and what Pillow reads but cannot write.

Pillow is a test dependency only (no imaging library at run time); a test module
importing this one is skipped where it is missing. The ``real_images`` fixture
(tests/wechatpay/conftest.py) builds each once and proves it valid by decoding it.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from django_wxpay_media.sandbox.images import png_chunk as chunk

Image = pytest.importorskip("PIL.Image")


def pillow(fmt: str, mode: str, size: tuple[int, int] = (37, 23), **options) -> bytes:
    """An image with some structure (a gradient) saved by Pillow."""
    image = Image.new("RGB", size)
    image.putdata(
        [((x * 7) % 256, (y * 11) % 256, ((x + y) * 5) % 256) for y in range(size[1]) for x in range(size[0])]
    )
    if mode == "P":
        image = image.quantize(16)
    elif mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def exif_jpeg(progressive: bool = False) -> bytes:
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    exif = Image.Exif()
    exif[0x010F] = "Phone maker"  # Make
    exif[0x0110] = "Model 9"  # Model
    exif[0x0112] = 6  # Orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), progressive=progressive, quality=90)
    return out.getvalue()


def interlaced_png(width: int = 9, height: int = 7) -> bytes:
    """An Adam7-interlaced RGB PNG (Pillow reads these but does not write them)."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        columns = len(range(x0, width, dx))
        for y in range(y0, height, dy):
            if columns:
                raw += b"\x00" + b"".join(bytes([x * 20 % 256, y * 30 % 256, 99]) for x in range(x0, width, dx))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def bmp_with_header(dib_size: int, bits: int = 32, width: int = 5, height: int = 4) -> bytes:
    """A bottom-up BMP with a BITMAPCOREHEADER (12), BITMAPINFOHEADER (40), V4 (108) or V5 (124) header."""
    row = (bits * width + 31) // 32 * 4
    pixels = bytes((i * 37) % 256 for i in range(row * height))
    if dib_size == 12:
        dib = struct.pack("<IHHHH", 12, width, height, 1, bits)
    else:
        compression = 3 if bits == 32 and dib_size > 40 else 0  # BI_BITFIELDS with masks in V4/V5
        dib = struct.pack("<IiiHHIIiiII", dib_size, width, height, 1, bits, compression, len(pixels), 2835, 2835, 0, 0)
        if dib_size > 40:
            masks = struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
            dib += masks + b"sRGB"[::-1] + bytes(dib_size - 40 - 16 - 4)
    offset = 14 + len(dib)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + dib + pixels


REAL_IMAGES = {
    "jpeg-baseline-rgb": lambda: pillow("JPEG", "RGB", quality=85),
    "jpeg-grey": lambda: pillow("JPEG", "L"),
    "jpeg-cmyk": lambda: pillow("JPEG", "CMYK"),
    "jpeg-progressive": lambda: pillow("JPEG", "RGB", progressive=True, quality=70),
    "jpeg-optimized-444": lambda: pillow("JPEG", "RGB", optimize=True, subsampling=0),
    "jpeg-exif": exif_jpeg,
    "jpeg-exif-progressive": lambda: exif_jpeg(progressive=True),
    "jpeg-1x1": lambda: pillow("JPEG", "RGB", size=(1, 1)),
    "png-rgb": lambda: pillow("PNG", "RGB"),
    "png-rgba": lambda: pillow("PNG", "RGBA"),
    "png-grey": lambda: pillow("PNG", "L"),
    "png-grey-alpha": lambda: pillow("PNG", "LA"),
    "png-palette": lambda: pillow("PNG", "P"),
    "png-1bit": lambda: pillow("PNG", "1"),
    "png-16bit": lambda: pillow("PNG", "I;16"),
    "png-optimized": lambda: pillow("PNG", "RGB", optimize=True),
    "png-interlaced": interlaced_png,
    "bmp-24bit": lambda: pillow("BMP", "RGB"),
    "bmp-32bit": lambda: pillow("BMP", "RGBA"),
    "bmp-8bit-palette": lambda: pillow("BMP", "P"),
    "bmp-8bit-grey": lambda: pillow("BMP", "L"),
    "bmp-1bit": lambda: pillow("BMP", "1"),
    "bmp-core-header-24bit": lambda: bmp_with_header(12, bits=24),
    "bmp-info-header-24bit": lambda: bmp_with_header(40, bits=24),
    "bmp-v4-header-32bit": lambda: bmp_with_header(108),
    "bmp-v5-header-32bit": lambda: bmp_with_header(124),
    "bmp-v5-header-24bit": lambda: bmp_with_header(124, bits=24),
}


def build_real_images() -> dict[str, bytes]:
    """Every image of :data:`REAL_IMAGES`, each decoded by Pillow to prove a real decoder takes it."""
    images = {name: make() for name, make in REAL_IMAGES.items()}
    for data in images.values():
        with Image.open(io.BytesIO(data)) as decoded:
            decoded.load()
    return images
