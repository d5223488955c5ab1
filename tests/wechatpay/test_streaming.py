"""An image validated from a file is checked, hashed and sent a chunk at a time.

``prepare_file`` must decide exactly what ``prepare_image`` decides on the same
bytes (every real image accepted, every cut or damaged one refused with the same
error), while no read asks for the whole file; the body's image piece reads the
file again each time it is sent, so a retried request sends it whole again.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.wechatpay import prepare_file, prepare_image
from django_wxpay_media.wechatpay.errors import ImageValidationError, TruncatedImageError
from django_wxpay_media.wechatpay.multipart import FileChunks, body_parts
from django_wxpay_media.wechatpay.validation import READ_CHUNK, _check_structure, _FileView

from ..helpers import fuzz
from ..images import big_png, jpeg, png
from ..real_images import REAL_IMAGES


class CountingFile(io.BytesIO):
    """A seekable file that records the size of every ``read()`` asked of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().read(size)


def outcome(decide, data: bytes):
    """What validating ``data`` gives: the error's type and code, or the prepared image's fields."""
    try:
        image = decide(data)
    except ImageValidationError as err:
        return type(err), err.code
    return image.filename, image.sha256, image.format, image.size


def from_bytes(data: bytes):
    return prepare_image(data, "x.png")


def from_file(data: bytes):
    return prepare_file(io.BytesIO(data), "x.png", opener=lambda: io.BytesIO(data))


@pytest.mark.parametrize("name", sorted(REAL_IMAGES))
def test_a_file_is_judged_as_its_bytes_whole_cut_and_with_trailing_bytes(real_images, name):
    data = real_images[name]
    assert outcome(from_file, data) == outcome(from_bytes, data)
    for cut in range(1, len(data), max(1, len(data) // 40)):
        assert outcome(from_file, data[:cut]) == outcome(from_bytes, data[:cut])
    assert outcome(from_file, data + b"\x00" * 99) == outcome(from_bytes, data + b"\x00" * 99)


@fuzz(300)
@given(
    name=st.sampled_from(sorted(REAL_IMAGES)),
    position=st.integers(min_value=0, max_value=10_000),
    value=st.binary(min_size=1, max_size=4),
    window=st.integers(min_value=1, max_value=64),
)
def test_damaged_images_get_the_same_verdict_with_any_window(name, position, value, window):
    data = REAL_IMAGES[name]()
    position %= len(data)
    damaged = data[:position] + value + data[position + len(value) :]
    try:
        expected = _check_structure(memoryview(damaged))
    except ImageValidationError as err:
        expected = type(err)
    try:
        got = _check_structure(_FileView(io.BytesIO(damaged), len(damaged), window_size=window))
    except ImageValidationError as err:
        got = type(err)
    assert got == expected


@fuzz(300)
@given(
    data=st.binary(max_size=300),
    prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM"]),
)
def test_any_bytes_get_the_same_verdict_from_a_file(data, prefix):
    data = prefix + data
    assert outcome(from_file, data) == outcome(from_bytes, data)


@pytest.mark.parametrize("window", [1, 2, 3, 5, 64])
def test_the_jpeg_end_marker_is_found_across_a_window_edge(window):
    data = jpeg("edge")
    for offset in range(window + 2):  # shifts where FF D9 falls against the windows
        padded = data + b"\x00" * offset
        view = _FileView(io.BytesIO(padded), len(padded), window_size=window)
        assert _check_structure(view).name == "JPEG"
    assert view.find(b"\xff\xd9", 0) == data.rfind(b"\xff\xd9")


def test_a_2_mib_file_is_validated_without_one_large_read():
    data = big_png(2 * 1024 * 1024)
    source = CountingFile(data)
    image = prepare_file(source, "big.png", opener=lambda: io.BytesIO(data))

    assert image.sha256 == hashlib.sha256(data).hexdigest() and image.size == len(data)
    assert image.data == b""  # the image is not held: it is read from the opener
    assert source.asked and all(0 < size <= READ_CHUNK for size in source.asked), source.asked
    assert len(data) // 4 > READ_CHUNK


def test_a_cut_off_file_is_refused():
    data = png("cut")
    with pytest.raises(TruncatedImageError):
        prepare_file(io.BytesIO(data[:-5]), "cut.png", opener=lambda: io.BytesIO(data[:-5]))


def test_without_an_opener_the_file_is_read_into_the_image():
    data = png("whole")
    image = prepare_file(io.BytesIO(data), "w.png")
    assert image.data == data and image.opener is None


def test_file_chunks_read_the_file_again_on_every_pass(tmp_path: Path):
    data = big_png(700_000)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    opened: list[CountingFile] = []

    def opener() -> CountingFile:
        opened.append(CountingFile(path.read_bytes()))
        return opened[-1]

    chunks = FileChunks(opener, len(data), chunk_size=100_000)
    assert len(chunks) == len(data) and not opened  # nothing read until it is sent
    first = list(chunks)
    second = list(chunks)  # a retried request
    assert b"".join(first) == b"".join(second) == data
    assert len(opened) == 2
    assert max(len(chunk) for chunk in first) == 100_000
    assert all(size <= 100_000 for handle in opened for size in handle.asked)


def test_file_chunks_refuse_a_file_that_got_shorter():
    data = png("short")
    chunks = FileChunks(lambda: io.BytesIO(data[:-3]), len(data))
    with pytest.raises(OSError, match="early"):
        list(chunks)


def test_the_body_sends_the_file_piece_as_the_bytes_would_be_sent():
    data = big_png(300_000)
    image = prepare_file(io.BytesIO(data), "b.png", opener=lambda: io.BytesIO(data))
    chunks = FileChunks(image.opener, image.size)
    body = body_parts('{"m":1}', image.filename, chunks, image.content_type, "b0undary")

    assert body.parts[1] is chunks  # the image piece is the file, not its bytes
    assert len(body) == len(bytes(body))
    assert bytes(body) == bytes(body_parts('{"m":1}', image.filename, data, image.content_type, "b0undary"))
