"""The one place that reads the ``WXPAY_MEDIA`` setting and decides what is wrong with it.

Everything else asks this module: :func:`get_setting` for a value (defaults
merged, unknown keys rejected like django-storages does), :func:`get_client` for
the WeChat Pay client (built lazily from the settings, cached, and dropped when
``WXPAY_MEDIA`` changes), :func:`get_storage` for where files are kept, and
:func:`configuration_problems` / :func:`is_configured` for what is missing or
wrong. Every rule is written once, here (key rules in ``wechatpay/keys.py``):
the system checks in :mod:`.checks` report the same :class:`Problem` values
that :func:`build_client` raises.

Nothing here touches key material at import time; keys are read once per change
of the setting, the first time a client or a check needs them, and error messages name settings and paths, never key text.
Key text read from settings or files is wrapped in
:class:`~django_wxpay_media.wechatpay.keys.Secret` at once, and the functions
that handle it are marked ``sensitive_variables``, so neither a debug page nor
an error e-mail can show it.

The package, one job per module: :mod:`.schema` (the keys, defaults and value
rules), :mod:`.problems` (the check ids, :class:`Problem` and the rules that
find them), :mod:`.keys` (key loading), :mod:`.accounts` (one merchant account's judged
settings as a value), :mod:`.registry` (every account of the site judged), :mod:`.reading` (the setting judged once per change),
:mod:`.client` (the shared client) and :mod:`.storage`. Import from here.
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import empty

from . import client as _client_module
from .accounts import DEFAULT_ACCOUNT, AccountSettings, account_settings, judge_account
from .client import build_client, get_client, reset_client, upload_timeout
from .problems import (
    CHECK_IDS,
    ERROR,
    WARNING,
    ConfigurationProblem,
    Problem,
    is_allowed_base_url,
    is_loopback_url,
)
from .reading import (
    JudgedSetting,
    account_names,
    accounts,
    background_notifications_backend,
    background_uploads_backend,
    configuration_problems,
    forget,
    get_account,
    get_mchid,
    get_setting,
    get_settings,
    is_configured,
    judged,
)
from .schema import (
    ACCOUNT_KEYS,
    CHECK_TAG,
    DEFAULT_API_BASE_URL,
    DEFAULTS,
    MAX_IMAGES_PER_REPLY,
    OPTION_RULES,
    REQUIRED_IDS,
    SECRET_KEYS,
    SETTING_NAME,
    TEXT_TYPES,
    VALID_KEYS,
    option_problem,
    unknown_key_message,
    unknown_keys,
    user_settings,
)
from .storage import ConfiguredStorage, _storage, get_storage, storage_alias, upload_to

__all__ = [
    "ACCOUNT_KEYS",
    "CHECK_IDS",
    "CHECK_TAG",
    "DEFAULTS",
    "DEFAULT_ACCOUNT",
    "DEFAULT_API_BASE_URL",
    "ERROR",
    "MAX_IMAGES_PER_REPLY",
    "OPTION_RULES",
    "REQUIRED_IDS",
    "SECRET_KEYS",
    "SETTING_NAME",
    "TEXT_TYPES",
    "VALID_KEYS",
    "WARNING",
    "AccountSettings",
    "ConfigurationProblem",
    "ConfiguredStorage",
    "JudgedSetting",
    "Problem",
    "account_names",
    "account_settings",
    "accounts",
    "background_notifications_backend",
    "background_uploads_backend",
    "build_client",
    "configuration_problems",
    "forget",
    "get_account",
    "get_client",
    "get_mchid",
    "get_setting",
    "get_settings",
    "get_storage",
    "is_allowed_base_url",
    "is_configured",
    "is_loopback_url",
    "judge_account",
    "judged",
    "option_problem",
    "reset_client",
    "storage_alias",
    "unknown_key_message",
    "unknown_keys",
    "upload_timeout",
    "upload_to",
    "user_settings",
]


def __getattr__(name: str) -> Any:
    # The cached client lives in .client; ``conf._client`` still answers (tests read it).
    if name == "_client":
        return _client_module._client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        reset_client()  # forgets the judged setting too
    if setting in ("STORAGES", "DEBUG"):  # E025 and W001 depend on them
        forget()
    if setting in (SETTING_NAME, "STORAGES"):
        _storage._wrapped = empty
