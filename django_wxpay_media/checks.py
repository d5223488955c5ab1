"""System checks for ``WXPAY_MEDIA`` (``manage.py check --tag django_wxpay_media``).

Registered in ``AppConfig.ready()``, so they run when Django runs checks and
never at import time. They decide nothing themselves: each reports one
:class:`~django_wxpay_media.conf.Problem` from
:func:`~django_wxpay_media.conf.configuration_problems`, the same rules
``conf.build_client()`` raises on, with its id (never reused) and a hint naming
the exact setting to change. Messages name settings and file paths, never key
material.

Two registrations, so that a fresh project can ``migrate`` before it has keys:

* :func:`check_settings` (every command): a setting that is present but wrong —
  not a dict, an unknown key, a wrong type, both text and path, a key file that
  holds the wrong thing, a bad option or URL. These are wrong in every
  environment and a one-line fix, so they stop ``migrate`` like any other error.
* :func:`check_deployment` (``check --deploy`` only): configuration that is absent
  or partly filled in — no ``WXPAY_MEDIA``, a required key or key file missing, a
  public key without its id. The first upload raises the same message.

* :func:`check_background_uploads` (every command): ``BACKGROUND_UPLOADS`` on
  without a task framework or a ``TASKS`` entry that loads (E028), or on a backend
  that runs no worker (W003). It needs the task framework, so it is not one of
  ``conf``'s rules; its ids are listed there all the same.

Ids and what each reports: :data:`~django_wxpay_media.conf.CHECK_IDS`.
Deploy-only (missing): E001, E004, E005, E006, E008, E011, E012, E014, E016.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from django.conf import settings
from django.core import checks

from . import conf
from .conf import MAX_IMAGES_PER_REPLY, is_loopback_url

__all__ = [
    "MAX_IMAGES_PER_REPLY",
    "TAG",
    "check_background_uploads",
    "check_deployment",
    "check_settings",
    "is_loopback_url",
]

TAG = conf.CHECK_TAG


def _message(problem: conf.Problem) -> checks.CheckMessage:
    kind = checks.Error if problem.is_error else checks.Warning
    return kind(problem.message, hint=problem.hint, id=problem.check_id)


@checks.register(TAG)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every setting in ``WXPAY_MEDIA`` that is present but wrong (run by every command)."""
    return [_message(problem) for problem in conf.configuration_problems() if not problem.missing]


@checks.register(TAG, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """What ``WXPAY_MEDIA`` still lacks before uploads can work (``check --deploy``)."""
    return [_message(problem) for problem in conf.configuration_problems() if problem.missing]


#: Task backends that do not run uploads on a worker: in the request, or never.
_NOT_A_WORKER = {
    "ImmediateBackend": "runs each task at once, in the request, as if BACKGROUND_UPLOADS were off",
    "DummyBackend": "never runs a task, so images would stay pending",
}


@checks.register(TAG)
def check_background_uploads(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``WXPAY_MEDIA['BACKGROUND_UPLOADS']`` on needs a task framework and a backend that runs tasks."""
    return [_message(problem) for problem in background_upload_problems()]


def background_upload_problems() -> list[conf.Problem]:
    """E028 and W003 (see :func:`check_background_uploads`); E027, a wrong value, is ``conf``'s."""
    options = conf.user_settings()
    if not isinstance(options, dict):
        return []
    value = options.get("BACKGROUND_UPLOADS")
    if value is None or value is False or conf.option_problem("BACKGROUND_UPLOADS", value):
        return []
    alias = "default" if value is True else value
    hint = (
        "Install a task framework (Django 6's django.tasks, or pip install 'django-wxpay-media[tasks]' on "
        "Django 5.2), add a worker backend to TASKS (e.g. django_tasks_db.DatabaseBackend) and run its worker; "
        f"or set {conf.SETTING_NAME}['BACKGROUND_UPLOADS'] = False to upload in the request."
    )
    if find_spec("django.tasks") is not None:
        from django.tasks import task_backends
    elif find_spec("django_tasks") is not None:
        from django_tasks import task_backends  # type: ignore[no-redef,assignment,unused-ignore]
    else:
        return [
            conf.Problem(
                "E028", f"{conf.SETTING_NAME}['BACKGROUND_UPLOADS'] is on, but no task framework is installed.", hint
            )
        ]
    tasks_setting = getattr(settings, "TASKS", None)
    if not isinstance(tasks_setting, dict) or alias not in tasks_setting:
        message = (
            f"{conf.SETTING_NAME}['BACKGROUND_UPLOADS'] = {value!r} enqueues uploads on the task backend {alias!r}, "
            "but TASKS has no such entry."
        )
        return [conf.Problem("E028", message, hint)]
    try:
        backend = task_backends[alias]
    except Exception as exc:  # noqa: BLE001 - ImproperlyConfigured, or an import error from the backend module
        return [
            conf.Problem(
                "E028",
                f"The task backend {alias!r} for {conf.SETTING_NAME}['BACKGROUND_UPLOADS'] cannot be loaded: {exc}",
                hint,
            )
        ]
    problem = _NOT_A_WORKER.get(type(backend).__name__)
    if problem:
        message = f"{conf.SETTING_NAME}['BACKGROUND_UPLOADS'] uses the task backend {alias!r} ({type(backend).__name__}), which {problem}."
        return [conf.Problem("W003", message, hint, level=conf.WARNING)]
    return []
