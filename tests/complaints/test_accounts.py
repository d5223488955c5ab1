"""Several merchant accounts on one desk (issue 17), against sandboxes over real sockets.

Each merchant is a sandbox of its own with keys of its own: it refuses a request
signed for another mchid or with another key, and shows none of the others'
complaints. Two direct accounts upload and answer their own complaints with their
own keys; a service provider account syncs and answers its sub-merchants'
complaints and is notified on its own URL, verified with its own keys.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qs, quote, urlsplit

import hypothesis
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import strategies as st

from django_wxpay_media import services as upload_services
from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Complaint, Notification, Reply
from django_wxpay_media.models import FeedbackImage
from tests.images import png_bytes

pytestmark = pytest.mark.django_db

LIST_PATH = "/v3/merchant-service/complaints-v2"
SHOP2 = "1900000002"
PROVIDER = "1900000100"
SUB_A, SUB_B, SUB_OTHER = "1900000101", "1900000102", "1900000199"


def post(client, url, headers, body):
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in dict(headers).items()}
    return client.generic("POST", url, body, content_type="application/json", **extra)


def fast(options):
    return {**options, "MAX_RETRIES": 1, "RETRY_BACKOFF": 0.01}


@pytest.fixture
def shops(wxpay_sandbox_factory, settings):
    """Two direct merchants: the default account and ``shop2``, each its own sandbox and keys."""
    first = wxpay_sandbox_factory()
    second = wxpay_sandbox_factory(mchid=SHOP2)
    assert first.keys.merchant_private_key_pem != second.keys.merchant_private_key_pem
    settings.WXPAY_MEDIA = fast({**first.settings(), "ACCOUNTS": {"shop2": second.settings()}})
    return first, second


@pytest.fixture
def provider(wxpay_sandbox_factory, settings):
    """A direct merchant (default account) and a service provider account ``platform``
    handling two of its sub-merchants."""
    shop = wxpay_sandbox_factory()
    platform = wxpay_sandbox_factory(mchid=PROVIDER)
    account = {**platform.settings(), "SERVICE_PROVIDER": True, "SUB_MERCHANTS": [SUB_A, SUB_B]}
    settings.WXPAY_MEDIA = fast({**shop.settings(), "ACCOUNTS": {"platform": account}})
    return shop, platform


def requests_about(sandbox, complaint_id):
    return [r for r in sandbox.requests if complaint_id in r.path]


def test_two_direct_accounts_answer_their_own_complaints_with_their_own_keys(shops):
    first, second = shops
    mine = first.seed_complaint()["complaint_id"]
    theirs = second.seed_complaint()["complaint_id"]

    result = services.sync(7)

    assert result.ok and sorted(c.complaint_id for c in result.synced) == sorted([mine, theirs])
    assert Complaint.objects.get(complaint_id=mine).account == "default"
    assert Complaint.objects.get(complaint_id=theirs).account == "shop2"
    assert not requests_about(first, theirs) and not requests_about(second, mine)  # A never sees B's

    for sandbox, cid in ((first, mine), (second, theirs)):
        complaint = Complaint.objects.get(complaint_id=cid)
        outcome = services.send_reply(complaint, "您好", [io.BytesIO(png_bytes(hash(cid) % 1000))])
        assert outcome.ok, outcome.message
        [reply] = sandbox.complaint_replies(cid)
        assert reply["complainted_mchid"] == sandbox.mchid
        assert len(sandbox.uploads) == 1  # the image went to the answering account's merchant
    image_of = {image.account: image for image in FeedbackImage.objects.all()}
    assert (image_of["default"].mchid, image_of["shop2"].mchid) == (first.mchid, SHOP2)
    # Each sandbox accepted only requests signed for its mchid with its merchant's key.
    assert all(f'mchid="{first.mchid}"' in (r.authorization or "") for r in first.requests)
    assert all(f'mchid="{SHOP2}"' in (r.authorization or "") for r in second.requests)
    assert all(r.response_status in (200, 204) for r in [*first.requests, *second.requests])


def test_a_reply_refuses_an_image_uploaded_for_the_other_account(shops):
    first, second = shops
    cid = first.seed_complaint()["complaint_id"]
    complaint = services.refresh(cid).complaint
    assert complaint is not None and complaint.account == "default"
    theirs = upload_services.upload_image(io.BytesIO(png_bytes(7)), filename="theirs.png", account="shop2")
    assert (theirs.account, theirs.mchid) == ("shop2", SHOP2) and len(second.uploads) == 1

    reply = Reply.objects.create(complaint=complaint, content="请查看", state=Reply.State.FAILED)
    reply.images.add(theirs)
    outcome = services.resend_reply(reply)

    assert not outcome.ok and outcome.code == "IMAGE_UPLOAD_FAILED" and SHOP2 in outcome.message
    assert first.complaint_replies(cid) == [] and first.uploads == []


def test_the_same_bytes_are_one_record_per_merchant(shops):
    first, second = shops
    mine = upload_services.upload_image(io.BytesIO(png_bytes(3)), filename="a.png")
    again = upload_services.upload_image(io.BytesIO(png_bytes(3)), filename="a.png")
    theirs = upload_services.upload_image(io.BytesIO(png_bytes(3)), filename="a.png", account="shop2")
    assert again.pk == mine.pk and theirs.pk != mine.pk
    assert (len(first.uploads), len(second.uploads)) == (1, 1)


def test_an_account_signing_with_another_merchants_key_is_refused(wxpay_sandbox_factory, settings):
    """The sandbox checks the signature with the key of the mchid in the Authorization header."""
    first = wxpay_sandbox_factory()
    second = wxpay_sandbox_factory(mchid=SHOP2)
    mixed = {**second.settings(), "PRIVATE_KEY": first.keys.merchant_private_key_pem}
    settings.WXPAY_MEDIA = fast({**first.settings(), "ACCOUNTS": {"shop2": mixed}})
    outcome = upload_services.upload(io.BytesIO(png_bytes(5)), filename="a.png", account="shop2")
    assert not outcome.ok and outcome.error.code == "SIGN_ERROR"
    assert second.uploads == [] and first.uploads == []


def test_a_provider_syncs_and_answers_its_sub_merchants_complaints(provider):
    shop, platform = provider
    a = platform.seed_complaint(complainted_mchid=SUB_A)["complaint_id"]
    b = platform.seed_complaint(complainted_mchid=SUB_B)["complaint_id"]
    other = platform.seed_complaint(complainted_mchid=SUB_OTHER)["complaint_id"]

    out, err = io.StringIO(), io.StringIO()
    call_command("wxpay_complaints", "sync", "--account", "platform", stdout=out, stderr=err)

    assert sorted(line.split("\t")[0] for line in out.getvalue().splitlines()) == sorted([a, b])
    assert f"{other}\tignored: merchant {SUB_OTHER}" in err.getvalue()
    assert not Complaint.objects.filter(complaint_id=other).exists()
    lists = [urlsplit(r.path) for r in platform.requests if urlsplit(r.path).path == LIST_PATH]
    assert lists and all("complainted_mchid" not in parse_qs(target.query) for target in lists)
    assert shop.requests == []  # --account: only that account

    for cid, sub in ((a, SUB_A), (b, SUB_B)):
        complaint = Complaint.objects.get(complaint_id=cid)
        assert (complaint.account, complaint.complainted_mchid) == ("platform", sub)
        outcome = services.send_reply(complaint, "您好", [io.BytesIO(png_bytes(11))])
        assert outcome.ok, outcome.message
        assert platform.complaint_replies(cid)[0]["complainted_mchid"] == sub
    [image] = FeedbackImage.objects.all()  # one upload for the provider, used for both replies
    assert (image.account, image.mchid) == ("platform", PROVIDER)


def test_sync_reads_every_account_by_default(provider):
    shop, platform = provider
    mine = shop.seed_complaint()["complaint_id"]
    sub = platform.seed_complaint(complainted_mchid=SUB_A)["complaint_id"]
    result = services.sync(7)
    assert sorted(c.complaint_id for c in result.synced) == sorted([mine, sub])
    assert dict(Complaint.objects.values_list("complaint_id", "account")) == {mine: "default", sub: "platform"}


def test_the_provider_is_notified_on_its_own_url_verified_with_its_keys(client, provider):
    _shop, platform = provider
    cid = platform.seed_complaint(complainted_mchid=SUB_A)["complaint_id"]
    headers, body = platform.notification(cid)

    # Sent to the default account's URL, the provider's notification fails its keys.
    assert post(client, "/wxpay/complaints/notify/", headers, body).status_code == 401
    assert not Notification.objects.exists() and not requests_about(platform, cid)

    assert post(client, "/wxpay/complaints/notify/platform/", headers, body).status_code == 204
    complaint = Complaint.objects.get(complaint_id=cid)
    assert (complaint.account, complaint.complainted_mchid) == ("platform", SUB_A)


def test_a_notification_signed_with_another_accounts_key_is_refused(client, provider):
    shop, _platform = provider
    cid = shop.seed_complaint()["complaint_id"]
    headers, body = shop.notification(cid)
    assert post(client, "/wxpay/complaints/notify/platform/", headers, body).status_code == 401
    assert not Notification.objects.exists() and not Complaint.objects.exists()
    assert post(client, "/wxpay/complaints/notify/", headers, body).status_code == 204
    assert Complaint.objects.get(complaint_id=cid).account == "default"


def test_a_notification_about_a_sub_merchant_not_handled_is_acknowledged_and_ignored(client, provider):
    _shop, platform = provider
    cid = platform.seed_complaint(complainted_mchid=SUB_OTHER)["complaint_id"]
    headers, body = platform.notification(cid)
    assert post(client, "/wxpay/complaints/notify/platform/", headers, body).status_code == 204
    assert not Complaint.objects.exists()
    notification = Notification.objects.get()
    assert notification.state == Notification.State.HANDLED and notification.refresh_error == "NOT_HANDLED"


def test_an_unknown_account_url_is_not_found(client, provider):
    shop, _ = provider
    headers, body = shop.notification(shop.seed_complaint()["complaint_id"])
    assert post(client, "/wxpay/complaints/notify/shop9/", headers, body).status_code == 404


def test_notify_url_per_account(provider):
    shop, platform = provider
    url = "https://shop.example/wxpay/complaints/notify/platform/"
    call_command("wxpay_complaints", "notify-url", url, "--account", "platform", stdout=io.StringIO())
    assert platform.complaint_notification_url == url and shop.complaint_notification_url is None
    with pytest.raises(CommandError, match="'shop9' is not a merchant account"):
        call_command("wxpay_complaints", "notify-url", "--account", "shop9", stdout=io.StringIO())


@hypothesis.settings(
    max_examples=25, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture]
)
@hypothesis.given(name=st.text(min_size=1, max_size=20).filter(lambda n: n not in ("default", "platform")))
def test_any_other_account_in_the_url_is_not_found(provider, name):
    shop, _ = provider
    headers, body = shop.notification("200000020261127000001")
    url = f"/wxpay/complaints/notify/{quote(name, safe='')}/"
    response = post(Client(), url, headers, body)
    assert response.status_code == 404
    assert not Notification.objects.exists()


def test_the_sandbox_refuses_a_request_for_another_mchid_even_with_its_own_key(wxpay_sandbox_factory, settings):
    """Signed with this merchant's key, but naming another mchid in Authorization: refused."""
    first = wxpay_sandbox_factory()
    settings.WXPAY_MEDIA = fast({**first.settings(), "ACCOUNTS": {"shop2": {**first.settings(), "MCHID": SHOP2}}})
    outcome = upload_services.upload(io.BytesIO(png_bytes(6)), filename="a.png", account="shop2")
    assert not outcome.ok and outcome.error.code == "SIGN_ERROR"
    assert first.uploads == []
    assert "is not this merchant" in first.requests[-1].response_message
