"""Priority flags from sandbox details: stored as fields, filtered in SQL, labelled in words."""

from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.complaints import flags, services
from django_wxpay_media.complaints.models import Complaint
from tests.complaints.helpers import post, stored

pytestmark = pytest.mark.django_db


def test_a_plain_complaint_raises_no_flag(desk):
    complaint = stored(desk, problem_type="SERVICE_NOT_WORK")
    assert flags.flags_for(complaint) == []


def test_each_flag_from_the_detail(desk):
    complaint = stored(
        desk,
        problem_type="REFUND",
        amount=1250,
        extra={
            "need_immediate_service": True,
            "in_platform_service": True,
            "user_tag_list": ["TRUSTED"],
            "user_complaint_times": 3,
            "complaint_full_refunded": True,
            "incoming_user_response": True,
        },
    )
    assert complaint.need_immediate_service and complaint.in_platform_service and complaint.trusted_consumer
    assert complaint.user_complaint_times == 3 and complaint.full_refunded and complaint.incoming_user_response
    raised = {flag.code: flag for flag in flags.flags_for(complaint)}
    assert list(raised) == list(flags.LABELS)  # every flag, in the desk's order
    assert raised[flags.REFUND_REQUESTED].detail == "The consumer asks for ¥12.50 back."
    assert "does not see your messages" in raised[flags.IN_PLATFORM_SERVICE].detail
    assert raised[flags.REPEAT_COMPLAINANT].detail == "This consumer has made 3 complaints."
    with translation.override("zh-hans"):
        zh = {flag.code: flag for flag in flags.flags_for(complaint)}
    assert zh[flags.IMMEDIATE_SERVICE].label == "需立即处理"
    assert zh[flags.IN_PLATFORM_SERVICE].detail == "微信支付客服正在处理；在此期间用户看不到商户的消息。"


def test_others_tag_and_one_complaint_are_no_flags(desk):
    complaint = stored(desk, extra={"user_tag_list": ["OTHERS"], "user_complaint_times": 1})
    assert not complaint.trusted_consumer and complaint.user_complaint_times == 1
    assert flags.TRUSTED not in flags.codes(flags.flags_for(complaint))
    assert flags.REPEAT_COMPLAINANT not in flags.codes(flags.flags_for(complaint))


def test_every_flag_is_a_database_filter(desk):
    plain = stored(desk, problem_type="OTHERS")
    flagged = stored(
        desk,
        problem_type="REFUND",
        extra={
            "need_immediate_service": True,
            "in_platform_service": True,
            "user_tag_list": ["TRUSTED"],
            "user_complaint_times": 2,
            "complaint_full_refunded": True,
            "incoming_user_response": True,
        },
    )
    for code in flags.LABELS:
        found = list(Complaint.objects.filter(flags.filter_q(code)).values_list("pk", flat=True))
        assert found == [flagged.pk], code
        assert "raw" not in str(Complaint.objects.filter(flags.filter_q(code)).query).split("WHERE", 1)[1]
    assert plain.pk not in Complaint.objects.filter(flags.filter_q(flags.WROTE_AGAIN)).values_list("pk", flat=True)


def test_the_consumer_writing_again_is_seen_until_the_merchant_replies(desk):
    complaint = stored(desk)
    assert not flags.wrote_again(complaint)
    desk.consumer_writes(complaint.complaint_id, "还没收到退款")
    services.refresh(complaint.complaint_id)
    complaint.refresh_from_db()
    assert complaint.incoming_user_response and flags.wrote_again(complaint)
    assert services.send_reply(complaint, "已为您退款。").ok
    complaint.refresh_from_db()
    assert not complaint.incoming_user_response
    assert not flags.wrote_again(complaint)  # the USER_RESPONSE step is older than the reply
    assert not Complaint.objects.filter(flags.filter_q(flags.WROTE_AGAIN)).exists()


def test_a_user_response_notification_after_the_last_reply_counts(client, desk):
    complaint = stored(desk)
    assert services.send_reply(complaint, "您好。").ok
    complaint.refresh_from_db()
    assert not flags.wrote_again(complaint)
    # WeChat says the consumer wrote; the detail does not (yet) say so.
    headers, body = desk.notification(complaint.complaint_id, "USER_RESPONSE")
    assert post(client, headers, body).status_code == 204
    complaint.refresh_from_db()
    assert not complaint.incoming_user_response
    assert flags.wrote_again(complaint)
    assert list(Complaint.objects.filter(flags.filter_q(flags.WROTE_AGAIN))) == [complaint]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "need_immediate_service",
                "incoming_user_response",
                "in_platform_service",
                "user_tag_list",
                "user_complaint_times",
                "complaint_full_refunded",
                "other",
            ]
        ),
        json_values,
    )
)
def test_any_json_gives_well_typed_fields(raw):
    fields = flags.stored_fields(raw)
    for name in ("need_immediate_service", "incoming_user_response", "in_platform_service", "full_refunded"):
        assert isinstance(fields[name], bool)
    assert fields["need_immediate_service"] == (raw.get("need_immediate_service") is True)
    times = fields["user_complaint_times"]
    assert times is None or (type(times) is int and times >= 0)
    assert fields["trusted_consumer"] == (
        isinstance(raw.get("user_tag_list"), list) and "TRUSTED" in raw["user_tag_list"]
    )
