"""Alert evaluation with OpenObserve's trigger semantics (o2kit.query.alerttest), on tiny hand-made
alerts: operators and thresholds, the [at - period, at) window, SQL generated for custom alerts,
aggregation groups, the notification rows, run-time alignment, and refused shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from o2kit.query import alerttest
from o2kit.query.alerttest import (
    EvaluationError,
    QueryRunner,
    UnsupportedAlert,
    custom_sql,
    evaluate,
    render_row_template,
    run_time_problem,
    rust_float_text,
    to_micros,
)

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
AT_US = to_micros(AT)
MIN = 60_000_000


def sql_alert(sql: str, *, operator: str = ">=", threshold: int = 1, period: int = 10,
              **extra: Any) -> dict[str, Any]:
    return {"name": "t", "stream_type": "logs", "stream_name": "app", "enabled": True,
            "is_real_time": False,
            "query_condition": {"type": "sql", "sql": sql, **extra.pop("query", {})},
            "trigger_condition": {"period": period, "operator": operator, "threshold": threshold,
                                  "frequency": 5, "frequency_type": "minutes", "cron": "",
                                  "silence": 10, "timezone": "UTC", "align_time": True},
            "row_template": "", **extra}


def custom_alert(conditions: Any, aggregation: Any = None, *, operator: str = ">=",
                 threshold: int = 1, period: int = 10) -> dict[str, Any]:
    alert = sql_alert("", operator=operator, threshold=threshold, period=period)
    alert["query_condition"] = {"type": "custom", "conditions": conditions, "sql": None,
                                "aggregation": aggregation}
    return alert


def rows_at(*minutes_ago: float, **columns: Any) -> list[dict[str, Any]]:
    return [{"_timestamp": AT_US - round(m * MIN), **columns} for m in minutes_ago]


ERRORS = "SELECT level FROM \"app\" WHERE level = 'error'"


# --- operators and thresholds ------------------------------------------------------------------


@pytest.mark.parametrize(("operator", "threshold", "count", "fires"), [
    (">=", 3, 3, True), (">=", 3, 2, False),
    (">", 3, 3, False), (">", 3, 4, True),
    ("=", 2, 2, True), ("=", 2, 3, False),
    ("!=", 2, 2, False), ("!=", 2, 0, True),
    ("<", 1, 0, True), ("<", 1, 1, False),
    ("<=", 1, 1, True), ("<=", 1, 2, False),
])
def test_sql_alert_compares_the_row_count(operator: str, threshold: int, count: int,
                                          fires: bool) -> None:
    rows = rows_at(*([1] * count), level="error") + rows_at(1, level="info")
    result = evaluate(sql_alert(ERRORS, operator=operator, threshold=threshold),
                      QueryRunner({"app": rows}), AT_US)
    assert result.observed == count
    assert result.fires is fires
    assert len(result.payload) == (count if fires else 0)


def test_contains_is_never_a_trigger_operator() -> None:
    assert alerttest.compare(5, "contains", 1) is False
    with pytest.raises(UnsupportedAlert, match="never fires"):
        evaluate(sql_alert(ERRORS, operator="contains"),
                 QueryRunner({"app": rows_at(1, level="error")}), AT_US)


def test_notification_gets_at_most_100_rows_but_the_decision_counts_all() -> None:
    rows = rows_at(*([2] * 150), level="error")
    result = evaluate(sql_alert(ERRORS, operator=">", threshold=120),
                      QueryRunner({"app": rows}), AT_US)
    assert (result.fires, result.observed, len(result.payload)) == (True, 150, 100)


# --- the window ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset_us", "inside"), [
    (-10 * MIN, True),        # at - period: the first instant of the window
    (-10 * MIN - 1, False),   # just before it
    (-1, True),               # the last microsecond
    (0, False),               # at itself belongs to the next run
])
def test_window_is_at_minus_period_inclusive_to_at_exclusive(offset_us: int,
                                                             inside: bool) -> None:
    rows = [{"_timestamp": AT_US + offset_us, "level": "error"}]
    result = evaluate(sql_alert(ERRORS, period=10), QueryRunner({"app": rows}), AT_US)
    assert result.fires is inside
    assert (result.start_us, result.end_us) == (AT_US - 10 * MIN, AT_US)


def test_window_length_is_the_period() -> None:
    rows = rows_at(25, level="error")
    runner = QueryRunner({"app": rows})
    assert evaluate(sql_alert(ERRORS, period=20), runner, AT_US).fires is False
    assert evaluate(sql_alert(ERRORS, period=30), runner, AT_US).fires is True


@pytest.mark.parametrize(("at", "frequency", "timezone", "ok"), [
    (datetime(2026, 11, 28, 12, 5, tzinfo=UTC), 5, "UTC", True),
    (datetime(2026, 11, 28, 12, 3, tzinfo=UTC), 5, "UTC", False),
    (datetime(2026, 11, 28, 12, 5, 30, tzinfo=UTC), 5, "UTC", False),
    (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), 60, "UTC", True),
    (datetime(2026, 11, 28, 12, 30, tzinfo=UTC), 60, "UTC", False),
    # India is UTC+5:30: an hourly alert aligned in that zone runs at hh:30 UTC
    (datetime(2026, 11, 28, 12, 30, tzinfo=UTC), 60, "Asia/Kolkata", True),
    (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), 60, "Asia/Kolkata", False),
])
def test_aligned_alerts_run_only_on_frequency_boundaries(at: datetime, frequency: int,
                                                         timezone: str, ok: bool) -> None:
    alert = sql_alert(ERRORS)
    alert["trigger_condition"].update(frequency=frequency, timezone=timezone)
    problem = run_time_problem(alert, at)
    assert (problem is None) is ok
    if problem:
        assert "align_time" in problem and "use one of them" in problem


def test_unaligned_alerts_run_at_any_time() -> None:
    alert = sql_alert(ERRORS)
    alert["trigger_condition"]["align_time"] = False
    assert run_time_problem(alert, datetime(2026, 11, 28, 12, 3, 17, tzinfo=UTC)) is None


# --- custom alerts: the SQL OpenObserve generates ----------------------------------------------

SCHEMA = pa.schema([("_timestamp", pa.int64()), ("level", pa.string()),
                    ("service", pa.string()), ("host", pa.string()), ("took", pa.int64()),
                    ("ratio", pa.float64()), ("ok", pa.bool_())])


def test_v2_conditions_join_left_to_right_in_parentheses() -> None:
    conditions = {"version": 2, "conditions": {
        "filterType": "group", "logicalOperator": "AND", "conditions": [
            {"filterType": "condition", "column": "level", "operator": "=", "value": "error",
             "logicalOperator": "AND"},
            {"filterType": "condition", "column": "service", "operator": "=", "value": "api",
             "logicalOperator": "AND"},
            {"filterType": "group", "logicalOperator": "OR", "conditions": [
                {"filterType": "condition", "column": "took", "operator": ">", "value": "250",
                 "logicalOperator": "AND"},
                {"filterType": "condition", "column": "ratio", "operator": "<=", "value": 0.5,
                 "logicalOperator": "OR"}]}]}}
    assert custom_sql(custom_alert(conditions), SCHEMA) == (
        'SELECT * FROM "app"  WHERE ("level" = \'error\' AND "service" = \'api\' OR '
        '("took" > 250 OR "ratio" <= 0.5))')


def test_v1_tree_and_typed_literals() -> None:
    conditions = {"and": [
        {"column": "host", "operator": "contains", "value": "web"},
        {"not": {"column": "ok", "operator": "=", "value": "true"}},
        {"or": [{"column": "ratio", "operator": ">", "value": 2},
                {"column": "service", "operator": "not_contains", "value": "test"}]}]}
    assert custom_sql(custom_alert(conditions), SCHEMA) == (
        'SELECT * FROM "app"  WHERE (str_match("host", \'web\') AND NOT ("ok" = true) AND '
        '("ratio" > 2 OR "service" NOT LIKE \'%test%\'))')


def test_aggregation_sql_groups_and_filters_on_the_aggregate() -> None:
    conditions = [{"column": "level", "operator": "=", "value": "error"}]
    aggregation = {"group_by": ["host"], "function": "count",
                   "having": {"column": "_timestamp", "operator": ">=", "value": 2}}
    assert custom_sql(custom_alert(conditions, aggregation), SCHEMA) == (
        'SELECT host, COUNT("_timestamp") AS alert_agg_value, MIN(_timestamp) as '
        'zo_sql_min_time, MAX(_timestamp) AS zo_sql_max_time FROM "app" WHERE '
        '("level" = \'error\') GROUP BY host HAVING "alert_agg_value" >= 2')


def test_percentile_aggregation_without_groups() -> None:
    aggregation = {"group_by": None, "function": "p95",
                   "having": {"column": "took", "operator": ">", "value": "1500.5"}}
    assert custom_sql(custom_alert({"and": []}, aggregation), SCHEMA) == (
        'SELECT approx_percentile_cont(0.95) WITHIN GROUP (ORDER BY "took") AS '
        'alert_agg_value, MIN(_timestamp) as zo_sql_min_time, MAX(_timestamp) AS '
        'zo_sql_max_time FROM "app" HAVING "alert_agg_value" > 1500.5')


@pytest.mark.parametrize(("conditions", "message"), [
    ([{"column": "nope", "operator": "=", "value": 1}], "Column nope not found"),
    ([{"column": "took", "operator": "contains", "value": 1}], "not supported"),
    ([{"column": "took", "operator": "=", "value": "abc"}], "value is 'abc'"),
])
def test_conditions_the_source_refuses(conditions: Any, message: str) -> None:
    with pytest.raises(UnsupportedAlert, match=message):
        custom_sql(custom_alert(conditions), SCHEMA)


def test_custom_alert_counts_matching_rows() -> None:
    rows = (rows_at(1, 2, level="error", service="api", host="a")
            + rows_at(1, level="info", service="api", host="a"))
    conditions = {"version": 2, "conditions": {"filterType": "group", "logicalOperator": "AND",
                  "conditions": [{"filterType": "condition", "column": "level",
                                  "operator": "=", "value": "error", "logicalOperator": "AND"}]}}
    runner = QueryRunner({"app": rows})
    assert evaluate(custom_alert(conditions, threshold=2), runner, AT_US).fires is True
    assert evaluate(custom_alert(conditions, threshold=3), runner, AT_US).fires is False


def test_aggregation_counts_groups_over_having_then_applies_the_trigger() -> None:
    rows = (rows_at(1, 2, 3, host="a", level="error") + rows_at(1, 2, host="b", level="error")
            + rows_at(1, host="c", level="error"))
    aggregation = {"group_by": ["host"], "function": "count",
                   "having": {"column": "_timestamp", "operator": ">=", "value": 2}}
    runner = QueryRunner({"app": rows})
    one = evaluate(custom_alert([], aggregation, threshold=1), runner, AT_US)
    assert one.fires is True and one.observed == 2
    assert sorted(r["host"] for r in one.payload) == ["a", "b"]
    assert evaluate(custom_alert([], aggregation, threshold=3), runner, AT_US).fires is False


def test_custom_alert_without_conditions_never_fires() -> None:
    result = evaluate(custom_alert(None), QueryRunner({"app": rows_at(1, level="x")}), AT_US)
    assert result.fires is False and result.sql == ""


def test_custom_alert_on_a_stream_without_rows_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError, match='Stream "app" not found'):
        evaluate(custom_alert([]), QueryRunner({"other": rows_at(1, a=1)}), AT_US)


# --- what is refused, and disabled alerts -------------------------------------------------------


@pytest.mark.parametrize(("change", "message"), [
    ({"is_real_time": True}, "real-time"),
    ({"query": {"type": "promql"}}, "promql"),
    ({"query": {"vrl_function": "LiA="}}, "VRL"),
    ({"query": {"multi_time_range": [{"offSet": "1h"}]}}, "multi_time_range"),
    ({"query": {"search_event_type": "ui"}}, "bypasses"),
])
def test_unsupported_shapes_are_refused(change: dict[str, Any], message: str) -> None:
    alert = sql_alert(ERRORS)
    alert["query_condition"].update(change.pop("query", {}))
    alert.update(change)
    with pytest.raises(UnsupportedAlert, match=message):
        evaluate(alert, QueryRunner({"app": rows_at(1, level="error")}), AT_US)


def test_multi_alert_aggregation_is_refused() -> None:
    aggregation = {"group_by": ["host"], "function": "count", "multi_alert": True,
                   "having": {"column": "_timestamp", "operator": ">=", "value": 2}}
    with pytest.raises(UnsupportedAlert, match="multi-alerts"):
        evaluate(custom_alert([], aggregation), QueryRunner({"app": rows_at(1, host="a")}), AT_US)


def test_a_disabled_alert_does_not_fire() -> None:
    alert = sql_alert(ERRORS, enabled=False)
    result = evaluate(alert, QueryRunner({"app": rows_at(1, level="error")}), AT_US)
    assert result.fires is False and result.reason == "alert is disabled"


# --- notification rows --------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (25.0, "25"), (0.1, "0.1"), (-0.0, "-0"), (1e21, "1000000000000000000000"),
    (1.5e-7, "0.00000015"), (12.345, "12.345"),
])
def test_floats_are_written_as_rust_displays_them(value: float, text: str) -> None:
    assert rust_float_text(value) == text


def test_row_template_fills_columns_and_alert_fields() -> None:
    alert = sql_alert(ERRORS, row_template="{alert_name}/{stream_name}: {host:3} took {took} "
                                          "({ratio}) {missing} [{alert_count}] {team}",
                      context_attributes={"team": "payments"})
    rows = [{"host": "webserver", "took": 12, "ratio": 0.25}, {"host": "db", "took": 3,
                                                              "ratio": 2.0}]
    assert render_row_template(alert, rows) == [
        "t/app: web took 12 (0.25) {missing} [2] payments",
        "t/app: db took 3 (2) {missing} [2] payments",
    ]


def test_messages_come_only_from_a_firing_run() -> None:
    alert = sql_alert(ERRORS, row_template="{level}!")
    runner = QueryRunner({"app": rows_at(1, level="error")})
    assert evaluate(alert, runner, AT_US).messages == ["error!"]
    alert["trigger_condition"]["threshold"] = 2
    assert evaluate(alert, runner, AT_US).messages == []


def test_an_sql_alert_with_an_aggregation_is_judged_per_group_as_the_source_does() -> None:
    # evaluate_scheduled classifies by `aggregation` whenever it is set, whatever the type
    sql = 'SELECT host, COUNT(*) AS alert_agg_value FROM "app" GROUP BY host'
    alert = sql_alert(sql, query={"aggregation": {
        "group_by": ["host"], "function": "count",
        "having": {"column": "_timestamp", "operator": ">", "value": 2}}})
    rows = rows_at(1, 2, 3, host="a") + rows_at(1, 2, host="b")
    result = evaluate(alert, QueryRunner({"app": rows}), AT_US)
    assert (result.fires, result.observed, len(result.rows)) == (True, 1, 2)
