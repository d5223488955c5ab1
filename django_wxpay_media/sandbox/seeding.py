"""Complaints a consumer files, seeded in a running sandbox, and the notifications about them.

A thin layer over :meth:`Sandbox.seed_complaint <.server.Sandbox.seed_complaint>` and
:meth:`Sandbox.notify <.server.Sandbox.notify>`, shared by the demo
(:mod:`django_wxpay_media.demo.desk`) and the command line
(``python -m django_wxpay_media.sandbox --seed-complaints N --notify-url URL``):
:data:`SEEDS` are realistic complaints (one per state and problem type, each with
pictures and an age), :func:`seed_complaints` files any number of them, and
:func:`notify_all` announces them with real signed, encrypted notifications.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

from .images import rgb_png
from .server import Sandbox

__all__ = ["SEEDS", "Delivery", "notify_all", "picture", "seed_complaints"]

#: The complaints a consumer files: one per state and problem type, each with pictures.
#: ``images`` is how many pictures, ``hours_ago`` the complaint's age; other keys are
#: :meth:`Sandbox.seed_complaint <.server.Sandbox.seed_complaint>`'s arguments. Flags
#: (``need_immediate_service``) are passed on when the sandbox's complaints know them.
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
        "need_immediate_service": True,
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

#: Seeded complaints stay younger than this, so that ``wxpay_complaints sync`` (30 days) finds them all.
_MAX_AGE = dt.timedelta(days=29)


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


def seed_complaints(
    sandbox: Sandbox, count: int = len(SEEDS), *, now: dt.datetime | None = None, sub_merchants: Sequence[str] = ()
) -> list[str]:
    """File ``count`` complaints in the (running) sandbox, cycling through :data:`SEEDS`.

    Each round after the first is a day and a bit older and gets its own order
    number. With ``sub_merchants`` the sandbox is a service provider: the
    complaints are about those merchants in turn (``complainted_mchid``). Returns
    the complaint ids, in order.
    """
    if count < 0:
        raise ValueError("count must be 0 or more")
    now = now or dt.datetime.now(dt.UTC)
    accepted = inspect.signature(sandbox.seed_complaint).parameters
    ids = []
    for number in range(count):
        spec = SEEDS[number % len(SEEDS)]
        rounds = number // len(SEEDS)
        options = {key: value for key, value in spec.items() if key in accepted and key != "images"}
        if rounds:
            options["out_trade_no"] = f"{spec['out_trade_no']}-{rounds}"
        age = min(dt.timedelta(hours=spec["hours_ago"] + 26 * rounds), _MAX_AGE)
        pictures = [picture(number * 4 + index) for index in range(spec["images"])]
        if sub_merchants:
            options["complainted_mchid"] = str(sub_merchants[number % len(sub_merchants)])
        detail = sandbox.seed_complaint(**options, images=pictures, complaint_time=now - age)
        ids.append(str(detail["complaint_id"]))
    return ids


@dataclass(frozen=True)
class Delivery:
    """One notification sent: the site's HTTP status, or why it could not be delivered."""

    complaint_id: str
    status: int | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether the site took it (WeChat Pay's rule: a 2xx answer)."""
        return self.status is not None and 200 <= self.status < 300


def notify_all(sandbox: Sandbox, complaint_ids: list[str], url: str | None = None) -> list[Delivery]:
    """POST a signed ``CREATE_COMPLAINT`` notification about each complaint; never raises.

    ``url`` defaults to the URL registered with the sandbox (as WeChat Pay does).
    """
    deliveries = []
    for complaint_id in complaint_ids:
        try:
            deliveries.append(Delivery(complaint_id, status=sandbox.notify(complaint_id, url=url)))
        except (requests.RequestException, RuntimeError) as exc:
            deliveries.append(Delivery(complaint_id, error=str(exc)))
    return deliveries
