"""A throwaway Django project for the benchmark: a fresh database, media in a temporary folder.

The database is a SQLite file by default (nothing to set up); ``postgres`` and
``mariadb`` use the servers the test suite uses (``tests/project.py``) with a database
created for this run and dropped after.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests import project

DATABASES = ("sqlite", "postgres", "mariadb")
_created: list[tuple[str, str]] = []


def _on_server(kind: str, sql: str) -> None:
    """Run ``sql`` (CREATE/DROP DATABASE) on the ``kind`` server, outside any transaction."""
    db = project.server_database(kind, "postgres")  # PostgreSQL's maintenance database; MariaDB takes none
    if kind == "postgres":
        import psycopg

        with psycopg.connect(
            host=db["HOST"], port=int(db["PORT"]), user=db["USER"], dbname=db["NAME"], autocommit=True
        ) as conn:
            conn.execute(sql)
        return
    import MySQLdb

    conn = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], passwd=db["PASSWORD"])
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def _database(kind: str, workdir: Path) -> dict[str, Any]:
    if kind == "sqlite":
        # CONCURRENCY worker threads write to one file: wait for the lock, do not fail. WAL with
        # synchronous=NORMAL, as SQLite recommends for concurrent writers: a commit is not an fsync
        # (on this shared disk one took up to tens of ms, and the batches measured the disk).
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(workdir / "db.sqlite3"),
            "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        }
    if kind not in project.SERVERS:
        raise ValueError(f"database must be one of {', '.join(DATABASES)}, not {kind!r}")
    name = f"wxpay_bench_{os.getpid()}"
    create = (
        f'CREATE DATABASE "{name}"'
        if kind == "postgres"
        else f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    _on_server(kind, create)
    _created.append((kind, name))
    return project.server_database(kind, name)


def drop_databases() -> None:
    """Drop the server databases this process created (SQLite goes with the folder)."""
    from django.db import connections

    connections.close_all()
    while _created:
        kind, name = _created.pop()
        drop = (
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            if kind == "postgres"
            else f"DROP DATABASE IF EXISTS `{name}`"
        )
        _on_server(kind, drop)


def configure(
    workdir: Path, wxpay: dict[str, Any], database: str = "sqlite", *, conn_max_age: int = 0, **extra: Any
) -> None:
    """Configure settings, set Django up and migrate a fresh ``database`` (files in ``workdir``).

    ``extra`` settings are added (``INSTALLED_APPS`` there are appended to the project's);
    ``conn_max_age``: how long a thread keeps its database connection (``CONN_MAX_AGE``).
    """
    import django
    from django.conf import settings
    from django.core.management import call_command

    apps = extra.pop("INSTALLED_APPS", [])
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
            "django_wxpay_media.complaints",
            *apps,
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        ROOT_URLCONF="benchmarks.urls",
        TEMPLATES=project.TEMPLATES,
        DATABASES={"default": {**_database(database, workdir), "CONN_MAX_AGE": conn_max_age}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        MEDIA_ROOT=str(workdir / "media"),
        MEDIA_URL="/media/",
        STORAGES=project.STORAGES,
        PASSWORD_HASHERS=project.PASSWORD_HASHERS,
        EMAIL_BACKEND="benchmarks.mail.RenderingBackend",
        WXPAY_MEDIA=wxpay,
        **extra,
    )
    django.setup()
    call_command("migrate", verbosity=0)
