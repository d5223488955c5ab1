"""Alerts: each event e-mailed once (Django's locmem outbox), a signal per event, reminders for cron."""

from __future__ import annotations

import datetime
import io
import threading
from importlib.util import find_spec

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connections
from django.db.models.signals import pre_save
from django.utils import timezone

from django_wxpay_media.complaints import alerts, services, signals
from django_wxpay_media.complaints.models import Alert, Complaint
from tests.complaints.helpers import post
from tests.grants import sees_every_merchant

pytestmark = pytest.mark.django_db

H = datetime.timedelta(hours=1)


def staff(name, *, can_reply=True, active=True, email=None):
    user = User.objects.create_user(
        name, email=f"{name}@example.com" if email is None else email, is_staff=True, is_active=active
    )
    sees_every_merchant(user)
    if can_reply:
        user.user_permissions.add(Permission.objects.get(codename="reply_complaint"))
    return user


@pytest.fixture
def team(db):
    return {
        "lead": staff("lead"),
        "viewer": staff("viewer", can_reply=False),
        "gone": staff("gone", active=False),
        "nomail": staff("nomail", email=""),
    }


def addresses(mail):
    return [message.to[0] for message in mail]


def test_a_new_complaint_is_alerted_once_to_staff_who_can_reply(client, desk, team, mailoutbox, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "COMPLAINT_ALERT_EMAILS": ["desk@example.com", "LEAD@example.com"]}
    cid = desk.seed_complaint(images=0, amount=2500)["complaint_id"]
    headers, body = desk.notification(cid)
    assert post(client, headers, body).status_code == 204
    assert addresses(mailoutbox) == ["lead@example.com", "desk@example.com"]  # no repeat, no viewer
    assert mailoutbox[0].subject == f"New WeChat Pay complaint {cid}"
    assert "Order amount: ¥25.00" in mailoutbox[0].body and "Reply due: " in mailoutbox[0].body
    # Redelivered, refreshed, synced: still one alert.
    assert post(client, headers, body).status_code == 204
    services.refresh(cid)
    services.sync(1)
    assert len(mailoutbox) == 2
    alert = Alert.objects.get()
    assert (alert.kind, alert.recipients, alert.error) == ("ARRIVED", ["lead@example.com", "desk@example.com"], "")
    assert alert.sent_at is not None


def test_a_processed_complaint_found_by_sync_is_not_alerted(desk, team, mailoutbox):
    desk.seed_complaint(images=0, state="PROCESSED")
    assert services.sync(1).ok
    assert mailoutbox == [] and not Alert.objects.exists()


def test_the_assignee_comes_first_and_in_their_language(desk, team, mailoutbox, settings):
    cid = desk.seed_complaint(images=0, state="PROCESSED")["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    assignee = staff("owner", can_reply=False)
    Complaint.objects.filter(pk=complaint.pk).update(assignee=assignee, state="PENDING")
    complaint.refresh_from_db()
    complaint.assignee.language = "zh-hans"  # a site whose user model knows the language
    alerts.alert(complaint, Alert.Kind.ARRIVED)
    assert addresses(mailoutbox) == ["owner@example.com", "lead@example.com"]
    assert mailoutbox[0].subject == f"新的微信支付投诉 {cid}"
    assert mailoutbox[1].subject == f"New WeChat Pay complaint {cid}"
    settings.LANGUAGE_CODE = "zh-hans"  # the site's language for addresses without a user
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "COMPLAINT_ALERT_EMAILS": ["desk@example.com"]}
    alerts.alert(complaint, Alert.Kind.OVERDUE, "x")
    assert mailoutbox[-1].to == ["desk@example.com"] and mailoutbox[-1].subject == f"投诉 {cid}：已超时"


def test_the_consumer_writing_again_is_alerted_once_per_reply(client, desk, team, mailoutbox):
    cid = desk.seed_complaint(images=0)["complaint_id"]
    headers, body = desk.notification(cid)
    post(client, headers, body)
    mailoutbox.clear()
    for _ in range(2):  # twice, before any reply: one alert
        desk.consumer_writes(cid, "在吗？")
        headers, body = desk.notification(cid, "USER_RESPONSE")
        assert post(client, headers, body).status_code == 204
    assert [m.subject for m in mailoutbox] == [f"The consumer wrote again on complaint {cid}"]
    complaint = Complaint.objects.get(complaint_id=cid)
    assert services.send_reply(complaint, "您好，正在处理。").ok
    desk.consumer_writes(cid, "还是没收到")
    headers, body = desk.notification(cid, "USER_RESPONSE")
    assert post(client, headers, body).status_code == 204
    assert len(mailoutbox) == 2  # a new reply, a new event
    assert Alert.objects.filter(kind="WROTE_AGAIN").count() == 2


