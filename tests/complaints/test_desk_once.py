"""One rendered form sends once: a reply, a completion, a refund decision.

Two simultaneous POSTs of one form (two browser tabs, a double click) race in two
threads against the real sandbox, which holds the request that reaches it; the
sandbox records what it received. A later resubmission (back and submit again)
sends nothing either. Each test fails when the token's claim is removed.
"""

from __future__ import annotations

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_wxpay_media.complaints import once, services
from django_wxpay_media.complaints.models import Complaint, FormToken, Reply
from tests.complaints.helpers import stored

from .helpers import with_form_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

ALREADY = "submitted already, so nothing was sent again"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def race(user, url: str, data: dict) -> list:
    """POST ``data`` to ``url`` from two clients at once (two tabs); their final pages."""
    clients = [logged_in(user), logged_in(user)]
    start = threading.Barrier(len(clients))

    def submit(client):
        try:
            start.wait(timeout=30)
            return client.post(url, data, follow=True)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(submit, clients))


def action_url(name: str, complaint: Complaint | int, *more: int) -> str:
    pk = complaint.pk if isinstance(complaint, Complaint) else complaint
    return reverse(f"admin:wxpay_complaints_complaint_{name}", args=[pk, *more])


def sandbox_path(complaint: Complaint, action: str) -> str:
    return f"/v3/merchant-service/complaints-v2/{complaint.complaint_id}/{action}"


def received(desk, complaint: Complaint, action: str) -> int:
    return sum(1 for r in desk.requests if r.method == "POST" and r.path == sandbox_path(complaint, action))


def pages_text(responses) -> str:
    return "\n".join(response.content.decode() for response in responses)


def test_a_reply_form_posted_twice_at_once_and_again_later_is_sent_once(desk, agent):
    complaint = stored(desk)
    url = action_url("reply", complaint)
    data = with_form_token(logged_in(agent), url, {"content": "您好，已为您补发。"})
    desk.add_fault("delay", count=2, path=sandbox_path(complaint, "response"), seconds=1.0)
    responses = race(agent, url, data)
    assert [r.status_code for r in responses] == [200, 200]
    assert all(r.redirect_chain == [(action_url("change", complaint), 302)] for r in responses)
    assert len(desk.complaint_replies(complaint.complaint_id)) == 1
    assert Reply.objects.get().state == Reply.State.SENT
    assert ALREADY in pages_text(responses)  # the second tab is told, on the complaint's page
    # Back, and submit the same form again: nothing more.
    again = logged_in(agent).post(url, data, follow=True)
    assert again.redirect_chain == [(action_url("change", complaint), 302)]
    assert ALREADY in again.content.decode() and "您好，已为您补发。" in again.content.decode()
    assert len(desk.complaint_replies(complaint.complaint_id)) == 1 and Reply.objects.count() == 1
    chinese = logged_in(agent).post(url, data, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "此回复表单已经提交过，因此没有再次发送。" in chinese
    assert len(desk.complaint_replies(complaint.complaint_id)) == 1


def test_a_completion_form_posted_twice_at_once_and_again_later_is_sent_once(desk, agent):
    complaint = stored(desk)
    assert services.send_reply(complaint, "您好").ok  # completing needs a reply first
    url = action_url("complete", complaint)
    data = with_form_token(logged_in(agent), url, {"confirm": "True"})
    desk.add_fault("delay", count=2, path=sandbox_path(complaint, "complete"), seconds=1.0)
    responses = race(agent, url, data)
    assert received(desk, complaint, "complete") == 1
    assert ALREADY in pages_text(responses)
    again = logged_in(agent).post(url, data, follow=True)
    assert ALREADY in again.content.decode()
    assert received(desk, complaint, "complete") == 1


def test_a_refund_decision_posted_twice_at_once_and_again_later_is_sent_once(desk, agent):
    complaint = stored(desk, problem_type="REFUND")
    url = action_url("refund", complaint)
    data = with_form_token(logged_in(agent), url, {"action": "REJECT", "reject_reason": "商品已签收"})
    desk.add_fault("delay", count=2, path=sandbox_path(complaint, "update-refund-progress"), seconds=1.0)
    responses = race(agent, url, data)
    assert len(desk.complaint_refund_updates(complaint.complaint_id)) == 1
    assert ALREADY in pages_text(responses)
    again = logged_in(agent).post(url, data, follow=True)
    assert ALREADY in again.content.decode()
    assert len(desk.complaint_refund_updates(complaint.complaint_id)) == 1


def test_a_form_whose_token_is_unknown_or_expired_sends_nothing_and_gets_a_new_one(desk, agent):
    complaint = stored(desk)
    url = action_url("reply", complaint)
    client = logged_in(agent)
    expired = with_form_token(client, url, {"content": "您好"})
    FormToken.objects.update(created_at=timezone.now() - once.TOKEN_LIFETIME - datetime.timedelta(seconds=1))
    for data in [{"content": "您好"}, {"content": "您好", once.FIELD: "forged"}, expired]:
        response = client.post(url, data)
        assert response.status_code == 200 and "This form has expired" in response.content.decode()
        assert 'value="您好"' not in response.content.decode()  # a textarea: typed text kept inside
        assert "您好</textarea>" in response.content.decode()
    assert desk.complaint_replies(complaint.complaint_id) == [] and not Reply.objects.exists()
    # The re-rendered form's own token works; issuing it dropped the expired ones.
    assert client.post(url, with_form_token(client, url, {"content": "您好"})).status_code == 302
    assert len(desk.complaint_replies(complaint.complaint_id)) == 1
    assert not FormToken.objects.filter(created_at__lt=timezone.now() - once.TOKEN_LIFETIME).exists()


def test_a_token_belongs_to_its_complaint_and_action(desk, agent):
    first, second = stored(desk), stored(desk, problem_type="REFUND")
    client = logged_in(agent)
    data = with_form_token(client, action_url("reply", first), {"content": "您好"})
    assert "This form has expired" in client.post(action_url("reply", second), data).content.decode()
    refund = {**data, "action": "APPROVE", "launch_refund_day": "0"}
    assert "This form has expired" in client.post(action_url("refund", second), refund).content.decode()
    assert desk.complaint_replies(second.complaint_id) == []
    assert desk.complaint_refund_updates(second.complaint_id) == []
    assert client.post(action_url("reply", first), data).status_code == 302  # still unused for its own form


def test_a_failed_reply_sent_again_from_two_tabs_at_once_is_sent_once(desk, agent):
    complaint = stored(desk)
    desk.add_fault("status", path=sandbox_path(complaint, "response"), status=400, code="PARAM_ERROR")
    failed = services.send_reply(complaint, "您好，请查收。")
    assert not failed.ok and failed.reply is not None and desk.complaint_replies(complaint.complaint_id) == []
    url = action_url("resend", complaint.pk, failed.reply.pk)
    desk.add_fault("delay", count=2, path=sandbox_path(complaint, "response"), seconds=1.0)
    responses = race(agent, url, {})
    assert len(desk.complaint_replies(complaint.complaint_id)) == 1
    assert Reply.objects.get().state == Reply.State.SENT
    text = pages_text(responses)
    assert "The reply was sent to the consumer." in text
    assert "being sent already" in text or "sent already" in text
    logged_in(agent).post(url)  # later, once more: nothing
    assert len(desk.complaint_replies(complaint.complaint_id)) == 1
