"""The desk's text table: every sentence the complaint desk tells staff, in one place.

What went well, what went wrong, and what to do: the services, the admin and the
views take their sentences from :data:`MESSAGES` (by code, :func:`message_for`) or,
for an error, :func:`staff_message`. Labels (field names, titles, column headers)
stay with their screens. Complaint calls have their own codes (limits checked before
sending, WeChat's answers to complaint APIs); transport, signature and configuration
failures are the upload's and keep the upload's sentences
(:func:`django_wxpay_media.texts.error_message`). Like :mod:`django_wxpay_media.texts`,
this table reads errors and never is read by them.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .. import texts
from ..wechatpay import errors
from ..wechatpay.complaints import ComplaintRequestError

MESSAGES: dict[str, Promise] = {
    # What went well.
    "REFRESHED": _("The complaint was refreshed from WeChat Pay."),
    "REPLY_SENT": _("The reply was sent to the consumer."),
    "REPLY_ALREADY_SENT": _("The reply has been sent already."),
    "MARKED_COMPLETE": _("The complaint was marked complete."),
    "REFUND_APPROVED": _("The refund was approved."),
    "REFUND_REJECTED": _("The refund was rejected."),
    "INSTANT_SENT": _("The instant-service reply was sent to the consumer."),
    "ASSIGNED_TO_YOU": _("The complaint is assigned to you."),
    "UNASSIGNED": _("The complaint is no longer assigned."),
    # Parts of other sentences.
    "UNNAMED_IMAGE": _("image"),
    "NOT_AVAILABLE": _("(not available)"),
    "WITH_REQUEST_ID": _("%(message)s (Request-ID %(request_id)s)"),
    "WITH_LOG_ID": _("WeChat Pay's log_id: %(log_id)s"),
    # Checked before anything is sent.
    "EMPTY_CONTENT": _("Write the reply's text: it has no visible characters."),
    "UNSUPPORTED_CHARACTER": _(
        "WeChat Pay does not accept %(character)s (an emoji or another character of 4 bytes in UTF-8); "
        "remove it and send again."
    ),
    "CONTENT_TOO_LONG": _("The reply has %(length)s characters; WeChat Pay accepts at most %(limit)s."),
    "TOO_MANY_IMAGES": _("Attach at most %(limit)s images (you attached %(count)s)."),
    "INCOMPLETE_JUMP_LINK": _("A link needs both its address and its text."),
    "INVALID_JUMP_URL": _("The link must be an HTTPS address of at most %(limit)s characters."),
    "JUMP_TEXT_TOO_LONG": _("The link text has %(length)s characters; WeChat Pay accepts at most %(limit)s."),
    "MISSING_REJECT_REASON": _("Say why the refund is rejected."),
    "REASON_TOO_LONG": _("The reason has %(length)s characters; WeChat Pay accepts at most %(limit)s."),
    "REMARK_TOO_LONG": _("The remark has %(length)s characters; WeChat Pay accepts at most %(limit)s."),
    "INVALID_NOTIFICATION_URL": _("The notification URL must be an HTTPS address of at most %(limit)s characters."),
    "MISSING_COMPLAINTED_MCHID": _("This complaint names no merchant; refresh it from WeChat Pay first."),
    "IMAGE_UPLOAD_FAILED": _("“%(filename)s” could not be uploaded to WeChat Pay: %(reason)s"),
    "IMAGE_NOT_RETRIED": _(
        "its earlier upload failed, and only staff allowed to upload feedback images may try it again; "
        "ask one of them to send this reply."
    ),
    "REPLY_NOT_SENT": _("The reply was not sent; it is kept as failed. Send it again later."),
    "DECISION_NOT_SENT": _("The refund decision was not sent to WeChat Pay."),
    "INSTANT_NOT_SENT": _("The instant-service reply was not sent to WeChat Pay."),
    "NO_IMMEDIATE_SERVICE": _(
        "WeChat Pay does not ask for an immediate answer to this complaint; send an ordinary reply."
    ),
    "INSTANT_PROCESSED": _("This complaint is processed; WeChat Pay takes no more messages about it."),
    "INVALID_IDEMPOTENT_ID": _("The message could not be given a valid idempotent_id; open the form again."),
    "TOO_MANY_BLOCKS": _("The message has too many parts; WeChat Pay accepts at most %(limit)s."),
    "NOT_HANDLED": _("The complaint is about a sub-merchant this site does not handle; it was not stored."),
    "NOT_STORED": _("The complaint could not be stored in this site's database; the server log says why."),
    "IMAGE_DOWNLOAD_FAILED": _("The consumer's image could not be downloaded from WeChat Pay: %(reason)s"),
    # After WeChat Pay accepted an action: it went out, whatever this site could not do then.
    "SENT_NOT_RECORDED": _(
        "This site could not record it (Request-ID %(request_id)s); do not send it again. The administrator "
        "has the details in the log."
    ),
    "NOT_REFRESHED_AFTER_SEND": _(
        "The complaint could not be updated on this site afterwards; refresh it from WeChat Pay later."
    ),
    # One rendered form sends once (its one-time token).
    "ALREADY_SUBMITTED_REPLY": _(
        "This reply form was submitted already, so nothing was sent again. The reply is shown below."
    ),
    "ALREADY_SUBMITTED_COMPLETE": _(
        "This form was submitted already, so nothing was sent again. The complaint's state is shown below."
    ),
    "ALREADY_SUBMITTED_INSTANT": _(
        "This instant-service reply was submitted already, so nothing was sent again. The complaint is shown below."
    ),
    "ALREADY_SUBMITTED_REFUND": _(
        "This refund decision was submitted already, so nothing was sent again. The complaint is shown below."
    ),
    "REPLY_BEING_SENT": _("This reply is being sent already; nothing was sent again."),
    "FORM_EXPIRED": _("This form has expired or was not opened from this site; nothing was sent. Submit it again."),
    # WeChat Pay's answers to the complaint APIs.
    "PARAM_ERROR": _("WeChat Pay rejected the request: %(message)s"),
    "INVALID_REQUEST": _("WeChat Pay refused this under its rules: %(message)s"),
    "RESOURCE_NOT_EXISTS": _("WeChat Pay does not know this complaint (or the item asked for)."),
    "NO_AUTH": _(
        "This merchant account may not handle complaints through the API. The permission has to be "
        "enabled by WeChat Pay."
    ),
    "REQUEST_BLOCKED": _("WeChat Pay blocked the request: %(message)s"),
}

_INVALID = _("WeChat Pay would not accept this request: %(message)s")
_FALLBACK = _("WeChat Pay answered with an error (%(code)s): %(message)s")


def staff_message(exc: BaseException, **extra: Any) -> str:
    """A translated sentence for any error a complaint call ends with."""
    if isinstance(exc, ImproperlyConfigured) or not isinstance(exc, errors.WeChatPayError):
        return texts.error_message(exc)
    template = MESSAGES.get(exc.code)
    if template is None:
        if isinstance(exc, ComplaintRequestError):
            template = _INVALID
        elif isinstance(exc, errors.WeChatPayAPIError) and not isinstance(exc, errors.WeChatPaySystemError):
            template = _FALLBACK
        else:  # transport, signature, unreadable answer, rate limit, 5xx: the upload's words
            return texts.error_message(exc)
    params = {"message": exc.message or exc.code, "code": exc.code, **exc.params, **extra}
    return str(template) % params


def message_for(code: str, **params: Any) -> str:
    """The sentence for one of this module's own codes."""
    return str(MESSAGES[code]) % params
