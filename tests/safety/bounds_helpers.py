"""Shared by the tests/safety/test_bounds_*.py files: a copy of the shipped project, the real CLI
in-process (typer's runner) with the fake OpenObserve mounted as its transport, and the alias
bomb of issue 11."""

from __future__ import annotations

from pathlib import Path

import pytest
from shipped_project import copy_shipped_project
from typer.testing import CliRunner, Result

from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve

# README "Exit codes".
DOCUMENTED_EXIT_CODES = {0, 1, 2, 64, 130}


def copy_project(root: Path) -> Path:
    return copy_shipped_project(root)


def alias_bomb() -> str:
    """The "billion laughs" of issue 11: nine levels of nine aliases, 9**9 strings expanded."""
    lol = '"' + "lol" * 90 + '"'  # padded as the 2.7 KB file
    lines = ["a: &a [" + ",".join([lol] * 9) + "]"]
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def server_env(monkeypatch: pytest.MonkeyPatch, fake: FakeOpenObserve) -> None:
    monkeypatch.setenv("OPENOBSERVE_URL", "http://o2.test")
    monkeypatch.setenv("OPENOBSERVE_USER", DEFAULT_USER)
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.example.com/services/T/B/X")
    monkeypatch.delenv("OPENOBSERVE_ORG", raising=False)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(cli_base, "_TRANSPORT", fake.transport())


def run(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["--project", str(project), *args])


def assert_one_clean_error(result: Result, code: int = 1) -> None:
    """Exit ``code`` with an ``Error:`` line; no traceback, no internal error."""
    output = result.output
    assert result.exit_code == code, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception)
    assert "Traceback" not in output and "Internal error" not in output, output
    assert "Error" in output, output
