"""``o2kit test --backtest``: the schedule replay, the one-search rewrite, the caps.

The windows and fires expected here are worked out by hand from the rows (comments say how); the
shipped alerts are checked against ``alerttest.evaluate`` run once per window — the per-window
evaluator ``o2kit test`` uses — on the same synthetic traffic, which shares no code with the
bucketing and combining under test.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from o2kit.query import alerttest
from o2kit.query import backtest as bt
from o2kit.query.engine import QueryEngine

MIN = bt.MINUTE_US
REPO = Path(__file__).resolve().parents[1]


def at(text: str) -> int:
    return alerttest.to_micros(datetime.fromisoformat(text).replace(tzinfo=UTC))


def sql_alert(sql: str, *, period: int, frequency: int, silence: int = 0, operator: str = ">=",
              threshold: int = 1, stream: str = "m", **extra: Any) -> dict[str, Any]:
    return {"name": "a", "stream_name": stream, "stream_type": "logs", "enabled": True,
            "is_real_time": False,
            "query_condition": {"type": "sql", "sql": sql, **extra.pop("query", {})},
            "trigger_condition": {"period": period, "frequency": frequency, "silence": silence,
                                  "operator": operator, "threshold": threshold,
                                  "frequency_type": "minutes", "align_time": True,
                                  "timezone": "UTC", **extra}}


def local_search(rows: dict[str, list[dict[str, Any]]]) -> tuple[bt.Search, list[str]]:
    engine = QueryEngine()
    for name, stream_rows in rows.items():
        engine.register_rows(name, stream_rows)
    sent: list[str] = []

    def search(sql: str, start: int, end: int, size: int, stream_type: str) -> list[Any]:
        sent.append(sql)
        return engine.query(sql, start_time=start, end_time=end)[:size]

    return search, sent


# --- the schedule ---------------------------------------------------------------------------


def test_run_times_are_the_aligned_grid() -> None:
    schedule = bt.Schedule(period=10, frequency=5, silence=0)
    runs = bt.run_times(schedule, at("2026-11-28T12:03:20"), at("2026-11-28T12:21:00"))
    assert runs == [at("2026-11-28T12:05:00"), at("2026-11-28T12:10:00"),
                    at("2026-11-28T12:15:00"), at("2026-11-28T12:20:00")]


def test_a_frequency_that_does_not_divide_the_hour_restarts_at_the_hour() -> None:
    # align_time: minute-of-hour % 7 — after :56 comes 1:03, aligned back to 1:00.
    schedule = bt.Schedule(period=7, frequency=7, silence=0)
    runs = bt.run_times(schedule, at("2026-11-28T12:50:00"), at("2026-11-28T13:08:00"))
    assert runs == [at("2026-11-28T12:56:00"), at("2026-11-28T13:00:00"),
                    at("2026-11-28T13:07:00")]
    # Buckets must hold 12:56, 13:00 and 13:07 and the window starts: one minute.
    assert bt.bucket_of(schedule, runs)[0] == MIN


def test_silence_skips_the_runs_in_between() -> None:
    schedule = bt.Schedule(period=10, frequency=5, silence=12)
    t = at("2026-11-28T12:00:00")
    # fired: the next run is max(5, 12) = 12 minutes later, aligned back to a 5-minute boundary.
    assert bt.next_run(schedule, t, True) == at("2026-11-28T12:10:00")
    assert bt.next_run(schedule, t, False) == at("2026-11-28T12:05:00")
    runs = [t + i * 5 * MIN for i in range(8)]  # 12:00 .. 12:35
    matched = {r: True for r in runs}
    fired, notes = bt.replay(schedule, runs, matched)
    assert fired == [at("2026-11-28T12:00:00"), at("2026-11-28T12:10:00"),
                     at("2026-11-28T12:20:00"), at("2026-11-28T12:30:00")]
    assert notes == []


def test_silence_shorter_than_the_frequency_changes_nothing() -> None:
    schedule = bt.Schedule(period=60, frequency=60, silence=10)
    runs = [at("2026-11-28T10:00:00") + i * 60 * MIN for i in range(3)]
    fired, _ = bt.replay(schedule, runs, dict.fromkeys(runs, True))
    assert fired == runs


def test_bucket_width_divides_period_and_step() -> None:
    runs = [i * 5 * MIN for i in range(1, 10)]
    assert bt.bucket_of(bt.Schedule(period=15, frequency=5, silence=0), runs) == (5 * MIN, 0)
    hourly = [i * 60 * MIN for i in range(1, 5)]
    assert bt.bucket_of(bt.Schedule(period=1440, frequency=60, silence=0), hourly)[0] == 60 * MIN
    assert bt.bucket_of(bt.Schedule(period=60, frequency=60, silence=0), hourly)[0] == 60 * MIN


# --- one alert, windows worked out by hand ----------------------------------------------------

ROWS = {"m": [
    {"_timestamp": at("2026-11-28T12:01:00"), "model": "a", "v": 6},
    {"_timestamp": at("2026-11-28T12:07:00"), "model": "a", "v": 6},
    {"_timestamp": at("2026-11-28T12:07:30"), "model": "b", "v": 1},
    {"_timestamp": at("2026-11-28T12:31:00"), "model": "a", "v": 20},
]}
SUM_SQL = ('SELECT model, total FROM (SELECT model, SUM(v) AS total FROM "m" GROUP BY model) t '
           "WHERE total > 10")


def run_one(alert: dict[str, Any], rows: dict[str, list[dict[str, Any]]] = ROWS,
            start: str = "2026-11-28T12:05:00", end: str = "2026-11-28T12:45:00",
            **kwargs: Any) -> bt.AlertResult:
    search, _ = local_search(rows)
    report = bt.backtest([("F", "a", alert)], search, start_us=at(start), end_us=at(end),
                         source="local", **kwargs)
    return report.alerts[0]


def test_sum_per_model_fires_at_the_windows_computed_by_hand() -> None:
    # Runs every 5 minutes over [T-10, T): model a sums 6+6 = 12 at T=12:10 ([12:00, 12:10)),
    # only 6 at 12:05 and 12:15; 20 at 12:35 and 12:40 ([12:30, 12:40)); nothing else.
    result = run_one(sql_alert(SUM_SQL, period=10, frequency=5))
    assert result.status == "ran", result.reason
    assert result.runs == 9
    assert result.fired == [at("2026-11-28T12:10:00"), at("2026-11-28T12:35:00"),
                            at("2026-11-28T12:40:00")]
    assert result.matched == 3
    assert result.observed[at("2026-11-28T12:10:00")] == 1  # one row (model a)


def test_silence_drops_the_refire() -> None:
    # Fired at 12:35; silence 10 → next run 12:45, so 12:40 never runs.
    result = run_one(sql_alert(SUM_SQL, period=10, frequency=5, silence=10))
    assert result.fired == [at("2026-11-28T12:10:00"), at("2026-11-28T12:35:00")]
    assert result.matched == 3


def test_a_bare_row_scan_counts_rows_per_window() -> None:
    # Rows with v > 5: 12:01, 12:07, 12:31. Two or more in [T-10, T): only T = 12:10.
    alert = sql_alert('SELECT model, v FROM "m" WHERE v > 5', period=10, frequency=5,
                      threshold=2)
    result = run_one(alert)
    assert result.status == "ran", result.reason
    assert result.fired == [at("2026-11-28T12:10:00")]


def test_an_aggregate_without_group_by_has_a_row_for_empty_windows() -> None:
    # COUNT(*) = 0 in windows without rows: "fewer than one row" fires where nothing arrived.
    sql = 'SELECT n FROM (SELECT COUNT(*) AS n FROM "m") c WHERE n < 1'
    result = run_one(sql_alert(sql, period=10, frequency=5))
    assert result.status == "ran", result.reason
    empty = ["12:20", "12:25", "12:30", "12:45"]  # windows [T-10, T) without a row
    assert result.fired == [at(f"2026-11-28T{t}:00") for t in empty]


def test_average_is_combined_from_sums_and_counts() -> None:
    # AVG(v) over [12:00, 12:10) = (6+6+1)/3 = 4.33 → not > 5; at 12:15 ([12:05, 12:15)) the
    # rows 12:07 (6) and 12:07:30 (1) average 3.5; at 12:35 and 12:40 the one row is 20.
    sql = 'SELECT a FROM (SELECT AVG(v) AS a FROM "m" HAVING AVG(v) > 5) t'
    result = run_one(sql_alert(sql, period=10, frequency=5))
    assert result.status == "ran", result.reason
    assert result.fired == [at("2026-11-28T12:05:00"), at("2026-11-28T12:35:00"),
                            at("2026-11-28T12:40:00")]


def test_custom_aggregation_alert_counts_groups_meeting_having() -> None:
    import pyarrow as pa

    from o2kit.query.engine import rows_to_table

    alert = sql_alert("", period=10, frequency=5)
    alert["query_condition"] = {
        "type": "custom", "conditions": {"version": 2, "conditions": {
            "filterType": "group", "logicalOperator": "AND", "conditions": [
                {"filterType": "condition", "column": "v", "operator": ">", "value": 0,
                 "logicalOperator": "AND"}]}},
        "aggregation": {"group_by": ["model"], "function": "sum",
                        "having": {"column": "v", "operator": ">=", "value": 12}}}
    schema: pa.Schema = rows_to_table(ROWS["m"]).schema
    result = run_one(alert, schemas={"m": schema})
    assert result.status == "ran", result.reason
    assert result.fired == [at("2026-11-28T12:10:00"), at("2026-11-28T12:35:00"),
                            at("2026-11-28T12:40:00")]
    assert result.measure == "groups"


def test_one_search_per_stream_not_per_window() -> None:
    search, sent = local_search(ROWS)
    report = bt.backtest([("F", "a", sql_alert(SUM_SQL, period=10, frequency=5))], search,
                         start_us=at("2026-11-28T12:05:00"), end_us=at("2026-11-28T14:00:00"),
                         source="local")
    assert report.alerts[0].runs == 24
    assert len(sent) == 1 and report.queries == 1
    assert "% 300000000" in sent[0] and "GROUP BY" in sent[0]


# --- not rewritten: skipped with a reason -----------------------------------------------------


@pytest.mark.parametrize(("sql", "reason"), [
    ('SELECT model FROM "m" LIMIT 5', "LIMIT"),
    ('SELECT model, SUM(v) OVER (PARTITION BY model) AS s FROM "m"', "window functions"),
    ('WITH x AS (SELECT SUM(v) AS s FROM "m") SELECT s FROM x', "WITH"),
    ('SELECT n FROM (SELECT model FROM "m") t', "returns rows"),
    ('SELECT model, MEDIAN(v) AS med FROM "m" GROUP BY model', "cannot be combined"),
    ('SELECT model, COUNT(DISTINCT v) AS n FROM "m" GROUP BY model', "cannot be combined"),
    ('SELECT model, v FROM "m" GROUP BY model', "neither grouped nor aggregated"),
])
def test_queries_that_cannot_be_bucketed_are_skipped_with_why(sql: str, reason: str) -> None:
    result = run_one(sql_alert(sql, period=10, frequency=5))
    assert result.status == "skipped"
    assert reason in result.reason


def test_any_aggregate_works_when_each_window_is_one_bucket() -> None:
    # period = frequency = 10: windows [12:00, 12:10) … are whole buckets; MEDIAN(v) of
    # [12:00, 12:10) is 6 (6, 6, 1), of [12:30, 12:40) 20.
    sql = 'SELECT med FROM (SELECT MEDIAN(v) AS med FROM "m") t WHERE med > 5'
    result = run_one(sql_alert(sql, period=10, frequency=10), start="2026-11-28T12:10:00")
    assert result.status == "ran", result.reason
    assert result.fired == [at("2026-11-28T12:10:00"), at("2026-11-28T12:40:00")]


@pytest.mark.parametrize(("change", "reason"), [
    ({"query_condition": {"type": "promql", "promql": "up"}}, "promql"),
    ({"is_real_time": True}, "real-time"),
    ({"enabled": False}, "disabled"),
])
def test_alerts_o2kit_does_not_evaluate_are_skipped(change: dict[str, Any], reason: str) -> None:
    alert = {**sql_alert(SUM_SQL, period=10, frequency=5), **change}
    result = run_one(alert)
    assert result.status == "skipped" and reason in result.reason


def test_cron_schedules_are_skipped() -> None:
    alert = sql_alert(SUM_SQL, period=10, frequency=5, frequency_type="cron", cron="0 * * * *")
    result = run_one(alert)
    assert result.status == "skipped" and "cron" in result.reason


# --- bounds -----------------------------------------------------------------------------------


def test_the_query_cap_skips_the_rest_and_says_so() -> None:
    search, sent = local_search(ROWS)
    alerts = [("F", n, sql_alert(SUM_SQL, period=10, frequency=5)) for n in ("x", "y", "z")]
    report = bt.backtest(alerts, search, start_us=at("2026-11-28T12:05:00"),
                         end_us=at("2026-11-28T12:45:00"), source="local",
                         limits=bt.Limits(max_queries=2))
    assert [r.status for r in report.alerts] == ["ran", "ran", "skipped"]
    assert "query cap of 2" in report.alerts[2].reason
    assert len(sent) == 2


def test_the_row_cap_skips_an_alert_whose_scan_is_too_big() -> None:
    # Three buckets hold rows (12:00, 12:05, 12:30) for model a, one for b: four bucket rows.
    result = run_one(sql_alert(SUM_SQL, period=10, frequency=5), limits=bt.Limits(max_rows=3))
    assert result.status == "skipped" and "more than 3 bucket rows" in result.reason
    assert run_one(sql_alert(SUM_SQL, period=10, frequency=5),
                   limits=bt.Limits(max_rows=4)).status == "ran"


def test_the_time_budget_stops_new_searches() -> None:
    ticks = iter([0.0, 0.0, 50.0, 50.0, 50.0, 50.0])
    search, sent = local_search(ROWS)
    alerts = [("F", n, sql_alert(SUM_SQL, period=10, frequency=5)) for n in ("x", "y")]
    report = bt.backtest(alerts, search, start_us=at("2026-11-28T12:05:00"),
                         end_us=at("2026-11-28T12:45:00"), source="local",
                         limits=bt.Limits(max_seconds=10), clock=lambda: next(ticks))
    assert report.alerts[0].status == "ran"
    assert report.alerts[1].status == "skipped" and "time budget" in report.alerts[1].reason
    assert len(sent) == 1


def test_a_failed_search_skips_that_alert_only() -> None:
    from o2kit.errors import O2kitError

    def search(sql: str, start: int, end: int, size: int, stream_type: str) -> list[Any]:
        raise O2kitError("server said 500")

    report = bt.backtest([("F", "a", sql_alert(SUM_SQL, period=10, frequency=5))], search,
                         start_us=at("2026-11-28T12:05:00"), end_us=at("2026-11-28T12:45:00"),
                         source="server")
    assert report.alerts[0].status == "skipped"
    assert "server said 500" in report.alerts[0].reason


def test_too_many_runs_is_refused() -> None:
    schedule = bt.Schedule(period=1, frequency=1, silence=0)
    with pytest.raises(bt.NotRewritable, match="more than 10 runs"):
        bt.run_times(schedule, 0, 60 * MIN, limit=10)


# --- the shipped alerts: the rewrite agrees with one evaluation per window --------------------


def test_shipped_alerts_agree_with_one_evaluation_per_window() -> None:
    """Six hours of synthetic traffic across a month boundary with a throttle burst, a spend
    spike and a silent log stream; budget thresholds lowered so the budget alerts fire."""
    from o2kit.aws import synth
    from o2kit.project.loader import load_project
    from o2kit.query import check

    project = load_project(REPO, None)
    config = project.config.config
    minutes = 360
    end_ms = at("2026-12-01T03:00:00") // 1000
    scenario = synth.Scenario(
        minutes=minutes, firehose_metrics=True, log_delivery_metrics=True,
        throttle_burst=synth.ThrottleBurst(start_minute=120, minutes=20, extra_per_minute=5),
        spend_spike=synth.SpendSpike(start_minute=180, minutes=60, extra_per_minute=50,
                                     token_multiplier=40),
        silence=synth.Silence(stream="logs", start_minute=240, minutes=30))
    rows, traffic = check.synthetic_rows(config, now_ms=end_ms, scenario=scenario)
    alerts = []
    others = []  # SLO burn-rate alerts: not SQL, skipped with the reason
    for resource in project.of("alert"):
        body = copy.deepcopy(resource.body)
        if body["query_condition"].get("type") != "sql":
            others.append((resource.key[0], resource.key[1], body))
            continue
        sql = body["query_condition"]["sql"]
        sql = re.sub(r"spend >= [0-9.]+", "spend >= 3", sql)
        body["query_condition"]["sql"] = re.sub(r"forecast > [0-9.]+", "forecast > 30", sql)
        alerts.append((resource.key[0], resource.key[1], body))
    search, sent = local_search(rows)
    start_us, end_us = traffic.start_ms * 1000, end_ms * 1000
    report = bt.backtest(alerts, search, start_us=start_us, end_us=end_us, source="local")
    runner = alerttest.QueryRunner(rows)
    fired_somewhere = set()
    for result, (_, name, body) in zip(report.alerts, alerts, strict=True):
        assert result.status == "ran", (name, result.reason)
        schedule = bt.Schedule.of(body)
        runs = bt.run_times(schedule, start_us, end_us)
        direct = {t: alerttest.evaluate(body, runner, t).fires for t in runs}
        fired, _ = bt.replay(schedule, runs, direct)
        assert result.runs == len(runs), name
        assert result.matched == sum(direct.values()), name
        assert result.fired == fired, name
        if fired:
            fired_somewhere.add(name)
    # The data exercises the paths that matter: grouped, joined and calendar-bounded alerts.
    assert {"bedrock_throttling", "bedrock_pipeline_freshness", "bedrock_token_budget",
            "budget_bedrock_80pct", "budget_search_team_80pct"} <= fired_somewhere
    assert len(sent) == report.queries == len(alerts) + 1  # freshness reads two streams
    skipped = bt.backtest(others, search, start_us=start_us, end_us=end_us, source="local")
    assert all(r.status == "skipped" and "not evaluated" in r.reason for r in skipped.alerts)
    assert skipped.queries == 0
