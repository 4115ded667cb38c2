"""mypy (configured in pyproject.toml: strict on the pure core, normal on the rest) over the code,
as part of the one test command CI runs — as tests/test_lint.py does for ruff."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_mypy_passes() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[all,test]')")
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True,
                            text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


STRICT_CORE = ["model", "kinds", "kinds.*", "project.*", "validate.*", "sync.*"]
STRICT_FLAGS = ["disallow_any_generics", "disallow_untyped_calls", "disallow_untyped_defs",
                "disallow_incomplete_defs", "check_untyped_defs", "warn_return_any",
                "no_implicit_reexport", "strict_equality"]


def test_the_pure_core_is_checked_strictly() -> None:
    """mypy's ``strict`` cannot be set per module, so its flags are listed for the core modules;
    this keeps them from being dropped or a core module from slipping out of the list."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    strict: set[str] = set()
    for override in config.get("overrides", []):
        modules = override["module"]
        modules = [modules] if isinstance(modules, str) else modules
        if all(override.get(flag) is True for flag in STRICT_FLAGS):
            strict.update(modules)
        assert not override.get("ignore_errors") or not set(modules) & strict, override
    assert {f"o2kit.{m}" for m in STRICT_CORE} <= strict
    assert "src/o2kit" in config["files"]
