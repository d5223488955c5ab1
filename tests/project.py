"""What the test suite's settings and the benchmark's throwaway project share.

The database servers on this machine (DESIGN.md: PostgreSQL and MariaDB on 127.0.0.1)
as ``DATABASES`` entries, and the template, storage and password settings of a
plain admin site. Plain data: importing this module configures nothing.
"""

from __future__ import annotations

import os
from typing import Any

#: The database servers, by the names ``WXPAY_TEST_DB`` and the benchmark's ``--database`` use.
SERVERS = ("postgres", "mariadb")


def server_database(kind: str, name: str) -> dict[str, Any]:
    """The ``DATABASES`` entry for database ``name`` on the ``postgres`` or ``mariadb`` server."""
    if kind == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": "127.0.0.1",
            "PORT": "5432",
        }
    if kind == "mariadb":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "USER": "root",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": "3306",
            "OPTIONS": {"charset": "utf8mb4"},
        }
    raise ValueError(f"database server must be one of {', '.join(SERVERS)}, not {kind!r}")


TEMPLATES: list[dict[str, Any]] = [
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

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
