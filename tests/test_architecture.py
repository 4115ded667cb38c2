"""Keep the shape of the code: packages that show the architecture, a pure core, I/O at the edges.

Walks the imports of every module under ``src/o2kit`` with ``ast`` (imports inside functions
count too) and fails on an import that crosses a boundary. The allowed imports between packages
are the table ``ALLOWED`` below; each package's ``__init__`` docstring says the same in words.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "o2kit"

# package (first component under o2kit) -> the o2kit packages it may import. Top-level modules
# ``model`` and ``errors`` are the shared vocabulary; ``fake`` is a stand-alone fake server.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "model": set(),
    "redact": set(),
    "fake": set(),
    "kinds": {"model", "errors", "redact"},
    "project": {"kinds", "model", "errors", "redact"},
    "validate": {"project", "kinds", "model", "errors", "redact"},
    "sync": {"project", "kinds", "model", "errors", "redact"},
    "aws": {"project", "model", "errors", "redact"},
    "query": {"project", "validate", "aws", "fake", "model", "errors", "redact"},
    "cli": {"project", "validate", "sync", "kinds", "query", "aws", "fake", "model", "errors",
            "redact"},
    "__main__": {"cli"},
    "__init__": set(),
}

# Modules that must stay pure: no network, no terminal, no clock, no environment, no files.
PURE = ["model", "errors", "redact", "kinds", "sync.diff", "sync.plan", "sync.report",
        "validate.rules", "validate.sqlcheck", "project.columns", "project.envrefs"]
IO_MODULES = {"httpx", "typer", "socket", "subprocess", "os", "time", "requests", "urllib3",
              "http", "o2kit.sync.client", "o2kit.sync.remote", "o2kit.cli",
              "o2kit.project.loader", "o2kit.fake"}


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
        parts = rel.parts[:-1] if rel.parts[-1] == "__init__" and len(rel.parts) > 1 else rel.parts
        files[".".join(parts)] = path
    return files


def _package(module: str) -> str:
    return module.split(".")[0]


def _target(name: str) -> str:
    """The package (or top-level module) an ``o2kit.…`` import reaches; ``o2kit.__version__``
    and other names of ``o2kit/__init__.py`` count as ``__init__``."""
    part = name.split(".")[1]
    return part if (SRC / part).is_dir() or (SRC / f"{part}.py").is_file() else "__init__"


def test_every_package_is_in_the_table() -> None:
    unknown = sorted({_package(m) for m in _module_files()} - set(ALLOWED))
    assert not unknown, f"new top-level package/module {unknown}: add it to ALLOWED"


def test_packages_import_only_what_they_may() -> None:
    offenders: dict[str, list[str]] = {}
    for name, path in _module_files().items():
        own = _package(name)
        allowed = ALLOWED[own] | {own, "__init__"}
        bad = sorted({n for n in _imports(path) if n.startswith("o2kit.")
                      and _target(n) not in allowed})
        if bad:
            offenders[name] = bad
    assert not offenders, f"imports that cross the package rules: {offenders}"


def test_package_graph_has_no_cycles() -> None:
    graph = {pkg: deps - {pkg} for pkg, deps in ALLOWED.items()}
    seen: dict[str, int] = {}

    def visit(node: str, stack: tuple[str, ...]) -> None:
        if seen.get(node) == 2:
            return
        assert seen.get(node) != 1, f"cycle: {' -> '.join(stack + (node,))}"
        seen[node] = 1
        for dep in graph.get(node, ()):
            visit(dep, stack + (node,))
        seen[node] = 2

    for pkg in graph:
        visit(pkg, ())


def test_no_module_import_cycles() -> None:
    """Module-level imports (not those inside functions) between o2kit modules form no cycle."""
    files = _module_files()
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                cands = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                cands = [a.name for a in node.names]
            else:
                continue
            for cand in cands:
                if cand.startswith("o2kit.") and cand[6:] in files and cand[6:] != name:
                    deps.add(cand[6:])
        graph[name] = deps
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    state: dict[str, int] = {}

    def visit(node: str, stack: tuple[str, ...]) -> None:
        if state.get(node) == 2:
            return
        assert state.get(node) != 1, f"import cycle: {' -> '.join(stack + (node,))}"
        state[node] = 1
        for dep in graph[node]:
            if node.startswith(dep + ".") or dep.startswith(node + "."):
                continue
            visit(dep, stack + (node,))
        state[node] = 2

    for module in graph:
        visit(module, ())


@pytest.mark.parametrize("module", PURE + sorted(
    m for m in _module_files() if m.startswith("kinds.")))
def test_pure_core_does_no_io(module: str) -> None:
    path = _module_files()[module]
    bad = sorted(n for n in _imports(path) if _crosses(n, IO_MODULES))
    assert not bad, f"o2kit.{module} is part of the pure core but imports {bad}"


def test_only_client_and_fake_import_httpx() -> None:
    offenders = [
        name for name, path in _module_files().items()
        if not (name == "sync.client" or name.startswith("fake"))
        and any(_crosses(n, {"httpx"}) for n in _imports(path))
    ]
    assert not offenders, f"only o2kit.sync.client (and the fake) may import httpx: {offenders}"


def test_only_cli_imports_typer() -> None:
    offenders = [
        name for name, path in _module_files().items()
        if _package(name) != "cli" and any(_crosses(n, {"typer"}) for n in _imports(path))
    ]
    assert not offenders, f"only o2kit.cli may import typer: {offenders}"


def test_every_package_says_what_it_owns() -> None:
    for init in SRC.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, f"{init.parent.name}/__init__.py must say what it may import"
