"""The complaint notification URL registered with WeChat Pay."""

from __future__ import annotations

from ... import conf
from ...wechatpay import complaints as wc
from .results import _CALL_ERRORS, Outcome, _failure


def notification_url(url: str | None = None, *, delete: bool = False) -> Outcome:
    """Show (no arguments), set (``url``) or remove (``delete``) the notification URL.

    ``message`` is the URL now registered (empty when none).
    """
    try:
        client = conf.get_client()
        if delete:
            wc.delete_notification_url(client)
            current = None
        elif url:
            current = wc.set_notification_url(client, url)
        else:
            current = wc.get_notification_url(client)
    except _CALL_ERRORS as exc:
        return _failure(exc)
    return Outcome(True, current or "")
