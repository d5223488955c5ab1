"""One exception hierarchy for everything the protocol layer can report, on the package's coded base.

:class:`CodedError` is the base of every error in both layers. Every error has a stable ``code`` (for programs and for translation in the Django
layer) and an English ``str()`` that explains the failure on its own in a log line.
Nothing here ever carries key material.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CodedError(Exception):
    """The one coded base: every error of this package, in either layer, is one of these.

    A stable machine-readable ``code`` (subclasses override it), ``params`` that a
    translated message may interpolate, and an English ``str()`` that explains
    the failure on its own in a log line. The protocol's root is
    :class:`WeChatPayError`; the Django layer's is
    :class:`~django_wxpay_media.exceptions.WxpayMediaError`.
    """

    #: Stable machine-readable code; subclasses override it.
    code: str = "ERROR"
    #: The code whose sentence explains a code of this family that has none of its own.
    family_code: ClassVar[str | None] = None

    def __init__(self, message: str = "", **params: Any) -> None:
        super().__init__(message)
        self.message = message
        #: Values a translated message may interpolate (sizes, names...).
        self.params: dict[str, Any] = params

    def __str__(self) -> str:
        return self.message or self.code

    @property
    def explained_by(self) -> BaseException | None:
        """The error that explains this one to a person (a wrapper's cause), or ``None``."""
        return None


class WeChatPayError(CodedError):
    """Root of every error raised by :mod:`django_wxpay_media.wechatpay`."""


class ConfigurationError(WeChatPayError, ValueError):
    """The client was given settings it cannot work with (bad key, bad URL...)."""

    code = "CONFIGURATION"


# -- validation: rejected before anything is sent ---------------------------------


class ImageValidationError(WeChatPayError, ValueError):
    """A file that WeChat Pay would refuse; raised before any network call."""

    code = "INVALID_IMAGE"
    family_code = "INVALID_IMAGE"


class EmptyImageError(ImageValidationError):
    code = "EMPTY_FILE"


class ImageTooLargeError(ImageValidationError):
    code = "FILE_TOO_LARGE"


class UnsupportedImageFormatError(ImageValidationError):
    code = "UNSUPPORTED_FORMAT"


class TruncatedImageError(ImageValidationError):
    """The file starts like a JPEG, PNG or BMP image but its end is missing (a cut-off copy)."""

    code = "TRUNCATED_IMAGE"


class CorruptImageError(ImageValidationError):
    """The file starts like a JPEG, PNG or BMP image but its structure is broken."""

    code = "CORRUPT_IMAGE"


class InvalidURLError(WeChatPayError, ValueError):
    """A URL the client refuses to call (another host, not https, no API path)."""

    code = "INVALID_URL"


# -- transport: the request did not complete --------------------------------------


class TransportError(WeChatPayError):
    """The HTTP exchange did not complete; the cause is kept as ``__cause__``.

    ``request_sent`` is True when the request may have reached WeChat Pay (the
    connection broke or timed out after it was sent): WeChat may have performed it.
    """

    code = "TRANSPORT_ERROR"
    family_code = "TRANSPORT_ERROR"

    def __init__(
        self, message: str = "", *, url: str = "", attempts: int = 1, request_sent: bool = False, **params: Any
    ) -> None:
        super().__init__(message, **params)
        self.url = url
        self.attempts = attempts
        self.request_sent = request_sent


class WeChatPayTimeout(TransportError):
    code = "TIMEOUT"


class WeChatPayConnectionError(TransportError):
    code = "CONNECTION_ERROR"


# -- answers we cannot trust or cannot read ---------------------------------------


class ResponseError(WeChatPayError):
    """Base for problems with an answer WeChat Pay (or something in between) sent."""

    code = "RESPONSE_ERROR"
    family_code = "RESPONSE_ERROR"

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        request_id: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(message, **params)
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message or self.code]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"Request-ID {self.request_id}")
        return "; ".join(parts)


class SignatureVerificationError(ResponseError):
    """An answer whose signature could not be verified; never treated as success."""

    code = "SIGNATURE_INVALID"

    def __init__(self, message: str = "", *, reason: str = "invalid", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: One of: missing_headers, probe, stale_timestamp, unknown_serial, bad_signature.
        self.reason = reason


class InvalidResponseError(ResponseError):
    """An answer that is not the JSON WeChat Pay documents (e.g. a proxy's text page)."""

    code = "INVALID_RESPONSE"


class WeChatPayAPIError(ResponseError):
    """WeChat Pay answered with an error (``{"code": ..., "message": ...}``).

    ``verified`` tells whether the answer carried a valid WeChat Pay signature;
    error answers often come unsigned and are then reported but marked unverified.
    """

    code = "API_ERROR"
    family_code = "API_ERROR"  # WeChat Pay's own code, quoted

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        verified: bool = False,
        retry_after: float | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id)
        if code:
            self.code = code
        self.verified = verified
        self.retry_after = retry_after
        self.detail = detail

    def __str__(self) -> str:
        text = f"WeChat Pay error {self.code}: {self.message or '(no message)'}"
        if self.status is not None:
            text += f" (HTTP {self.status}"
            text += f", Request-ID {self.request_id}" if self.request_id else ""
            text += ", unverified)" if not self.verified else ")"
        return text


class WeChatPaySystemError(WeChatPayAPIError):
    """500 SYSTEM_ERROR (any 5xx): retry later with the same parameters."""

    code = "SYSTEM_ERROR"


class ParamError(WeChatPayAPIError):
    code = "PARAM_ERROR"


class FrequencyLimitedError(WeChatPayAPIError):
    code = "FREQUENCY_LIMITED"


class InvalidRequestError(WeChatPayAPIError):
    code = "INVALID_REQUEST"


class SignError(WeChatPayAPIError):
    code = "SIGN_ERROR"


class NoAuthError(WeChatPayAPIError):
    code = "NO_AUTH"


API_ERRORS: dict[str, type[WeChatPayAPIError]] = {
    cls.code: cls
    for cls in (WeChatPaySystemError, ParamError, FrequencyLimitedError, InvalidRequestError, SignError, NoAuthError)
}


def api_error_for(status: int, code: str | None) -> type[WeChatPayAPIError]:
    """The exception class for an error answer: by WeChat's code, else by status."""
    if code and code in API_ERRORS:
        return API_ERRORS[code]
    if status >= 500:
        return WeChatPaySystemError
    if status == 429:
        return FrequencyLimitedError
    return WeChatPayAPIError
