"""Key loading: the merchant private key and the means to verify answers, read and judged (E006–E017)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.views.decorators.debug import sensitive_variables

from .problems import Problem, _missing, _wrong
from .schema import SETTING_NAME, _given

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ..wechatpay.keys import Secret


@dataclass(frozen=True)
class _Keys:
    """What :func:`_key_problems` loaded: key objects and the APIv3 key, never shown."""

    private_key: rsa.RSAPrivateKey | None = None
    public_key: rsa.RSAPublicKey | None = None
    apiv3_key: Secret | None = None

    def __repr__(self) -> str:
        return "_Keys(<hidden>)"


@sensitive_variables()
def _read_pem(
    options: dict[str, Any], text_key: str, path_key: str, read_id: str, setting: str = SETTING_NAME
) -> tuple[Secret | None, list[Problem]]:
    """The PEM given inline under ``text_key`` or in the file named by ``path_key``, wrapped.

    An unreadable file is *missing* configuration (``read_id``): the key files of a
    deployment are often mounted only where the site runs, not where it migrates.
    """
    from ..wechatpay.keys import Secret

    if _given(options, text_key):
        return options[text_key], []
    if not _given(options, path_key):
        return None, []
    path = options[path_key]
    try:
        return Secret(Path(path).read_bytes()), []
    except (OSError, TypeError, ValueError) as exc:
        # The path is configuration, not a secret; the file's content is never quoted.
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return None, [
            _missing(
                read_id,
                f"{setting}['{path_key}'] = {str(path)!r} cannot be read: {reason}.",
                f"Point {setting}['{path_key}'] at a file this process can read, or give the PEM text as {setting}['{text_key}'].",
            )
        ]


@sensitive_variables()
def _private_key_problems(
    options: dict[str, Any], setting: str = SETTING_NAME
) -> tuple[rsa.RSAPrivateKey | None, list[Problem]]:
    """E006–E010: the merchant private key, loaded by the protocol layer's own loader."""
    from ..wechatpay import keys

    text, path = _given(options, "PRIVATE_KEY"), _given(options, "PRIVATE_KEY_PATH")
    if not text and not path:
        return None, [
            _missing(
                "E006",
                f"{setting} has no merchant private key.",
                f"Add {setting}['PRIVATE_KEY_PATH'] = '/path/to/apiclient_key.pem' (or the PEM text as {setting}['PRIVATE_KEY']).",
            )
        ]
    if text and path:
        return None, [
            _wrong(
                "E007",
                f"{setting} sets both PRIVATE_KEY and PRIVATE_KEY_PATH.",
                f"Keep only one of {setting}['PRIVATE_KEY'] and {setting}['PRIVATE_KEY_PATH'].",
            )
        ]
    pem, found = _read_pem(options, "PRIVATE_KEY", "PRIVATE_KEY_PATH", "E008", setting)
    if pem is None:
        return None, found
    where = f"{setting}['PRIVATE_KEY_PATH']" if path else f"{setting}['PRIVATE_KEY']"
    try:
        return keys.load_private_key(pem), []
    except keys.KeyFormatError:
        return None, [
            _wrong(
                "E009",
                f"The merchant private key in {where} is not an unencrypted PEM private key.",
                f"Set {where} to the merchant API private key, apiclient_key.pem, as downloaded.",
            )
        ]
    except keys.KeyKindError as exc:
        return None, [
            _wrong(
                "E010",
                f"{where}: {exc}",
                f"Set {where} to the merchant API private key (apiclient_key.pem), which WeChat Pay issues as RSA-2048.",
            )
        ]


