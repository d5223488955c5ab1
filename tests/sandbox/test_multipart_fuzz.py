"""Hostile uploads over a real socket: whatever the body and headers, the server answers.

Every generated request is authorized (a fresh nonce, the merchant key), so it reaches
the multipart parser; mutations of a valid upload are signed over its meta part, so
those that still parse reach the upload rules (or succeed). What must hold: an answer always comes, on the same keep-alive
connection, with a 4xx status (200 for the odd valid upload) and WeChat's error shape
``{"code": str, "message": str}`` as JSON — never a 500, never a dropped connection.

Four properties of 300 examples: 1,200 generated requests per run; bodies stay small so the run stays short.
"""

from __future__ import annotations

import hashlib
import http.client
import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from django_wxpay_media.sandbox import Sandbox, SandboxKeys
from tests.helpers import fuzz

from .apiv3 import BOUNDARY, PNG, UPLOAD, authorization, meta_json, multipart

_SETTINGS = settings(
    fuzz(300),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

B = BOUNDARY.encode()
SEPARATORS = st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r", b"", b" \r\n", b"\r\n\r\n"])
#: Header values http.client agrees to send: Latin-1 without CR, LF or DEL.
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"), max_size=80
)
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_*0123456789", min_size=1, max_size=12)


@pytest.fixture(scope="module")
def fuzz_sandbox() -> Iterator[Sandbox]:
    with Sandbox(keys=SandboxKeys.shared()) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def connection(fuzz_sandbox: Sandbox) -> Iterator[http.client.HTTPConnection]:
    conn = http.client.HTTPConnection(fuzz_sandbox.host, fuzz_sandbox.port, timeout=30)
    yield conn
    conn.close()


def _send(
    sandbox: Sandbox, conn: http.client.HTTPConnection, headers: list[tuple[str, str]], body: bytes, signed: bytes
) -> tuple[int, dict[str, str], bytes]:
    """POST the upload with exactly these headers (repeats kept) on the kept-alive connection."""
    conn.putrequest("POST", UPLOAD, skip_host=True, skip_accept_encoding=True)
    sent = [
        ("Host", f"{sandbox.host}:{sandbox.port}"),
        ("Authorization", authorization(sandbox.keys, "POST", UPLOAD, signed)),
        ("Accept", "application/json"),
        ("User-Agent", "fuzz/1"),
        ("Content-Length", str(len(body))),
        *headers,
    ]
    for name, value in sent:
        conn.putheader(name, value.encode("latin-1"))
    conn.endheaders(body)
    response = conn.getresponse()  # RemoteDisconnected here would be a dropped connection
    content = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, content


def _assert_answered_in_wechat_shape(status: int, headers: dict[str, str], content: bytes) -> None:
    assert status == 200 or 400 <= status < 500, (status, content[:300])
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(content)
    event(f"{status} {answer.get('code', 'ok')}")  # --hypothesis-show-statistics: how deep requests got
    if status != 200:
        assert isinstance(answer["code"], str) and answer["code"]
        assert isinstance(answer["message"], str) and answer["message"]


def _check(
    sandbox: Sandbox,
    conn: http.client.HTTPConnection,
    headers: list[tuple[str, str]],
    body: bytes,
    signed: bytes = b"",
) -> None:
    sandbox.reset()  # keeps the request log small; nonces are fresh anyway
    _assert_answered_in_wechat_shape(*_send(sandbox, conn, headers, body, signed))
    (record,) = sandbox.requests
    assert record.response_status is not None and record.response_status < 500


# --- strategies --------------------------------------------------------------------------------------

_content_types = st.one_of(
    st.just(f"multipart/form-data; boundary={BOUNDARY}"),
    st.just("multipart/form-data"),
    st.builds(
        lambda main, params: main + "".join(f"; {k}={v}" for k, v in params),
        st.sampled_from(["multipart/form-data", "MULTIPART/FORM-DATA", "multipart/mixed", "text/plain", ""]),
        st.lists(st.tuples(st.sampled_from(["boundary", "charset", "boundary*", "x"]), HEADER_TEXT), max_size=3),
    ),
    HEADER_TEXT,
)

_dispositions = st.one_of(
    st.just(b'Content-Disposition: form-data; name="meta"'),
    st.just(b'Content-Disposition: form-data; name="file"; filename="a.png"'),
    st.builds(
        lambda kind, params: b"Content-Disposition: " + kind + b"".join(b"; " + k + b"=" + v for k, v in params),
        st.sampled_from([b"form-data", b"attachment", b"", b"FORM-DATA"]),
        st.lists(
            st.tuples(
                st.sampled_from([b"name", b"filename", b"filename*", b"name*", b"x", b""]),
                st.one_of(st.binary(max_size=20), st.just(b'"meta"'), st.just(b'"file"'), st.just(b'"a.png"')),
            ),
            max_size=4,
        ),
    ),
)

