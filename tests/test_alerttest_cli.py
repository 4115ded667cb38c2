"""`o2kit test` through the real command line: the shipped alert tests pass (in both metric
layouts), a wrong expectation fails with a diff and exit 1, bad files are reported with
file:line, and --env renders the alert the tests run against."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from o2kit.cli import alert_tests as cli_test
from o2kit.cli import app as cli
from o2kit.project.config import Streams

if not any(c.name == "test" for c in cli.app.registered_commands):
    cli_test.register(cli.app)

SHIPPED_TESTS = ("bedrock_token_budget.yaml", "bedrock_throttling.yaml",
                 "bedrock_server_errors.yaml")


REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("o2kit.yaml", "prices.yaml", "dashboards", "alerts", "templates", "envs")


def shipped_project(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in SHIPPED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, target / name)
        else:
            shutil.copyfile(REPO / name, target / name)
    return target


def with_metrics_layout(root: Path, layout: str) -> Path:
    """Set streams.metrics_layout in o2kit.yaml (replacing the line the file may have)."""
    config = root / "o2kit.yaml"
    lines = [line for line in config.read_text(encoding="utf-8").splitlines(keepends=True)
             if not line.lstrip().startswith("metrics_layout:")]
    lines.insert(lines.index("streams:\n") + 1, f"  metrics_layout: {layout}\n")
    config.write_text("".join(lines), encoding="utf-8")
    return root


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["--no-color", *args])
    return result.exit_code, result.output


def project_with_tests(target: Path, layout: str | None = None) -> Path:
    root = shipped_project(target)
    shutil.copytree(REPO / "alert-tests", root / "alert-tests")
    if layout:
        with_metrics_layout(root, layout)
    return root


def test_the_shipped_alert_tests_pass() -> None:
    code, output = run("-C", str(REPO), "test")
    assert code == 0, output
    for name in SHIPPED_TESTS:
        assert f"PASS  alert-tests/{name}" in output
    assert "FAIL" not in output and "ERROR" not in output
    # each alert is tested firing and not firing
    for alert in ("bedrock_token_budget", "bedrock_throttling", "bedrock_server_errors"):
        assert any(alert in line and "fires" in line for line in output.splitlines())
        assert any(alert in line and ("not fire" in line or "stay" in line or "left" in line)
                   for line in output.splitlines())


needs_layouts = pytest.mark.skipif("metrics_layout" not in Streams.model_fields,
                                   reason="this o2kit.yaml has no streams.metrics_layout")


@needs_layouts
def test_the_shipped_metric_tests_pass_with_the_special_layout(tmp_path: Path) -> None:
    root = project_with_tests(tmp_path / "p", "special")
    code, output = run("-C", str(root), "test", str(root / "alert-tests/bedrock_throttling.yaml"),
                       str(root / "alert-tests/bedrock_server_errors.yaml"))
    assert code == 0, output
    ran = [line for line in output.splitlines() if line.startswith("PASS")]
    assert any("special:" in line for line in ran)
    assert not any("flattened:" in line for line in ran)
    assert "skipped" in output


@needs_layouts
def test_a_wrong_expectation_fails_with_a_diff(tmp_path: Path) -> None:
    root = project_with_tests(tmp_path / "p", "flattened")
    (root / "alert-tests").joinpath("extra.yaml").write_text(textwrap.dedent("""\
        alert: bedrock_throttling
        tests:
          - name: expects the wrong count
            at: "2026-11-28T12:00:00Z"
            input:
              bedrock_metrics:
                - {minutes_ago: 3, namespace: AWS/Bedrock, metric_name: InvocationThrottles, dimensions_modelid: m1, value_sum: 25.0}
            expect:
              fires: true
              rows: [{model_id: m1, throttles: 24}]
              messages: ["m1: 24 throttled requests"]
        """), encoding="utf-8")  # noqa: E501
    code, output = run("-C", str(root), "test", str(root / "alert-tests/extra.yaml"))
    assert code == 1
    assert "FAIL" in output and "expects the wrong count" in output
    assert '-  - {model_id: "m1", throttles: 24}' in output
    assert '+  - {model_id: "m1", throttles: 25.0}' in output
    assert '+  - "m1: 25 throttled requests"' in output
    assert "0 passed, 1 failed" in output


def test_bad_files_are_reported_with_file_and_line(tmp_path: Path) -> None:
    root = shipped_project(tmp_path / "p")
    (root / "alert-tests").mkdir()
    (root / "alert-tests").joinpath("bad.yaml").write_text(textwrap.dedent("""\
        alert: bedrock_nope
        tests:
          - name: x
            at: "2026-11-28T12:00:00Z"
            input: {bedrock_metrics: [{minutes_ago: 1}]}
            expect: {fires: false}
        """), encoding="utf-8")  # noqa: E501
    (root / "alert-tests").joinpath("worse.yaml").write_text("alert: x\ntests:\n  - nme: y\n",
                                                             encoding="utf-8")
    code, output = run("-C", str(root), "test")
    assert code == 1
    assert ("alert-tests/bad.yaml:1: alert: no alert 'bedrock_nope' in the project (alerts: "
            "bedrock_firehose_delivery, bedrock_log_delivery, bedrock_pipeline_freshness, "
            "bedrock_quota_headroom, bedrock_server_errors, bedrock_throttling, "
            "bedrock_token_budget, budget_bedrock_100pct, budget_bedrock_50pct, "
            "budget_bedrock_80pct, budget_bedrock_forecast, budget_search_team_100pct, "
            "budget_search_team_80pct, budget_search_team_forecast)") in output
    assert "alert-tests/worse.yaml:3: tests[0].nme: unknown field (check the spelling)" in output


def test_env_overlay_changes_the_alert_under_test(tmp_path: Path) -> None:
    # envs/staging.yaml lowers the budget to 25: "200 USD does not fire" no longer holds there
    root = shipped_project(tmp_path / "p")
    budget = root / "budget.yaml"
    budget.write_text(textwrap.dedent("""\
        alert: bedrock_token_budget
        tests:
          - name: 200 USD does not fire
            at: "2026-11-28T12:00:00Z"
            input:
              bedrock_logs:
                - {minutes_ago: 30, message_schematype: ModelInvocationLog, message_modelid: "anthropic.claude-3-5-haiku-20241022-v1:0", message_input_inputtokencount: 0, message_output_outputtokencount: 50000000, message_input_cachereadinputtokencount: 0, message_input_cachewriteinputtokencount: 0}
            expect: {fires: false}
        """), encoding="utf-8")  # noqa: E501
    code, output = run("-C", str(root), "test", str(budget))
    assert code == 0, output
    code, output = run("-C", str(root), "--env", "staging", "test", str(budget))
    assert code == 1
    failed = [line for line in output.splitlines() if line.startswith("FAIL")]
    assert any("200 USD does not fire" in line for line in failed)


def test_no_tests_is_an_error(tmp_path: Path) -> None:
    root = shipped_project(tmp_path / "p")
    code, output = run("-C", str(root), "test")
    assert code == 1
    assert "no alert tests" in output


@pytest.mark.parametrize("name", SHIPPED_TESTS)
def test_shipped_files_name_shipped_alerts(name: str) -> None:
    text = (REPO / "alert-tests" / name).read_text(encoding="utf-8")
    assert text.splitlines()[[i for i, line in enumerate(text.splitlines())
                              if line.startswith("alert:")][0]] == f"alert: {name[:-5]}"


def test_the_shipped_alert_tests_pass_with_the_ingest_pipeline(tmp_path: Path) -> None:
    """ingest.pipeline on: scenario traffic goes through the project's functions, the alerts read
    the typed columns, raw hand-written log rows are skipped and the typed ones run."""
    pytest.importorskip("vrl_python")
    root = project_with_tests(tmp_path / "p")
    shutil.copytree(REPO / "functions", root / "functions")
    config = root / "o2kit.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\ningest:\n  pipeline: true\n",
                      encoding="utf-8")
    code, output = run("-C", str(root), "test", str(root / "alert-tests/bedrock_token_budget.yaml"),
                       str(root / "alert-tests/bedrock_pipeline_freshness.yaml"),
                       str(root / "alert-tests/budget_search_team_100pct.yaml"))
    assert code == 0, output
    passed = [line for line in output.splitlines() if line.startswith("PASS")]
    assert any("pipeline: 280 USD" in line for line in passed)
    assert any("spend spike" in line for line in passed)  # a scenario, through the functions
    assert any("generated traffic" in line for line in passed)
    assert "FAIL" not in output and "ERROR" not in output
    assert "written for ingest.pipeline false" in output or "skipped" in output
