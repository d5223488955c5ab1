"""The complaint desk's only writer: the database and WeChat Pay meet here.

Rules:

* WeChat Pay's detail is the truth; rows are copies refreshed from it.
* No transaction or lock is held during a network call: each write is a short
  statement (or a small ``atomic()`` block) before or after the call, never around it.
* Results are values (:class:`Outcome`, :class:`SyncResult`; notifications:
  :mod:`.notifications`) carrying a translated sentence for staff; the admin
  and the command display them and never catch exceptions of their own.
* A reply's images are uploaded first; if any fails, the reply is not sent: it is
  kept as failed and says which image.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, models
from django.utils import timezone
from django.utils.translation import gettext

from .. import conf
from .. import services as upload_services
from ..exceptions import RecordedError, user_message
from ..models import FeedbackImage
from ..outcome import UploadOutcome
from ..wechatpay import complaints as wc
from ..wechatpay import errors
from . import alerts, flags, moments, rules
from .messages import message_for, staff_message
from .models import (
    Complaint,
    ComplaintImage,
    DeskAction,
    HistoryEntry,
    Reply,
    parse_time,
)

logger = logging.getLogger("django_wxpay_media.complaints")

#: Anything a call to WeChat Pay (or reading the settings for it) can end with.
_CALL_ERRORS = (errors.WeChatPayError, ImproperlyConfigured)
#: How many of a complaint's consumer images are stored and shown (WeChat Pay may list
#: any number); the complaint's page says how many more there are.
MAX_CONSUMER_IMAGES = 30


@dataclass(frozen=True)
class Outcome:
    """What one desk action did; ``message`` is for staff, translated."""

    ok: bool
    message: str
    code: str = ""
    request_id: str = ""
    complaint: Complaint | None = None
    reply: Reply | None = None


@dataclass
class SyncResult:
    """What :func:`sync` did: complaints stored, and those (or the list) that failed."""

    synced: list[Complaint] = field(default_factory=list)
    failed: list[tuple[str, Outcome]] = field(default_factory=list)
    #: Set when the list itself could not be read (the sync is incomplete).
    error: Outcome | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed


def _failure(exc: BaseException, **extra: Any) -> Outcome:
    if isinstance(exc, DatabaseError):  # the details are in the log, not for staff
        return Outcome(False, message_for("NOT_STORED"), code="DATABASE_ERROR")
    code = getattr(exc, "code", "") if isinstance(exc, errors.WeChatPayError) else "CONFIGURATION"
    return Outcome(False, staff_message(exc, **extra), code=code, request_id=getattr(exc, "request_id", None) or "")


# -- storing WeChat's copies ----------------------------------------------------------------


def check_lengths(model: type[models.Model], values: Mapping[str, Any]) -> None:
    """Refuse a text from WeChat Pay longer than its column (SQLite would store it whole).

    Raises :class:`~..wechatpay.errors.InvalidResponseError` (nothing is stored,
    nothing truncated); the message names the field, never its value.
    """
    for name, value in values.items():
        limit = getattr(model._meta.get_field(name), "max_length", None)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise errors.InvalidResponseError(
                f"WeChat Pay sent a {model.__name__}.{name} of {len(value)} characters; at most {limit} can be stored."
            )


def store(detail: wc.Complaint) -> Complaint:
    """Create or update the row of one complaint from WeChat's detail (no network)."""
    order = detail.orders[0] if detail.orders else None
    values = {
        "state": detail.complaint_state,
        "problem_type": detail.problem_type,
        "description": detail.problem_description,
        "detail": detail.complaint_detail,
        "complaint_time": parse_time(detail.complaint_time),
        "complainted_mchid": detail.complainted_mchid,
        "out_trade_no": order.out_trade_no if order else "",
        "transaction_id": order.transaction_id if order else "",
        "amount": order.amount if order else None,
        "apply_refund_amount": detail.apply_refund_amount,
        "payer_phone_encrypted": detail.payer_phone,  # as sent: encrypted
        "image_count": sum(len(media.media_urls) for media in detail.media),
        "raw": detail.raw,
        "synced_at": timezone.now(),
        **flags.stored_fields(detail.raw),
    }
    check_lengths(Complaint, {"complaint_id": detail.complaint_id, **values})
    for media in detail.media:
        check_lengths(ComplaintImage, {"media_type": media.media_type})
    try:
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    except IntegrityError:  # a concurrent notification created it first
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    listed = [(url, media.media_type) for media in detail.media for url in media.media_urls]
    for position, (url, media_type) in enumerate(listed[:MAX_CONSUMER_IMAGES]):  # bounded: see the constant
        ComplaintImage.objects.get_or_create(
            complaint=complaint,
            url_hash=ComplaintImage.hash_url(url),
            defaults={"media_url": url, "media_type": media_type, "position": position},
        )
    alerts.offer_events(complaint)  # new complaint, consumer wrote again: each alert once
    return complaint


