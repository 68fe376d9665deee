"""The layers of docs/ARCHITECTURE.md, checked: no import circle, imports point down, modules stay short."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "shared"
MAX_LINES = 400

DOMAIN = ("maas.domain", "maas.errors", "maas.datatypes")
ALLOWED = {
    # a layer: the maas modules it may import (by prefix)
    "maas.domain": DOMAIN,
    "maas.datatypes": (),
    "maas.errors": (),
    "maas.authz": DOMAIN,
    "maas.events": DOMAIN,
    "maas.ports": (*DOMAIN, "maas.events"),
    "maas.adapters": (*DOMAIN, "maas.events", "maas.ports", "maas.adapters"),
}
# ``if TYPE_CHECKING:`` is for annotations of modules loaded lazily to keep cold starts short, never for a circle
TYPE_CHECKING_ALLOWED = {
    "maas.wiring",  # the factories load each function's modules lazily
    "maas.cli.api",  # the worker image runs `maas worker` without requests, which the API client needs
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.joinpath("maas").rglob("*.py")}


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    known = modules()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if known[module].name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    out = []
    for name in names:
        found = name
        while found not in known and "." in found:
            found = found.rsplit(".", 1)[0]
        if found in known and found != module:
            out.append(found)
    return out


@cache
def imports() -> dict[str, tuple[set[str], set[str]]]:
    """module -> (every maas module it imports, those imported under ``if TYPE_CHECKING:``)."""
    graph: dict[str, tuple[set[str], set[str]]] = {}
    for module, path in modules().items():
        every: set[str] = set()
        type_only: set[str] = set()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        type_only.update(_resolve(module, inner))
            if isinstance(node, ast.Import | ast.ImportFrom):
                every.update(_resolve(module, node))
        graph[module] = (every, type_only)
    return graph


def _cycles() -> list[list[str]]:
    graph = {m: sorted(edges) for m, (edges, _) in imports().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_circle() -> None:
    assert _cycles() == []


def test_imports_point_down() -> None:
    wrong = []
    for module, (edges, _) in imports().items():
        layer = next((prefix for prefix in ALLOWED if module == prefix or module.startswith(prefix + ".")), None)
        if layer is None:
            continue
        allowed = ALLOWED[layer]
        wrong += [f"{module} -> {target}" for target in edges if not target.startswith(allowed)]
    assert wrong == []


def test_only_the_edges_import_the_wiring() -> None:
    edges = ("maas.wiring", "maas.worker.main", "maas.local.", "maas.cli.", "maas.demo")
    importers = [m for m, (targets, _) in imports().items() if "maas.wiring" in targets and not m.startswith(edges)]
    assert importers == []


def test_type_checking_imports_are_only_where_the_architecture_allows_them() -> None:
    users = {m for m, (_, type_only) in imports().items() if type_only}
    assert users <= TYPE_CHECKING_ALLOWED


@pytest.mark.parametrize("module", sorted(modules()))
def test_a_module_has_at_most_400_lines(module: str) -> None:
    lines = len(modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


# --- the SDK (clients/python/maas_client): its own distribution, beside the package, never inside it -----------
SDK = ROOT.parent / "clients" / "python" / "maas_client"
SERVER_PACKAGES = {"maas", "boto3", "botocore", "aws_lambda_powertools", "orjson", "pybase64", "onnxruntime", "torch"}


def _imported_packages(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", sorted(SDK.glob("*.py")), ids=lambda p: p.name)
def test_the_sdk_needs_none_of_the_servers_packages(path: Path) -> None:
    tree = ast.parse(path.read_text())
    module_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]

    assert _imported_packages(tree) & SERVER_PACKAGES == set()
    # numpy is an extra: imported where arrays are made, never when the SDK is
    assert "numpy" not in _imported_packages(ast.Module(body=module_level, type_ignores=[]))
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_only_the_cli_imports_the_sdk() -> None:
    users = [
        module
        for module, path in modules().items()
        if "maas_client" in _imported_packages(ast.parse(path.read_text())) and not module.startswith("maas.cli.")
    ]
    assert users == []
