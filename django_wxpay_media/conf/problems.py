"""The problem catalogue: every check id, the :class:`Problem` value, and the rules that find them.

Key rules (E006–E017) are in :mod:`.keys`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .schema import (
    CHECK_TAG,
    DEFAULT_API_BASE_URL,
    MAX_IMAGES_PER_REPLY,
    OPTION_RULES,
    SETTING_NAME,
    TEXT_TYPES,
    _given,
    option_problem,
    unknown_key_message,
    unknown_keys,
)

ERROR = "error"
WARNING = "warning"

#: Every check id, with what it reports. An id is never reused for another rule.
CHECK_IDS: dict[str, str] = {
    "E001": "WXPAY_MEDIA missing",
    "E002": "WXPAY_MEDIA not a dict",
    "E003": "unknown key",
    "E004": "MCHID missing",
    "E005": "MERCHANT_SERIAL_NO missing",
    "E006": "no private key",
    "E007": "PRIVATE_KEY and PRIVATE_KEY_PATH both set",
    "E008": "private key file unreadable",
    "E009": "private key not an unencrypted PEM private key",
    "E010": "private key not RSA-2048",
    "E011": "public key without WECHATPAY_PUBLIC_KEY_ID",
    "E012": "WECHATPAY_PUBLIC_KEY_ID without a public key",
    "E013": "WECHATPAY_PUBLIC_KEY and WECHATPAY_PUBLIC_KEY_PATH both set",
    "E014": "public key file unreadable",
    "E015": "public key not an RSA PEM public key",
    "E016": "no way to verify answers (neither public key nor APIV3_KEY)",
    "E017": "APIV3_KEY not 32 bytes",
    "E018": "API_BASE_URL neither https nor loopback",
    "E019": "TIMEOUT",
    "E020": "MAX_RETRIES",
    "E021": "RETRY_BACKOFF",
    "E022": "CONCURRENCY",
    "E023": "MAX_FILES",
    "E024": "UPLOAD_TO",
    "E025": "STORAGE",
    "E026": "a text setting of the wrong type",
    "E027": "BACKGROUND_UPLOADS",
    "E028": "BACKGROUND_UPLOADS on without a usable task backend (checks.check_background_uploads)",
    "E029": "COMPLAINT_REPLY_HOURS",
    "E030": "COMPLAINT_COMPLETE_HOURS",
    "E031": "COMPLAINT_DUE_SOON_HOURS",
    "E032": "COMPLAINT_ALERT_EMAILS",
    "E033": "PLATFORM_CERTIFICATES",
    "E034": "PLATFORM_CERTIFICATES without the key it needs (APIV3_KEY for True, a public key for False)",
    "E040": "SERVICE_PROVIDER",
    "E041": "SUB_MERCHANTS",
    "E042": "ACCOUNTS not a dict of account names to dicts",
    "E043": "two accounts with the same MCHID",
    "E035": "BACKGROUND_NOTIFICATIONS",
    "W001": "API_BASE_URL is a local sandbox while DEBUG is off",
    "W002": "MAX_FILES above WeChat Pay's 4 images per reply",
    "W003": "BACKGROUND_UPLOADS on a task backend that runs tasks in the request or never",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with ``WXPAY_MEDIA``: what :mod:`.checks` reports and :func:`build_client` raises.

    ``id`` is the check id without its tag (``"E004"``); ``message`` and ``hint``
    are English, for developers, and name settings and paths, never key text.
    ``missing`` marks configuration that is absent or only partly filled in (a
    fresh project before it has keys): reported by ``check --deploy`` and at the
    first upload, never blocking ``migrate``. Anything else is *wrong* and is an
    error in every ``manage.py`` command's checks.
    """

    id: str
    message: str
    hint: str
    level: str = ERROR
    missing: bool = False

    def __post_init__(self) -> None:
        if self.id not in CHECK_IDS:  # a bug in this module: every id is listed, once
            raise ValueError(f"unknown check id {self.id!r}")

    @property
    def check_id(self) -> str:
        """The full check id, e.g. ``django_wxpay_media.E004``."""
        return f"{CHECK_TAG}.{self.id}"

    @property
    def is_error(self) -> bool:
        """An error stops uploads (and the checks); a warning does not."""
        return self.level == ERROR

    def __str__(self) -> str:
        return f"{self.message} {self.hint} ({self.check_id})"


