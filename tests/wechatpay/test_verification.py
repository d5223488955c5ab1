"""Answer parsing and verification against hostile input.

Every malformed answer must end as one of the documented errors
(InvalidResponseError, SignatureVerificationError, ConfigurationError for a wrong
APIv3 key), never as a TypeError, AttributeError or RecursionError that becomes
an HTTP 500 in the admin.
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.sandbox.protocol import encrypt_certificate
from django_wxpay_media.wechatpay import WeChatPayClient, errors, valid_media_id
from django_wxpay_media.wechatpay.verification import (
    SIGNATURE_HEADERS,
    KeyStore,
    parse_json,
)
from tests.helpers import fuzz
from tests.wechatpay.loopback import Loopback, Reply, signature_headers

DOCUMENTED = (errors.InvalidResponseError, errors.SignatureVerificationError, errors.ConfigurationError)


def certificate_store(keys, body: bytes) -> KeyStore:
    """A certificate-mode KeyStore whose download answers ``body`` (signed by the first platform key)."""
    store = KeyStore(apiv3_key=keys.apiv3_key)
    cert = keys.platform_certificates[0]
    store.fetch_certificates = lambda: (dict(signature_headers(cert.private_key_pem, cert.serial_no, body)), body)
    return store


def good_entry(keys) -> dict:
    cert = keys.platform_certificates[0]
    return {
        "serial_no": cert.serial_no,
        "encrypt_certificate": encrypt_certificate(keys.apiv3_key, cert.certificate_pem),
    }


def test_a_good_certificate_list_is_accepted(wxpay_sandbox_keys):
    body = json.dumps({"data": [good_entry(wxpay_sandbox_keys)]}).encode()
    store = certificate_store(wxpay_sandbox_keys, body)
    assert store.refresh_certificates(force=True)
    assert store.certificate_serials == [wxpay_sandbox_keys.platform_certificates[0].serial_no]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: 5,
        lambda e: {"data": 5},
        lambda e: {"data": "x"},
        lambda e: {"data": {"a": 1}},
        lambda e: {"data": [5]},
        lambda e: {"data": [None]},
        lambda e: {"data": [{"encrypt_certificate": 5}]},
        lambda e: {"data": [{"encrypt_certificate": [1]}]},
        lambda e: {"data": [{**e, "encrypt_certificate": {**e["encrypt_certificate"], "nonce": 5}}]},
        lambda e: {"data": [{**e, "encrypt_certificate": {**e["encrypt_certificate"], "nonce": ""}}]},
        lambda e: {"data": [{**e, "encrypt_certificate": {**e["encrypt_certificate"], "nonce": "\ud800"}}]},
        lambda e: {"data": [{**e, "encrypt_certificate": {**e["encrypt_certificate"], "ciphertext": None}}]},
        lambda e: {"data": [{**e, "encrypt_certificate": {**e["encrypt_certificate"], "ciphertext": "%%%"}}]},
        lambda e: {"data": [{**e, "encrypt_certificate": {**e["encrypt_certificate"], "associated_data": 7}}]},
    ],
)
def test_a_malformed_certificate_list_is_an_invalid_response(wxpay_sandbox_keys, mutate):
    body = json.dumps(mutate(good_entry(wxpay_sandbox_keys))).encode()
    with pytest.raises(errors.InvalidResponseError):
        certificate_store(wxpay_sandbox_keys, body).refresh_certificates(force=True)


def test_a_deeply_nested_certificate_list_is_an_invalid_response(wxpay_sandbox_keys):
    with pytest.raises(errors.InvalidResponseError):
        certificate_store(wxpay_sandbox_keys, b"[" * 100_000).refresh_certificates(force=True)


def test_a_certificate_that_is_not_one_is_an_invalid_response(wxpay_sandbox_keys):
    entry = {"encrypt_certificate": encrypt_certificate(wxpay_sandbox_keys.apiv3_key, "not a certificate")}
    with pytest.raises(errors.InvalidResponseError):
        certificate_store(wxpay_sandbox_keys, json.dumps({"data": [entry]}).encode()).refresh_certificates(force=True)


@pytest.mark.parametrize("body", [b"[" * 100_000, b"{" * 50_000, b'{"a":' * 50_000, b"\xff\xfe", b"", b"NaN-ish"])
def test_parse_json_turns_hostile_bodies_into_invalid_response(body):
    with pytest.raises(errors.InvalidResponseError):
        parse_json(body, status=400, request_id="R")


# -- verify() against hostile headers -------------------------------------------------------------


@pytest.fixture
def public_store(wxpay_sandbox_keys):
    return KeyStore(
        public_key=wxpay_sandbox_keys.wechatpay_public_key_pem, public_key_id=wxpay_sandbox_keys.wechatpay_public_key_id
    )


def test_a_good_signature_verifies(public_store, wxpay_sandbox_keys):
    body = b'{"ok":true}'
    headers = dict(
        signature_headers(
            wxpay_sandbox_keys.wechatpay_private_key_pem, wxpay_sandbox_keys.wechatpay_public_key_id, body
        )
    )
    public_store.verify(headers, body)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Wechatpay-Nonce": 5}, "missing_headers"),
        ({"Wechatpay-Timestamp": None}, "missing_headers"),
        ({"Wechatpay-Nonce": "\ud800"}, "bad_signature"),
        ({"Wechatpay-Timestamp": "１７００"}, "stale_timestamp"),  # full-width digits: int() would take them
        ({"Wechatpay-Timestamp": "9" * 5000}, "stale_timestamp"),
        ({"Wechatpay-Signature": "不是base64"}, "bad_signature"),
        ({"Wechatpay-Signature-Type": "HMAC"}, "bad_signature"),
        ({"Wechatpay-Serial": "x" * 10_000}, "unknown_serial"),
    ],
)
def test_hostile_headers_are_a_signature_error(public_store, wxpay_sandbox_keys, change, reason):
    body = b"{}"
    headers = dict(
        signature_headers(
            wxpay_sandbox_keys.wechatpay_private_key_pem, wxpay_sandbox_keys.wechatpay_public_key_id, body
        )
    )
    headers.update(change)
    with pytest.raises(errors.SignatureVerificationError) as info:
        public_store.verify(headers, body)
    assert info.value.reason == reason
    assert len(str(info.value)) < 500


# -- property-based: only documented errors -------------------------------------------------------

header_values = st.one_of(
    st.none(), st.integers(), st.text(max_size=40), st.sampled_from(["PUB_KEY_ID_0", "WECHATPAY/SIGNTEST/x"])
)


@fuzz(800)
@given(
    values=st.fixed_dictionaries(dict.fromkeys(SIGNATURE_HEADERS, header_values)),
    extra=st.dictionaries(st.sampled_from(["Wechatpay-Signature-Type", "Request-ID"]), header_values),
    body=st.binary(max_size=64),
    now_stamp=st.booleans(),
)
def test_verify_raises_only_signature_errors(public_store, values, extra, body, now_stamp):
    headers = {**values, **extra}
    if now_stamp:
        headers["Wechatpay-Timestamp"] = str(int(time.time()))
    with pytest.raises(errors.SignatureVerificationError):
        public_store.verify(headers, body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@fuzz(600)
@given(body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_parse_json_raises_only_invalid_response(body):
    with contextlib.suppress(errors.InvalidResponseError):
        parse_json(body, status=200, request_id=None)


entry_fields = st.fixed_dictionaries(
    {},
    optional={
        "nonce": json_values,
        "ciphertext": st.one_of(
            json_values, st.binary(min_size=0, max_size=40).map(lambda b: __import__("base64").b64encode(b).decode())
        ),
        "associated_data": json_values,
    },
)


@fuzz(500)
@given(
    shape=st.one_of(
        json_values,
        st.lists(
            st.one_of(
                json_values, st.fixed_dictionaries({"encrypt_certificate": st.one_of(json_values, entry_fields)})
            ),
            max_size=3,
        ).map(lambda data: {"data": data}),
    )
)
def test_certificate_download_raises_only_documented_errors(wxpay_sandbox_keys, shape):
    store = certificate_store(wxpay_sandbox_keys, json.dumps(shape).encode())
    with contextlib.suppress(DOCUMENTED):
        store.refresh_certificates(force=True)


@fuzz(300)
@given(value=st.one_of(st.text(max_size=600), st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)))
def test_media_id_rule(value):
    ok = valid_media_id(value)
    assert ok == (isinstance(value, str) and 1 <= len(value) <= 512 and value.strip() == value and value.isprintable())


# -- whole answers over a real socket: status, headers and body all hostile ------------------------
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


class SteppedClock:
    """A monotonic clock that sleeping moves forward at once: pauses are kept, never waited."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@pytest.fixture(scope="module")
