"""Throwaway key material for the sandbox: the merchant's and WeChat Pay's.

Everything here is generated locally with :mod:`cryptography` (RSA-2048) and is
worthless outside the sandbox. Private keys and the APIv3 key never appear in a
``repr``. Generating a set takes a few hundred milliseconds, so tests share one
set per process through :meth:`SandboxKeys.shared`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import string
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "PlatformCertificate",
    "SandboxKeys",
    "new_rsa_key",
    "private_key_pem",
    "public_key_pem",
]

DEFAULT_MCHID = "1900000001"
#: File names as WeChat Pay hands them out (merchant key; WeChat Pay public key).
MERCHANT_KEY_FILE = "apiclient_key.pem"
PUBLIC_KEY_FILE = "pub_key.pem"
#: Everything else (serials, ids, platform certificates, APIv3 key) for ``--reuse-keys``.
STATE_FILE = "sandbox-keys.json"

_ALNUM = string.ascii_letters + string.digits
_UTC = dt.UTC


def new_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    """Unencrypted PKCS#8 PEM text, as in ``apiclient_key.pem``."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_key_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """SubjectPublicKeyInfo PEM text, as in ``pub_key.pem``."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def _load_private(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):  # pragma: no cover - we only write RSA keys
        raise TypeError("sandbox keys must be RSA keys")
    return key


def _hex_serial() -> int:
    """A positive serial of exactly 40 hex digits that fits X.509's 20 octets."""
    return secrets.randbelow(0x7 << 156) + (1 << 156)


def _now() -> dt.datetime:
    return dt.datetime.now(_UTC).replace(microsecond=0)


