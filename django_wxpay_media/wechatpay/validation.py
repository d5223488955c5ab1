"""Everything WeChat Pay would refuse about a file, checked before any network call.

The format comes from the file's first bytes, never from its name, and the file's
structure is walked (:mod:`.structure`), so a cut-off or broken file is refused
while no imaging library is needed; the size is checked, and the name is
normalised to what the upload API accepts. The result is a :class:`PreparedImage`.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import IO

from .errors import (
    EmptyImageError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)
from .structure import BMP, FORMATS, JPEG, PNG, ImageFormat, _check_structure, _FileView, detect_format

#: The upload API takes at most 2 MB; WeChat counts in binary units.
MAX_IMAGE_SIZE = 2 * 1024 * 1024
#: ``filename`` in the meta JSON is string[1,128].
MAX_FILENAME_LENGTH = 128
DEFAULT_STEM = "image"


# Suffixes that name an image format: replaced by the real one rather than kept.
_IMAGE_SUFFIXES = {"jpg", "jpeg", "jpe", "jfif", "png", "bmp", "dib", "gif", "webp", "heic", "tif", "tiff"}


def _allowed_char(ch: str) -> bool:
    if ord(ch) > 0xFFFF:  # APIv3 text takes only 1-3 byte UTF-8 (no emoji)
        return False
    # Control characters, lone surrogates, and invisible formatting (Cf: bidi overrides
    # such as U+202E that make "gpj.exe" read as "exe.jpg", zero-width spaces and
    # joiners, BOM; Zl/Zp: line and paragraph separators) that would hide what a name says.
    if unicodedata.category(ch) in ("Cc", "Cs", "Cf", "Zl", "Zp"):
        return False
    return ch not in '"\\/'  # quotes break the multipart header; slashes are paths


def normalize_filename(filename: str | None, image_format: ImageFormat) -> str:
    """A name the upload API accepts, with the suffix of ``image_format``.

    Directory parts, control characters, invisible formatting characters (Unicode
    categories Cf, Zl, Zp), quotes and characters outside the Basic Multilingual
    Plane are removed; an image suffix is replaced by the real one
    (``photo.jpeg`` -> ``photo.jpg``, PNG bytes named ``x.jpg`` -> ``x.png``); the
    result is at most 128 characters and keeps its suffix.
    """
    name = (filename or "").replace("\\", "/")
    name = posixpath.basename(name)
    name = "".join(ch for ch in name if _allowed_char(ch))
    name = unicodedata.normalize("NFC", name).strip()
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem = name
    elif suffix.lower() not in _IMAGE_SUFFIXES:
        stem = name  # "report.pdf" with JPEG bytes -> "report.pdf.jpg"
    stem = stem.strip().rstrip(".").strip()
    if not stem:
        stem = DEFAULT_STEM
    extension = "." + image_format.extension
    stem = stem[: MAX_FILENAME_LENGTH - len(extension)].rstrip()
    return stem + extension


@dataclass(frozen=True)
class PreparedImage:
    """A validated image, ready to upload: bytes, normalised name and digest.

    An image validated from a file (:func:`prepare_file`) has an ``opener`` instead
    of its bytes (``data`` is then empty): it is read from the file, a chunk at a
    time, whenever it is stored or sent.
    """

    data: bytes = field(repr=False)
    filename: str
    sha256: str
    format: ImageFormat
    #: Opens the validated file again (binary, from its start); ``None`` when ``data`` holds the image.
    opener: Callable[[], IO[bytes]] | None = field(default=None, repr=False, compare=False)
    #: The file's size when ``opener`` is set.
    length: int = field(default=0, repr=False)

    @property
    def size(self) -> int:
        return self.length if self.opener is not None else len(self.data)

    def reading_from(self, opener: Callable[[], IO[bytes]]) -> PreparedImage:
        """The same image, read from ``opener`` from now on (a copy of the file, e.g. once stored)."""
        return replace(self, data=b"", opener=opener, length=self.size)

    @property
    def content_type(self) -> str:
        return self.format.content_type


def check_size(size: int) -> None:
    """Raise unless ``size`` is within what the API takes (1 byte to 2 MiB)."""
    if size <= 0:
        raise EmptyImageError("The file is empty.", size=size)
    if size > MAX_IMAGE_SIZE:
        raise ImageTooLargeError(
            f"The file is {size} bytes; WeChat Pay accepts at most {MAX_IMAGE_SIZE} bytes (2 MB).",
            size=size,
            max_size=MAX_IMAGE_SIZE,
        )


def check_image(data: bytes) -> ImageFormat:
    """The format of ``data`` if it is a whole JPEG, PNG or BMP image.

    Raises :class:`~.errors.UnsupportedImageFormatError` (not one of these formats),
    :class:`~.errors.TruncatedImageError` (its end is missing) or
    :class:`~.errors.CorruptImageError` (its structure is broken). No size limit is
    applied here (see :func:`check_size`).
    """
    return _check_structure(memoryview(data))


def prepare_image(data: bytes, filename: str | None = None) -> PreparedImage:
    """Validate ``data`` and return it with its normalised name and sha256.

    Raises a subclass of :class:`~.errors.ImageValidationError` for a file WeChat
    Pay would refuse: empty, larger than 2 MB, not a JPEG, PNG or BMP image, or
    one that is cut off or damaged (see :func:`check_image`).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"image data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    check_size(len(data))
    try:
        image_format = check_image(data)
    except UnsupportedImageFormatError as err:
        err.params["filename"] = filename or ""
        raise
    name = normalize_filename(filename, image_format)
    return PreparedImage(data=data, filename=name, sha256=hashlib.sha256(data).hexdigest(), format=image_format)


