"""Building WeChat Pay's side of a complaint notification, for protocol tests; posting a desk form.

Written from the spec with ``cryptography`` directly (not with the client's code):
AES-256-GCM under the APIv3 key, signed like an answer with WeChat Pay's key.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from django_wxpay_media.complaints import once


def encrypted_resource(plaintext: dict[str, Any], apiv3_key: str) -> dict[str, str]:
    nonce = secrets.token_hex(6)
    associated_data = "complaint"
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(plaintext).encode(), associated_data.encode()
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "original_type": "complaint",
        "associated_data": associated_data,
        "nonce": nonce,
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }


def signed_notification(
    signing_key: rsa.RSAPrivateKey,
    serial: str,
    apiv3_key: str,
    complaint_id: str,
    *,
    action_type: str = "CREATE_COMPLAINT",
    notification_id: str | None = None,
    timestamp: int | None = None,
    signature: str | None = None,
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(
        {
            "id": notification_id or secrets.token_hex(16),
            "create_time": "2026-11-27T12:00:00+08:00",
            "event_type": "COMPLAINT.CREATE",
            "resource_type": "encrypt-resource",
            "summary": "产生新投诉",
            "resource": encrypted_resource({"complaint_id": complaint_id, "action_type": action_type}, apiv3_key),
        },
        ensure_ascii=False,
    ).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16)
    if signature is None:
        message = b"%s\n%s\n%s\n" % (ts.encode(), nonce.encode(), body)
        signature = base64.b64encode(signing_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    headers = {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": signature,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return headers, body


#: Where WeChat Pay posts complaint notifications (the test project's URLconf).
NOTIFY_URL = "/wxpay/complaints/notify/"


def post(client, headers, body):
    """POST a notification to :data:`NOTIFY_URL` with the Django test client, ``headers`` as HTTP headers."""
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in dict(headers).items()}
    return client.generic("POST", NOTIFY_URL, body, content_type="application/json", **extra)


def with_form_token(client, url: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """``data`` plus the one-time token of the form ``url`` renders (GET), as a browser would post it."""
    page = client.get(url).content.decode()
    match = re.search(rf'name="{once.FIELD}" value="([^"]+)"', page)
    assert match, f"no one-time token in the form at {url}"
    return {**(data or {}), once.FIELD: match.group(1)}


def desk_staff(username: str, *codenames: str) -> Any:
    """A staff member with these desk permissions who sees every merchant (as existing staff do after upgrading)."""
    from django.contrib.auth.models import Permission, User

    from tests.grants import sees_every_merchant

    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="wxpay_complaints", codename__in=codenames)
    )
    return sees_every_merchant(user)


def stored(desk, **seed):
    """A complaint the sandbox ``desk`` seeds (no images unless ``images=``), refreshed into the database."""
    from django_wxpay_media.complaints import services

    complaint = services.refresh(desk.seed_complaint(**{"images": 0, **seed})["complaint_id"]).complaint
    assert complaint is not None
    return complaint


def aged(desk, hours: float, state: str = "PENDING", **seed):
    """A complaint filed ``hours`` ago in the sandbox ``desk``, fetched through the service."""
    import datetime

    from django.utils import timezone

    when = timezone.now() - datetime.timedelta(hours=hours)
    return stored(desk, state=state, complaint_time=when, **seed)
