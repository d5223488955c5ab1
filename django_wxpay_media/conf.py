"""The one place that reads the ``WXPAY_MEDIA`` setting.

Everything else asks this module: :func:`get_setting` for a value (defaults
merged, unknown keys rejected like django-storages does), :func:`get_client` for
the WeChat Pay client (built lazily from the settings, cached, and dropped when
``WXPAY_MEDIA`` changes), :func:`get_storage` for where files are kept.

Nothing here touches key material at import time; keys are read the first time a
client is needed, and error messages name settings and paths, never key text.
"""

from __future__ import annotations

import datetime
import difflib
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver

if TYPE_CHECKING:
    from .wechatpay import WeChatPayClient

SETTING_NAME = "WXPAY_MEDIA"

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
}
VALID_KEYS: tuple[str, ...] = tuple(DEFAULTS)

#: What to write in settings.py for each required key; used in error messages.
REQUIRED_EXAMPLES: dict[str, str] = {
    "MCHID": "'MCHID': '1900000001'  # your merchant number (商户号)",
    "MERCHANT_SERIAL_NO": "'MERCHANT_SERIAL_NO': '...'  # serial number of the merchant API certificate",
}


def _is_number(value: Any) -> bool:
    # bool is an int subclass; True seconds is a typo, not a timeout.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: Rules for the non-secret options: (is the value acceptable?, what it must be).
#: :mod:`.checks` reports them with ids; :func:`get_settings` raises on them.
OPTION_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "TIMEOUT": (lambda v: _is_number(v) and v > 0, "a positive number of seconds"),
    "MAX_RETRIES": (lambda v: _is_int(v) and v >= 0, "a whole number, 0 or more"),
    "RETRY_BACKOFF": (lambda v: _is_number(v) and v >= 0, "a number of seconds, 0 or more"),
    "CONCURRENCY": (lambda v: _is_int(v) and v >= 1, "a whole number, 1 or more"),
    "MAX_FILES": (lambda v: _is_int(v) and v >= 1, "a whole number, 1 or more"),
    "UPLOAD_TO": (lambda v: isinstance(v, str), "a string such as 'wxpay_media/%Y/%m/'"),
    "STORAGE": (lambda v: isinstance(v, str) and bool(v), "the name of an entry in STORAGES"),
    "API_BASE_URL": (lambda v: isinstance(v, str) and bool(v), "a URL such as 'https://api.mch.weixin.qq.com'"),
}


# -- reading settings ----------------------------------------------------------------


def user_settings() -> dict[str, Any] | None:
    """``settings.WXPAY_MEDIA`` as the project wrote it, or ``None`` when it is absent.

    Not validated: for :mod:`.checks`, which reports problems instead of raising.
    """
    value = getattr(settings, SETTING_NAME, None)
    return value


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
    if rule is None or rule[0](value):
        return None
    return f"{SETTING_NAME}['{name}'] must be {rule[1]}, not {value!r}."


def get_settings() -> dict[str, Any]:
    """``WXPAY_MEDIA`` merged over :data:`DEFAULTS`.

    Raises :class:`~django.core.exceptions.ImproperlyConfigured` when the setting is
    not a dict, names an unknown key, or has an option of the wrong type. Required
    keys are checked by :func:`get_setting` instead, so that options such as
    ``STORAGE`` can be read (e.g. to list stored images) before the merchant keys
    are filled in; an absent setting is read as ``{}``.
    """
    options = user_settings()
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ImproperlyConfigured(f"{SETTING_NAME} must be a dict, not {type(options).__name__}.")
    unknown = unknown_keys(options)
    if unknown:
        # The first unknown key is enough to fix; the message lists every valid one.
        raise ImproperlyConfigured(unknown_key_message(unknown[0]))
    merged = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    for name in OPTION_RULES:
        problem = option_problem(name, merged[name])
        if problem:
            raise ImproperlyConfigured(problem)
    return merged


