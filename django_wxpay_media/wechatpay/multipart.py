"""The exact multipart/form-data body of an image upload.

Built by hand rather than by ``requests``/urllib3 so that the bytes are
deterministic and the ``meta`` part is byte for byte the signed text, and so that a
non-ASCII file name goes as UTF-8 inside ``filename="..."`` (RFC 7578): WeChat's
parser rejects the RFC 2231 ``filename*=`` form some libraries emit.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

CRLF = b"\r\n"


def new_boundary() -> str:
    return "wxpaymedia" + secrets.token_hex(16)


def _quote(value: str) -> bytes:
    # validation.normalize_filename already removed quotes, backslashes and
    # control characters; encode them anyway as HTML forms do (RFC 7578 4.2).
    value = value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    return value.encode("utf-8")


class MultipartBody:
    """The body as three pieces: the headers and ``meta`` part, the image bytes, the tail.

    Sized and iterable, never joined: ``requests`` sends a sized iterable with a
    ``Content-Length`` (from ``len()``) and hands each piece to ``sendall``, so the
    image's 2 MiB are not copied for the request. ``bytes(body)`` joins the pieces
    (one copy) for whoever needs a single buffer.
    """

    __slots__ = ("_length", "parts")

    def __init__(self, parts: tuple[bytes, ...]) -> None:
        self.parts = parts
        self._length = sum(len(part) for part in parts)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.parts)

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)

    def __repr__(self) -> str:
        return f"<MultipartBody {self._length} bytes>"


def body_parts(meta: str, filename: str, data: bytes, content_type: str, boundary: str) -> MultipartBody:
    """``meta`` part (application/json) then ``file`` part, CRLF line ends, as pieces.

    ``data`` is kept as given (not copied); only the small head and tail are built.
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


def build_body(meta: str, filename: str, data: bytes, content_type: str, boundary: str) -> bytes:
    """The whole body as one ``bytes`` (see :func:`body_parts`): the image is copied once."""
    return bytes(body_parts(meta, filename, data, content_type, boundary))


def content_type(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"