_header_lines = st.one_of(
    _dispositions,
    st.sampled_from(
        [
            b"Content-Type: application/json",
            b"Content-Type: image/png",
            b"Content-Transfer-Encoding: base64",
            b" folded",
            b"no colon here",
        ]
    ),
    st.binary(max_size=40),
)

_parts = st.lists(
    st.tuples(
        st.lists(_header_lines, max_size=4),
        st.one_of(st.binary(max_size=80), st.just(b'{"filename":"a.png","sha256":"' + b"0" * 64 + b'"}'), st.just(b"")),
        SEPARATORS,
    ),
    max_size=4,
)


@st.composite
def _multipart_like(draw: st.DrawFn) -> bytes:
    """A body close to multipart/form-data, then possibly cut or spliced with junk."""
    boundary = draw(st.sampled_from([B, B, B, b"other", b"", B + b"x"]))
    body = b""
    for headers, content, sep in draw(_parts):
        body += b"--" + boundary + draw(st.sampled_from([b"", b"  ", b"\t"])) + sep
        body += sep.join(headers) + sep + sep + content + draw(SEPARATORS)
    body += draw(st.sampled_from([b"--" + boundary + b"--\r\n", b"--" + boundary + b"--", b"", b"--" + boundary]))
    body += draw(st.sampled_from([b"", b"", b"epilogue", b"\r\n\r\n"]))
    if draw(st.booleans()):
        cut = draw(st.integers(min_value=0, max_value=len(body)))
        body = body[:cut] + draw(st.binary(max_size=16)) + body[cut + draw(st.integers(0, 8)) :]
    return body


META = meta_json("photo.png", hashlib.sha256(PNG).hexdigest())
VALID = multipart(META, PNG, b"photo.png")
VALID_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@st.composite
def _mutated_upload(draw: st.DrawFn) -> bytes:
    """A valid upload body with up to three bytes ranges replaced by junk (zero: unchanged)."""
    body = VALID
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        start = draw(st.integers(min_value=0, max_value=len(body)))
        end = draw(st.integers(min_value=start, max_value=min(len(body), start + 12)))
        junk = draw(st.one_of(st.binary(max_size=12), st.sampled_from([b"\r\n", b"--", b'"', b";", b"\r\n\r\n", b""])))
        body = body[:start] + junk + body[end:]
    return body


# --- the properties ------------------------------------------------------------------------------------


@_SETTINGS
@given(body=st.binary(max_size=2000), content_type=_content_types)
def test_arbitrary_bytes_are_answered(
    fuzz_sandbox: Sandbox, connection: http.client.HTTPConnection, body: bytes, content_type: str
) -> None:
    _check(fuzz_sandbox, connection, [("Content-Type", content_type)], body)


@_SETTINGS
@given(body=_multipart_like(), content_type=_content_types)
def test_near_multipart_bodies_are_answered(
    fuzz_sandbox: Sandbox, connection: http.client.HTTPConnection, body: bytes, content_type: str
) -> None:
    _check(fuzz_sandbox, connection, [("Content-Type", content_type)], body)


@_SETTINGS
@given(body=_mutated_upload(), content_type=st.one_of(st.just(VALID_TYPE), st.just("multipart/form-data")))
def test_mutated_uploads_are_answered(
    fuzz_sandbox: Sandbox, connection: http.client.HTTPConnection, body: bytes, content_type: str
) -> None:
    _check(fuzz_sandbox, connection, [("Content-Type", content_type)], body, signed=META)


@_SETTINGS
@given(
    body=_multipart_like(),
    headers=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(["Content-Type", "Accept", "User-Agent", "Wechatpay-Serial"]), TOKEN),
            HEADER_TEXT,
        ),
        max_size=5,
    ),
)
def test_arbitrary_headers_are_answered(
    fuzz_sandbox: Sandbox, connection: http.client.HTTPConnection, body: bytes, headers: list[tuple[str, str]]
) -> None:
    # Names that would change how the body is framed are left to the HTTP plumbing's own tests.
    framing = {"content-length", "transfer-encoding", "connection", "host", "expect"}
    _check(fuzz_sandbox, connection, [(n, v) for n, v in headers if n.lower() not in framing], body)