@dataclass
class PlatformCertificate:
    """One WeChat Pay platform certificate (self-signed here) and its private key."""

    serial_no: str
    certificate_pem: str = field(repr=False)
    private_key_pem: str = field(repr=False)
    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def generate(
        cls,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> PlatformCertificate:
        """A new certificate; valid from a minute ago for five years unless told otherwise."""
        key = key or new_rsa_key()
        not_before = not_before or (_now() - dt.timedelta(minutes=1))
        not_after = not_after or (not_before + dt.timedelta(days=5 * 365))
        serial = _hex_serial()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com (sandbox)"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Tenpay.com CA Center"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com sign (django-wxpay-media sandbox)"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        result = cls(
            serial_no=f"{serial:X}",
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            private_key_pem=private_key_pem(key),
            not_before=not_before,
            not_after=not_after,
        )
        result.__dict__["private_key"] = key  # seed the cache: loading a PEM costs ~60 ms
        result.__dict__["certificate"] = cert
        return result

    def is_valid(self, when: dt.datetime | None = None) -> bool:
        """Whether the certificate is within its validity period at ``when`` (default: now)."""
        when = when or dt.datetime.now(_UTC)
        return self.not_before <= when < self.not_after

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The key that signs answers naming this certificate's serial."""
        return _load_private(self.private_key_pem)

    @cached_property
    def certificate(self) -> x509.Certificate:
        """The parsed X.509 certificate."""
        return x509.load_pem_x509_certificate(self.certificate_pem.encode("ascii"))

    def to_dict(self) -> dict[str, str]:
        return {
            "serial_no": self.serial_no,
            "certificate_pem": self.certificate_pem,
            "private_key_pem": self.private_key_pem,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> PlatformCertificate:
        return cls(
            serial_no=data["serial_no"],
            certificate_pem=data["certificate_pem"],
            private_key_pem=data["private_key_pem"],
            not_before=dt.datetime.fromisoformat(data["not_before"]),
            not_after=dt.datetime.fromisoformat(data["not_after"]),
        )


_shared: dict[str, SandboxKeys] = {}
_shared_lock = threading.Lock()


@dataclass
class SandboxKeys:
    """The merchant's key pair and WeChat Pay's signing keys for one sandbox.

    * ``merchant_private_key_pem`` / ``merchant_serial_no``: what the merchant signs
      requests with (``apiclient_key.pem`` and its certificate's serial, 40 upper hex).
    * ``wechatpay_public_key_pem`` / ``wechatpay_public_key_id``: the WeChat Pay public
      key (``pub_key.pem``, ``PUB_KEY_ID_…``); ``wechatpay_private_key_pem`` is its
      private half, with which the sandbox signs answers.
    * ``platform_certificates``: platform certificates (certificate mode) with their keys.
    * ``apiv3_key``: 32 ASCII characters; encrypts certificate downloads.
    """

    merchant_private_key_pem: str = field(repr=False)
    merchant_serial_no: str
    wechatpay_public_key_pem: str = field(repr=False)
    wechatpay_public_key_id: str
    wechatpay_private_key_pem: str = field(repr=False)
    platform_certificates: tuple[PlatformCertificate, ...]
    apiv3_key: str = field(repr=False)

    @classmethod
    def generate(cls, mchid: str = DEFAULT_MCHID) -> SandboxKeys:
        """A fresh set of throwaway keys (three RSA-2048 keys: slow-ish)."""
        merchant = new_rsa_key()
        wechatpay = new_rsa_key()
        today = dt.datetime.now(_UTC).strftime("%Y%m%d")
        digits = "".join(secrets.choice(string.digits) for _ in range(14))
        mch = "".join(ch for ch in str(mchid) if ch.isdigit())[-10:].rjust(10, "0")
        keys = cls(
            merchant_private_key_pem=private_key_pem(merchant),
            merchant_serial_no=f"{_hex_serial():X}",
            wechatpay_public_key_pem=public_key_pem(wechatpay),
            wechatpay_public_key_id=f"PUB_KEY_ID_01{mch}{today}{digits}",
            wechatpay_private_key_pem=private_key_pem(wechatpay),
            platform_certificates=(PlatformCertificate.generate(),),
            apiv3_key="".join(secrets.choice(_ALNUM) for _ in range(32)),
        )
        # Seed the caches: loading an RSA private key from PEM costs ~60 ms (key checks).
        keys.__dict__["merchant_private_key"] = merchant
        keys.__dict__["wechatpay_private_key"] = wechatpay
        return keys

    @classmethod
    def shared(cls, mchid: str | None = None) -> SandboxKeys:
        """One set per process and merchant, generated on first use (for test suites).

        ``mchid`` (default: :data:`DEFAULT_MCHID`) names the merchant: each merchant
        gets keys of its own (merchant key, WeChat Pay key, APIv3 key), as on the real
        platform, so that a request signed with another merchant's key is refused.
        Sandboxes never modify their keys (certificate rotation happens in the
        sandbox, not here), so sharing is safe.
        """
        name = "keys" if mchid is None or str(mchid) == DEFAULT_MCHID else str(mchid)
        with _shared_lock:
            if name not in _shared:
                _shared[name] = cls.generate() if name == "keys" else cls.generate(name)
            return _shared[name]

    # Convenience names -------------------------------------------------------------

    @property
    def public_key_pem(self) -> str:
        """Alias of :attr:`wechatpay_public_key_pem`."""
        return self.wechatpay_public_key_pem

    @property
    def public_key_id(self) -> str:
        """Alias of :attr:`wechatpay_public_key_id`."""
        return self.wechatpay_public_key_id

    @property
    def platform_certificate(self) -> PlatformCertificate:
        """The first platform certificate."""
        return self.platform_certificates[0]

    @property
    def merchant_public_key_pem(self) -> str:
        """The public half of the merchant key (what WeChat Pay verifies requests with)."""
        return public_key_pem(self.merchant_private_key)

    @cached_property
    def merchant_private_key(self) -> rsa.RSAPrivateKey:
        return _load_private(self.merchant_private_key_pem)

    @cached_property
    def merchant_public_key(self) -> rsa.RSAPublicKey:
        return self.merchant_private_key.public_key()

    @cached_property
    def wechatpay_private_key(self) -> rsa.RSAPrivateKey:
        return _load_private(self.wechatpay_private_key_pem)

    @cached_property
    def wechatpay_public_key(self) -> rsa.RSAPublicKey:
        return self.wechatpay_private_key.public_key()

    # Files -------------------------------------------------------------------------

    def write_pem_files(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``apiclient_key.pem`` and ``pub_key.pem`` (mode 0600) into ``directory``.

        Returns ``{"PRIVATE_KEY_PATH": path, "WECHATPAY_PUBLIC_KEY_PATH": path}``.
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        private = folder / MERCHANT_KEY_FILE
        public = folder / PUBLIC_KEY_FILE
        _write_private(private, self.merchant_private_key_pem)
        _write_private(public, self.wechatpay_public_key_pem)
        return {"PRIVATE_KEY_PATH": private, "WECHATPAY_PUBLIC_KEY_PATH": public}

    def save(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the PEM files and ``sandbox-keys.json`` (everything, mode 0600)."""
        paths = self.write_pem_files(directory)
        state: dict[str, Any] = {
            "merchant_private_key_pem": self.merchant_private_key_pem,
            "merchant_serial_no": self.merchant_serial_no,
            "wechatpay_public_key_pem": self.wechatpay_public_key_pem,
            "wechatpay_public_key_id": self.wechatpay_public_key_id,
            "wechatpay_private_key_pem": self.wechatpay_private_key_pem,
            "platform_certificates": [c.to_dict() for c in self.platform_certificates],
            "apiv3_key": self.apiv3_key,
        }
        _write_private(Path(directory) / STATE_FILE, json.dumps(state, indent=2))
        return paths

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> SandboxKeys:
        """Read a set written by :meth:`save`. Raises ``FileNotFoundError`` if there is none."""
        state = json.loads((Path(directory) / STATE_FILE).read_text("utf-8"))
        state["platform_certificates"] = tuple(PlatformCertificate.from_dict(c) for c in state["platform_certificates"])
        return cls(**state)


def _write_private(path: Path, text: str) -> None:
    """Create or replace ``path`` with mode 0600 from the start (never world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
    with os.fdopen(fd, "wb") as fh:
        fh.write(text.encode("utf-8"))