class ConfigurationProblem(ImproperlyConfigured):
    """``ImproperlyConfigured`` for one :class:`Problem`, which it carries as ``problem``."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _missing(code: str, message: str, hint: str) -> Problem:
    return Problem(code, message, hint, missing=True)


def _wrong(code: str, message: str, hint: str) -> Problem:
    return Problem(code, message, hint)


# -- rules ------------------------------------------------------------


def _shape_problems(options: Any) -> list[Problem]:
    """The setting absent (E001), not a dict (E002), unknown keys (E003)."""
    if options is None:
        return [
            _missing(
                "E001",
                f"The {SETTING_NAME} setting is missing.",
                f"Add {SETTING_NAME} = {{'MCHID': ..., 'MERCHANT_SERIAL_NO': ..., 'PRIVATE_KEY_PATH': ..., "
                "'WECHATPAY_PUBLIC_KEY_PATH': ..., 'WECHATPAY_PUBLIC_KEY_ID': ...} to settings.py.",
            )
        ]
    if not isinstance(options, dict):
        return [
            _wrong(
                "E002",
                f"{SETTING_NAME} must be a dict, not {type(options).__name__}.",
                f"Write {SETTING_NAME} = {{...}} in settings.py.",
            )
        ]
    return [
        _wrong("E003", unknown_key_message(key), f"Remove or rename {SETTING_NAME}[{key!r}].")
        for key in unknown_keys(options)
    ]


def _option_value_problems(options: dict[str, Any], setting: str = SETTING_NAME) -> list[Problem]:
    """E019–E025: each non-secret option given against its rule in :data:`OPTION_RULES`."""
    found: list[Problem] = []
    for name, (code, _rule, _must_be, example) in OPTION_RULES.items():
        if options.get(name) is None:
            continue
        problem = option_problem(name, options[name], setting)
        if problem:
            found.append(_wrong(code, problem, f"Set {setting}['{name}'] to e.g. {example}, or remove it."))
    return found


def _option_problems(options: dict[str, Any]) -> list[Problem]:
    """E019–E025 and W002: the options' values, the STORAGES entry, the images per reply."""
    found = _option_value_problems(options)
    storage = options.get("STORAGE")
    if isinstance(storage, str) and storage and storage not in settings.STORAGES:
        found.append(
            _wrong(
                "E025",
                f"{SETTING_NAME}['STORAGE'] = {storage!r} is not an entry in STORAGES.",
                f"Set {SETTING_NAME}['STORAGE'] to one of: {', '.join(settings.STORAGES)} (or add {storage!r} to STORAGES).",
            )
        )
    max_files = options.get("MAX_FILES")
    if max_files is not None and option_problem("MAX_FILES", max_files) is None and max_files > MAX_IMAGES_PER_REPLY:
        found.append(
            Problem(
                "W002",
                f"{SETTING_NAME}['MAX_FILES'] = {max_files}, but a WeChat Pay complaint reply carries at most "
                f"{MAX_IMAGES_PER_REPLY} images.",
                f"Set {SETTING_NAME}['MAX_FILES'] to {MAX_IMAGES_PER_REPLY} or less.",
                level=WARNING,
            )
        )
    return found


def _required_problems(options: dict[str, Any], setting: str = SETTING_NAME) -> list[Problem]:
    """E004, E005: the merchant number and certificate serial number."""
    found: list[Problem] = []
    if not _given(options, "MCHID"):
        found.append(
            _missing(
                "E004",
                f"{setting}['MCHID'] is missing.",
                f"Add {setting}['MCHID'] = '1900000001' (your merchant number, 商户号).",
            )
        )
    if not _given(options, "MERCHANT_SERIAL_NO"):
        found.append(
            _missing(
                "E005",
                f"{setting}['MERCHANT_SERIAL_NO'] is missing.",
                f"Add {setting}['MERCHANT_SERIAL_NO'] = '...' (the serial number of your merchant API certificate).",
            )
        )
    return found


def _type_problems(options: dict[str, Any], setting: str = SETTING_NAME) -> list[Problem]:
    """E026: a text setting given as something else (a number, a list...)."""
    from ..wechatpay.keys import Secret

    found: list[Problem] = []
    for key, types in TEXT_TYPES.items():
        value = options.get(key)
        if value is None or isinstance(value, Secret):  # Secret: text, wrapped by user_settings()
            continue
        if not isinstance(value, types) or isinstance(value, bool):
            found.append(
                _wrong(
                    "E026",
                    f"{setting}['{key}'] must be text, not {type(value).__name__}.",
                    f"Write {setting}['{key}'] as a string in settings.py.",
                )
            )
    return found


def is_loopback_url(url: str) -> bool:
    """True for URLs on this machine (127.0.0.0/8, ``localhost``, ``[::1]``): the protocol layer's rule."""
    from ..wechatpay.client import is_loopback_url as rule  # imported late: reading settings stays cheap

    return rule(url)


def is_allowed_base_url(url: Any) -> bool:
    """The base URL rule the client enforces at run time: ``https``, or plain ``http`` on loopback."""
    from ..wechatpay.client import check_base_url
    from ..wechatpay.errors import ConfigurationError

    try:
        check_base_url(url)
    except ConfigurationError:
        return False
    return True


def _base_url_problems(options: dict[str, Any], setting: str = SETTING_NAME) -> list[Problem]:
    """E018 (neither https nor loopback) and W001 (a sandbox while DEBUG is off)."""
    url = options.get("API_BASE_URL")
    if url is None:
        return []
    if not is_allowed_base_url(url):
        return [
            _wrong(
                "E018",
                f"{setting}['API_BASE_URL'] = {url!r} is neither an https URL nor a local sandbox.",
                f"Remove {setting}['API_BASE_URL'] to use {DEFAULT_API_BASE_URL}; plain http is only "
                "allowed on loopback (http://127.0.0.1, http://localhost, http://[::1]) for the sandbox.",
            )
        ]
    if is_loopback_url(url) and not settings.DEBUG:
        return [
            Problem(
                "W001",
                f"{setting}['API_BASE_URL'] = {url!r} points at this machine (a sandbox), not WeChat Pay, while DEBUG is off.",
                f"Remove {setting}['API_BASE_URL'] in production; media_ids from a sandbox are useless to WeChat Pay.",
                level=WARNING,
            )
        ]
    return []
