"""The 24 h / 72 h clocks: one complaint in Python, the list in SQL, with a frozen 'now'."""

from __future__ import annotations

import datetime

import pytest
from django.db.models import Q
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from django_wxpay_media.complaints import deadlines, services
from django_wxpay_media.complaints.deadlines import COMPLETION, DUE_SOON, NONE, ON_TIME, OVERDUE, REPLY
from django_wxpay_media.complaints.models import Complaint
from django_wxpay_media.wechatpay import complaints as wc

pytestmark = pytest.mark.django_db

CST = datetime.timezone(datetime.timedelta(hours=8))
T0 = datetime.datetime(2026, 11, 20, 10, 0, tzinfo=CST)
H = datetime.timedelta(hours=1)


def seeded(desk, state="PENDING", start=T0, **extra):
    cid = desk.seed_complaint(state=state, complaint_time=start, images=0, **extra)["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    return complaint


def test_a_pending_complaint_runs_the_reply_clock(desk):
    complaint = seeded(desk)
    assert complaint.complaint_time == T0
    clock = deadlines.clock_for(complaint, now=T0 + H)
    assert (clock.kind, clock.deadline, clock.urgency) == (REPLY, T0 + 24 * H, ON_TIME)
    assert clock.remaining == 23 * H and clock.label == "Reply due" and clock.urgency_label == "On time"
    assert deadlines.clock_for(complaint, now=T0 + 18 * H).urgency == DUE_SOON  # 6 h left: due soon
    assert deadlines.clock_for(complaint, now=T0 + 18 * H - datetime.timedelta(seconds=1)).urgency == ON_TIME
    assert deadlines.clock_for(complaint, now=T0 + 24 * H).urgency == OVERDUE  # at the deadline itself
    assert deadlines.clock_for(complaint, now=T0 + 30 * H).remaining == -6 * H


def test_a_processing_complaint_runs_the_completion_clock_and_a_processed_one_none(desk):
    processing = seeded(desk, "PROCESSING")
    clock = deadlines.clock_for(processing, now=T0 + 30 * H)
    assert (clock.kind, clock.deadline, clock.urgency) == (COMPLETION, T0 + 72 * H, ON_TIME)
    assert deadlines.clock_for(processing, now=T0 + 67 * H).urgency == DUE_SOON
    assert deadlines.clock_for(processing, now=T0 + 73 * H).urgency == OVERDUE
    processed = deadlines.clock_for(seeded(desk, "PROCESSED"), now=T0 + 100 * H)
    assert (processed.kind, processed.deadline, processed.urgency, processed.running) == (NONE, None, "", False)
    assert processed.reply_deadline == T0 + 24 * H  # still known, for the page


def test_the_windows_are_settings(desk, settings):
    complaint = seeded(desk)
    settings.WXPAY_MEDIA = {
        **settings.WXPAY_MEDIA,
        "COMPLAINT_REPLY_HOURS": 12,
        "COMPLAINT_COMPLETE_HOURS": 48,
        "COMPLAINT_DUE_SOON_HOURS": 1,
    }
    clock = deadlines.clock_for(complaint, now=T0 + 10 * H)
    assert (clock.deadline, clock.urgency, clock.completion_deadline) == (T0 + 12 * H, ON_TIME, T0 + 48 * H)
    assert Complaint.objects.overdue(now=T0 + 12 * H).get() == complaint
    assert not Complaint.objects.due_soon(now=T0 + 10 * H).exists()


def test_bad_window_settings_are_configuration_errors(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.WXPAY_MEDIA = {"COMPLAINT_REPLY_HOURS": "24"}
    with pytest.raises(ImproperlyConfigured, match="E029"):
        deadlines.reply_window()


def ages(desk):
    """Six complaints on the desk at NOW: overdue, due soon and on time, per clock; one processed."""
    now = T0 + 100 * H
    made = {
        "reply_overdue": seeded(desk, "PENDING", now - 25 * H),
        "reply_soon": seeded(desk, "PENDING", now - 23 * H),
        "reply_on_time": seeded(desk, "PENDING", now - 2 * H),
        "completion_overdue": seeded(desk, "PROCESSING", now - 80 * H),
        "completion_soon": seeded(desk, "PROCESSING", now - 71 * H),
        "completion_on_time": seeded(desk, "PROCESSING", now - 30 * H),
        "processed": seeded(desk, "PROCESSED", now - 200 * H),
    }
    return now, made


def test_the_list_sorts_what_is_due_first_and_filters_by_urgency(desk):
    now, made = ages(desk)
    order = [c.pk for c in Complaint.objects.due_first(now=now)]
    expected = ["completion_overdue", "reply_overdue", "reply_soon", "completion_soon", "reply_on_time"]
    expected += ["completion_on_time", "processed"]
    assert order == [made[name].pk for name in expected]

    def names(queryset):
        return {name for name, c in made.items() if queryset.filter(pk=c.pk).exists()}

    assert names(Complaint.objects.overdue(now=now)) == {"reply_overdue", "completion_overdue"}
    assert names(Complaint.objects.due_soon(now=now)) == {"reply_soon", "completion_soon"}
    assert names(Complaint.objects.on_time(now=now)) == {"reply_on_time", "completion_on_time"}
    assert names(Complaint.objects.by_urgency(OVERDUE, now=now)) == {"reply_overdue", "completion_overdue"}


def test_the_annotations_agree_with_the_clock_of_each_complaint(desk):
    now, _made = ages(desk)
    for row in Complaint.objects.with_deadlines(now=now):
        clock = deadlines.clock_for(row, now=now)
        assert (row.clock, row.due_at, row.urgency) == (clock.kind, clock.deadline, clock.urgency), row
        assert row.reply_deadline == clock.reply_deadline and row.completion_deadline == clock.completion_deadline


def test_the_counts_come_from_one_query(desk, django_assert_num_queries):
    now, _made = ages(desk)
    with django_assert_num_queries(1):
        counts = Complaint.objects.desk_counts(now=now)
    assert counts == {"pending": 3, "pending_overdue": 1, "processing": 3, "processing_overdue": 1, "processed": 1}


def test_filters_are_sql_not_python():
    now = T0
    sql = str(Complaint.objects.overdue(now=now).query)
    assert "complaint_time" in sql and "raw" not in sql.split("WHERE", 1)[1]


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["PENDING", "PROCESSING", "PROCESSED"]),
            st.one_of(st.none(), st.integers(min_value=-200 * 3600, max_value=3600)),
        ),
        max_size=6,
    )
)
def test_sql_and_python_agree_on_any_desk(rows):
    Complaint.objects.all().delete()
    now = T0
    for i, (state, offset) in enumerate(rows):
        start = None if offset is None else now + datetime.timedelta(seconds=offset)
        Complaint.objects.create(complaint_id=f"C{i}", state=state, complaint_time=start, complainted_mchid="1")
    python = {c.pk: deadlines.clock_for(c, now=now).urgency for c in Complaint.objects.all()}
    for urgency in (OVERDUE, DUE_SOON, ON_TIME):
        in_sql = set(Complaint.objects.by_urgency(urgency, now=now).values_list("pk", flat=True))
        assert in_sql == {pk for pk, value in python.items() if value == urgency}
    annotated = dict(Complaint.objects.with_deadlines(now=now).values_list("pk", "urgency"))
    assert annotated == python
    counts = Complaint.objects.desk_counts(now=now)
    assert counts["pending_overdue"] + counts["processing_overdue"] == list(python.values()).count(OVERDUE)
    due = [c.due_at for c in Complaint.objects.due_first(now=now) if c.due_at is not None]
    assert due == sorted(due)
    assert not Complaint.objects.filter(Q(state="PROCESSED")).by_urgency(OVERDUE, now=now).exists()


