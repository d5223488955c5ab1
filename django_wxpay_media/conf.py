"""The one place that reads the ``WXPAY_MEDIA`` setting and decides what is wrong with it.

Everything else asks this module: :func:`get_setting` for a value (defaults
merged, unknown keys rejected like django-storages does), :func:`get_client` for
the WeChat Pay client (built lazily from the settings, cached, and dropped when
``WXPAY_MEDIA`` changes), :func:`get_storage` for where files are kept, and
:func:`configuration_problems` / :func:`is_configured` for what is missing or
wrong. Every rule is written once, here (key rules in ``wechatpay/keys.py``):
the system checks in :mod:`.checks` report the same :class:`Problem` values
that :func:`build_client` raises.

Nothing here touches key material at import time; keys are read the first time a
client is needed, and error messages name settings and paths, never key text.
Key text read from settings or files is wrapped in
:class:`~django_wxpay_media.wechatpay.keys.Secret` at once, and the functions
that handle it are marked ``sensitive_variables``, so neither a debug page nor
an error e-mail can show it.
"""

from __future__ import annotations

import datetime
import difflib
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty
from django.views.decorators.debug import sensitive_variables

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from .wechatpay import WeChatPayClient
    from .wechatpay.keys import Secret

SETTING_NAME = "WXPAY_MEDIA"
S = SETTING_NAME
#: The prefix of every check id (``django_wxpay_media.E004``).
CHECK_TAG = "django_wxpay_media"

#: WeChat Pay's own upload host; kept here as text so that reading settings never
#: needs the protocol package (it is imported only when a client is built).
DEFAULT_API_BASE_URL = "https://api.mch.weixin.qq.com"

#: Every key ``WXPAY_MEDIA`` accepts, with its default (``None``: no default).
DEFAULTS: dict[str, Any] = {
    "MCHID": None,
    "MERCHANT_SERIAL_NO": None,
    "PRIVATE_KEY": None,
    "PRIVATE_KEY_PATH": None,
    "WECHATPAY_PUBLIC_KEY": None,
    "WECHATPAY_PUBLIC_KEY_PATH": None,
    "WECHATPAY_PUBLIC_KEY_ID": None,
    "APIV3_KEY": None,
    "API_BASE_URL": DEFAULT_API_BASE_URL,
    "TIMEOUT": 10,
    "MAX_RETRIES": 3,
    "RETRY_BACKOFF": 0.5,
    "CONCURRENCY": 4,
    "UPLOAD_TO": "wxpay_media/%Y/%m/",
    "STORAGE": "default",
    "MAX_FILES": 4,
    # False: upload in the request (after its transaction commits). True or a TASKS
    # alias: enqueue the upload on that task backend (see django_wxpay_media.tasks).
    "BACKGROUND_UPLOADS": False,
}
VALID_KEYS: tuple[str, ...] = tuple(DEFAULTS)

#: Keys holding key text: wrapped in ``Secret`` as soon as they are read.
SECRET_KEYS: tuple[str, ...] = ("PRIVATE_KEY", "WECHATPAY_PUBLIC_KEY", "APIV3_KEY")

#: The keys without which nothing can be uploaded, with the id of their check.
REQUIRED_IDS: dict[str, str] = {"MCHID": "E004", "MERCHANT_SERIAL_NO": "E005"}

#: WeChat Pay takes at most this many media_ids in one complaint reply.
MAX_IMAGES_PER_REPLY = 4


def _is_number(value: Any) -> bool:
    # bool is an int subclass; True seconds is a typo, not a timeout.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: Rules for the non-secret options: (check id, is the value acceptable?, what it
