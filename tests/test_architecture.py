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
        "envrefs"]
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
