"""The complaint desk's only writer: the database and WeChat Pay meet here.

Rules:

* WeChat Pay's detail is the truth; rows are copies refreshed from it.
* No transaction or lock is held during a network call: each write is a short
  statement (or a small ``atomic()`` block) before or after the call, never around it.
* Results are values (:class:`Outcome`, :class:`SyncResult`,
  :class:`NotificationOutcome`) carrying a translated sentence for staff; the admin
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
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from .. import conf
from .. import services as upload_services
from ..exceptions import RecordedError, user_message
from ..models import FeedbackImage
from ..outcome import UploadOutcome
from ..wechatpay import complaints as wc
from ..wechatpay import errors
from .messages import message_for, staff_message
from .models import (
    Complaint,
    ComplaintImage,
    HistoryEntry,
    Notification,
    Reply,
    parse_time,
)

logger = logging.getLogger("django_wxpay_media.complaints")

#: Anything a call to WeChat Pay (or reading the settings for it) can end with.
_CALL_ERRORS = (errors.WeChatPayError, ImproperlyConfigured)


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


@dataclass(frozen=True)
class NotificationOutcome:
    """What :func:`handle_notification` did.

    ``status``: ``accepted`` (new, complaint refreshed), ``duplicate`` (id seen
    before, nothing changed), ``rejected`` (forged, stale, unreadable: nothing
    changed), ``refresh_failed`` (recorded, but the detail could not be fetched; a
    repeat of the same id tries again).
    """

    status: str
    reason: str = ""
    notification: Notification | None = None


def _failure(exc: BaseException, **extra: Any) -> Outcome:
    code = getattr(exc, "code", "") if isinstance(exc, errors.WeChatPayError) else "CONFIGURATION"
    return Outcome(False, staff_message(exc, **extra), code=code, request_id=getattr(exc, "request_id", None) or "")


# -- storing WeChat's copies ----------------------------------------------------------------


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
        "raw": detail.raw,
        "synced_at": timezone.now(),
    }
    try:
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    except IntegrityError:  # a concurrent notification created it first
        complaint, _ = Complaint.objects.update_or_create(complaint_id=detail.complaint_id, defaults=values)
    position = 0
    for media in detail.media:
        for url in media.media_urls:
            ComplaintImage.objects.get_or_create(
                complaint=complaint,
                url_hash=ComplaintImage.hash_url(url),
                defaults={"media_url": url, "media_type": media.media_type, "position": position},
            )
            position += 1
    return complaint


def store_history(complaint: Complaint, entries: Sequence[wc.HistoryEntry]) -> None:
    """Add the history entries not stored yet (no network)."""
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


# -- reading from WeChat Pay ------------------------------------------------------------------


def refresh(complaint_id: str, *, history: bool = True) -> Outcome:
    """Fetch one complaint's detail (and its history) and store them."""
    try:
        client = conf.get_client()
        detail = wc.get_complaint(client, complaint_id)
        entries = list(wc.iter_history(client, complaint_id)) if history else []
    except _CALL_ERRORS as exc:
        logger.warning("Complaint %s could not be refreshed: %s", complaint_id, exc)
        return _failure(exc)
    complaint = store(detail)
    store_history(complaint, entries)
    return Outcome(True, gettext("The complaint was refreshed from WeChat Pay."), complaint=complaint)


def sync(days: int = 30, *, complainted_mchid: str | None = None) -> SyncResult:
    """Store every complaint of the last ``days`` days, with its history.

    Reads the list window after window (30 days each) and page after page; a
    complaint whose history cannot be read is reported in ``failed``.
    """
    result = SyncResult()
    try:
        client = conf.get_client()
        for detail in wc.iter_recent_complaints(client, days, complainted_mchid=complainted_mchid):
            complaint = store(detail)
            try:
                store_history(complaint, list(wc.iter_history(client, detail.complaint_id)))
            except _CALL_ERRORS as exc:
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
    try:  # every limit, before anything is stored; media ids are not known yet
        wc.reply_body(complainted_mchid=complaint.complainted_mchid, content=content, images=["-"] * len(images))
    except wc.ComplaintRequestError as exc:
        return _failure(exc)
    reply = Reply.objects.create(complaint=complaint, content=content, sent_by=_user_or_none(user))
    return _deliver(reply, images, user)


