import hashlib
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.wechatpay import MAX_IMAGE_SIZE, detect_format, normalize_filename, prepare_image
from django_wxpay_media.wechatpay.errors import (
    EmptyImageError,
    ImageTooLargeError,
    ImageValidationError,
    UnsupportedImageFormatError,
)
from django_wxpay_media.wechatpay.validation import BMP, JPEG, PNG
from tests.helpers import fuzz
from tests.images import big_png, bmp_bytes, jpeg_bytes, png_bytes


@pytest.mark.parametrize(
    ("data", "fmt"),
    [(jpeg_bytes(1), JPEG), (png_bytes(1), PNG), (bmp_bytes(1), BMP)],
)
def test_format_comes_from_magic_bytes(data, fmt):
    assert detect_format(data) is fmt


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 20,
        b"hello, this is text pretending to be an image",
        b"BM but only text, no bitmap header here at all",
        b"%PDF-1.7\n",
        b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    ],
)
def test_other_content_is_refused_whatever_its_name(data):
    with pytest.raises(UnsupportedImageFormatError) as info:
        prepare_image(data, "photo.jpg")
    assert "JPEG, PNG or BMP" in str(info.value)


def test_size_limits_are_one_byte_to_two_mebibytes_inclusive():
    assert prepare_image(big_png(MAX_IMAGE_SIZE), "x.png").size == MAX_IMAGE_SIZE
    with pytest.raises(ImageTooLargeError) as info:
        prepare_image(big_png(MAX_IMAGE_SIZE + 1), "x.png")
    assert info.value.params == {"size": MAX_IMAGE_SIZE + 1, "max_size": MAX_IMAGE_SIZE}
    with pytest.raises(EmptyImageError):
        prepare_image(b"", "x.png")


def test_prepared_image_carries_lowercase_sha256_and_real_content_type():
    data = jpeg_bytes(3)
    image = prepare_image(data, "receipt.JPEG")
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert image.filename == "receipt.jpg"
    assert image.content_type == "image/jpeg"
    assert "data" not in repr(image) or repr(data) not in repr(image)


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("photo.jpeg", JPEG, "photo.jpg"),
        ("PHOTO.JPG", JPEG, "PHOTO.jpg"),
        ("x.jpg", PNG, "x.png"),
        ("scan", BMP, "scan.bmp"),
        ("report.pdf", JPEG, "report.pdf.jpg"),
        ("C:\\Users\\客服\\收据.png", PNG, "收据.png"),
        ("../../etc/passwd.png", PNG, "passwd.png"),
        ("发票😀2024.jpg", JPEG, "发票2024.jpg"),
        ('bad"name\r\n\x00.png', PNG, "badname.png"),
        ("", PNG, "image.png"),
        (None, JPEG, "image.jpg"),
        ("😀.png", PNG, "image.png"),
        ("   .png", PNG, "image.png"),
    ],
)
def test_normalize_filename(name, fmt, expected):
    assert normalize_filename(name, fmt) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("invoice\u202egpj.png", "invoicegpj.png"),  # RIGHT-TO-LEFT OVERRIDE
        ("\u202dreceipt\u202c.jpg", "receipt.png"),  # LRO / PDF
        ("\u2066收据\u2069.png", "收据.png"),  # bidi isolates
        ("zero\u200bwidth\u200c\u200d.png", "zerowidth.png"),
        ("\ufeffbom.png", "bom.png"),
        ("line\u2028para\u2029.png", "linepara.png"),
        ("soft\u00adhyphen.png", "softhyphen.png"),
        ("\u200b\u200b.png", "image.png"),  # nothing visible left
        ("\u061cmark\u200e\u200f.png", "mark.png"),  # ALM, LRM, RLM
    ],
)
def test_invisible_formatting_characters_are_removed(name, expected):
    assert normalize_filename(name, PNG) == expected


def test_long_names_are_cut_to_128_characters_keeping_the_suffix():
    name = normalize_filename("长" * 300 + ".jpeg", JPEG)
    assert len(name) == 128 and name.endswith(".jpg")


@fuzz(600)
@given(st.text(max_size=400), st.sampled_from([JPEG, PNG, BMP]))
def test_any_name_normalises_to_what_the_api_accepts(name, fmt):
    result = normalize_filename(name, fmt)
    assert 1 <= len(result) <= 128
    assert result.endswith("." + fmt.extension)
    assert len(result) > len(fmt.extension) + 1  # a non-empty stem
    assert all(ord(ch) <= 0xFFFF for ch in result)  # 1-3 byte UTF-8 only
    assert not any(ch in result for ch in '/\\"\r\n\x00')
    assert not any(unicodedata.category(ch) in ("Cc", "Cs", "Cf", "Zl", "Zp") for ch in result)
    assert normalize_filename(result, fmt) == result  # idempotent


invisible = st.characters(categories=["Cf", "Zl", "Zp"])


@fuzz(600)
@given(
    st.lists(st.one_of(st.text(max_size=8), invisible), max_size=30).map("".join),
    st.sampled_from([JPEG, PNG, BMP]),
)
def test_names_salted_with_invisible_characters_come_out_clean(name, fmt):
    result = normalize_filename(name, fmt)
    assert not any(unicodedata.category(ch) in ("Cf", "Zl", "Zp") for ch in result)
    assert 1 <= len(result) <= 128 and result.endswith("." + fmt.extension)
    # Invisible characters change nothing else: the name is the one without them.
    visible = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cf", "Zl", "Zp"))
    assert result == normalize_filename(visible, fmt)


def test_every_rejection_is_an_image_validation_error_with_a_code():
    for data in (b"", b"text", big_png(MAX_IMAGE_SIZE + 1)):
        with pytest.raises(ImageValidationError) as info:
            prepare_image(data, "a.jpg")
        assert info.value.code in {"EMPTY_FILE", "UNSUPPORTED_FORMAT", "FILE_TOO_LARGE"}
