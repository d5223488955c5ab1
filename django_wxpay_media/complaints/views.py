"""The notification callback WeChat Pay POSTs complaint events to.

Include ``django_wxpay_media.complaints.urls`` under a path of the site's choosing
and register that HTTPS URL with ``manage.py wxpay_complaints notify-url URL``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import conf
from . import notifications

#: WeChat's notifications are about 1 KB; anything far larger is not one.
MAX_BODY = 64 * 1024


def _deferrer() -> Callable[[int, str, str], None] | None:
    """Enqueue a notification's refresh on the task backend, if ``BACKGROUND_NOTIFICATIONS`` names one."""
    try:
        backend = conf.background_notifications_backend()
    except ImproperlyConfigured:  # reported by the checks; the notification is still handled, here
        return None
    if backend is None:
        return None
    from .tasks import refresh_notified_complaint  # only where a task framework is installed

    def defer(notification_pk: int, claim: str, account: str) -> None:
        refresh_notified_complaint.using(backend=backend).enqueue(notification_pk, claim, account)

    return defer


def _fail(status: int, message: str) -> HttpResponse:
    # WeChat Pay reads {"code": "FAIL", "message": ...} on an error answer and retries.
    body = json.dumps({"code": "FAIL", "message": message})
    return HttpResponse(body, status=status, content_type="application/json")


def _unknown(account: str) -> bool:
    try:
        return account not in conf.account_names()
    except ImproperlyConfigured:  # a broken setting: handle_notification refuses it, and logs why
        return False


@csrf_exempt  # WeChat Pay cannot send a CSRF token; the signature authenticates it
@transaction.non_atomic_requests  # it calls WeChat Pay: no request transaction around that
@require_POST
def notification(request: HttpRequest, account: str | None = None) -> HttpResponse:
    """Verify, de-duplicate and act on one complaint notification; 204 once its complaint is stored.

    ``account`` (from ``notify/<account>/``) names the merchant account it is sent to,
    whose keys verify it; an unknown name is a 404, as for any other wrong URL.
    """
    if account is not None and _unknown(account):
        raise Http404("no such merchant account")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        return _fail(413, "body too large")
    body = request.read(MAX_BODY + 1)  # capped even when Content-Length lies
    if len(body) > MAX_BODY:
        return _fail(413, "body too large")
    outcome = notifications.handle_notification(request.headers, body, account, defer=_deferrer())
    if outcome.ok:  # accepted or queued now, handled before, or about a sub-merchant not handled here
        return HttpResponse(status=204)
    if outcome.status is notifications.NotificationStatus.BUSY:  # another delivery is handling it: come back later
        return _fail(503, "being handled; send it again later")
    if outcome.status is notifications.NotificationStatus.FAILED:
        return _fail(500, "the complaint could not be stored yet; send it again")
    return _fail(401, "notification rejected")
