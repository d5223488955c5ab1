"""Errors raised by the Django layer, and the staff-facing text for every error.

The protocol layer (:mod:`django_wxpay_media.wechatpay.errors`) raises English,
developer-facing errors with a stable ``code``. Here:

* :class:`UploadFailed` wraps such an error together with the record that keeps
  the failure (``exc.image``, ``exc.error``);
* a few errors of our own (stored file missing, an upload already running...)
  share the protocol layer's root class so that one ``except`` catches them all;
* :func:`user_message` turns any of them into a translated sentence for staff.

``str()`` of every error stays English (for logs and ``FeedbackImage.error_message``);
no message ever contains key material.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .wechatpay import MAX_IMAGE_SIZE, errors
from .wechatpay.errors import WeChatPayError

if TYPE_CHECKING:
    from .models import FeedbackImage

__all__ = [
    "MerchantMismatchError",
    "RecordedError",
    "StoredFileChangedError",
    "StoredFileError",
    "StoredFileMissingError",
    "UploadFailed",
    "UploadInProgressError",
    "WeChatPayError",
    "user_message",
]


class UploadFailed(Exception):
    """An upload did not succeed; the failure is kept on ``image``.

    ``image`` is the :class:`~django_wxpay_media.models.FeedbackImage` (status
    ``failed``, with ``error_code``, ``error_message`` and ``request_id``; its file
    stays stored so that :func:`~django_wxpay_media.services.retry` can finish it).
    ``error`` is the :class:`~django_wxpay_media.wechatpay.errors.WeChatPayError`
    that caused it.
    """

    def __init__(self, image: FeedbackImage, error: WeChatPayError) -> None:
        super().__init__(image, error)
        self.image = image
        self.error = error

    @property
    def code(self) -> str:
        """The cause's code: WeChat Pay's (e.g. ``PARAM_ERROR``) or ours (e.g. ``TIMEOUT``)."""
        return self.error.code

    @property
    def request_id(self) -> str | None:
        """WeChat Pay's Request-ID of the failed answer, when there was an answer."""
        return getattr(self.error, "request_id", None) or None

    def __str__(self) -> str:
        return f"Uploading {self.image.filename!r} (FeedbackImage {self.image.pk}) failed: {self.error}"


class StoredFileError(WeChatPayError):
    """The stored copy of an image cannot be uploaded again."""

    code = "STORED_FILE_ERROR"


class StoredFileMissingError(StoredFileError):
    """The file a record points to is no longer in storage."""

    code = "FILE_MISSING"


class StoredFileChangedError(StoredFileError):
    """The stored file's bytes no longer match the record's sha256."""

    code = "FILE_CHANGED"


class UploadInProgressError(WeChatPayError):
    """Another process is uploading the same image and has not finished."""

    code = "UPLOAD_IN_PROGRESS"


class MerchantMismatchError(WeChatPayError):
    """A record made for another merchant number than the one configured now.

    ``params``: ``mchid`` (the record's) and ``current`` (``WXPAY_MEDIA['MCHID']``).
    """

    code = "MERCHANT_MISMATCH"


