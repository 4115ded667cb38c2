"""``o2kit seed``: synthetic traffic through the Firehose route, then visible to search.

The command runs through typer's CliRunner with the fake mounted as the CLI's transport; the
expected numbers come from regenerating the same seeded traffic, not from the fake's rows.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from o2kit.aws import seed
from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.cli import seed as cli_seed
from o2kit.errors import ConfigError
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve
from o2kit.query.engine import QueryEngine

if not any(c.name == "seed" for c in cli.app.registered_commands):
    cli_seed.register(cli.app)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "o2kit.yaml").write_text(
        "org: default\nstreams:\n  invocation_logs: llm_logs\n  metrics: llm_metrics\n",
        encoding="utf-8")
    return tmp_path


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeOpenObserve:
    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    monkeypatch.setattr(cli_base, "_TRANSPORT", fake.transport())
    monkeypatch.setenv("OPENOBSERVE_USER", DEFAULT_USER)
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.delenv("OPENOBSERVE_ORG", raising=False)
    return fake


def run(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["--project", str(project), "seed",
                                          "--url", "http://o2", *args])
    return result.exit_code, result.output


def test_seed_sends_the_traffic_and_search_shows_it(
        project: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch) -> None:
    started_ms = int(time.time() * 1000)
    # The command's "now", pinned so that the traffic regenerated below is the same traffic.
    monkeypatch.setattr(cli_seed, "time", SimpleNamespace(time=lambda: started_ms / 1000))
    code, output = run(project, "--minutes", "12", "--seed", "4", "--throttle-burst")
    assert code == 0, output
    # The same seeded traffic, regenerated: its truth is the expected answer.
    options = seed.SeedOptions(minutes=12, seed=4, throttle_burst=True)
    traffic, _, _ = seed.build_traffic(options, end_ms=started_ms)
    expected = {m: t.logged for m, t in traffic.truth.items()}
    # searched through the server's own _search route
    from o2kit.project.config import ServerSettings
    from o2kit.sync.client import OpenObserveClient

    settings = ServerSettings(url="http://o2", org="default", user=DEFAULT_USER,
                              password=DEFAULT_PASSWORD)
    with OpenObserveClient(settings, transport=fake.transport()) as client:
        hits = client.search(
            "SELECT message_modelid AS m, COUNT(*) AS n FROM \"llm_logs\" "
            "WHERE message_schematype = 'ModelInvocationLog' GROUP BY m",
            0, (started_ms + 3600_000) * 1000)["hits"]
        throttles = client.search(
            "SELECT SUM(value_sum) AS t FROM \"llm_metrics\" "
            "WHERE metric_name = 'InvocationThrottles'",
            0, (started_ms + 3600_000) * 1000)["hits"]
    assert {h["m"]: h["n"] for h in hits} == expected
    assert throttles == [{"t": sum(t.throttles for t in traffic.truth.values())}]
    rows = len(traffic.log_records) + len(traffic.control_messages)
    assert f"{rows} to llm_logs" in output
    assert f"{len(traffic.datapoints)} to llm_metrics" in output
    for model, calls in traffic.truth.items():
        assert f"{model}: {calls.invocations} invocations" in output


def test_seed_refuses_minutes_beyond_the_ingest_window(project: Path,
                                                       fake: FakeOpenObserve) -> None:
    code, output = run(project, "--minutes", "300")
    assert code == 64  # a usage error (README "Exit codes")
    assert "5 h" in output and "299" in output
    assert fake.request_log == []


def test_seed_with_a_wrong_secret_fails_and_stores_nothing(
        project: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREHOSE_SECRET", "wrong")
    code, output = run(project, "--minutes", "3", "--access-key-secret-env", "FIREHOSE_SECRET")
    assert code == 1
    assert "401" in output and "Firehose requests failed" in output
    assert fake.rows("default", "llm_logs") == []


def test_seed_with_a_missing_secret_variable_names_it(project: Path,
                                                      fake: FakeOpenObserve) -> None:
    code, output = run(project, "--minutes", "3", "--access-key-secret-env", "NOT_SET_HERE")
    assert code == 1
    assert "NOT_SET_HERE" in output
    assert fake.request_log == []


def test_access_key_is_base64_of_user_and_secret() -> None:
    key = seed.firehose_access_key("a@b.c", "s3cret")
    assert base64.b64decode(key) == b"a@b.c:s3cret"
    with pytest.raises(ConfigError):
        seed.firehose_access_key("a@b.c", "with:colon")


def test_special_layout_sends_integer_metric_values() -> None:
    options = seed.SeedOptions(minutes=2, metrics_layout="special")
    _, _, metrics = seed.build_traffic(options, end_ms=int(time.time() * 1000))
    from o2kit.fake.firehose import decode_firehose_body

    rows = decode_firehose_body(metrics[0], now_us=int(time.time() * 1_000_000))
    assert rows and "metric_dimensions" in rows[0] and "value_sum" not in rows[0]
