"""Settings for the test suite.

The database is chosen by ``WXPAY_TEST_DB``: ``sqlite`` (default), ``postgres``
or ``mariadb`` (the servers DESIGN.md lists on this machine). ``WXPAY_MEDIA`` is
set per test by fixtures that start the sandbox (see ``tests/conftest.py``).
"""

import os
import tempfile
from pathlib import Path

from tests import project

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
USE_I18N = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_wxpay_media",
    "django_wxpay_media.complaints",
    "tests.formexample",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = project.TEMPLATES

_DB = os.environ.get("WXPAY_TEST_DB", "sqlite")
# Separate runs on one machine (say, two checkouts) set WXPAY_TEST_RUN to keep
# their test databases apart; child processes inherit it and share the run's one.
_RUN = os.environ.get("WXPAY_TEST_RUN", "")
if _DB == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(Path(tempfile.gettempdir()) / "wxpay_media_tests.sqlite3"),
            "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"wxpay_media_tests_test{_RUN}.sqlite3")},
        }
    }
elif _DB == "postgres":
    DATABASES = {"default": {**project.server_database(_DB, "test"), "TEST": {"NAME": f"test_wxpay_media{_RUN}"}}}
elif _DB == "mariadb":
    DATABASES = {
        "default": {
            **project.server_database(_DB, "test"),
            "TEST": {"NAME": f"test_wxpay_media{_RUN}", "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        }
    }
else:  # pragma: no cover - a typo in CI should stop the run, not fall back silently
    raise RuntimeError(f"WXPAY_TEST_DB must be sqlite, postgres or mariadb, not {_DB!r}")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = tempfile.mkdtemp(prefix="wxpay_media_tests_media_")
STORAGES = project.STORAGES
PASSWORD_HASHERS = project.PASSWORD_HASHERS  # fast test logins
