import base64
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.wechatpay import Signer, meta_json
from django_wxpay_media.wechatpay.signing import new_nonce, signing_string
from tests.keygen import deterministic_rsa_key

KEY = deterministic_rsa_key("django-wxpay-media signing test")
SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# Computed once and cross-checked with `openssl dgst -sha256 -sign` over the
# five-line signing string: PKCS#1 v1.5 is deterministic, so this is exact.
EXPECTED_AUTHORIZATION = (
    'WECHATPAY2-SHA256-RSA2048 mchid="1900231671",nonce_str="PCHK6HSOEDTACETP6P3AL7DWPHTBKIAT",'
    'timestamp="1567067659",serial_no="1FB89742D19F2BD30B69948D16DECA0FCB4481EB",'
    'signature="W1KqB3o+OUbn5RrDr9sdRdKiXBhrrnQAQuiNKv1aPiredGMGqW9KzIBI4HkxIETxgwtNLYbLiofe1AyVw1GC5yWl8c8'
    "Nv/CrIPfyoTy6vyJGqbTgAwawyOZrHwCaS/c4D/xRrxccx/JdtROzh8rmXLClvBWUGdsNjy+Mg65RNY+OlyJ+wpGhIjhWOpuTq3JII"
    "C7xsIGatcXdgX+Z2daG2Gw3YsWqDU3UPJYgu3krBD5m4J6x96uuxbOinDeRNudvbD6lGs1+i95Up9iI9j7lY/5Ti35CANv5nFSHo1"
    'gq4NqWVqVEwhbeLVXwUTwOB8w5xQpVRxgckqxoWW43scxP+A=="'
)


def signer():
    return Signer.from_pem("1900231671", "1fb89742d19f2bd30b69948d16deca0fcb4481eb", KEY)


def test_authorization_header_is_exact_for_fixed_key_timestamp_and_nonce():
    meta = meta_json("filea.jpg", SHA)
    assert meta == '{"filename":"filea.jpg","sha256":"' + SHA + '"}'
    header = signer().authorization(
        "POST",
        "/v3/merchant-service/images/upload",
        meta,
        timestamp="1567067659",
        nonce="PCHK6HSOEDTACETP6P3AL7DWPHTBKIAT",
    )
    assert header == EXPECTED_AUTHORIZATION


def test_signing_string_has_five_lines_each_ending_in_newline():
    assert signing_string("POST", "/p", "1", "N", "{}") == "POST\n/p\n1\nN\n{}\n"
    assert signing_string("GET", "/v3/certificates", "1", "N", "") == "GET\n/v3/certificates\n1\nN\n\n"


def test_nonce_is_random_and_32_characters():
    nonces = {new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 32 and n.isalnum() for n in nonces)


def test_private_key_is_not_in_repr():
    text = repr(signer())
    assert "RSAPrivateKey" not in text and "private_key" not in text
    assert "1900231671" in text


def test_meta_json_keeps_chinese_and_escapes_quotes_and_backslashes():
    text = meta_json('投诉 "凭证"\\1.jpg', SHA)
    assert "投诉" in text  # not \u escapes: WeChat signs and reads UTF-8
    assert '\\"凭证\\"' in text and "\\\\1" in text
    assert json.loads(text)["filename"] == '投诉 "凭证"\\1.jpg'


@given(st.text(max_size=200))
def test_any_name_round_trips_through_meta_json_and_its_signature_verifies(name):
    meta = meta_json(name, SHA)
    assert json.loads(meta) == {"filename": name, "sha256": SHA}
    header = signer().authorization("POST", "/v3/merchant-service/images/upload", meta, timestamp="1", nonce="N")
    signature = base64.b64decode(header.split('signature="')[1].rstrip('"'))
    message = signing_string("POST", "/v3/merchant-service/images/upload", "1", "N", meta).encode(
        "utf-8", "surrogatepass"
    )
    KEY.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
