"""Synthetic Bedrock traffic (o2kit.aws.synth): payloads decode into rows that agree with the truth.

The decoded rows come from o2kit.fake.firehose, i.e. through the same path OpenObserve takes;
expected values are computed from the generator's ground truth, never from the rows themselves.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import pytest

from o2kit.aws.synth import (
    CLIENT_ERROR_CODES,
    CONTROL_TEXT,
    SERVER_ERROR_CODES,
    Scenario,
    SpendSpike,
    ThrottleBurst,
    Traffic,
    firehose_bodies,
    generate,
)
from o2kit.fake.firehose import decode_firehose_body

END_MS = 1_787_221_005_000
PROFILE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
HAIKU3 = "anthropic.claude-3-haiku-20240307-v1:0"

SCENARIO = Scenario(minutes=20, requests_per_minute=30.0, client_error_rate=0.05,
                    server_error_rate=0.03, throttle_rate=0.04,
                    throttle_burst=ThrottleBurst(start_minute=5, minutes=3, extra_per_minute=25),
                    spend_spike=SpendSpike(start_minute=12, minutes=2, extra_per_minute=10,
                                           token_multiplier=8.0, model_id=HAIKU3))


def decode_all(bodies: list[bytes], **kw: Any) -> list[dict[str, Any]]:
    return [row for b in bodies for row in decode_firehose_body(b, now_us=END_MS * 1000, **kw)]


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return generate(SCENARIO, end_ms=END_MS, seed=11)


@pytest.fixture(scope="module")
def rows(traffic: Traffic) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    logs, metrics = firehose_bodies(traffic, max_records=7)
    assert len(logs) > 1 and len(metrics) > 1  # max_records splits requests
    return decode_all(logs), decode_all(metrics)


def invocation_rows(log_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in log_rows if r.get("message_schematype") == "ModelInvocationLog"]


def metric_sum(metric_rows: list[dict[str, Any]], name: str, model: str,
               column: str = "value_sum") -> float:
    return sum(r[column] for r in metric_rows
               if r["metric_name"] == name and r["dimensions_modelid"] == model)


def test_same_seed_same_bytes_other_seed_differs() -> None:
    a = firehose_bodies(generate(SCENARIO, end_ms=END_MS, seed=3))
    b = firehose_bodies(generate(SCENARIO, end_ms=END_MS, seed=3))
    c = firehose_bodies(generate(SCENARIO, end_ms=END_MS, seed=4))
    assert a == b
    assert a != c


def test_log_rows_per_model_match_truth(traffic: Traffic, rows: Any) -> None:
    log_rows = invocation_rows(rows[0])
    per_model = Counter(r["message_modelid"] for r in log_rows)
    for model, truth in traffic.truth.items():
        assert truth.invocations > 0
        # throttled calls are not logged by default: logs count exactly the accepted calls
        assert per_model[model] == truth.invocations == truth.logged
        errors = Counter(r.get("message_errorcode") for r in log_rows
                         if r["message_modelid"] == model)
        assert sum(errors[c] for c in CLIENT_ERROR_CODES) == truth.client_errors
        assert sum(errors[c] for c in SERVER_ERROR_CODES) == truth.server_errors
        mine = [r for r in log_rows if r["message_modelid"] == model]
        assert sum(r["message_input_inputtokencount"] for r in mine) == truth.input_tokens
        assert sum(r.get("message_output_outputtokencount", 0) for r in mine) == \
            truth.output_tokens


def test_metric_sums_match_truth(traffic: Traffic, rows: Any) -> None:
    metric_rows = rows[1]
    for model, truth in traffic.truth.items():
        assert metric_sum(metric_rows, "Invocations", model) == truth.invocations
        assert metric_sum(metric_rows, "InvocationClientErrors", model) == truth.client_errors
        assert metric_sum(metric_rows, "InvocationServerErrors", model) == truth.server_errors
        assert metric_sum(metric_rows, "InvocationThrottles", model) == truth.throttles
        assert metric_sum(metric_rows, "InputTokenCount", model) == truth.input_tokens
        assert metric_sum(metric_rows, "OutputTokenCount", model) == truth.output_tokens
        assert metric_sum(metric_rows, "InvocationLatency", model) == sum(truth.latencies)
        assert metric_sum(metric_rows, "InvocationLatency", model, "value_count") == \
            len(truth.latencies)


def test_latency_datapoints_agree_with_calls_of_their_minute(traffic: Traffic,
                                                             rows: Any) -> None:
    expected: dict[tuple[int, str], list[int]] = defaultdict(list)
    for call in traffic.invocations:
        if call.latency_ms is not None:
            minute_start = traffic.start_ms + call.minute * 60_000
            expected[(minute_start, call.model_id)].append(call.latency_ms)
    got = {(r["timestamp"], r["dimensions_modelid"]): r for r in rows[1]
           if r["metric_name"] == "InvocationLatency"}
    assert set(got) == set(expected)
    for key, values in expected.items():
        row = got[key]
        assert (row["value_count"], row["value_sum"], row["value_min"], row["value_max"]) == \
            (len(values), sum(values), min(values), max(values))


def test_converse_latency_is_readable_from_logs_only(traffic: Traffic, rows: Any) -> None:
    log_rows = invocation_rows(rows[0])
    for model, truth in traffic.truth.items():
        found = []
        for r in log_rows:
            if r["message_modelid"] != model or "message_output_outputbodyjson" not in r:
                continue
            body = json.loads(r["message_output_outputbodyjson"])
            if r["message_operation"] == "Converse":
                found.append(body["metrics"]["latencyMs"])
            elif r["message_operation"] == "ConverseStream":
                assert isinstance(body, list)  # stream bodies are event arrays
            else:
                assert "metrics" not in body
        assert sorted(found) == sorted(truth.converse_latencies)


def test_throttle_burst_shows_in_metrics(traffic: Traffic, rows: Any) -> None:
    first_model = SCENARIO.models[0].model_id
    by_minute = defaultdict(float)
    for r in rows[1]:
        if r["metric_name"] == "InvocationThrottles" and r["dimensions_modelid"] == first_model:
            by_minute[(r["timestamp"] - traffic.start_ms) // 60_000] += r["value_sum"]
    assert all(by_minute[m] >= 25 for m in (5, 6, 7))
    assert max(by_minute[m] for m in range(SCENARIO.minutes) if m not in (5, 6, 7)) < 25


def test_spend_spike_multiplies_tokens(traffic: Traffic) -> None:
    tokens = defaultdict(int)
    for call in traffic.invocations:
        if call.model_id == HAIKU3:
            tokens[call.minute] += call.input_tokens
    spike = min(tokens[12], tokens[13])
    assert spike > 5 * max(tokens[m] for m in range(SCENARIO.minutes) if m not in (12, 13))


def test_log_rows_carry_realistic_columns(rows: Any) -> None:
    log_rows = invocation_rows(rows[0])
    profile_rows = [r for r in log_rows if r["message_modelid"] == PROFILE]
    assert profile_rows and all("message_inferenceregion" in r for r in profile_rows)
    assert not any("message_inferenceregion" in r for r in log_rows
                   if r["message_modelid"] != PROFILE)
    assert {r["message_operation"] for r in log_rows} == \
        {"Converse", "ConverseStream", "InvokeModel"}
    assert any("message_requestmetadata_cost_center" in r for r in log_rows)
    assert all(r["message_identity_arn"].startswith("arn:aws:") for r in log_rows)
    assert all(isinstance(r["message_input_inputbodyjson"], str) for r in log_rows)
    assert all(r["subscriptionfilters"] == '["to-o2"]' for r in log_rows)


def test_control_messages_become_rows(traffic: Traffic, rows: Any) -> None:
    controls = [r for r in rows[0] if r.get("messagetype") == "CONTROL_MESSAGE"]
    assert len(controls) == len(traffic.control_messages) == 2
    assert all(r["message"] == CONTROL_TEXT for r in controls)


def test_logged_throttles_option() -> None:
    scenario = Scenario(minutes=5, throttle_rate=0.2, log_throttles=True)
    traffic = generate(scenario, end_ms=END_MS, seed=5)
    log_rows = invocation_rows(decode_all(firehose_bodies(traffic)[0]))
    for model, truth in traffic.truth.items():
        mine = [r for r in log_rows if r["message_modelid"] == model]
        throttled = [r for r in mine if r.get("message_errorcode") == "ThrottlingException"]
        assert len(throttled) == truth.throttles > 0
        assert len(mine) == truth.invocations + truth.throttles == truth.logged


def test_integer_metric_values_take_the_special_case_rows(traffic: Traffic) -> None:
    metric_rows = decode_all(firehose_bodies(traffic, integer_metric_values=True)[1])
    assert all("value_sum" not in r for r in metric_rows)
    for model, truth in traffic.truth.items():
        dims = f'ModelId=["{model}"]'
        total = sum(r["sum"] for r in metric_rows
                    if r["metric_name"] == "Invocations" and r["metric_dimensions"] == dims)
        assert total == truth.invocations
    assert all(r["_timestamp"] % 60_000_000 == 0 for r in metric_rows)  # the minute, in µs