#: must be, an example for the hint).
OPTION_RULES: dict[str, tuple[str, Callable[[Any], bool], str, str]] = {
    "TIMEOUT": ("E019", lambda v: _is_number(v) and v > 0, "a positive number of seconds", "10"),
    "MAX_RETRIES": ("E020", lambda v: _is_int(v) and v >= 0, "a whole number, 0 or more", "3"),
    "RETRY_BACKOFF": ("E021", lambda v: _is_number(v) and v >= 0, "a number of seconds, 0 or more", "0.5"),
    "CONCURRENCY": ("E022", lambda v: _is_int(v) and v >= 1, "a whole number, 1 or more", "4"),
    "MAX_FILES": ("E023", lambda v: _is_int(v) and v >= 1, "a whole number, 1 or more", "4"),
    "UPLOAD_TO": (
        "E024",
        lambda v: isinstance(v, str),
        "a string such as 'wxpay_media/%Y/%m/'",
        "'wxpay_media/%Y/%m/'",
    ),
    "STORAGE": ("E025", lambda v: isinstance(v, str) and bool(v), "the name of an entry in STORAGES", "'default'"),
    "BACKGROUND_UPLOADS": (
        "E027",
        lambda v: isinstance(v, bool) or (isinstance(v, str) and bool(v)),
        "True, False or the alias of an entry in TASKS",
        "True",
    ),
}

#: Keys whose value is text (or PEM bytes, or a path); anything else is a typo.
TEXT_TYPES: dict[str, tuple[type, ...]] = {
    "MCHID": (str, int),
    "MERCHANT_SERIAL_NO": (str,),
    "PRIVATE_KEY": (str, bytes),
    "PRIVATE_KEY_PATH": (str, os.PathLike),
    "WECHATPAY_PUBLIC_KEY": (str, bytes),
    "WECHATPAY_PUBLIC_KEY_PATH": (str, os.PathLike),
    "WECHATPAY_PUBLIC_KEY_ID": (str,),
    "APIV3_KEY": (str, bytes),
}


# -- problems ----------------------------------------------------------------------------

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


# -- reading settings ----------------------------------------------------------------


@sensitive_variables("options")
def user_settings() -> Any:
    """``settings.WXPAY_MEDIA`` as the project wrote it, key text wrapped in ``Secret``.

    ``None`` when the setting is absent; not validated (see :func:`configuration_problems`).
    """
    from .wechatpay.keys import Secret

    options = getattr(settings, SETTING_NAME, None)
    if not isinstance(options, dict):
        return options
    return {
        key: Secret(value) if key in SECRET_KEYS and isinstance(value, (str, bytes)) else value
        for key, value in options.items()
    }


def _given(options: dict[str, Any], key: str) -> bool:
    """Whether ``key`` has a value: not absent, ``None`` or empty text."""
    from .wechatpay.keys import Secret

    value = options.get(key)
    if value is None:
        return False
    if isinstance(value, str):
        return value != ""
    return bool(value) if isinstance(value, Secret) else True


def unknown_keys(options: dict[str, Any]) -> list[str]:
    """Keys of ``options`` that ``WXPAY_MEDIA`` does not know, in the order given."""
    return [key for key in options if key not in DEFAULTS]


def unknown_key_message(key: Any) -> str:
    """An English message for an unknown key, suggesting the closest valid one."""
    text = f"{SETTING_NAME} has an unknown key {key!r}."
    close = difflib.get_close_matches(str(key), VALID_KEYS, n=1)
    if close:
        text += f" Did you mean {close[0]!r}?"
    return text + " Valid keys: " + ", ".join(VALID_KEYS) + "."


def option_problem(name: str, value: Any) -> str | None:
    """An English message if ``value`` is not acceptable for option ``name``, else ``None``."""
    rule = OPTION_RULES.get(name)
    if rule is None or rule[1](value):
        return None
    return f"{SETTING_NAME}['{name}'] must be {rule[2]}, not {value!r}."


