"""``tests.settings`` with a real task backend: ``django-tasks-db`` and its ``db_worker``.

For ``test_tasks_worker.py``, on PostgreSQL::

    WXPAY_TEST_DB=postgres python -m pytest --ds=tests.settings_tasks tests/test_tasks_worker.py

The worker process that test starts uses these settings too; ``WXPAY_TEST_WORKER``
names a JSON file with what it must share with the test: the *test* database,
the media folder and ``WXPAY_MEDIA`` (key file paths, never key text).
"""

import json
import os
from importlib.util import find_spec

from .settings import *  # noqa: F403
from .settings import DATABASES, INSTALLED_APPS

# Django 6 has django.tasks built in; on 5.2 the backport is an app of its own.
_BACKPORT = [] if find_spec("django.tasks") is not None else ["django_tasks"]
INSTALLED_APPS = [*INSTALLED_APPS, *_BACKPORT, "django_tasks_db"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

_WORKER = os.environ.get("WXPAY_TEST_WORKER")
if _WORKER:
    with open(_WORKER, encoding="utf-8") as _fh:
        _shared = json.load(_fh)
    DATABASES["default"]["NAME"] = _shared["db_name"]
    MEDIA_ROOT = _shared["media_root"]
    WXPAY_MEDIA = _shared["wxpay_media"]
