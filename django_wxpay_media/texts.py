"""Every staff-facing sentence about uploads, in one place.

Screens, form fields and the command take their words from here, so that
"could not be uploaded" or "not set up correctly" is written (and translated)
once:

* :data:`MESSAGES` and :func:`error_message`: why an upload failed, per error code;
* :data:`OUTCOME_MESSAGES` and :func:`outcome_message`: what happened to one
  upload (:meth:`UploadOutcome.message <django_wxpay_media.outcome.UploadOutcome.message>`);
* :data:`SUMMARY_MESSAGES` and :func:`summary_messages`: the counts of a batch;
* :data:`FIELD_ERRORS`: the form fields' default ``error_messages``;
* :data:`NOT_CONFIGURED`: settings are wrong (details go to the log, not to staff).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext, ngettext_lazy, pgettext
from django.utils.translation import gettext_lazy as _

from .states import UploadState
from .wechatpay import MAX_IMAGE_SIZE, errors

if TYPE_CHECKING:
    from .outcome import UploadOutcome

#: Settings are wrong: staff are told only this (``manage.py check`` and the log say which).
NOT_CONFIGURED = _("Uploading to WeChat Pay is not set up correctly on this site. Please contact your administrator.")

#: The admin's banner for superusers, after :data:`NOT_CONFIGURED`: which checks fail (ids).
SETUP_CHECK_IDS = _("For the administrator: “python manage.py check --deploy” explains what to fix (%(ids)s).")


@dataclass(frozen=True)
class ErrorText:
    """What staff read for one error code: the sentence, and the form field's error for it if it has one."""

    #: The staff-facing sentence (:func:`error_message`); ``%(name)s`` from the error's params.
    message: Promise
    #: The form field's ``ValidationError.code`` for this error, and its default sentence.
    field: str | None = None
    field_message: Promise | None = None