def test_answered_and_completed_moments_come_from_the_desk(desk):
    complaint = seeded(desk, start=datetime.datetime.now(CST) - 2 * H)
    assert complaint.answered_at is None and complaint.completed_at is None
    outcome = services.send_reply(complaint, "您好，已为您处理。")
    assert outcome.ok, outcome.message
    complaint.refresh_from_db()
    reply = complaint.replies.get()
    assert complaint.answered_at is not None and complaint.answered_at <= reply.sent_at + H
    assert complaint.last_replied_at is not None
    assert services.complete(complaint).ok
    complaint.refresh_from_db()
    assert complaint.completed_at is not None and complaint.state == "PROCESSED"


def test_answered_moment_comes_from_wechats_history_when_replied_elsewhere(desk):
    from django_wxpay_media import conf

    complaint = seeded(desk)
    # Someone answers on the merchant platform, not on the desk: only WeChat's history tells.
    wc.reply(conf.get_client(), complaint.complaint_id, complainted_mchid=complaint.complainted_mchid, content="已处理")
    services.refresh(complaint.complaint_id)
    complaint.refresh_from_db()
    step = complaint.history.get(operate_type="MERCHANT_RESPONSE")
    assert complaint.answered_at == step.operate_time == complaint.last_replied_at
    assert complaint.state == "PROCESSING"


def test_a_reply_wechat_accepted_is_recorded_even_if_the_refresh_after_it_fails(desk):
    complaint = seeded(desk, start=datetime.datetime.now(CST) - 2 * H)
    desk.add_fault("status", count=20, path=f"/v3/merchant-service/complaints-v2/{complaint.complaint_id}", status=500)
    assert services.send_reply(complaint, "您好，已处理。").ok
    complaint.refresh_from_db()
    assert complaint.state == "PENDING"  # the copy could not be refreshed
    assert complaint.answered_at == complaint.last_replied_at == complaint.replies.get().sent_at


def test_the_deadline_itself_is_overdue_in_sql_too(desk):
    complaint = seeded(desk)
    assert list(Complaint.objects.overdue(now=T0 + 24 * H)) == [complaint]
    assert not Complaint.objects.due_soon(now=T0 + 24 * H).exists()
    assert list(Complaint.objects.due_soon(now=T0 + 18 * H)) == [complaint]  # 6 h left exactly
    assert not Complaint.objects.on_time(now=T0 + 18 * H).exists()
    assert Complaint.objects.with_deadlines(now=T0 + 24 * H).get().urgency == OVERDUE


def test_a_completion_wechat_accepted_is_recorded_even_if_the_refresh_after_it_fails(desk):
    complaint = seeded(desk, start=datetime.datetime.now(CST) - 2 * H)
    assert services.send_reply(complaint, "您好，已处理。").ok
    complaint.refresh_from_db()
    desk.add_fault("status", count=20, path=f"/v3/merchant-service/complaints-v2/{complaint.complaint_id}", status=500)
    assert services.complete(complaint).ok
    complaint.refresh_from_db()
    assert complaint.state == "PROCESSING"  # the copy could not be refreshed
    assert complaint.completed_at is not None and complaint.desk_actions.get().kind == "COMPLETE"
