"""A throwaway Django project for the benchmark: a fresh database, media in a temporary folder.

The database is a SQLite file by default (nothing to set up); ``postgres`` and
``mariadb`` use the servers the test suite uses (127.0.0.1, see
``tests/settings.py``) with a database created for this run and dropped after.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DATABASES = ("sqlite", "postgres", "mariadb")
_created: list[tuple[str, str]] = []


def _database(kind: str, workdir: Path) -> dict[str, Any]:
    name = f"wxpay_bench_{os.getpid()}"
    if kind == "sqlite":
        # CONCURRENCY worker threads write to one file: wait for the lock, do not fail. WAL with
        # synchronous=NORMAL, as SQLite recommends for concurrent writers: a commit is not an fsync
        # (on this shared disk one took up to tens of ms, and the batches measured the disk).
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(workdir / "db.sqlite3"),
            "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        }
    if kind == "postgres":
        import psycopg

        user = os.environ.get("PGUSER", "postgres")
        with psycopg.connect(host="127.0.0.1", port=5432, user=user, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        _created.append((kind, name))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": user,
            "HOST": "127.0.0.1",
            "PORT": "5432",
        }
    if kind == "mariadb":
        import MySQLdb

        conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", passwd="")
        try:
            conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            conn.close()
        _created.append((kind, name))
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "USER": "root",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": "3306",
            "OPTIONS": {"charset": "utf8mb4"},
        }
    raise ValueError(f"database must be one of {', '.join(DATABASES)}, not {kind!r}")


def drop_databases() -> None:
    """Drop the server databases this process created (SQLite goes with the folder)."""
    from django.db import connections

    connections.close_all()
    while _created:
        kind, name = _created.pop()
        if kind == "postgres":
            import psycopg

            user = os.environ.get("PGUSER", "postgres")
            with psycopg.connect(host="127.0.0.1", port=5432, user=user, dbname="postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            import MySQLdb

            conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", passwd="")
            try:
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
            finally:
                conn.close()


def configure(workdir: Path, wxpay: dict[str, Any], database: str = "sqlite") -> None:
    """Configure settings, set Django up and migrate a fresh ``database`` (files in ``workdir``)."""
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
        DATABASES={"default": _database(database, workdir)},
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