#: One table, per error code: codes of the protocol layer, WeChat Pay's documented
#: codes for the upload API, and this package's own. :data:`MESSAGES`,
#: :data:`FIELD_CODES` and :data:`FIELD_ERRORS` are read from it.
ERRORS: dict[str, ErrorText] = {
    # Rejected before anything was sent.
    "EMPTY_FILE": ErrorText(
        _("The file is empty."),
        field="empty",
        field_message=_("“%(filename)s” is empty."),
    ),
    "FILE_TOO_LARGE": ErrorText(
        _("The file is %(size)s; WeChat Pay accepts images of at most %(max_size)s."),
        field="file_too_large",
        field_message=_("“%(filename)s” is %(size)s; WeChat Pay accepts images of at most %(max_size)s."),
    ),
    "UNSUPPORTED_FORMAT": ErrorText(
        _("The file is not a JPEG, PNG or BMP image."),
        field="unsupported_format",
        field_message=_("“%(filename)s” is not a JPEG, PNG or BMP image; WeChat Pay accepts only these formats."),
    ),
    "INVALID_IMAGE": ErrorText(
        _("WeChat Pay would not accept this file as an image."),
        field="invalid_image",
        field_message=_("“%(filename)s” cannot be sent to WeChat Pay: %(reason)s"),
    ),
    "TRUNCATED_IMAGE": ErrorText(
        _("The image is incomplete: the file ends before the picture does. Save or export it again and retry.")
    ),
    "CORRUPT_IMAGE": ErrorText(_("The image is damaged: it cannot be read as a JPEG, PNG or BMP picture.")),
    # WeChat Pay's answers (the upload API's documented codes).
    "SYSTEM_ERROR": ErrorText(_("WeChat Pay had a temporary system error. Try again later.")),
    "PARAM_ERROR": ErrorText(_("WeChat Pay rejected a parameter of the upload: %(message)s")),
    "FREQUENCY_LIMITED": ErrorText(_("Too many uploads to WeChat Pay in a short time. Wait a moment and try again.")),
    "INVALID_REQUEST": ErrorText(_("WeChat Pay refused the upload under its business rules: %(message)s")),
    "SIGN_ERROR": ErrorText(
        _(
            "WeChat Pay could not verify the request's signature. Ask the site administrator to check "
            "the merchant private key and certificate serial number."
        )
    ),
    "NO_AUTH": ErrorText(
        _(
            "This merchant account is not allowed to upload feedback images. "
            "The permission has to be enabled by WeChat Pay."
        )
    ),
    "API_ERROR": ErrorText(_("WeChat Pay answered with an error (%(code)s): %(message)s")),
    # The exchange did not complete.
    "TIMEOUT": ErrorText(_("WeChat Pay did not answer in time. Try again later.")),
    "CONNECTION_ERROR": ErrorText(_("Could not connect to WeChat Pay. Check the network and try again later.")),
    "TRANSPORT_ERROR": ErrorText(_("The connection to WeChat Pay failed. Try again later.")),
    # Answers that cannot be believed or read.
    "SIGNATURE_INVALID": ErrorText(
        _(
            "An answer claiming to come from WeChat Pay failed signature verification and was not "
            "trusted. Try again later; if it keeps happening, ask the site administrator to check the "
            "WeChat Pay public key or APIv3 key."
        )
    ),
    "INVALID_RESPONSE": ErrorText(_("WeChat Pay's answer could not be understood. Try again later.")),
    "RESPONSE_ERROR": ErrorText(_("WeChat Pay's answer could not be used. Try again later.")),
    "INVALID_URL": ErrorText(_("The image's address is not on WeChat Pay's servers, so it was not fetched.")),
    # This package's own.
    "CONFIGURATION": ErrorText(
        _(
            "Uploads to WeChat Pay are not configured correctly. Ask the site administrator to check "
            "the WXPAY_MEDIA setting."
        ),
        field="not_configured",
        field_message=NOT_CONFIGURED,
    ),
    "FILE_UNREADABLE": ErrorText(_("cannot read the file: %(reason)s")),
    "STORAGE_ERROR": ErrorText(
        _("The file could not be stored on this site. Please try again, or contact your administrator."),
        field="storage_error",
        field_message=_(
            "“%(filename)s” could not be stored on this site. Please try again, or contact your administrator."
        ),
    ),
    "FILE_MISSING": ErrorText(_("The stored copy of this image is missing, so it cannot be uploaded again.")),
    "FILE_CHANGED": ErrorText(
        _("The stored copy of this image has changed since it was received, so it is not uploaded.")
    ),
    "STORED_FILE_ERROR": ErrorText(_("The stored copy of this image cannot be read.")),
    "MERCHANT_MISMATCH": ErrorText(
        _("This image was received for merchant %(mchid)s, but the site now uploads for merchant %(current)s.")
    ),
    "UPLOAD_IN_PROGRESS": ErrorText(_("This image is being uploaded by another request. Try again in a moment.")),
    "RECORD_ERROR": ErrorText(
        _("WeChat Pay accepted the image, but this site could not save its answer. Try again later.")
    ),
    "UPLOAD_ABANDONED": ErrorText(_("An earlier upload of this image was interrupted and never finished.")),
    "UNEXPECTED_ERROR": ErrorText(_("An unexpected error interrupted the upload. Try again later.")),
}

#: Staff-facing text per error code (from :data:`ERRORS`).
MESSAGES: dict[str, Promise] = {code: text.message for code, text in ERRORS.items()}

#: The form field's error code per error code (from :data:`ERRORS`).
FIELD_CODES: dict[str, str] = {code: text.field for code, text in ERRORS.items() if text.field}

_FALLBACK = _("The upload to WeChat Pay failed.")

#: What happened to one upload, per state. Parameters: filename, media_id, date
#: (when it was uploaded), name (the name it was uploaded under), reason.
OUTCOME_MESSAGES: dict[UploadState, Promise] = {
    UploadState.SENT: _("“%(filename)s” was uploaded to WeChat Pay. Its media_id is %(media_id)s."),
    UploadState.REUSED: _(
        "“%(filename)s” was already uploaded to WeChat Pay on %(date)s as “%(name)s”; "
        "its media_id %(media_id)s is used again and nothing was sent."
    ),
    UploadState.FAILED: _(
        "“%(filename)s” could not be uploaded to WeChat Pay: %(reason)s "
        "The image has been kept and can be uploaded again later."
    ),
    UploadState.REJECTED: _("“%(filename)s” could not be uploaded to WeChat Pay: %(reason)s"),
    UploadState.GONE: _("“%(filename)s” was deleted before it could be uploaded."),
    UploadState.QUEUED: _("“%(filename)s” has been saved and will be uploaded to WeChat Pay in a moment."),
    UploadState.BUSY: _("“%(filename)s” is being uploaded right now; reload this page in a moment."),
}

