"""Images are checked for structure, not only their first bytes.

Every image a real encoder writes is accepted: Pillow (a test dependency only; no
imaging library at run time) in many modes, plus the variants Pillow cannot write
(interlaced PNG, BMP with V4/V5 and OS/2 headers), built by hand here and proven
valid by Pillow decoding them. Anything cut off or broken is refused with a code.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from django_wxpay_media.sandbox.images import png_chunk as chunk
from django_wxpay_media.wechatpay import check_image, prepare_file, prepare_image
from django_wxpay_media.wechatpay.errors import (
    CorruptImageError,
    ImageValidationError,
    TruncatedImageError,
    UnsupportedImageFormatError,
)
from tests.helpers import fuzz
from tests.real_images import REAL_IMAGES, pillow


@pytest.mark.parametrize("name", sorted(REAL_IMAGES))
def test_every_real_image_is_accepted(real_images, name):
    data = real_images[name]
    assert check_image(data).name == name.split("-")[0].upper()
    assert prepare_image(data, "photo").size == len(data)


@pytest.mark.parametrize("name", sorted(REAL_IMAGES))
def test_trailing_bytes_after_a_whole_image_are_tolerated(real_images, name):
    # Cameras append trailers after the JPEG end; some tools pad files.
    check_image(real_images[name] + b"\x00" * 16 + b"trailer")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x89PNG\r\n\x1a\n", TruncatedImageError),  # a bare PNG signature
        (b"\xff\xd8\xff", TruncatedImageError),  # a 3-byte JPEG
        (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<I", 40), TruncatedImageError),  # 18-byte BMP header
    ],
)
def test_what_used_to_pass_on_magic_bytes_is_refused(data, error):
    with pytest.raises(error) as info:
        prepare_image(data, "x.png")
    assert info.value.code in ("TRUNCATED_IMAGE", "CORRUPT_IMAGE")


def test_a_png_cut_after_20_bytes_is_refused(real_images):
    with pytest.raises(TruncatedImageError) as info:
        prepare_image(real_images["png-rgb"][:20], "x.png")
    assert info.value.code == "TRUNCATED_IMAGE" and "cut off" in str(info.value)


@pytest.mark.parametrize("name", sorted(REAL_IMAGES))
def test_every_cut_of_a_real_image_is_refused(real_images, name):
    data = real_images[name]
    step = max(1, len(data) // 150)  # about 150 cut points per image, the last bytes always
    cuts = sorted(set(range(1, len(data), step)) | set(range(max(1, len(data) - 8), len(data))))
    for cut in cuts:
        with pytest.raises(ImageValidationError):
            check_image(data[:cut])


def png_with(chunks: list[bytes]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


IHDR = chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
IDAT = chunk(b"IDAT", zlib.compress(b"\x00" + b"\x01" * 6 + b"\x00" + b"\x02" * 6))
IEND = chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data",
    [
        png_with([IDAT, IHDR, IEND]),  # IHDR not first
        png_with([IHDR, IEND]),  # no image data
        png_with([IHDR, IHDR, IDAT, IEND]),
        png_with([chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 2, 8, 2, 0, 0, 0)), IDAT, IEND]),
        png_with([IHDR, b"\x00\x00\x00\x04" + b"I D!" + b"\x00" * 8, IDAT, IEND]),  # a chunk type that is not letters
        png_with([IHDR, b"\xff\xff\xff\xff" + b"IDAT", IEND]),  # length beyond 2**31
        b"\xff\xd8\xff\xd9",  # SOI then EOI, no picture
        b"\xff\xd8\xff\xe0\x00\x01" + b"\x00" * 20,  # segment length below 2
        b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 6 + b"\xff\xd9",  # a scan without a frame header
        b"\xff\xd8\xff\xe0\x00\x04AB\x00\x00\xff\xd9",  # no marker where a segment should start
        b"BM"
        + struct.pack("<IHHI", 62, 0, 0, 10)
        + struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 0, 16, 0, 0, 0, 0)
        + bytes(16),
        b"BM"
        + struct.pack("<IHHI", 70, 0, 0, 54)
        + struct.pack("<IiiHHIIiiII", 40, 0, 2, 1, 24, 0, 16, 0, 0, 0, 0)
        + bytes(16),
        b"BM"
        + struct.pack("<IHHI", 70, 0, 0, 54)
        + struct.pack("<IiiHHIIiiII", 40, 2, 2, 3, 24, 0, 16, 0, 0, 0, 0)
        + bytes(16),
        b"BM"
        + struct.pack("<IHHI", 70, 0, 0, 54)
        + struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 7, 0, 16, 0, 0, 0, 0)
        + bytes(16),
    ],
)
def test_broken_structures_are_corrupt(data):
    with pytest.raises(CorruptImageError) as info:
        check_image(data)
    assert info.value.code == "CORRUPT_IMAGE"


def test_the_file_size_field_of_a_bmp_is_not_trusted(real_images):
    # Real encoders write 0 or a wrong total there; the headers and pixel data decide.
    data = bytearray(real_images["bmp-24bit"])
    for value in (0, 1, 2**32 - 1):
        data[2:6] = struct.pack("<I", value)
        check_image(bytes(data))


# -- property-based ---------------------------------------------------------------------------------


@fuzz(400)
@given(data=st.binary(max_size=300), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM"]))
def test_any_bytes_pass_or_raise_a_validation_error(data, prefix):
    try:
        check_image(prefix + data)
    except ImageValidationError as err:
        assert err.code in ("UNSUPPORTED_FORMAT", "TRUNCATED_IMAGE", "CORRUPT_IMAGE")


@fuzz(400)
@given(
    name=st.sampled_from(sorted(REAL_IMAGES)),
    position=st.floats(min_value=0, max_value=1, exclude_max=True),
    value=st.integers(0, 255),
    length=st.integers(1, 8),
)
def test_damaged_real_images_pass_or_raise_a_validation_error(name, position, value, length):
    data = bytearray(REAL_IMAGES[name]())
    start = int(position * len(data))
    data[start : start + length] = bytes([value]) * length
    with contextlib.suppress(ImageValidationError):
        check_image(bytes(data))


@fuzz(300)
@given(name=st.sampled_from(sorted(REAL_IMAGES)), keep=st.floats(min_value=0, max_value=1, exclude_max=True))
def test_any_prefix_of_a_real_image_is_refused(name, keep):
    data = REAL_IMAGES[name]()
    with pytest.raises(ImageValidationError):
        check_image(data[: int(keep * len(data))])


def test_other_formats_stay_unsupported():
    for fmt in ("GIF", "WEBP", "TIFF"):
        with pytest.raises(UnsupportedImageFormatError):
            check_image(pillow(fmt, "RGB"))


# -- chunk checksums and the image data stream (issue 14) ------------------------------------------


def _chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, length) of each chunk of a PNG."""
    found, position = [], 8
    while position < len(data):
        length = struct.unpack(">I", data[position : position + 4])[0]
        kind = data[position + 4 : position + 8]
        found.append((position, kind, length))
        position += 12 + length
        if kind == b"IEND":
            break
    return found


