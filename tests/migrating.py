"""Migration tests' steps: the project at an old state, a migration forward, back to the latest."""

from __future__ import annotations

from typing import Any

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets: list[tuple[str, str]] | None = None) -> None:
    """Migrate to ``targets`` (default: the latest schema, which the rest of the suite expects).

    A fresh executor each time: its loader must see the migrations applied since.
    """
    executor = MigrationExecutor(connection)
    executor.migrate(targets if targets is not None else executor.loader.graph.leaf_nodes())


def apps_at(targets: list[tuple[str, str]]) -> Apps:
    """Migrate to ``targets``; the historical models of that state."""
    migrate(targets)
    apps: Any = MigrationExecutor(connection).loader.project_state(targets).apps
    return apps
