"""The complaint APIs, by raw signed requests (see apiv3.py), and the facade around them."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from django_wxpay_media.sandbox import Sandbox, SandboxKeys

from .apiv3 import JPEG, PNG, Caller, authorization, error_of, load_private, pem_public_key, verifies, verifies_message

LIST = "/v3/merchant-service/complaints-v2"
NOTIFY = "/v3/merchant-service/complaint-notifications"
CST = dt.timezone(dt.timedelta(hours=8))


def today() -> str:
    return dt.datetime.now(CST).date().isoformat()


def days_ago(n: int) -> str:
    return (dt.datetime.now(CST).date() - dt.timedelta(days=n)).isoformat()


def signed_by_wechatpay(sandbox: Sandbox, response: requests.Response) -> bool:
    return verifies(response, pem_public_key(sandbox.keys.wechatpay_public_key_pem))


def media_path(url: str) -> str:
    """The path of a media_url exactly as written (percent-encoding kept)."""
    return urlsplit(url).path


def uploaded_media_id(caller: Caller, n: int = 0) -> str:
    response = caller.upload(PNG + bytes([n]), f"evidence{n}.png")
    assert response.status_code == 200, response.text
    return str(response.json()["media_id"])


def reply(caller: Caller, complaint_id: str, **fields: Any) -> requests.Response:
    body = {"complainted_mchid": caller.sandbox.mchid, "response_content": "您好，已为您处理。", **fields}
    return caller.call("POST", f"{LIST}/{complaint_id}/response", {k: v for k, v in body.items() if v is not None})


# --- seeding, detail, the consumer's images ---------------------------------------------------------------


def test_seeded_complaint_detail_is_signed_and_complete(sandbox: Sandbox, caller: Caller) -> None:
    seeded = sandbox.seed_complaint(amount=2590, out_trade_no="ORDER-1", transaction_id="4200000001")
    complaint_id = seeded["complaint_id"]
    response = caller.call("GET", f"{LIST}/{complaint_id}")
    assert response.status_code == 200, response.text
    assert signed_by_wechatpay(sandbox, response)
    detail = response.json()
    assert detail == seeded == sandbox.complaints[complaint_id]
    assert detail["complaint_state"] == "PENDING" and detail["problem_type"] == "REFUND"
    assert detail["complainted_mchid"] == sandbox.mchid
    assert detail["apply_refund_amount"] == 2590
    assert detail["complaint_order_info"] == [
        {"transaction_id": "4200000001", "out_trade_no": "ORDER-1", "amount": 2590}
    ]
    assert dt.datetime.fromisoformat(detail["complaint_time"]).utcoffset() == dt.timedelta(hours=8)
    (media,) = detail["complaint_media_list"]
    assert media["media_type"] == "USER_COMPLAINT_IMAGE" and len(media["media_url"]) == 2
    for url in media["media_url"]:
        assert url.startswith(sandbox.base_url + "/v3/merchant-service/images/") and url.endswith("%3D%3D")


def test_payer_phone_is_encrypted_for_the_merchant_key(sandbox: Sandbox) -> None:
    detail = sandbox.seed_complaint(payer_phone="13912345678")
    assert "13912345678" not in json.dumps(detail)
    key = load_private(sandbox.keys.merchant_private_key_pem)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    assert key.decrypt(base64.b64decode(detail["payer_phone"]), oaep) == b"13912345678"


def test_consumer_images_download_unsigned_by_their_encoded_path(sandbox: Sandbox, caller: Caller) -> None:
    detail = sandbox.seed_complaint(images=[PNG, JPEG, PNG])
    urls = detail["complaint_media_list"][0]["media_url"]
    answers = [caller.call("GET", media_path(url), headers={"Accept": "*/*"}) for url in urls]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.content for a in answers] == [PNG, JPEG, PNG]
    assert [a.headers["Content-Type"] for a in answers] == ["image/png", "image/jpeg", "image/png"]
    assert all("Wechatpay-Signature" not in a.headers for a in answers)


def test_seeded_images_are_real_images(sandbox: Sandbox, caller: Caller) -> None:
    image_module = pytest.importorskip("PIL.Image")
    detail = sandbox.seed_complaint(images=4)
    formats = []
    for url in detail["complaint_media_list"][0]["media_url"]:
        answer = caller.call("GET", media_path(url), headers={"Accept": "*/*"})
        with image_module.open(io.BytesIO(answer.content)) as image:
            image.load()
            formats.append((image.format, answer.headers["Content-Type"]))
    assert formats == [("JPEG", "image/jpeg"), ("PNG", "image/png")] * 2


def test_download_signs_the_path_as_sent(sandbox: Sandbox, caller: Caller) -> None:
    url = sandbox.seed_complaint(images=1)["complaint_media_list"][0]["media_url"][0]
    encoded = media_path(url)
    decoded = encoded.replace("%3D", "=")
    # Signed over the decoded path but sent encoded: WeChat refuses it (wechatpay-php PR 85).
    headers = {"Authorization": authorization(sandbox.keys, "GET", decoded, b""), "Accept": "*/*"}
    response = caller.call("GET", encoded, headers=headers)
    assert error_of(response)[:2] == (401, "SIGN_ERROR")


def test_download_of_unknown_or_uploaded_ids(sandbox: Sandbox, caller: Caller) -> None:
    unknown = caller.call(
        "GET", "/v3/merchant-service/images/" + quote("bm8gc3VjaA==", safe=""), headers={"Accept": "*/*"}
    )
    assert error_of(unknown)[:2] == (404, "RESOURCE_NOT_EXISTS")
    own = uploaded_media_id(caller)
    status, code, message = error_of(
        caller.call("GET", "/v3/merchant-service/images/" + own, headers={"Accept": "*/*"})
    )
    assert (status, code) == (400, "PARAM_ERROR") and "upload" in message
    refused = caller.call("GET", "/v3/merchant-service/images/x", headers={"Accept": "text/html"})
    assert error_of(refused)[:2] == (400, "PARAM_ERROR")


def test_detail_of_an_unknown_complaint(caller: Caller) -> None:
    assert error_of(caller.call("GET", f"{LIST}/200000000000000000000000001"))[:2] == (404, "RESOURCE_NOT_EXISTS")


def test_seeding_is_checked(wxpay_sandbox_keys: SandboxKeys, sandbox: Sandbox) -> None:
    with pytest.raises(RuntimeError):
        Sandbox(keys=wxpay_sandbox_keys).seed_complaint()  # media_url needs the address
    with Sandbox(keys=wxpay_sandbox_keys) as stopped:
        complaint_id = stopped.seed_complaint()["complaint_id"]
        url = stopped.base_url
    assert stopped.complaints[complaint_id]["complaint_media_list"][0]["media_url"][0].startswith(url)
    with pytest.raises(ValueError, match="state"):
        sandbox.seed_complaint(state="OPEN")
    with pytest.raises(ValueError, match="PNG or JPEG"):
        sandbox.seed_complaint(images=[b"GIF89a"])
    sandbox.seed_complaint(complaint_id="200100")
    with pytest.raises(ValueError, match="exists"):
        sandbox.seed_complaint(complaint_id="200100")
    assert sandbox.seed_complaint(images=0)["complaint_media_list"] == []


# --- the list ------------------------------------------------------------------------------------------


def test_list_pages_filters_and_signs_its_query(sandbox: Sandbox, caller: Caller) -> None:
    now = dt.datetime.now(CST)
    ids = [sandbox.seed_complaint(complaint_time=now - dt.timedelta(minutes=i))["complaint_id"] for i in range(3)]
    sandbox.seed_complaint(complainted_mchid="1900000109")  # a partner's sub-merchant
    sandbox.seed_complaint(complaint_time=now - dt.timedelta(days=40))  # outside the window
    target = f"{LIST}?limit=2&offset=0&begin_date={days_ago(29)}&end_date={today()}&complainted_mchid={sandbox.mchid}"
    first = caller.call("GET", target)
    assert first.status_code == 200, first.text
    assert signed_by_wechatpay(sandbox, first)
    page = first.json()
    assert (page["limit"], page["offset"], page["total_count"]) == (2, 0, 3)
    assert [c["complaint_id"] for c in page["data"]] == ids[:2]  # newest first
    second = caller.call("GET", target.replace("offset=0", "offset=2")).json()
    assert [c["complaint_id"] for c in second["data"]] == ids[2:]
    everyone = caller.call("GET", f"{LIST}?begin_date={days_ago(1)}&end_date={today()}").json()
    assert everyone["total_count"] == 4 and everyone["limit"] == 10


def test_list_pages_add_up_to_the_whole_list_and_a_page_past_the_end_is_empty(
    sandbox: Sandbox, caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime.now(CST)
    ids = [
        sandbox.seed_complaint(complaint_time=now - dt.timedelta(minutes=i), images=1 if i == 3 else 0)["complaint_id"]
        for i in range(5)
    ]
    sandbox.seed_complaint(complaint_time=now - dt.timedelta(days=40))  # outside the window: not counted
    # Only the page's own complaints are rendered (each a deep copy): a long list's page costs a page.
    from django_wxpay_media.sandbox.complaints import ComplaintDesk

    rendered: list[str] = []
    render = ComplaintDesk._render

    def counting(desk: ComplaintDesk, complaint: Any) -> dict[str, Any]:
        rendered.append(complaint.detail["complaint_id"])
        return render(desk, complaint)

    monkeypatch.setattr(ComplaintDesk, "_render", counting)
    pages = []
    for offset in (0, 2, 4, 6):
        answer = caller.call("GET", f"{LIST}?limit=2&offset={offset}&begin_date={days_ago(1)}&end_date={today()}")
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
    assert rendered == ids  # each once, on its own page
    monkeypatch.undo()
    assert [(p["limit"], p["offset"], p["total_count"]) for p in pages] == [(2, 0, 5), (2, 2, 5), (2, 4, 5), (2, 6, 5)]
    assert [c["complaint_id"] for p in pages for c in p["data"]] == ids  # newest first, none twice
    assert pages[3]["data"] == []  # past the end: empty, the total still said
    details = sandbox.complaints
    assert [c for p in pages for c in p["data"]] == [details[cid] for cid in ids]  # as the detail renders them
    assert len(pages[1]["data"][1]["complaint_media_list"][0]["media_url"]) == 1


def test_the_list_follows_complaints_added_and_forgotten_after_it_was_read(sandbox: Sandbox, caller: Caller) -> None:
    now = dt.datetime.now(CST)
    target = f"{LIST}?limit=50&begin_date={days_ago(1)}&end_date={today()}"
    older = sandbox.seed_complaint(complaint_time=now - dt.timedelta(minutes=5))["complaint_id"]
    assert [c["complaint_id"] for c in caller.call("GET", target).json()["data"]] == [older]
    newer = sandbox.seed_complaint(complaint_time=now)["complaint_id"]
    oldest = sandbox.seed_complaint(complaint_time=now - dt.timedelta(minutes=9))["complaint_id"]
    page = caller.call("GET", target).json()
    assert [c["complaint_id"] for c in page["data"]] == [newer, older, oldest] and page["total_count"] == 3
    sandbox.forget_complaints()
    assert caller.call("GET", target).json() == {"data": [], "limit": 50, "offset": 0, "total_count": 0}


def test_history_page_past_the_end_is_empty_with_its_total(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    sandbox.consumer_writes(complaint_id, "还没处理吗？")
    whole = caller.call("GET", f"{LIST}/{complaint_id}/negotiation-historys").json()
    second = caller.call("GET", f"{LIST}/{complaint_id}/negotiation-historys?limit=1&offset=1").json()
    past = caller.call("GET", f"{LIST}/{complaint_id}/negotiation-historys?limit=1&offset=5").json()
    assert whole["total_count"] == second["total_count"] == past["total_count"] == 2
    assert second["data"] == whole["data"][1:] and past["data"] == []


def test_list_signature_must_cover_the_query_string(sandbox: Sandbox, caller: Caller) -> None:
    target = f"{LIST}?begin_date={today()}&end_date={today()}"
    headers = {"Authorization": authorization(sandbox.keys, "GET", LIST, b"")}
    assert error_of(caller.call("GET", target, headers=headers))[:2] == (401, "SIGN_ERROR")


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("limit=0&begin_date={a}&end_date={b}", "limit"),
        ("limit=51&begin_date={a}&end_date={b}", "limit"),
        ("limit=x&begin_date={a}&end_date={b}", "limit"),
        ("offset=-1&begin_date={a}&end_date={b}", "offset"),
        ("end_date={b}", "begin_date is required"),
        ("begin_date={a}", "end_date is required"),
        ("begin_date=2026/01/01&end_date={b}", "yyyy-MM-dd"),
        ("begin_date={b}&end_date={a}", "before"),
        ("begin_date={far}&end_date={b}", "at most 30"),
        ("begin_date={a}&end_date={b}&sub_mchid=1", "unknown query"),
        ("begin_date={a}&begin_date={a}&end_date={b}", "more than once"),
    ],
)
def test_list_parameters_are_checked(caller: Caller, query: str, needle: str) -> None:
    target = f"{LIST}?" + query.format(a=days_ago(3), b=days_ago(1), far=days_ago(32))
    status, code, message = error_of(caller.call("GET", target))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message


def test_list_accepts_exactly_30_days_and_50_items(caller: Caller) -> None:
    response = caller.call("GET", f"{LIST}?limit=50&begin_date={days_ago(30)}&end_date={today()}")
    assert response.status_code == 200, response.text


# --- replies, history, complete, refunds ------------------------------------------------------------------


def test_reply_answers_204_signed_and_moves_pending_to_processing(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    images = [uploaded_media_id(caller, n) for n in range(4)]
    response = reply(
        caller, complaint_id, response_images=images, jump_url="https://shop.example.com/a", jump_url_text="查看订单"
    )
    assert response.status_code == 204, response.text
    assert response.content == b"" and "Content-Length" not in response.headers
    assert signed_by_wechatpay(sandbox, response)
    assert sandbox.complaints[complaint_id]["complaint_state"] == "PROCESSING"
    (body,) = sandbox.complaint_replies(complaint_id)
    assert body["response_images"] == images and body["jump_url_text"] == "查看订单"
    assert reply(caller, complaint_id, response_content="再补充一句").status_code == 204  # stays PROCESSING
    assert sandbox.complaints[complaint_id]["complaint_state"] == "PROCESSING"
    assert len(sandbox.complaint_replies(complaint_id)) == 2

    history = caller.call("GET", f"{LIST}/{complaint_id}/negotiation-historys")
    assert history.status_code == 200 and signed_by_wechatpay(sandbox, history)
    page = history.json()
    assert page["total_count"] == 3 and page["limit"] == 100
    kinds = [e["operate_type"] for e in page["data"]]
    assert kinds == ["USER_CREATE_COMPLAINT", "MERCHANT_RESPONSE", "MERCHANT_RESPONSE"]
    created, answered = page["data"][0], page["data"][1]
    assert isinstance(created["complaint_media_list"], dict)  # an object here, a list in the detail
    assert len(created["complaint_media_list"]["media_url"]) == 2
    assert answered["operate_details"] == "您好，已为您处理。"
    assert len(answered["complaint_media_list"]["media_url"]) == 4


def test_reply_limits_are_exact(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    assert reply(caller, complaint_id, response_content="字" * 500).status_code == 204
    assert (
        reply(
            caller, complaint_id, jump_url="https://e.cn/" + "a" * 499, jump_url_text="一二三四五六七八九十"
        ).status_code
        == 204
    )


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"complainted_mchid": None}, "complainted_mchid is required"),
        ({"complainted_mchid": "1900000109"}, "not the merchant"),
        ({"response_content": None}, "response_content is required"),
        ({"response_content": "  "}, "blank"),
        ({"response_content": "字" * 501}, "at most 500"),
        ({"response_content": 5}, "must be a string"),
        ({"response_images": "ABC"}, "list of media_id"),
        ({"response_images": ["NEVER-ISSUED.png"]}, "not a media_id issued"),
        ({"jump_url": "http://shop.example.com", "jump_url_text": "看"}, "https://"),
        ({"jump_url": "https://e.cn/" + "a" * 500, "jump_url_text": "看"}, "at most 512"),
        ({"jump_url": "https://shop.example.com"}, "jump_url_text is required"),
        ({"jump_url": "https://shop.example.com", "jump_url_text": "一二三四五六七八九十一"}, "at most 10"),
        ({"jump_url_text": "看"}, "only accepted with jump_url"),
        ({"mini_program_jump_info": {"appid": "wx1"}}, "mini_program_jump_info"),
        ({"sub_mchid": "1"}, "unknown field"),
    ],
)
def test_reply_rules(sandbox: Sandbox, caller: Caller, fields: dict[str, Any], needle: str) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    status, code, message = error_of(reply(caller, complaint_id, **fields))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message
    assert sandbox.complaint_replies(complaint_id) == []
    assert sandbox.complaints[complaint_id]["complaint_state"] == "PENDING"


def test_reply_with_five_images_or_a_bad_body(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    images = [uploaded_media_id(caller, n) for n in range(5)]
    assert "at most 4" in error_of(reply(caller, complaint_id, response_images=images))[2]
    target = f"{LIST}/{complaint_id}/response"
    assert "JSON" in error_of(caller.call("POST", target, raw=b"{not json"))[2]
    assert "object" in error_of(caller.call("POST", target, raw=b"[1]"))[2]
    twice = b'{"complainted_mchid":"1","complainted_mchid":"1"}'
    assert "twice" in error_of(caller.call("POST", target, raw=twice))[2]
    plain = caller.call("POST", target, raw=b"{}", headers={"Content-Type": "text/plain"})
    assert "application/json" in error_of(plain)[2]
    deep = caller.call("POST", target, raw=b"[" * 100_000)  # deeper than the decoder recurses
    assert error_of(deep)[:2] == (400, "PARAM_ERROR")


def test_reply_signature_covers_the_json_body(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    target = f"{LIST}/{complaint_id}/response"
    body = json.dumps({"complainted_mchid": sandbox.mchid, "response_content": "好"}).encode()
    headers = {"Authorization": authorization(sandbox.keys, "POST", target, b"")}
    status, code, message = error_of(caller.call("POST", target, raw=body, headers=headers))
    assert (status, code) == (401, "SIGN_ERROR") and "JSON body" in message


def test_complete_only_from_processing(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    target = f"{LIST}/{complaint_id}/complete"
    early = caller.call("POST", target, {"complainted_mchid": sandbox.mchid})
    assert error_of(early)[:2] == (400, "INVALID_REQUEST")
    assert reply(caller, complaint_id).status_code == 204
    assert "complainted_mchid" in error_of(caller.call("POST", target, {}))[2]
    done = caller.call("POST", target, {"complainted_mchid": sandbox.mchid})
    assert done.status_code == 204 and signed_by_wechatpay(sandbox, done)
    assert sandbox.complaints[complaint_id]["complaint_state"] == "PROCESSED"
    assert error_of(caller.call("POST", target, {"complainted_mchid": sandbox.mchid}))[:2] == (400, "INVALID_REQUEST")
    assert error_of(reply(caller, complaint_id))[:2] == (400, "INVALID_REQUEST")
    history = caller.call("GET", f"{LIST}/{complaint_id}/negotiation-historys?limit=1&offset=2").json()
    assert [e["operate_type"] for e in history["data"]] == ["MERCHANT_CONFIRM_COMPLETE"]


def test_a_partners_sub_merchant_complaint(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint(complainted_mchid="1900000109")["complaint_id"]
    assert reply(caller, complaint_id).status_code == 400  # our own mchid is the wrong one
    assert reply(caller, complaint_id, complainted_mchid="1900000109").status_code == 204


def test_history_limit(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    base = f"{LIST}/{complaint_id}/negotiation-historys"
    assert caller.call("GET", base + "?limit=300").status_code == 200
    assert error_of(caller.call("GET", base + "?limit=301"))[:2] == (400, "PARAM_ERROR")
    assert error_of(caller.call("GET", base + "?limit=0"))[:2] == (400, "PARAM_ERROR")
    assert error_of(caller.call("GET", f"{LIST}/nope/negotiation-historys"))[:2] == (404, "RESOURCE_NOT_EXISTS")


def test_refund_progress(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    target = f"{LIST}/{complaint_id}/update-refund-progress"
    approved = caller.call("POST", target, {"action": "APPROVE", "launch_refund_day": 0, "remark": "今天退款"})
    assert approved.status_code == 204 and signed_by_wechatpay(sandbox, approved)
    assert sandbox.complaints[complaint_id]["complaint_state"] == "PENDING"  # the refund API refunds, not this
    evidence = [uploaded_media_id(caller, n) for n in range(4)]
    rejected = caller.call(
        "POST", target, {"action": "REJECT", "reject_reason": "已发货，物流在途", "reject_media_list": evidence}
    )
    assert rejected.status_code == 204, rejected.text
    assert [u["action"] for u in sandbox.complaint_refund_updates(complaint_id)] == ["APPROVE", "REJECT"]
    history = caller.call("GET", f"{LIST}/{complaint_id}/negotiation-historys").json()
    assert [e["operate_type"] for e in history["data"]][1:] == ["MERCHANT_APPROVE_REFUND", "MERCHANT_REJECT_REFUND"]
    assert sandbox.complaints[complaint_id]["complaint_state"] == "PROCESSED"  # a rejection closes it
    again = caller.call("POST", target, {"action": "APPROVE"})
    assert error_of(again)[:2] == (400, "INVALID_REQUEST")


def test_a_refund_rejection_needs_no_reason(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    target = f"{LIST}/{complaint_id}/update-refund-progress"
    assert caller.call("POST", target, {"action": "REJECT"}).status_code == 204


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "action is required"),
        ({"action": "MAYBE"}, "APPROVE or REJECT"),
        ({"action": "REJECT", "reject_reason": "因" * 201}, "at most 200"),
        ({"action": "REJECT", "reject_reason": "x", "reject_media_list": ["NEVER.png"]}, "not a media_id issued"),
        ({"action": "APPROVE", "remark": "因" * 201}, "at most 200"),
        ({"action": "APPROVE", "launch_refund_day": -1}, "launch_refund_day"),
        ({"action": "APPROVE", "complainted_mchid": "1900000001"}, "unknown field"),
    ],
)
def test_refund_progress_rules(sandbox: Sandbox, caller: Caller, body: dict[str, Any], needle: str) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    status, code, message = error_of(caller.call("POST", f"{LIST}/{complaint_id}/update-refund-progress", body))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message


def test_refund_progress_needs_a_refund_complaint_and_five_images_are_too_many(
    sandbox: Sandbox, caller: Caller
) -> None:
    other = sandbox.seed_complaint(problem_type="SERVICE_NOT_WORK")
    assert "apply_refund_amount" not in other
    target = f"{LIST}/{other['complaint_id']}/update-refund-progress"
    assert error_of(caller.call("POST", target, {"action": "APPROVE"}))[:2] == (400, "INVALID_REQUEST")
    refund = sandbox.seed_complaint()["complaint_id"]
    images = [uploaded_media_id(caller, n) for n in range(5)]
    body = {"action": "REJECT", "reject_reason": "x", "reject_media_list": images}
    assert "at most 4" in error_of(caller.call("POST", f"{LIST}/{refund}/update-refund-progress", body))[2]


# --- the notification URL and notifications -------------------------------------------------------------


def test_notification_url_life_cycle(sandbox: Sandbox, caller: Caller) -> None:
    assert error_of(caller.call("GET", NOTIFY))[:2] == (400, "RESOURCE_NOT_EXISTS")
    assert error_of(caller.call("PUT", NOTIFY, {"url": "https://a.example.com/n"}))[:2] == (400, "RESOURCE_NOT_EXISTS")
    created = caller.call("POST", NOTIFY, {"url": "https://a.example.com/n"})
    assert created.status_code == 200 and signed_by_wechatpay(sandbox, created)
    assert created.json() == {"mchid": sandbox.mchid, "url": "https://a.example.com/n"}
    assert caller.call("GET", NOTIFY).json()["url"] == "https://a.example.com/n"
    assert caller.call("PUT", NOTIFY, {"url": "http://127.0.0.1:8000/wx"}).json()["url"] == "http://127.0.0.1:8000/wx"
    assert sandbox.complaint_notification_url == "http://127.0.0.1:8000/wx"
    deleted = caller.call("DELETE", NOTIFY)
    assert deleted.status_code == 204 and signed_by_wechatpay(sandbox, deleted)
    assert sandbox.complaint_notification_url is None
    assert error_of(caller.call("GET", NOTIFY))[:2] == (400, "RESOURCE_NOT_EXISTS")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "url is required"),
        ({"url": "http://example.com/n"}, "https://"),
        ({"url": "ftp://127.0.0.1/n"}, "https://"),
        ({"url": "https://example.com/" + "n" * 236}, "at most 255"),
        ({"url": "https://example.com", "mchid": "1"}, "unknown field"),
    ],
)
def test_notification_url_rules(caller: Caller, body: dict[str, Any], needle: str) -> None:
    status, code, message = error_of(caller.call("POST", NOTIFY, body))
    assert (status, code) == (400, "PARAM_ERROR")
    assert needle in message


def test_notification_url_of_255_characters_is_accepted(caller: Caller) -> None:
    url = "https://example.com/" + "n" * 235
    assert caller.call("POST", NOTIFY, {"url": url}).json()["url"] == url


def _decrypt(resource: dict[str, str], apiv3_key: str) -> dict[str, Any]:
    plain = AESGCM(apiv3_key.encode()).decrypt(
        resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]), resource["associated_data"].encode()
    )
    return dict(json.loads(plain))


def _verify_notification(sandbox: Sandbox, headers: dict[str, str], body: bytes) -> bool:
    return verifies_message(headers, body, pem_public_key(sandbox.keys.wechatpay_public_key_pem))


def test_notification_is_signed_and_its_resource_encrypted(sandbox: Sandbox) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    headers, body = sandbox.notification(complaint_id)
    assert headers["Wechatpay-Serial"] == sandbox.keys.wechatpay_public_key_id
    assert _verify_notification(sandbox, headers, body)
    assert not _verify_notification(sandbox, headers, body.replace(b"COMPLAINT", b"C0MPLAINT"))
    message = json.loads(body)
    assert message["event_type"] == "COMPLAINT.CREATE" and message["resource_type"] == "encrypt-resource"
    assert message["resource"]["algorithm"] == "AEAD_AES_256_GCM"
    assert message["resource"]["original_type"] == "complaint"
    key = sandbox.settings()["APIV3_KEY"]
    assert _decrypt(message["resource"], key) == {"complaint_id": complaint_id, "action_type": "CREATE_COMPLAINT"}
    assert complaint_id.encode() not in body

    headers, body = sandbox.notification(
        complaint_id, "MERCHANT_RESPONSE", notification_id="N-1", timestamp=1_700_000_000
    )
    message = json.loads(body)
    assert (message["id"], message["event_type"]) == ("N-1", "COMPLAINT.STATE_CHANGE")
    assert headers["Wechatpay-Timestamp"] == "1700000000" and _verify_notification(sandbox, headers, body)
    with pytest.raises(ValueError, match="action_type"):
        sandbox.notification(complaint_id, "SOMETHING")


def test_notification_in_certificate_mode_is_signed_by_the_certificate(wxpay_sandbox_factory: Any) -> None:
    sandbox = wxpay_sandbox_factory(mode="certificate")
    headers, _body = sandbox.notification("200100")
    assert headers["Wechatpay-Serial"] == sandbox.certificates[-1].serial_no


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/wxpay/complaints/notify", received
    server.shutdown()
    server.server_close()


def test_notify_posts_to_the_registered_url(sandbox: Sandbox, caller: Caller, receiver: Any) -> None:
    url, received = receiver
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    with pytest.raises(RuntimeError, match="no complaint notification URL"):
        sandbox.notify(complaint_id)
    assert caller.call("POST", NOTIFY, {"url": url}).status_code == 200
    assert sandbox.notify(complaint_id) == 204
    assert sandbox.notify(complaint_id, "USER_RESPONSE", url=url) == 204
    (headers, body), (_, second) = received
    assert _verify_notification(sandbox, headers, body)
    key = sandbox.settings()["APIV3_KEY"]
    assert _decrypt(json.loads(body)["resource"], key)["complaint_id"] == complaint_id
    assert _decrypt(json.loads(second)["resource"], key)["action_type"] == "USER_RESPONSE"


# --- faults on the new paths ---------------------------------------------------------------------------


def test_faults_apply_to_complaint_paths(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    detail = f"{LIST}/{complaint_id}"
    sandbox.add_fault("status", path=detail, status=503, code="SYSTEM_ERROR")
    assert error_of(caller.call("GET", detail))[:2] == (503, "SYSTEM_ERROR")
    sandbox.add_fault("forged_signature", path=detail)
    forged = caller.call("GET", detail)
    assert forged.status_code == 200 and forged.json()["complaint_id"] == complaint_id
    assert not signed_by_wechatpay(sandbox, forged)
    sandbox.add_fault("probe_signature", path=f"{detail}/response")
    probed = reply(caller, complaint_id)
    assert probed.status_code == 204 and probed.headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    assert sandbox.complaint_replies(complaint_id) == []  # a faulted request changes nothing
    sandbox.add_fault("drop", path=LIST)
    with pytest.raises(requests.ConnectionError):
        caller.call("GET", f"{LIST}?begin_date={today()}&end_date={today()}")
    assert [r.fault for r in sandbox.requests[-4:]] == ["status", "forged_signature", "probe_signature", "drop"]


def test_unknown_complaint_paths_and_methods(sandbox: Sandbox, caller: Caller) -> None:
    complaint_id = sandbox.seed_complaint()["complaint_id"]
    assert error_of(caller.call("DELETE", f"{LIST}/{complaint_id}"))[:2] == (404, "NOT_FOUND")
    assert error_of(caller.call("GET", "/v3/merchant-service/images/upload", headers={"Accept": "*/*"}))[:2] == (
        404,
        "NOT_FOUND",
    )
