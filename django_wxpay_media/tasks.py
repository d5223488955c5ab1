"""Uploads on the site's task workers: Django's tasks framework.

With ``WXPAY_MEDIA['BACKGROUND_UPLOADS']`` on, :func:`~django_wxpay_media.services.upload_stored`
(which the admin add view, the admin action and the form fields go through)
does not upload in the request: once the request's transaction has committed it
enqueues :data:`upload_feedback_image` with each record's primary key on the
task backend (``True``: the ``"default"`` entry of ``TASKS``; a string: that
entry), and a worker uploads it. Staff see the image *queued*, its record
*pending*, and the result on the record's page once the worker is done.

The framework is ``django.tasks`` on Django 6 and later, and the ``django-tasks``
backport on Django 5.2 (``pip install django-wxpay-media[tasks]``); this module
imports only where one of them is installed. Any backend works: the database one
(``django-tasks-db``, with its ``db_worker`` command), RQ (``django-tasks-rq``),
Celery (``django-tasks-celery``), ...

:data:`redrive_uploads` finishes what was left: pending records whose task was
lost, failed ones, and uploads abandoned by a worker that died. Django's tasks
framework has no scheduler, so enqueue it periodically (cron, Celery beat, RQ's
scheduler), or run ``manage.py wxpay_upload --retry-failed`` from cron instead.

Both tasks take primary keys, never the bytes: the file is read from storage by
the worker, checked against the record's sha256. Both are safe to run twice or
at the same time: the service claims a record before sending it (only one
caller wins), and an uploaded record is reused, never sent again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from importlib.util import find_spec
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from . import conf, services

if find_spec("django.tasks") is not None:  # Django 6+
    from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task
else:  # Django 5.2: the backport; an ImportError here means neither is installed
    from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task  # type: ignore[no-redef,assignment,unused-ignore]

__all__ = ["enqueue_uploads", "redrive_uploads", "upload_feedback_image"]

logger = logging.getLogger("django_wxpay_media")


def _decorating_backend() -> str:
    # The task framework looks the backend up when a task is declared, so declare the
    # tasks on the one uploads use: a site whose TASKS has no "default" entry works too.
    try:
        return conf.background_uploads_backend() or DEFAULT_TASK_BACKEND_ALIAS
    except ImproperlyConfigured:  # reported by the system checks; do not break the import
        return DEFAULT_TASK_BACKEND_ALIAS


@task(backend=_decorating_backend())
def upload_feedback_image(image_pk: Any) -> dict[str, Any]:
    """Upload the stored feedback image ``image_pk``; a worker runs this.

    Returns what happened, for the task backend's result: ``{"image": pk,
    "state": "sent" | "reused" | "failed" | "gone" | "busy", "media_id": ...,
    "error_code": ...}``. A failed upload is recorded on the image (and re-driven
    by :data:`redrive_uploads`), so it does not fail the task; bad settings raise
    ``ImproperlyConfigured`` and do.
    """
    outcome = services.upload_queued(image_pk)
    return {"image": image_pk, "state": outcome.state.value, "media_id": outcome.media_id, "error_code": outcome.code}


@task(backend=_decorating_backend())
def redrive_uploads(include_failed: bool = True) -> dict[str, int]:
    """Upload every pending, failed (unless ``include_failed`` is false) and abandoned record.

    What :func:`~django_wxpay_media.services.upload_pending` does, for every merchant
    account in turn, for a scheduler to enqueue periodically. Returns how many
    records ended in each state.
    """
    outcomes = [
        outcome
        for account in conf.account_names()
        for outcome in services.upload_pending(include_failed=include_failed, account=account)
    ]
    return {state.value: count for state, count in Counter(outcome.state for outcome in outcomes).items()}


def enqueue_uploads(image_pks: Iterable[Any], *, backend: str) -> None:
    """Enqueue :data:`upload_feedback_image` for each of ``image_pks`` on the task backend ``backend``.

    Called by :func:`~django_wxpay_media.services.upload_stored` after the
    request's transaction has committed, so that the worker finds the records.
    Raises what the backend raises when it cannot take the tasks.
    """
    upload = upload_feedback_image.using(backend=backend)
    for pk in image_pks:
        result = upload.enqueue(pk)
        logger.info("Queued the upload of FeedbackImage %s on task backend %r (task %s).", pk, backend, result.id)


services.use_task_queue(lambda image_pks, backend: enqueue_uploads(image_pks, backend=backend))
