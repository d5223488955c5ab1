"""The sandbox's instant-service reply (response-immediate-service), by raw signed requests."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from django_wxpay_media.sandbox import Sandbox

from .apiv3 import Caller, authorization, error_of, pem_public_key, verifies
from .test_complaints import LIST, reply, uploaded_media_id

URGENT = {"need_immediate_service": True}


def text(value: str = "您好，我们马上为您处理。") -> dict[str, Any]:
    return {"type": "TEXT", "text": {"text": value}}


def image(media_id: str, style: str = "IMAGE_STYLE_TYPE_NARROW") -> dict[str, Any]:
    return {"type": "IMAGE", "image": {"media_id": media_id, "image_style_type": style}}


def link(url: str = "https://shop.example/o/1", label: str = "查看订单") -> dict[str, Any]:
    return {"type": "LINK", "link": {"text": label, "action": {"action_type": "ACTION_TYPE_JUMP_URL", "jump_url": url}}}


def respond(caller: Caller, complaint_id: str, blocks: list[Any] | None = None, **fields: Any) -> requests.Response:
    body = {
        "complainted_mchid": caller.sandbox.mchid,
        "message": {"blocks": [text()] if blocks is None else blocks},
        "idempotent_id": "desk-1",
        **fields,
    }
    target = f"{LIST}/{complaint_id}/response-immediate-service"
    return caller.call("POST", target, {k: v for k, v in body.items() if v is not None})


def history_types(caller: Caller, complaint_id: str) -> list[str]:
    answer = caller.call("GET", f"{LIST}/{complaint_id}/negotiation-historys").json()
    return [entry["operate_type"] for entry in answer["data"]]


def test_an_instant_reply_answers_a_signed_log_id_and_shows_in_the_history(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint(extra=URGENT)["complaint_id"]
    media_id = uploaded_media_id(caller)
    answer = respond(caller, complaint_id, [text(), image(media_id), link()])
    assert answer.status_code == 200, answer.text
    assert verifies(answer, pem_public_key(sandbox.keys.wechatpay_public_key_pem))
    log_id = answer.json()["log_id"]
    history = caller.call("GET", f"{LIST}/{complaint_id}/negotiation-historys").json()["data"]
    entry = history[-1]
    assert entry["log_id"] == log_id and entry["operate_type"] == "MERCHANT_IMMEDIATE_SERVICE_RESPONSE"
    assert "您好" in entry["operate_details"] and "https://shop.example/o/1" in entry["operate_details"]
    assert len(entry["complaint_media_list"]["media_url"]) == 1
    assert len(sandbox.complaint_immediate_messages(complaint_id)) == 1


def test_the_same_idempotent_id_answers_the_same_log_id_and_records_once(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint(extra=URGENT)["complaint_id"]
    first = respond(caller, complaint_id).json()["log_id"]
    again = respond(caller, complaint_id).json()["log_id"]
    other = respond(caller, complaint_id, idempotent_id="desk-2").json()["log_id"]
    assert first == again != other
    assert len(sandbox.complaint_immediate_messages(complaint_id)) == 2
    assert history_types(caller, complaint_id).count("MERCHANT_IMMEDIATE_SERVICE_RESPONSE") == 2


def test_only_a_flagged_complaint_not_processed_takes_one(sandbox: Sandbox, caller: Caller) -> None:
    plain = sandbox.seed_complaint()["complaint_id"]
    assert error_of(respond(caller, plain))[:2] == (400, "INVALID_REQUEST")
    done = sandbox.seed_complaint(extra=URGENT)["complaint_id"]
    assert reply(caller, done).status_code == 204
    complete = caller.call("POST", f"{LIST}/{done}/complete", {"complainted_mchid": sandbox.mchid})
    assert complete.status_code == 204
    assert error_of(respond(caller, done))[:2] == (400, "INVALID_REQUEST")
    assert error_of(respond(caller, "200000000000000000000000001"))[:2] == (404, "RESOURCE_NOT_EXISTS")
    assert sandbox.complaint_immediate_messages(plain) == sandbox.complaint_immediate_messages(done) == []


@pytest.mark.parametrize(
    ("blocks", "fields", "needle"),
    [
        (None, {"idempotent_id": None}, "idempotent_id is required"),
        (None, {"idempotent_id": "x" * 129}, "idempotent_id"),
        (None, {"complainted_mchid": "1900000109"}, "complainted_mchid"),
        (None, {"complainted_mchid": None}, "complainted_mchid"),
        ([], {}, "blocks"),
        ([{"type": "VIDEO"}], {}, "type"),
        ([{"type": "TEXT", "text": {"text": " "}}], {}, "blank"),
        ([text("好" * 501)], {}, "at most 500"),
        ([image("never-uploaded")], {}, "was not issued"),
        ([link("http://shop.example/o/1")], {}, "https"),
        ([link(label="看" * 33)], {}, "at most 32"),
        ([text()] * 11, {}, "at most 10"),
        ([{"type": "TEXT", "text": {"text": "ok", "font": "big"}}], {}, "unknown field"),
        (None, {"extra": 1}, "unknown field"),
    ],
)
def test_instant_reply_rules(
    sandbox: Sandbox, caller: Caller, blocks: list[Any] | None, fields: dict[str, Any], needle: str
) -> None:
    complaint_id = sandbox.seed_complaint(extra=URGENT)["complaint_id"]
    status, code, message = error_of(respond(caller, complaint_id, blocks, **fields))
    assert (status, code) == (400, "PARAM_ERROR") and needle in message, message
    assert sandbox.complaint_immediate_messages(complaint_id) == []


def test_five_images_are_too_many_and_styles_are_checked(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint(extra=URGENT)["complaint_id"]
    ids = [uploaded_media_id(caller, n) for n in range(5)]
    assert "at most 4" in error_of(respond(caller, complaint_id, [image(i) for i in ids]))[2]
    assert "image_style_type" in error_of(respond(caller, complaint_id, [image(ids[0], "HUGE")]))[2]
    assert respond(caller, complaint_id, [image(i, "IMAGE_STYLE_TYPE_WIDE") for i in ids[:4]]).status_code == 200


def test_the_signature_covers_the_body(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint(extra=URGENT)["complaint_id"]
    target = f"{LIST}/{complaint_id}/response-immediate-service"
    body = json.dumps(
        {"complainted_mchid": sandbox.mchid, "message": {"blocks": [text()]}, "idempotent_id": "1"}
    ).encode()
    headers = {"Authorization": authorization(sandbox.keys, "POST", target, b"")}
    assert error_of(caller.call("POST", target, raw=body, headers=headers))[:2] == (401, "SIGN_ERROR")
    assert sandbox.complaint_immediate_messages(complaint_id) == []
