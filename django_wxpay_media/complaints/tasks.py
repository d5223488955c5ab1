"""The complaint desk's reminders on the site's task workers (Django's tasks framework).

:data:`send_complaint_reminders` does what ``manage.py wxpay_complaints remind``
does; Django's tasks framework has no scheduler, so enqueue it periodically (cron,
Celery beat, RQ's scheduler). :data:`refresh_notified_complaint` stores the
complaint of a notification answered at once (``WXPAY_MEDIA['BACKGROUND_NOTIFICATIONS']``). Safe to run twice or at once: each alert is claimed
once (see :mod:`.alerts`). Importable only where ``django.tasks`` (Django 6) or the
``django-tasks`` backport is installed.
"""

from __future__ import annotations

from collections import Counter
from importlib.util import find_spec

if find_spec("django.tasks") is not None:  # Django 6+
    from django.tasks import task
else:  # Django 5.2: the backport; an ImportError here means neither is installed
    from django_tasks import task  # type: ignore[no-redef,unused-ignore]

__all__ = ["refresh_notified_complaint", "send_complaint_reminders"]


@task()
def send_complaint_reminders() -> dict[str, int]:
    """Send the due complaint alerts; returns how many of each event were sent."""
    from . import alerts  # not at import time: alerts imports the models

    return dict(Counter(str(alert.kind) for alert in alerts.remind()))


@task()
def refresh_notified_complaint(notification_pk: int, claim: str, account: str | None = None) -> str:
    """Store the complaint of a notification answered at once (``BACKGROUND_NOTIFICATIONS``); its status.

    The notification is marked handled only once its complaint is stored; a copy
    of this task run twice does the work once (the notification's claim).
    """
    from . import notifications  # not at import time: notifications imports the models

    return str(notifications.handle_queued(notification_pk, claim, account).status)
