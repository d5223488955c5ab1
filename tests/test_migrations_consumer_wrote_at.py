"""Complaints stored before ``consumer_wrote_at`` get it from what was stored (issue 18).

From the schema before the column (0007), complaints with USER_RESPONSE history steps
and notifications are created, then migrated forward: each has the latest of them, and
the "wrote again" list filter (columns only) agrees with what the old subqueries said.
"""

from __future__ import annotations

import datetime as dt

import pytest

from django_wxpay_media.complaints import flags
from django_wxpay_media.complaints.models import Complaint
from tests.migrating import apps_at, migrate

BEFORE = [("wxpay_complaints", "0007_instant_service_reply")]
AFTER = [("wxpay_complaints", "0008_complaint_consumer_wrote_at")]


def at(minute: int) -> dt.datetime:
    return dt.datetime(2026, 11, 27, 12, minute, tzinfo=dt.UTC)


@pytest.mark.django_db(transaction=True)
def test_stored_complaints_get_the_consumers_last_message():
    old = apps_at(BEFORE)
    OldComplaint = old.get_model("wxpay_complaints", "Complaint")
    OldHistoryEntry = old.get_model("wxpay_complaints", "HistoryEntry")
    OldNotification = old.get_model("wxpay_complaints", "Notification")
    assert "consumer_wrote_at" not in {f.name for f in OldComplaint._meta.get_fields()}

    def complaint(cid: str, replied: int | None = None):
        return OldComplaint.objects.create(complaint_id=cid, last_replied_at=None if replied is None else at(replied))

    def steps(row, *moments: tuple[str, int]) -> None:
        for n, (kind, minute) in enumerate(moments):
            OldHistoryEntry.objects.create(
                complaint=row, log_id=f"{row.complaint_id}-{n}", operate_type=kind, operate_time=at(minute)
            )

    def notified(cid: str, minute: int, action: str = "USER_RESPONSE") -> None:
        row = OldNotification.objects.create(
            notification_id=f"{cid}-{minute}-{action}", complaint_id=cid, action_type=action
        )
        OldNotification.objects.filter(pk=row.pk).update(received_at=at(minute))  # auto_now_add on create

    quiet = complaint("QUIET")
    steps(quiet, ("USER_CREATE_COMPLAINT", 1), ("MERCHANT_RESPONSE", 2))
    notified("QUIET", 3, "CREATE_COMPLAINT")
    stepped = complaint("STEPPED", replied=2)
    steps(stepped, ("USER_RESPONSE", 1), ("MERCHANT_RESPONSE", 2), ("USER_RESPONSE", 4))
    notified("NOTIFIED", 5)
    complaint("NOTIFIED")
    both_history_later = complaint("HISTORY-LATER", replied=8)
    steps(both_history_later, ("USER_RESPONSE", 7))
    notified("HISTORY-LATER", 6)
    both_notice_later = complaint("NOTICE-LATER", replied=10)
    steps(both_notice_later, ("USER_RESPONSE", 6))
    notified("NOTICE-LATER", 9)
    notified("NOTICE-LATER", 11)
    notified("NOT-STORED", 12)  # a notification whose complaint was never stored: nothing to fill

    migrate(AFTER)
    migrate()  # the rest of the suite expects the latest schema

    wrote = dict(Complaint.objects.values_list("complaint_id", "consumer_wrote_at"))
    assert wrote == {
        "QUIET": None,
        "STEPPED": at(4),
        "NOTIFIED": at(5),
        "HISTORY-LATER": at(7),
        "NOTICE-LATER": at(11),
    }
    waiting = set(Complaint.objects.filter(flags.wrote_again_q()).values_list("complaint_id", flat=True))
    assert waiting == {"STEPPED", "NOTIFIED", "NOTICE-LATER"}  # HISTORY-LATER: answered at 8

    migrate(BEFORE)  # reversible: the column goes, the rows stay
    assert OldComplaint.objects.count() == 5
    migrate()
