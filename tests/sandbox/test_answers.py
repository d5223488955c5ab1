"""Answer signing and the platform certificates in each mode."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from django_wxpay_media.sandbox import Sandbox

from .apiv3 import (
    CERTS,
    Caller,
    authorization,
    decrypt_certificates,
    error_of,
    pem_public_key,
    verifies,
)

# --- certificate and migration modes ------------------------------------------------------------


def test_certificate_mode_download_decrypt_and_verify(
    wxpay_sandbox_factory: Callable[..., Sandbox], make_caller: Callable[[Sandbox], Caller]
) -> None:
    sandbox = wxpay_sandbox_factory(mode="certificate")
    caller = make_caller(sandbox)
    response = caller.certificates()
    assert response.status_code == 200, response.text
    certs = decrypt_certificates(response, sandbox.keys.apiv3_key)
    assert set(certs) == {sandbox.keys.platform_certificate.serial_no}
    for serial, cert in certs.items():
        assert f"{cert.serial_number:X}" == serial and len(serial) == 40
    item = response.json()["data"][0]
    assert item["effective_time"].endswith("+08:00") and item["expire_time"].endswith("+08:00")
    assert len(item["encrypt_certificate"]["nonce"]) == 12
    signer = certs[response.headers["Wechatpay-Serial"]].public_key()
    assert isinstance(signer, rsa.RSAPublicKey) and verifies(response, signer)
    assert sandbox.certificate_downloads == 1

    upload = caller.upload()
    assert upload.status_code == 200
    assert upload.headers["Wechatpay-Serial"] == sandbox.keys.platform_certificate.serial_no
    assert verifies(upload, signer)
    assert not verifies(upload, pem_public_key(sandbox.keys.wechatpay_public_key_pem))


def test_certificate_download_is_authenticated(
    wxpay_sandbox_factory: Callable[..., Sandbox], make_caller: Callable[[Sandbox], Caller]
) -> None:
    sandbox = wxpay_sandbox_factory(mode="certificate")
    caller = make_caller(sandbox)
    meta = b"{}"
    bad = authorization(sandbox.keys, "GET", CERTS, meta)  # signed over a body that was not sent
    assert error_of(caller.certificates(headers={"Authorization": bad}))[:2] == (401, "SIGN_ERROR")
    assert error_of(caller.certificates(headers={"Accept": "text/html"}))[:2] == (400, "PARAM_ERROR")
    assert sandbox.certificate_downloads == 0


def test_no_certificates_in_public_key_mode(caller: Caller) -> None:
    assert error_of(caller.certificates())[:2] == (404, "NOT_FOUND")


def test_rotation_and_expired_certificates(
    wxpay_sandbox_factory: Callable[..., Sandbox], make_caller: Callable[[Sandbox], Caller]
) -> None:
    sandbox = wxpay_sandbox_factory(mode="certificate")
    caller = make_caller(sandbox)
    old = sandbox.keys.platform_certificate
    new = sandbox.rotate_certificate()
    expired = sandbox.add_expired_certificate()
    response = caller.certificates()
    listed = decrypt_certificates(response, sandbox.keys.apiv3_key)
    assert set(listed) == {old.serial_no, new.serial_no, expired.serial_no}
    expire_times = {i["serial_no"]: dt.datetime.fromisoformat(i["expire_time"]) for i in response.json()["data"]}
    assert expire_times[expired.serial_no] < dt.datetime.now(dt.UTC) < expire_times[new.serial_no]
    upload = caller.upload()
    assert upload.headers["Wechatpay-Serial"] == new.serial_no
    assert verifies(upload, listed[new.serial_no].public_key())  # type: ignore[arg-type]
    # The shared keys were not touched: another sandbox still signs with the old certificate.
    assert sandbox.keys.platform_certificates == (old,)


def test_both_mode_key_chosen_by_wechatpay_serial(
    wxpay_sandbox_factory: Callable[..., Sandbox], make_caller: Callable[[Sandbox], Caller]
) -> None:
    sandbox = wxpay_sandbox_factory(mode="both")
    caller = make_caller(sandbox)
    keys = sandbox.keys
    cert = keys.platform_certificate
    plain = caller.upload()
    assert plain.headers["Wechatpay-Serial"] == keys.wechatpay_public_key_id
    by_pub = caller.upload(headers={"Wechatpay-Serial": keys.wechatpay_public_key_id})
    assert by_pub.headers["Wechatpay-Serial"] == keys.wechatpay_public_key_id
    assert verifies(by_pub, pem_public_key(keys.wechatpay_public_key_pem))
    by_cert = caller.upload(headers={"Wechatpay-Serial": cert.serial_no})
    assert by_cert.headers["Wechatpay-Serial"] == cert.serial_no
    assert verifies(by_cert, cert.certificate.public_key())  # type: ignore[arg-type]
    assert not verifies(by_cert, pem_public_key(keys.wechatpay_public_key_pem))
    downloaded = caller.certificates()
    assert downloaded.status_code == 200 and downloaded.headers["Wechatpay-Serial"] == cert.serial_no
