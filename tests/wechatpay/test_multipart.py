import hashlib

import requests
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.sandbox.multipart import parse_boundary, parse_multipart
from django_wxpay_media.wechatpay.multipart import MultipartBody, body_parts, build_body, content_type, new_boundary
from django_wxpay_media.wechatpay.signing import Signer, meta_json
from django_wxpay_media.wechatpay.validation import PNG, normalize_filename
from tests.helpers import fuzz
from tests.images import png_bytes


def test_body_is_exactly_meta_part_then_file_part_with_crlf():
    meta = '{"filename":"收据.jpg","sha256":"ab"}'
    body = build_body(meta, "收据.jpg", b"\xff\xd8\xffDATA", "image/jpeg", "BOUNDARY")
    assert body == (
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="meta"\r\n'
        b"Content-Type: application/json\r\n"
        b"\r\n" + meta.encode("utf-8") + b"\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + "收据.jpg".encode() + b'"\r\n'
        b"Content-Type: image/jpeg\r\n"
        b"\r\n\xff\xd8\xffDATA\r\n"
        b"--BOUNDARY--\r\n"
    )
    assert b"filename*=" not in body


def test_content_type_names_the_boundary():
    assert content_type("abc") == "multipart/form-data; boundary=abc"


# -- the body in pieces: the same bytes, the image never copied ------------------------


def test_body_parts_keep_the_image_object_and_join_to_build_body():
    data = b"\xff\xd8\xff" + bytes(range(256)) * 64
    body = body_parts('{"a":1}', "a.jpg", data, "image/jpeg", "B")
    assert body.parts[1] is data  # not copied
    assert bytes(body) == build_body('{"a":1}', "a.jpg", data, "image/jpeg", "B")
    assert len(body) == len(bytes(body))
    assert list(body) == list(body.parts)
    assert "bytes" in repr(body) and "\\xff" not in repr(body)


_names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


@fuzz(200)
@given(meta=st.text(max_size=60), filename=_names, data=st.binary(min_size=1, max_size=300))
def test_the_pieces_parse_back_to_meta_and_file(meta, filename, data):
    boundary = new_boundary()
    filename = normalize_filename(filename, PNG)  # what the client sends
    body = body_parts(meta, filename, data, "image/png", boundary)
    joined = bytes(body)
    assert len(body) == len(joined)
    parts = parse_multipart(joined, parse_boundary(content_type(boundary)))
    assert [p.name for p in parts] == ["meta", "file"]
    assert parts[1].filename == filename
    assert parts[0].content == meta.encode("utf-8")
    assert parts[1].content == data


def test_requests_sends_the_pieces_with_content_length_not_chunked(wxpay_sandbox):
    """A sized iterable goes out with Content-Length; the sandbox takes it as any body."""
    keys = wxpay_sandbox.keys
    signer = Signer.from_pem(wxpay_sandbox.mchid, keys.merchant_serial_no, keys.merchant_private_key_pem)
    data = png_bytes(7)
    meta = meta_json("a.png", hashlib.sha256(data).hexdigest())
    boundary = new_boundary()
    body = body_parts(meta, "a.png", data, "image/png", boundary)
    assert isinstance(body, MultipartBody)
    response = requests.post(
        wxpay_sandbox.base_url + "/v3/merchant-service/images/upload",
        data=body,
        headers={
            "Authorization": signer.authorization("POST", "/v3/merchant-service/images/upload", meta),
            "Content-Type": content_type(boundary),
            "Accept": "application/json",
            "User-Agent": "tests",
            "Wechatpay-Serial": keys.wechatpay_public_key_id,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    received = wxpay_sandbox.requests[-1].headers
    assert received.get("Content-Length") == str(len(bytes(body)))
    assert received.get("Transfer-Encoding") is None
    assert wxpay_sandbox.uploads[-1].data == data
