"""System checks for ``WXPAY_MEDIA`` (``manage.py check --tag django_wxpay_media``).

Registered in ``AppConfig.ready()``, so they run when Django runs checks and
never at import time. Each problem has its own id (never reused) and a hint
naming the exact setting to change. Messages name settings and file paths,
never key material.

Ids: E001 setting missing, E002 not a dict, E003 unknown key, E004 MCHID missing,
E005 MERCHANT_SERIAL_NO missing, E006 no private key, E007 PRIVATE_KEY and
PRIVATE_KEY_PATH both set, E008 private key file unreadable, E009 private key not
PEM, E010 private key not RSA-2048, E011 public key without its id, E012 public key
id without a key, E013 WECHATPAY_PUBLIC_KEY and its _PATH both set, E014 public key
file unreadable, E015 public key not an RSA PEM public key, E016 no way to verify
answers (neither public key nor APIV3_KEY), E017 APIV3_KEY not 32 bytes,
E018 API_BASE_URL neither https nor loopback, E019 TIMEOUT, E020 MAX_RETRIES,
E021 RETRY_BACKOFF, E022 CONCURRENCY, E023 MAX_FILES, E024 UPLOAD_TO,
E025 STORAGE, E026 a text setting of the wrong type, E027 BACKGROUND_UPLOADS not
True, False or a TASKS alias, E028 BACKGROUND_UPLOADS on without a usable task
backend; W001 API_BASE_URL is a local sandbox while DEBUG is off, W002 MAX_FILES
above WeChat Pay's 4 images per reply, W003 BACKGROUND_UPLOADS on a backend that
runs tasks in the request (immediate) or never (dummy).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core import checks

from . import conf
from .wechatpay.errors import ConfigurationError
from .wechatpay.keys import load_public_key

TAG = "django_wxpay_media"
S = conf.SETTING_NAME

#: Check ids of the numeric/text options validated by ``conf.OPTION_RULES``.
_OPTION_IDS = {
    "TIMEOUT": "E019",
    "MAX_RETRIES": "E020",
    "RETRY_BACKOFF": "E021",
    "CONCURRENCY": "E022",
    "MAX_FILES": "E023",
    "UPLOAD_TO": "E024",
    "STORAGE": "E025",
    "BACKGROUND_UPLOADS": "E027",
}
_OPTION_EXAMPLES = {
    "TIMEOUT": "10",
    "MAX_RETRIES": "3",
    "RETRY_BACKOFF": "0.5",
    "CONCURRENCY": "4",
    "MAX_FILES": "4",
    "UPLOAD_TO": "'wxpay_media/%Y/%m/'",
    "STORAGE": "'default'",
    "BACKGROUND_UPLOADS": "True",
}
#: Keys whose value is text (or PEM bytes, or a path); anything else is a typo.
_TEXT_TYPES: dict[str, tuple[type, ...]] = {
    "MCHID": (str, int),
    "MERCHANT_SERIAL_NO": (str,),
    "PRIVATE_KEY": (str, bytes),
    "PRIVATE_KEY_PATH": (str, os.PathLike),
    "WECHATPAY_PUBLIC_KEY": (str, bytes),
    "WECHATPAY_PUBLIC_KEY_PATH": (str, os.PathLike),
    "WECHATPAY_PUBLIC_KEY_ID": (str,),
    "APIV3_KEY": (str, bytes),
}
#: WeChat Pay takes at most this many media_ids in one complaint reply.
MAX_IMAGES_PER_REPLY = 4


def _id(code: str) -> str:
    return f"{TAG}.{code}"


def _error(msg: str, hint: str, code: str) -> checks.Error:
    return checks.Error(msg, hint=hint, id=_id(code))


def _given(options: dict[str, Any], key: str) -> bool:
    value = options.get(key)
    return value is not None and value != ""


def _load_pem(
    options: dict[str, Any], text_key: str, path_key: str, read_error_id: str
) -> tuple[bytes | None, list[checks.CheckMessage]]:
    """The PEM bytes given inline or by path, or the errors that prevent reading them."""
    if _given(options, text_key):
        value = options[text_key]
        return (value.encode("ascii", "replace") if isinstance(value, str) else bytes(value)), []
    if _given(options, path_key):
        path = options[path_key]
        try:
            with open(path, "rb") as fh:
                return fh.read(), []
        except (OSError, TypeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            return None, [
                _error(
                    f"{S}['{path_key}'] = {str(path)!r} cannot be read: {reason}.",
                    f"Point {S}['{path_key}'] at a file this process can read, or give the PEM text as {S}['{text_key}'].",
                    read_error_id,
                )
            ]
    return None, []


def _check_required(options: dict[str, Any]) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    if not _given(options, "MCHID"):
        found.append(
            _error(
                f"{S}['MCHID'] is missing.", f"Add {S}['MCHID'] = '1900000001' (your merchant number, 商户号).", "E004"
            )
        )
    if not _given(options, "MERCHANT_SERIAL_NO"):
        found.append(
            _error(
                f"{S}['MERCHANT_SERIAL_NO'] is missing.",
                f"Add {S}['MERCHANT_SERIAL_NO'] = '...' (the serial number of your merchant API certificate).",
                "E005",
            )
        )
    return found


def _check_types(options: dict[str, Any]) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    for key, types in _TEXT_TYPES.items():
        value = options.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            found.append(
                _error(
                    f"{S}['{key}'] must be text, not {type(value).__name__}.",
                    f"Write {S}['{key}'] as a string in settings.py.",
                    "E026",
                )
            )
    return found


def _check_private_key(options: dict[str, Any]) -> list[checks.CheckMessage]:
    text, path = _given(options, "PRIVATE_KEY"), _given(options, "PRIVATE_KEY_PATH")
    if not text and not path:
        return [
            _error(
                f"{S} has no merchant private key.",
                f"Add {S}['PRIVATE_KEY_PATH'] = '/path/to/apiclient_key.pem' (or the PEM text as {S}['PRIVATE_KEY']).",
                "E006",
            )
        ]
    if text and path:
        return [
            _error(
                f"{S} sets both PRIVATE_KEY and PRIVATE_KEY_PATH.",
                f"Keep only one of {S}['PRIVATE_KEY'] and {S}['PRIVATE_KEY_PATH'].",
                "E007",
            )
        ]
    pem, found = _load_pem(options, "PRIVATE_KEY", "PRIVATE_KEY_PATH", "E008")
    if pem is None:
        return found
    where = f"{S}['PRIVATE_KEY_PATH']" if path else f"{S}['PRIVATE_KEY']"
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # The parser's own message is not shown: it might quote part of the key.
        return [
            _error(
                f"The merchant private key in {where} is not an unencrypted PEM private key.",
                f"Set {where} to the merchant API private key, apiclient_key.pem, as downloaded.",
                "E009",
            )
        ]
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != 2048:
        kind = f"RSA-{key.key_size}" if isinstance(key, rsa.RSAPrivateKey) else type(key).__name__.lstrip("_")
        return [
            _error(
                f"The merchant private key in {where} must be RSA-2048, not {kind}.",
                f"Set {where} to the merchant API private key (apiclient_key.pem), which WeChat Pay issues as RSA-2048.",
                "E010",
            )
        ]
    return []


def _check_verification(options: dict[str, Any]) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    text, path = _given(options, "WECHATPAY_PUBLIC_KEY"), _given(options, "WECHATPAY_PUBLIC_KEY_PATH")
    has_key, has_id = text or path, _given(options, "WECHATPAY_PUBLIC_KEY_ID")
    if has_key and not has_id:
        found.append(
            _error(
                f"{S} has a WeChat Pay public key but no WECHATPAY_PUBLIC_KEY_ID.",
                f"Add {S}['WECHATPAY_PUBLIC_KEY_ID'] = 'PUB_KEY_ID_...' (shown next to the key on the merchant platform).",
                "E011",
            )
        )
    if has_id and not has_key:
        found.append(
            _error(
                f"{S} has WECHATPAY_PUBLIC_KEY_ID but no WeChat Pay public key.",
                f"Add {S}['WECHATPAY_PUBLIC_KEY_PATH'] = '/path/to/pub_key.pem' (or the PEM text as {S}['WECHATPAY_PUBLIC_KEY']).",
                "E012",
            )
        )
    if text and path:
        found.append(
            _error(
                f"{S} sets both WECHATPAY_PUBLIC_KEY and WECHATPAY_PUBLIC_KEY_PATH.",
                f"Keep only one of {S}['WECHATPAY_PUBLIC_KEY'] and {S}['WECHATPAY_PUBLIC_KEY_PATH'].",
                "E013",
            )
        )
    elif has_key:
        pem, read_errors = _load_pem(options, "WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_PATH", "E014")
        found.extend(read_errors)
        if pem is not None and not _is_rsa_public_key(pem):
            where = f"{S}['WECHATPAY_PUBLIC_KEY_PATH']" if path else f"{S}['WECHATPAY_PUBLIC_KEY']"
            found.append(
                _error(
                    f"The WeChat Pay public key in {where} is not an RSA public key in PEM format.",
                    f"Set {where} to the WeChat Pay public key (pub_key.pem) downloaded from the merchant platform.",
                    "E015",
                )
            )
    apiv3 = options.get("APIV3_KEY")
    if not has_key and not _given(options, "APIV3_KEY"):
        found.append(
            _error(
                f"{S} gives no way to verify WeChat Pay's answers.",
                f"Add {S}['WECHATPAY_PUBLIC_KEY_PATH'] with {S}['WECHATPAY_PUBLIC_KEY_ID'] (WeChat Pay public key), "
                f"or {S}['APIV3_KEY'] (platform certificates).",
                "E016",
            )
        )
    if isinstance(apiv3, (str, bytes)) and apiv3:
        length = len(apiv3.encode("utf-8") if isinstance(apiv3, str) else apiv3)
        if length != 32:
            found.append(
                _error(
                    f"{S}['APIV3_KEY'] is {length} bytes long; an APIv3 key is 32 bytes.",
                    f"Copy {S}['APIV3_KEY'] again from the merchant platform (API安全 → APIv3密钥).",
                    "E017",
                )
            )
    return found


def _is_rsa_public_key(pem: bytes) -> bool:
    try:
        load_public_key(pem)  # the client's own loader: what passes here works there
    except ConfigurationError:
        return False
    return True


def is_loopback_url(url: str) -> bool:
    """True for ``http(s)://`` URLs on this machine (127.0.0.0/8, ``localhost``, ``[::1]``)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(options: dict[str, Any]) -> list[checks.CheckMessage]:
    url = options.get("API_BASE_URL")
    if url is None:
        return []
    parts = None
    if isinstance(url, str):
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
    ok = (
        parts is not None
        and parts.hostname
        and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(url)))
    )
    if not ok:
        return [
            _error(
                f"{S}['API_BASE_URL'] = {url!r} is neither an https URL nor a local sandbox.",
                f"Remove {S}['API_BASE_URL'] to use https://api.mch.weixin.qq.com; plain http is only "
                "allowed on loopback (http://127.0.0.1, http://localhost, http://[::1]) for the sandbox.",
                "E018",
            )
        ]
    if is_loopback_url(url) and not settings.DEBUG:
        return [
            checks.Warning(
                f"{S}['API_BASE_URL'] = {url!r} points at this machine (a sandbox), not WeChat Pay, while DEBUG is off.",
                hint=f"Remove {S}['API_BASE_URL'] in production; media_ids from a sandbox are useless to WeChat Pay.",
                id=_id("W001"),
            )
        ]
    return []