def _shape_problems(options: Any) -> list[Problem]:
    """The setting absent (E001), not a dict (E002), unknown keys (E003)."""
    if options is None:
        return [
            _missing(
                "E001",
                f"The {S} setting is missing.",
                f"Add {S} = {{'MCHID': ..., 'MERCHANT_SERIAL_NO': ..., 'PRIVATE_KEY_PATH': ..., "
                "'WECHATPAY_PUBLIC_KEY_PATH': ..., 'WECHATPAY_PUBLIC_KEY_ID': ...} to settings.py.",
            )
        ]
    if not isinstance(options, dict):
        return [
            _wrong("E002", f"{S} must be a dict, not {type(options).__name__}.", f"Write {S} = {{...}} in settings.py.")
        ]
    return [
        _wrong("E003", unknown_key_message(key), f"Remove or rename {S}[{key!r}].") for key in unknown_keys(options)
    ]


def _option_value_problems(options: dict[str, Any]) -> list[Problem]:
    """E019–E025: each non-secret option given against its rule in :data:`OPTION_RULES`."""
    found: list[Problem] = []
    for name, (code, _rule, _must_be, example) in OPTION_RULES.items():
        if options.get(name) is None:
            continue
        problem = option_problem(name, options[name])
        if problem:
            found.append(_wrong(code, problem, f"Set {S}['{name}'] to e.g. {example}, or remove it."))
    return found


def _option_problems(options: dict[str, Any]) -> list[Problem]:
    """E019–E025 and W002: the options' values, the STORAGES entry, the images per reply."""
    found = _option_value_problems(options)
    storage = options.get("STORAGE")
    if isinstance(storage, str) and storage and storage not in settings.STORAGES:
        found.append(
            _wrong(
                "E025",
                f"{S}['STORAGE'] = {storage!r} is not an entry in STORAGES.",
                f"Set {S}['STORAGE'] to one of: {', '.join(settings.STORAGES)} (or add {storage!r} to STORAGES).",
            )
        )
    max_files = options.get("MAX_FILES")
    if max_files is not None and option_problem("MAX_FILES", max_files) is None and max_files > MAX_IMAGES_PER_REPLY:
        found.append(
            Problem(
                "W002",
                f"{S}['MAX_FILES'] = {max_files}, but a WeChat Pay complaint reply carries at most "
                f"{MAX_IMAGES_PER_REPLY} images.",
                f"Set {S}['MAX_FILES'] to {MAX_IMAGES_PER_REPLY} or less.",
                level=WARNING,
            )
        )
    return found


def _required_problems(options: dict[str, Any]) -> list[Problem]:
    """E004, E005: the merchant number and certificate serial number."""
    found: list[Problem] = []
    if not _given(options, "MCHID"):
        found.append(
            _missing(
                "E004", f"{S}['MCHID'] is missing.", f"Add {S}['MCHID'] = '1900000001' (your merchant number, 商户号)."
            )
        )
    if not _given(options, "MERCHANT_SERIAL_NO"):
        found.append(
            _missing(
                "E005",
                f"{S}['MERCHANT_SERIAL_NO'] is missing.",
                f"Add {S}['MERCHANT_SERIAL_NO'] = '...' (the serial number of your merchant API certificate).",
            )
        )
    return found


def _type_problems(options: dict[str, Any]) -> list[Problem]:
    """E026: a text setting given as something else (a number, a list...)."""
    from .wechatpay.keys import Secret

    found: list[Problem] = []
    for key, types in TEXT_TYPES.items():
        value = options.get(key)
        if value is None or isinstance(value, Secret):  # Secret: text, wrapped by user_settings()
            continue
        if not isinstance(value, types) or isinstance(value, bool):
            found.append(
                _wrong(
                    "E026",
                    f"{S}['{key}'] must be text, not {type(value).__name__}.",
                    f"Write {S}['{key}'] as a string in settings.py.",
                )
            )
    return found


def is_loopback_url(url: str) -> bool:
    """True for URLs on this machine (127.0.0.0/8, ``localhost``, ``[::1]``): the protocol layer's rule."""
    from .wechatpay.client import is_loopback_url as rule  # imported late: reading settings stays cheap

    return rule(url)


