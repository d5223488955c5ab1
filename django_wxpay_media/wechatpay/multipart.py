"""The exact multipart/form-data body of an image upload.

Built by hand rather than by ``requests``/urllib3 so that the bytes are
deterministic and the ``meta`` part is byte for byte the signed text, and so that a
non-ASCII file name goes as UTF-8 inside ``filename="..."`` (RFC 7578): WeChat's
parser rejects the RFC 2231 ``filename*=`` form some libraries emit.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import IO

CRLF = b"\r\n"


def new_boundary() -> str:
    return "wxpaymedia" + secrets.token_hex(16)


def _quote(value: str) -> bytes:
    # validation.normalize_filename already removed quotes, backslashes and
    # control characters; encode them anyway as HTML forms do (RFC 7578 4.2).
    value = value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    return value.encode("utf-8")


#: How much of a file one piece of the body holds when the image is sent from a file.
FILE_CHUNK_SIZE = 256 * 1024


class FileChunks:
    """A file's first ``size`` bytes as a sized iterable of chunks, read as they are sent.

    Each iteration opens the file again (``opener()``), so a retried request reads
    it again rather than keeping it: at most one chunk of the image is in memory.
    A file shorter than ``size`` raises ``OSError`` (it changed since it was
    validated); ``requests`` reports that as a failed request.
    """

    __slots__ = ("chunk_size", "opener", "size")

    def __init__(self, opener: Callable[[], IO[bytes]], size: int, chunk_size: int = FILE_CHUNK_SIZE) -> None:
        self.opener = opener
        self.size = size
        self.chunk_size = chunk_size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        with self.opener() as fh:
            remaining = self.size
            while remaining > 0:
                chunk = fh.read(min(self.chunk_size, remaining))
                if not chunk:
                    raise OSError(f"The file ended {remaining} bytes early: it changed since it was validated.")
                remaining -= len(chunk)
                yield bytes(chunk)

    def __repr__(self) -> str:
        return f"<FileChunks {self.size} bytes>"


#: One piece of the body: bytes, or the image read from its file as it is sent.
Piece = bytes | FileChunks


class MultipartBody:
    """The body as three pieces: the headers and ``meta`` part, the image, the tail.

    Sized and iterable, never joined: ``requests`` sends a sized iterable with a
    ``Content-Length`` (from ``len()``) and hands each piece to ``sendall``, so the
    image's 2 MiB are not copied for the request. The image piece is its bytes, or
    a :class:`FileChunks` read from its file while it is sent. ``bytes(body)``
    joins the pieces (one copy) for whoever needs a single buffer.
    """

    __slots__ = ("_length", "parts")

    def __init__(self, parts: tuple[Piece, ...]) -> None:
        self.parts = parts
        self._length = sum(len(part) for part in parts)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            if isinstance(part, FileChunks):
                yield from part
            else:
                yield part

    def __bytes__(self) -> bytes:
        return b"".join(self)

    def __repr__(self) -> str:
        return f"<MultipartBody {self._length} bytes>"


def body_parts(meta: str, filename: str, data: Piece, content_type: str, boundary: str) -> MultipartBody:
    """``meta`` part (application/json) then ``file`` part, CRLF line ends, as pieces.

    ``data`` (the image's bytes, or :class:`FileChunks` over its file) is kept as
    given (not copied, not read); only the small head and tail are built.
    """
    dash = b"--" + boundary.encode("ascii")
    head = b"".join(
        [
            dash + CRLF,
            b'Content-Disposition: form-data; name="meta"' + CRLF,
            b"Content-Type: application/json" + CRLF,
            CRLF,
            meta.encode("utf-8") + CRLF,
            dash + CRLF,
            b'Content-Disposition: form-data; name="file"; filename="' + _quote(filename) + b'"' + CRLF,
            b"Content-Type: " + content_type.encode("ascii") + CRLF,
            CRLF,
        ]
    )
    return MultipartBody((head, data, CRLF + dash + b"--" + CRLF))


def build_body(meta: str, filename: str, data: Piece, content_type: str, boundary: str) -> bytes:
    """The whole body as one ``bytes`` (see :func:`body_parts`): the image is copied once."""
    return bytes(body_parts(meta, filename, data, content_type, boundary))


def content_type(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"