def _check_options(options: dict[str, Any]) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    for name, code in _OPTION_IDS.items():
        if options.get(name) is None:
            continue
        problem = conf.option_problem(name, options[name])
        if problem:
            found.append(_error(problem, f"Set {S}['{name}'] to e.g. {_OPTION_EXAMPLES[name]}, or remove it.", code))
    storage = options.get("STORAGE")
    if isinstance(storage, str) and storage and storage not in settings.STORAGES:
        found.append(
            _error(
                f"{S}['STORAGE'] = {storage!r} is not an entry in STORAGES.",
                f"Set {S}['STORAGE'] to one of: {', '.join(settings.STORAGES)} (or add {storage!r} to STORAGES).",
                "E025",
            )
        )
    max_files = options.get("MAX_FILES")
    if (
        conf.option_problem("MAX_FILES", max_files) is None
        and max_files is not None
        and max_files > MAX_IMAGES_PER_REPLY
    ):
        found.append(
            checks.Warning(
                f"{S}['MAX_FILES'] = {max_files}, but a WeChat Pay complaint reply carries at most {MAX_IMAGES_PER_REPLY} images.",
                hint=f"Set {S}['MAX_FILES'] to {MAX_IMAGES_PER_REPLY} or less.",
                id=_id("W002"),
            )
        )
    return found


