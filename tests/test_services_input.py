"""What comes in: stored names independent of the sent name, and streams read until EOF."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media import services
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.outcome import UploadState
from django_wxpay_media.wechatpay import MAX_IMAGE_SIZE
from tests.helpers import fuzz

from .images import big_png, jpeg, png, stored_files

Status = FeedbackImage.Status

pytestmark = pytest.mark.usefixtures("media_root")

#: 22 URL-safe characters (128 random bits) and the format's extension.
STORED_NAME = re.compile(r"[A-Za-z0-9_-]{22}\.(?:png|jpg|bmp)")


# -- stored names -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_long_chinese_name_is_stored_and_sent(wxpay_settings, media_root):
    name = "消费者投诉回复凭证送货单" * 20 + ".png"  # 240 characters, 720 bytes in UTF-8
    outcome = services.upload(png("long name"), filename=name)

    assert outcome.state is UploadState.SENT, outcome.error
    image = outcome.record
    [stored] = stored_files(media_root)
    assert STORED_NAME.fullmatch(stored.name)
    assert len(os.fsencode(stored.name)) < 255
    assert image.filename.startswith("消费者投诉") and image.filename.endswith(".png")  # shown and sent
    assert wxpay_settings.uploads[0].filename == image.filename


@pytest.mark.django_db
@fuzz(60)
@given(name=st.text(min_size=1, max_size=300), seed=st.integers())
def test_stored_names_are_random_whatever_the_name(wxpay_settings, name, seed):
    outcome = services.store(jpeg(f"stored name {seed} {name!r}"), filename=name)
    if outcome.record is None:  # a name WeChat Pay cannot take is rejected: nothing stored
        assert outcome.state is UploadState.REJECTED
        return
    stored = outcome.record.file.name.rsplit("/", 1)[1]
    assert STORED_NAME.fullmatch(stored)
    assert stored.endswith(".jpg")
    assert len(outcome.record.file.name) <= 255
    assert Path(outcome.record.file.path).is_file()


@pytest.mark.django_db
def test_the_same_name_twice_gets_two_unrelated_stored_names(wxpay_settings):
    first = services.store(png("one"), filename="receipt.png").record
    second = services.store(png("two"), filename="receipt.png").record
    assert first.file.name != second.file.name
    assert "receipt" not in first.file.name + second.file.name


# -- streams -------------------------------------------------------------------------------------


class ShortReads(io.RawIOBase):
    """A stream whose ``read(n)`` returns at most ``step`` bytes, like a socket or a slow pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._step = step
        self.name = "short.png"

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size is None or size < 0 else min(size, self._step)
        chunk, self._data = bytes(self._data[:n]), self._data[n:]
        return chunk


def _pipe(data: bytes, *, buffered: bool):
    """The read end of a pipe fed ``data`` by another thread (a pipe holds only 64 KiB)."""
    read_fd, write_fd = os.pipe()

    def feed():
        with os.fdopen(write_fd, "wb") as writer:
            writer.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return os.fdopen(read_fd, "rb", buffering=-1 if buffered else 0)


@pytest.mark.django_db
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "raw"])
def test_a_pipe_is_uploaded_whole(wxpay_settings, buffered):
    data = big_png(60_081)
    with _pipe(data, buffered=buffered) as pipe:
        assert not pipe.seekable()
        outcome = services.upload(pipe, filename="from-a-pipe.png")

    assert outcome.state is UploadState.SENT, outcome.error
    assert (outcome.record.size, outcome.record.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert wxpay_settings.uploads[0].sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.django_db
def test_a_short_reading_stream_is_uploaded_whole(wxpay_settings):
    data = big_png(60_081)
    outcome = services.upload(ShortReads(data, 4096))
    assert outcome.state is UploadState.SENT, outcome.error
    assert wxpay_settings.uploads[0].sha256 == hashlib.sha256(data).hexdigest()
    assert outcome.record.size == 60_081
    with outcome.record.file.open("rb") as fh:
        assert fh.read() == data


@pytest.mark.django_db
@fuzz(80)
@given(size=st.integers(min_value=100, max_value=200_000), step=st.integers(min_value=1, max_value=70_000))
def test_short_reads_of_any_size_keep_every_byte(wxpay_settings, size, step):
    data = big_png(size)
    outcome = services.store(ShortReads(data, step))
    assert outcome.record is not None, outcome.error
    assert (outcome.record.size, outcome.record.sha256) == (size, hashlib.sha256(data).hexdigest())


@pytest.mark.django_db
@pytest.mark.parametrize("step", [65_536, 1 << 20])
def test_a_too_large_stream_is_refused_with_its_size(wxpay_settings, media_root, step):
    data = big_png(MAX_IMAGE_SIZE + 10)
    outcome = services.upload(ShortReads(data, step))
    assert outcome.state is UploadState.REJECTED
    assert outcome.code == "FILE_TOO_LARGE"
    assert outcome.error.params["size"] == len(data)  # the whole stream was counted
    assert stored_files(media_root) == [] and wxpay_settings.requests == []


@pytest.mark.django_db
def test_a_non_blocking_stream_without_data_is_refused(wxpay_settings, media_root):
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            outcome = services.upload(pipe, filename="later.png")
    finally:
        os.close(write_fd)
    assert outcome.state is UploadState.REJECTED
    assert outcome.code == "FILE_UNREADABLE"
    assert stored_files(media_root) == [] and wxpay_settings.requests == []


# -- paths --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_path_that_is_not_a_regular_file_is_read_like_a_stream(wxpay_settings, tmp_path):
    """A FIFO (or /dev/stdin) says size 0: it is read to its end, not refused as empty."""
    data = png("through a pipe")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(data,), daemon=True)
    writer.start()
    try:
        outcome = services.upload(fifo)
    finally:
        if writer.is_alive():  # the pipe was not read to its end: let the writer finish
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(30)

    assert outcome.state is UploadState.SENT, outcome.error
    assert outcome.record.filename == "pipe.png" and outcome.record.sha256 == hashlib.sha256(data).hexdigest()
    assert [u.data for u in wxpay_settings.uploads] == [data]


@pytest.mark.django_db(transaction=True)
def test_a_prepared_image_is_stored_as_it_is(wxpay_settings, tmp_path):
    """``store`` takes what ``prepare`` gave: stored and sent from the validated image."""
    path = tmp_path / "prepared.png"
    path.write_bytes(png("prepared"))
    prepared = services.prepare(path, "named.png")

    stored = services.store(prepared)
    [outcome] = services.upload_stored([stored])

    assert stored.state is UploadState.QUEUED and outcome.state is UploadState.SENT, outcome.error
    assert outcome.record.filename == "named.png" and outcome.record.sha256 == prepared.sha256
    assert [u.data for u in wxpay_settings.uploads] == [path.read_bytes()]