def is_allowed_base_url(url: Any) -> bool:
    """The base URL rule the client enforces at run time: ``https``, or plain ``http`` on loopback."""
    from .wechatpay.client import check_base_url
    from .wechatpay.errors import ConfigurationError

    try:
        check_base_url(url)
    except ConfigurationError:
        return False
    return True


def _base_url_problems(options: dict[str, Any]) -> list[Problem]:
    """E018 (neither https nor loopback) and W001 (a sandbox while DEBUG is off)."""
    url = options.get("API_BASE_URL")
    if url is None:
        return []
    if not is_allowed_base_url(url):
        return [
            _wrong(
                "E018",
                f"{S}['API_BASE_URL'] = {url!r} is neither an https URL nor a local sandbox.",
                f"Remove {S}['API_BASE_URL'] to use {DEFAULT_API_BASE_URL}; plain http is only "
                "allowed on loopback (http://127.0.0.1, http://localhost, http://[::1]) for the sandbox.",
            )
        ]
    if is_loopback_url(url) and not settings.DEBUG:
        return [
            Problem(
                "W001",
                f"{S}['API_BASE_URL'] = {url!r} points at this machine (a sandbox), not WeChat Pay, while DEBUG is off.",
                f"Remove {S}['API_BASE_URL'] in production; media_ids from a sandbox are useless to WeChat Pay.",
                level=WARNING,
            )
        ]
    return []


# -- keys ------------------------------------------------------------------------------


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
    options: dict[str, Any], text_key: str, path_key: str, read_id: str
) -> tuple[Secret | None, list[Problem]]:
    """The PEM given inline under ``text_key`` or in the file named by ``path_key``, wrapped.

    An unreadable file is *missing* configuration (``read_id``): the key files of a
    deployment are often mounted only where the site runs, not where it migrates.
    """
    from .wechatpay.keys import Secret

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
                f"{S}['{path_key}'] = {str(path)!r} cannot be read: {reason}.",
                f"Point {S}['{path_key}'] at a file this process can read, or give the PEM text as {S}['{text_key}'].",
            )
        ]


@sensitive_variables()
def _private_key_problems(options: dict[str, Any]) -> tuple[rsa.RSAPrivateKey | None, list[Problem]]:
    """E006–E010: the merchant private key, loaded by the protocol layer's own loader."""
    from .wechatpay import keys

    text, path = _given(options, "PRIVATE_KEY"), _given(options, "PRIVATE_KEY_PATH")
    if not text and not path:
        return None, [
            _missing(
                "E006",
                f"{S} has no merchant private key.",
                f"Add {S}['PRIVATE_KEY_PATH'] = '/path/to/apiclient_key.pem' (or the PEM text as {S}['PRIVATE_KEY']).",
            )
        ]
    if text and path:
        return None, [
            _wrong(
                "E007",
                f"{S} sets both PRIVATE_KEY and PRIVATE_KEY_PATH.",
                f"Keep only one of {S}['PRIVATE_KEY'] and {S}['PRIVATE_KEY_PATH'].",
            )
        ]
    pem, found = _read_pem(options, "PRIVATE_KEY", "PRIVATE_KEY_PATH", "E008")
    if pem is None:
        return None, found
    where = f"{S}['PRIVATE_KEY_PATH']" if path else f"{S}['PRIVATE_KEY']"
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
) -> tuple[rsa.RSAPublicKey | None, Secret | None, list[Problem]]:
    """E011–E017: how WeChat Pay's answers are verified (public key and/or APIv3 key)."""
    from .wechatpay import keys

    found: list[Problem] = []
    text, path = _given(options, "WECHATPAY_PUBLIC_KEY"), _given(options, "WECHATPAY_PUBLIC_KEY_PATH")
    has_key, has_id = text or path, _given(options, "WECHATPAY_PUBLIC_KEY_ID")
    public_key = None
    if has_key and not has_id:
        found.append(
            _missing(
                "E011",
                f"{S} has a WeChat Pay public key but no WECHATPAY_PUBLIC_KEY_ID.",
                f"Add {S}['WECHATPAY_PUBLIC_KEY_ID'] = 'PUB_KEY_ID_...' (shown next to the key on the merchant platform).",
            )
        )
    if has_id and not has_key:
        found.append(
            _missing(
                "E012",
                f"{S} has WECHATPAY_PUBLIC_KEY_ID but no WeChat Pay public key.",
                f"Add {S}['WECHATPAY_PUBLIC_KEY_PATH'] = '/path/to/pub_key.pem' (or the PEM text as {S}['WECHATPAY_PUBLIC_KEY']).",
            )
        )
    if text and path:
        found.append(
            _wrong(
                "E013",
                f"{S} sets both WECHATPAY_PUBLIC_KEY and WECHATPAY_PUBLIC_KEY_PATH.",
                f"Keep only one of {S}['WECHATPAY_PUBLIC_KEY'] and {S}['WECHATPAY_PUBLIC_KEY_PATH'].",
            )
        )
    elif has_key:
        pem, read_problems = _read_pem(options, "WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_PATH", "E014")
        found.extend(read_problems)
        if pem is not None:
            try:
                public_key = keys.load_public_key(pem)
            except (keys.KeyFormatError, keys.KeyKindError):
                where = f"{S}['WECHATPAY_PUBLIC_KEY_PATH']" if path else f"{S}['WECHATPAY_PUBLIC_KEY']"
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
                f"{S} gives no way to verify WeChat Pay's answers.",
                f"Add {S}['WECHATPAY_PUBLIC_KEY_PATH'] with {S}['WECHATPAY_PUBLIC_KEY_ID'] (WeChat Pay public key), "
                f"or {S}['APIV3_KEY'] (platform certificates).",
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
                    f"{S}['APIV3_KEY'] is {exc.length} bytes long; an APIv3 key is {keys.APIV3_KEY_BYTES} bytes.",
                    f"Copy {S}['APIV3_KEY'] again from the merchant platform (API安全 → APIv3密钥).",
                )
            )
    return public_key, apiv3, found