def store_history(complaint: Complaint, entries: Sequence[wc.HistoryEntry]) -> None:
    """Add the history entries not stored yet (no network)."""
    for entry in entries:
        check_lengths(
            HistoryEntry, {"log_id": entry.log_id, "operator": entry.operator, "operate_type": entry.operate_type}
        )
    for entry in entries:
        HistoryEntry.objects.update_or_create(
            complaint=complaint,
            log_id=entry.log_id,
            defaults={
                "operator": entry.operator,
                "operate_time": parse_time(entry.operate_time),
                "operate_type": entry.operate_type,
                "operate_details": entry.operate_details,
                "image_urls": list(entry.image_list),
                "raw": entry.raw,
            },
        )
    moments.note_history(complaint)


# -- reading from WeChat Pay ------------------------------------------------------------------


def refresh(complaint_id: str, *, history: bool = True) -> Outcome:
    """Fetch one complaint's detail (and its history) and store them.

    The history is always read for a complaint seen for the first time. A detail that
    cannot be stored as sent (a value longer than its column) is a failure like a
    WeChat error; a database error is not caught here.
    """
    history = history or not Complaint.objects.filter(complaint_id=complaint_id).exists()
    try:
        client = conf.get_client()
        detail = wc.get_complaint(client, complaint_id)
        entries = list(wc.iter_history(client, complaint_id)) if history else []
        complaint = store(detail)
        store_history(complaint, entries)
    except _CALL_ERRORS as exc:
        logger.warning("Complaint %s could not be refreshed: %s", complaint_id, exc)
        return _failure(exc)
    return Outcome(True, gettext("The complaint was refreshed from WeChat Pay."), complaint=complaint)


def sync(days: int = 30, *, complainted_mchid: str | None = None) -> SyncResult:
    """Store every complaint of the last ``days`` days, with its history.

    Reads the list window after window (30 days each) and page after page; a
    complaint that cannot be stored, or whose history cannot be read, is reported
    in ``failed`` and the others are still stored.
    """
    result = SyncResult()
    try:
        client = conf.get_client()
        for detail in wc.iter_recent_complaints(client, days, complainted_mchid=complainted_mchid):
            try:
                complaint = store(detail)
                store_history(complaint, list(wc.iter_history(client, detail.complaint_id)))
            except (*_CALL_ERRORS, DatabaseError) as exc:
                logger.warning("Complaint %s could not be synced: %s", detail.complaint_id, exc)
                result.failed.append((detail.complaint_id, _failure(exc)))
            else:
                result.synced.append(complaint)
    except _CALL_ERRORS as exc:
        result.error = _failure(exc)
    return result


