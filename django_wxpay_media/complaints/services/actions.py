"""Acting on a complaint: reply, send a failed reply again, complete, decide a refund.

A reply's images are uploaded first; if any fails, the reply is not sent: it is
kept as failed and says which image.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.utils import timezone
from django.utils.translation import gettext

from ... import conf
from ... import services as upload_services
from ...exceptions import RecordedError, user_message
from ...models import FeedbackImage
from ...outcome import UploadOutcome
from ...wechatpay import complaints as wc
from .. import moments, rules
from ..messages import message_for
from ..models import Complaint, DeskAction, Reply
from .reading import refresh
from .results import _CALL_ERRORS, Outcome, _failure, _refused

logger = logging.getLogger("django_wxpay_media.complaints")


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


def _user_or_none(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None
