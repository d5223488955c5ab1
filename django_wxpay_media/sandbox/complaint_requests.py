"""The complaint APIs' fixed parts: paths, limits, request parsing, and the records a desk keeps.

Apart from :mod:`.complaints` (the desk and its routes), which uses them; written
from ``spec/complaints.md`` like it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .answers import json_bytes
from .api import ApiRequest
from .protocol import ApiError, param_error, strict_json

COMPLAINTS_PATH = "/v3/merchant-service/complaints-v2"
IMAGES_PATH = "/v3/merchant-service/images"
NOTIFICATIONS_PATH = "/v3/merchant-service/complaint-notifications"
STATES = ("PENDING", "PROCESSING", "PROCESSED")
PROBLEM_TYPES = ("REFUND", "SERVICE_NOT_WORK", "OTHERS")
ACTION_TYPES = (
    "CREATE_COMPLAINT",
    "CONTINUE_COMPLAINT",
    "USER_RESPONSE",
    "RESPONSE_BY_PLATFORM",
    "SELLER_REFUND",
    "MERCHANT_RESPONSE",
    "MERCHANT_CONFIRM_COMPLETE",
    "USER_APPLY_PLATFORM_SERVICE",
    "USER_CANCEL_PLATFORM_SERVICE",
    "PLATFORM_SERVICE_FINISHED",
    "MERCHANT_APPROVE_REFUND",
    "MERCHANT_REJECT_REFUND",
    "REFUND_SUCCESS",
)
MAX_LIST_LIMIT = 50
MAX_HISTORY_LIMIT = 300
MAX_RANGE_DAYS = 30
MAX_RESPONSE_CONTENT = 500
MAX_IMAGES = 4
MAX_JUMP_URL = 512
MAX_JUMP_URL_TEXT = 10
MAX_REASON = 200
MAX_NOTIFY_URL = 255
_CST = dt.timezone(dt.timedelta(hours=8))
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
T = TypeVar("T")


def invalid_request(message: str) -> ApiError:
    """400 INVALID_REQUEST: the call is well-formed but the complaint's state forbids it."""
    return ApiError(400, "INVALID_REQUEST", message)


def not_exists(message: str) -> ApiError:
    """404 RESOURCE_NOT_EXISTS."""
    return ApiError(404, "RESOURCE_NOT_EXISTS", message)


def _json_object(request: ApiRequest, allowed: Sequence[str]) -> dict[str, Any]:
    """The request's JSON object body; unknown fields are refused (they are typos)."""
    content_type = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise param_error("Content-Type must be application/json")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise param_error("the body is not UTF-8") from None
    body = strict_json(text, "the body")
    if not isinstance(body, dict):
        raise param_error("the body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise param_error(f"unknown field(s): {', '.join(unknown)} (accepted: {', '.join(allowed)})")
    return body


def _string(body: Mapping[str, Any], name: str, *, required: bool = False, max_length: int | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise param_error(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise param_error(f"{name} must be a string")
    if required and not value.strip():
        raise param_error(f"{name} must not be blank")
    if max_length is not None and len(value) > max_length:
        raise param_error(f"{name} is {len(value)} characters long; at most {max_length} are accepted")
    return value


def _query(request: ApiRequest, allowed: Sequence[str]) -> dict[str, str]:
    pairs = request.query_pairs
    names = [name for name, _ in pairs]
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise param_error(f"unknown query parameter(s): {', '.join(unknown)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise param_error(f"query parameter(s) given more than once: {', '.join(repeated)}")
    return dict(pairs)


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not text.isascii():
        raise param_error(f"{name} must be a non-negative integer, not {text!r}")
    value = int(text)
    if value < low or (high is not None and value > high):
        upper = f" to {high}" if high is not None else " or more"
        raise param_error(f"{name} must be {low}{upper}, not {value}")
    return value


def _date_param(query: Mapping[str, str], name: str) -> dt.date:
    text = query.get(name)
    if not text:
        raise param_error(f"{name} is required (yyyy-MM-dd)")
    try:
        if len(text) != 10:
            raise ValueError
        return dt.datetime.strptime(text, "%Y-%m-%d").date()  # noqa: DTZ007 - only the date is kept
    except ValueError:
        raise param_error(f"{name} must be a date as yyyy-MM-dd, not {text!r}") from None


def _page(items: Sequence[T], limit: int, offset: int, render: Callable[[T], dict[str, Any]]) -> bytes:
    """The answer of one list page: only the page's items are rendered; ``total_count`` counts them all.

    Rendering (a deep copy each) is what a page costs, so rendering every item would make
    each page of a long list cost the whole list (2,000 complaints: 77 ms a page; 0.9 ms now, with the order kept).
    """
    data = [render(item) for item in items[offset : offset + limit]]
    return json_bytes({"data": data, "limit": limit, "offset": offset, "total_count": len(items)})


@dataclass
class _HistoryEntry:
    log_id: str
    operator: str
    operate_time: str
    operate_type: str
    operate_details: str
    media_type: str = "USER_COMPLAINT_IMAGE"
    media_ids: list[str] = field(default_factory=list)


@dataclass
class _Complaint:
    detail: dict[str, Any]
    image_ids: list[str]
    history: list[_HistoryEntry] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    refund_updates: list[dict[str, Any]] = field(default_factory=list)
    #: The instant-service messages accepted, and the log_id each idempotent_id got.
    immediate_messages: list[dict[str, Any]] = field(default_factory=list)
    immediate_log_ids: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return str(self.detail["complaint_state"])


def _empty(request: ApiRequest) -> bytes:
    return b""


def _check_image_accept(headers: Mapping[str, str]) -> None:
    """The download asks for ``Accept: */*`` (or an image type)."""
    accept = headers.get("Accept")
    if accept is None or not accept.strip():
        raise param_error("Accept header is required (Accept: */*)")
    types = {item.split(";", 1)[0].strip().lower() for item in accept.split(",")}
    if not any(t in ("*/*", "image/*") or t.startswith("image/") for t in types):
        raise param_error(f"Accept header must admit images, not {accept!r}")
