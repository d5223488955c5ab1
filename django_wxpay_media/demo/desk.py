"""The demo's complaint desk: complaints seeded in the sandbox arrive through the real notification view.

:func:`open_desk` runs once the site is serving. It forgets the complaints of an
earlier run (the sandbox is new each run and knows none of them), seeds
:data:`SEEDS` in the sandbox (each with the consumer's pictures), registers the
site's notification URL with WeChat Pay's API (here the sandbox) through the
complaint desk's service, and has the sandbox POST a signed, encrypted
notification about each complaint to that URL. The site's notification view
verifies and decrypts each one and fetches the complaint's detail, exactly as it
would for WeChat Pay; nothing is written to the database behind its back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import requests

from django_wxpay_media.sandbox.images import rgb_png

#: The complaints a consumer files in the demo: one per state and problem type, each
#: with pictures. The first is the one the banner suggests answering.
SEEDS: tuple[dict[str, Any], ...] = (
    {
        "state": "PENDING",
        "problem_type": "REFUND",
        "problem_description": "商品未收到，申请退款",
        "complaint_detail": "付款一周了还没有收到商品，物流信息一直没有更新，请尽快退款。截图是订单和物流页面。",
        "amount": 12800,
        "out_trade_no": "DEMO20261127001",
        "images": 2,
        "hours_ago": 1,
    },
    {
        "state": "PENDING",
        "problem_type": "SERVICE_NOT_WORK",
        "problem_description": "充值未到账",
        "complaint_detail": "会员充值已经扣款，但账户里没有显示会员，客服电话打不通。",
        "amount": 3000,
        "out_trade_no": "DEMO20261126002",
        "images": 1,
        "hours_ago": 5,
    },
    {
        "state": "PROCESSING",
        "problem_type": "OTHERS",
        "problem_description": "发票问题",
        "complaint_detail": "申请开具发票三天了还没有收到，请处理。",
        "amount": 59900,
        "out_trade_no": "DEMO20261125003",
        "images": 1,
        "hours_ago": 30,
    },
    {
        "state": "PROCESSED",
        "problem_type": "REFUND",
        "problem_description": "重复扣款",
        "complaint_detail": "同一笔订单被扣了两次钱，附上两次扣款记录。",
        "amount": 4500,
        "out_trade_no": "DEMO20261124004",
        "images": 2,
        "hours_ago": 72,
    },
)


@dataclass
class DeskReport:
    """What :func:`open_desk` did, for the banner: complaint ids notified, and what went wrong."""

    notify_url: str
    registered: bool = False
    cleared: int = 0
    complaint_ids: list[str] = field(default_factory=list)
    arrived: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def clear_earlier_complaints() -> int:
    """Delete the complaints (and notifications) a previous run stored; returns how many complaints.

    Their replies go with them; the feedback images the replies carried stay. The
    consumer images downloaded into the storage are deleted with their rows.
    """
    from django_wxpay_media.complaints.models import (
        Complaint,
        ComplaintImage,
        Notification,
    )

    for image in ComplaintImage.objects.exclude(file=""):
        image.file.delete(save=False)
    count = Complaint.objects.count()
    Complaint.objects.all().delete()
    Notification.objects.all().delete()
    return count


def picture(seed: int, width: int = 240, height: int = 180) -> bytes:
    """A consumer's "photo": a PNG with a coloured background and a parcel-like box, distinct per seed.

    Big enough to look like something in the admin's thumbnails (the sandbox's own
    pictures are 16-pixel squares).
    """

    background = ((214, 226, 240), (236, 226, 208), (220, 236, 220), (240, 220, 226))[seed % 4]
    box = ((190, 140, 90), (90, 120, 190), (200, 90, 80), (80, 160, 120))[(seed // 4 + seed) % 4]
    left, top = width // 4 + (seed * 13) % (width // 5), height // 4 + (seed * 7) % (height // 6)
    rows = []
    for y in range(height):
        row = bytearray()
        shade = y * 40 // height
        for x in range(width):
            inside = left <= x < left + width // 2 and top <= y < top + height // 2
            tape = inside and abs(x - (left + width // 4)) < 6
            if tape:
                row += bytes((235, 215, 150))
            elif inside:
                row += bytes(box)
            else:
                row += bytes(max(0, c - shade) for c in background)
        rows.append(bytes(row))
    return rgb_png(width, height, rows)


def seed(sandbox: Any, now: dt.datetime | None = None) -> list[str]:
    """Seed :data:`SEEDS` in the (running) sandbox; returns their complaint ids, in order."""
    now = now or dt.datetime.now(dt.UTC)
    ids = []
    for number, spec in enumerate(SEEDS):
        options = {key: value for key, value in spec.items() if key not in ("hours_ago", "images")}
        pictures = [picture(number * 4 + index) for index in range(spec["images"])]
        detail = sandbox.seed_complaint(
            **options, images=pictures, complaint_time=now - dt.timedelta(hours=spec["hours_ago"])
        )
        ids.append(str(detail["complaint_id"]))
    return ids


def open_desk(sandbox: Any, notify_url: str) -> DeskReport:
    """Clear, seed, register ``notify_url`` and notify the site; never raises for a failed step.

    Call it while the site is serving (the notifications are real HTTP requests to it).
    """
    from django_wxpay_media.complaints import services

    report = DeskReport(notify_url=notify_url, cleared=clear_earlier_complaints())
    report.complaint_ids = seed(sandbox)
    outcome = services.notification_url(notify_url)
    report.registered = outcome.ok and outcome.message == notify_url
    if not report.registered:
        # The sandbox takes plain http only on loopback; notify the URL directly then.
        report.problems.append(f"The notification URL could not be registered: {outcome.message}")
    for complaint_id in report.complaint_ids:
        try:
            status = sandbox.notify(complaint_id, url=None if report.registered else notify_url)
        except requests.RequestException as exc:
            report.problems.append(f"Complaint {complaint_id}: the notification could not be delivered ({exc}).")
            continue
        if status == 204:
            report.arrived.append(complaint_id)
        else:
            report.problems.append(f"Complaint {complaint_id}: the site answered the notification with HTTP {status}.")
    return report
