"""Loading and checking the merchant's key material.

Errors name what is wrong without echoing any of the key text. Key text can be
handed over wrapped in :class:`Secret`, whose ``repr`` hides it: a traceback's
local variables (a debug page, an error e-mail) then show ``Secret(<hidden>)``
instead of the key. The loaders wrap raw text themselves on entry, so that none
of their frames holds it when they raise.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import ConfigurationError

PemInput = str | bytes

#: WeChat Pay's merchant API keys are RSA of this size.
PRIVATE_KEY_BITS = 2048
#: The APIv3 key is an AES-256 key: this many bytes.
APIV3_KEY_BYTES = 32


class Secret:
    """Key text (``str`` or ``bytes``) that never shows itself in a repr, str or traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: PemInput) -> None:
        self._value = value

    def reveal(self) -> PemInput:
        """The key text; use it inline so that it never becomes a local variable."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("Secret key text is not picklable.")


class KeyFormatError(ConfigurationError):
    """The text is not a PEM key of the expected kind (or cannot be parsed at all)."""


class KeyKindError(ConfigurationError):
    """A parseable key, but not the algorithm or size WeChat Pay uses."""


class KeyLengthError(ConfigurationError):
    """The APIv3 key does not have :data:`APIV3_KEY_BYTES` bytes."""

    def __init__(self, length: int) -> None:
        super().__init__(f"The APIv3 key must be {APIV3_KEY_BYTES} bytes long, not {length}.")
        self.length = length


def _as_secret(value: PemInput | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def _as_bytes(pem: Secret) -> bytes:
    value = pem.reveal()
    return value.encode("ascii", "replace") if isinstance(value, str) else bytes(value)


def _kind(key: object) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"RSA-{key.key_size}"
    return type(key).__name__.lstrip("_")


def load_private_key(pem: PemInput | Secret | rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    """The merchant API private key (``apiclient_key.pem``), which must be RSA-2048.

    Raises :class:`KeyFormatError` for text that is not an unencrypted PEM private
    key and :class:`KeyKindError` for a key of another kind or size.
    """
    if isinstance(pem, rsa.RSAPrivateKey):
        key: object = pem
    else:
        pem = _as_secret(pem)  # from here on this frame holds no key text
        try:
            key = serialization.load_pem_private_key(_as_bytes(pem), password=None)
        except (ValueError, TypeError):
            # Not chained: a parser's message might quote part of the key.
            raise KeyFormatError(
                "The merchant private key is not an unencrypted PEM private key "
                "(expected the contents of apiclient_key.pem)."
            ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != PRIVATE_KEY_BITS:
        raise KeyKindError(f"The merchant private key must be an RSA-{PRIVATE_KEY_BITS} key, not {_kind(key)}.")
    return key


def load_public_key(pem: PemInput | Secret | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    """A WeChat Pay public key (``pub_key.pem``) or the public key of a platform certificate.

    Raises :class:`KeyFormatError` for text that is not a PEM public key or
    certificate and :class:`KeyKindError` for a key that is not RSA.
    """
    if isinstance(pem, rsa.RSAPublicKey):
        return pem
    pem = _as_secret(pem)
    try:
        if b"BEGIN CERTIFICATE" in _as_bytes(pem):  # a platform certificate: its key signs
            from cryptography import x509

            key: object = x509.load_pem_x509_certificate(_as_bytes(pem)).public_key()
        else:
            key = serialization.load_pem_public_key(_as_bytes(pem))
    except (ValueError, TypeError):
        raise KeyFormatError("The WeChat Pay public key is not a PEM public key (expected pub_key.pem).") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyKindError(f"The WeChat Pay public key must be an RSA key, not {_kind(key)}.")
    return key


def check_apiv3_key(apiv3_key: str | bytes | Secret) -> bytes:
    """The APIv3 key as bytes; it is the 32-byte AES-256 key for certificate downloads.

    Raises :class:`KeyLengthError` (with the length found) for any other length.
    """
    apiv3_key = _as_secret(apiv3_key)
    length = len(_utf8(apiv3_key))
    if length != APIV3_KEY_BYTES:
        raise KeyLengthError(length)
    return _utf8(apiv3_key)


def apiv3_secret(apiv3_key: str | bytes | Secret) -> Secret:
    """The APIv3 key checked (:func:`check_apiv3_key`) and kept as bytes inside a :class:`Secret`.

    No frame of this function holds the key outside a ``Secret``.
    """
    apiv3_key = _as_secret(apiv3_key)
    length = len(_utf8(apiv3_key))
    if length != APIV3_KEY_BYTES:
        raise KeyLengthError(length)
    return Secret(_utf8(apiv3_key))


def decrypt_aes_gcm(apiv3_key: Secret, nonce: str, ciphertext: str, associated_data: str) -> bytes:
    """AEAD_AES_256_GCM as WeChat Pay uses it (certificates, notifications): base64 ``ciphertext``
    with the 16-byte tag at its end, UTF-8 ``nonce`` and ``associated_data``.

    The key is revealed only inside the call, never into a variable. Raises
    ``cryptography.exceptions.InvalidTag`` for a wrong key or altered text, and
    ``ValueError``/``TypeError``/``AttributeError`` for input of the wrong shape.
    """
    return AESGCM(_utf8(apiv3_key)).decrypt(
        nonce.encode("utf-8"), base64.b64decode(ciphertext, validate=True), associated_data.encode("utf-8")
    )


def _utf8(secret: Secret) -> bytes:
    # No local variable holds the key: a traceback through here shows none.
    if isinstance(secret.reveal(), str):
        return str(secret.reveal()).encode("utf-8")
    return bytes(secret.reveal())  # type: ignore[arg-type]  # str was handled above
