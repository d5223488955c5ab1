"""The package's layers, from its source: no import cycle, no Django in the protocol layer, an independent sandbox.

The import graph is read from the code (every ``import``, including those inside
functions; ``if TYPE_CHECKING:`` blocks are skipped, they never run), so a cycle
hidden in a function-level import fails here like one at the top of a module.
What the protocol layer and the sandbox load is checked by importing each of their
modules in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import django_wxpay_media

PACKAGE = Path(django_wxpay_media.__file__).parent
ROOT = PACKAGE.name


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its code (TYPE_CHECKING aside)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                for statement in child.orelse:  # type: ignore[attr-defined]
                    visit_one(statement)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.update(t for t in [module, *(f"{module}.{a.name}" for a in node.names)] if t in modules)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    # A module's parent packages are imported before it anyway: not an edge of a cycle.
    return {target for target in found if target != name and not name.startswith(target + ".")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(group)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` loads, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_graph_reads_every_kind_of_import():
    graph = _graph()
    # texts asks conf inside a function; apps loads tasks with `from . import tasks`;
    # a package's __init__ re-exports its modules; tasks runs the services.
    assert f"{ROOT}.conf" in graph[f"{ROOT}.texts"]
    assert f"{ROOT}.tasks" in graph[f"{ROOT}.apps"]
    assert f"{ROOT}.services.api" in graph[f"{ROOT}.services"]
    assert f"{ROOT}.services" in graph[f"{ROOT}.tasks"]
    assert f"{ROOT}.complaints.services.actions" in graph[f"{ROOT}.complaints.services"]
    assert f"{ROOT}.wechatpay.errors" in graph[f"{ROOT}.exceptions"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _reachable({"a": {"b"}, "b": {"c"}, "c": set()}, "a") == {"b", "c"}


def test_no_import_cycle():
    """The whole package, function-level imports included, with no allowance."""
    assert [sorted(cycle) for cycle in _cycles(_graph())] == []


def test_texts_depend_on_errors_and_outcomes_never_the_reverse():
    """texts reads the coded errors, outcomes and states; none of them loads texts, even indirectly."""
    graph = _graph()
    for module in ("exceptions", "outcome", "states", "wechatpay.errors", "complaints.models"):
        reached = _reachable(graph, f"{ROOT}.{module}")
        assert f"{ROOT}.texts" not in reached, f"{module} loads texts"
        assert f"{ROOT}.complaints.messages" not in reached, f"{module} loads the desk's text table"
    assert {f"{ROOT}.wechatpay.errors", f"{ROOT}.wechatpay"} & graph[f"{ROOT}.texts"]
    assert f"{ROOT}.states" in graph[f"{ROOT}.texts"]


def _fresh_import(modules: list[str], forbidden: list[str]) -> list[str]:
    """Import each of ``modules`` alone in a new interpreter; the forbidden modules each one loaded."""
    script = (
        "import importlib, json, sys\n"
        f"importlib.import_module(sys.argv[1])\n"
        f"print(json.dumps(sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') for f in {forbidden!r}))))\n"
    )
    loaded = []
    for module in modules:
        done = subprocess.run(
            [sys.executable, "-c", script, module], capture_output=True, text=True, check=False, cwd=PACKAGE.parent
        )
        assert done.returncode == 0, f"{module} does not import alone: {done.stderr}"
        loaded.extend(f"{module} loads {name}" for name in __import__("json").loads(done.stdout))
    return loaded


def test_the_protocol_layer_never_imports_django():
    modules = [name for name in _modules() if name.startswith(f"{ROOT}.wechatpay")]
    assert len(modules) > 5
    assert _fresh_import(modules, ["django"]) == []


def test_the_sandbox_never_imports_the_clients_signing_verification_or_transport():
    modules = [name for name in _modules() if name.startswith(f"{ROOT}.sandbox") and not name.endswith("__main__")]
    assert len(modules) > 5
    forbidden = [
        f"{ROOT}.wechatpay.signing",
        f"{ROOT}.wechatpay.verification",
        f"{ROOT}.wechatpay.client",
        f"{ROOT}.wechatpay.transport",
    ]
    assert _fresh_import(modules, forbidden) == []
