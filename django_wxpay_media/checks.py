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

Ids and what each reports: :data:`~django_wxpay_media.conf.CHECK_IDS`.
Deploy-only (missing): E001, E004, E005, E006, E008, E011, E012, E014, E016.
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from . import conf
from .conf import MAX_IMAGES_PER_REPLY, is_loopback_url

__all__ = ["MAX_IMAGES_PER_REPLY", "TAG", "check_deployment", "check_settings", "is_loopback_url"]

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
