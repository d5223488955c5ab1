"""Hostile bodies and queries for the complaint APIs: always WeChat's 4xx error shape.

Two properties of 250 examples each, over one kept-alive connection to one sandbox
(a fresh PENDING complaint for each body); every request is properly signed, so it reaches the
rules. Never a 500, never a dropped connection, and nothing is recorded for a
refused call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.sandbox import Sandbox, SandboxKeys
from tests.helpers import fuzz

from .apiv3 import Caller

_SETTINGS = fuzz(250)
LIST = "/v3/merchant-service/complaints-v2"

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
#: Each action's accepted fields: bodies made of them get past the unknown-field check to the rules.
FIELDS = {
    "response": (
        "complainted_mchid",
        "response_content",
        "response_images",
        "jump_url",
        "jump_url_text",
        "mini_program_jump_info",
    ),
    "complete": ("complainted_mchid",),
    "update-refund-progress": ("action", "launch_refund_day", "reject_reason", "reject_media_list", "remark"),
    "notifications": ("url",),
}
_values = st.one_of(
    _json,
    st.sampled_from(["1900000001", "APPROVE", "REJECT", "https://e.cn/x", "http://127.0.0.1/n", "好"]),
    st.lists(st.text(max_size=12), max_size=6),
)


def _bodies(action: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.dictionaries(st.sampled_from(FIELDS[action]), _values, max_size=6).map(
            lambda d: json.dumps(d, ensure_ascii=False).encode()
        ),
        _json.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),
    )


_requests = st.sampled_from(sorted(FIELDS)).flatmap(
    lambda action: st.tuples(st.just(action), st.sampled_from(["POST", "PUT"]), _bodies(action))
)


@pytest.fixture(scope="module")
def desk() -> Iterator[tuple[Sandbox, Caller, str]]:
    with Sandbox(keys=SandboxKeys.shared()) as sandbox:
        caller = Caller(sandbox)
        complaint_id = sandbox.seed_complaint()["complaint_id"]
        yield sandbox, caller, complaint_id
        caller.close()


def _answered(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 204) or 400 <= response.status_code < 500, response.text[:300]
    if response.status_code == 204:
        return {}
    answer = response.json()
    if response.status_code >= 400:
        assert isinstance(answer["code"], str) and isinstance(answer["message"], str) and answer["message"]
    return dict(answer)


@_SETTINGS
@given(request=_requests)
def test_arbitrary_bodies_are_answered(desk: tuple[Sandbox, Caller, str], request: tuple[str, str, bytes]) -> None:
    sandbox, caller, _ = desk
    action, method, body = request
    complaint_id = sandbox.seed_complaint(images=0)["complaint_id"]  # fresh: earlier examples may have closed one
    target = (
        "/v3/merchant-service/complaint-notifications"
        if action == "notifications"
        else f"{LIST}/{complaint_id}/{action}"
    )
    before = len(sandbox.complaint_replies(complaint_id))
    response = caller.call(method, target, raw=body)
    _answered(response)
    if response.status_code >= 400:
        assert len(sandbox.complaint_replies(complaint_id)) == before


@_SETTINGS
@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(["limit", "offset", "begin_date", "end_date", "complainted_mchid", "x"]),
            st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF), max_size=12),
        ),
        max_size=6,
    ),
    history=st.booleans(),
)
def test_arbitrary_queries_are_answered(
    desk: tuple[Sandbox, Caller, str], query: list[tuple[str, str]], history: bool
) -> None:
    _sandbox, caller, complaint_id = desk
    path = f"{LIST}/{complaint_id}/negotiation-historys" if history else LIST
    encoded = "&".join(f"{k}={requests.utils.quote(v, safe='')}" for k, v in query)
    _answered(caller.call("GET", f"{path}?{encoded}" if encoded else path))
