"""Acting on a complaint: reply, send a failed reply again, complete, decide a refund,
the instant-service reply.

A reply's images are uploaded first; if any fails, the reply is not sent: it is
kept as failed and says which image.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.utils import timezone

from ... import conf, texts
from ... import services as upload_services
from ...exceptions import RecordedError
from ...models import FeedbackImage
from ...outcome import UploadOutcome
from ...services.storing import recorded_user
from ...wechatpay import complaints as wc
from .. import moments, rules
from ..messages import message_for
from ..models import Complaint, DeskAction, Reply
from .reading import refresh
from .results import _CALL_ERRORS, Outcome, _failure, _refused

logger = logging.getLogger("django_wxpay_media.complaints")


def _upload_all(files: Sequence[Any], user: Any, account: str) -> tuple[list[FeedbackImage], list[tuple[str, str]]]:
    """Upload each file for merchant account ``account`` (or reuse an uploaded record of that
    account's merchant), ``CONCURRENCY`` at a time; go on after a failure.

    A record of another merchant fails (``MerchantMismatchError``): its media_id is
    not this account's.

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
            [item for _, item in records_to_finish], retry_failed=may_retry, wait=False, account=account
        )
        uploaded = upload_services.upload_many(
            [item for _, item in new_files], user=user, retry_failed=may_retry, wait=False, account=account
        )
    except ImproperlyConfigured as exc:  # settings: the same reason for every image, nothing sent
        reason = texts.error_message(exc)
        names = [
            getattr(i, "filename", None) or getattr(i, "name", None) or message_for("UNNAMED_IMAGE") for i in files
        ]
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
            name = getattr(item, "filename", None) or getattr(item, "name", None) or message_for("UNNAMED_IMAGE")
            reason = texts.error_message(outcome.error) if outcome.error is not None else texts.outcome_message(outcome)
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
    reply = Reply.objects.create(complaint=complaint, content=content, sent_by=recorded_user(user))
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
            message = message_for("REPLY_ALREADY_SENT")
        else:
            message = message_for("REPLY_BEING_SENT")
        return Outcome(True, message, complaint=reply.complaint, reply=reply)
    reply.state = Reply.State.PENDING
    return _deliver(reply, list(reply.images.all()), user)


def _deliver(reply: Reply, images: Sequence[Any], user: Any) -> Outcome:
    complaint = reply.complaint
    records, failures = _upload_all(images, user, complaint.account)
    if records:
        reply.images.add(*records)
    if failures:
        message = _upload_failure(failures, "REPLY_NOT_SENT")
        _mark(reply, Reply.State.FAILED, code="IMAGE_UPLOAD_FAILED", message=message)
        return Outcome(False, message, code="IMAGE_UPLOAD_FAILED", complaint=complaint, reply=reply)
    try:
        request_id = wc.reply(
            conf.get_client(complaint.account),  # the account it came through: a provider's for a sub-merchant
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
    sent = message_for("REPLY_SENT")
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
    reply: Reply,
    state: str,
    *,
    code: str = "",
    message: str = "",
    request_id: str = "",
    sent_at: datetime.datetime | None = None,
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
            conf.get_client(complaint.account), complaint.complaint_id, complainted_mchid=complaint.complainted_mchid
        )
    except _CALL_ERRORS as exc:
        return _failure(exc)
    logger.info("Complaint %s marked complete by %s", complaint.complaint_id, user)
    moments.record_action(complaint, DeskAction.Kind.COMPLETE, recorded_user(user), request_id)
    moments.note_completion(complaint, timezone.now())
    message = " ".join([message_for("MARKED_COMPLETE"), _after_accepted(complaint)]).strip()
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
    records, failures = _upload_all(images, user, complaint.account)
    if failures:
        return Outcome(
            False, _upload_failure(failures, "DECISION_NOT_SENT"), code="IMAGE_UPLOAD_FAILED", complaint=complaint
        )
    try:
        request_id = wc.update_refund_progress(
            conf.get_client(complaint.account),
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
        complaint, kind, recorded_user(user), request_id, reason=reason, remark=remark, day=launch_refund_day
    )
    recorded.images.add(*records)
    message = message_for("REFUND_APPROVED" if action == "APPROVE" else "REFUND_REJECTED")
    message = " ".join([message, _after_accepted(complaint)]).strip()
    return Outcome(True, message, request_id=request_id or "", complaint=complaint)


def instant_idempotent_id(form_token: str) -> str:
    """The ``idempotent_id`` of the message sent by one rendered form: derived from its one-time
    token, so every attempt to send that form's message (the client's retries included) names
    the same message, and WeChat Pay shows it once."""
    return "desk-" + hashlib.sha256(form_token.encode("utf-8")).hexdigest()[:40]


def respond_immediately(
    complaint: Complaint,
    text: str,
    images: Sequence[Any] = (),
    *,
    form_token: str,
    link_text: str = "",
    link_url: str = "",
    user: Any = None,
) -> Outcome:
    """The instant-service reply (``POST …/response-immediate-service``) for a complaint WeChat Pay
    flagged ``need_immediate_service``: check, upload the images, send, record it on the timeline.

    The rule and every limit are checked first: nothing is uploaded or sent when they fail.
    ``form_token`` is the claimed one-time token of the form; the ``idempotent_id`` comes from it.
    """
    if not (verdict := rules.can_respond_immediately(complaint)):
        return _refused(verdict, complaint)
    idempotent_id = instant_idempotent_id(form_token)
    try:  # media ids are not known yet; their number is
        wc.check_instant_reply(wc.simple_message(text, len(images), link_text, link_url), idempotent_id)
    except wc.ComplaintRequestError as exc:
        return _failure(exc)
    records, failures = _upload_all(images, user, complaint.account)
    if failures:
        return Outcome(
            False, _upload_failure(failures, "INSTANT_NOT_SENT"), code="IMAGE_UPLOAD_FAILED", complaint=complaint
        )
    blocks = wc.simple_message(text, [record.media_id for record in records], link_text, link_url)
    try:
        log_id = wc.respond_immediately(
            conf.get_client(complaint.account),
            complaint.complaint_id,
            complainted_mchid=complaint.complainted_mchid,
            blocks=blocks,
            idempotent_id=idempotent_id,
        )
    except _CALL_ERRORS as exc:
        return _failure(exc)
    logger.info("Instant-service reply to complaint %s by %s (log_id %s)", complaint.complaint_id, user, log_id)
    sent = message_for("INSTANT_SENT")
    try:
        recorded = moments.record_action(complaint, DeskAction.Kind.INSTANT_SERVICE, recorded_user(user), None)
        recorded.message = "\n".join(part for part in (text, link_text, link_url) if part)
        recorded.log_id = log_id
        recorded.save(update_fields=["message", "log_id"])
        recorded.images.add(*records)
    except DatabaseError:  # WeChat Pay has it: say so, never an error page
        logger.exception("Instant-service reply to complaint %s was sent but not recorded", complaint.pk)
        sent = " ".join([sent, message_for("SENT_NOT_RECORDED", request_id=log_id)])
    return Outcome(True, " ".join([sent, _after_accepted(complaint)]).strip(), complaint=complaint)