@checks.register(TAG)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every problem with ``WXPAY_MEDIA`` that would stop or endanger uploads."""
    options = conf.user_settings()
    if options is None:
        return [
            _error(
                f"The {S} setting is missing.",
                f"Add {S} = {{'MCHID': ..., 'MERCHANT_SERIAL_NO': ..., 'PRIVATE_KEY_PATH': ..., "
                "'WECHATPAY_PUBLIC_KEY_PATH': ..., 'WECHATPAY_PUBLIC_KEY_ID': ...} to settings.py.",
                "E001",
            )
        ]
    if not isinstance(options, dict):
        return [
            _error(f"{S} must be a dict, not {type(options).__name__}.", f"Write {S} = {{...}} in settings.py.", "E002")
        ]
    found: list[checks.CheckMessage] = []
    for key in conf.unknown_keys(options):
        found.append(_error(conf.unknown_key_message(key), f"Remove or rename {S}[{key!r}].", "E003"))
    found.extend(_check_required(options))
    type_errors = _check_types(options)
    found.extend(type_errors)
    if not type_errors:  # key checks assume text; a wrong type was reported already
        found.extend(_check_private_key(options))
        found.extend(_check_verification(options))
    found.extend(_check_base_url(options))
    found.extend(_check_options(options))
    return found


#: Task backends that do not run uploads on a worker: in the request, or never.
_NOT_A_WORKER = {
    "ImmediateBackend": "runs each task at once, in the request, as if BACKGROUND_UPLOADS were off",
    "DummyBackend": "never runs a task, so images would stay pending",
}


@checks.register(TAG)
def check_background_uploads(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``WXPAY_MEDIA['BACKGROUND_UPLOADS']`` on needs a task framework and a backend that runs tasks."""
    options = conf.user_settings()
    if not isinstance(options, dict):
        return []
    value = options.get("BACKGROUND_UPLOADS")
    if value in (None, False) or conf.option_problem("BACKGROUND_UPLOADS", value):
        return []  # off, or a wrong value (E027)
    alias = "default" if value is True else value
    hint = (
        "Install a task framework (Django 6's django.tasks, or pip install 'django-wxpay-media[tasks]' on "
        "Django 5.2), add a worker backend to TASKS (e.g. django_tasks_db.DatabaseBackend) and run its worker; "
        f"or set {S}['BACKGROUND_UPLOADS'] = False to upload in the request."
    )
    if importlib.util.find_spec("django.tasks") is not None:
        from django.tasks import task_backends
    elif importlib.util.find_spec("django_tasks") is not None:
        from django_tasks import task_backends  # type: ignore[no-redef,assignment,unused-ignore]
    else:
        return [_error(f"{S}['BACKGROUND_UPLOADS'] is on, but no task framework is installed.", hint, "E028")]
    tasks_setting = getattr(settings, "TASKS", None)
    if not isinstance(tasks_setting, dict) or alias not in tasks_setting:
        return [
            _error(
                f"{S}['BACKGROUND_UPLOADS'] = {value!r} enqueues uploads on the task backend {alias!r}, "
                "but TASKS has no such entry.",
                hint,
                "E028",
            )
        ]
    try:
        backend = task_backends[alias]
    except Exception as exc:  # noqa: BLE001 - ImproperlyConfigured, or an import error from the backend module
        return [
            _error(f"The task backend {alias!r} for {S}['BACKGROUND_UPLOADS'] cannot be loaded: {exc}", hint, "E028")
        ]
    problem = _NOT_A_WORKER.get(type(backend).__name__)
    if problem:
        return [
            checks.Warning(
                f"{S}['BACKGROUND_UPLOADS'] uses the task backend {alias!r} ({type(backend).__name__}), which {problem}.",
                hint=hint,
                id=_id("W003"),
            )
        ]
    return []
