"""A path upload never holds the whole image: read, stored and sent a chunk at a time.

The source file is opened through a spy that records every ``read()`` asked of it
(the file is real; only the counting is added), as is every file the storage
opens. The bytes the sandbox received must equal the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage

from django_wxpay_media import conf, services
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.outcome import UploadState
from django_wxpay_media.wechatpay import MAX_IMAGE_SIZE, prepare_file
from django_wxpay_media.wechatpay.errors import TruncatedImageError
from django_wxpay_media.wechatpay.multipart import FILE_CHUNK_SIZE, FileChunks

from .images import big_png, stored_files

pytestmark = pytest.mark.usefixtures("media_root")

#: The largest single read allowed anywhere on the path: a chunk, never the image.
LARGEST_READ = max(FILE_CHUNK_SIZE, 256 * 1024)


class Spy(io.RawIOBase):
    """A real binary file whose ``read()`` sizes are recorded in ``log``."""

    def __init__(self, file: Any, log: list[int]) -> None:
        self.file, self.log = file, log
        self.name = getattr(file, "name", None)

    def read(self, size: int | None = -1) -> bytes:
        self.log.append(-1 if size is None or size < 0 else size)
        return self.file.read(size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        self.file.close()
        super().close()


@pytest.fixture
def reads(monkeypatch) -> dict[str, list[int]]:
    """Every read asked of the source path (``source``) and of stored files (``stored``)."""
    log: dict[str, list[int]] = {"source": [], "stored": []}
    real_path_open = pathlib.Path.open
    real_storage_open = FileSystemStorage._open

    def path_open(self, mode="r", *args, **kwargs):
        handle = real_path_open(self, mode, *args, **kwargs)
        return Spy(handle, log["source"]) if "b" in mode and "r" in mode else handle

    def storage_open(self, name, mode="rb"):
        stored = real_storage_open(self, name, mode)
        stored.file = Spy(stored.file, log["stored"])
        return stored

    monkeypatch.setattr(pathlib.Path, "open", path_open)
    monkeypatch.setattr(FileSystemStorage, "_open", storage_open)
    return log


def big_file(tmp_path, name: str = "big.png") -> tuple[pathlib.Path, bytes]:
    data = big_png(MAX_IMAGE_SIZE)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


@pytest.mark.django_db
def test_a_path_upload_reads_stores_and_sends_in_chunks(wxpay_settings, media_root, tmp_path, reads):
    path, data = big_file(tmp_path)

    outcome = services.upload(path)

    assert outcome.state is UploadState.SENT, outcome.error
    # Validated, hashed and stored from the path; sent from the stored file; never a whole read.
    assert sum(reads["source"]) >= 2 * len(data), reads["source"]
    assert sum(reads["stored"]) >= len(data), reads["stored"]
    for where, sizes in reads.items():
        assert all(0 < size <= LARGEST_READ for size in sizes), (where, [s for s in sizes if s > LARGEST_READ])
    assert wxpay_settings.uploads[0].data == data  # what WeChat Pay got is the file
    [stored] = stored_files(media_root)
    assert stored.read_bytes() == data
    assert outcome.record.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.django_db
def test_the_content_to_send_is_read_from_the_stored_file(wxpay_settings, media_root, tmp_path):
    path, data = big_file(tmp_path)

    stored = services.storing._store(path, None, None, claim=True)

    image, prepared, token = stored
    assert token is not None
    assert prepared.data == b"" and prepared.size == len(data)  # not held
    with prepared.opener() as fh:
        assert pathlib.Path(fh.name) == pathlib.Path(conf.get_storage().path(image.file.name))
    assert b"".join(FileChunks(prepared.opener, prepared.size)) == data


@pytest.mark.django_db
def test_a_failed_upload_sends_the_stored_file_again_on_retry(wxpay_settings, media_root, tmp_path, reads):
    path, data = big_file(tmp_path)
    wxpay_settings.add_fault("status", count=3, status=500, code="SYSTEM_ERROR")  # every try of the first call

    failed = services.upload(path)
    assert failed.state is UploadState.FAILED
    path.unlink()  # the retry has only the stored file
    reads["stored"].clear()

    again = services.retry(failed.record)

    assert again.state is UploadState.SENT, again.error
    assert wxpay_settings.uploads[-1].data == data
    assert sum(reads["stored"]) >= 2 * len(data)  # validated and sent from storage
    assert all(0 < size <= LARGEST_READ for size in reads["stored"]), reads["stored"]


@pytest.mark.django_db
def test_a_retried_request_reads_the_file_again(wxpay_settings, tmp_path):
    path, data = big_file(tmp_path)
    wxpay_settings.add_fault("status", count=1, status=500, code="SYSTEM_ERROR")  # the second try succeeds

    outcome = services.upload(path)

    assert outcome.state is UploadState.SENT, outcome.error
    assert wxpay_settings.uploads[-1].data == data


@pytest.mark.django_db
def test_a_cut_off_file_is_refused_before_anything_is_stored(wxpay_settings, media_root, tmp_path, reads):
    path, data = big_file(tmp_path)
    path.write_bytes(data[:-100])

    outcome = services.upload(path)

    assert outcome.state is UploadState.REJECTED
    assert isinstance(outcome.error, TruncatedImageError)
    assert stored_files(media_root) == [] and not FeedbackImage.objects.exists()
    assert wxpay_settings.uploads == []
    assert all(0 < size <= LARGEST_READ for size in reads["source"]), reads["source"]


@pytest.mark.django_db
@pytest.mark.parametrize("when", ["before", "while"])
def test_a_file_that_changes_after_validation_is_not_kept(wxpay_settings, media_root, tmp_path, monkeypatch, when):
    path, data = big_file(tmp_path)
    with path.open("rb") as fh:
        prepared = prepare_file(fh, path.name, opener=services.inputs._SourcePath(path, fh))
    image = FeedbackImage(filename=prepared.filename, sha256=prepared.sha256, size=prepared.size, mchid="1")

    def rewrite() -> None:  # same size, other bytes, a later modification time (as a real edit)
        path.write_bytes(data[:-1] + b"\x01")
        later = path.stat().st_mtime_ns + 10**9
        os.utime(path, ns=(later, later))

    if when == "before":
        rewrite()
    else:  # the file is written to while the storage copies it
        real_save = FileSystemStorage._save

        def save_then_rewrite(self, name, content):
            stored = real_save(self, name, content)
            rewrite()
            return stored

        monkeypatch.setattr(FileSystemStorage, "_save", save_then_rewrite)

    with pytest.raises(OSError, match="changed"):
        services.storing._save_file(image, prepared)
    assert stored_files(media_root) == []