def get_setting(name: str) -> Any:
    """One ``WXPAY_MEDIA`` value, its default if the project did not set it.

    A required key (``MCHID``, ``MERCHANT_SERIAL_NO``) that is missing raises
    :class:`~django.core.exceptions.ImproperlyConfigured` naming exactly what to add.
    """
    if name not in DEFAULTS:
        raise KeyError(f"{name!r} is not a {SETTING_NAME} key")  # a bug in this package, not in settings
    value = get_settings()[name]
    if name in REQUIRED_EXAMPLES and (value is None or value == ""):
        if user_settings() is None:
            raise ImproperlyConfigured(
                f"The {SETTING_NAME} setting is missing. Add to settings.py: {SETTING_NAME} = "
                f"{{{REQUIRED_EXAMPLES['MCHID']}, ...}} with the keys listed in the README."
            )
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['{name}'] is missing. Add it to {SETTING_NAME} in settings.py: {REQUIRED_EXAMPLES[name]}"
        )
    return value


def get_mchid() -> str:
    """The merchant number uploads are made for (``WXPAY_MEDIA['MCHID']``) as text."""
    return str(get_setting("MCHID"))


# -- keys ------------------------------------------------------------------------------


def _read_key_file(option: str, path: Any) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        # The path is configuration, not a secret; the file's content is never quoted.
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['{option}'] = {str(path)!r} cannot be read: {exc.strerror or exc}."
        ) from None


def _pem(options: dict[str, Any], text_key: str, path_key: str) -> str | bytes | None:
    """The PEM given inline under ``text_key`` or in the file named by ``path_key``."""
    text, path = options.get(text_key), options.get(path_key)
    if text and path:
        raise ImproperlyConfigured(
            f"Set either {SETTING_NAME}['{text_key}'] or {SETTING_NAME}['{path_key}'], not both."
        )
    if text:
        return text
    if path:
        return _read_key_file(path_key, path)
    return None


def private_key_pem() -> str | bytes:
    """The merchant private key's PEM, from ``PRIVATE_KEY`` or ``PRIVATE_KEY_PATH``."""
    pem = _pem(get_settings(), "PRIVATE_KEY", "PRIVATE_KEY_PATH")
    if pem is None:
        raise ImproperlyConfigured(
            f"{SETTING_NAME} has no merchant private key. Add {SETTING_NAME}['PRIVATE_KEY_PATH'] = "
            "'/path/to/apiclient_key.pem' (or the PEM text as PRIVATE_KEY) to settings.py."
        )
    return pem


def public_key_pem() -> str | bytes | None:
    """The WeChat Pay public key's PEM, from ``WECHATPAY_PUBLIC_KEY(_PATH)``, or ``None``."""
    return _pem(get_settings(), "WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_PATH")


# -- the client ------------------------------------------------------------------------

_client: WeChatPayClient | None = None
_client_lock = threading.Lock()


def build_client() -> WeChatPayClient:
    """A new :class:`~django_wxpay_media.wechatpay.WeChatPayClient` from ``WXPAY_MEDIA``.

    Prefer :func:`get_client`, which builds one and keeps it.
    """
    # Imported here so that reading settings (and importing models) stays cheap.
    from .wechatpay import WeChatPayClient
    from .wechatpay.errors import ConfigurationError

    options = get_settings()
    mchid = get_mchid()
    serial_no = str(get_setting("MERCHANT_SERIAL_NO"))
    private_key = private_key_pem()
    public_key = public_key_pem()
    public_key_id = options["WECHATPAY_PUBLIC_KEY_ID"]
    apiv3_key = options["APIV3_KEY"]
    if public_key is not None and not public_key_id:
        raise ImproperlyConfigured(
            f"{SETTING_NAME} has a WeChat Pay public key but no WECHATPAY_PUBLIC_KEY_ID. Add "
            f"{SETTING_NAME}['WECHATPAY_PUBLIC_KEY_ID'] = 'PUB_KEY_ID_...' (shown next to the key on the merchant platform)."
        )
    if public_key is None and not apiv3_key:
        raise ImproperlyConfigured(
            f"{SETTING_NAME} gives no way to verify WeChat Pay's answers. Add WECHATPAY_PUBLIC_KEY_PATH with "
            "WECHATPAY_PUBLIC_KEY_ID (WeChat Pay public key mode) or APIV3_KEY (platform certificate mode)."
        )
    try:
        return WeChatPayClient(
            mchid=mchid,
            merchant_serial_no=serial_no,
            private_key=private_key,
            public_key=public_key,
            public_key_id=public_key_id or None,
            apiv3_key=apiv3_key or None,
            base_url=options["API_BASE_URL"],
            timeout=float(options["TIMEOUT"]),
            max_retries=options["MAX_RETRIES"],
            retry_backoff=float(options["RETRY_BACKOFF"]),
        )
    except ConfigurationError as exc:
        # The protocol layer's messages never quote key text; keep them, drop the chain.
        raise ImproperlyConfigured(f"{SETTING_NAME}: {exc}") from None


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


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        reset_client()


