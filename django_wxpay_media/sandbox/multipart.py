"""A small, strict multipart/form-data parser that keeps every part's raw bytes.

Strict where WeChat Pay's parser is (as far as its documentation says): every line
ends in CRLF, the body starts with the first boundary (no preamble), ends with the
closing boundary (at most a CRLF after it), part headers are UTF-8 and a file name
is UTF-8 inside ``filename="…"`` (RFC 7578) — the RFC 2231 ``filename*=`` form is
refused. Linear white space after a boundary (RFC 2046 "transport padding") and a
trailing ``;`` in ``Content-Disposition`` (the official example has one) are accepted.

A ``multipart/form-data`` Content-Type without a ``boundary`` parameter is accepted
too, as WeChat Pay accepts it (WxJava issue 3280; wechatpayv3 2.0.4 sends exactly
that): the boundary is read from the body's first line (:func:`find_boundary`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "BOUNDARY_FROM_BODY",
    "MultipartError",
    "Part",
    "find_boundary",
    "parse_boundary",
    "parse_multipart",
    "parse_params",
]

CRLF = b"\r\n"
_BOUNDARY_CHARS = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]\Z")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_HEADER_NAME = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_PADDING = b" \t"
_ALLOWED_TRANSFER_ENCODINGS = {"7bit", "8bit", "binary"}
#: The request log's note when the boundary came from the body, not the header.
BOUNDARY_FROM_BODY = (
    "Content-Type multipart/form-data has no boundary parameter; "
    "the boundary was read from the body's first line (WeChat Pay accepts this)"
)


class MultipartError(ValueError):
    """The body is not acceptable multipart/form-data; the message says why."""


@dataclass
class Part:
    """One form-data part: its name, optional filename, headers and raw content bytes."""

    name: str
    filename: str | None
    headers: dict[str, str]
    content: bytes = field(repr=False)

    @property
    def content_type(self) -> str | None:
        """The part's ``Content-Type`` header, or ``None``."""
        return self.headers.get("content-type")


def parse_params(value: str, *, what: str) -> tuple[str, dict[str, str]]:
    """Split ``type; a=b; c="d"`` into ``("type", {"a": "b", "c": "d"})``.

    Parameter names are lower-cased. Quoted values end at the next ``"``; a
    backslash inside quotes is refused (no escaping is agreed between the parties),
    so is a duplicate parameter. A trailing ``;`` is tolerated.
    """
    head, sep, rest = value.partition(";")
    main = head.strip()
    params: dict[str, str] = {}
    i = 0
    rest = rest if sep else ""
    while i < len(rest):
        ch = rest[i]
        if ch in " \t;":
            i += 1
            continue
        eq = rest.find("=", i)
        if eq < 0:
            raise MultipartError(f"{what}: parameter {rest[i:].strip()!r} has no value")
        name = rest[i:eq].strip().lower()
        if not _TOKEN.match(name):
            raise MultipartError(f"{what}: bad parameter name {name!r}")
        i = eq + 1
        while i < len(rest) and rest[i] in " \t":
            i += 1
        if i < len(rest) and rest[i] == '"':
            end = rest.find('"', i + 1)
            if end < 0:
                raise MultipartError(f"{what}: unterminated quoted value for {name!r}")
            param = rest[i + 1 : end]
            if "\\" in param:
                raise MultipartError(f"{what}: backslash in the quoted value of {name!r}")
            i = end + 1
            while i < len(rest) and rest[i] in " \t":
                i += 1
            if i < len(rest) and rest[i] != ";":
                raise MultipartError(f"{what}: unexpected text after the quoted value of {name!r}")
        else:
            end = rest.find(";", i)
            end = len(rest) if end < 0 else end
            param = rest[i:end].strip()
            i = end
        if name in params:
            raise MultipartError(f"{what}: parameter {name!r} given twice")
        params[name] = param
    return main, params


def _form_data_params(content_type: str | None) -> dict[str, str]:
    if not content_type:
        raise MultipartError("Content-Type header is required (multipart/form-data; boundary=...)")
    main, params = parse_params(content_type, what="Content-Type")
    if main.lower() != "multipart/form-data":
        raise MultipartError(f"Content-Type must be multipart/form-data, not {main!r}")
    return params


def _checked(boundary: str) -> str:
    if not _BOUNDARY_CHARS.match(boundary):
        raise MultipartError("multipart boundary must be 1 to 70 characters allowed by RFC 2046")
    return boundary


def parse_boundary(content_type: str | None) -> str:
    """The boundary of a ``multipart/form-data`` Content-Type header value (required there)."""
    boundary = _form_data_params(content_type).get("boundary")
    if not boundary:
        raise MultipartError("Content-Type multipart/form-data has no boundary parameter")
    return _checked(boundary)


