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
    "BACKGROUND_NOTIFICATIONS": (
        "E033",
        lambda v: isinstance(v, bool) or (isinstance(v, str) and bool(v)),
        "True, False or the alias of an entry in TASKS",
        "True",
    ),
    "COMPLAINT_REPLY_HOURS": ("E029", lambda v: _is_number(v) and v > 0, "a positive number of hours", "24"),
    "COMPLAINT_COMPLETE_HOURS": ("E030", lambda v: _is_number(v) and v > 0, "a positive number of hours", "72"),
    "COMPLAINT_DUE_SOON_HOURS": ("E031", lambda v: _is_number(v) and v >= 0, "a number of hours, 0 or more", "6"),
    "COMPLAINT_ALERT_EMAILS": (
        "E032",
        lambda v: isinstance(v, (list, tuple)) and all(isinstance(a, str) and "@" in a for a in v),
        "a list of e-mail addresses",
        "['desk@example.com']",
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
    return {
        key: Secret(value) if key in SECRET_KEYS and isinstance(value, (str, bytes)) else value
        for key, value in options.items()
    }


def _given(options: dict[str, Any], key: str) -> bool:
    """Whether ``key`` has a value: not absent, ``None`` or empty text."""
    from ..wechatpay.keys import Secret

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


def option_problem(name: str, value: Any, setting: str = SETTING_NAME) -> str | None:
    """An English message if ``value`` is not acceptable for option ``name``, else ``None``."""
    rule = OPTION_RULES.get(name)
    if rule is None or rule[1](value):
        return None
    return f"{setting}['{name}'] must be {rule[2]}, not {value!r}."
