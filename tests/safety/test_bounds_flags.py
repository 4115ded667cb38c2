"""Harm 6 of issue 11: numeric flags took nan, inf, negatives and zero. `--max-delete-fraction nan`
silently switched the delete guard off (every comparison with NaN is false); `seed --rpm -1/0/nan`
was accepted. Every numeric flag is now a finite number in its documented range, else a usage
error (exit 64, never 2, which `plan --detailed-exitcode` uses for "changes") before any request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bounds_helpers import copy_project, run, server_env

from o2kit.fake import FakeOpenObserve

BAD = {
    ("plan", "--timeout"): ["nan", "inf", "-1", "0", "-inf", "1e9"],
    ("plan", "--concurrency"): ["0", "-1", "100000"],
    ("apply", "--max-delete-fraction"): ["nan", "-0.1", "1.5", "inf"],
    ("apply", "--timeout"): ["nan", "-5"],
    ("seed", "--rpm"): ["-1", "0", "nan", "inf", "1e12"],
    ("seed", "--minutes"): ["0", "-3", "300"],
    ("seed", "--timeout"): ["nan", "0"],
    ("seed", "--concurrency"): ["0"],
    ("check", "--minutes"): ["0", "-5"],
    ("preview", "--minutes"): ["0", "-1", "10081"],
    ("demo", "--minutes"): ["0", "-1", "100000"],
    ("demo", "--port", ): ["-1", "70000"],
    ("export", "--timeout"): ["nan"],
    ("export", "--concurrency"): ["-2"],
}
CASES = [(cmd, flag, value) for (cmd, flag), values in BAD.items() for value in values]


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeOpenObserve:
    server = FakeOpenObserve(seed=3)
    server.add_stream("default", "bedrock_metrics")
    server.add_stream("default", "bedrock_logs")
    server_env(monkeypatch, server)
    return server


@pytest.mark.parametrize(("command", "flag", "value"), CASES,
                         ids=[f"{c}{f}={v}" for c, f, v in CASES])
def test_bad_numbers_are_usage_errors_before_any_request(
        tmp_path: Path, fake: FakeOpenObserve, command: str, flag: str, value: str) -> None:
    project = copy_project(tmp_path / "repo")
    extra = ["--all"] if command == "export" else []
    result = run(project, command, *extra, f"{flag}={value}")
    assert result.exit_code == 64, result.output
    assert f"Invalid value for '{flag}'" in result.output, result.output
    assert "Traceback" not in result.output
    assert fake.request_log == []


def test_nan_no_longer_switches_the_delete_guard_off(
        tmp_path: Path, fake: FakeOpenObserve) -> None:
    """Apply the project, remove every alert from code, then prune with the guard at NaN: on
    main the guard passed and every managed alert was deleted without --force."""
    project = copy_project(tmp_path / "repo")
    assert run(project, "apply", "--auto-approve").exit_code == 0
    alerts_before = len(fake.request_log)
    for path in (project / "alerts").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.split("\nalerts:")[0] + "\nalerts: {}\n", encoding="utf-8")
    result = run(project, "apply", "--prune", "--auto-approve", "--max-delete-fraction", "nan")
    assert result.exit_code == 64, result.output
    assert len(fake.request_log) == alerts_before  # not even a read


def test_a_usage_error_is_never_read_as_plan_has_changes(
        tmp_path: Path, fake: FakeOpenObserve) -> None:
    project = copy_project(tmp_path / "repo")
    result = run(project, "plan", "--detailed-exitcode", "--no-such-flag")
    assert result.exit_code == 64, result.output
    result = run(project, "plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output  # a fresh server: changes


@pytest.mark.parametrize(("command", "flag", "value"), [
    ("plan", "--timeout", "0.5"), ("plan", "--concurrency", "64"),
    ("apply", "--max-delete-fraction", "0"), ("apply", "--max-delete-fraction", "1"),
])
def test_the_edges_of_each_range_are_accepted(
        tmp_path: Path, fake: FakeOpenObserve, command: str, flag: str, value: str) -> None:
    project = copy_project(tmp_path / "repo")
    extra = ["--auto-approve"] if command == "apply" else []
    result = run(project, command, *extra, flag, value)
    assert result.exit_code == 0, result.output
