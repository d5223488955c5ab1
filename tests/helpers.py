"""Helpers shared by the test modules, each defined once: bounded fuzzing, waiting, key text."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, settings


def fuzz(examples: int) -> settings:
    """Bounded property runs: a fixed number of cases, no per-case deadline, no example database.

    No deadline: speed is measured in ``benchmarks/``, never asserted by a test.
    Function-scoped fixtures are shared by the examples on purpose (a sandbox, a
    settings override); each property resets what it needs.
    """
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def wait_for(
    condition: Callable[[], object],
    what: str,
    *,
    seconds: float = 60.0,
    still_possible: Callable[[], None] | None = None,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition()`` until it is true; fail after ``seconds``, which only bound a hang.

    Not a timing assertion. ``still_possible()`` may raise at once when the
    condition can no longer come true (a worker process exited); ``explain()``
    adds what to read when giving up (the worker's output).
    """
    deadline = time.monotonic() + seconds
    pause = threading.Event()  # never set: a wait that nothing else can shorten
    while time.monotonic() < deadline:
        if condition():
            return
        if still_possible is not None:
            still_possible()
        pause.wait(0.05)
    raise AssertionError(f"gave up waiting for {what}" + (f":\n{explain()}" if explain is not None else ""))


def private_pem(key) -> str:
    """A private key object as unencrypted PKCS#8 PEM text (throwaway test keys only)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key) -> str:
    """A public key object as SubjectPublicKeyInfo PEM text."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def throwaway_keys() -> dict[str, str]:
    """A fresh set of key texts for configuration tests, each made now: nothing here is a real secret.

    ``merchant`` (RSA-2048 private), ``rsa1024`` (too small), ``ec`` (EC private),
    ``public`` (an RSA public key, WeChat Pay's), ``ec_public``, ``apiv3`` (32 characters).
    """
    return {
        "merchant": private_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "rsa1024": private_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "ec": private_pem(ec.generate_private_key(ec.SECP256R1())),
        "public": public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
        "ec_public": public_pem(ec.generate_private_key(ec.SECP256R1()).public_key()),
        "apiv3": secrets.token_hex(16),
    }


def closing_connections(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` for another thread: the database connections it opened are closed when it returns."""
    from django.db import connections

    def run(*args: Any) -> Any:
        try:
            return func(*args)
        finally:
            connections.close_all()

    return run


def in_thread(func: Callable[..., Any], *args: Any) -> Future:
    """Start ``func(*args)`` in another thread with its own database connection; return the future."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(closing_connections(func), *args)
    pool.shutdown(wait=False)
    return future


def idle_in_transaction_sessions() -> list[tuple[Any, ...]]:
    """PostgreSQL sessions of this database idle in a transaction (run it on another connection)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND state LIKE 'idle in transaction%%'"
        )
        return cursor.fetchall()


#: The second direct merchant of the ``upload_shops`` fixture (account ``shop2``).
SHOP2 = "1900000002"
