"""Pipeline health: the synthetic AWS/Firehose and Bedrock log-delivery datapoints (off by default,
and never shifting a seed's Bedrock traffic), lost records, and the shipped pipeline-health alert
tests passing in both metric layouts, each alert tested firing and staying quiet."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest
from test_alerttest_cli import project_with_tests, run

from o2kit.aws import synth

END_MS = 1_800_000_000_000
HEALTH_TESTS = ("bedrock_pipeline_freshness.yaml", "bedrock_firehose_delivery.yaml",
                "bedrock_log_delivery.yaml")


def _traffic(**options: object) -> synth.Traffic:
    return synth.generate(synth.Scenario(minutes=10, **options), end_ms=END_MS, seed=4)


def test_health_options_are_off_by_default_and_leave_bedrock_traffic_alone() -> None:
    plain = _traffic()
    assert {p["namespace"] for p in plain.datapoints} == {"AWS/Bedrock"}
    assert not any(p["metric_name"].startswith("ModelInvocationLogs") for p in plain.datapoints)
    health = _traffic(firehose_metrics=True, log_delivery_metrics=True)
    bedrock = [p for p in health.datapoints
               if p["namespace"] == "AWS/Bedrock" and p["dimensions"]]
    assert bedrock == plain.datapoints
    assert [i.request_id for i in health.invocations] == [i.request_id for i in plain.invocations]
    assert synth.firehose_bodies(plain)[0] == synth.firehose_bodies(health)[0]  # the log bodies


def test_firehose_datapoints_show_a_delivery_failure() -> None:
    traffic = _traffic(firehose_metrics=True,
                       delivery_failure=synth.DeliveryFailure(2, 3, stream="logs"))
    firehose = [p for p in traffic.datapoints if p["namespace"] == "AWS/Firehose"]
    logs = [p for p in firehose if p["dimensions"] == {"DeliveryStreamName": "o2kit-bedrock-logs"}]
    success = [p["value"]["sum"] for p in logs
               if p["metric_name"] == "DeliveryToHttpEndpoint.Success"]
    assert success == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert sum(p["metric_name"] == "DeliveryToS3.Success" for p in logs) == 3
    # the other delivery stream is healthy throughout
    assert not any(p["metric_name"].startswith("DeliveryToS3") for p in firehose
                   if p["dimensions"]["DeliveryStreamName"] == "o2kit-bedrock-metrics")


def _minutes_of(bodies: list[bytes], traffic: synth.Traffic) -> set[int]:
    minutes = set()
    for body in bodies:
        for record in json.loads(body)["records"]:
            end = synth.record_minute_end_ms(record["data"])
            minutes.add((end - traffic.start_ms) // 60_000 - 1)
    return minutes


@pytest.mark.parametrize("stream", ["logs", "metrics"])
def test_a_silence_drops_that_streams_records_only(stream: str) -> None:
    traffic = _traffic(silence=synth.Silence(4, 3, stream=stream))
    logs, metrics = synth.firehose_bodies(traffic, max_records=1)
    lost, kept = (logs, metrics) if stream == "logs" else (metrics, logs)
    assert _minutes_of(lost, traffic) == set(range(10)) - {4, 5, 6}
    assert _minutes_of(kept, traffic) == set(range(10))
    assert sum(t.invocations for t in traffic.truth.values()) > 0  # the calls still happened


def test_log_delivery_failure_is_measured_and_its_records_are_lost() -> None:
    traffic = _traffic(log_delivery_metrics=True, log_delivery_failure=synth.Window(1, 2))
    failures = {(p["timestamp"] - traffic.start_ms) // 60_000: p["value"]["sum"]
                for p in traffic.datapoints
                if p["metric_name"] == synth.LOG_DELIVERY_FAILURE}
    assert set(failures) == {1, 2} and all(v > 0 for v in failures.values())
    assert all(p["dimensions"] == {} for p in traffic.datapoints
               if p["metric_name"].startswith("ModelInvocationLogs"))
    logs, _ = synth.firehose_bodies(traffic, max_records=1)
    data_minutes = set()
    for body in logs:
        for record in json.loads(body)["records"]:
            envelope = json.loads(gzip.decompress(base64.b64decode(record["data"])))
            if envelope["messageType"] == "DATA_MESSAGE":
                data_minutes.add(
                    (envelope["logEvents"][0]["timestamp"] - traffic.start_ms) // 60_000)
    assert data_minutes == set(range(10)) - {1, 2}


def test_a_scenario_stream_must_be_logs_or_metrics() -> None:
    with pytest.raises(ValueError, match="stream must be one of"):
        synth.Scenario(silence=synth.Silence(0, 1, stream="traces"))


@pytest.mark.parametrize("layout", ["flattened", "special"])
def test_the_pipeline_health_alert_tests_pass(layout: str, tmp_path: Path) -> None:
    root = project_with_tests(tmp_path / "p", layout)
    for name in list((root / "alert-tests").iterdir()):
        if name.name not in HEALTH_TESTS:
            name.unlink()
    code, output = run("-C", str(root), "test")
    assert code == 0, output
    assert "FAIL" not in output and "ERROR" not in output
    for name in HEALTH_TESTS:
        assert f"PASS  alert-tests/{name}" in output
    lines = [line for line in output.splitlines() if line.startswith("PASS")]
    for alert in ("bedrock_pipeline_freshness", "bedrock_firehose_delivery",
                  "bedrock_log_delivery"):
        assert any(alert in line and " fire" in line and "not fire" not in line
                   for line in lines), alert
        assert any(alert in line and ("not fire" in line or "left the window" in line)
                   for line in lines), alert


def test_a_freshness_test_fails_when_the_silent_stream_has_rows(tmp_path: Path) -> None:
    root = project_with_tests(tmp_path / "p", "flattened")
    for name in list((root / "alert-tests").iterdir()):
        name.unlink()
    (root / "alert-tests" / "fresh.yaml").write_text("""\
alert: bedrock_pipeline_freshness
tests:
  - name: logs arrive after all
    at: "2026-11-28T12:00:00Z"
    scenario: {generator: bedrock, minutes: 40, seed: 3}
    expect:
      fires: true
""", encoding="utf-8")
    code, output = run("-C", str(root), "test")
    assert code == 1 and "FAIL" in output