@sensitive_variables()
def _evaluate() -> tuple[list[Problem], _Keys | None]:
    """Every problem with ``WXPAY_MEDIA``, in the order a developer should fix them, and the loaded keys."""
    options = user_settings()
    found = _shape_problems(options)
    if options is None or not isinstance(options, dict):
        return found, None
    found.extend(_required_problems(options))
    type_problems = _type_problems(options)
    found.extend(type_problems)
    loaded = None
    if not type_problems:  # the key rules assume text; a wrong type was reported already
        private_key, private_problems = _private_key_problems(options)
        public_key, apiv3_key, verification_problems = _verification_problems(options)
        found.extend(private_problems)
        found.extend(verification_problems)
        loaded = _Keys(private_key=private_key, public_key=public_key, apiv3_key=apiv3_key)
    found.extend(_base_url_problems(options))
    found.extend(_option_problems(options))
    return found, loaded


def configuration_problems() -> list[Problem]:
    """Everything missing or wrong in ``WXPAY_MEDIA`` (errors and warnings), each once.

    The system checks report exactly these. An admin page can use it (or
    :func:`is_configured`) to show staff a banner before anyone tries an upload;
    the messages are English for developers, so show staff a translated sentence
    of your own and keep the messages for the site's developers.
    Reads key files and parses keys, so call it per request at most, not per row.
    """
    return _evaluate()[0]


def is_configured() -> bool:
    """True when uploads can be made: ``WXPAY_MEDIA`` has no error (warnings are fine).

    Cheap once the client is built (it is built only from a setting without
    errors, and dropped when the setting changes); until then it evaluates the
    setting, key files included.
    """
    if _client is not None:
        return True
    return not any(problem.is_error for problem in configuration_problems())


def _raise_first(problems: list[Problem]) -> None:
    for problem in problems:
        if problem.is_error:
            raise ConfigurationProblem(problem)


