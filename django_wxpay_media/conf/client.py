"""The shared WeChat Pay clients, one per merchant account, built once from ``WXPAY_MEDIA`` and
dropped when it changes."""

from __future__ import annotations

import datetime
import threading
from typing import TYPE_CHECKING

from django.views.decorators.debug import sensitive_variables

from .accounts import DEFAULT_ACCOUNT
from .reading import JudgedSetting, forget, get_settings, judged

if TYPE_CHECKING:
    from ..wechatpay import WeChatPayClient

_client: WeChatPayClient | None = None  # the default account's (tests read it)
_clients: dict[str, WeChatPayClient] = {}  # the other accounts', by name
_client_lock = threading.Lock()
#: upload_timeout() for the judged setting it was computed from.
_timeout: tuple[JudgedSetting, datetime.timedelta] | None = None


@sensitive_variables()
def build_client(account: str | None = None) -> WeChatPayClient:
    """A new :class:`~django_wxpay_media.wechatpay.WeChatPayClient` for merchant account ``account``
    (``None``: the default one, ``WXPAY_MEDIA`` itself).

    Raises :class:`ConfigurationProblem` (an ``ImproperlyConfigured``) for the
    account's first error, its message ending in the check id. Prefer
    :func:`get_client`, which builds one and keeps it.
    """
    return judged().account_named(account or DEFAULT_ACCOUNT).build_client()


@sensitive_variables()
def get_client(account: str | None = None) -> WeChatPayClient:
    """The shared WeChat Pay client of merchant account ``account`` (``None``: the default), built on first use.

    Keys are read once, here, not at import time. The cached clients are dropped when
    ``WXPAY_MEDIA`` changes (Django's ``setting_changed``, e.g. ``override_settings``).
    Raises :class:`~django.core.exceptions.ImproperlyConfigured` for bad settings or
    an unknown account.
    """
    global _client
    name = account or DEFAULT_ACCOUNT
    client = _client if name == DEFAULT_ACCOUNT else _clients.get(name)
    if client is not None:
        return client
    with _client_lock:
        if name == DEFAULT_ACCOUNT:
            if _client is None:
                _client = build_client()
            return _client
        if name not in _clients:
            _clients[name] = build_client(name)
        return _clients[name]


def reset_client() -> None:
    """Forget the cached clients (closing their connections) and the judged setting; the next use rebuilds them."""
    global _client
    forget()
    with _client_lock:
        clients = [_client, *_clients.values()]
        _client = None
        _clients.clear()
    for client in clients:
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
    global _timeout
    current, cached = judged(), _timeout
    if cached is not None and cached[0] is current:  # asked per row (FeedbackImage.is_stale): computed once
        return cached[1]
    from ..wechatpay.client import default_deadline

    options = get_settings()
    timeout = float(options["TIMEOUT"])
    longest_call = default_deadline(timeout, options["MAX_RETRIES"], float(options["RETRY_BACKOFF"])) + timeout
    window = datetime.timedelta(seconds=longest_call + max(2.0, 0.1 * longest_call))
    _timeout = (current, window)
    return window
