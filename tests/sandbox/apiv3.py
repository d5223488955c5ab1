"""An independent APIv3 caller for the sandbox tests, over a real socket.

Requests are signed here with :mod:`cryptography` directly (never with
``django_wxpay_media.wechatpay``): the sandbox is the client's independent
counterpart, so its tests must not lean on the client.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from django_wxpay_media.sandbox import Sandbox, SandboxKeys

UPLOAD = "/v3/merchant-service/images/upload"
CERTS = "/v3/certificates"
MCHID = "1900000001"
BOUNDARY = "sandbox-test-boundary-7f3a"
MEDIA_ID = re.compile(r"^[0-9A-F]{32}\.(jpg|png|bmp)$")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))
BMP = b"BM" + (300).to_bytes(4, "little") + b"\x00" * 8 + (40).to_bytes(4, "little") + bytes(100)


# --- an independent request signer -----------------------------------------------------------


def _b64sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


@functools.lru_cache(maxsize=8)
def load_private(pem: str) -> rsa.RSAPrivateKey:  # cached: loading checks the key (~60 ms)
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def authorization(
    keys: SandboxKeys,
    method: str,
    url: str,
    signed_body: bytes,
    *,
    mchid: str = MCHID,
    timestamp: int | None = None,
    nonce: str | None = None,
    serial: str | None = None,
) -> str:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16).upper()
    message = f"{method}\n{url}\n{ts}\n{nonce}\n".encode() + signed_body + b"\n"
    signature = _b64sign(load_private(keys.merchant_private_key_pem), message)
    return (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",nonce_str="{nonce}",timestamp="{ts}",'
        f'serial_no="{serial or keys.merchant_serial_no}",signature="{signature}"'
    )


def meta_json(filename: str, digest: str) -> bytes:
    return json.dumps({"filename": filename, "sha256": digest}, ensure_ascii=False, separators=(",", ":")).encode()


def multipart(
    meta: bytes, data: bytes, header_filename: bytes, *, boundary: str = BOUNDARY, file_type: bytes = b"image/png"
) -> bytes:
    dash = b"--" + boundary.encode()
    return b"".join(
        [
            dash + b"\r\n",
            b'Content-Disposition: form-data; name="meta"\r\n',
            b"Content-Type: application/json\r\n\r\n",
            meta + b"\r\n",
            dash + b"\r\n",
            b'Content-Disposition: form-data; name="file"; filename="' + header_filename + b'"\r\n',
            b"Content-Type: " + file_type + b"\r\n\r\n",
            data + b"\r\n",
            dash + b"--\r\n",
        ]
    )


class Caller:
    """A minimal, deliberately explicit APIv3 caller for the tests."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.keys = sandbox.keys
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def upload(
        self,
        data: bytes = PNG,
        filename: str = "photo.png",
        *,
        digest: str | None = None,
        meta: bytes | None = None,
        header_filename: bytes | None = None,
        body: bytes | None = None,
        signed_body: bytes | None = None,
        headers: dict[str, Any] | None = None,
        timeout: float = 10,
        **auth: Any,
    ) -> requests.Response:
        meta = meta if meta is not None else meta_json(filename, digest or hashlib.sha256(data).hexdigest())
        if header_filename is None:
            header_filename = filename.encode("utf-8")
        body = body if body is not None else multipart(meta, data, header_filename)
        all_headers: dict[str, Any] = {
            "Authorization": authorization(
                self.keys, "POST", UPLOAD, meta if signed_body is None else signed_body, **auth
            ),
            "Accept": "application/json",
            "User-Agent": "sandbox-tests/1.0",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        }
        all_headers.update(headers or {})
        return self.session.post(self.sandbox.base_url + UPLOAD, data=body, headers=all_headers, timeout=timeout)

    def certificates(self, *, headers: dict[str, Any] | None = None, **auth: Any) -> requests.Response:
        all_headers: dict[str, Any] = {
            "Authorization": authorization(self.keys, "GET", CERTS, b"", **auth),
            "Accept": "application/json",
            "User-Agent": "sandbox-tests/1.0",
        }
        all_headers.update(headers or {})
        return self.session.get(self.sandbox.base_url + CERTS, headers=all_headers, timeout=10)

    def call(
        self,
        method: str,
        target: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, Any] | None = None,
        **auth: Any,
    ) -> requests.Response:
        """Any APIv3 call: ``target`` (path and query) is signed exactly as sent; a JSON body."""
        data = raw if raw is not None else (b"" if body is None else json.dumps(body, ensure_ascii=False).encode())
        all_headers: dict[str, Any] = {
            "Authorization": authorization(self.keys, method, target, data, **auth),
            "Accept": "application/json",
            "User-Agent": "sandbox-tests/1.0",
        }
        if data:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        request = requests.Request(method, self.sandbox.base_url + target, data=data, headers=all_headers)
        prepared = self.session.prepare_request(request)
        prepared.url = self.sandbox.base_url + target  # exactly as signed: no re-quoting
        return self.session.send(prepared, timeout=10, allow_redirects=False)


def verifies(response: requests.Response, public_key: rsa.RSAPublicKey) -> bool:
    """APIv3 answer verification: RSA-SHA256 over ``ts\\nnonce\\nbody\\n``."""
    return verifies_message(response.headers, response.content, public_key)


def verifies_message(headers: Mapping[str, str], body: bytes, public_key: rsa.RSAPublicKey) -> bool:
    """Verification of any signed message (an answer, a notification) from its headers and body."""
    ts = headers["Wechatpay-Timestamp"]
    nonce = headers["Wechatpay-Nonce"]
    try:
        signature = base64.b64decode(headers["Wechatpay-Signature"], validate=True)
    except ValueError:
        return False
    try:
        public_key.verify(signature, f"{ts}\n{nonce}\n".encode() + body + b"\n", padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def pem_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def decrypt_certificates(response: requests.Response, apiv3_key: str) -> dict[str, x509.Certificate]:
    result = {}
    for item in response.json()["data"]:
        enc = item["encrypt_certificate"]
        assert enc["algorithm"] == "AEAD_AES_256_GCM"
        pem = AESGCM(apiv3_key.encode()).decrypt(
            enc["nonce"].encode(), base64.b64decode(enc["ciphertext"]), enc["associated_data"].encode()
        )
        result[item["serial_no"]] = x509.load_pem_x509_certificate(pem)
    return result


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["message"]