def resend_reply(reply: Reply, *, user: Any = None) -> Outcome:
    """Send a failed reply again with the images it kept (uploading those not uploaded)."""
    if reply.state == Reply.State.SENT:
        return Outcome(True, gettext("The reply has been sent already."), complaint=reply.complaint, reply=reply)
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
    _mark(reply, Reply.State.SENT, request_id=request_id or "", sent_at=timezone.now())
    refresh(complaint.complaint_id)  # the first reply moves it to PROCESSING
    complaint.refresh_from_db()
    return Outcome(
        True,
        gettext("The reply was sent to the consumer."),
        request_id=request_id or "",
        complaint=complaint,
        reply=reply,
    )


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
    try:
        request_id = wc.complete(
            conf.get_client(), complaint.complaint_id, complainted_mchid=complaint.complainted_mchid
        )
    except _CALL_ERRORS as exc:
        return _failure(exc)
    logger.info("Complaint %s marked complete by %s", complaint.complaint_id, user)
    refresh(complaint.complaint_id)
    complaint.refresh_from_db()
    return Outcome(
        True, gettext("The complaint was marked complete."), request_id=request_id or "", complaint=complaint
    )


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

    Approving does not refund: the refund API does that.
    """
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
    refresh(complaint.complaint_id)
    complaint.refresh_from_db()
    message = gettext("The refund was approved.") if action == "APPROVE" else gettext("The refund was rejected.")
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


# -- notifications --------------------------------------------------------------------------------


def handle_notification(headers: Mapping[str, str], body: bytes) -> NotificationOutcome:
    """Verify, decrypt and record a complaint notification, then refresh its complaint.

    A forged, stale, probe or unreadable notification is rejected before anything
    is written; a repeated id changes nothing (unless its refresh had failed, which
    is then tried again).
    """
    try:
        client = conf.get_client()
        apiv3_key = conf.get_setting("APIV3_KEY")
        if not apiv3_key:
            raise ImproperlyConfigured("WXPAY_MEDIA['APIV3_KEY'] is needed to decrypt complaint notifications.")
        notification = wc.parse_notification(client.keys, apiv3_key, headers, body)
    except errors.SignatureVerificationError as exc:
        logger.warning("Complaint notification refused: %s", exc)
        return NotificationOutcome("rejected", exc.reason)
    except wc.NotificationError as exc:
        logger.warning("Complaint notification refused: %s", exc)
        return NotificationOutcome("rejected", exc.code)
    except (ImproperlyConfigured, errors.WeChatPayError) as exc:  # settings, or certificates unreachable
        logger.error("Complaint notification could not be checked: %s", exc)
        return NotificationOutcome("rejected", "CONFIGURATION")
    try:
        with transaction.atomic():  # a savepoint: the unique id settles concurrent deliveries
            record = Notification.objects.create(
                notification_id=notification.id,
                complaint_id=notification.complaint_id,
                event_type=notification.event_type,
                action_type=notification.action_type,
            )
    except IntegrityError:
        record = Notification.objects.get(notification_id=notification.id)
        if not record.refresh_error:
            return NotificationOutcome("duplicate", notification=record)
    # The detail only: WeChat Pay waits for the answer; the history loads on refresh or sync.
    outcome = refresh(notification.complaint_id, history=False)
    record.refresh_error = "" if outcome.ok else (outcome.code or "ERROR")
    record.save(update_fields=["refresh_error"])
    return NotificationOutcome("accepted" if outcome.ok else "refresh_failed", outcome.code, record)


def _user_or_none(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None
