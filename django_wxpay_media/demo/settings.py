"""Settings of the demo site that ``python -m django_wxpay_media demo`` serves.

Everything the site keeps lives in one folder, named by the environment variable
``WXPAY_DEMO_DIR``; the runner (:mod:`django_wxpay_media.demo.runner`) fills it
before Django starts:

``db.sqlite3``
    the database;
``media/``
    the uploaded images;
``keys/``
    the sandbox's throwaway merchant key and WeChat Pay public key (PEM files);
``demo.json``
    ``SECRET_KEY`` and ``WXPAY_MEDIA`` (which names the key files and the
    sandbox's URL, never key text).

While the demo runs, other Django commands can use the same site, e.g.::

    WXPAY_DEMO_DIR=/tmp/wxpay-demo-abc DJANGO_SETTINGS_MODULE=django_wxpay_media.demo.settings \\
        django-admin wxpay_upload receipt.png

(``wxpay_complaints sync`` reads the complaints of the sandbox the demo started.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from django_wxpay_media.demo.runner import DIR_VARIABLE, STATE_FILE

_dir = os.environ.get(DIR_VARIABLE)
if not _dir:
    raise ImproperlyConfigured(
        f"{DIR_VARIABLE} is not set. Start the demo with `python -m django_wxpay_media demo`, "
        f"or set {DIR_VARIABLE} to the folder it printed."
    )
DEMO_DIR = Path(_dir).resolve()
try:
    _state = json.loads((DEMO_DIR / STATE_FILE).read_text(encoding="utf-8"))
except (OSError, ValueError) as exc:
    raise ImproperlyConfigured(
        f"Cannot read {DEMO_DIR / STATE_FILE} ({exc}). Is {DEMO_DIR} a folder made by "
        "`python -m django_wxpay_media demo`?"
    ) from exc

SECRET_KEY = _state["SECRET_KEY"]
# A developer tool on loopback: tracebacks help, and the sandbox URL is allowed (check W001).
DEBUG = os.environ.get("WXPAY_DEMO_DEBUG", "1") != "0"
ALLOWED_HOSTS = ["*"]  # whatever --host the runner listens on

WXPAY_MEDIA = _state["WXPAY_MEDIA"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_wxpay_media",
    # The complaint desk: complaints, the consumer's images, replies, notifications.
    "django_wxpay_media.complaints",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: staff whose browser asks for Chinese get Chinese.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "django_wxpay_media.demo.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DEMO_DIR / "db.sqlite3"),
        "OPTIONS": {
            # The server is threaded and uploads run in worker threads: wait for a lock
            # instead of failing, take the write lock up front, and let readers read
            # while an upload is being recorded.
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The desk's alert e-mails are written as files here, never sent (no mail server needed).
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = str(DEMO_DIR / "mail")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"  # WeChat Pay's merchants, and its timestamps (+08:00)

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = str(DEMO_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
