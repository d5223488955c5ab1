"""The whole desk against the sandbox over a real socket: notification, detail,
consumer images, a reply with two images, completion, refund decision, sync."""

from __future__ import annotations

import datetime
import io
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone, translation

from django_wxpay_media import services as upload_services
from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import (
    Complaint,
    HistoryEntry,
    Notification,
    Reply,
)
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.wechatpay import complaints as wc
from tests.images import png_bytes

from .helpers import NOTIFY_URL, post, with_form_token

pytestmark = pytest.mark.django_db

NOTIFY = NOTIFY_URL


def connection_vendor() -> str:
    return connection.vendor


@pytest.fixture
def uploader(agent):
    """The agent, also allowed to upload feedback images (so to retry them)."""
    agent.user_permissions.add(Permission.objects.get(codename="upload_feedbackimage"))
    return User.objects.get(pk=agent.pk)  # permissions are cached per instance


def detail_fetches(sandbox, complaint_id):
    return [r for r in sandbox.requests if r.method == "GET" and r.path.endswith(f"/complaints-v2/{complaint_id}")]


def test_a_complaint_is_answered_with_two_images_and_completed(client, desk, agent):
    seeded = desk.seed_complaint(images=2, problem_type="SERVICE_NOT_WORK")
    cid = seeded["complaint_id"]

    # WeChat Pay notifies; the desk fetches the detail.
    headers, body = desk.notification(cid)
    assert post(client, headers, body).status_code == 204
    complaint = Complaint.objects.get(complaint_id=cid)
    assert complaint.state == "PENDING" and complaint.images.count() == 2
    assert complaint.complainted_mchid == seeded["complainted_mchid"]

    # Staff open it: the consumer's images are downloaded on demand.
    client.force_login(agent)
    page = client.get(reverse("admin:wxpay_complaints_complaint_change", args=[complaint.pk]))
    assert page.status_code == 200
    for image in complaint.images.all():
        response = client.get(reverse("admin:wxpay_complaints_complaint_image", args=[image.pk]))
        assert response.status_code == 200 and response["Content-Type"].startswith("image/")
        image.refresh_from_db()
        assert image.file and image.downloaded_at

    # They answer with two images: uploaded first, then the reply carries their media_ids.
    files = [SimpleUploadedFile(f"evidence{i}.png", png_bytes(40 + i), "image/png") for i in range(2)]
    url = reverse("admin:wxpay_complaints_complaint_reply", args=[complaint.pk])
    response = client.post(url, with_form_token(client, url, {"content": "您好，已为您补发商品。", "images": files}))
    assert response.status_code == 302
    reply = Reply.objects.get()
    assert reply.state == Reply.State.SENT and reply.request_id
    media_ids = sorted(FeedbackImage.objects.values_list("media_id", flat=True))
    sent = desk.complaint_replies(cid)
    assert len(sent) == 1
    assert sent[0]["response_content"] == "您好，已为您补发商品。"
    assert sorted(sent[0]["response_images"]) == media_ids and len(media_ids) == 2
    complaint.refresh_from_db()
    assert complaint.state == "PROCESSING"

    # And mark it complete, after the confirmation screen.
    url = reverse("admin:wxpay_complaints_complaint_complete", args=[complaint.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, with_form_token(client, url, {"confirm": "True"})).status_code == 302
    complaint.refresh_from_db()
    assert complaint.state == "PROCESSED"
    assert desk.complaints[cid]["complaint_state"] == "PROCESSED"


def test_a_replayed_notification_fetches_nothing_more(client, desk):
    cid = desk.seed_complaint()["complaint_id"]
    headers, body = desk.notification(cid)
    assert post(client, headers, body).status_code == 204
    fetched = len(detail_fetches(desk, cid))
    assert fetched == 1
    assert post(client, headers, body).status_code == 204
    assert len(detail_fetches(desk, cid)) == fetched
    assert Notification.objects.count() == 1


def test_a_forged_notification_changes_nothing(client, desk):
    cid = desk.seed_complaint()["complaint_id"]
    headers, body = desk.notification(cid)
    assert post(client, headers, body.replace(b'"id":"', b'"id":"x')).status_code == 401
    assert not Complaint.objects.exists() and not Notification.objects.exists()
    assert not detail_fetches(desk, cid)


def test_a_reply_whose_image_fails_is_not_sent(desk, uploader):
    cid = desk.seed_complaint()["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    desk.add_fault("status", count=10, status=500, code="SYSTEM_ERROR")
    outcome = services.send_reply(
        complaint, "请查看附件", [SimpleUploadedFile("bill.png", png_bytes(7), "image/png")], user=uploader
    )
    assert not outcome.ok and outcome.code == "IMAGE_UPLOAD_FAILED" and "bill.png" in outcome.message
    assert desk.complaint_replies(cid) == []
    desk.clear_faults()
    # Sending again retries the kept image (which needs the upload permission), then the reply.
    assert outcome.reply is not None
    again = services.resend_reply(outcome.reply, user=uploader)
    assert again.ok, again.message
    assert len(desk.complaint_replies(cid)[0]["response_images"]) == 1


NOT_RETRIED = "only staff allowed to upload feedback images may try it again"


def test_without_the_upload_permission_a_failed_image_is_not_retried(desk, agent):
    """Sending a failed image again is a retry: without its permission, nothing is sent."""
    cid = desk.seed_complaint()["complaint_id"]
    complaint = services.refresh(cid).complaint
    desk.add_fault("status", count=10, status=500, code="SYSTEM_ERROR")
    first = services.send_reply(complaint, "请查看附件", [SimpleUploadedFile("bill.png", png_bytes(8))], user=agent)
    assert not first.ok and first.reply is not None
    desk.clear_faults()
    record = FeedbackImage.objects.get()
    uploads = len(desk.uploads)

    again = services.resend_reply(first.reply, user=agent)  # the kept record
    anew = services.send_reply(complaint, "再看", [SimpleUploadedFile("bill.png", png_bytes(8))], user=agent)

    for outcome in (again, anew):
        assert not outcome.ok and outcome.code == "IMAGE_UPLOAD_FAILED"
        assert "“bill.png”" in outcome.message and NOT_RETRIED in outcome.message
    assert desk.complaint_replies(cid) == [] and len(desk.uploads) == uploads
    assert FeedbackImage.objects.get().attempts == record.attempts
    with translation.override("zh-hans"):
        assert "只有有权上传反馈图片的员工可以重试" in services.resend_reply(first.reply, user=agent).message


@pytest.mark.parametrize("how", ["new file", "kept record"])
def test_a_reply_fails_fast_while_another_request_uploads_its_image(desk, uploader, how):
    """A fresh claim by someone else: the reply says so at once, sends nothing, takes nothing over."""
    cid = desk.seed_complaint()["complaint_id"]
    complaint = services.refresh(cid).complaint
    record = upload_services.store(png_bytes(9), filename="busy.png").record
    FeedbackImage.objects.filter(pk=record.pk).update(
        status=FeedbackImage.Status.UPLOADING, upload_started_at=timezone.now(), claim_token="someone else"
    )
    if how == "new file":
        outcome = services.send_reply(
            complaint, "请稍候", [SimpleUploadedFile("busy.png", png_bytes(9))], user=uploader
        )
    else:
        reply = Reply.objects.create(complaint=complaint, content="请稍候", state=Reply.State.FAILED)
        reply.images.add(record)
        outcome = services.resend_reply(reply, user=uploader)

    assert not outcome.ok and outcome.code == "IMAGE_UPLOAD_FAILED"
    assert "“busy.png”" in outcome.message and "being uploaded by another request" in outcome.message
    assert desk.complaint_replies(cid) == [] and desk.uploads == []
    assert FeedbackImage.objects.get().claim_token == "someone else"


def test_a_resent_reply_never_carries_another_merchants_media_id(desk, agent):
    """A kept image uploaded for another merchant is refused before its media_id is reused."""
    cid = desk.seed_complaint()["complaint_id"]
    complaint = services.refresh(cid).complaint
    theirs = FeedbackImage.objects.create(
        filename="theirs.png",
        sha256="0" * 64,
        size=1,
        content_type="image/png",
        mchid="1900000002",
        status=FeedbackImage.Status.UPLOADED,
        media_id="media-of-another-merchant",
    )
    reply = Reply.objects.create(complaint=complaint, content="请查看", state=Reply.State.FAILED)
    reply.images.add(theirs)

    outcome = services.resend_reply(reply, user=agent)

    assert not outcome.ok and outcome.code == "IMAGE_UPLOAD_FAILED" and "“theirs.png”" in outcome.message
    assert "1900000002" in outcome.message
    assert desk.complaint_replies(cid) == []


def test_replies_go_to_the_complaints_merchant_not_ours(desk):
    cid = desk.seed_complaint(complainted_mchid="1900000999")["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None and complaint.complainted_mchid == "1900000999" != desk.mchid
    assert services.send_reply(complaint, "您好").ok
    assert desk.complaint_replies(cid)[0]["complainted_mchid"] == "1900000999"


def test_refund_rejected_with_an_image(desk, agent):
    cid = desk.seed_complaint(problem_type="REFUND")["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    files = [SimpleUploadedFile("signed.png", png_bytes(9), "image/png")]
    outcome = services.decide_refund(complaint, "REJECT", reason="商品已签收", images=files, user=agent)
    assert outcome.ok, outcome.message
    progress = [r for r in desk.requests if r.path.endswith("/update-refund-progress")]
    assert len(progress) == 1


def test_a_wechat_error_is_a_message_not_an_exception(desk):
    cid = desk.seed_complaint()["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    # A stale copy says PROCESSING, so the desk's own rule lets it through; WeChat refuses (still PENDING).
    complaint.state = Complaint.State.PROCESSING
    outcome = services.complete(complaint)
    assert not outcome.ok and outcome.message and outcome.code == "INVALID_REQUEST"


def test_sync_prints_each_complaint_and_its_state(desk):
    ids = sorted(desk.seed_complaint()["complaint_id"] for _ in range(3))
    out = io.StringIO()
    err = io.StringIO()
    call_command("wxpay_complaints", "sync", "--days", "7", stdout=out, stderr=err)
    assert sorted(out.getvalue().splitlines()) == [f"{cid}\tPENDING" for cid in ids]
    assert Complaint.objects.count() == 3
    assert HistoryEntry.objects.exists()
    first, last = wc.date_windows(7)[-1][0], wc.date_windows(7)[0][1]
    assert err.getvalue() == f"Found 3 complaints from {first} to {last} (Beijing time).\n"


def test_sync_says_when_it_finds_nothing(desk):
    out, err = io.StringIO(), io.StringIO()
    call_command("wxpay_complaints", "sync", "--days", "3", stdout=out, stderr=err)
    assert out.getvalue() == ""
    [line] = err.getvalue().splitlines()
    assert line.startswith("No complaints were found from ") and "--days" in line


def test_sync_fails_when_a_history_cannot_be_read(desk):
    cid = desk.seed_complaint()["complaint_id"]
    desk.add_fault(
        "status", count=10, path=f"/v3/merchant-service/complaints-v2/{cid}/negotiation-historys", status=500
    )
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("wxpay_complaints", "sync", stdout=io.StringIO(), stderr=err)
    assert cid in err.getvalue()


def test_notify_url_set_show_delete(desk):
    out = io.StringIO()
    call_command("wxpay_complaints", "notify-url", stdout=out)
    assert "No notification URL" in out.getvalue()
    call_command(
        "wxpay_complaints", "notify-url", "https://shop.example/wxpay/complaints/notify/", stdout=io.StringIO()
    )
    out = io.StringIO()
    call_command("wxpay_complaints", "notify-url", stdout=out)
    assert out.getvalue().strip() == "https://shop.example/wxpay/complaints/notify/"
    call_command("wxpay_complaints", "notify-url", "--delete", stdout=io.StringIO())
    out = io.StringIO()
    call_command("wxpay_complaints", "notify-url", stdout=out)
    assert "No notification URL" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("wxpay_complaints", "notify-url", "http://not-https.example/")


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_notifies_the_live_site(desk, live_server):
    cid = desk.seed_complaint()["complaint_id"]
    assert desk.notify(cid, url=live_server.url + NOTIFY) == 204
    assert Complaint.objects.filter(complaint_id=cid).exists()


@pytest.mark.skipif(connection_vendor() != "postgresql", reason="pg_stat_activity is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_no_session_is_idle_in_transaction_while_the_reply_is_sent(desk):
    cid = desk.seed_complaint()["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    desk.add_fault("delay", path=f"/v3/merchant-service/complaints-v2/{cid}/response", seconds=1.0)
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        # A connection of its own (this thread's), looking at every session of the test database
        # while the sandbox holds the reply (it records the reply when it answers). What runs
        # after the answer (storing the refreshed complaint) may open short transactions of its
        # own, with no call to WeChat Pay inside them: not what this test is about.
        with connections["default"].cursor() as cursor:
            while not stop.is_set() and not desk.complaint_replies(cid):
                cursor.execute(
                    "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                seen.extend(row[0] for row in cursor.fetchall() if row[0])
                stop.wait(0.05)
        connections["default"].close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        outcome = services.send_reply(complaint, "您好")
    finally:
        stop.set()
        watcher.join()
    assert outcome.ok, outcome.message
    assert seen, "the watcher saw no session at all"
    assert "idle in transaction" not in seen


def test_sync_reads_windows_beyond_thirty_days(desk):
    old = desk.seed_complaint(complaint_time=timezone.now() - datetime.timedelta(days=40))["complaint_id"]
    new = desk.seed_complaint()["complaint_id"]
    out = io.StringIO()
    call_command("wxpay_complaints", "sync", "--days", "45", stdout=out)
    assert sorted(out.getvalue().split()) == sorted([old, "PENDING", new, "PENDING"])
    out = io.StringIO()
    call_command("wxpay_complaints", "sync", "--days", "30", stdout=out)
    assert out.getvalue().split() == [new, "PENDING"]


def test_a_notification_whose_refresh_failed_is_taken_again(client, desk):
    cid = desk.seed_complaint()["complaint_id"]
    desk.add_fault("status", count=20, path=f"/v3/merchant-service/complaints-v2/{cid}", status=500)
    headers, body = desk.notification(cid)
    assert post(client, headers, body).status_code == 500  # WeChat Pay will send it again
    assert Notification.objects.get().refresh_error == "SYSTEM_ERROR"
    assert not Complaint.objects.exists()
    desk.clear_faults()
    assert post(client, headers, body).status_code == 204
    assert Complaint.objects.filter(complaint_id=cid).exists()
    assert Notification.objects.get().refresh_error == ""


def test_an_image_that_cannot_be_downloaded_is_a_502_with_a_sentence(client, desk, agent):
    cid = desk.seed_complaint(images=1)["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    image = complaint.images.get()
    desk.add_fault("status", count=20, path=None, status=404, code="RESOURCE_NOT_EXISTS")
    client.force_login(agent)
    response = client.get(reverse("admin:wxpay_complaints_complaint_image", args=[image.pk]))
    assert response.status_code == 502
    assert "could not be downloaded" in response.content.decode()
    image.refresh_from_db()
    assert not image.file and image.error_code
    page = client.get(reverse("admin:wxpay_complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert "Last download failed" in page


def test_refresh_button(client, desk, agent):
    cid = desk.seed_complaint()["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    Complaint.objects.filter(pk=complaint.pk).update(state="PROCESSED")
    client.force_login(agent)
    response = client.post(reverse("admin:wxpay_complaints_complaint_refresh", args=[complaint.pk]), follow=True)
    assert "refreshed from WeChat Pay" in response.content.decode()
    complaint.refresh_from_db()
    assert complaint.state == "PENDING"


def test_refund_decision_screen(client, desk, agent):
    cid = desk.seed_complaint(problem_type="REFUND")["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None
    client.force_login(agent)
    url = reverse("admin:wxpay_complaints_complaint_refund", args=[complaint.pk])
    assert url in client.get(reverse("admin:wxpay_complaints_complaint_change", args=[complaint.pk])).content.decode()
    # Rejecting needs a reason: refused on the form, nothing sent.
    response = client.post(url, {"action": "REJECT", "reject_reason": ""})
    assert response.status_code == 200 and "Say why the refund is rejected." in response.content.decode()
    assert desk.complaint_refund_updates(cid) == []
    files = [SimpleUploadedFile("delivered.png", png_bytes(77), "image/png")]
    data = with_form_token(client, url, {"action": "REJECT", "reject_reason": "快递显示已签收", "images": files})
    response = client.post(url, data)
    assert response.status_code == 302
    (update,) = desk.complaint_refund_updates(cid)
    assert update["action"] == "REJECT" and update["reject_reason"] == "快递显示已签收"
    assert update["reject_media_list"] == [FeedbackImage.objects.get().media_id]
    assert "complainted_mchid" not in update


def test_a_loopback_notification_url_is_accepted_only_by_a_loopback_sandbox(desk):
    call_command(
        "wxpay_complaints", "notify-url", "http://127.0.0.1:8000/wxpay/complaints/notify/", stdout=io.StringIO()
    )
    assert desk.complaint_notification_url == "http://127.0.0.1:8000/wxpay/complaints/notify/"
    with pytest.raises(CommandError):
        call_command("wxpay_complaints", "notify-url", "http://shop.example/notify/")


def test_sync_pages_through_more_than_one_page(desk):
    ids = {desk.seed_complaint(images=0)["complaint_id"] for _ in range(55)}
    out = io.StringIO()
    call_command("wxpay_complaints", "sync", "--days", "1", stdout=out)
    assert {line.split("\t")[0] for line in out.getvalue().splitlines()} == ids
    lists = [urlsplit(r.path) for r in desk.requests if urlsplit(r.path).path.endswith("/complaints-v2")]
    assert [parse_qs(target.query)["offset"] for target in lists] == [["0"], ["50"]]


def test_paging_advances_by_what_was_asked_not_the_echoed_offset(desk):
    """An answer that always says ``offset: 0`` must not send sync back to the first page forever."""
    ids = {desk.seed_complaint(images=0)["complaint_id"] for _ in range(55)}
    desk.add_fault("rewrite_json", count=5, path="/v3/merchant-service/complaints-v2", fields={"offset": 0})
    out = io.StringIO()
    call_command("wxpay_complaints", "sync", "--days", "1", stdout=out)
    assert {line.split("\t")[0] for line in out.getvalue().splitlines()} == ids
    lists = [urlsplit(r.path) for r in desk.requests if urlsplit(r.path).path.endswith("/complaints-v2")]
    assert [parse_qs(target.query)["offset"] for target in lists] == [["0"], ["50"]]


def test_paging_stops_at_the_page_limit(desk):
    """A list that never ends (here: a total_count WeChat keeps raising) is an error after max_pages pages."""
    from django_wxpay_media import conf
    from django_wxpay_media.wechatpay import complaints as wc
    from django_wxpay_media.wechatpay import errors

    for _ in range(4):
        desk.seed_complaint(images=0)
    desk.add_fault("rewrite_json", count=10, path="/v3/merchant-service/complaints-v2", fields={"total_count": 10**6})
    today = wc.beijing_today()
    with pytest.raises(errors.InvalidResponseError, match="3 pages"):
        list(wc.iter_complaints(conf.get_client(), today, today, page_size=1, max_pages=3))
    lists = [r for r in desk.requests if urlsplit(r.path).path.endswith("/complaints-v2")]
    assert len(lists) == 3


def test_sync_stores_the_others_when_one_complaint_cannot_be_stored(desk):
    good = desk.seed_complaint(images=0)["complaint_id"]
    too_long = desk.seed_complaint(images=0, out_trade_no="9" * 65)["complaint_id"]  # the column holds 64
    refused = desk.seed_complaint(images=0, amount=-1)["complaint_id"]  # the database's CHECK refuses it
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="2 of 3"):
        call_command("wxpay_complaints", "sync", "--days", "1", stdout=out, stderr=err)
    assert out.getvalue().split() == [good, "PENDING"]
    lines = {line.split("\t")[0]: line for line in err.getvalue().splitlines() if "\t" in line}
    assert set(lines) == {too_long, refused}
    assert "INVALID_RESPONSE" in lines[too_long] and "DATABASE_ERROR" in lines[refused]
    assert list(Complaint.objects.values_list("complaint_id", flat=True)) == [good]


def test_values_longer_than_their_column_are_refused_not_stored(client, desk):
    """SQLite does not enforce max_length: the code does, before anything is stored."""
    cid = desk.seed_complaint(images=0)["complaint_id"]
    headers, body = desk.notification(cid, notification_id="N" * 5000)
    assert post(client, headers, body).status_code == 401
    assert not Notification.objects.exists() and not detail_fetches(desk, cid)
    # A detail whose state does not fit: the notification is failed, the complaint not stored truncated.
    desk.add_fault(
        "rewrite_json", path=f"/v3/merchant-service/complaints-v2/{cid}", fields={"complaint_state": "P" * 33}
    )
    headers, body = desk.notification(cid)
    assert post(client, headers, body).status_code == 500
    record = Notification.objects.get()
    assert record.state == Notification.State.FAILED and record.refresh_error == "INVALID_RESPONSE"
    assert not Complaint.objects.exists()
    assert post(client, headers, body).status_code == 204  # redelivered, the detail is fine now
    assert Complaint.objects.get().state == "PENDING"
