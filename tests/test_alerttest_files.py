"""Alert-test files (o2kit.query.alerttest): every problem is reported at once as file:line: field;
expectations (subset rows, bounds, tolerance, messages) and their diff; scenario rows stored as
OpenObserve would store them, in either metric layout."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest

from o2kit.project.yamlsrc import load_yaml
from o2kit.query.alerttest import (
    Evaluation,
    Expect,
    TestFileError,
    check_expectations,
    parse_test_file,
    run_test_file,
    scenario_rows,
    to_micros,
)

AT_US = to_micros(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
MINUTE_US = 60_000_000


def problems(text: str) -> list[str]:
    data, index = load_yaml(textwrap.dedent(text), "alert-tests/x.yaml")
    with pytest.raises(TestFileError) as caught:
        parse_test_file(data, index)
    return [str(p) for p in caught.value.problems]


def test_every_problem_is_reported_with_file_line_and_field() -> None:
    found = problems("""\
        alert: bedrock_throttling
        tests:
          - name: one
            at: "2026-11-28T12:00:00"
            input:
              bedrock_metrics:
                - {minutes_ago: 3, sum: 1}
                - {sum: 2}
                - {minutes_ago: 1, nested: {a: 1}}
            expect: {fires: yes please}
          - name: two
            at: "2026-11-28T12:00:00Z"
            scenario: {generator: bedrock, minutes: 10, throttle_burst: {start_minute: 8, minutes: 5, extra_per_minute: 1}}
            expect:
              fires: true
              rows:
                - {model_id: x, n: {gt: 1, about: 2}}
              colour: red
        """)  # noqa: E501
    assert found == [
        "alert-tests/x.yaml:4: tests[0].at: Input should have timezone info",
        "alert-tests/x.yaml:8: tests[0].input.bedrock_metrics[1]: give each row exactly one of "
        "minutes_ago and _timestamp",
        "alert-tests/x.yaml:9: tests[0].input.bedrock_metrics[2]: column 'nested': a stored "
        "value is a string, number, boolean or null (nested objects are flattened into columns "
        "on ingest)",
        "alert-tests/x.yaml:10: tests[0].expect.fires: Input should be a valid boolean",
        "alert-tests/x.yaml:13: tests[1].scenario: throttle_burst ends after the traffic's 10 "
        "minutes",
        "alert-tests/x.yaml:17: tests[1].expect.rows[0]: column 'n': bounds are a mapping of gt, "
        "ge, lt, le to numbers (not about)",
        "alert-tests/x.yaml:18: tests[1].expect.colour: unknown field (check the spelling)",
    ]


def test_file_level_problems() -> None:
    assert problems("""\
        tests: []
        """) == ["alert-tests/x.yaml:1: alert: required field is missing",
                 "alert-tests/x.yaml:1: tests: List should have at least 1 item after "
                 "validation, not 0"]
    assert problems("""\
        alert: a
        tests:
          - {name: same, at: "2026-11-28T12:00:00Z", input: {s: [{minutes_ago: 1}]}, expect: {fires: false}}
          - {name: same, at: "2026-11-28T12:00:00Z", scenario: {generator: bedrock, minutes: 5}, expect: {fires: false}}
          - {name: none, at: "2026-11-28T12:00:00Z", expect: {fires: false}}
        """) == [  # noqa: E501
            "alert-tests/x.yaml:4: tests[1].name: test name 'same' is used twice",
            "alert-tests/x.yaml:5: tests[2]: give input rows, a scenario, or both"]


def test_bad_yaml_names_its_line(tmp_path: Any) -> None:
    from o2kit.query.alerttest import load_test_file

    path = tmp_path / "t.yaml"
    path.write_text("alert: a\ntests:\n  - name: [x\n", encoding="utf-8")
    with pytest.raises(TestFileError) as caught:
        load_test_file(path, "alert-tests/t.yaml")
    assert str(caught.value.problems[0]).startswith("alert-tests/t.yaml:3: invalid YAML")


def test_an_unknown_alert_or_an_unaligned_time_is_a_problem_of_the_file() -> None:
    data, index = load_yaml(textwrap.dedent("""\
        alert: throttling
        tests:
          - {name: a, at: "2026-11-28T12:02:00Z", input: {s: [{minutes_ago: 1}]}, expect: {fires: false}}
        """), "f.yaml")  # noqa: E501
    parsed = parse_test_file(data, index)
    alert = {"name": "throttling", "stream_name": "s", "enabled": True,
             "query_condition": {"type": "sql", "sql": "SELECT 1 AS x FROM s"},
             "trigger_condition": {"period": 5, "frequency": 5, "frequency_type": "minutes",
                                   "operator": ">=", "threshold": 1, "align_time": True}}
    result = run_test_file(parsed, index, alerts={("F", "other"): alert}, logs_stream="l",
                           metrics_stream="m", metrics_layout="special")
    assert [str(p) for p in result.problems] == [
        "f.yaml:1: alert: no alert 'throttling' in the project (alerts: other)"]
    result = run_test_file(parsed, index, alerts={("F", "throttling"): alert}, logs_stream="l",
                           metrics_stream="m", metrics_layout="special")
    assert len(result.problems) == 1 and result.failed
    assert str(result.problems[0]).startswith("f.yaml:3: tests[0].at: OpenObserve never "
                                              "evaluates this alert at 2026-11-28T12:02:00")


# --- expectations ---------------------------------------------------------------------------------


def evaluation(rows: list[dict[str, Any]], fires: bool = True,
               messages: list[str] | None = None) -> Evaluation:
    return Evaluation(0, 1, "", rows, fires, len(rows), rows if fires else [], messages or [])


def expect(**fields: Any) -> Expect:
    return Expect.model_validate(fields)


def test_rows_match_as_subsets_in_any_order_with_tolerance_and_bounds() -> None:
    actual = [{"model": "b", "n": 12.0000000001, "x": 1}, {"model": "a", "n": 3, "x": 2}]
    ok = expect(fires=True, rows=[{"model": "a", "n": 3}, {"model": "b", "n": {"gt": 10}}])
    assert check_expectations(ok, evaluation(actual)).passed
    assert check_expectations(expect(fires=True, rows=[{"model": "a"}, {"n": 12}]),
                              evaluation(actual)).passed


@pytest.mark.parametrize("rows", [
    [{"model": "a", "n": 3}],                                   # one row too few
    [{"model": "a", "n": 3}, {"model": "b", "n": 13}],          # 12 is not 13
    [{"model": "a", "n": 3}, {"model": "b", "n": {"lt": 12}}],  # bound not met
    [{"model": "a", "n": 3}, {"model": "a", "n": 3}],           # one actual row, two claims
    [{"model": "a", "n": "3"}, {"model": "b"}],                 # a string is not a number
    [{"model": "a", "n": 3}, {"model": "b", "y": 1}],           # y is absent (NULL), not 1
])
def test_row_mismatches_fail(rows: list[dict[str, Any]]) -> None:
    actual = [{"model": "b", "n": 12.0}, {"model": "a", "n": 3}]
    assert not check_expectations(expect(fires=True, rows=rows), evaluation(actual)).passed


def test_a_null_expectation_matches_an_absent_column() -> None:
    assert check_expectations(expect(fires=True, rows=[{"model": "a", "y": None}]),
                              evaluation([{"model": "a"}])).passed


def test_failure_diff_shows_expected_and_actual_lines() -> None:
    outcome = check_expectations(
        expect(fires=True, rows=[{"model": "a", "n": 4}], messages=["a: 4"]),
        evaluation([{"model": "a", "n": 3}], messages=["a: 3"]))
    assert not outcome.passed
    assert outcome.diff[:2] == ["--- expected", "+++ actual"]
    assert '-  - {model: "a", n: 4}' in outcome.diff
    assert '+  - {model: "a", n: 3}' in outcome.diff
    assert '-  - "a: 4"' in outcome.diff and '+  - "a: 3"' in outcome.diff
    assert " fires: true" in outcome.diff


def test_fires_mismatch_alone_fails() -> None:
    outcome = check_expectations(expect(fires=False), evaluation([{"a": 1}]))
    assert not outcome.passed and "-fires: false" in outcome.diff and "+fires: true" in outcome.diff


# --- scenario rows ------------------------------------------------------------------------------


def scenario(**fields: Any) -> Any:
    from o2kit.query.alerttest import ScenarioSpec

    return ScenarioSpec.model_validate({"generator": "bedrock", "minutes": 6, "seed": 2,
                                        **fields})


def test_flattened_metric_rows_carry_their_arrival_time() -> None:
    rows, late = scenario_rows(scenario(), at_us=AT_US, logs_stream="logs",
                               metrics_stream="metrics", metrics_layout="flattened",
                               only="metrics")
    metrics = rows["metrics"]
    assert metrics and all("value_sum" in r and "dimensions_modelid" in r for r in metrics)
    # a minute's datapoints arrive 60 s after it ends; the last minute is not there yet
    assert late == 1
    arrivals = sorted({r["_timestamp"] for r in metrics})
    assert arrivals == [AT_US - k * MINUTE_US for k in (4, 3, 2, 1, 0)]
    for row in metrics:
        assert row["_timestamp"] == row["timestamp"] * 1000 + 2 * MINUTE_US


def test_special_metric_rows_carry_the_datapoint_time() -> None:
    rows, late = scenario_rows(scenario(delivery_delay_seconds=0), at_us=AT_US,
                               logs_stream="logs", metrics_stream="metrics",
                               metrics_layout="special", only="metrics")
    metrics = rows["metrics"]
    assert late == 0
    assert metrics and all("metric_dimensions" in r and "sum" in r for r in metrics)
    assert sorted({r["_timestamp"] for r in metrics}) == [
        AT_US - k * MINUTE_US for k in (6, 5, 4, 3, 2, 1)]


def test_log_rows_keep_event_times_and_only_the_named_stream_is_decoded() -> None:
    rows, _ = scenario_rows(scenario(ends_minutes_ago=5), at_us=AT_US, logs_stream="logs",
                            metrics_stream="metrics", metrics_layout="flattened", only="logs")
    assert rows["metrics"] == []
    logs = [r for r in rows["logs"] if r.get("message_schematype") == "ModelInvocationLog"]
    assert logs
    assert all(AT_US - 11 * MINUTE_US <= r["_timestamp"] < AT_US - 5 * MINUTE_US for r in logs)


def test_records_not_yet_delivered_are_absent_in_the_special_layout_too() -> None:
    rows, late = scenario_rows(scenario(), at_us=AT_US, logs_stream="logs",
                               metrics_stream="metrics", metrics_layout="special",
                               only="metrics")
    # the minute 11:59-12:00 is delivered at 12:01: at 12:00 its datapoints are not stored yet
    assert late == 1
    assert sorted({r["_timestamp"] for r in rows["metrics"]}) == [
        AT_US - k * MINUTE_US for k in (6, 5, 4, 3, 2)]


def test_hand_written_row_times() -> None:
    from o2kit.query.alerttest import input_rows

    rows = input_rows([{"minutes_ago": 1.5, "a": 1}, {"_timestamp": 17, "a": 2},
                       {"_timestamp": "2026-11-28T11:00:00+01:00", "a": 3}], AT_US)
    assert rows == [{"a": 1, "_timestamp": AT_US - 90_000_000}, {"_timestamp": 17, "a": 2},
                    {"_timestamp": AT_US - 2 * 60 * MINUTE_US, "a": 3}]
    with pytest.raises(ValueError, match="zone"):
        input_rows([{"_timestamp": "2026-11-28T11:00:00"}], AT_US)