def download_image(image: ComplaintImage) -> Outcome:
    """Download a consumer image into the configured storage, unless it is there already."""
    if image.file:
        return Outcome(True, "", complaint=image.complaint)
    try:
        download = wc.download_image(conf.get_client(), image.media_url)
    except _CALL_ERRORS as exc:
        ComplaintImage.objects.filter(pk=image.pk).update(error_code=getattr(exc, "code", "CONFIGURATION"))
        failure = _failure(exc)
        return Outcome(False, message_for("IMAGE_DOWNLOAD_FAILED", reason=failure.message), code=failure.code)
    extension = mimetypes.guess_extension(download.content_type.split(";")[0].strip()) or ".img"
    image.file.save(f"{image.position + 1}{extension}", ContentFile(download.data), save=False)
    image.content_type = download.content_type
    image.downloaded_at = timezone.now()
    image.error_code = ""
    image.save(update_fields=["file", "content_type", "downloaded_at", "error_code"])
    return Outcome(True, "", request_id=download.request_id or "", complaint=image.complaint)


def payer_phone(complaint: Complaint) -> str | None:
    """The consumer's phone number, decrypted now and never stored; ``None`` if it cannot be.

    Show it only to staff with the ``view_payer_phone`` permission.
    """
    if not complaint.payer_phone_encrypted:
        return None
    try:
        key = conf.get_client().signer.private_key
        return wc.decrypt_payer_phone(key, complaint.payer_phone_encrypted)
    except _CALL_ERRORS:
        return None


# -- acting on a complaint ---------------------------------------------------------------------


def _upload_all(files: Sequence[Any], user: Any) -> tuple[list[FeedbackImage], list[tuple[str, str]]]:
    """Upload each file (or reuse an uploaded record), ``CONCURRENCY`` at a time; go on after a failure.

    Returns the records to keep with the reply (uploaded ones, and failed ones the
    upload service kept, so that sending again retries them) and, per failed file,
    ``(file name, reason)``. Raises ``ImproperlyConfigured`` for bad settings.
    """
    outcomes: dict[int, UploadOutcome] = {}
    records_to_finish = [(i, item) for i, item in enumerate(files) if isinstance(item, FeedbackImage)]
    new_files = [(i, item) for i, item in enumerate(files) if not isinstance(item, FeedbackImage)]
    # Someone waits at the screen: an image another request is uploading fails fast
    # (BUSY), and sending a failed image again is a retry, which needs its permission.
    may_retry = _may_retry_uploads(user)
    try:
        finished = upload_services.upload_records(
            [item for _, item in records_to_finish], retry_failed=may_retry, wait=False
        )
        uploaded = upload_services.upload_many(
            [item for _, item in new_files], user=user, retry_failed=may_retry, wait=False
        )
    except ImproperlyConfigured as exc:  # settings: the same reason for every image, nothing sent
        reason = user_message(exc)
        names = [getattr(i, "filename", None) or getattr(i, "name", None) or gettext("image") for i in files]
        return [item for item in files if isinstance(item, FeedbackImage)], [
            (str(name).rsplit("/", 1)[-1], reason) for name in names
        ]
    outcomes.update(zip((i for i, _ in records_to_finish), finished, strict=True))
    outcomes.update(zip((i for i, _ in new_files), uploaded, strict=True))
    records: list[FeedbackImage] = []
    failures: list[tuple[str, str]] = []
    for index, item in enumerate(files):
        outcome = outcomes[index]
        if not outcome.ok:
            name = getattr(item, "filename", None) or getattr(item, "name", None) or gettext("image")
            reason = user_message(outcome.error) if outcome.error is not None else outcome.message()
            if not may_retry and isinstance(outcome.error, RecordedError):  # an earlier failure, not retried
                reason = message_for("IMAGE_NOT_RETRIED")
            failures.append((str(name).rsplit("/", 1)[-1], reason))
        record = outcome.record
        if record is not None and all(record.pk != seen.pk for seen in records):
            records.append(record)
    return records, failures


def _may_retry_uploads(user: Any) -> bool:
    """May ``user`` send a failed image again? Code acting for no one may."""
    if user is None:
        return True
    opts = FeedbackImage._meta
    return bool(user.has_perm(f"{opts.app_label}.upload_{opts.model_name}"))


def _upload_failure(failures: list[tuple[str, str]], then: str) -> str:
    sentences = [message_for("IMAGE_UPLOAD_FAILED", filename=name, reason=reason) for name, reason in failures]
    return " ".join([*sentences, message_for(then)])