def _with_crc(data: bytearray, offset: int, length: int) -> bytes:
    """``data`` with the CRC of the chunk at ``offset`` made right again."""
    end = offset + 8 + length
    data[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(data[offset + 4 : end])))
    return bytes(data)


RAW_2X2 = b"\x00" + b"\x01" * 6 + b"\x00" + b"\x02" * 6  # two filtered rows of a 2x2 RGB image


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (png_with([IHDR[:-1] + bytes([IHDR[-1] ^ 1]), IDAT, IEND]), CorruptImageError),  # IHDR CRC
        (png_with([IHDR, IDAT[:-1] + bytes([IDAT[-1] ^ 1]), IEND]), CorruptImageError),  # IDAT CRC
        (png_with([IHDR, IDAT, IEND[:-1] + bytes([IEND[-1] ^ 1])]), CorruptImageError),  # IEND CRC
        (png_with([IHDR, chunk(b"IDAT", zlib.compress(RAW_2X2)[:-6]), IEND]), TruncatedImageError),  # stream cut
        (png_with([IHDR, chunk(b"IDAT", b"\x78\x9c" + b"\xff" * 20), IEND]), CorruptImageError),  # garbage
        (png_with([IHDR, chunk(b"IDAT", b"not zlib at all"), IEND]), CorruptImageError),
        (png_with([IHDR, chunk(b"IDAT", zlib.compress(RAW_2X2[:7])), IEND]), TruncatedImageError),  # one row short
        (png_with([IHDR, chunk(b"IDAT", zlib.compress(RAW_2X2 * 2)), IEND]), CorruptImageError),  # more than IHDR says
        (png_with([chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 7, 2, 0, 0, 0)), IDAT, IEND]), CorruptImageError),
        (png_with([chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 5, 0, 0, 0)), IDAT, IEND]), CorruptImageError),
        (png_with([chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 2)), IDAT, IEND]), CorruptImageError),
    ],
    ids=[
        "IHDR CRC",
        "IDAT CRC",
        "IEND CRC",
        "IDAT stream cut",
        "IDAT garbage after a zlib header",
        "IDAT not zlib",
        "IDAT one row short",
        "IDAT twice the data",
        "bit depth 7",
        "colour type 5",
        "interlace method 2",
    ],
)
def test_broken_png_data_and_checksums_are_refused(data, error):
    with pytest.raises(error) as info:
        check_image(data)
    assert info.value.code == ("TRUNCATED_IMAGE" if error is TruncatedImageError else "CORRUPT_IMAGE")