def upload_timeout() -> datetime.timedelta:
    """The stale-claim window: longer than one ``client.upload_image()`` call can take.

    The worst case of one call: each of ``MAX_RETRIES + 1`` attempts spends up to
    ``TIMEOUT`` connecting and ``TIMEOUT`` per read, and before each retry the
    client waits its backoff or a ``Retry-After``, at most
    :data:`~django_wxpay_media.wechatpay.client.MAX_RETRY_WAIT` (60 s); in certificate mode a certificate download (another call) may come
    first. A margin (10 %, at least 2 s) covers clocks of different servers. An
    upload still marked as running after this long was abandoned (its process
    died) and a retry may take it over; the claim token keeps a late answer of
    the abandoned attempt from overwriting the record.
    """
    from .wechatpay.client import MAX_RETRY_WAIT

    options = get_settings()
    retries = options["MAX_RETRIES"]
    timeout = float(options["TIMEOUT"])
    # The client caps every wait (backoff or Retry-After) at MAX_RETRY_WAIT.
    call = (retries + 1) * 2 * timeout + retries * MAX_RETRY_WAIT
    if options["APIV3_KEY"]:
        call *= 2  # the certificates may have to be downloaded first, with the same limits
    return datetime.timedelta(seconds=call + max(2.0, 0.1 * call))


# -- storage ---------------------------------------------------------------------------


def storage_alias() -> str:
    """The ``STORAGES`` alias uploaded files are kept in (``WXPAY_MEDIA['STORAGE']``)."""
    return str(get_setting("STORAGE"))


def upload_to() -> str:
    """The ``strftime`` directory template for stored files (``WXPAY_MEDIA['UPLOAD_TO']``)."""
    return str(get_setting("UPLOAD_TO"))


class ConfiguredStorage(Storage):
    """The storage named by ``WXPAY_MEDIA['STORAGE']``, looked up on every use.

    ``FileField`` resolves its storage when models load; forwarding each call keeps
    settings (and ``override_settings`` in tests) out of import time.
    """

    @property
    def backend(self) -> Storage:
        return storages[storage_alias()]

    def __getattr__(self, name: str) -> Any:  # e.g. ``location``, ``base_url``
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.backend, name)

    def open(self, name: str, mode: str = "rb") -> Any:
        return self.backend.open(name, mode)

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        return self.backend.save(name, content, max_length=max_length)

    def get_valid_name(self, name: str) -> str:
        return self.backend.get_valid_name(name)

    def get_alternative_name(self, file_root: str, file_ext: str) -> str:
        return self.backend.get_alternative_name(file_root, file_ext)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return self.backend.get_available_name(name, max_length=max_length)

    def generate_filename(self, filename: str | os.PathLike[str]) -> str:
        return self.backend.generate_filename(filename)

    def path(self, name: str) -> str:
        return self.backend.path(name)

    def delete(self, name: str) -> None:
        self.backend.delete(name)

    def exists(self, name: str) -> bool:
        return self.backend.exists(name)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        return self.backend.listdir(path)

    def size(self, name: str) -> int:
        return self.backend.size(name)

    def url(self, name: str | None) -> str:
        return self.backend.url(name)

    def get_accessed_time(self, name: str) -> datetime.datetime:
        return self.backend.get_accessed_time(name)

    def get_created_time(self, name: str) -> datetime.datetime:
        return self.backend.get_created_time(name)

    def get_modified_time(self, name: str) -> datetime.datetime:
        return self.backend.get_modified_time(name)


_storage = ConfiguredStorage()


def get_storage() -> Storage:
    """Storage for ``FeedbackImage.file``; a callable so migrations do not freeze it."""
    return _storage
