"""Complaint notifications (投诉通知回调) and the payer's phone number.

Notifications are verified exactly as API answers are (same key store: ±5
minutes, SIGNTEST probes rejected, known serial) and then decrypted with the
APIv3 key; ``payer_phone`` is decrypted with the merchant private key (RSA-OAEP
with SHA-1, as WeChat's 敏感信息加解密 specifies).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .. import errors
from ..keys import Secret, apiv3_secret, decrypt_aes_gcm
from ..verification import SIGNATURE_HEADERS, KeyStore, parse_json
from .checks import check_complaint_id
from .types import Notification, _str


class NotificationError(errors.WeChatPayError):
    """A complaint notification that cannot be read (bad JSON, undecryptable resource)."""

    code = "INVALID_NOTIFICATION"


# -- notifications and personal data --------------------------------------------------------


def _signature_headers(headers: Mapping[str, str]) -> dict[str, str]:
    # Servers and frameworks spell header names differently; the key store wants WeChat's.
    lowered = {str(name).lower(): value for name, value in headers.items()}
    wanted = (*SIGNATURE_HEADERS, "Wechatpay-Signature-Type", "Request-ID")
    return {name: lowered[name.lower()] for name in wanted if name.lower() in lowered}


def _json(data: bytes, what: str) -> Any:
    # The parser of API answers: deeply nested JSON is an error, not a RecursionError.
    try:
        return parse_json(data, status=200, request_id=None)
    except errors.InvalidResponseError:
        raise NotificationError(f"{what} is not JSON.") from None


def decrypt_resource(resource: Any, apiv3_key: str | bytes | Secret) -> bytes:
    """Decrypt an ``AEAD_AES_256_GCM`` resource (ciphertext base64, tag in its last 16 bytes)."""
    if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise NotificationError("The notification's resource is not AEAD_AES_256_GCM.")
    try:
        return decrypt_aes_gcm(
            apiv3_secret(apiv3_key),
            _str(resource.get("nonce")),
            _str(resource.get("ciphertext")),
            _str(resource.get("associated_data")),
        )
    except (InvalidTag, binascii.Error, ValueError):
        raise NotificationError("The notification's resource does not decrypt with the APIv3 key.") from None


def parse_notification(
    keys: KeyStore, apiv3_key: str | bytes | Secret, headers: Mapping[str, str], body: bytes
) -> Notification:
    """Verify a complaint notification like an API answer, then decrypt it.

    Raises :class:`~.errors.SignatureVerificationError` (forged, stale, probe,
    unknown key) before anything is decrypted, and :class:`NotificationError`
    for a body or resource that cannot be read.
    """
    keys.verify(_signature_headers(headers), body)
    data = _json(body, "The notification")
    if not isinstance(data, dict) or not _str(data.get("id")):
        raise NotificationError("The notification has no id.")
    plaintext = decrypt_resource(data.get("resource"), apiv3_key)
    resource = _json(plaintext, "The notification's resource")
    if not isinstance(resource, dict) or not _str(resource.get("complaint_id")):
        raise NotificationError("The notification's resource names no complaint.")
    complaint_id = _str(resource.get("complaint_id"))
    check_complaint_id(complaint_id)
    return Notification(
        id=_str(data["id"]),
        create_time=_str(data.get("create_time")),
        event_type=_str(data.get("event_type")),
        summary=_str(data.get("summary")),
        complaint_id=complaint_id,
        action_type=_str(resource.get("action_type")),
        raw=data,
        resource=resource,
    )


#: RSA-OAEP as WeChat's 敏感信息加解密 uses it: SHA-1 for the hash and MGF1.
_OAEP_SHA1 = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303 - the protocol's, not our choice


def decrypt_payer_phone(private_key: rsa.RSAPrivateKey, ciphertext: str) -> str:
    """The consumer's phone number from the complaint's encrypted ``payer_phone``.

    Personal data: decrypt only to show it, never store the result.
    """
    try:
        return private_key.decrypt(base64.b64decode(ciphertext, validate=True), _OAEP_SHA1).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.WeChatPayError("payer_phone does not decrypt with the merchant private key.") from None
