"""Loading and checking the merchant's key material.

Errors name what is wrong without echoing any of the key text.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import ConfigurationError

PemInput = str | bytes


def _as_bytes(pem: PemInput) -> bytes:
    return pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)


def load_private_key(pem: PemInput | rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    """The merchant API private key (``apiclient_key.pem``), which must be RSA-2048."""
    if isinstance(pem, rsa.RSAPrivateKey):
        key = pem
    else:
        try:
            key = serialization.load_pem_private_key(_as_bytes(pem), password=None)  # type: ignore[assignment]
        except (ValueError, TypeError):
            # Not chained: a parser's message might quote part of the key.
            raise ConfigurationError(
                "The merchant private key is not an unencrypted PEM private key "
                "(expected the contents of apiclient_key.pem)."
            ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != 2048:
        raise ConfigurationError("The merchant private key must be an RSA-2048 key.")
    return key


def load_public_key(pem: PemInput | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    """A WeChat Pay public key (``pub_key.pem``) or the public key of a platform certificate."""
    if isinstance(pem, rsa.RSAPublicKey):
        return pem
    data = _as_bytes(pem)
    try:
        if b"BEGIN CERTIFICATE" in data:  # a platform certificate: its key signs
            from cryptography import x509

            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)  # type: ignore[assignment]
    except (ValueError, TypeError):
        raise ConfigurationError("The WeChat Pay public key is not a PEM public key (expected pub_key.pem).") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError("The WeChat Pay public key must be an RSA key.")
    return key


def check_apiv3_key(apiv3_key: str | bytes) -> bytes:
    """The APIv3 key as bytes; it is the 32-byte AES-256 key for certificate downloads."""
    key = apiv3_key.encode("utf-8") if isinstance(apiv3_key, str) else bytes(apiv3_key)
    if len(key) != 32:
        raise ConfigurationError(f"The APIv3 key must be 32 bytes long, not {len(key)}.")
    return key
