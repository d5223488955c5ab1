"""Everything WeChat Pay would refuse about a file, checked before any network call.

The format comes from the file's first bytes, never from its name, so no imaging
library is needed; the name is normalised to what the upload API accepts.
"""

from __future__ import annotations

import hashlib
import posixpath
import unicodedata
from dataclasses import dataclass, field

from .errors import EmptyImageError, ImageTooLargeError, UnsupportedImageFormatError

#: The upload API takes at most 2 MB; WeChat counts in binary units.
MAX_IMAGE_SIZE = 2 * 1024 * 1024
#: ``filename`` in the meta JSON is string[1,128].
MAX_FILENAME_LENGTH = 128
DEFAULT_STEM = "image"


@dataclass(frozen=True)
class ImageFormat:
    name: str
    extension: str
    content_type: str


JPEG = ImageFormat("JPEG", "jpg", "image/jpeg")
PNG = ImageFormat("PNG", "png", "image/png")
BMP = ImageFormat("BMP", "bmp", "image/bmp")
FORMATS = (JPEG, PNG, BMP)

# Suffixes that name an image format: replaced by the real one rather than kept.
_IMAGE_SUFFIXES = {"jpg", "jpeg", "jpe", "jfif", "png", "bmp", "dib", "gif", "webp", "heic", "tif", "tiff"}
# BITMAPINFOHEADER sizes of the BMP variants Windows and common tools write.
_BMP_DIB_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def detect_format(data: bytes) -> ImageFormat | None:
    """The image format named by ``data``'s magic bytes, or ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    # "BM" alone is too weak (any text may start with it): check the DIB header size too.
    if len(data) >= 18 and data.startswith(b"BM"):
        if int.from_bytes(data[14:18], "little") in _BMP_DIB_HEADER_SIZES:
            return BMP
    return None


def _allowed_char(ch: str) -> bool:
    if ord(ch) > 0xFFFF:  # APIv3 text takes only 1-3 byte UTF-8 (no emoji)
        return False
    if unicodedata.category(ch) in ("Cc", "Cs"):  # control characters, lone surrogates
        return False
    return ch not in '"\\/'  # quotes break the multipart header; slashes are paths


def normalize_filename(filename: str | None, image_format: ImageFormat) -> str:
    """A name the upload API accepts, with the suffix of ``image_format``.

    Directory parts, control characters, quotes and characters outside the Basic
    Multilingual Plane are removed; an image suffix is replaced by the real one
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
    """A validated image, ready to upload: bytes, normalised name and digest."""

    data: bytes = field(repr=False)
    filename: str
    sha256: str
    format: ImageFormat

    @property
    def size(self) -> int:
        return len(self.data)

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
    """The format of ``data`` if it is a JPEG, PNG or BMP image, else :class:`~.errors.ImageValidationError`.

    No size limit is applied here (see :func:`check_size`).
    """
    image_format = detect_format(data)
    if image_format is None:
        raise UnsupportedImageFormatError(
            "The file is not a JPEG, PNG or BMP image (checked by its content, not its name)."
        )
    return image_format


def prepare_image(data: bytes, filename: str | None = None) -> PreparedImage:
    """Validate ``data`` and return it with its normalised name and sha256.

    Raises a subclass of :class:`~.errors.ImageValidationError` for a file WeChat
    Pay would refuse: empty, larger than 2 MB, or not a JPEG, PNG or BMP image.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"image data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    check_size(len(data))
    image_format = detect_format(data)
    if image_format is None:
        raise UnsupportedImageFormatError(
            "The file is not a JPEG, PNG or BMP image (checked by its content, not its name).",
            filename=filename or "",
        )
    name = normalize_filename(filename, image_format)
    return PreparedImage(data=data, filename=name, sha256=hashlib.sha256(data).hexdigest(), format=image_format)
