"""The checks WeChat Pay documents for ``POST /v3/merchant-service/images/upload``.

Each violation is a 400 PARAM_ERROR with a message naming the rule.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .multipart import Part
from .protocol import param_error, strict_json

__all__ = [
    "MAX_FILENAME_LENGTH",
    "MAX_FILE_SIZE",
    "META_WITHOUT_CONTENT_TYPE",
    "UploadForm",
    "detect_format",
    "split_parts",
    "validate_upload",
]

MAX_FILE_SIZE = 2 * 1024 * 1024
MAX_FILENAME_LENGTH = 128
SUFFIXES = ("jpg", "png", "bmp")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
_MAGIC = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"BM", "bmp"))
_FORMAT_NAMES = {"jpg": "JPEG", "png": "PNG", "bmp": "BMP"}
#: Request-log note for a meta part sent without a Content-Type header.
META_WITHOUT_CONTENT_TYPE = (
    "the meta part has no Content-Type; it was read as application/json (WeChat Pay accepts this)"
)


@dataclass(frozen=True)
class UploadForm:
    """The two form parts of an upload: the raw meta text and the file.

    ``notes`` are remarks for the request log about what was accepted although it
    differs from the documented form.
    """

    meta_bytes: bytes
    file: Part
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidUpload:
    """An upload that passed every check."""

    filename: str
    sha256: str
    data: bytes
    meta_text: str
    extension: str
    file_content_type: str | None


def detect_format(data: bytes) -> str | None:
    """``"jpg"``, ``"png"`` or ``"bmp"`` from the magic bytes, else ``None``."""
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    return None


def split_parts(parts: list[Part]) -> UploadForm:
    """Exactly one ``meta`` part (application/json, no filename) and one ``file`` part.

    A meta part without any Content-Type is accepted with a note: WeChat Pay takes
    it (wechatpayv3 sends it so), and a stand-in must not refuse what the real
    server accepts. A meta part that names another type is refused.
    """
    names = [p.name for p in parts]
    unexpected = sorted({n for n in names if n not in ("meta", "file")})
    if unexpected:
        raise param_error(f"unexpected form part(s): {', '.join(unexpected)} (only meta and file are accepted)")
    for name in ("meta", "file"):
        if names.count(name) == 0:
            raise param_error(f"form part {name!r} is missing")
        if names.count(name) > 1:
            raise param_error(f"form part {name!r} is given more than once")
    meta = next(p for p in parts if p.name == "meta")
    file = next(p for p in parts if p.name == "file")
    notes: tuple[str, ...] = ()
    if meta.content_type is None:
        notes = (META_WITHOUT_CONTENT_TYPE,)
    elif meta.content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise param_error("the meta part must have Content-Type: application/json")
    if meta.filename is not None:
        raise param_error("the meta part must not have a filename")
    if file.filename is None:
        raise param_error('the file part must have a filename="..." parameter')
    return UploadForm(meta_bytes=meta.content, file=file, notes=notes)


def meta_text(form: UploadForm) -> str:
    """The meta part as text (it must be UTF-8)."""
    try:
        return form.meta_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise param_error("the meta part is not valid UTF-8") from None


def _check_filename(filename: str) -> None:
    if not 1 <= len(filename) <= MAX_FILENAME_LENGTH:
        raise param_error(f"meta filename must be 1 to {MAX_FILENAME_LENGTH} characters, not {len(filename)}")
    for ch in filename:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise param_error("meta filename contains a lone surrogate (not UTF-8 text)")
        if ord(ch) > 0xFFFF:
            raise param_error("meta filename contains a 4-byte UTF-8 character (emoji and the like are not accepted)")
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise param_error("meta filename contains a control character")
    _stem, dot, suffix = filename.rpartition(".")
    if not dot or suffix.lower() not in SUFFIXES:
        raise param_error("meta filename must end in .jpg, .png or .bmp (upper or lower case)")


def validate_upload(form: UploadForm, text: str) -> ValidUpload:
    """Apply the documented rules to the meta JSON and the file; 400 on the first violation."""
    meta = strict_json(text, "meta")
    if not isinstance(meta, dict):
        raise param_error("meta must be a JSON object")
    keys = set(meta)
    if keys != {"filename", "sha256"}:
        extra = sorted(keys - {"filename", "sha256"})
        missing = sorted({"filename", "sha256"} - keys)
        detail = "; ".join(
            filter(
                None,
                [f"missing {', '.join(missing)}" if missing else "", f"unexpected {', '.join(extra)}" if extra else ""],
            )
        )
        raise param_error(f"meta must have exactly filename and sha256 ({detail})")
    filename, digest = meta["filename"], meta["sha256"]
    if not isinstance(filename, str):
        raise param_error("meta filename must be a string")
    if not isinstance(digest, str):
        raise param_error("meta sha256 must be a string")
    _check_filename(filename)
    if form.file.filename != filename:
        raise param_error("the file part's filename differs from the meta filename")
    data = form.file.content
    if not data:
        raise param_error("the file is empty")
    if len(data) > MAX_FILE_SIZE:
        raise param_error(f"the file is {len(data)} bytes; at most {MAX_FILE_SIZE} bytes (2 MB) are accepted")
    if not _SHA256.match(digest):
        raise param_error("meta sha256 must be 64 lower-case hex characters")
    if hashlib.sha256(data).hexdigest() != digest:
        raise param_error("meta sha256 does not match the sha256 of the file bytes")
    real = detect_format(data)
    if real is None:
        raise param_error("the file is not a JPEG, PNG or BMP image (judged by its content)")
    suffix = filename.rpartition(".")[2].lower()
    if suffix != real:
        raise param_error(
            f"the file is a {_FORMAT_NAMES[real]} image but its name ends in .{suffix} (expected .{real})"
        )
    return ValidUpload(
        filename=filename,
        sha256=digest,
        data=data,
        meta_text=text,
        extension=real,
        file_content_type=form.file.content_type,
    )
