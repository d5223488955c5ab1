"""The notification view: only a genuine, new notification changes anything."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.complaints.models import Complaint, Notification
from django_wxpay_media.complaints.views import MAX_BODY
from tests.helpers import fuzz

from .helpers import NOTIFY_URL, post, signed_notification

pytestmark = pytest.mark.django_db

URL = NOTIFY_URL


def notification(sandbox, **kwargs):
    keys = sandbox.keys
    return signed_notification(
        keys.wechatpay_private_key, keys.wechatpay_public_key_id, keys.apiv3_key, "2002", **kwargs
    )


def test_the_url_is_named():
    assert reverse("wxpay_complaints:notify") == URL


def test_get_is_not_allowed(client, desk):
    assert client.get(URL).status_code == 405


def test_a_forged_notification_changes_nothing(client, desk):
    headers, body = notification(desk)
    response = post(client, headers, body.replace(b"2026", b"2027"))
    assert response.status_code == 401
    assert not Notification.objects.exists() and not Complaint.objects.exists()


def test_a_stale_notification_changes_nothing(client, desk):
    headers, body = notification(desk, timestamp=int(time.time()) - 600)
    assert post(client, headers, body).status_code == 401
    assert not Notification.objects.exists()


def test_a_signtest_probe_changes_nothing(client, desk):
    headers, body = notification(desk, signature="WECHATPAY/SIGNTEST/xyz")
    assert post(client, headers, body).status_code == 401
    assert not Notification.objects.exists()


def test_an_oversized_body_is_refused_unread(client, desk):
    headers, body = notification(desk)
    response = post(client, headers, body + b" " * MAX_BODY)
    assert response.status_code == 413
    assert not Notification.objects.exists()


def test_csrf_is_not_required(desk):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    headers, body = notification(desk, timestamp=int(time.time()) - 600)
    # Refused for its timestamp (401), not by the CSRF middleware (403).
    assert post(strict, headers, body).status_code == 401


def test_a_repeated_notification_id_changes_nothing_and_calls_nothing(client, desk):
    Notification.objects.create(
        notification_id="N-1", complaint_id="2002", event_type="COMPLAINT.CREATE", state=Notification.State.HANDLED
    )
    headers, body = notification(desk, notification_id="N-1")
    assert post(client, headers, body).status_code == 204
    assert Notification.objects.count() == 1
    assert not Complaint.objects.exists()
    assert not [r for r in desk.requests if "complaints-v2" in r.path]


@given(body=st.binary(max_size=600), tamper=st.sampled_from(["body", "signature", "serial", "timestamp"]))
@fuzz(40)
def test_hostile_notifications_never_write(client, desk, body, tamper):
    headers, genuine = notification(desk)
    if tamper == "body":
        genuine = body
    elif tamper == "signature":
        headers["Wechatpay-Signature"] = base64.b64encode(body[:256] or b"x").decode()
    elif tamper == "serial":
        headers["Wechatpay-Serial"] = body.hex()[:40] or "0"
    else:
        headers["Wechatpay-Timestamp"] = str(int(time.time()) + 400)
    assert post(client, headers, genuine).status_code in (401, 413)
    assert not Notification.objects.exists() and not Complaint.objects.exists()


def _signed(sandbox, body: bytes) -> dict[str, str]:
    """WeChat Pay's signature headers over ``body`` (written from the spec with ``cryptography``)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    ts, nonce = str(int(time.time())), "nested-json-nonce"
    message = b"%s\n%s\n%s\n" % (ts.encode(), nonce.encode(), body)
    signature = sandbox.keys.wechatpay_private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": sandbox.keys.wechatpay_public_key_id,
        "Wechatpay-Signature": base64.b64encode(signature).decode(),
    }


def _encrypted(sandbox, plaintext: bytes) -> dict[str, str]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    ciphertext = AESGCM(sandbox.keys.apiv3_key.encode()).encrypt(b"0123456789ab", plaintext, b"complaint")
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "associated_data": "complaint",
        "nonce": "0123456789ab",
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }


@pytest.mark.parametrize("where", ["body", "resource"])
def test_a_signed_notification_of_deeply_nested_json_is_refused_not_a_500(client, desk, where):
    nested = b"[" * 20000 + b"]" * 20000  # deeper than any recursion limit; under the 64 KB cap
    if where == "body":
        body = b'{"id": "N-nested", "extra": ' + nested + b"}"
    else:
        resource = _encrypted(desk, b'{"complaint_id": "2002", "x": ' + nested + b"}")
        body = json.dumps({"id": "N-nested", "event_type": "COMPLAINT.CREATE", "resource": resource}).encode()
    assert len(body) <= MAX_BODY
    response = post(client, _signed(desk, body), body)
    assert response.status_code == 401
    assert response.json()["code"] == "FAIL"
    assert not Notification.objects.exists() and not Complaint.objects.exists()
    assert not [r for r in desk.requests if "complaints-v2" in r.path]
