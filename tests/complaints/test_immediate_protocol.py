"""The instant-service reply's protocol: checks before sending (hypothesis) and the call
against the sandbox over a real socket, retried with the same idempotent_id."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.wechatpay import complaints as wc
from django_wxpay_media.wechatpay import errors
from tests.helpers import fuzz
from tests.images import png_bytes
from tests.wechatpay.test_client import Sleeps, make_client

MCHID = "1900000109"


def body(blocks, idempotent_id="desk-1"):
    return wc.instant_reply_body(complainted_mchid=MCHID, blocks=blocks, idempotent_id=idempotent_id)


def code_of(call) -> str:
    with pytest.raises(wc.ComplaintRequestError) as info:
        call()
    return info.value.code


# -- checks, before anything is sent ------------------------------------------------------


def test_the_blocks_are_sent_as_wechat_documents_them():
    sent = body(
        [wc.TextBlock("您好"), wc.ImageBlock("m1", "IMAGE_STYLE_TYPE_WIDE"), wc.LinkBlock("订单", "https://s.cn/o")]
    )
    assert sent == {
        "complainted_mchid": MCHID,
        "message": {
            "blocks": [
                {"type": "TEXT", "text": {"text": "您好"}},
                {"type": "IMAGE", "image": {"media_id": "m1", "image_style_type": "IMAGE_STYLE_TYPE_WIDE"}},
                {
                    "type": "LINK",
                    "link": {
                        "text": "订单",
                        "action": {"action_type": "ACTION_TYPE_JUMP_URL", "jump_url": "https://s.cn/o"},
                    },
                },
            ]
        },
        "idempotent_id": "desk-1",
    }


@pytest.mark.parametrize(
    ("blocks", "code"),
    [
        ([], "EMPTY_CONTENT"),
        ([wc.TextBlock(" \u200b")], "EMPTY_CONTENT"),
        ([wc.TextBlock("好" * (wc.MAX_BLOCK_TEXT + 1))], "CONTENT_TOO_LONG"),
        ([wc.TextBlock("好👍")], "UNSUPPORTED_CHARACTER"),
        ([wc.ImageBlock(f"m{n}") for n in range(wc.MAX_IMAGES + 1)], "TOO_MANY_IMAGES"),
        ([wc.ImageBlock("")], "INVALID_MEDIA_ID"),
        ([wc.ImageBlock("m1", "HUGE")], "INVALID_IMAGE_STYLE"),
        ([wc.LinkBlock("订单", "http://s.cn/o")], "INVALID_JUMP_URL"),
        ([wc.LinkBlock("订单", "https://s.cn/" + "a" * wc.MAX_JUMP_URL)], "INVALID_JUMP_URL"),
        ([wc.LinkBlock("看" * (wc.MAX_LINK_TEXT + 1), "https://s.cn/o")], "JUMP_TEXT_TOO_LONG"),
        ([wc.LinkBlock(" ", "https://s.cn/o")], "INCOMPLETE_JUMP_LINK"),
        ([wc.TextBlock("好")] * (wc.MAX_BLOCKS + 1), "TOO_MANY_BLOCKS"),
        (["TEXT"], "INVALID_BLOCK"),
    ],
)
def test_message_rules(blocks, code):
    assert code_of(lambda: body(blocks)) == code


def test_the_limits_themselves_are_accepted():
    blocks = [wc.TextBlock("好" * wc.MAX_BLOCK_TEXT)] + [wc.ImageBlock(f"m{n}") for n in range(wc.MAX_IMAGES)]
    blocks += [wc.LinkBlock("看" * wc.MAX_LINK_TEXT, "https://s.cn/o")]
    assert len(body(blocks, "x" * wc.MAX_IDEMPOTENT_ID)["message"]["blocks"]) == len(blocks)


@pytest.mark.parametrize("idempotent_id", ["", "x" * (wc.MAX_IDEMPOTENT_ID + 1), "a b", "a\n", "订单", None])
def test_idempotent_id_is_required_and_plain(idempotent_id):
    assert code_of(lambda: body([wc.TextBlock("好")], idempotent_id)) == "INVALID_IDEMPOTENT_ID"


def test_the_complaints_merchant_is_required():
    call = lambda: wc.instant_reply_body(complainted_mchid="", blocks=[wc.TextBlock("好")], idempotent_id="1")  # noqa: E731
    assert code_of(call) == "MISSING_COMPLAINTED_MCHID"


@given(st.text(max_size=80))
@fuzz(150)
def test_any_idempotent_id_accepted_is_short_plain_ascii(value):
    try:
        wc.check_idempotent_id(value)
    except wc.ComplaintRequestError:
        return
    assert 1 <= len(value) <= wc.MAX_IDEMPOTENT_ID
    assert value.isascii() and value.isprintable() and " " not in value


@given(
    st.lists(
        st.one_of(
            st.builds(wc.TextBlock, st.text(max_size=20)),
            st.builds(wc.ImageBlock, st.text(max_size=5), st.sampled_from([*wc.IMAGE_STYLES, "X"])),
            st.builds(wc.LinkBlock, st.text(max_size=12), st.text(max_size=30)),
        ),
        max_size=12,
    )
)
@fuzz(150)
def test_an_accepted_message_keeps_every_limit(blocks):
    try:
        sent = body(blocks)["message"]["blocks"]
    except wc.ComplaintRequestError:
        return
    assert 1 <= len(sent) <= wc.MAX_BLOCKS
    assert sum(b["type"] == "IMAGE" for b in sent) <= wc.MAX_IMAGES
    for block in sent:
        if block["type"] == "TEXT":
            text = block["text"]["text"]
            assert not wc.is_invisible(text) and all(ord(ch) <= 0xFFFF for ch in text)
        elif block["type"] == "LINK":
            assert block["link"]["action"]["jump_url"].startswith("https://")
            assert not wc.is_invisible(block["link"]["text"])
        else:
            assert block["image"]["media_id"] and block["image"]["image_style_type"] in wc.IMAGE_STYLES


# -- the call, against the sandbox -----------------------------------------------------------


def test_the_call_answers_the_log_id_and_the_same_id_records_one_message(wxpay_sandbox):
    complaint_id = wxpay_sandbox.seed_complaint(extra={"need_immediate_service": True})["complaint_id"]
    with make_client(wxpay_sandbox) as client:
        media_id = client.upload_bytes(png_bytes(), "a.png").media_id
        blocks = [wc.TextBlock("您好，马上处理。"), wc.ImageBlock(media_id)]
        first = wc.respond_immediately(
            client, complaint_id, complainted_mchid=wxpay_sandbox.mchid, blocks=blocks, idempotent_id="d-1"
        )
        again = wc.respond_immediately(
            client, complaint_id, complainted_mchid=wxpay_sandbox.mchid, blocks=blocks, idempotent_id="d-1"
        )
    assert first == again and first
    (sent,) = wxpay_sandbox.complaint_immediate_messages(complaint_id)
    assert sent["message"]["blocks"][1]["image"]["media_id"] == media_id


def test_a_lost_answer_is_retried_with_the_same_idempotent_id(wxpay_sandbox):
    complaint_id = wxpay_sandbox.seed_complaint(extra={"need_immediate_service": True})["complaint_id"]
    path = f"{wc.COMPLAINTS_PATH}/{complaint_id}/response-immediate-service"
    wxpay_sandbox.add_fault("drop", path=path)
    with make_client(wxpay_sandbox, sleep=Sleeps()) as client:
        log_id = wc.respond_immediately(
            client,
            complaint_id,
            complainted_mchid=wxpay_sandbox.mchid,
            blocks=[wc.TextBlock("好")],
            idempotent_id="d-9",
        )
    posts = [r for r in wxpay_sandbox.requests if r.path == path]
    assert len(posts) == 2 and {json.loads(r.body)["idempotent_id"] for r in posts} == {"d-9"}
    assert log_id and len(wxpay_sandbox.complaint_immediate_messages(complaint_id)) == 1


def test_a_refused_message_is_not_sent(wxpay_sandbox):
    complaint_id = wxpay_sandbox.seed_complaint(extra={"need_immediate_service": True})["complaint_id"]
    with make_client(wxpay_sandbox) as client, pytest.raises(wc.ComplaintRequestError):
        wc.respond_immediately(
            client, complaint_id, complainted_mchid=wxpay_sandbox.mchid, blocks=[wc.TextBlock("好")], idempotent_id=""
        )
    assert wxpay_sandbox.requests == []


def test_a_complaint_not_flagged_is_refused_by_wechat(wxpay_sandbox):
    complaint_id = wxpay_sandbox.seed_complaint()["complaint_id"]
    with make_client(wxpay_sandbox) as client, pytest.raises(errors.WeChatPayError) as info:
        wc.respond_immediately(
            client, complaint_id, complainted_mchid=wxpay_sandbox.mchid, blocks=[wc.TextBlock("好")], idempotent_id="1"
        )
    assert info.value.code == "INVALID_REQUEST"
