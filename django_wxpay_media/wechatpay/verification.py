"""Checking that an answer really comes from WeChat Pay.

Every 2xx answer must carry a valid ``Wechatpay-Signature``: RSA-SHA256 (PKCS#1
v1.5) over ``TIMESTAMP\\nNONCE\\nBODY\\n`` by the key that ``Wechatpay-Serial``
names. That key is either the WeChat Pay public key (``PUB_KEY_ID_…``) or a
platform certificate, downloaded from ``GET /v3/certificates`` and decrypted with
the APIv3 key. Both can be configured together, as during WeChat's migration.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import ConfigurationError, InvalidResponseError, SignatureVerificationError
from .keys import PemInput, Secret, apiv3_secret, decrypt_aes_gcm, load_public_key

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
#: The official SDKs reject a Wechatpay-Timestamp 5 minutes or more from local time.
MAX_CLOCK_SKEW = 300
#: An unknown serial triggers a certificate download at most this often (seconds).
CERTIFICATE_REFRESH_INTERVAL = 60

#: A platform certificate's serial: its serial number in hex (WeChat's are 40 digits).
_CERTIFICATE_SERIAL = re.compile(r"\A[0-9A-Fa-f]{8,64}\Z")

SIGNATURE_HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature")

#: Downloads ``GET /v3/certificates`` and returns (headers, raw body); set by the client.
CertificateFetcher = Callable[[], tuple[Mapping[str, str], bytes]]


@dataclass(frozen=True)
class PlatformCertificate:
    serial_no: str
    public_key: rsa.RSAPublicKey = field(repr=False)
    not_after: dt.datetime


def has_signature(headers: Mapping[str, str]) -> bool:
    """Whether an answer carries any signature header at all."""
    return any(headers.get(name) for name in SIGNATURE_HEADERS)


class KeyStore:
    """The keys WeChat Pay answers are checked against.

    Thread-safe: certificates are replaced as a whole under a lock. The APIv3 key
    is kept only as long as needed to decrypt certificates and never shown.
    """

    def __init__(
        self,
        *,
        public_key: PemInput | rsa.RSAPublicKey | None = None,
        public_key_id: str | None = None,
        apiv3_key: str | bytes | Secret | None = None,
        certificates: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (public_key is None) != (public_key_id is None):
            raise ConfigurationError("The WeChat Pay public key and its id (PUB_KEY_ID_…) must be given together.")
        if public_key is None and apiv3_key is None:
            raise ConfigurationError(
                "Responses cannot be verified: give the WeChat Pay public key and its id, "
                "or the APIv3 key (platform certificate mode), or both."
            )
        self.public_key_id = public_key_id
        self._public_key = load_public_key(public_key) if public_key is not None else None
        self._apiv3_key = apiv3_secret(apiv3_key) if apiv3_key is not None else None
        if certificates and apiv3_key is None:
            raise ConfigurationError("Platform certificates are decrypted with the APIv3 key: give it too.")
        if certificates is False and public_key is None:
            raise ConfigurationError(
                "Without platform certificates, answers need the WeChat Pay public key and its id."
            )
        # None: certificates whenever the APIv3 key is given (it may be there only to decrypt
        # notifications; False says so and never downloads a certificate).
        self._certificates_wanted = apiv3_key is not None if certificates is None else certificates
        self._clock = clock
        self._certificates: dict[str, PlatformCertificate] = {}
        self._last_download: float | None = None
        self._lock = threading.Lock()
        self.fetch_certificates: CertificateFetcher | None = None

    def __repr__(self) -> str:
        modes = []
        if self.public_key_id:
            modes.append(f"public_key_id={self.public_key_id!r}")
        if self._apiv3_key is not None:
            modes.append(f"certificates={sorted(self._certificates)!r}")
        return f"KeyStore({', '.join(modes)})"

    @property
    def uses_certificates(self) -> bool:
        """Whether platform certificates are downloaded (certificate or migration mode)."""
        return self._certificates_wanted

    @property
    def apiv3_key(self) -> Secret | None:
        """The APIv3 key, hidden in a :class:`Secret` (notifications are decrypted with it)."""
        return self._apiv3_key

    @property
    def certificate_serials(self) -> list[str]:
        return sorted(self._certificates)

    # -- which key we ask WeChat Pay to sign with --------------------------------

    def known_serial(self) -> str | None:
        """The public key id, else the newest certificate's serial, without downloading."""
        if self.public_key_id:
            return self.public_key_id
        certificates = self._certificates
        if not certificates:
            return None
        return max(certificates.values(), key=lambda cert: cert.not_after).serial_no

    def accepted_serial(self) -> str:
        """The ``Wechatpay-Serial`` request header: the public key id, else the newest certificate."""
        serial = self.known_serial()
        if serial is None:
            self.refresh_certificates(force=True)
            serial = self.known_serial()
        if serial is None:
            raise ConfigurationError("WeChat Pay returned no valid platform certificate to verify answers with.")
        return serial

    # -- platform certificates --------------------------------------------------

    def refresh_certificates(self, *, force: bool = False) -> bool:
        """Download the platform certificates; without ``force`` at most once a minute.

        Returns whether a download happened.
        """
        apiv3_key = self._apiv3_key
        if apiv3_key is None or not self._certificates_wanted or self.fetch_certificates is None:
            return False
        with self._lock:
            now = self._clock()
            if (
                not force
                and self._last_download is not None
                and now - self._last_download < CERTIFICATE_REFRESH_INTERVAL
            ):
                return False
            self._last_download = now
            headers, body = self.fetch_certificates()
            certificates = self._decrypt_certificates(body, apiv3_key)
            # The download is checked like any answer, against what it delivered.
            self._verify(headers, body, certificates)
            self._certificates = certificates
            return True

    def _decrypt_certificates(self, body: bytes, apiv3_key: Secret) -> dict[str, PlatformCertificate]:
        try:
            entries = json.loads(body)["data"]
        except (ValueError, KeyError, TypeError, IndexError, RecursionError):
            entries = None
        if not isinstance(entries, list):
            raise InvalidResponseError("The platform certificate list is not the JSON WeChat Pay documents.")
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        certificates: dict[str, PlatformCertificate] = {}
        for entry in entries:
            try:
                enc = entry["encrypt_certificate"]
                nonce, ciphertext = enc["nonce"], enc["ciphertext"]
                associated_data = enc.get("associated_data") or ""
                pem = decrypt_aes_gcm(apiv3_key, nonce, ciphertext, associated_data)
            except InvalidTag:
                raise ConfigurationError(
                    "A platform certificate could not be decrypted: the APIv3 key is wrong."
                ) from None
            except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError):
                # AttributeError: a nonce that is a number; ValueError: bad base64, a nonce
                # AES-GCM cannot take, text that is not UTF-8.
                raise InvalidResponseError("A platform certificate entry is malformed.") from None
            try:
                cert = x509.load_pem_x509_certificate(pem)
                not_after = cert.not_valid_after_utc
                key = cert.public_key()
                serial = format(cert.serial_number, "X")
            except ValueError:
                raise InvalidResponseError("A platform certificate entry is not a certificate.") from None
            if not_after <= now:
                continue  # expired certificates never sign anything we accept
            if not isinstance(key, rsa.RSAPublicKey):
                continue
            certificates[serial] = PlatformCertificate(serial, key, not_after)
        return certificates

    # -- verification ------------------------------------------------------------

    def _key_for(self, serial: str, certificates: Mapping[str, PlatformCertificate]) -> rsa.RSAPublicKey | None:
        if self.public_key_id and serial == self.public_key_id:
            return self._public_key
        cert = certificates.get(serial.upper())
        return cert.public_key if cert else None

    def verify(self, headers: Mapping[str, str], body: bytes, *, status: int | None = None) -> None:
        """Raise :class:`SignatureVerificationError` unless the answer is signed by WeChat Pay.

        A serial never seen before triggers one certificate download (at most one a
        minute), as certificates rotate.
        """
        serial = _text(headers.get("Wechatpay-Serial"))
        if (
            self.uses_certificates
            and _CERTIFICATE_SERIAL.match(serial)  # the form first: a public key id or junk never downloads
            and self._key_for(serial, self._certificates) is None
            and self._fresh(_text(headers.get("Wechatpay-Timestamp")))  # and the time: no replay downloads
            and _text(headers.get("Wechatpay-Signature"))
            and not _text(headers.get("Wechatpay-Signature")).startswith(PROBE_PREFIX)
        ):
            self.refresh_certificates()
        self._verify(headers, body, self._certificates, status=status)

    def _fresh(self, text: str) -> bool:
        """Whether a ``Wechatpay-Timestamp`` is a number less than 5 minutes from this machine's clock."""
        # ASCII digits only: int() would also take " 1", "1_0" or other scripts' digits.
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            return False
        return abs(self._clock() - int(text)) < MAX_CLOCK_SKEW

    def _verify(
        self,
        headers: Mapping[str, str],
        body: bytes,
        certificates: Mapping[str, PlatformCertificate],
        *,
        status: int | None = None,
    ) -> None:
        request_id = headers.get("Request-ID")

        def fail(reason: str, message: str) -> SignatureVerificationError:
            return SignatureVerificationError(message, reason=reason, status=status, request_id=request_id)

        values = {name: _text(headers.get(name)) for name in SIGNATURE_HEADERS}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise fail("missing_headers", f"The answer is not signed (missing {', '.join(missing)}).")
        signature = values["Wechatpay-Signature"]
        if signature.startswith(PROBE_PREFIX):
            raise fail("probe", "WeChat Pay's signature probe (WECHATPAY/SIGNTEST/) was rejected, as it must be.")
        signature_type = headers.get("Wechatpay-Signature-Type")
        if signature_type and signature_type != SIGNATURE_TYPE:
            raise fail("bad_signature", f"Unsupported signature type {str(signature_type)[:80]!r}.")
        text = values["Wechatpay-Timestamp"]
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            raise fail("stale_timestamp", "The answer's Wechatpay-Timestamp is not a number.")
        if not self._fresh(text):
            raise fail(
                "stale_timestamp",
                "The answer's Wechatpay-Timestamp is 5 minutes or more away from this machine's clock "
                "(a replayed answer, or a wrong clock here).",
            )
        serial = values["Wechatpay-Serial"]
        key = self._key_for(serial, certificates)
        if key is None:
            raise fail("unknown_serial", f"The answer is signed by an unknown key (Wechatpay-Serial {serial[:80]!r}).")
        try:
            message = b"%s\n%s\n%s\n" % (
                values["Wechatpay-Timestamp"].encode("utf-8"),
                values["Wechatpay-Nonce"].encode("utf-8"),
                bytes(body),
            )
            key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError, TypeError):
            # ValueError: bad base64 or a header that is not UTF-8 text; TypeError: a body that is not bytes.
            raise fail("bad_signature", "The answer's signature does not verify.") from None


def _text(value: object) -> str:
    """A header value as text; anything else (a number, None) counts as missing."""
    return value if isinstance(value, str) else ""


def parse_json(body: bytes, *, status: int, request_id: str | None) -> Any:
    """The answer's JSON, or a clear :class:`InvalidResponseError` (a proxy's text page...)."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested arrays ("[[[[..."), a cheap way to crash a parser.
        excerpt = body[:120].decode("utf-8", "replace")
        raise InvalidResponseError(
            f"The answer is not JSON: {excerpt!r}", status=status, request_id=request_id
        ) from None
