"""``o2kit test --backtest`` end to end: against the fake OpenObserve (seeded rows, its own
``_search`` route) and locally; the table, ``--json``, ``--markdown``, flags and exit codes.

The fires expected from the fake are worked out by hand from the seeded rows (see the test)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from shipped_project import copy_shipped_project
from typer.testing import CliRunner

from o2kit.cli import alert_tests
from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, ingest
from o2kit.query import alerttest
from o2kit.query.engine import QueryEngine


def at(text: str) -> int:
    return alerttest.to_micros(datetime.fromisoformat(text).replace(tzinfo=UTC))


NOW = at("2026-11-28T13:00:20") / 1e6  # the command's clock: runs up to 13:00


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(alert_tests, "time", SimpleNamespace(time=lambda: NOW))
    return copy_shipped_project(tmp_path / "p", envs=False)


def throttle(minute: str, value: float, model: str = "m-a") -> dict[str, Any]:
    return {"_timestamp": at(f"2026-11-28T{minute}"), "namespace": "AWS/Bedrock",
            "metric_name": "InvocationThrottles", "dimensions_modelid": model,
            "region": "us-east-1", "value_sum": value, "value_count": 1}


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeOpenObserve:
    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    # bedrock_throttling: SUM(value_sum) per model over [T-10, T) > 10, every 5 min, silence 30.
    rows = [throttle("12:21:00", 8), throttle("12:24:00", 5), throttle("12:50:00", 11),
            throttle("12:22:00", 9, "m-b"),
            {**throttle("12:40:00", 3), "metric_name": "Invocations"}]
    ingest.write_rows(fake._store, "default", "bedrock_metrics", rows)
    monkeypatch.setattr(cli_base, "_TRANSPORT", fake.transport())
    monkeypatch.setenv("OPENOBSERVE_USER", DEFAULT_USER)
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.delenv("OPENOBSERVE_ORG", raising=False)
    return fake


def alert_count(project: Path) -> int:
    from o2kit.project.loader import load_project

    return len(load_project(project, None).of("alert"))


def run(project: Path, *args: str) -> Any:
    return CliRunner().invoke(cli.app, ["--project", str(project), "--no-color", "test",
                                        "--backtest", *args])


def test_backtest_on_the_fake_fires_where_the_rows_say(project: Path,
                                                       fake: FakeOpenObserve) -> None:
    # Runs 12:00 … 13:00. Model m-a: 8 + 5 = 13 in [12:15, 12:25) and [12:20, 12:30) → matched
    # at 12:25 and 12:30; 11 at 12:50 → matched at 12:55 and 13:00. Fires at 12:25, then silence
    # (30 min) moves the next run to 12:55, which fires again. m-b's 9 stays under 10.
    result = run(project, "--url", "http://o2", "--since", "1h", "--alert", "bedrock_throttling",
                 "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["source"] == "server" and data["queries"] == 1
    [alert] = data["alerts"]
    assert alert["status"] == "ran"
    assert alert["fired_at"] == ["2026-11-28T12:25:00Z", "2026-11-28T12:55:00Z"]
    assert alert["matched_windows"] == 4 and alert["windows"] == 13
    assert alert["observed"] == {"2026-11-28T12:25:00Z": 1.0, "2026-11-28T12:55:00Z": 1.0}
    # one search through the server's _search route, not one per window
    assert [r.path for r in fake.request_log if r.path.endswith("/_search")] == [
        "/api/default/_search"]


def test_backtest_table_and_what_it_skipped(project: Path, fake: FakeOpenObserve) -> None:
    result = run(project, "--url", "http://o2", "--since", "1h")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert ("Bedrock/bedrock_throttling: would have fired 2 times in the last 1 hour (first "
            "2026-11-28T12:25:00Z, last 2026-11-28T12:55:00Z); condition held in 4 of 13 runs"
            ) in out
    assert "fired 2026-11-28T12:25:00Z  window 2026-11-28T12:15:00Z .. 2026-11-28T12:25:00Z" in out
    # The invocation-log stream does not exist on this server: the server's error, per alert.
    assert "SKIP  Bedrock/bedrock_token_budget: the search failed:" in out
    assert (f"Backtest of {alert_count(project)} alerts over the last 1 hour on the server"
            in result.output)


def test_backtest_markdown_fragment(project: Path, fake: FakeOpenObserve) -> None:
    result = run(project, "--url", "http://o2", "--since", "1h", "--alert", "bedrock_throttling",
                 "--alert", "Bedrock/bedrock_log_delivery", "--markdown")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "**Backtest** (server data, last 1 hour, 2 searches):"
    assert ("| Bedrock/bedrock\\_throttling | would have fired 2 times in the last 1 hour | "
            "2026-11-28T12:25:00Z | 2026-11-28T12:55:00Z |") in lines
    assert ("| Bedrock/bedrock\\_log\\_delivery | would have fired 0 times in the last 1 hour "
            "| – | – |") in lines


def test_backtest_only_what_the_plan_changes(project: Path, fake: FakeOpenObserve,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.example.com/services/T0/B0/x")
    # An empty server: the plan creates every alert, so --changed keeps all of them.
    result = run(project, "--url", "http://o2", "--since", "1h", "--changed", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["alerts"]) == alert_count(project)
    # planning writes nothing: the only POSTs are searches
    assert {r.path for r in fake.request_log if r.method != "GET"} == {"/api/default/_search"}


def test_backtest_locally_on_synthetic_traffic(project: Path) -> None:
    result = run(project, "--since", "2h", "--alert", "bedrock_throttling", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["source"] == "local"
    assert data["alerts"][0]["status"] == "ran" and data["alerts"][0]["windows"] == 25


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "7x"], "give a number and a unit"),
    (["--since", "32d", "--url", "http://o2"], "at most 31 days"),
    (["--since", "2d"], "at most 1 day"),
    (["--max-queries", "0"], "--max-queries"),
    (["--json", "--markdown"], "choose one"),
])
def test_bad_flags_are_usage_errors(project: Path, args: list[str], message: str) -> None:
    result = run(project, *args)
    assert result.exit_code == 64, result.output
    assert message in result.output


def test_unknown_alert_is_a_user_error(project: Path) -> None:
    result = run(project, "--alert", "nope", "--since", "1h")
    assert result.exit_code == 1
    assert "no alert 'nope' in the project" in result.output


def test_backtest_flags_need_backtest(project: Path) -> None:
    result = CliRunner().invoke(cli.app, ["--project", str(project), "test", "--json"])
    assert result.exit_code == 64
    assert "go with --backtest" in result.output


def test_no_server_is_an_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENOBSERVE_URL", raising=False)
    result = run(project, "--remote", "--since", "1h")
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_custom_alert_on_the_fake_uses_the_streams_schema(fake: FakeOpenObserve) -> None:
    """A condition-built alert: its SQL needs the column types, read from the server's
    stream-schema route; then one bucketed search. Windows by hand as in the first test, on
    rows with metric_name InvocationThrottles only (the condition)."""
    from o2kit.cli.alert_tests import _server_search
    from o2kit.project.config import ServerSettings
    from o2kit.query import backtest as bt
    from o2kit.sync.client import OpenObserveClient

    alert = {
        "name": "custom", "stream_name": "bedrock_metrics", "stream_type": "logs",
        "enabled": True, "is_real_time": False,
        "query_condition": {
            "type": "custom", "conditions": {"version": 2, "conditions": {
                "filterType": "group", "logicalOperator": "AND", "conditions": [
                    {"filterType": "condition", "column": "metric_name", "operator": "=",
                     "value": "InvocationThrottles", "logicalOperator": "AND"}]}},
            "aggregation": {"group_by": ["dimensions_modelid"], "function": "sum",
                            "having": {"column": "value_sum", "operator": ">", "value": 10}}},
        "trigger_condition": {"period": 10, "frequency": 5, "silence": 0, "operator": ">=",
                              "threshold": 1, "frequency_type": "minutes", "align_time": True,
                              "timezone": "UTC"}}
    settings = ServerSettings(url="http://o2", org="default", user=DEFAULT_USER,
                              password=DEFAULT_PASSWORD)
    with OpenObserveClient(settings, transport=fake.transport()) as client:
        [(stream_type, stream)] = bt.custom_streams([("F", "custom", alert)])
        answer = client.stream_schema(stream, stream_type)
        assert answer is not None
        schema = bt.arrow_schema(answer)
        assert str(schema.field("value_sum").type) == "int64"  # the seeded values are integers
        assert str(schema.field("metric_name").type) == "string"
        report = bt.backtest([("F", "custom", alert)], _server_search(client),
                             start_us=at("2026-11-28T12:00:00"), end_us=at("2026-11-28T13:00:00"),
                             source="server", schemas={stream: schema})
    [result] = report.alerts
    assert result.status == "ran", result.reason
    assert result.fired == [at("2026-11-28T12:25:00"), at("2026-11-28T12:30:00"),
                            at("2026-11-28T12:55:00"), at("2026-11-28T13:00:00")]
    assert report.queries == 1
