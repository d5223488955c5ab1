""" "The consumer wrote again" from the complaint's own columns (issue 18, the list at 100,000 complaints).

When the consumer last wrote (``consumer_wrote_at``) is kept on the complaint from the
history's USER_RESPONSE steps and from USER_RESPONSE notifications; the flag compares it
with the merchant's last reply (``last_replied_at``). Complaints come from the sandbox
through the service; history steps are stored through the storing service as a sync
stores them, at chosen times.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from django_wxpay_media.complaints import flags, services
from django_wxpay_media.complaints.models import Alert, Complaint, HistoryEntry, Notification
from django_wxpay_media.wechatpay import complaints as wc

from .helpers import aged, desk_staff, post, stored

pytestmark = pytest.mark.django_db

WROTE_AGAIN = Complaint.objects.filter(flags.filter_q(flags.WROTE_AGAIN))


def step(log_id: str, operate_type: str, when: dt.datetime) -> wc.HistoryEntry:
    """A history step as WeChat Pay lists it (times to the second, as WeChat sends them)."""
    return wc.HistoryEntry.from_json(
        {"log_id": log_id, "operator": "投诉人", "operate_type": operate_type, "operate_time": when.isoformat()}
    )


#: One moment for the whole module: two calls of minutes_ago(20) must give the same time, even
#: when the clock crosses a second between them (in the past of every test, as it is read once).
_NOW = timezone.now().replace(microsecond=0)


def minutes_ago(minutes: int) -> dt.datetime:
    return _NOW - dt.timedelta(minutes=minutes)


def waits(complaint: Complaint) -> bool:
    """The flag both ways: on the row in hand, and as the list's database condition."""
    complaint.refresh_from_db()
    in_python = flags.wrote_again(complaint)
    assert in_python == WROTE_AGAIN.filter(pk=complaint.pk).exists()
    return in_python


def test_a_user_response_step_after_the_last_reply_raises_it_and_a_later_merchant_step_clears_it(desk):
    complaint = stored(desk)
    assert complaint.consumer_wrote_at is None and not waits(complaint)
    services.store_history(
        complaint, [step("u0", "USER_RESPONSE", minutes_ago(20)), step("m1", "MERCHANT_RESPONSE", minutes_ago(10))]
    )
    assert not waits(complaint)  # written before the reply made elsewhere
    assert complaint.consumer_wrote_at == minutes_ago(20)
    services.store_history(complaint, [step("u1", "USER_RESPONSE", minutes_ago(5))])
    assert waits(complaint) and not complaint.incoming_user_response  # the step alone raises it
    assert complaint.consumer_wrote_at == minutes_ago(5)
    services.store_history(complaint, [step("u-old", "USER_RESPONSE", minutes_ago(30))])  # an older one keeps it
    complaint.refresh_from_db()
    assert complaint.consumer_wrote_at == minutes_ago(5)
    services.store_history(complaint, [step("m2", "MERCHANT_RESPONSE", minutes_ago(1))])  # replied on the platform
    assert not waits(complaint)


def test_a_new_complaint_takes_the_moment_from_its_history(desk):
    cid = desk.seed_complaint(images=0)["complaint_id"]
    desk.consumer_writes(cid, "在吗？")
    complaint = services.refresh(cid).complaint
    written = HistoryEntry.objects.get(complaint=complaint, operate_type="USER_RESPONSE").operate_time
    assert complaint.consumer_wrote_at == written is not None  # stored with the row, no later UPDATE
    complaint.refresh_from_db()
    assert complaint.consumer_wrote_at == written


def test_a_known_complaint_takes_the_moment_when_its_history_is_read_again(desk):
    complaint = stored(desk)
    desk.consumer_writes(complaint.complaint_id, "还没收到退款")
    assert services.sync(1).ok
    complaint.refresh_from_db()
    written = HistoryEntry.objects.get(complaint=complaint, operate_type="USER_RESPONSE").operate_time
    assert complaint.consumer_wrote_at == written is not None


def test_a_user_response_notification_raises_it_alerts_once_and_a_desk_reply_clears_it(client, desk):
    complaint = stored(desk)
    assert services.send_reply(complaint, "您好。").ok
    complaint.refresh_from_db()
    assert not waits(complaint)
    headers, body = desk.notification(complaint.complaint_id, "USER_RESPONSE")  # the detail does not say so
    assert post(client, headers, body).status_code == 204
    notification = Notification.objects.get(action_type="USER_RESPONSE")
    assert waits(complaint) and not complaint.incoming_user_response
    assert complaint.consumer_wrote_at == notification.received_at
    assert Alert.objects.filter(complaint=complaint, kind=Alert.Kind.WROTE_AGAIN).count() == 1
    assert post(client, headers, body).status_code == 204  # a redelivery: nothing new
    assert Alert.objects.filter(complaint=complaint, kind=Alert.Kind.WROTE_AGAIN).count() == 1
    assert services.send_reply(complaint, "已为您处理。").ok
    assert not waits(complaint)
    assert not WROTE_AGAIN.exists()


def test_the_list_filter_lists_exactly_the_consumers_waiting(client, desk):
    def complaint(name: str, **extra: object) -> Complaint:
        return aged(desk, 1, out_trade_no=f"OTN-{name}", extra=extra)

    complaint("QUIET")
    complaint("WAITING", incoming_user_response=True)  # the detail says so
    notified = complaint("NOTIFIED")
    answered = complaint("ANSWERED")
    for row in (notified, answered):
        headers, body = desk.notification(row.complaint_id, "USER_RESPONSE")
        assert post(client, headers, body).status_code == 204
    assert services.send_reply(answered, "您好，已处理。").ok
    stepped = complaint("STEPPED")
    services.store_history(
        stepped, [step("m", "MERCHANT_RESPONSE", minutes_ago(10)), step("u", "USER_RESPONSE", minutes_ago(5))]
    )
    replied = complaint("REPLIED")
    services.store_history(
        replied, [step("u", "USER_RESPONSE", minutes_ago(10)), step("m", "MERCHANT_RESPONSE", minutes_ago(5))]
    )
    client.force_login(desk_staff("lead", "view_complaint"))
    page = client.get(reverse("admin:wxpay_complaints_complaint_changelist"), {"flag": "wrote_again"})
    body = page.content.decode().split('id="result_list"', 1)[1].split("</table>", 1)[0]
    assert sorted(set(re.findall(r"OTN-([A-Z]+)", body))) == ["NOTIFIED", "STEPPED", "WAITING"]


moments = st.sampled_from([None, *(dt.datetime(2026, 11, 27, 12, minute, tzinfo=dt.UTC) for minute in range(3))])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), moments, moments), min_size=1, max_size=8))
def test_the_database_condition_is_the_rule(triples):
    Complaint.objects.all().delete()
    rows = Complaint.objects.bulk_create(
        Complaint(
            complaint_id=f"H{n:020d}", incoming_user_response=incoming, consumer_wrote_at=wrote, last_replied_at=replied
        )
        for n, (incoming, wrote, replied) in enumerate(triples)
    )
    expected = {
        f"H{n:020d}"
        for n, (incoming, wrote, replied) in enumerate(triples)
        # The rule: WeChat Pay says they wait, or they wrote and the merchant has not answered since.
        if incoming or (wrote is not None and (replied is None or wrote > replied))
    }
    assert set(WROTE_AGAIN.values_list("complaint_id", flat=True)) == expected
    assert {row.complaint_id for row in rows if flags.wrote_again(row)} == expected
