"""The ``WXPAY_MEDIA`` schema: every key, its default, the rule its value follows, and reading it."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

SETTING_NAME = "WXPAY_MEDIA"
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
    # None: download platform certificates only without a WeChat Pay public key (the
    # APIv3 key then only decrypts notifications). True: download them anyway (a site in
    # WeChat Pay's key migration, whose answers may be signed either way); False: never.
    "PLATFORM_CERTIFICATES": None,
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
    "BACKGROUND_NOTIFICATIONS": False,
    # The complaint desk's clocks (hours after complaint_time) and alert recipients.
    "COMPLAINT_REPLY_HOURS": 24,
    "COMPLAINT_COMPLETE_HOURS": 72,
    "COMPLAINT_DUE_SOON_HOURS": 6,
    "COMPLAINT_ALERT_EMAILS": (),
    # An account that is a service provider (服务商) lists and answers its sub-merchants'
    # complaints; SUB_MERCHANTS (None: all) names the ones this site handles.
    "SERVICE_PROVIDER": False,
    "SUB_MERCHANTS": None,
    # More merchant accounts: name -> a dict of ACCOUNT_KEYS (see conf.registry).
    "ACCOUNTS": {},
}
VALID_KEYS: tuple[str, ...] = tuple(DEFAULTS)

#: The keys an entry of ``ACCOUNTS`` may set: one merchant account's own settings.
ACCOUNT_KEYS: tuple[str, ...] = (
    "MCHID",
    "MERCHANT_SERIAL_NO",
    "PRIVATE_KEY",
    "PRIVATE_KEY_PATH",
    "WECHATPAY_PUBLIC_KEY",
    "WECHATPAY_PUBLIC_KEY_PATH",
    "WECHATPAY_PUBLIC_KEY_ID",
    "APIV3_KEY",
    "API_BASE_URL",
    "TIMEOUT",
    "MAX_RETRIES",
    "RETRY_BACKOFF",
    "SERVICE_PROVIDER",
    "SUB_MERCHANTS",
)
#: Options an account left out takes from the top level of ``WXPAY_MEDIA`` (never keys or ids).
INHERITED_KEYS: tuple[str, ...] = ("API_BASE_URL", "TIMEOUT", "MAX_RETRIES", "RETRY_BACKOFF")

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


def is_account_name(name: Any) -> bool:
    """An ``ACCOUNTS`` name: 1-64 ASCII letters, digits, ``_`` or ``-`` (it is part of a URL), not "default"."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= 64
        and name.isascii()
        and all(ch.isalnum() or ch in "_-" for ch in name)
        and name != "default"
    )


def _is_sub_merchants(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(
        isinstance(m, (str, int)) and not isinstance(m, bool) and str(m).isdigit() for m in value
    )


def _is_accounts(value: Any) -> bool:
    return isinstance(value, dict) and all(is_account_name(k) and isinstance(v, dict) for k, v in value.items())


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
    "BACKGROUND_NOTIFICATIONS": (
        "E035",
        lambda v: isinstance(v, bool) or (isinstance(v, str) and bool(v)),
        "True, False or the alias of an entry in TASKS",
        "True",
    ),
    "COMPLAINT_REPLY_HOURS": ("E029", lambda v: _is_number(v) and v > 0, "a positive number of hours", "24"),
    "COMPLAINT_COMPLETE_HOURS": ("E030", lambda v: _is_number(v) and v > 0, "a positive number of hours", "72"),
    "COMPLAINT_DUE_SOON_HOURS": ("E031", lambda v: _is_number(v) and v >= 0, "a number of hours, 0 or more", "6"),
    "PLATFORM_CERTIFICATES": ("E033", lambda v: isinstance(v, bool), "True or False (or None: automatic)", "True"),
    "COMPLAINT_ALERT_EMAILS": (
        "E032",
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(a, str) and "@" in a for a in v),
        "a list of e-mail addresses",
        "['desk@example.com']",
    ),
    "SERVICE_PROVIDER": ("E040", lambda v: isinstance(v, bool), "True or False", "True"),
    "SUB_MERCHANTS": ("E041", _is_sub_merchants, "a list of merchant numbers", "['1900000101', '1900000102']"),
    "ACCOUNTS": (
        "E042",
        _is_accounts,
        "a dict of account names (letters, digits, _ or -; not 'default') to dicts",
        "{'shop2': {'MCHID': '1900000002', ...}}",
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


@sensitive_variables("options")
def user_settings() -> Any:
    """``settings.WXPAY_MEDIA`` as the project wrote it, key text wrapped in ``Secret``.

    ``None`` when the setting is absent; not validated (see :func:`configuration_problems`).
    """
    from ..wechatpay.keys import Secret

    options = getattr(settings, SETTING_NAME, None)
    if not isinstance(options, dict):
        return options

    def wrapped(given: dict[Any, Any]) -> dict[Any, Any]:
        return {
            key: Secret(value) if key in SECRET_KEYS and isinstance(value, (str, bytes)) else value
            for key, value in given.items()
        }

    result = wrapped(options)
    accounts = result.get("ACCOUNTS")
    if isinstance(accounts, dict):  # each account's key text too
        result["ACCOUNTS"] = {
            name: wrapped(entry) if isinstance(entry, dict) else entry for name, entry in accounts.items()
        }
    return result


def _given(options: dict[str, Any], key: str) -> bool:
    """Whether ``key`` has a value: not absent, ``None`` or empty text."""
    from ..wechatpay.keys import Secret

    value = options.get(key)
    if value is None:
        return False
    if isinstance(value, str):
        return value != ""
    return bool(value) if isinstance(value, Secret) else True


def unknown_keys(options: dict[str, Any], valid: tuple[str, ...] = VALID_KEYS) -> list[str]:
    """Keys of ``options`` that ``WXPAY_MEDIA`` (or, with ``valid``, an account) does not know, in order."""
    return [key for key in options if key not in valid]


def unknown_key_message(key: Any, setting: str = SETTING_NAME, valid: tuple[str, ...] = VALID_KEYS) -> str:
    """An English message for an unknown key, suggesting the closest valid one."""
    text = f"{setting} has an unknown key {key!r}."
    close = difflib.get_close_matches(str(key), valid, n=1)
    if close:
        text += f" Did you mean {close[0]!r}?"
    return text + " Valid keys: " + ", ".join(valid) + "."


def option_problem(name: str, value: Any, setting: str = SETTING_NAME) -> str | None:
    """An English message if ``value`` is not acceptable for option ``name``, else ``None``."""
    rule = OPTION_RULES.get(name)
    if rule is None or rule[1](value):
        return None
    return f"{setting}['{name}'] must be {rule[2]}, not {value!r}."
