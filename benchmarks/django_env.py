"""A throwaway Django project for the benchmark: SQLite file and media in a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def configure(workdir: Path, wxpay: dict[str, Any]) -> None:
    """Configure settings, set Django up and migrate a fresh database in ``workdir``."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only-not-secret",
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django_wxpay_media",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        ROOT_URLCONF="benchmarks.urls",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(workdir / "db.sqlite3"),
                # CONCURRENCY worker threads write to one file: wait for the lock, do not fail.
                "OPTIONS": {"timeout": 30},
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        MEDIA_ROOT=str(workdir / "media"),
        MEDIA_URL="/media/",
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        WXPAY_MEDIA=wxpay,
    )
    django.setup()
    call_command("migrate", verbosity=0)