def test_the_image_data_may_be_split_over_many_idat_chunks():
    stream = zlib.compress(RAW_2X2)
    pieces = [chunk(b"IDAT", stream[i : i + 3]) for i in range(0, len(stream), 3)]
    check_image(png_with([IHDR, *pieces, IEND]))


def test_a_zlib_bomb_stops_at_the_size_ihdr_gives(tmp_path):
    """16 MB of zeros behind a 2x2 header: refused without inflating it all, from a path too."""
    data = png_with([IHDR, chunk(b"IDAT", zlib.compress(bytes(16 * 1024 * 1024), 9)), IEND])
    with pytest.raises(CorruptImageError):
        check_image(data)
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    with path.open("rb") as file, pytest.raises(CorruptImageError):
        prepare_file(file, "bomb.png", opener=lambda: path.open("rb"))


def test_a_large_png_is_checked_from_a_path_a_window_at_a_time(tmp_path):
    """An image data stream far longer than the 64 KiB window still inflates to its end."""
    import random

    rng = random.Random(5)
    size = (300, 300)
    image = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    out = io.BytesIO()
    image.save(out, "PNG")
    data = out.getvalue()
    assert len(data) > 4 * 64 * 1024
    path = tmp_path / "noise.png"
    path.write_bytes(data)
    with path.open("rb") as file:
        assert prepare_file(file, "noise.png").size == len(data)
    cut = bytearray(data)
    idat = next(c for c in _chunks(data) if c[1] == b"IDAT")
    cut[idat[0] + 8 + idat[2] // 2] ^= 0xFF  # a byte in the middle of the stream, CRC made right
    path.write_bytes(_with_crc(cut, idat[0], idat[2]))
    with path.open("rb") as file, pytest.raises(ImageValidationError):
        prepare_file(file, "noise.png")


@fuzz(150)
@given(
    name=st.sampled_from(sorted(n for n in REAL_IMAGES if n.startswith("png"))),
    where=st.sampled_from([b"IHDR", b"IDAT"]),
    position=st.floats(min_value=0, max_value=1, exclude_max=True),
    flip=st.integers(1, 255),
    fix_crc=st.booleans(),
)
def test_a_byte_flipped_in_ihdr_or_idat_is_refused_or_still_an_image(name, where, position, flip, fix_crc):
    data = REAL_IMAGES[name]()
    offset, _, length = next(c for c in _chunks(data) if c[1] == where)
    damaged = bytearray(data)
    damaged[offset + 8 + int(position * length)] ^= flip
    damaged_bytes = _with_crc(damaged, offset, length) if fix_crc else bytes(damaged)
    try:
        check_image(damaged_bytes)
    except (CorruptImageError, TruncatedImageError) as err:
        assert err.code in ("CORRUPT_IMAGE", "TRUNCATED_IMAGE")
        return
    assert fix_crc, "a wrong CRC was accepted"
    with Image.open(io.BytesIO(damaged_bytes)) as decoded:  # accepted: a real decoder reads it whole
        decoded.load()