#: What happened to an upload handed to a task worker (``WXPAY_MEDIA['BACKGROUND_UPLOADS']``):
#: it replaces the ``QUEUED`` sentences above. Parameters: filename or count, status.
QUEUED_ON_WORKER = _(
    "“%(filename)s” has been saved and queued for upload to WeChat Pay. Its status is “%(status)s” "
    "until a background worker has uploaded it; reload the page to see the result."
)
QUEUED_ON_WORKER_SUMMARY = ngettext_lazy(
    "%(count)d image was queued for upload to WeChat Pay; it shows as “%(status)s” until a background "
    "worker has uploaded it.",
    "%(count)d images were queued for upload to WeChat Pay; they show as “%(status)s” until a background "
    "worker has uploaded them.",
    "count",
)

#: A batch's counts, per state (parameter: count).
SUMMARY_MESSAGES: dict[UploadState, Promise] = {
    UploadState.SENT: ngettext_lazy(
        "%(count)d image was uploaded to WeChat Pay.", "%(count)d images were uploaded to WeChat Pay.", "count"
    ),
    UploadState.REUSED: ngettext_lazy(
        "%(count)d image was skipped: it is already uploaded.",
        "%(count)d images were skipped: they are already uploaded.",
        "count",
    ),
    UploadState.BUSY: ngettext_lazy(
        "%(count)d image was skipped: it is being uploaded right now.",
        "%(count)d images were skipped: they are being uploaded right now.",
        "count",
    ),
    UploadState.QUEUED: ngettext_lazy(
        "%(count)d image will be uploaded to WeChat Pay in a moment.",
        "%(count)d images will be uploaded to WeChat Pay in a moment.",
        "count",
    ),
    UploadState.GONE: ngettext_lazy(
        "%(count)d image was deleted before it could be uploaded.",
        "%(count)d images were deleted before they could be uploaded.",
        "count",
    ),
    UploadState.FAILED: ngettext_lazy(
        "%(count)d image could not be uploaded to WeChat Pay.",
        "%(count)d images could not be uploaded to WeChat Pay.",
        "count",
    ),
    UploadState.REJECTED: ngettext_lazy(
        "%(count)d file was not accepted.",
        "%(count)d files were not accepted.",
        "count",
    ),
}

#: The form fields' default ``error_messages`` (see :mod:`django_wxpay_media.forms`):
#: those of :data:`ERRORS`, and the ones about an upload rather than one error.
FIELD_ERRORS: dict[str, Any] = {  # Any: what django-stubs accepts as error_messages
    **{text.field: text.field_message for text in ERRORS.values() if text.field and text.field_message},
    "upload_failed": _(
        "“%(filename)s” could not be uploaded to WeChat Pay: %(reason)s "
        "The image has been saved; submit it again later to retry."
    ),
    "upload_error": OUTCOME_MESSAGES[UploadState.REJECTED],
    "too_many_files": ngettext_lazy(
        "Select at most %(max)d image (you selected %(count)d).",
        "Select at most %(max)d images (you selected %(count)d).",
        "max",
    ),
}


#: The admin's sentences: failures of the upload action grouped by reason (count,
#: reason, files), how to finish a failed upload (with or without the permission to
#: upload), and Django's own words for a record that is gone (name, key).
ADMIN_FAILED_BY_REASON = ngettext_lazy(
    "%(count)d image could not be uploaded to WeChat Pay: %(reason)s (%(files)s)",
    "%(count)d images could not be uploaded to WeChat Pay: %(reason)s (%(files)s)",
    "count",
)
ADMIN_RETRY_HINT = _("Use “Retry upload” on the image's page to try again.")
ADMIN_RETRY_HINT_ASK = _("A colleague allowed to upload can retry it from the image's page.")
ADMIN_RECORD_GONE = _("%(name)s with ID “%(key)s” doesn’t exist. Perhaps it was deleted?")