def send_reply(complaint: Complaint, content: str, images: Sequence[Any] = (), *, user: Any = None) -> Outcome:
    """Answer the consumer: upload the images, then ``POST …/response``.

    Limits are checked first (nothing stored or sent when they fail). The reply is
    stored as *pending* before any network call; an image that fails to upload
    leaves it *failed*, naming the image, and nothing is sent to WeChat Pay.
    """
    try:  # every limit, before anything is stored; media ids are not known yet, their number is
        wc.check_reply(content, len(images))
    except wc.ComplaintRequestError as exc:
        return _failure(exc)
    if not (verdict := rules.can_reply(complaint)):
        return _refused(verdict, complaint)
    reply = Reply.objects.create(complaint=complaint, content=content, sent_by=_user_or_none(user))
    return _deliver(reply, images, user)


def resend_reply(reply: Reply, *, user: Any = None) -> Outcome:
    """Send a failed reply again with the images it kept (uploading those not uploaded).

    The reply is claimed first (failed → sending, one conditional ``UPDATE``): of two
    requests sending it again at once, one sends and the other sends nothing.
    """
    if not (verdict := rules.can_reply(reply.complaint)):
        return _refused(verdict, reply.complaint)
    claimed = Reply.objects.filter(pk=reply.pk, state=Reply.State.FAILED).update(state=Reply.State.PENDING)
    if claimed != 1:
        reply.refresh_from_db()
        if reply.state == Reply.State.SENT:
            message = gettext("The reply has been sent already.")
        else:
            message = message_for("REPLY_BEING_SENT")
        return Outcome(True, message, complaint=reply.complaint, reply=reply)
    reply.state = Reply.State.PENDING
    return _deliver(reply, list(reply.images.all()), user)


def _deliver(reply: Reply, images: Sequence[Any], user: Any) -> Outcome:
    complaint = reply.complaint
    records, failures = _upload_all(images, user)
    if records:
        reply.images.add(*records)
    if failures:
        message = _upload_failure(failures, "REPLY_NOT_SENT")
        _mark(reply, Reply.State.FAILED, code="IMAGE_UPLOAD_FAILED", message=message)
        return Outcome(False, message, code="IMAGE_UPLOAD_FAILED", complaint=complaint, reply=reply)
    try:
        request_id = wc.reply(
            conf.get_client(),
            complaint.complaint_id,
            complainted_mchid=complaint.complainted_mchid,  # the complaint's merchant, never ours
            content=reply.content,
            images=[record.media_id for record in records],
        )
    except _CALL_ERRORS as exc:
        failure = _failure(exc)
        _mark(reply, Reply.State.FAILED, code=failure.code, message=failure.message, request_id=failure.request_id)
        return Outcome(False, failure.message, failure.code, failure.request_id, complaint, reply)
    sent_at = timezone.now()
    sent = gettext("The reply was sent to the consumer.")
    try:
        _mark(reply, Reply.State.SENT, request_id=request_id or "", sent_at=sent_at)
        moments.note_reply(complaint, sent_at)
    except DatabaseError:  # WeChat Pay has it: say so, never an error page
        logger.exception("Reply %s to complaint %s was sent but could not be recorded", reply.pk, complaint.pk)
        sent = " ".join([sent, message_for("SENT_NOT_RECORDED", request_id=request_id or "-")])
    note = _after_accepted(complaint)  # the first reply moves it to PROCESSING
    return Outcome(True, " ".join([sent, note]).strip(), request_id=request_id or "", complaint=complaint, reply=reply)


def _after_accepted(complaint: Complaint) -> str:
    """Refresh ``complaint`` after WeChat Pay accepted an action; a database error is a note, not a failure."""
    try:
        refresh(complaint.complaint_id)
        complaint.refresh_from_db()
    except DatabaseError:
        logger.exception("Complaint %s could not be stored after WeChat Pay accepted an action", complaint.pk)
        return message_for("NOT_REFRESHED_AFTER_SEND")
    return ""


