"""The consumer complaint APIs (消费者投诉2.0), emulated as strictly as the upload.

Written from ``spec/complaints.md``: list, detail, negotiation history, reply,
complete, refund progress, the consumer's image download and the notification URL,
plus signed, encrypted notifications sent to that URL. A complaint moves PENDING →
PROCESSING (first reply) → PROCESSED (complete, only from PROCESSING; or a refund
rejection, as WeChat Pay documents). Rule
violations answer 400 PARAM_ERROR, a state that forbids the call 400
INVALID_REQUEST, an unknown complaint 404 RESOURCE_NOT_EXISTS.

:class:`ComplaintDesk` holds the complaints and serves the routes the
:class:`~.api.Api` is given (:meth:`ComplaintDesk.routes`).
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .answers import Answer, AnswerSigner, json_bytes, rfc3339
from .api import ApiRequest, Route
from .complaint_making import _MakingComplaints
from .complaint_requests import (
    _CST,
    _LOOPBACK_HOSTS,
    ACTION_TYPES,
    COMPLAINTS_PATH,
    IMAGES_PATH,
    MAX_HISTORY_LIMIT,
    MAX_IMAGES,
    MAX_JUMP_URL,
    MAX_JUMP_URL_TEXT,
    MAX_LIST_LIMIT,
    MAX_NOTIFY_URL,
    MAX_RANGE_DAYS,
    MAX_REASON,
    MAX_RESPONSE_CONTENT,
    NOTIFICATIONS_PATH,
    STATES,
    _check_image_accept,
    _Complaint,
    _date_param,
    _empty,
    _HistoryEntry,
    _int_param,
    _json_object,
    _page,
    _query,
    _string,
    invalid_request,
    not_exists,
)
from .immediate_service import _ImmediateService, preview_log_id
from .keys import SandboxKeys
from .protocol import ApiError, Authorization, param_error

__all__ = [
    "ACTION_TYPES",
    "COMPLAINTS_PATH",
    "IMAGES_PATH",
    "NOTIFICATIONS_PATH",
    "STATES",
    "ComplaintDesk",
]


class ComplaintDesk(_MakingComplaints, _ImmediateService):
    """The complaints one merchant (or partner) has, and the APIs around them.

    ``issued_media_ids`` tells which media_ids the upload API issued (only those may
    appear in a reply or a refund rejection); ``base_url`` gives the running
    sandbox's address for the consumer images' ``media_url``.
    """

    def __init__(
        self,
        *,
        mchid: str,
        keys: SandboxKeys,
        signer: AnswerSigner,
        issued_media_ids: Callable[[], Mapping[str, str]],
        base_url: Callable[[], str],
    ) -> None:
        self.mchid = mchid
        self.keys = keys
        self.signer = signer
        self._issued = issued_media_ids
        self._base_url = base_url
        self._lock = threading.RLock()
        self._complaints: dict[str, _Complaint] = {}
        self._listing: list[tuple[dt.date, str, _Complaint]] | None = None
        self._images: dict[str, tuple[bytes, str]] = {}
        self._notification_url: str | None = None

    # Routes -------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The complaint APIs, for :meth:`.api.Api.add_routes`."""
        one = COMPLAINTS_PATH + "/{complaint_id}"
        return [
            Route("GET", COMPLAINTS_PATH, self._list, preview=self._preview(self._list_body)),
            Route("GET", one, self._detail, preview=self._preview(self._detail_body)),
            Route("GET", one + "/negotiation-historys", self._history, preview=self._preview(self._history_body)),
            Route("POST", one + "/response", self._reply, preview=_empty, success_status=204),
            Route("POST", one + "/response-immediate-service", self._immediate, preview=preview_log_id),
            Route("POST", one + "/complete", self._complete, preview=_empty, success_status=204),
            Route("POST", one + "/update-refund-progress", self._refund, preview=_empty, success_status=204),
            Route("GET", IMAGES_PATH + "/{media_id}", self._download, accept=_check_image_accept),
            Route("POST", NOTIFICATIONS_PATH, self._set_url, preview=self._url_preview),
            Route("PUT", NOTIFICATIONS_PATH, self._update_url, preview=self._url_preview),
            Route("GET", NOTIFICATIONS_PATH, self._get_url, preview=self._url_preview),
            Route("DELETE", NOTIFICATIONS_PATH, self._delete_url, preview=_empty, success_status=204),
        ]

    def _preview(self, render: Callable[[ApiRequest], bytes]) -> Callable[[ApiRequest], bytes]:
        """What a success would answer, for faults; ``{}`` where the request is not valid."""

        def preview(request: ApiRequest) -> bytes:
            try:
                return render(request)
            except ApiError:
                return b"{}"

        return preview

    def _url_preview(self, request: ApiRequest) -> bytes:
        with self._lock:
            return json_bytes({"mchid": self.mchid, "url": self._notification_url or "https://example.com/notify"})

    # Seeding and inspection (the facade's API) --------------------------------------

    @property
    def complaints(self) -> dict[str, dict[str, Any]]:
        """Every complaint's current detail JSON, by id (copies)."""
        with self._lock:
            return {cid: self._render(c) for cid, c in self._complaints.items()}

    def replies(self, complaint_id: str) -> list[dict[str, Any]]:
        """The reply bodies received for ``complaint_id``, in order (copies)."""
        with self._lock:
            return copy.deepcopy(self._get(complaint_id, error=KeyError).replies)

    def refund_updates(self, complaint_id: str) -> list[dict[str, Any]]:
        """The refund progress bodies received for ``complaint_id``, in order (copies)."""
        with self._lock:
            return copy.deepcopy(self._get(complaint_id, error=KeyError).refund_updates)

    @property
    def notification_url(self) -> str | None:
        """The registered notification URL, or ``None``."""
        with self._lock:
            return self._notification_url

    # Rendering ----------------------------------------------------------------------

    def _get(self, complaint_id: str, *, error: type[Exception] | None = None) -> _Complaint:
        complaint = self._complaints.get(complaint_id)
        if complaint is None:
            if error is not None:
                raise error(complaint_id)
            raise not_exists(f"no complaint {complaint_id!r}")
        return complaint

    def _media_urls(self, media_ids: Sequence[str]) -> list[str]:
        base = self._base_url()
        return [f"{base}{IMAGES_PATH}/{quote(media_id, safe='')}" for media_id in media_ids]

    def _render(self, complaint: _Complaint) -> dict[str, Any]:
        detail = copy.deepcopy(complaint.detail)
        detail["complaint_media_list"] = (
            [{"media_type": "USER_COMPLAINT_IMAGE", "media_url": self._media_urls(complaint.image_ids)}]
            if complaint.image_ids
            else []
        )
        return detail

    def _render_entry(self, entry: _HistoryEntry) -> dict[str, Any]:
        # In the history, complaint_media_list is one object, not a list as in the detail.
        return {
            "log_id": entry.log_id,
            "operator": entry.operator,
            "operate_time": entry.operate_time,
            "operate_type": entry.operate_type,
            "operate_details": entry.operate_details,
            "image_list": [],
            "complaint_media_list": {"media_type": entry.media_type, "media_url": self._media_urls(entry.media_ids)},
        }

    # Reading ------------------------------------------------------------------------

    def _list_body(self, request: ApiRequest) -> bytes:
        query = _query(request, ("limit", "offset", "begin_date", "end_date", "complainted_mchid"))
        limit = _int_param(query, "limit", 10, 1, MAX_LIST_LIMIT)
        offset = _int_param(query, "offset", 0, 0, None)
        begin, end = _date_param(query, "begin_date"), _date_param(query, "end_date")
        if end < begin:
            raise param_error("end_date is before begin_date")
        if (end - begin).days > MAX_RANGE_DAYS:
            raise param_error(f"begin_date to end_date spans {(end - begin).days} days; at most {MAX_RANGE_DAYS}")
        wanted = query.get("complainted_mchid")
        with self._lock:
            chosen = [c for day, mchid, c in self._listed() if begin <= day <= end and (not wanted or mchid == wanted)]
            return _page(chosen, limit, offset, self._render)

    def _listed(self) -> list[tuple[dt.date, str, _Complaint]]:
        """Every complaint, newest first, with its Beijing date and merchant (what the list filters on).

        Kept until a complaint is added or forgotten: a complaint's time, id and merchant never
        change, so each list page filters a sorted list rather than sorting the desk again.
        """
        if self._listing is None:
            # Newest first, as WeChat Pay lists them.
            ordered = sorted(
                self._complaints.values(),
                key=lambda c: (c.detail["complaint_time"], c.detail["complaint_id"]),
                reverse=True,
            )
            self._listing = [
                (
                    dt.datetime.fromisoformat(c.detail["complaint_time"]).astimezone(_CST).date(),
                    c.detail["complainted_mchid"],
                    c,
                )
                for c in ordered
            ]
        return self._listing

    def _list(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        return self.signer.signed(self._list_body(request), request.headers)

    def _detail_body(self, request: ApiRequest) -> bytes:
        _query(request, ())
        complaint_id = unquote(request.path.rsplit("/", 1)[1])
        with self._lock:
            return json_bytes(self._render(self._get(complaint_id)))

    def _detail(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        return self.signer.signed(self._detail_body(request), request.headers)

    def _history_body(self, request: ApiRequest) -> bytes:
        query = _query(request, ("limit", "offset"))
        limit = _int_param(query, "limit", 100, 1, MAX_HISTORY_LIMIT)
        offset = _int_param(query, "offset", 0, 0, None)
        complaint_id = unquote(request.path.split("/")[-2])
        with self._lock:
            return _page(self._get(complaint_id).history, limit, offset, self._render_entry)

    def _history(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        return self.signer.signed(self._history_body(request), request.headers)

    def _download(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        media_id = unquote(params["media_id"])
        if params["media_id"] == "upload":
            raise ApiError(404, "NOT_FOUND", f"no API for GET {request.path}")
        _query(request, ())
        with self._lock:
            image = self._images.get(media_id)
        if image is None:
            if media_id in self._issued():
                raise param_error("a media_id from the upload API cannot be downloaded; keep your own copy")
            raise not_exists(f"no image {media_id!r}")
        data, content_type = image
        return Answer(status=200, body=data, content_type=content_type)  # not signed, as WeChat's

    # Acting on a complaint ----------------------------------------------------------

    def _media_list(self, body: Mapping[str, Any], name: str) -> list[str]:
        value = body.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise param_error(f"{name} must be a list of media_id strings")
        if len(value) > MAX_IMAGES:
            raise param_error(f"{name} has {len(value)} images; at most {MAX_IMAGES} are accepted")
        issued = self._issued()
        for media_id in value:
            if media_id not in issued:
                raise param_error(
                    f"{name}: {media_id!r} is not a media_id issued by POST /v3/merchant-service/images/upload"
                )
        return list(value)

    def _check_mchid(self, body: Mapping[str, Any], complaint: _Complaint) -> None:
        mchid = _string(body, "complainted_mchid", required=True)
        if mchid != complaint.detail["complainted_mchid"]:
            raise param_error(f"complainted_mchid {mchid!r} is not the merchant this complaint is about")

    def _reply(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        body = _json_object(
            request,
            (
                "complainted_mchid",
                "response_content",
                "response_images",
                "jump_url",
                "jump_url_text",
                "mini_program_jump_info",
            ),
        )
        content = _string(body, "response_content", required=True, max_length=MAX_RESPONSE_CONTENT)
        images = self._media_list(body, "response_images")
        jump_url = _string(body, "jump_url", max_length=MAX_JUMP_URL)
        jump_text = _string(body, "jump_url_text", max_length=MAX_JUMP_URL_TEXT)
        if jump_url is not None:
            if not jump_url.startswith("https://") or not urlsplit(jump_url).hostname:
                raise param_error("jump_url must be an https:// URL")
            if not jump_text:
                raise param_error("jump_url_text is required with jump_url")
        elif jump_text is not None:
            raise param_error("jump_url_text is only accepted with jump_url")
        mini = body.get("mini_program_jump_info")
        if mini is not None and (
            not isinstance(mini, dict)
            or set(mini) - {"appid", "path", "text"}
            or not all(isinstance(mini.get(k), str) and mini.get(k) for k in ("appid", "path", "text"))
        ):
            raise param_error("mini_program_jump_info must be an object with appid, path and text strings")
        with self._lock:
            complaint = self._get(unquote(params["complaint_id"]))
            self._check_mchid(body, complaint)
            if complaint.state == "PROCESSED":
                raise invalid_request("the complaint is processed already; it takes no more replies")
            if complaint.state == "PENDING":
                complaint.detail["complaint_state"] = "PROCESSING"
            complaint.detail["incoming_user_response"] = False
            complaint.replies.append(copy.deepcopy(body))
            complaint.history.append(self._merchant_entry("MERCHANT_RESPONSE", content or "", images))
        return self.signer.signed(b"", request.headers, status=204)

    def _merchant_entry(self, operate_type: str, details: str, media_ids: list[str]) -> _HistoryEntry:
        return _HistoryEntry(
            log_id=self._log_id(),
            operator="商户",
            operate_time=rfc3339(dt.datetime.now(dt.UTC)),
            operate_type=operate_type,
            operate_details=details,
            media_type="OPERATION_IMAGE",
            media_ids=media_ids,
        )

    def forget(self) -> None:
        """Forget every complaint (and its images)."""
        with self._lock:
            self._complaints.clear()
            self._listing = None
            self._images.clear()

    def consumer_writes(self, complaint_id: str, text: str) -> None:
        """The consumer writes again: a USER_RESPONSE step, and the detail says they wait."""
        with self._lock:
            complaint = self._get(complaint_id, error=KeyError)
            complaint.detail["incoming_user_response"] = True
            complaint.history.append(
                _HistoryEntry(
                    log_id=self._log_id(),
                    operator="投诉人",
                    operate_time=rfc3339(dt.datetime.now(dt.UTC)),
                    operate_type="USER_RESPONSE",
                    operate_details=text,
                )
            )

    def _complete(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        body = _json_object(request, ("complainted_mchid",))
        with self._lock:
            complaint = self._get(unquote(params["complaint_id"]))
            self._check_mchid(body, complaint)
            if complaint.state != "PROCESSING":
                raise invalid_request(
                    f"the complaint is {complaint.state}; only a PROCESSING complaint (one replied to) can be completed"
                )
            complaint.detail["complaint_state"] = "PROCESSED"
            complaint.history.append(self._merchant_entry("MERCHANT_CONFIRM_COMPLETE", "", []))
        return self.signer.signed(b"", request.headers, status=204)

    def _refund(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        body = _json_object(request, ("action", "launch_refund_day", "reject_reason", "reject_media_list", "remark"))
        action = _string(body, "action", required=True)
        if action not in ("APPROVE", "REJECT"):
            raise param_error(f"action must be APPROVE or REJECT, not {action!r}")
        day = body.get("launch_refund_day")
        if day is not None and (not isinstance(day, int) or isinstance(day, bool) or day < 0):
            raise param_error("launch_refund_day must be a non-negative integer (days from today)")
        reason = _string(body, "reject_reason", max_length=MAX_REASON)
        _string(body, "remark", max_length=MAX_REASON)
        images = self._media_list(body, "reject_media_list")
        with self._lock:
            complaint = self._get(unquote(params["complaint_id"]))
            if complaint.detail["problem_type"] != "REFUND":
                raise invalid_request("only a complaint of problem_type REFUND takes a refund decision")
            if complaint.state == "PROCESSED":
                raise invalid_request("the complaint is processed already")
            complaint.refund_updates.append(copy.deepcopy(body))
            kind = "MERCHANT_APPROVE_REFUND" if action == "APPROVE" else "MERCHANT_REJECT_REFUND"
            complaint.history.append(self._merchant_entry(kind, reason or "", images))
            if action == "REJECT":
                # WeChat closes a complaint whose refund is refused; an approval waits for the refund API.
                complaint.detail["complaint_state"] = "PROCESSED"
        return self.signer.signed(b"", request.headers, status=204)

    # The notification URL -----------------------------------------------------------

    def _url_body(self, request: ApiRequest) -> str:
        body = _json_object(request, ("url",))
        url = _string(body, "url", required=True, max_length=MAX_NOTIFY_URL) or ""
        parts = urlsplit(url)
        local = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
        if not (parts.scheme == "https" and parts.hostname) and not local:
            raise param_error("url must be an https:// URL (http:// only for 127.0.0.1 or localhost in the sandbox)")
        return url

    def _url_answer(self, request: ApiRequest, url: str) -> Answer:
        return self.signer.signed(json_bytes({"mchid": self.mchid, "url": url}), request.headers)

    def _set_url(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        url = self._url_body(request)
        with self._lock:
            self._notification_url = url
        return self._url_answer(request, url)

    def _update_url(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        url = self._url_body(request)
        with self._lock:
            if self._notification_url is None:
                raise ApiError(400, "RESOURCE_NOT_EXISTS", "no notification URL is set; create one with POST")
            self._notification_url = url
        return self._url_answer(request, url)

    def _get_url(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        _query(request, ())
        with self._lock:
            url = self._notification_url
        if url is None:
            raise ApiError(400, "RESOURCE_NOT_EXISTS", "no notification URL is set")
        return self._url_answer(request, url)

    def _delete_url(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        with self._lock:
            self._notification_url = None
        return self.signer.signed(b"", request.headers, status=204)

    # Notifications ------------------------------------------------------------------