class RecordedError(WeChatPayError):
    """A failure read back from a record, for a caller that waited on another's attempt.

    It carries the record's ``error_code`` as ``code`` (so :func:`user_message`
    explains it like the original), its ``error_message`` and ``request_id``.
    """

    def __init__(self, code: str, message: str = "", *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code or WeChatPayError.code
        self.request_id = request_id or None

    @classmethod
    def from_image(cls, image: FeedbackImage) -> RecordedError:
        return cls(image.error_code, image.error_message, request_id=image.request_id)


#: Staff-facing text per error code. Codes are those of the protocol layer, WeChat
#: Pay's documented codes for the upload API, and this package's own.
MESSAGES: dict[str, Promise] = {
    # Rejected before anything was sent.
    "EMPTY_FILE": _("The file is empty."),
    "FILE_TOO_LARGE": _("The file is %(size)s; WeChat Pay accepts images of at most %(max_size)s."),
    "UNSUPPORTED_FORMAT": _("The file is not a JPEG, PNG or BMP image."),
    "INVALID_IMAGE": _("WeChat Pay would not accept this file as an image."),
    # WeChat Pay's answers (the upload API's documented codes).
    "SYSTEM_ERROR": _("WeChat Pay had a temporary system error. Try again later."),
    "PARAM_ERROR": _("WeChat Pay rejected a parameter of the upload: %(message)s"),
    "FREQUENCY_LIMITED": _("Too many uploads to WeChat Pay in a short time. Wait a moment and try again."),
    "INVALID_REQUEST": _("WeChat Pay refused the upload under its business rules: %(message)s"),
    "SIGN_ERROR": _(
        "WeChat Pay could not verify the request's signature. Ask the site administrator to check "
        "the merchant private key and certificate serial number."
    ),
    "NO_AUTH": _(
        "This merchant account is not allowed to upload feedback images. "
        "The permission has to be enabled by WeChat Pay."
    ),
    "API_ERROR": _("WeChat Pay answered with an error (%(code)s): %(message)s"),
    # The exchange did not complete.
    "TIMEOUT": _("WeChat Pay did not answer in time. Try again later."),
    "CONNECTION_ERROR": _("Could not connect to WeChat Pay. Check the network and try again later."),
    "TRANSPORT_ERROR": _("The connection to WeChat Pay failed. Try again later."),
    # Answers that cannot be believed or read.
    "SIGNATURE_INVALID": _(
        "An answer claiming to come from WeChat Pay failed signature verification and was not "
        "trusted. Try again later; if it keeps happening, ask the site administrator to check the "
        "WeChat Pay public key or APIv3 key."
    ),
    "INVALID_RESPONSE": _("WeChat Pay's answer could not be understood. Try again later."),
    "RESPONSE_ERROR": _("WeChat Pay's answer could not be used. Try again later."),
    # This package's own.
    "CONFIGURATION": _(
        "Uploads to WeChat Pay are not configured correctly. Ask the site administrator to check "
        "the WXPAY_MEDIA setting."
    ),
    "FILE_MISSING": _("The stored copy of this image is missing, so it cannot be uploaded again."),
    "FILE_CHANGED": _("The stored copy of this image has changed since it was received, so it is not uploaded."),
    "STORED_FILE_ERROR": _("The stored copy of this image cannot be read."),
    "MERCHANT_MISMATCH": _(
        "This image was received for merchant %(mchid)s, but the site now uploads for merchant %(current)s."
    ),
    "UPLOAD_IN_PROGRESS": _("This image is being uploaded by another request. Try again in a moment."),
    "UNEXPECTED_ERROR": _("An unexpected error interrupted the upload. Try again later."),
}

_FALLBACK = _("The upload to WeChat Pay failed.")


def _params(exc: BaseException, code: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(getattr(exc, "params", None) or {})
    size, max_size = params.get("size"), params.get("max_size", MAX_IMAGE_SIZE)
    if isinstance(size, int) and isinstance(max_size, int):
        params["size"], params["max_size"] = filesizeformat(size), filesizeformat(max_size)
        if params["size"] == params["max_size"]:
            # "2.0 MB; at most 2.0 MB" explains nothing: show the bytes.
            params["size"] = _bytes(size)
            params["max_size"] = _bytes(max_size)
    else:
        params["size"] = gettext("too large")
        params["max_size"] = filesizeformat(MAX_IMAGE_SIZE)
    message = getattr(exc, "message", "") or ""
    params["message"] = message or code
    params["code"] = code
    return params


def _bytes(count: int) -> str:
    return ngettext("%(count)s byte", "%(count)s bytes", count) % {"count": number_format(count, force_grouping=True)}


def user_message(exc: BaseException) -> str:
    """A translated sentence telling staff what went wrong and what to do.

    Takes any error an upload can end with: :class:`UploadFailed` (explains its
    cause), an :class:`~django_wxpay_media.wechatpay.errors.ImageValidationError`,
    a WeChat Pay API error (one message per documented code; WeChat's own message
    is quoted where it says which parameter is wrong), a transport, signature or
    response error, a configuration error. Key material is never part of it.
    """
    if isinstance(exc, UploadFailed):
        return user_message(exc.error)
    if isinstance(exc, (ImproperlyConfigured, errors.ConfigurationError)):
        return str(MESSAGES["CONFIGURATION"])
    if not isinstance(exc, WeChatPayError):
        return str(_FALLBACK)
    code = exc.code
    template = MESSAGES.get(code)
    if template is None:
        # A code we do not know: an API error from WeChat Pay (quote it), else the family's text.
        if isinstance(exc, (errors.WeChatPayAPIError, RecordedError)):
            template = MESSAGES["API_ERROR"]
        elif isinstance(exc, errors.ImageValidationError):
            template = MESSAGES["INVALID_IMAGE"]
        elif isinstance(exc, errors.TransportError):
            template = MESSAGES["TRANSPORT_ERROR"]
        elif isinstance(exc, errors.ResponseError):
            template = MESSAGES["RESPONSE_ERROR"]
        else:
            template = _FALLBACK
    return str(template) % _params(exc, code)