def _mark(
    reply: Reply, state: str, *, code: str = "", message: str = "", request_id: str = "", sent_at: Any = None
) -> None:
    reply.state = state
    reply.error_code = code
    reply.error_message = message
    reply.request_id = request_id
    reply.sent_at = sent_at
    reply.save(update_fields=["state", "error_code", "error_message", "request_id", "sent_at"])


def complete(complaint: Complaint, *, user: Any = None) -> Outcome:
    """Tell WeChat Pay the complaint is handled (反馈处理完成); then refresh it."""
    if not (verdict := rules.can_complete(complaint)):
        return _refused(verdict, complaint)
    try:
        request_id = wc.complete(
            conf.get_client(), complaint.complaint_id, complainted_mchid=complaint.complainted_mchid
        )
    except _CALL_ERRORS as exc:
        return _failure(exc)
    logger.info("Complaint %s marked complete by %s", complaint.complaint_id, user)
    moments.record_action(complaint, DeskAction.Kind.COMPLETE, _user_or_none(user), request_id)
    moments.note_completion(complaint, timezone.now())
    message = " ".join([gettext("The complaint was marked complete."), _after_accepted(complaint)]).strip()
    return Outcome(True, message, request_id=request_id or "", complaint=complaint)


def decide_refund(
    complaint: Complaint,
    action: str,
    *,
    reason: str = "",
    images: Sequence[Any] = (),
    remark: str = "",
    launch_refund_day: int | None = None,
    user: Any = None,
) -> Outcome:
    """Approve or reject the consumer's refund request (rejection: reason and ≤ 4 images).

    Approving does not refund: the refund API does that. Whether WeChat Pay takes a
    decision now is checked first: nothing is uploaded for a refused one.
    """
    if not (verdict := rules.can_decide_refund(complaint)):
        return _refused(verdict, complaint)
    try:
        wc.refund_progress_body(
            action,
            launch_refund_day=launch_refund_day,
            reject_reason=reason or None,
            reject_images=["-"] * len(images),
            remark=remark or None,
        )
    except wc.ComplaintRequestError as exc:
        return _failure(exc)
    records, failures = _upload_all(images, user)
    if failures:
        return Outcome(
            False, _upload_failure(failures, "DECISION_NOT_SENT"), code="IMAGE_UPLOAD_FAILED", complaint=complaint
        )
    try:
        request_id = wc.update_refund_progress(
            conf.get_client(),
            complaint.complaint_id,
            action,
            launch_refund_day=launch_refund_day,
            reject_reason=reason or None,
            reject_images=[record.media_id for record in records],
            remark=remark or None,
        )
    except _CALL_ERRORS as exc:
        return _failure(exc)
    logger.info("Refund of complaint %s: %s by %s", complaint.complaint_id, action, user)
    kind = DeskAction.Kind.APPROVE_REFUND if action == "APPROVE" else DeskAction.Kind.REJECT_REFUND
    recorded = moments.record_action(
        complaint, kind, _user_or_none(user), request_id, reason=reason, remark=remark, day=launch_refund_day
    )
    recorded.images.add(*records)
    message = gettext("The refund was approved.") if action == "APPROVE" else gettext("The refund was rejected.")
    message = " ".join([message, _after_accepted(complaint)]).strip()
    return Outcome(True, message, request_id=request_id or "", complaint=complaint)


# -- the notification URL -------------------------------------------------------------------------


def notification_url(url: str | None = None, *, delete: bool = False) -> Outcome:
    """Show (no arguments), set (``url``) or remove (``delete``) the notification URL.

    ``message`` is the URL now registered (empty when none).
    """
    try:
        client = conf.get_client()
        if delete:
            wc.delete_notification_url(client)
            current = None
        elif url:
            current = wc.set_notification_url(client, url)
        else:
            current = wc.get_notification_url(client)
    except _CALL_ERRORS as exc:
        return _failure(exc)
    return Outcome(True, current or "")


def _refused(verdict: rules.Verdict, complaint: Complaint) -> Outcome:
    return Outcome(False, verdict.reason, code="NOT_ALLOWED", complaint=complaint)


def _user_or_none(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None