@sensitive_variables()
def _verification_problems(
    options: dict[str, Any],
    setting: str = SETTING_NAME,
) -> tuple[rsa.RSAPublicKey | None, Secret | None, list[Problem]]:
    """E011–E017: how WeChat Pay's answers are verified (public key and/or APIv3 key)."""
    from ..wechatpay import keys

    found: list[Problem] = []
    text, path = _given(options, "WECHATPAY_PUBLIC_KEY"), _given(options, "WECHATPAY_PUBLIC_KEY_PATH")
    has_key, has_id = text or path, _given(options, "WECHATPAY_PUBLIC_KEY_ID")
    public_key = None
    if has_key and not has_id:
        found.append(
            _missing(
                "E011",
                f"{setting} has a WeChat Pay public key but no WECHATPAY_PUBLIC_KEY_ID.",
                f"Add {setting}['WECHATPAY_PUBLIC_KEY_ID'] = 'PUB_KEY_ID_...' (shown next to the key on the merchant platform).",
            )
        )
    if has_id and not has_key:
        found.append(
            _missing(
                "E012",
                f"{setting} has WECHATPAY_PUBLIC_KEY_ID but no WeChat Pay public key.",
                f"Add {setting}['WECHATPAY_PUBLIC_KEY_PATH'] = '/path/to/pub_key.pem' (or the PEM text as {setting}['WECHATPAY_PUBLIC_KEY']).",
            )
        )
    if text and path:
        found.append(
            _wrong(
                "E013",
                f"{setting} sets both WECHATPAY_PUBLIC_KEY and WECHATPAY_PUBLIC_KEY_PATH.",
                f"Keep only one of {setting}['WECHATPAY_PUBLIC_KEY'] and {setting}['WECHATPAY_PUBLIC_KEY_PATH'].",
            )
        )
    elif has_key:
        pem, read_problems = _read_pem(options, "WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_PATH", "E014", setting)
        found.extend(read_problems)
        if pem is not None:
            try:
                public_key = keys.load_public_key(pem)
            except (keys.KeyFormatError, keys.KeyKindError):
                where = f"{setting}['WECHATPAY_PUBLIC_KEY_PATH']" if path else f"{setting}['WECHATPAY_PUBLIC_KEY']"
                found.append(
                    _wrong(
                        "E015",
                        f"The WeChat Pay public key in {where} is not an RSA public key in PEM format.",
                        f"Set {where} to the WeChat Pay public key (pub_key.pem) downloaded from the merchant platform.",
                    )
                )
    apiv3 = options.get("APIV3_KEY") if _given(options, "APIV3_KEY") else None
    if not has_key and apiv3 is None:
        found.append(
            _missing(
                "E016",
                f"{setting} gives no way to verify WeChat Pay's answers.",
                f"Add {setting}['WECHATPAY_PUBLIC_KEY_PATH'] with {setting}['WECHATPAY_PUBLIC_KEY_ID'] (WeChat Pay public key), "
                f"or {setting}['APIV3_KEY'] (platform certificates).",
            )
        )
    if apiv3 is not None:
        try:
            keys.check_apiv3_key(apiv3)
        except keys.KeyLengthError as exc:
            apiv3 = None
            found.append(
                _wrong(
                    "E017",
                    f"{setting}['APIV3_KEY'] is {exc.length} bytes long; an APIv3 key is {keys.APIV3_KEY_BYTES} bytes.",
                    f"Copy {setting}['APIV3_KEY'] again from the merchant platform (API安全 → APIv3密钥).",
                )
            )
    found.extend(_certificate_problems(options, has_key, setting))
    return public_key, apiv3, found


def _certificate_problems(options: dict[str, Any], has_public_key: bool, setting: str = SETTING_NAME) -> list[Problem]:
    """E034: ``PLATFORM_CERTIFICATES`` asked for without the key it needs."""
    wanted = options.get("PLATFORM_CERTIFICATES")
    if wanted is True and not _given(options, "APIV3_KEY"):
        return [
            _wrong(
                "E034",
                f"{setting}['PLATFORM_CERTIFICATES'] is True but there is no APIV3_KEY to decrypt the certificates.",
                f"Add {setting}['APIV3_KEY'], or remove {setting}['PLATFORM_CERTIFICATES'].",
            )
        ]
    if wanted is False and not has_public_key:
        return [
            _wrong(
                "E034",
                f"{setting}['PLATFORM_CERTIFICATES'] is False but there is no WeChat Pay public key to verify answers with.",
                f"Add {setting}['WECHATPAY_PUBLIC_KEY_PATH'] with {setting}['WECHATPAY_PUBLIC_KEY_ID'], "
                f"or remove {setting}['PLATFORM_CERTIFICATES'].",
            )
        ]
    return []