def hostile_client(wxpay_sandbox_keys):
    """One client (loading keys is slow) against a loopback server answering ``current["reply"]``."""
    current: dict[str, Reply] = {}
    keys = wxpay_sandbox_keys
    clock = SteppedClock()
    with Loopback(lambda received: current["reply"]) as loop:
        client = WeChatPayClient(
            mchid="1900000001",
            merchant_serial_no=keys.merchant_serial_no,
            private_key=keys.merchant_private_key_pem,
            public_key=keys.wechatpay_public_key_pem,
            public_key_id=keys.wechatpay_public_key_id,
            base_url=loop.base_url,
            max_retries=0,
            timeout=5,
            # A Retry-After of one example pauses the next ones: on this clock, without waiting.
            clock=clock,
            sleep=clock.sleep,
        )
        with client:
            yield client, current


@fuzz(400)
@given(
    status=st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503]),
    body=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries({}, optional={"code": json_values, "message": json_values, "detail": json_values}).map(
            lambda v: json.dumps(v).encode()
        ),
    ),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["Retry-After", "Request-ID", "Content-Type", "Location", *SIGNATURE_HEADERS]), header_text
        ),
        max_size=6,
    ),
)
def test_any_answer_is_a_success_or_a_documented_error(hostile_client, status, body, headers):
    client, current = hostile_client
    current["reply"] = Reply(status=status, headers=headers, body=b"" if status == 204 else body)
    try:
        client.request_json("GET", "/v3/merchant-service/complaints-v2")
    except (errors.ResponseError, errors.TransportError) as err:
        assert str(err)  # every error explains itself in a log line
