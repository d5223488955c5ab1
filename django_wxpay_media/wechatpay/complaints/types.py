"""The complaint APIs' answers as small frozen dataclasses (free of Django).

Each keeps the whole JSON object in ``raw``: WeChat adds fields over time, and a
new field must never break parsing (WxJava issues 2841, 2947).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .. import errors

T = TypeVar("T")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


# -- typed values -------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintOrder:
    """One entry of ``complaint_order_info``."""

    transaction_id: str
    out_trade_no: str
    amount: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ComplaintOrder:
        data = data if isinstance(data, dict) else {}
        return cls(_str(data.get("transaction_id")), _str(data.get("out_trade_no")), _int(data.get("amount")), data)


@dataclass(frozen=True)
class ComplaintMedia:
    """One entry of ``complaint_media_list``: a media type and its image URLs."""

    media_type: str
    media_urls: tuple[str, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ComplaintMedia:
        data = data if isinstance(data, dict) else {}
        urls = data.get("media_url")
        if isinstance(urls, str):  # tolerate a single URL where a list is documented
            urls = [urls]
        return cls(_str(data.get("media_type")), tuple(u for u in _list(urls) if isinstance(u, str) and u), data)


def _media_list(value: Any) -> tuple[ComplaintMedia, ...]:
    # The detail documents a list; negotiation history sends one object (WxJava 2841).
    if isinstance(value, dict):
        value = [value]
    return tuple(ComplaintMedia.from_json(item) for item in _list(value))


@dataclass(frozen=True)
class Complaint:
    """A complaint as the list and the detail describe it; ``raw`` is the whole JSON object.

    ``payer_phone`` is still encrypted (see :func:`decrypt_payer_phone`).
    """

    complaint_id: str
    complaint_time: str
    complaint_detail: str
    complaint_state: str
    complainted_mchid: str
    problem_description: str
    problem_type: str
    apply_refund_amount: int | None
    payer_phone: str
    payer_openid: str
    orders: tuple[ComplaintOrder, ...]
    media: tuple[ComplaintMedia, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any, *, request_id: str | None = None) -> Complaint:
        """Parse one complaint; only a missing ``complaint_id`` is an error."""
        if not isinstance(data, dict) or not _str(data.get("complaint_id")):
            raise errors.InvalidResponseError("A complaint without complaint_id.", request_id=request_id)
        return cls(
            complaint_id=_str(data["complaint_id"]),
            complaint_time=_str(data.get("complaint_time")),
            complaint_detail=_str(data.get("complaint_detail")),
            complaint_state=_str(data.get("complaint_state")),
            complainted_mchid=_str(data.get("complainted_mchid")),
            problem_description=_str(data.get("problem_description")),
            problem_type=_str(data.get("problem_type")),
            apply_refund_amount=_int(data.get("apply_refund_amount")),
            payer_phone=_str(data.get("payer_phone")),
            payer_openid=_str(data.get("payer_openid")),
            orders=tuple(ComplaintOrder.from_json(o) for o in _list(data.get("complaint_order_info"))),
            media=_media_list(data.get("complaint_media_list")),
            raw=data,
        )

    @property
    def digest(self) -> str:
        """A digest of the JSON as WeChat Pay sent it: equal digests, nothing changed."""
        text = json.dumps(self.raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def image_urls(self) -> list[str]:
        """Every consumer image URL of the complaint, in order."""
        return [url for media in self.media for url in media.media_urls]


@dataclass(frozen=True)
class HistoryEntry:
    """One step of the negotiation history (协商历史)."""

    log_id: str
    operator: str
    operate_time: str
    operate_type: str
    operate_details: str
    image_list: tuple[str, ...]
    media: tuple[ComplaintMedia, ...]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any, *, request_id: str | None = None) -> HistoryEntry:
        if not isinstance(data, dict) or not _str(data.get("log_id")):
            raise errors.InvalidResponseError("A negotiation history entry without log_id.", request_id=request_id)
        return cls(
            log_id=_str(data["log_id"]),
            operator=_str(data.get("operator")),
            operate_time=_str(data.get("operate_time")),
            operate_type=_str(data.get("operate_type")),
            operate_details=_str(data.get("operate_details")),
            image_list=tuple(u for u in _list(data.get("image_list")) if isinstance(u, str) and u),
            media=_media_list(data.get("complaint_media_list")),
            raw=data,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list answer: ``items``, the ``limit`` and ``offset`` asked, WeChat's ``total_count``."""

    items: tuple[T, ...]
    limit: int
    offset: int
    total_count: int | None
    request_id: str | None = None

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or ``None`` after the last one."""
        if not self.items:
            return None
        following = self.offset + len(self.items)
        if self.total_count is not None and following >= self.total_count:
            return None
        if self.total_count is None and len(self.items) < self.limit:
            return None
        return following


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted complaint notification."""

    id: str
    create_time: str
    event_type: str
    summary: str
    complaint_id: str
    action_type: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    resource: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


# -- the instant-service reply's message blocks (回复需要即时服务的投诉单) -----------------
# Field names from WeChat's page 4017151596 as the wechatpay-php docs and gopay carry them [M].

#: ``image_style_type`` values.
IMAGE_STYLES = ("IMAGE_STYLE_TYPE_NARROW", "IMAGE_STYLE_TYPE_WIDE")


@dataclass(frozen=True)
class TextBlock:
    """A ``TEXT`` block: ``{"type": "TEXT", "text": {"text": …}}``."""

    text: str

    def to_json(self) -> dict[str, Any]:
        """The block as WeChat Pay takes it."""
        return {"type": "TEXT", "text": {"text": self.text}}


@dataclass(frozen=True)
class ImageBlock:
    """An ``IMAGE`` block holding a ``media_id`` from the feedback image upload."""

    media_id: str
    style: str = "IMAGE_STYLE_TYPE_NARROW"

    def to_json(self) -> dict[str, Any]:
        """The block as WeChat Pay takes it."""
        return {"type": "IMAGE", "image": {"media_id": self.media_id, "image_style_type": self.style}}


@dataclass(frozen=True)
class LinkBlock:
    """A ``LINK`` block that opens an HTTPS page (``ACTION_TYPE_JUMP_URL``)."""

    text: str
    url: str

    def to_json(self) -> dict[str, Any]:
        """The block as WeChat Pay takes it."""
        return {
            "type": "LINK",
            "link": {"text": self.text, "action": {"action_type": "ACTION_TYPE_JUMP_URL", "jump_url": self.url}},
        }


Block = TextBlock | ImageBlock | LinkBlock


def simple_message(text: str, images: Sequence[str] | int = (), link_text: str = "", link_url: str = "") -> list[Block]:
    """A message of a text, then its images (``media_id``s, or a count of placeholders while
    they are not uploaded), then a link when one is given: the desk's instant-service reply."""
    media_ids = ["-"] * images if isinstance(images, int) else list(images)
    blocks: list[Block] = [TextBlock(text), *(ImageBlock(media_id) for media_id in media_ids)]
    if link_text or link_url:
        blocks.append(LinkBlock(link_text, link_url))
    return blocks