def find_boundary(content_type: str | None, body: bytes) -> tuple[str, str | None]:
    """The boundary of a multipart/form-data request, and a note if it came from the body.

    Without a ``boundary`` parameter the body's first line must be ``--boundary``
    (transport padding allowed): that boundary is used and :data:`BOUNDARY_FROM_BODY`
    is returned as the note; otherwise the note is ``None``.
    """
    params = _form_data_params(content_type)
    if "boundary" in params:
        if not params["boundary"]:
            raise MultipartError("Content-Type multipart/form-data has an empty boundary parameter")
        return _checked(params["boundary"]), None
    first, sep, _rest = body.partition(CRLF)
    if not sep or not first.startswith(b"--"):
        raise MultipartError(
            "Content-Type multipart/form-data has no boundary parameter, "
            "and the body's first line is not a --boundary line"
        )
    try:
        boundary = first[2:].rstrip(_PADDING).decode("ascii")
    except UnicodeDecodeError:
        raise MultipartError("multipart boundary must be 1 to 70 characters allowed by RFC 2046") from None
    return _checked(boundary), BOUNDARY_FROM_BODY


def _parse_headers(block: bytes, index: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(CRLF):
        if b"\r" in line or b"\n" in line:
            raise MultipartError(f"part {index}: header lines must end in CRLF")
        if line[:1] in (b" ", b"\t"):
            raise MultipartError(f"part {index}: folded header lines are not allowed")
        name, colon, raw_value = line.partition(b":")
        if not colon or not _HEADER_NAME.match(name):
            raise MultipartError(f"part {index}: malformed header line")
        try:
            value = raw_value.decode("utf-8").strip(" \t")
        except UnicodeDecodeError:
            raise MultipartError(f"part {index}: header values must be UTF-8") from None
        key = name.decode("ascii").lower()
        if key in headers:
            raise MultipartError(f"part {index}: header {key!r} given twice")
        headers[key] = value
    return headers


def _parse_part(raw: bytes, index: int) -> Part:
    if raw.startswith(CRLF):
        raise MultipartError(f"part {index} has no headers (Content-Disposition is required)")
    block, sep, content = raw.partition(CRLF + CRLF)
    if not sep:
        raise MultipartError(f"part {index}: no blank CRLF line between headers and content")
    headers = _parse_headers(block, index)
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MultipartError(f"part {index} has no Content-Disposition header")
    kind, params = parse_params(disposition, what=f"part {index} Content-Disposition")
    if kind.lower() != "form-data":
        raise MultipartError(f"part {index}: Content-Disposition must be form-data, not {kind!r}")
    if "filename*" in params:
        raise MultipartError(
            f"part {index}: the RFC 2231 filename*= parameter is not accepted; "
            'send the UTF-8 file name in filename="..." (RFC 7578)'
        )
    if "name*" in params:
        raise MultipartError(f"part {index}: the RFC 2231 name*= parameter is not accepted")
    name = params.get("name")
    if not name:
        raise MultipartError(f"part {index}: Content-Disposition has no name")
    cte = headers.get("content-transfer-encoding")
    if cte is not None and cte.lower() not in _ALLOWED_TRANSFER_ENCODINGS:
        raise MultipartError(f"part {index}: Content-Transfer-Encoding {cte!r} is not accepted")
    return Part(name=name, filename=params.get("filename"), headers=headers, content=content)


def parse_multipart(body: bytes, boundary: str) -> list[Part]:
    """Split ``body`` into its parts, raising :class:`MultipartError` on any deviation."""
    dash = b"--" + boundary.encode("ascii")
    if not body.startswith(dash):
        raise MultipartError("multipart body must start with --boundary (no preamble)")
    pieces = (CRLF + body).split(CRLF + dash)
    # pieces[0] is the (empty) preamble; each further piece follows one delimiter.
    parts: list[Part] = []
    for number, piece in enumerate(pieces[1:], start=1):
        if piece.startswith(b"--"):
            epilogue = piece[2:].lstrip(_PADDING)
            if number != len(pieces) - 1:
                raise MultipartError("text after the closing boundary")
            if epilogue not in (b"", CRLF):
                raise MultipartError("only a CRLF may follow the closing --boundary--")
            if not parts:
                raise MultipartError("multipart body has no parts")
            return parts
        after = piece.lstrip(_PADDING)
        if not after.startswith(CRLF):
            raise MultipartError("boundary lines must end in CRLF")
        parts.append(_parse_part(after[2:], number))
    raise MultipartError("multipart body has no closing --boundary--")
