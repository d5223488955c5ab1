"""Reading and preparing input: a path, bytes or an open file becomes a validated image."""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from pathlib import Path
from typing import IO, Any, Union

from django.core.files import File

from ..wechatpay import MAX_IMAGE_SIZE, PreparedImage, prepare_file, prepare_image
from ..wechatpay.validation import check_size

#: What :func:`~django_wxpay_media.services.upload_image` accepts: a path, the bytes,
#: or an open binary file (including Django's ``File``/``UploadedFile``).
FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], File]


def _basename(name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    return posixpath.basename(name.replace("\\", "/")) or None


def prepare(file: FileInput | PreparedImage, filename: str | None = None) -> PreparedImage:
    """``file`` read and validated once: the image that storing and sending then use.

    The one place input meets validation. A path to a regular file is validated a
    chunk at a time and read again from its path when it is stored, never held
    whole in memory; any other path (a FIFO, ``/dev/stdin``), bytes and open files
    (in memory already, or streams that cannot be read twice) are read whole, never
    much more than the size limit. An open file is left rewound, as a form expects.
    ``filename`` overrides the name taken from the path or file. A
    :class:`~django_wxpay_media.wechatpay.PreparedImage` is returned as it is.

    Raises :class:`~django_wxpay_media.wechatpay.errors.ImageValidationError` for an
    image WeChat Pay would refuse, ``OSError`` for one that cannot be read and
    ``TypeError`` for input of the wrong type.
    """
    if isinstance(file, PreparedImage):
        return file
    if isinstance(file, (bytes, bytearray, memoryview)):
        return prepare_image(bytes(file), filename)
    if isinstance(file, (str, os.PathLike)):
        return _prepare_path(Path(file), filename or Path(file).name)
    if not hasattr(file, "read"):
        raise TypeError(f"Cannot upload a {type(file).__name__}: give a path, bytes or an open binary file.")
    name = filename or _basename(getattr(file, "name", None))
    known_size = getattr(file, "size", None) if isinstance(file, File) else None
    if isinstance(known_size, int) and known_size > MAX_IMAGE_SIZE:
        check_size(known_size)  # before reading a huge upload into memory
    rewound = _rewind(file)  # like File.chunks(): a form field may have read it already
    data = _read_stream(file)
    if rewound:
        _rewind(file)  # leave it as a form would expect
    return prepare_image(data, name)


def _prepare_path(path: Path, name: str) -> PreparedImage:
    info = path.stat()
    with path.open("rb") as fh:
        if stat.S_ISREG(info.st_mode) and info.st_size > 0:
            return prepare_file(fh, name, opener=_SourcePath(path, fh))
        # A FIFO or /dev/stdin reports size 0 (a regular file of size 0 is empty: refused).
        return prepare_image(_read_stream(fh, size_hint=info.st_size), name)


def _rewind(file: Any) -> bool:
    """Seek ``file`` to its start if it can seek (a pipe or socket cannot); True if it did."""
    seek = getattr(file, "seek", None)
    if not callable(seek):
        return False
    seekable = getattr(file, "seekable", None)
    try:
        if callable(seekable) and not seekable():
            return False
        seek(0)
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return False
    return True


#: How much one ``read()`` asks for: the size limit is read in a few calls.
_CHUNK = 1 << 20


def _read_stream(file: Any, *, size_hint: int = 0) -> bytes:
    """Everything ``file.read()`` gives until EOF, refusing more than the size limit.

    ``read(n)`` may return fewer than ``n`` bytes before the end (pipes, sockets,
    raw files, some wrappers): keep reading until it returns nothing. A file whose
    size is known (``size_hint``) is read in one call, and a file that came in one
    piece is returned as that piece: no second copy of the image in memory.
    """
    chunks: list[bytes] = []
    total = 0
    first = min(size_hint + 1, MAX_IMAGE_SIZE + 1) if size_hint > 0 else _CHUNK
    while True:
        chunk = file.read(first if not chunks else min(_CHUNK, MAX_IMAGE_SIZE + 1 - total))
        if chunk is None:  # a non-blocking stream with nothing to read now: we cannot wait for it
            raise BlockingIOError(errno.EAGAIN, "the stream has no data ready (non-blocking)")
        if isinstance(chunk, str):
            raise TypeError("The file is open in text mode; open it in binary mode ('rb').")
        if not chunk:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.append(bytes(chunk))  # the same object when it is bytes already
        total += len(chunk)
        if total > MAX_IMAGE_SIZE:
            # Too large: count the rest (a chunk at a time) so the message gives the real size.
            check_size(total + sum(len(rest) for rest in iter(lambda: file.read(_CHUNK) or b"", b"")))


class _SourcePath:
    """Opens a validated file again, refusing it if it changed since it was validated.

    A path is read again to be stored; rather than hash it a second time (a
    millisecond per 2 MiB), its identity (device, inode, size, modification and
    change times) is compared with what it was when it was validated, as ``make``
    and ``rsync`` decide whether a file changed.
    """

    def __init__(self, path: Path, validated: IO[bytes]) -> None:
        self.path = path
        self.identity = self._identity(validated)

    @staticmethod
    def _identity(handle: IO[bytes]) -> tuple[int, ...]:
        info = os.fstat(handle.fileno())
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    def unchanged(self, handle: IO[bytes]) -> bool:
        return self._identity(handle) == self.identity

    def __call__(self) -> IO[bytes]:
        handle = self.path.open("rb")
        if not self.unchanged(handle):
            handle.close()
            raise OSError(f"{self.path.name!r} changed after it was validated; nothing was kept.")
        return handle


def _seekable(file: Any) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError, ValueError):
        return False
