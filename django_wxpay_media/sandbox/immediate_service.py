"""The instant-service reply (回复需要即时服务的投诉单), emulated strictly.

Written from ``spec/complaints.md`` and the documented body (message.blocks of
TEXT, IMAGE, LINK...; ``idempotent_id`` required, ≤ 128): only a complaint WeChat
flagged ``need_immediate_service`` and not yet processed takes one; every image
must be a media_id this sandbox issued; the same ``idempotent_id`` answers the same
``log_id`` and records nothing more. The message shows in the negotiation history
as ``MERCHANT_IMMEDIATE_SERVICE_RESPONSE`` [M]; the complaint's state is left as it
is (WeChat documents no change).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from .answers import Answer, AnswerSigner, json_bytes
from .api import ApiRequest
from .complaint_requests import (
    MAX_IMAGES,
    MAX_JUMP_URL,
    MAX_RESPONSE_CONTENT,
    _Complaint,
    _HistoryEntry,
    _json_object,
    _string,
    invalid_request,
)
from .protocol import Authorization, param_error

IMMEDIATE_OPERATE_TYPE = "MERCHANT_IMMEDIATE_SERVICE_RESPONSE"
MAX_IDEMPOTENT_ID = 128
BLOCK_TYPES = ("TEXT", "IMAGE", "LINK", "FAQ_LIST", "BUTTON", "BUTTON_GROUP")
IMAGE_STYLES = ("IMAGE_STYLE_TYPE_NARROW", "IMAGE_STYLE_TYPE_WIDE")
ACTION_TYPES = ("ACTION_TYPE_SEND_MESSAGE", "ACTION_TYPE_JUMP_URL", "ACTION_TYPE_JUMP_MINI_PROGRAM")
# WeChat documents no caps but these; the sandbox holds the client to sensible ones.
MAX_BLOCKS = 10
MAX_LINK_TEXT = 32


def _object(value: Any, name: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise param_error(f"{name} must be an object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise param_error(f"{name}: unknown field(s) {', '.join(unknown)}")
    return value


def _link(block: dict[str, Any]) -> str:
    link = _object(block.get("link"), "link", ("text", "action", "invalid_info"))
    text = _string(link, "text", required=True, max_length=MAX_LINK_TEXT) or ""
    action = _object(
        link.get("action"),
        "link.action",
        ("action_type", "jump_url", "mini_program_jump_info", "message_info", "action_id"),
    )
    if action.get("action_type") not in ACTION_TYPES:
        raise param_error(f"link.action.action_type must be one of {', '.join(ACTION_TYPES)}")
    if action["action_type"] == "ACTION_TYPE_JUMP_URL":
        url = _string(action, "jump_url", required=True, max_length=MAX_JUMP_URL) or ""
        if not url.startswith("https://") or not urlsplit(url).hostname:
            raise param_error("link.action.jump_url must be an https:// URL")
        return f"{text} {url}"
    return text


class _ImmediateService:
    """The ``response-immediate-service`` route, on the state :class:`.complaints.ComplaintDesk` keeps."""

    signer: AnswerSigner
    _lock: threading.RLock
    _issued: Callable[[], Mapping[str, str]]
    _get: Callable[..., _Complaint]
    _check_mchid: Callable[[Mapping[str, Any], _Complaint], None]
    _merchant_entry: Callable[[str, str, list[str]], _HistoryEntry]

    def immediate_messages(self, complaint_id: str) -> list[dict[str, Any]]:
        """The instant-service bodies accepted for ``complaint_id`` (once per idempotent_id), in order."""
        with self._lock:
            return copy.deepcopy(self._get(complaint_id, error=KeyError).immediate_messages)

    def _blocks(self, message: Any) -> tuple[str, list[str]]:
        """What the history says (texts and links) and the media_ids, after every check."""
        message = _object(message, "message", ("blocks", "sender_identity", "custom_data"))
        blocks = message.get("blocks")
        if not isinstance(blocks, list) or not blocks:
            raise param_error("message.blocks must be a non-empty list")
        if len(blocks) > MAX_BLOCKS:
            raise param_error(f"message.blocks has {len(blocks)} blocks; at most {MAX_BLOCKS} are accepted")
        words: list[str] = []
        media_ids: list[str] = []
        issued = self._issued()
        for block in blocks:
            if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
                raise param_error(f"each block needs a type, one of {', '.join(BLOCK_TYPES)}")
            kind = block["type"]
            if kind == "TEXT":
                text = _object(block.get("text"), "text", ("text", "color", "is_bold"))
                words.append(_string(text, "text", required=True, max_length=MAX_RESPONSE_CONTENT) or "")
            elif kind == "IMAGE":
                image = _object(block.get("image"), "image", ("media_id", "image_style_type"))
                media_id = _string(image, "media_id", required=True) or ""
                if media_id not in issued:
                    raise param_error(
                        f"image.media_id {media_id!r} was not issued by POST /v3/merchant-service/images/upload"
                    )
                if image.get("image_style_type", IMAGE_STYLES[0]) not in IMAGE_STYLES:
                    raise param_error(f"image.image_style_type must be one of {', '.join(IMAGE_STYLES)}")
                media_ids.append(media_id)
            elif kind == "LINK":
                words.append(_link(block))
            else:
                words.append(kind)  # accepted as WeChat would; the sandbox does not check them further
        if len(media_ids) > MAX_IMAGES:
            raise param_error(f"the message has {len(media_ids)} images; at most {MAX_IMAGES} are accepted")
        return "\n".join(words), media_ids

    def _immediate(self, request: ApiRequest, auth: Authorization, params: dict[str, str]) -> Answer:
        body = _json_object(request, ("complainted_mchid", "message", "idempotent_id"))
        idempotent_id = _string(body, "idempotent_id", required=True, max_length=MAX_IDEMPOTENT_ID) or ""
        details, media_ids = self._blocks(body.get("message"))
        with self._lock:
            complaint = self._get(unquote(params["complaint_id"]))
            self._check_mchid(body, complaint)
            known = complaint.immediate_log_ids.get(idempotent_id)
            if known is None:
                if complaint.detail.get("need_immediate_service") is not True:
                    raise invalid_request("the complaint does not need immediate service")
                if complaint.state == "PROCESSED":
                    raise invalid_request("the complaint is processed already; it takes no more messages")
                entry = self._merchant_entry(IMMEDIATE_OPERATE_TYPE, details, media_ids)
                complaint.history.append(entry)
                complaint.immediate_messages.append(copy.deepcopy(body))
                known = complaint.immediate_log_ids[idempotent_id] = entry.log_id
        return self.signer.signed(json_bytes({"log_id": known}), request.headers)


def preview_log_id(request: ApiRequest) -> bytes:
    """What a success would answer, for faults."""
    return json_bytes({"log_id": "0"})


__all__ = ["IMMEDIATE_OPERATE_TYPE", "preview_log_id"]