#: How much one ``read()`` of :func:`prepare_file` asks for while hashing.
READ_CHUNK = 256 * 1024


def prepare_file(
    file: IO[bytes], filename: str | None = None, *, opener: Callable[[], IO[bytes]] | None = None
) -> PreparedImage:
    """Validate a seekable binary file like :func:`prepare_image`, without loading it.

    The digest is taken a chunk at a time and the structure walk reads only what it
    needs (headers, chunk and segment lengths; the JPEG end marker is searched a
    window at a time). ``opener`` opens the same file again, for storing and
    sending it (the result reads from it; ``data`` is empty); without one the file
    is read whole and the result holds its bytes. Raises like :func:`prepare_image`,
    and ``OSError`` when the file cannot be read or cannot seek.
    """
    if not file.seekable():
        raise io.UnsupportedOperation("the file cannot seek")
    file.seek(0, io.SEEK_END)
    size = file.tell()  # not seek()'s result: some wrappers return None
    check_size(size)
    file.seek(0)
    if opener is None:
        return prepare_image(_read_exact(file, size), filename)
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = file.read(READ_CHUNK)
        if not chunk:
            break
        if isinstance(chunk, str):
            raise TypeError("The file is open in text mode; open it in binary mode ('rb').")
        digest.update(chunk)
        total += len(chunk)
        if total > size:  # it grew while read: refuse what is there now, not what was
            break
    if total != size:
        raise OSError(f"The file changed size while it was read ({size} then {total} bytes).")
    try:
        image_format = _check_structure(_FileView(file, size))
    except UnsupportedImageFormatError as err:
        err.params["filename"] = filename or ""
        raise
    name = normalize_filename(filename, image_format)
    return PreparedImage(
        data=b"", filename=name, sha256=digest.hexdigest(), format=image_format, opener=opener, length=size
    )


def _read_exact(file: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = file.read(size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


__all__ = [
    "BMP",
    "DEFAULT_STEM",
    "FORMATS",
    "JPEG",
    "MAX_FILENAME_LENGTH",
    "MAX_IMAGE_SIZE",
    "PNG",
    "READ_CHUNK",
    "ImageFormat",
    "PreparedImage",
    "check_image",
    "check_size",
    "detect_format",
    "normalize_filename",
    "prepare_file",
    "prepare_image",
]
