"""Errors of the Django layer, apart from the protocol's.

One coded base, :class:`~django_wxpay_media.wechatpay.errors.CodedError` (in the
protocol layer, no Django), and two roots built on it, one per layer:

* :class:`~django_wxpay_media.wechatpay.errors.WeChatPayError` (in
  :mod:`django_wxpay_media.wechatpay.errors`): the protocol said no (invalid image,
  WeChat Pay's error codes, transport, answers that cannot be trusted);
* :class:`WxpayMediaError` (here): what only the Django layer knows about (the
  stored file, another process uploading, the merchant a record was made for, a
  failure read back from a record, the upload wrapper :class:`UploadFailed`).

Both carry the base's stable ``code``, ``params`` and English ``str()`` (for logs and
``FeedbackImage.error_message``); no message ever contains key material. The
staff-facing, translated sentence for any of them comes from
:func:`django_wxpay_media.texts.error_message`: texts read these errors, never the reverse.
Callers rarely catch these: the services return
:class:`~django_wxpay_media.outcome.UploadOutcome` values that carry them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .wechatpay.errors import CodedError, WeChatPayError

if TYPE_CHECKING:
    from .models import FeedbackImage
    from .outcome import UploadOutcome

__all__ = [
    "CodedError",
    "FileUnreadableError",
    "MerchantMismatchError",
    "RecordSaveError",
    "RecordedError",
    "StorageError",
    "StoredFileChangedError",
    "StoredFileError",
    "StoredFileMissingError",
    "UploadFailed",
    "UploadInProgressError",
    "WeChatPayError",
    "WxpayMediaError",
]


class WxpayMediaError(CodedError):
    """Root of the errors the Django layer raises itself (not a :class:`WeChatPayError`).

    The protocol layer's :class:`~django_wxpay_media.wechatpay.errors.CodedError`:
    a stable ``code``, ``params`` for the translated message, an English ``str()``.
    """

    code = "WXPAY_MEDIA_ERROR"


class FileUnreadableError(WxpayMediaError):
    """A path (or file object) given to an upload could not be read; nothing stored.

    ``params``: ``reason`` (the operating system's words); the ``OSError`` is the cause.
    """

    code = "FILE_UNREADABLE"


class StorageError(WxpayMediaError):
    """The file could not be written to the storage (disk full, storage down...); nothing stored."""

    code = "STORAGE_ERROR"


class StoredFileError(WxpayMediaError):
    """The stored copy of an image cannot be uploaded again."""

    code = "STORED_FILE_ERROR"


class StoredFileMissingError(StoredFileError):
    """The file a record points to is no longer in storage."""

    code = "FILE_MISSING"


class StoredFileChangedError(StoredFileError):
    """The stored file's bytes no longer match the record's sha256."""

    code = "FILE_CHANGED"


class UploadInProgressError(WxpayMediaError):
    """Another process is uploading the same image and has not finished."""

    code = "UPLOAD_IN_PROGRESS"


class RecordSaveError(WxpayMediaError):
    """WeChat Pay accepted the image, but its answer could not be saved on the record.

    The record is marked failed (never left ``uploading``); a retry uploads again.
    ``params``: ``media_id`` (what WeChat Pay answered).
    """

    code = "RECORD_ERROR"


class MerchantMismatchError(WxpayMediaError):
    """A record made for another merchant number than the one configured now.

    ``params``: ``mchid`` (the record's) and ``current`` (``WXPAY_MEDIA['MCHID']``).
    """

    code = "MERCHANT_MISMATCH"


class RecordedError(WxpayMediaError):
    """A failure read back from a record, for a caller that waited on another's attempt.

    It carries the record's ``error_code`` as ``code`` (so :func:`~django_wxpay_media.texts.error_message`
    explains it like the original), its ``error_message`` and ``request_id``.
    """

    family_code = "API_ERROR"  # a code without a sentence of its own is WeChat Pay's: quoted

    def __init__(self, code: str, message: str = "", *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code or WeChatPayError.code
        self.request_id = request_id or None

    @classmethod
    def from_image(cls, image: FeedbackImage) -> RecordedError:
        """The failure ``image`` records (its ``error_code``, ``error_message``, ``request_id``)."""
        return cls(image.error_code, image.error_message, request_id=image.request_id)


class UploadFailed(WxpayMediaError):
    """Raised by :func:`~django_wxpay_media.services.upload_image` for an outcome that is not ok.

    ``image`` is the :class:`~django_wxpay_media.models.FeedbackImage` when one
    exists (status ``failed``, with ``error_code``, ``error_message`` and
    ``request_id``; its file stays stored so that
    :func:`~django_wxpay_media.services.retry` can finish it), else ``None``
    (invalid input: nothing stored). ``error`` is the cause (a
    :class:`~django_wxpay_media.wechatpay.errors.WeChatPayError` or a
    :class:`WxpayMediaError`); ``outcome`` the whole
    :class:`~django_wxpay_media.outcome.UploadOutcome`.
    """

    def __init__(
        self,
        image: FeedbackImage | None,
        error: BaseException,
        *,
        outcome: UploadOutcome | None = None,
    ) -> None:
        super().__init__(str(error))
        self.args = (image, error)
        self.image = image
        self.error = error
        self.outcome = outcome
        #: The cause's code: WeChat Pay's (e.g. ``PARAM_ERROR``) or ours (e.g. ``TIMEOUT``).
        self.code = str(getattr(error, "code", "") or type(error).__name__)

    @property
    def explained_by(self) -> BaseException:
        """The cause: staff are told why the upload failed, not that it did."""
        return self.error

    @property
    def request_id(self) -> str | None:
        """WeChat Pay's Request-ID of the failed answer, when there was an answer."""
        return getattr(self.error, "request_id", None) or None

    def __str__(self) -> str:
        if self.image is None:
            return f"Upload failed: {self.error}"
        return f"Uploading {self.image.filename!r} (FeedbackImage {self.image.pk}) failed: {self.error}"
