"""The demo's complaint desk: complaints seeded in the sandbox arrive through the real notification view.

:func:`open_desk` runs once the site is serving. It forgets the complaints of an
earlier run (the sandbox is new each run and knows none of them), seeds
:data:`SEEDS` in the sandbox (each with the consumer's pictures; the seeds and the
notifying live in :mod:`django_wxpay_media.sandbox.seeding`, which the sandbox's
command line uses too), registers the
site's notification URL with WeChat Pay's API (here the sandbox) through the
complaint desk's service, and has the sandbox POST a signed, encrypted
notification about each complaint to that URL (and a ``USER_RESPONSE`` one for
the consumer who wrote again). The site's notification view
verifies and decrypts each one and fetches the complaint's detail, exactly as it
would for WeChat Pay; nothing is written to the database behind its back.

The complaints are about two shops, :data:`SUB_MERCHANTS`, taken in turn: the
sandbox's merchant answers for both, as a service provider for its sub-merchants
does, and the demo's staff member ``agent`` (:mod:`.staff`) sees only the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django_wxpay_media.sandbox.seeding import SEEDS, notify_all, picture, seed_complaints, writers

__all__ = ["SEEDS", "SUB_MERCHANTS", "DeskReport", "clear_earlier_complaints", "open_desk", "picture", "seed"]

#: The two shops the demo's complaints are about (complainted_mchid), in turn.
SUB_MERCHANTS = ("1900000201", "1900000202")


@dataclass
class DeskReport:
    """What :func:`open_desk` did, for the banner: complaint ids notified, and what went wrong."""

    notify_url: str
    registered: bool = False
    cleared: int = 0
    complaint_ids: list[str] = field(default_factory=list)
    arrived: list[str] = field(default_factory=list)
    wrote_again: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def clear_earlier_complaints() -> int:
    """Delete the complaints (and notifications) a previous run stored; returns how many complaints.

    Their replies go with them; the feedback images the replies carried stay. The
    consumer images downloaded into the storage are deleted with their rows.
    """
    from django_wxpay_media.complaints.models import (
        Complaint,
        ComplaintImage,
        Notification,
    )

    for image in ComplaintImage.objects.exclude(file=""):
        image.file.delete(save=False)
    count = Complaint.objects.count()
    Complaint.objects.all().delete()
    Notification.objects.all().delete()
    return count


def seed(sandbox: Any) -> list[str]:
    """Seed :data:`SEEDS` in the (running) sandbox; returns their complaint ids, in order."""
    return seed_complaints(sandbox, len(SEEDS), sub_merchants=SUB_MERCHANTS)


#: The saved reply the demo offers on the reply screen (title, text with placeholders).
SAVED_REPLY = ("退款已安排 / Refund arranged", "您好，订单 {order} 的 ¥{amount} 已安排退款，预计 1-3 个工作日到账。")


def saved_reply() -> Any:
    """The demo's saved reply, created once (staff may edit it; a second run keeps their text)."""
    from django_wxpay_media.complaints.models import SavedReply

    title, text = SAVED_REPLY
    return SavedReply.objects.get_or_create(title=title, defaults={"text": text})[0]


def _record(report: DeskReport, deliveries: list[Any], delivered: list[str]) -> None:
    """Note each delivery in ``delivered`` (the site took it) or in the report's problems."""
    for delivery in deliveries:
        if delivery.status == 204:
            delivered.append(delivery.complaint_id)
        elif delivery.status is None:
            report.problems.append(
                f"Complaint {delivery.complaint_id}: the notification could not be delivered ({delivery.error})."
            )
        else:
            report.problems.append(
                f"Complaint {delivery.complaint_id}: the site answered the notification with HTTP {delivery.status}."
            )


def open_desk(sandbox: Any, notify_url: str) -> DeskReport:
    """Clear, seed, register ``notify_url`` and notify the site; never raises for a failed step.

    Call it while the site is serving (the notifications are real HTTP requests to it).
    """
    from django_wxpay_media.complaints import services

    report = DeskReport(notify_url=notify_url, cleared=clear_earlier_complaints())
    saved_reply()
    report.complaint_ids = seed(sandbox)
    outcome = services.notification_url(notify_url)
    report.registered = outcome.ok and outcome.message == notify_url
    if not report.registered:
        # The sandbox takes plain http only on loopback; notify the URL directly then.
        report.problems.append(f"The notification URL could not be registered: {outcome.message}")
    _record(
        report, notify_all(sandbox, report.complaint_ids, None if report.registered else notify_url), report.arrived
    )
    # The consumer who wrote again: WeChat Pay says so with a USER_RESPONSE notification.
    again = notify_all(
        sandbox, writers(report.complaint_ids), None if report.registered else notify_url, "USER_RESPONSE"
    )
    _record(report, again, report.wrote_again)
    return report
