from django_wxpay_media.wechatpay.multipart import build_body, content_type


def test_body_is_exactly_meta_part_then_file_part_with_crlf():
    meta = '{"filename":"收据.jpg","sha256":"ab"}'
    body = build_body(meta, "收据.jpg", b"\xff\xd8\xffDATA", "image/jpeg", "BOUNDARY")
    assert body == (
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="meta"\r\n'
        b"Content-Type: application/json\r\n"
        b"\r\n" + meta.encode("utf-8") + b"\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + "收据.jpg".encode("utf-8") + b'"\r\n'
        b"Content-Type: image/jpeg\r\n"
        b"\r\n\xff\xd8\xffDATA\r\n"
        b"--BOUNDARY--\r\n"
    )
    assert b"filename*=" not in body


def test_content_type_names_the_boundary():
    assert content_type("abc") == "multipart/form-data; boundary=abc"
