"""The exact multipart/form-data body of an image upload.

Built by hand rather than by ``requests``/urllib3 so that the bytes are
deterministic and the ``meta`` part is byte for byte the signed text, and so that a
non-ASCII file name goes as UTF-8 inside ``filename="..."`` (RFC 7578): WeChat's
parser rejects the RFC 2231 ``filename*=`` form some libraries emit.
"""

from __future__ import annotations

import secrets

CRLF = b"\r\n"


def new_boundary() -> str:
    return "wxpaymedia" + secrets.token_hex(16)


def _quote(value: str) -> bytes:
    # validation.normalize_filename already removed quotes, backslashes and
    # control characters; encode them anyway as HTML forms do (RFC 7578 4.2).
    value = value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    return value.encode("utf-8")


def build_body(meta: str, filename: str, data: bytes, content_type: str, boundary: str) -> bytes:
    """``meta`` part (application/json) then ``file`` part, CRLF line ends."""
    dash = b"--" + boundary.encode("ascii")
    return b"".join(
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
            data + CRLF,
            dash + b"--" + CRLF,
        ]
    )


def content_type(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"
