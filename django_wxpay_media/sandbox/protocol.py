"""APIv3 request authentication and answer signing, as WeChat Pay's server does it.

Written from the specification alone (``docs``/spec), independently of the client in
``django_wxpay_media.wechatpay``: a mistake in one must not hide in the other.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "AUTH_SCHEME",
    "ApiError",
    "Authorization",
    "check_accept",
    "check_user_agent",
    "encrypt_certificate",
    "new_nonce",
    "parse_authorization",
    "sign",
    "signing_string",
    "verify",
]

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
#: WeChat Pay (and the official SDKs) refuse a timestamp this far from their clock.
MAX_CLOCK_SKEW = 300
_AUTH_KEYS = ("mchid", "nonce_str", "timestamp", "serial_no", "signature")
_PAIR = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*(?:,|$)')
_TIMESTAMP = re.compile(r"^[1-9][0-9]{0,11}\Z")
_NONCE = re.compile(r"^[\x21\x23-\x2b\x2d-\x7e]{1,64}\Z")  # printable ASCII without '"' and ','
_NONCE_ALPHABET = string.ascii_uppercase + string.digits


class ApiError(Exception):
    """An error answer: HTTP ``status``, WeChat ``code`` and a ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def sign_error(message: str) -> ApiError:
    """401 SIGN_ERROR, WeChat's answer to any authentication failure."""
    return ApiError(401, "SIGN_ERROR", message)


def param_error(message: str) -> ApiError:
    """400 PARAM_ERROR."""
    return ApiError(400, "PARAM_ERROR", message)


def strict_json(text: str, what: str) -> Any:
    """Parse ``text`` as JSON, refusing a key given twice (400 PARAM_ERROR naming ``what``).

    Python's ``json`` keeps the last of two equal keys silently; WeChat Pay refuses the
    request, so the upload's meta part and the complaint APIs' bodies both come through here.
    """

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise param_error(f"{what} gives {key!r} twice")
            result[key] = value
        return result

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an absurdly long number or deep nesting
        raise param_error(f"{what} is not valid JSON: {getattr(exc, 'msg', exc)}") from None


@dataclass(frozen=True)
class Authorization:
    """The parsed ``Authorization`` header of a request."""

    mchid: str
    nonce_str: str
    timestamp: str
    serial_no: str
    signature: str


def parse_authorization(value: str | None) -> Authorization:
    """Parse ``WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",…`` strictly.

    The five pairs may come in any order, each exactly once, nothing else.
    Raises 401 SIGN_ERROR for anything missing or garbled.
    """
    if not value:
        raise sign_error("Authorization header is missing")
    scheme, sep, rest = value.partition(" ")
    if scheme != AUTH_SCHEME or not sep:
        raise sign_error(f"Authorization must use the {AUTH_SCHEME} scheme")
    pairs: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _PAIR.match(rest, pos)
        if not match:
            raise sign_error('Authorization parameters must be key="value" pairs separated by commas')
        key, val = match.group(1), match.group(2)
        if key not in _AUTH_KEYS:
            raise sign_error(f"Authorization has an unknown parameter {key!r}")
        if key in pairs:
            raise sign_error(f"Authorization gives {key!r} twice")
        pairs[key] = val
        pos = match.end()
    if rest.endswith(","):
        raise sign_error("Authorization ends with a stray comma")
    missing = [k for k in _AUTH_KEYS if not pairs.get(k)]
    if missing:
        raise sign_error(f"Authorization lacks {', '.join(missing)}")
    if not _TIMESTAMP.match(pairs["timestamp"]):
        raise sign_error("Authorization timestamp must be Unix seconds")
    if not _NONCE.match(pairs["nonce_str"]):
        raise sign_error("Authorization nonce_str must be 1 to 64 printable ASCII characters")
    return Authorization(**pairs)


def check_clock(timestamp: str, now: float) -> None:
    """Refuse a request timestamp more than five minutes away from ``now``."""
    skew = int(timestamp) - int(now)
    if abs(skew) > MAX_CLOCK_SKEW:
        raise sign_error(
            f"Authorization timestamp is {abs(skew)} s {'ahead of' if skew > 0 else 'behind'} "
            f"the server clock (at most {MAX_CLOCK_SKEW} s allowed)"
        )


def signing_string(method: str, url: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The request signing string ``METHOD\\nURL\\nTS\\nNONCE\\nBODY\\n`` as bytes."""
    head = f"{method}\n{url}\n{timestamp}\n{nonce}\n".encode()
    return head + body + b"\n"


def response_signing_string(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The answer signing string ``TS\\nNONCE\\nBODY\\n``."""
    return f"{timestamp}\n{nonce}\n".encode("ascii") + body + b"\n"


def sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """Base64 RSA PKCS#1 v1.5 SHA-256 signature."""
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify(public_key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    """Whether ``signature_b64`` is a valid signature of ``message`` by ``public_key``."""
    try:
        signature = base64.b64decode(signature_b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def new_nonce(length: int = 32) -> str:
    """A random nonce of upper-case letters and digits."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def _media_types(accept: str) -> list[str]:
    return [item.split(";", 1)[0].strip().lower() for item in accept.split(",") if item.strip()]


def check_accept(headers: Mapping[str, str]) -> None:
    """Require an ``Accept`` header that admits application/json."""
    accept = headers.get("Accept")
    if accept is None or not accept.strip():
        raise param_error("Accept header is required (Accept: application/json)")
    if not set(_media_types(accept)) & {"application/json", "application/*", "*/*"}:
        raise param_error(f"Accept header must admit application/json, not {accept!r}")


def check_user_agent(headers: Mapping[str, str]) -> None:
    """Require a non-empty ``User-Agent`` header (APIv3 asks every caller for one)."""
    if not (headers.get("User-Agent") or "").strip():
        raise param_error("User-Agent header is required")


def encrypt_certificate(apiv3_key: str, certificate_pem: str) -> dict[str, str]:
    """``encrypt_certificate`` of a /v3/certificates entry (AEAD_AES_256_GCM)."""
    nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
    associated_data = "certificate"
    ciphertext = AESGCM(apiv3_key.encode("ascii")).encrypt(
        nonce.encode("ascii"), certificate_pem.encode("ascii"), associated_data.encode("ascii")
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": nonce,
        "associated_data": associated_data,
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
    }