@sensitive_variables("options", "merged")
def get_settings() -> dict[str, Any]:
    """``WXPAY_MEDIA`` merged over :data:`DEFAULTS` (key text wrapped in ``Secret``).

    Raises :class:`ConfigurationProblem` (an ``ImproperlyConfigured``) when the
    setting is not a dict, names an unknown key, or has an option of the wrong
    type. Required keys are checked by :func:`get_setting` instead, so that
    options such as ``STORAGE`` can be read (e.g. to list stored images) before the
    merchant keys are filled in; an absent setting is read as ``{}``.
    """
    options = user_settings()
    if options is None:
        options = {}
    _raise_first(_shape_problems(options))
    merged = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    _raise_first(_option_value_problems(merged))
    return merged


@sensitive_variables("merged")
def get_setting(name: str) -> Any:
    """One ``WXPAY_MEDIA`` value, its default if the project did not set it.

    A required key (``MCHID``, ``MERCHANT_SERIAL_NO``) that is missing raises
    :class:`ConfigurationProblem` naming exactly what to add.
    """
    if name not in DEFAULTS:
        raise KeyError(f"{name!r} is not a {SETTING_NAME} key")  # a bug in this package, not in settings
    merged = get_settings()
    if name in REQUIRED_IDS:
        if user_settings() is None:
            _raise_first(_shape_problems(None))
        _raise_first([p for p in _required_problems(merged) if p.id == REQUIRED_IDS[name]])
    return merged[name]


def get_mchid() -> str:
    """The merchant number uploads are made for (``WXPAY_MEDIA['MCHID']``) as text."""
    return str(get_setting("MCHID"))


def background_uploads_backend() -> str | None:
    """The ``TASKS`` alias uploads are enqueued on, or ``None`` to upload in the request.

    From ``WXPAY_MEDIA['BACKGROUND_UPLOADS']``: ``False`` (the default) gives ``None``,
    ``True`` the default task backend (``"default"``), a string that alias.
    """
    value = get_setting("BACKGROUND_UPLOADS")
    if value is False:
        return None
    return "default" if value is True else str(value)


# -- the client ------------------------------------------------------------------------

_client: WeChatPayClient | None = None
_client_lock = threading.Lock()


@sensitive_variables()
def build_client() -> WeChatPayClient:
    """A new :class:`~django_wxpay_media.wechatpay.WeChatPayClient` from ``WXPAY_MEDIA``.

    Raises :class:`ConfigurationProblem` (an ``ImproperlyConfigured``) for the
    first error :func:`configuration_problems` finds, its message ending in the
    check id. Prefer :func:`get_client`, which builds one and keeps it.
    """
    # Imported here so that reading settings (and importing models) stays cheap.
    from .wechatpay import WeChatPayClient
    from .wechatpay.errors import ConfigurationError

    problems, loaded = _evaluate()
    _raise_first(problems)
    if loaded is None or loaded.private_key is None:  # unreachable: no error means both were loaded
        raise ImproperlyConfigured(f"{SETTING_NAME}: the merchant private key could not be loaded.")
    options = get_settings()
    try:
        # Key objects, not text, cross into the protocol layer; the APIv3 key stays
        # in its Secret, which the protocol layer opens only at the AES-GCM call.
        return WeChatPayClient(
            mchid=get_mchid(),
            merchant_serial_no=str(get_setting("MERCHANT_SERIAL_NO")),
            private_key=loaded.private_key,
            public_key=loaded.public_key,
            public_key_id=options["WECHATPAY_PUBLIC_KEY_ID"] if loaded.public_key is not None else None,
            apiv3_key=loaded.apiv3_key,
            base_url=options["API_BASE_URL"],
            timeout=float(options["TIMEOUT"]),
            max_retries=options["MAX_RETRIES"],
            retry_backoff=float(options["RETRY_BACKOFF"]),
        )
    except ConfigurationError as exc:
        # The protocol layer's messages never quote key text; keep them, drop the
        # chain (its frames hold the keys it was given).
        raise ImproperlyConfigured(f"{SETTING_NAME}: {exc}") from None


