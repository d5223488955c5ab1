"""One result shape for the desk: ok, code, request_id, record; statuses are an enum, never bare strings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import django_wxpay_media
from django_wxpay_media.complaints import services
from django_wxpay_media.complaints.models import Complaint, Notification, Reply
from django_wxpay_media.complaints.notifications import NotificationStatus, handle_notification

from .helpers import signed_notification

pytestmark = pytest.mark.django_db


def _signed(desk, complaint_id, **kwargs):
    keys = desk.keys
    return signed_notification(
        keys.wechatpay_private_key, keys.wechatpay_public_key_id, keys.apiv3_key, complaint_id, **kwargs
    )


def test_a_notification_outcome_has_the_desk_shape(desk):
    cid = desk.seed_complaint(images=0)["complaint_id"]
    headers, body = _signed(desk, cid, notification_id="N-SHAPE")

    first = handle_notification(headers, body)
    again = handle_notification(headers, body)
    forged = handle_notification({**headers, "Wechatpay-Signature": "AAAA"}, body)

    assert first.status is NotificationStatus.ACCEPTED and first.ok and first.code == ""
    assert isinstance(first.record, Notification) and first.record.complaint_id == cid
    assert again.status is NotificationStatus.DUPLICATE and again.ok
    assert forged.status is NotificationStatus.REJECTED and not forged.ok and forged.code and forged.record is None


def test_a_desk_outcome_names_its_record(desk):
    refreshed = services.refresh(desk.seed_complaint(images=0)["complaint_id"])
    assert refreshed.ok and isinstance(refreshed.record, Complaint) and refreshed.code == ""
    replied = services.send_reply(refreshed.complaint, "您好，已处理。")
    assert replied.ok and isinstance(replied.record, Reply) and replied.request_id


def _bare_status_comparisons() -> list[str]:
    """``x.status == "..."`` / ``x.status in ("...", ...)`` in the desk's code."""
    found = []
    root = Path(django_wxpay_media.__file__).parent / "complaints"
    for path in root.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute)):
                continue
            if node.left.attr != "status":
                continue
            for right in node.comparators:
                constants = right.elts if isinstance(right, (ast.Tuple, ast.List, ast.Set)) else [right]
                if any(isinstance(c, ast.Constant) and isinstance(c.value, str) for c in constants):
                    found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_status_is_compared_with_a_bare_string():
    assert _bare_status_comparisons() == []