def aged(desk, hours, state="PENDING"):
    start = timezone.now() - hours * H
    cid = desk.seed_complaint(images=0, state=state, complaint_time=start)["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    return complaint


def test_remind_sends_each_deadline_alert_once(desk, team, mailoutbox):
    soon, late, fine = aged(desk, 20), aged(desk, 30), aged(desk, 2)
    late_completion = aged(desk, 80, "PROCESSING")
    mailoutbox.clear()
    out = io.StringIO()
    call_command("wxpay_complaints", "remind", stdout=out)
    assert sorted(out.getvalue().splitlines()) == sorted(
        [f"{late.complaint_id}\tOVERDUE", f"{late_completion.complaint_id}\tOVERDUE", f"{soon.complaint_id}\tDUE_SOON"]
    )
    assert len(mailoutbox) == 3
    again = io.StringIO()
    call_command("wxpay_complaints", "remind", stdout=again)
    assert again.getvalue() == "" and len(mailoutbox) == 3
    assert not fine.alerts.exclude(kind="ARRIVED").exists()
    # Later, the due-soon one goes overdue: a new event.
    assert [a.kind for a in alerts.remind(now=timezone.now() + 5 * H) if a.complaint_id == soon.pk] == ["OVERDUE"]


def test_each_event_has_its_signal_sent_once_even_if_a_receiver_fails(desk, team, mailoutbox):
    heard = []

    def listener(sender, complaint, alert, **kwargs):
        heard.append((alert.kind, complaint.complaint_id))

    def broken(sender, **kwargs):
        raise RuntimeError("WeCom is down")

    for signal in (signals.complaint_arrived, signals.deadline_missed, signals.deadline_close):
        signal.connect(listener)
        signal.connect(broken)
    try:
        late = aged(desk, 30)
        alerts.remind()
        alerts.remind()
    finally:
        for signal in (signals.complaint_arrived, signals.deadline_missed, signals.deadline_close):
            signal.disconnect(listener)
            signal.disconnect(broken)
    assert heard == [("ARRIVED", late.complaint_id), ("OVERDUE", late.complaint_id)]
    assert len(mailoutbox) == 2  # the broken receiver stopped no e-mail


def test_a_mail_server_that_cannot_be_reached_is_recorded_and_storing_goes_on(desk, team, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # discard: refused
    cid = desk.seed_complaint(images=0)["complaint_id"]
    outcome = services.refresh(cid)
    assert outcome.ok
    alert = Alert.objects.get()
    assert alert.sent_at is None and alert.error and alert.recipients == ["lead@example.com"]


@pytest.mark.django_db(transaction=True)
def test_two_processes_reminding_at_once_send_each_alert_once(desk, team, mailoutbox):
    late, soon = aged(desk, 30), aged(desk, 20)
    mailoutbox.clear()
    # Both threads pass the "already alerted?" look-up, then meet just before their first
    # INSERT: only the unique constraint can settle it.
    at_insert = threading.Barrier(2)
    waited = threading.local()

    def meet(sender, instance, **kwargs):
        if not getattr(waited, "done", False):
            waited.done = True
            at_insert.wait(timeout=10)

    results: list[list[Alert]] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(alerts.remind())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pre_save.connect(meet, sender=Alert)
    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        pre_save.disconnect(meet, sender=Alert)
    assert not errors, errors
    won = sorted((a.complaint_id, a.kind) for batch in results for a in batch)
    assert won == sorted([(late.pk, "OVERDUE"), (soon.pk, "DUE_SOON")])
    assert len(mailoutbox) == 2
    assert Alert.objects.exclude(kind="ARRIVED").count() == 2


@pytest.mark.skipif(find_spec("django.tasks") is None and find_spec("django_tasks") is None, reason="no task framework")
def test_the_reminder_task_does_what_the_command_does(desk, team, mailoutbox):
    from django_wxpay_media.complaints.tasks import send_complaint_reminders

    aged(desk, 30)
    assert send_complaint_reminders.call() == {"OVERDUE": 1}
    assert send_complaint_reminders.call() == {}
    assert len(mailoutbox) == 2  # arrival and overdue


def unalerted(count: int) -> list[Complaint]:
    """New complaints stored without their arrival alert (as a sync stores a page before alerting it)."""
    now = timezone.now()
    return [
        Complaint.objects.create(
            complaint_id=f"2002{n:023d}", state="PENDING", complaint_time=now, complainted_mchid="1900000109"
        )
        for n in range(count)
    ]


def test_a_page_of_arrivals_is_alerted_each_once_skipping_those_alerted_already(desk, team, mailoutbox):
    first, *others = unalerted(3)
    assert len(alerts.offer_events(first)) == 1
    sent = alerts.offer_arrivals([first, *others])
    assert sorted(a.complaint_id for a in sent) == sorted(c.pk for c in others)
    assert addresses(mailoutbox) == ["lead@example.com"] * 3
    assert alerts.offer_arrivals([first, *others]) == [] and len(mailoutbox) == 3
    assert set(Alert.objects.values_list("kind", flat=True)) == {"ARRIVED"} and Alert.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_syncs_alerting_the_same_page_at_once_send_each_arrival_once(desk, team, mailoutbox):
    page = unalerted(4)
    # Both threads pass the "already alerted?" look-up, then meet just before their bulk
    # INSERT: only the unique constraint can settle it.
    at_insert = threading.Barrier(2)
    waited = threading.local()

    def meet(execute, sql, params, many, context):
        inserting = sql.startswith("INSERT") and "wxpay_complaints_alert" in sql.split("(", 1)[0]
        if inserting and not getattr(waited, "done", False):
            waited.done = True
            at_insert.wait(timeout=10)
        return execute(sql, params, many, context)

    results: list[list[Alert]] = []
    errors: list[BaseException] = []

    def run():
        try:
            with connections["default"].execute_wrapper(meet):
                results.append(alerts.offer_arrivals(list(Complaint.objects.filter(pk__in=[c.pk for c in page]))))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    won = sorted(a.complaint_id for batch in results for a in batch)
    assert won == sorted(c.pk for c in page)
    assert len(mailoutbox) == 4 and Alert.objects.count() == 4
