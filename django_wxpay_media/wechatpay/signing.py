"""Request signing: the signing string and the ``Authorization`` header.

APIv3 signs ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n``. For the image upload the
body part of that string is the exact ``meta`` JSON text sent in the multipart
body, never the multipart body itself (that gets 401 SIGN_ERROR).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .keys import PemInput, load_private_key

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"


def meta_json(filename: str, sha256: str) -> str:
    """The ``meta`` part's JSON text, made by a real encoder.

    UTF-8 with non-ASCII kept as is, quotes and backslashes escaped, no spaces:
    the same text is signed and sent, so any name round-trips.
    """
    return json.dumps({"filename": filename, "sha256": sha256}, ensure_ascii=False, separators=(",", ":"))


def new_nonce(length: int = 32) -> str:
    """A random ``nonce_str`` from :mod:`secrets` (upper-case letters and digits).

    Base32 of random bytes (A-Z, 2-7; 5 bits a character, 160 bits for 32): one
    call to the OS random source, where ``secrets.choice`` per character cost
    about as much as signing.
    """
    raw = secrets.token_bytes(5 * -(-length // 8))  # base32 turns 5 bytes into 8 characters
    return base64.b32encode(raw).decode("ascii")[:length]


def signing_string(method: str, path: str, timestamp: str, nonce: str, body: str) -> str:
    """The five-line string APIv3 signs (each line ends in ``\\n``)."""
    return f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n"


@dataclass(frozen=True)
class Signer:
    """Signs requests as one merchant. The private key never appears in a repr."""

    mchid: str
    serial_no: str
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def from_pem(cls, mchid: str, serial_no: str, private_key: PemInput | rsa.RSAPrivateKey) -> Signer:
        return cls(mchid=str(mchid), serial_no=str(serial_no).upper(), private_key=load_private_key(private_key))

    def sign(self, message: str) -> str:
        """Base64 of RSA PKCS#1 v1.5 with SHA-256 over ``message`` (UTF-8)."""
        signature = self.private_key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode("ascii")

    def authorization(
        self,
        method: str,
        path: str,
        body: str = "",
        *,
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """The ``Authorization`` header value for one request."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or new_nonce()
        signature = self.sign(signing_string(method, path, timestamp, nonce, body))
        return (
            f'{AUTH_SCHEME} mchid="{self.mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
            f'serial_no="{self.serial_no}",signature="{signature}"'
        )
