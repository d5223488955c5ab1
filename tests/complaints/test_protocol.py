"""The framework-free complaint calls: limits, parsing, notifications, payer_phone.

The calls that reach WeChat Pay are tested against the sandbox in test_flow.py;
these tests cover what is decided locally, before or after the network.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import weakref

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import example, given
from hypothesis import strategies as st

from django_wxpay_media.sandbox import SandboxKeys
from django_wxpay_media.wechatpay import complaints as wc
from django_wxpay_media.wechatpay import errors
from django_wxpay_media.wechatpay.verification import KeyStore
from tests.helpers import fuzz

from .helpers import signed_notification

KEYS = SandboxKeys.shared()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


# -- limits, checked before anything is sent ---------------------------------------------


def test_reply_length_is_counted_in_characters_not_bytes():
    text = "退" * wc.MAX_RESPONSE_CONTENT  # 3 bytes each in UTF-8
    assert wc.reply_body(complainted_mchid="1900000109", content=text)["response_content"] == text
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.reply_body(complainted_mchid="1900000109", content=text + "款")
    assert info.value.code == "CONTENT_TOO_LONG"
    assert info.value.params == {"length": wc.MAX_RESPONSE_CONTENT + 1, "limit": wc.MAX_RESPONSE_CONTENT}


def test_reply_takes_at_most_four_images():
    body = wc.reply_body(complainted_mchid="1900000109", content="ok", images=["m1", "m2", "m3", "m4"])
    assert body["response_images"] == ["m1", "m2", "m3", "m4"]
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.reply_body(complainted_mchid="1900000109", content="ok", images=["m1", "m2", "m3", "m4", "m5"])
    assert info.value.code == "TOO_MANY_IMAGES"


@pytest.mark.parametrize("mchid", ["", None])
def test_reply_needs_the_complaints_merchant(mchid):
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.reply_body(complainted_mchid=mchid, content="ok")
    assert info.value.code == "MISSING_COMPLAINTED_MCHID"


@pytest.mark.parametrize(
    ("url", "text", "code"),
    [
        ("https://shop.example/o/1", None, "INCOMPLETE_JUMP_LINK"),
        ("http://shop.example/o/1", "订单", "INVALID_JUMP_URL"),
        ("https://shop.example/" + "a" * 500, "订单", "INVALID_JUMP_URL"),
        ("https://shop.example/o/1", "查看订单详情和物流信息", "JUMP_TEXT_TOO_LONG"),
    ],
)
def test_jump_link_rules(url, text, code):
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.reply_body(complainted_mchid="1900000109", content="ok", jump_url=url, jump_url_text=text)
    assert info.value.code == code


def test_jump_link_is_sent_when_valid():
    body = wc.reply_body(
        complainted_mchid="1", content="ok", jump_url="https://shop.example/o/1", jump_url_text="查看订单"
    )
    assert body["jump_url"] == "https://shop.example/o/1" and body["jump_url_text"] == "查看订单"


def test_refund_rejection_takes_an_optional_reason_and_at_most_four_images():
    assert wc.refund_progress_body("REJECT") == {"action": "REJECT"}
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.refund_progress_body("REJECT", reject_reason="已发货", reject_images=["a", "b", "c", "d", "e"])
    assert info.value.code == "TOO_MANY_IMAGES"
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.refund_progress_body("REJECT", reject_reason="理" * 201)
    assert info.value.code == "REASON_TOO_LONG"
    body = wc.refund_progress_body("REJECT", reject_reason="已发货", reject_images=["a"], remark="r")
    assert body == {"action": "REJECT", "reject_reason": "已发货", "reject_media_list": ["a"], "remark": "r"}
    assert "complainted_mchid" not in wc.refund_progress_body("APPROVE", launch_refund_day=0)


def test_refund_action_must_be_known():
    with pytest.raises(wc.ComplaintRequestError):
        wc.refund_progress_body("MAYBE")


@given(st.text(max_size=80))
@example("0\n")  # "$" in the id pattern once let a trailing newline through
def test_a_complaint_id_never_changes_the_path(value):
    try:
        path = wc._path(value, "/response")
    except wc.ComplaintRequestError:
        return
    assert path == f"{wc.COMPLAINTS_PATH}/{value}/response"
    assert not set(value) & set("/?#%.\\ \r\n")


@given(st.integers(min_value=1, max_value=400), st.dates(min_value=dt.date(2000, 1, 1)))
def test_date_windows_cover_the_days_exactly_within_the_limit(days, today):
    windows = wc.date_windows(days, today=today)
    covered = []
    for begin, end in windows:
        assert begin <= end and (end - begin).days < wc.MAX_WINDOW_DAYS
        covered.extend(begin + dt.timedelta(days=i) for i in range((end - begin).days + 1))
    assert sorted(covered) == [today - dt.timedelta(days=i) for i in range(days)][::-1]


def test_page_stops_at_total_count():
    assert wc.Page(items=(1, 2), limit=2, offset=0, total_count=3).next_offset == 2
    assert wc.Page(items=(3,), limit=2, offset=2, total_count=3).next_offset is None
    assert wc.Page(items=(), limit=2, offset=4, total_count=None).next_offset is None


class _Item:
    """A page item that can be watched (weakref) to see when the paging loop lets it go."""


def test_paging_lets_a_page_go_before_fetching_the_next():
    """A sync holds one page of answers: when the next page is fetched, the last one is gone."""
    from django_wxpay_media.wechatpay.complaints.calls import _every

    refs: list[weakref.ref[_Item]] = []
    alive_when_fetching = []

    def fetch(offset: int) -> wc.Page[_Item]:
        alive_when_fetching.append(sum(ref() is not None for ref in refs))
        items = tuple(_Item() for _ in range(3))
        refs.extend(weakref.ref(item) for item in items)
        return wc.Page(items=items, limit=3, offset=offset, total_count=9)

    pages = _every(fetch, 10)
    taken = 0
    for _ in range(20):
        try:
            next(pages)  # each item dropped at once, as the sync hands it to a worker that finishes
        except StopIteration:
            break
        taken += 1
    assert taken == 9
    assert alive_when_fetching == [0, 0, 0]


# -- parsing answers: unknown fields kept, never a parse failure --------------------------


DETAIL = {
    "complaint_id": "200201820200101080076610000",
    "complaint_time": "2026-11-20T10:00:00+08:00",
    "complaint_detail": "商品未收到",
    "complaint_state": "PENDING",
    "complainted_mchid": "1900012181",
    "payer_phone": "ENCRYPTED",
    "problem_type": "REFUND",
    "apply_refund_amount": 150,
    "complaint_order_info": [{"transaction_id": "4200", "out_trade_no": "o-1", "amount": 3, "new": 1}],
    "complaint_media_list": [{"media_type": "USER_COMPLAINT_IMAGE", "media_url": ["https://u/1", "https://u/2"]}],
    "a_field_from_2027": {"nested": [1, 2]},
}


def test_detail_keeps_unknown_fields():
    complaint = wc.Complaint.from_json(DETAIL)
    assert complaint.raw["a_field_from_2027"] == {"nested": [1, 2]}
    assert complaint.orders[0].raw["new"] == 1
    assert complaint.image_urls == ["https://u/1", "https://u/2"]
    assert complaint.complainted_mchid == "1900012181"


@given(st.dictionaries(st.text(max_size=25), json_values, max_size=8), st.sampled_from(list(DETAIL)))
@fuzz(200)
def test_detail_parses_whatever_shape_the_fields_take(extra, replaced):
    data = {**DETAIL, **extra, "complaint_id": "1"}
    data[replaced] = extra.get(replaced, data[replaced])
    data["complaint_id"] = "1"
    complaint = wc.Complaint.from_json(json.loads(json.dumps(data)))
    assert complaint.complaint_id == "1"


def test_a_complaint_without_id_is_an_invalid_answer():
    with pytest.raises(errors.InvalidResponseError):
        wc.Complaint.from_json({"complaint_state": "PENDING"})


def test_history_media_list_is_an_object_not_a_list():
    entry = wc.HistoryEntry.from_json(
        {
            "log_id": "L1",
            "operate_type": "USER_CREATE_COMPLAINT",
            "complaint_media_list": {"media_type": "USER_COMPLAINT_IMAGE", "media_url": ["https://u/1"]},
            "image_list": ["https://cos/1"],
        }
    )
    assert entry.media[0].media_urls == ("https://u/1",)
    assert entry.image_list == ("https://cos/1",)


# -- notifications: verified like answers, then decrypted -------------------------------------


def key_store() -> KeyStore:
    return KeyStore(public_key=KEYS.wechatpay_public_key, public_key_id=KEYS.wechatpay_public_key_id)


def notification(**kwargs):
    return signed_notification(
        KEYS.wechatpay_private_key, KEYS.wechatpay_public_key_id, KEYS.apiv3_key, "2002", **kwargs
    )


def test_a_signed_notification_is_decrypted():
    headers, body = notification(notification_id="N1", action_type="USER_RESPONSE")
    # Header names as a WSGI server may spell them.
    result = wc.parse_notification(key_store(), KEYS.apiv3_key, {k.upper(): v for k, v in headers.items()}, body)
    assert (result.id, result.complaint_id, result.action_type) == ("N1", "2002", "USER_RESPONSE")
    assert result.event_type == "COMPLAINT.CREATE"


def test_a_forged_notification_is_refused_before_decryption():
    headers, body = notification()
    forged = body.replace(b"COMPLAINT.CREATE", b"COMPLAINT.STATE_CHANGE")
    with pytest.raises(errors.SignatureVerificationError) as info:
        wc.parse_notification(key_store(), KEYS.apiv3_key, headers, forged)
    assert info.value.reason == "bad_signature"


def test_a_stale_notification_is_refused():
    headers, body = notification(timestamp=int(time.time()) - 301)
    with pytest.raises(errors.SignatureVerificationError) as info:
        wc.parse_notification(key_store(), KEYS.apiv3_key, headers, body)
    assert info.value.reason == "stale_timestamp"


def test_a_signtest_probe_is_refused():
    headers, body = notification(signature="WECHATPAY/SIGNTEST/abc")
    with pytest.raises(errors.SignatureVerificationError) as info:
        wc.parse_notification(key_store(), KEYS.apiv3_key, headers, body)
    assert info.value.reason == "probe"


def test_an_unknown_serial_is_refused():
    headers, body = signed_notification(KEYS.wechatpay_private_key, "PUB_KEY_ID_0000", KEYS.apiv3_key, "2002")
    with pytest.raises(errors.SignatureVerificationError) as info:
        wc.parse_notification(key_store(), KEYS.apiv3_key, headers, body)
    assert info.value.reason == "unknown_serial"


def test_a_resource_under_another_apiv3_key_is_refused():
    headers, body = notification()
    with pytest.raises(wc.NotificationError):
        wc.parse_notification(key_store(), "x" * 32, headers, body)


# -- payer_phone: RSA-OAEP with SHA-1 ---------------------------------------------------------


def encrypt_phone(phone: str, hash_algorithm) -> str:
    pad = padding.OAEP(mgf=padding.MGF1(algorithm=hash_algorithm), algorithm=hash_algorithm, label=None)
    return base64.b64encode(KEYS.merchant_public_key.encrypt(phone.encode(), pad)).decode()


def test_payer_phone_decrypts_with_oaep_sha1():
    assert (
        wc.decrypt_payer_phone(KEYS.merchant_private_key, encrypt_phone("13800138000", hashes.SHA1())) == "13800138000"
    )


def test_payer_phone_under_another_padding_is_an_error_not_garbage():
    with pytest.raises(errors.WeChatPayError):
        wc.decrypt_payer_phone(KEYS.merchant_private_key, encrypt_phone("13800138000", hashes.SHA256()))
    with pytest.raises(errors.WeChatPayError):
        wc.decrypt_payer_phone(KEYS.merchant_private_key, "not base64!")


def test_dates_are_beijing_dates():
    # At 23:30 UTC it is already the next day in Beijing, where WeChat's dates live.
    late = dt.datetime(2026, 11, 27, 23, 30, tzinfo=dt.UTC)
    assert wc.beijing_today(late) == dt.date(2026, 11, 28)
    assert wc.beijing_today(late.replace(hour=15)) == dt.date(2026, 11, 27)
    (begin, end), *_ = wc.date_windows(1)
    assert begin == end == wc.beijing_today()


def test_a_plain_http_notification_url_is_refused_before_sending_to_wechat():
    from django_wxpay_media.wechatpay import WeChatPayClient

    client = WeChatPayClient(
        mchid="1900000109",
        merchant_serial_no="ABC",
        private_key=KEYS.merchant_private_key,
        public_key=KEYS.wechatpay_public_key,
        public_key_id=KEYS.wechatpay_public_key_id,
    )
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.set_notification_url(client, "http://127.0.0.1:8000/notify/")
    assert info.value.code == "INVALID_NOTIFICATION_URL"


def test_one_reply_check_for_form_service_and_call():
    """``check_reply`` takes the media_ids or, before the upload, their number."""
    assert wc.check_reply("ok", ["m1", "m2"]) == ["m1", "m2"]
    assert wc.check_reply("ok", 4) == []
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.check_reply("ok", 5)
    assert info.value.code == "TOO_MANY_IMAGES"
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.check_reply("ok", jump_url="https://shop.example/")
    assert info.value.code == "INCOMPLETE_JUMP_LINK"
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.check_reply("退" * (wc.MAX_RESPONSE_CONTENT + 1))
    assert info.value.code == "CONTENT_TOO_LONG"


# -- text WeChat refuses or that says nothing (issue 14) ---------------------------------------

INVISIBLE = st.sampled_from(" \t\n\r\u00a0\u200b\u200c\u200d\u2060\ufeff\u2028\u2029\u3000\u180e\u3164\u2800\u0301")


@given(st.text(max_size=40), st.characters(min_codepoint=0x10000), st.text(max_size=40))
@fuzz(60)
def test_a_character_of_four_utf8_bytes_is_refused_wherever_it_is(before, astral, after):
    text = before + astral + after
    if wc.text_length(text) > wc.MAX_RESPONSE_CONTENT:
        return
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.check_reply("好" + text)
    assert info.value.code == "UNSUPPORTED_CHARACTER"
    first = next(ch for ch in text if ord(ch) > 0xFFFF)
    assert info.value.params["character"] == f"U+{ord(first):04X}"


@given(st.text(INVISIBLE, max_size=30))
@fuzz(60)
def test_text_of_only_invisible_characters_is_refused(text):
    with pytest.raises(wc.ComplaintRequestError) as info:
        wc.check_reply(text)
    assert info.value.code == "EMPTY_CONTENT"


@given(st.text(max_size=60))
@fuzz(120)
def test_accepted_reply_text_is_visible_and_three_byte_utf8(text):
    try:
        wc.check_reply(text)
    except wc.ComplaintRequestError:
        return
    assert all(len(ch.encode("utf-8", "surrogatepass")) <= 3 for ch in text)
    assert not wc.is_invisible(text)


def test_emoji_in_the_link_text_the_reason_and_the_remark_are_refused():
    for call in (
        lambda: wc.check_reply("好", jump_url="https://shop.example/", jump_url_text="看👀"),
        lambda: wc.refund_progress_body("REJECT", reject_reason="已发货🚚"),
        lambda: wc.refund_progress_body("APPROVE", remark="👍"),
    ):
        with pytest.raises(wc.ComplaintRequestError) as info:
            call()
        assert info.value.code == "UNSUPPORTED_CHARACTER"