#: ``manage.py wxpay_upload``'s own sentences.
COMMAND_NO_INPUT = _("Give at least one PATH to upload, or --retry-failed.")
COMMAND_NOT_CONFIGURED = _("WeChat Pay is not configured: %(error)s")
COMMAND_FAILED = ngettext_lazy(
    "%(failed)d of %(total)d upload failed.", "%(failed)d of %(total)d uploads failed.", "total"
)
COMMAND_CODE = _("code %(code)s")
COMMAND_REQUEST_ID = _("Request-ID %(request_id)s")
COMMAND_UNWRITTEN = _("%(path)s: the result could not be printed (%(error)s); counted as a failure.")


# -- errors -------------------------------------------------------------------------------


def _bytes(count: int) -> str:
    return ngettext("%(count)s byte", "%(count)s bytes", count) % {"count": number_format(count, force_grouping=True)}


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
    params.setdefault("reason", message or code)
    params.setdefault("mchid", "")
    params.setdefault("current", "")
    return params


def error_message(exc: BaseException) -> str:
    """A translated sentence telling staff what went wrong and what to do.

    Takes any error an upload or a desk action can end with: an
    :class:`~django_wxpay_media.exceptions.UploadFailed` (explains its cause), an
    image validation error, a WeChat Pay API error (one sentence per documented
    code; WeChat's own message quoted where it names the wrong parameter), a
    transport, signature or response error, a configuration error, the Django
    layer's own errors. Key material is never part of it.
    """
    if isinstance(exc, errors.CodedError) and exc.explained_by is not None:
        return error_message(exc.explained_by)
    if isinstance(exc, (ImproperlyConfigured, errors.ConfigurationError)):
        return str(MESSAGES["CONFIGURATION"])
    if isinstance(exc, OSError) and not isinstance(exc, errors.CodedError):
        return str(MESSAGES["FILE_UNREADABLE"]) % {"reason": exc.strerror or exc}
    if not isinstance(exc, errors.CodedError):
        return str(_FALLBACK)
    code = exc.code
    # A code without a sentence of its own: its family's (WeChat Pay's codes are quoted).
    template = MESSAGES.get(code) or MESSAGES.get(exc.family_code or "", _FALLBACK)
    return str(template) % _params(exc, code)


# -- outcomes -----------------------------------------------------------------------------


def outcome_message(outcome: UploadOutcome, *, filename: str | None = None) -> str:
    """The translated sentence for one upload's outcome (success ones too)."""
    record = outcome.record
    name = filename or outcome.filename
    uploaded_at = record.uploaded_at if record is not None else None
    params = {
        "filename": name,
        "name": record.filename if record is not None else name,
        "media_id": record.media_id if record is not None else "",
        "date": date_format(timezone.localtime(uploaded_at), "DATETIME_FORMAT") if uploaded_at else "",
        "reason": error_message(outcome.error) if outcome.error is not None else "",
    }
    template = OUTCOME_MESSAGES[outcome.state]
    if outcome.state is UploadState.QUEUED and _uploads_on_workers():
        template = QUEUED_ON_WORKER
        params["status"] = _pending_label()
    return str(template) % params


def _uploads_on_workers() -> bool:
    """Whether queued uploads go to a task worker (rather than run after the commit)."""
    from . import conf

    try:
        return conf.background_uploads_backend() is not None
    except ImproperlyConfigured:
        return False


def _pending_label() -> str:
    from .models import FeedbackImage

    return str(FeedbackImage.Status.PENDING.label)


def summary_messages(outcomes: Iterable[UploadOutcome]) -> list[tuple[UploadState, str]]:
    """One translated count sentence per state present, in :class:`UploadState` order."""
    counts = Counter(outcome.state for outcome in outcomes)
    found = [(state, SUMMARY_MESSAGES[state] % {"count": counts[state]}) for state in UploadState if counts[state]]
    if counts[UploadState.QUEUED] and _uploads_on_workers():
        queued = QUEUED_ON_WORKER_SUMMARY % {"count": counts[UploadState.QUEUED], "status": _pending_label()}
        found = [(state, queued if state is UploadState.QUEUED else text) for state, text in found]
    return found


def join_names(names: list[str], limit: int = 10) -> str:
    """``a.png, b.png and 3 more``: a list of file names for one message."""
    separator = pgettext("list separator", ", ")
    shown = separator.join(names[:limit])
    rest = len(names) - limit
    if rest > 0:
        shown += " " + ngettext("and %(count)d more", "and %(count)d more", rest) % {"count": rest}
    return shown
