"""Answers before they are written, and the keys that sign them.

An :class:`Answer` is what the API decides; :class:`AnswerSigner` chooses the key that
signs it (the WeChat Pay public key or a platform certificate, by mode) and owns the
list of platform certificates that ``GET /v3/certificates`` serves.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from .keys import PlatformCertificate, SandboxKeys
from .protocol import (
    AUTH_SCHEME,
    encrypt_certificate,
    new_nonce,
    response_signing_string,
    sign,
)

__all__ = [
    "JSON_CONTENT_TYPE",
    "MODES",
    "Answer",
    "AnswerSigner",
    "error_answer",
    "json_bytes",
]

MODES = ("public_key", "certificate", "both")
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_CST = dt.timezone(dt.timedelta(hours=8))


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as WeChat Pay writes it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def rfc3339(when: dt.datetime) -> str:
    """``2026-01-02T03:04:05+08:00``: WeChat's time format (China Standard Time)."""
    return when.astimezone(_CST).replace(microsecond=0).isoformat()


@dataclass
class Answer:
    """An answer before it is written: ``status=None`` means drop the connection.

    ``code``/``message`` repeat an error body's fields for the request log; ``notes``
    are remarks for the log about how the request was read (e.g. a tolerated
    deviation from the standard).
    """

    status: int | None
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    code: str | None = None
    message: str | None = None
    close: bool = False
    notes: list[str] = field(default_factory=list)


def error_answer(status: int, code: str, message: str) -> Answer:
    """WeChat's error shape: ``{"code": …, "message": …}``."""
    return Answer(
        status=status,
        body=json_bytes({"code": code, "message": message}),
        code=code,
        message=message,
    )


class AnswerSigner:
    """Signs answers with the key the mode calls for; holds the platform certificates.

    ``"public_key"``: the WeChat Pay public key's private half (serial ``PUB_KEY_ID_…``).
    ``"certificate"``: the newest valid platform certificate. ``"both"``: the
    certificate named by the request's ``Wechatpay-Serial``, else the public key (the
    certificate download is always signed by a certificate).
    """

    def __init__(self, mode: str, keys: SandboxKeys) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.keys = keys
        self._lock = threading.Lock()
        self._certificates: list[PlatformCertificate] = list(keys.platform_certificates)

    # Platform certificates ------------------------------------------------------------

    @property
    def certificates(self) -> list[PlatformCertificate]:
        """The listed platform certificates, oldest first (a copy)."""
        with self._lock:
            return list(self._certificates)

    def add_certificate(
        self,
        cert: PlatformCertificate,
        *,
        retire_old: bool = False,
        first: bool = False,
    ) -> None:
        """List ``cert``; ``retire_old`` drops the others, ``first`` lists it as the oldest."""
        with self._lock:
            if retire_old:
                self._certificates.clear()
            if first:
                self._certificates.insert(0, cert)
            else:
                self._certificates.append(cert)

    def certificates_body(self) -> bytes:
        """The ``GET /v3/certificates`` answer body, each certificate encrypted with the APIv3 key."""
        data = [
            {
                "serial_no": cert.serial_no,
                "effective_time": rfc3339(cert.not_before),
                "expire_time": rfc3339(cert.not_after),
                "encrypt_certificate": encrypt_certificate(self.keys.apiv3_key, cert.certificate_pem),
            }
            for cert in self.certificates
        ]
        return json_bytes({"data": data})

    # Signing --------------------------------------------------------------------------

    def key_for(self, headers: Mapping[str, str], *, certificates: bool = False) -> tuple[str, rsa.RSAPrivateKey]:
        """The serial and key that sign an answer to a request with these headers."""
        public = (self.keys.wechatpay_public_key_id, self.keys.wechatpay_private_key)
        if self.mode == "public_key":
            return public
        certs = self.certificates
        valid = [c for c in certs if c.is_valid()]
        newest = valid[-1] if valid else certs[-1]
        if self.mode == "certificate":
            return newest.serial_no, newest.private_key
        requested = (headers.get("Wechatpay-Serial") or "").strip()
        named = next((c for c in certs if c.serial_no == requested.upper()), None) if requested else None
        if named is not None:
            return named.serial_no, named.private_key
        if certificates:
            return newest.serial_no, newest.private_key
        return public

    @staticmethod
    def signature_headers(
        body: bytes,
        serial: str,
        key: rsa.RSAPrivateKey,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> list[tuple[str, str]]:
        """The five ``Wechatpay-*`` headers over ``body`` (``signature`` overrides the real one)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = new_nonce()
        if signature is None:
            signature = sign(key, response_signing_string(ts, nonce, body))
        return [
            ("Wechatpay-Nonce", nonce),
            ("Wechatpay-Signature", signature),
            ("Wechatpay-Timestamp", ts),
            ("Wechatpay-Serial", serial),
            ("Wechatpay-Signature-Type", AUTH_SCHEME),
        ]

    def headers_for(
        self,
        body: bytes,
        request_headers: Mapping[str, str],
        *,
        certificates: bool = False,
    ) -> list[tuple[str, str]]:
        """Valid signature headers for ``body`` answering a request with ``request_headers``."""
        serial, key = self.key_for(request_headers, certificates=certificates)
        return self.signature_headers(body, serial, key)

    def signed(
        self,
        body: bytes,
        request_headers: Mapping[str, str],
        *,
        certificates: bool = False,
        status: int = 200,
    ) -> Answer:
        """A signed JSON answer."""
        return Answer(
            status=status,
            body=body,
            headers=self.headers_for(body, request_headers, certificates=certificates),
        )
