"""Keep the shape of the code: a pure core, I/O at the edges (see CONTRIBUTING.md).

Walks the imports of every module under src/o2kit with ``ast`` and fails on an import that
crosses a boundary.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "o2kit"

# Modules that must stay pure: no network, no terminal, no clock, no environment, no files.
PURE = ["model", "errors", "kinds", "diff", "plan", "report", "validate", "sqlcheck", "columns",
        "envrefs", "redact"]
IO_MODULES = {"httpx", "typer", "socket", "subprocess", "os", "time", "requests", "urllib3",
              "http", "o2kit.client", "o2kit.remote", "o2kit.cli", "o2kit.project",
              "o2kit.fake"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _crosses(name: str, banned: set[str]) -> bool:
    return any(name == b or name.startswith(b + ".") for b in banned)


def _module_files() -> dict[str, Path]:
    files = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        files[".".join(rel.parts)] = path
    return files


@pytest.mark.parametrize("module", PURE)
def test_pure_core_does_no_io(module: str) -> None:
    path = SRC / f"{module}.py"
    if not path.exists():
        pytest.skip(f"{module} not written yet")
    bad = sorted(n for n in _imports(path) if _crosses(n, IO_MODULES))
    assert not bad, f"o2kit.{module} is part of the pure core but imports {bad}"


def test_only_client_and_fake_import_httpx() -> None:
    offenders = [
        name for name, path in _module_files().items()
        if not (name == "client" or name.startswith("fake"))
        and any(_crosses(n, {"httpx"}) for n in _imports(path))
    ]
    assert not offenders, f"only o2kit.client (and the fake server) may import httpx: {offenders}"


def _is_cli(name: str) -> bool:
    return name == "cli" or name.startswith("cli_")


def test_only_cli_imports_typer() -> None:
    offenders = [
        name for name, path in _module_files().items()
        if not _is_cli(name) and any(_crosses(n, {"typer"}) for n in _imports(path))
    ]
    assert not offenders, f"only o2kit.cli and o2kit.cli_* may import typer: {offenders}"


def test_fake_server_is_independent_of_o2kit_tables() -> None:
    """The fake must behave like OpenObserve, not like o2kit's idea of it."""
    offenders = {}
    for name, path in _module_files().items():
        if name.startswith("fake"):
            bad = [n for n in _imports(path)
                   if n.startswith("o2kit") and not n.startswith("o2kit.fake")]
            if bad:
                offenders[name] = bad
    assert not offenders, offenders


def _import_graph() -> dict[str, set[str]]:
    """Module → the o2kit modules it imports, at any level (function bodies and
    ``TYPE_CHECKING`` blocks too: a cycle there is still a knot in the design)."""
    modules: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(["o2kit", *parts])] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                subs = {f"{base}.{alias.name}" for alias in node.names} & modules.keys()
                found.update(subs or {base})  # `from . import x` imports x, not the package
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    graph = _import_graph()
    assert "o2kit.cli_base" in graph["o2kit.cli_envs"]  # the walk sees function-level imports
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