@sensitive_variables()
def get_client() -> WeChatPayClient:
    """The shared WeChat Pay client, built on first use from ``WXPAY_MEDIA``.

    Keys are read once, here, not at import time. The cached client is dropped when
    ``WXPAY_MEDIA`` changes (Django's ``setting_changed``, e.g. ``override_settings``).
    Raises :class:`~django.core.exceptions.ImproperlyConfigured` for bad settings.
    """
    global _client
    client = _client
    if client is not None:
        return client
    with _client_lock:
        if _client is None:
            _client = build_client()
        return _client


def reset_client() -> None:
    """Forget the cached client (closing its connections); the next use rebuilds it."""
    global _client
    with _client_lock:
        client, _client = _client, None
    if client is not None:
        client.close()


def upload_timeout() -> datetime.timedelta:
    """The stale-claim window: longer than one ``client.upload_image()`` call can take.

    The client built from these settings bounds every call, retries and their
    waits (backoff or ``Retry-After``) included, by its deadline
    (:func:`~django_wxpay_media.wechatpay.client.default_deadline`); a call ends
    at most one ``TIMEOUT`` after it (:attr:`WeChatPayClient.max_call_seconds
    <django_wxpay_media.wechatpay.WeChatPayClient.max_call_seconds>`). This adds a
    margin (10 %, at least 2 s) for the clocks of different servers. It is computed
    from the settings, without building the client, so that the admin can tell an
    abandoned upload even while the keys are misconfigured.

    An upload still marked as running after this long was abandoned (its process
    died) and a retry may take it over; the claim token keeps a late answer of the
    abandoned attempt from overwriting the record.
    """
    from .wechatpay.client import default_deadline

    options = get_settings()
    timeout = float(options["TIMEOUT"])
    longest_call = default_deadline(timeout, options["MAX_RETRIES"], float(options["RETRY_BACKOFF"])) + timeout
    return datetime.timedelta(seconds=longest_call + max(2.0, 0.1 * longest_call))


# -- storage ---------------------------------------------------------------------------


def storage_alias() -> str:
    """The ``STORAGES`` alias uploaded files are kept in (``WXPAY_MEDIA['STORAGE']``)."""
    return str(get_setting("STORAGE"))


def upload_to() -> str:
    """The ``strftime`` directory template for stored files (``WXPAY_MEDIA['UPLOAD_TO']``)."""
    return str(get_setting("UPLOAD_TO"))


class ConfiguredStorage(LazyObject):
    """The storage named by ``WXPAY_MEDIA['STORAGE']``: ``storages[alias]``, resolved lazily.

    Django's own pattern (``django.core.files.storage.DefaultStorage``): every
    attribute and method of the backend, present and future, is the backend's own.
    Re-resolved when ``STORAGES`` or ``WXPAY_MEDIA`` changes (``override_settings``).
    """

    _wrapped: Any  # the backend, or ``empty`` until first use

    def _setup(self) -> None:
        self._wrapped = storages[storage_alias()]

    # FileField checks isinstance(storage, Storage) when the model class is created,
    # and LazyObject answers __class__ by resolving the backend. While models load,
    # answer with the base class instead: loading models must not read WXPAY_MEDIA
    # or build a backend, so a wrong STORAGE is reported by check E025, not by a
    # traceback at startup. Once models are loaded this is LazyObject's own answer.
    @property  # type: ignore[misc]  # object.__class__ is writable; this one, like LazyObject's, is not
    def __class__(self) -> type:
        if self._wrapped is empty and not apps.models_ready:
            return Storage
        return cast(type, LazyObject.__dict__["__class__"].fget(self))


_storage = ConfiguredStorage()


def get_storage() -> Storage:
    """Storage for ``FeedbackImage.file``; a callable so migrations do not freeze it."""
    return cast(Storage, _storage)


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        reset_client()
    if setting in (SETTING_NAME, "STORAGES"):
        _storage._wrapped = empty
