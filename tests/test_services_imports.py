"""The services package has no import cycle, not even through a function-level import.

A graph of every ``import`` in the package (module level and inside functions),
read from the source: a cycle through the services or the tasks that run them fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import django_wxpay_media

PACKAGE = Path(django_wxpay_media.__file__).parent
ROOT = "django_wxpay_media"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import tasks`
    return {module for module in found if module in known and module != name}


def cycles_through(graph: dict[str, set[str]], start: str) -> list[list[str]]:
    """Every simple path from ``start`` back to itself (depth-first)."""
    found: list[list[str]] = []
    stack = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                found.append([*path, start])
            elif nxt not in path:
                stack.append((nxt, [*path, nxt]))
    return found


def test_the_graph_sees_function_level_imports():
    graph = {name: imports_of(name, path, set(modules())) for name, path in modules().items()}
    assert f"{ROOT}.services" in graph[f"{ROOT}.tasks"]
    assert f"{ROOT}.services.api" in graph[f"{ROOT}.services"]


def test_no_import_cycle_through_the_services_or_the_tasks():
    known = modules()
    graph = {name: imports_of(name, path, set(known)) for name, path in known.items()}
    starts = [name for name in known if name.startswith(f"{ROOT}.services") or name == f"{ROOT}.tasks"]
    cycles = [cycle for start in starts for cycle in cycles_through(graph, start)]
    assert cycles == []
