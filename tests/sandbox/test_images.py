"""The consumer images the sandbox makes: whole, valid PNG and JPEG files."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from django_wxpay_media.sandbox.images import PALETTE, consumer_image, jpeg, png


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def test_png_is_whole_and_of_one_colour() -> None:
    chunks = _png_chunks(png((1, 2, 3), size=5))
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (5, 5, 8, 2, 0, 0, 0)
    assert zlib.decompress(chunks[1][1]) == (b"\x00" + b"\x01\x02\x03" * 5) * 5


def test_jpeg_has_every_baseline_segment_in_order() -> None:
    data = jpeg((200, 100, 50))
    assert data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")
    markers, pos = [], 2
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        markers.append(data[pos + 1])
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    assert markers == [0xE0, 0xDB, 0xC0, 0xC4]  # JFIF, quantisation, baseline frame, Huffman tables
    assert data[pos + 1] == 0xDA  # then the scan


def test_consumer_images_alternate_formats_and_colours() -> None:
    kinds = [consumer_image(i)[1:] for i in range(4)]
    assert kinds == [("image/jpeg", "jpg"), ("image/png", "png")] * 2
    assert len({consumer_image(i)[0] for i in range(len(PALETTE))}) == len(PALETTE)


def test_an_imaging_library_decodes_them_to_their_colour() -> None:
    image_module = pytest.importorskip("PIL.Image")
    for index, colour in enumerate(PALETTE):
        data, _type, _ext = consumer_image(index)
        with image_module.open(io.BytesIO(data)) as image:
            pixel = image.convert("RGB").getpixel((2, 2))
        assert all(abs(a - b) <= 2 for a, b in zip(pixel, colour, strict=True)), (index, pixel, colour)
