"""The Bedrock SQL patterns o2kit renders, run by o2kit.query.engine on small synthetic streams.

Rows are shaped as OpenObserve stores Firehose metric-stream datapoints (count/sum/max/min hoisted,
``metric_dimensions`` = ``ModelId=["…"]``) and CloudWatch invocation-log events (``message_*``
columns). Every expected number is computed here in plain Python from the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections import defaultdict

import pytest

from o2kit.query.engine import QueryEngine

T0 = 1_787_220_000_000_000  # 2026-08-20T10:00:00Z, µs
MINUTE = 60_000_000
HOUR = 60 * MINUTE
START, END = T0, T0 + HOUR
ORIGIN = 978_307_200_000_000  # 2001-01-01T00:00:00Z, OpenObserve's date_bin origin
MODELS = ["anthropic.claude-3-haiku-20240307-v1:0", "global.anthropic.claude-sonnet-4-5-v1:0"]
METRICS = ["Invocations", "InvocationClientErrors", "InvocationServerErrors",
           "InvocationThrottles", "InvocationLatency", "InputTokenCount", "OutputTokenCount",
           "CacheReadInputTokenCount", "CacheWriteInputTokenCount"]


def bucket(ts: int, width: int) -> str:
    start = ts - (ts - ORIGIN) % width
    return dt.datetime.fromtimestamp(start / 1e6, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def model_dimension(model: str) -> str:
    return f'ModelId=["{model}"]'


@pytest.fixture(scope="module")
def metric_rows() -> list[dict]:
    rng = random.Random(11)
    rows = []
    for minute in range(-5, 65):  # a few datapoints fall outside [START, END)
        ts = T0 + minute * MINUTE
        for model in MODELS:
            for metric in METRICS:
                n = float(rng.randint(1, 40))
                if metric == "InvocationLatency":
                    lo, hi = rng.uniform(200, 600), rng.uniform(900, 6000)
                    total = round(n * rng.uniform(lo, hi))
                    values = {"count": n, "sum": float(total), "min": round(lo), "max": round(hi)}
                else:
                    s = float(rng.randint(0, 5000))
                    values = {"count": n, "sum": s, "min": 0.0, "max": s}
                rows.append({
                    "_timestamp": ts, "metric_stream_name": "bedrock-ms",
                    "account_id": "111122223333", "region": "us-east-1",
                    "namespace": "AWS/Bedrock", "metric_name": metric,
                    "unit": "Milliseconds" if metric == "InvocationLatency" else "Count",
                    "metric_dimensions": model_dimension(model),
                    **{k: float(v) for k, v in values.items()},
                })
        # A dimensionless aggregate that the ModelId filter must leave out.
        rows.append({"_timestamp": ts, "namespace": "AWS/Bedrock", "metric_name": "Invocations",
                     "metric_dimensions": "", "count": 1.0, "sum": 999.0, "min": 1.0,
                     "max": 1.0, "unit": "Count", "metric_stream_name": "bedrock-ms",
                     "account_id": "111122223333", "region": "us-east-1"})
    return rows


@pytest.fixture(scope="module")
def log_rows() -> list[dict]:
    rng = random.Random(5)
    rows = []
    for i in range(2400):  # one event every 1.5 s
        ts = T0 + i * 1_500_000
        model = MODELS[i % 2]
        operation = rng.choice(["Converse", "Converse", "ConverseStream", "InvokeModel"])
        latency = int(rng.lognormvariate(7, 0.6))
        body = {"stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1}}
        if operation != "InvokeModel":
            body["metrics"] = {"latencyMs": latency}
        row = {
            "_timestamp": ts, "message_schematype": "ModelInvocationLog",
            "message_operation": operation, "message_modelid": model,
            "message_output_outputbodyjson": json.dumps(body),
            "message_input_inputtokencount": rng.randint(10, 4000),
            "message_output_outputtokencount": rng.randint(1, 900),
        }
        if rng.random() < 0.5:
            row["message_input_cachereadinputtokencount"] = rng.randint(0, 2000)
        if rng.random() < 0.2:
            row["message_input_cachewriteinputtokencount"] = rng.randint(0, 500)
        if rng.random() < 0.05:
            row["message_errorcode"] = "ThrottlingException"
        rows.append(row)
    rows.append({"_timestamp": T0 + 5, "message_schematype": "Other", "message_modelid": "x"})
    return rows


@pytest.fixture(scope="module")
def engine(metric_rows: list[dict], log_rows: list[dict]) -> QueryEngine:
    e = QueryEngine()
    e.register_rows("bedrock_metrics", metric_rows)
    e.register_rows("bedrock_logs", log_rows)
    return e


def _in_window(rows: list[dict]) -> list[dict]:
    return [r for r in rows if START <= r["_timestamp"] < END]


def _run(engine: QueryEngine, sql: str) -> list[dict]:
    return engine.query(sql, start_time=START, end_time=END)


MODEL_ID = "split_part(split_part(metric_dimensions, 'ModelId=[\"', 2), '\"]', 1)"

SQL_6_1 = f"""
SELECT histogram(_timestamp, '5 minute') AS ts,
       {MODEL_ID} AS model_id,
       SUM("sum") FILTER (WHERE metric_name = 'Invocations')            AS invocations,
       SUM("sum") FILTER (WHERE metric_name = 'InvocationClientErrors') AS client_errors,
       SUM("sum") FILTER (WHERE metric_name = 'InvocationServerErrors') AS server_errors,
       SUM("sum") FILTER (WHERE metric_name = 'InvocationThrottles')    AS throttles,
       SUM("sum") FILTER (WHERE metric_name = 'Invocations') / 300.0    AS invocations_per_s
FROM "bedrock_metrics"
WHERE namespace = 'AWS/Bedrock' AND metric_dimensions LIKE 'ModelId=%'
  AND metric_name IN ('Invocations','InvocationClientErrors','InvocationServerErrors',
                      'InvocationThrottles')
GROUP BY ts, model_id
ORDER BY ts, model_id
"""


def test_6_1_invocations_errors_throttles(engine: QueryEngine, metric_rows: list) -> None:
    expected: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    names = {"Invocations": "invocations", "InvocationClientErrors": "client_errors",
             "InvocationServerErrors": "server_errors", "InvocationThrottles": "throttles"}
    for r in _in_window(metric_rows):
        if r["metric_dimensions"].startswith("ModelId=") and r["metric_name"] in names:
            model = r["metric_dimensions"][len('ModelId=["'):-2]
            expected[(bucket(r["_timestamp"], 5 * MINUTE), model)][names[r["metric_name"]]] += \
                r["sum"]
    hits = _run(engine, SQL_6_1)
    assert len(hits) == len(expected) == 12 * len(MODELS)
    for hit in hits:
        want = expected[(hit["ts"], hit["model_id"])]
        for column in names.values():
            assert hit[column] == want[column]
        assert hit["invocations_per_s"] == pytest.approx(want["invocations"] / 300.0)
    assert [h["ts"] for h in hits] == sorted(h["ts"] for h in hits)


SQL_6_3_LOGS = """
SELECT histogram(_timestamp, '5 minute') AS ts,
       message_modelid AS model_id,
       approx_percentile_cont(0.50) WITHIN GROUP (ORDER BY json_get_int(message_output_outputbodyjson, 'metrics', 'latencyMs')) AS p50_ms,
       approx_percentile_cont(0.90) WITHIN GROUP (ORDER BY json_get_int(message_output_outputbodyjson, 'metrics', 'latencyMs')) AS p90_ms,
       approx_percentile_cont(json_get_int(message_output_outputbodyjson, 'metrics', 'latencyMs'), 0.99) AS p99_ms,
       COUNT(*) AS samples
FROM "bedrock_logs"
WHERE message_schematype = 'ModelInvocationLog'
  AND message_operation IN ('Converse', 'ConverseStream')
  AND json_get_int(message_output_outputbodyjson, 'metrics', 'latencyMs') IS NOT NULL
GROUP BY ts, model_id
ORDER BY ts
"""  # noqa: E501  (the query is kept as the reference writes it)


def _percentile_cont(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = p * (len(ordered) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def test_6_3_latency_percentiles_from_logs(engine: QueryEngine, log_rows: list) -> None:
    samples: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in _in_window(log_rows):
        if r.get("message_operation") in ("Converse", "ConverseStream"):
            latency = json.loads(r["message_output_outputbodyjson"])["metrics"]["latencyMs"]
            samples[(bucket(r["_timestamp"], 5 * MINUTE), r["message_modelid"])].append(latency)
    hits = _run(engine, SQL_6_3_LOGS)
    assert len(hits) == len(samples)
    for hit in hits:
        values = samples[(hit["ts"], hit["model_id"])]
        assert hit["samples"] == len(values)
        # ~75 samples per group: a t-digest estimate is only pinned down to the neighbouring
        # order statistics (the 1 % check on a large sample is in test_engine.py).
        ordered = sorted(values)
        for column, p in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99)):
            rank = p * (len(ordered) - 1)
            low = ordered[max(0, math.floor(rank) - 1)]
            high = ordered[min(len(ordered) - 1, math.ceil(rank) + 1)]
            assert low <= hit[column] <= high, (column, _percentile_cont(values, p), hit[column])


SQL_6_3_METRICS = f"""
SELECT histogram(_timestamp, '5 minute') AS ts,
       {MODEL_ID} AS model_id,
       SUM("sum") / NULLIF(SUM("count"), 0) AS mean_ms,
       MAX("max") AS max_ms,
       summary_percentile("sum" / "count", CAST("count" AS BIGINT), 0.50) AS approx_p50_ms,
       summary_percentile("sum" / "count", CAST("count" AS BIGINT), 0.99) AS approx_p99_ms
FROM "bedrock_metrics"
WHERE namespace = 'AWS/Bedrock' AND metric_name = 'InvocationLatency'
  AND metric_dimensions LIKE 'ModelId=%' AND "count" > 0
GROUP BY ts, model_id
ORDER BY ts
"""


def _weighted(pairs: list[tuple[float, int]], p: float) -> float:
    pairs = sorted(pairs)
    target, running = p * sum(c for _, c in pairs), 0
    for value, count in pairs:
        running += count
        if running >= target:
            return value
    raise AssertionError("unreachable")


def test_6_3_latency_from_metric_summaries(engine: QueryEngine, metric_rows: list) -> None:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in _in_window(metric_rows):
        if r["metric_name"] == "InvocationLatency":
            groups[(bucket(r["_timestamp"], 5 * MINUTE), r["metric_dimensions"][10:-2])].append(r)
    hits = _run(engine, SQL_6_3_METRICS)
    assert len(hits) == len(groups)
    for hit in hits:
        rows = groups[(hit["ts"], hit["model_id"])]
        assert hit["mean_ms"] == pytest.approx(sum(r["sum"] for r in rows)
                                               / sum(r["count"] for r in rows))
        assert hit["max_ms"] == max(r["max"] for r in rows)
        pairs = [(r["sum"] / r["count"], int(r["count"])) for r in rows]
        assert hit["approx_p50_ms"] == pytest.approx(_weighted(pairs, 0.5))
        assert hit["approx_p99_ms"] == pytest.approx(_weighted(pairs, 0.99))


SQL_6_4_METRICS = f"""
SELECT histogram(_timestamp, '1 hour') AS ts,
       {MODEL_ID} AS model_id,
       SUM("sum") FILTER (WHERE metric_name = 'InputTokenCount')           AS input_tokens,
       SUM("sum") FILTER (WHERE metric_name = 'OutputTokenCount')          AS output_tokens,
       SUM("sum") FILTER (WHERE metric_name = 'CacheReadInputTokenCount')  AS cache_read_tokens,
       SUM("sum") FILTER (WHERE metric_name = 'CacheWriteInputTokenCount') AS cache_write_tokens
FROM "bedrock_metrics"
WHERE namespace = 'AWS/Bedrock' AND metric_dimensions LIKE 'ModelId=%'
GROUP BY ts, model_id ORDER BY ts
"""

SQL_6_4_LOGS = """
SELECT histogram(_timestamp, '1 hour') AS ts, message_modelid AS model_id,
       SUM(message_input_inputtokencount)   AS input_tokens,
       SUM(message_output_outputtokencount) AS output_tokens
FROM "bedrock_logs" WHERE message_schematype = 'ModelInvocationLog'
GROUP BY ts, model_id ORDER BY ts
"""


def test_6_4_token_usage_from_metrics(engine: QueryEngine, metric_rows: list) -> None:
    columns = {"InputTokenCount": "input_tokens", "OutputTokenCount": "output_tokens",
               "CacheReadInputTokenCount": "cache_read_tokens",
               "CacheWriteInputTokenCount": "cache_write_tokens"}
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in _in_window(metric_rows):
        if r["metric_name"] in columns and r["metric_dimensions"]:
            expected[r["metric_dimensions"][10:-2]][columns[r["metric_name"]]] += r["sum"]
    hits = _run(engine, SQL_6_4_METRICS)
    assert {h["ts"] for h in hits} == {"2026-08-20T10:00:00"}
    assert {h["model_id"]: {c: h[c] for c in columns.values()} for h in hits} == expected


def test_6_4_token_usage_from_logs(engine: QueryEngine, log_rows: list) -> None:
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in _in_window(log_rows):
        if r["message_schematype"] == "ModelInvocationLog":
            expected[r["message_modelid"]][0] += r["message_input_inputtokencount"]
            expected[r["message_modelid"]][1] += r["message_output_outputtokencount"]
    hits = _run(engine, SQL_6_4_LOGS)
    assert {h["model_id"]: [h["input_tokens"], h["output_tokens"]] for h in hits} == expected


SQL_6_5 = """
SELECT model_id,
       in_tok, out_tok, cr_tok, cw_tok,
       (in_tok * p_in + cw_tok * p_in * 1.25 + cr_tok * p_in * 0.10 + out_tok * p_out) / 1000.0 AS cost_usd
FROM (
  SELECT model_id, in_tok, out_tok, cr_tok, cw_tok,
         CASE WHEN model_id LIKE 'global.anthropic.claude-sonnet-4-5%'   THEN 0.003
              WHEN model_id LIKE '%anthropic.claude-sonnet-4-5%'         THEN 0.0033
              WHEN model_id LIKE '%anthropic.claude-3-haiku-20240307%'   THEN 0.00025
              ELSE NULL END AS p_in,
         CASE WHEN model_id LIKE 'global.anthropic.claude-sonnet-4-5%'   THEN 0.015
              WHEN model_id LIKE '%anthropic.claude-sonnet-4-5%'         THEN 0.0165
              WHEN model_id LIKE '%anthropic.claude-3-haiku-20240307%'   THEN 0.00125
              ELSE NULL END AS p_out
  FROM (
    SELECT message_modelid AS model_id,
           SUM(message_input_inputtokencount)                        AS in_tok,
           SUM(message_output_outputtokencount)                      AS out_tok,
           SUM(COALESCE(message_input_cachereadinputtokencount, 0))  AS cr_tok,
           SUM(COALESCE(message_input_cachewriteinputtokencount, 0)) AS cw_tok
    FROM "bedrock_logs"
    WHERE message_schematype = 'ModelInvocationLog'
    GROUP BY message_modelid
  ) tokens
) priced
ORDER BY cost_usd DESC
"""  # noqa: E501

PRICES = {MODELS[0]: (0.00025, 0.00125), MODELS[1]: (0.003, 0.015)}


def test_6_5_token_cost(engine: QueryEngine, log_rows: list) -> None:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in _in_window(log_rows):
        if r["message_schematype"] == "ModelInvocationLog":
            t = totals[r["message_modelid"]]
            t[0] += r["message_input_inputtokencount"]
            t[1] += r["message_output_outputtokencount"]
            t[2] += r.get("message_input_cachereadinputtokencount", 0)
            t[3] += r.get("message_input_cachewriteinputtokencount", 0)
    cost = {}
    for model, (i, o, cr, cw) in totals.items():
        p_in, p_out = PRICES[model]
        cost[model] = (i * p_in + cw * p_in * 1.25 + cr * p_in * 0.10 + o * p_out) / 1000.0
    hits = _run(engine, SQL_6_5)
    assert [h["model_id"] for h in hits] == sorted(cost, key=cost.__getitem__, reverse=True)
    for hit in hits:
        assert [hit["in_tok"], hit["out_tok"], hit["cr_tok"], hit["cw_tok"]] == \
            totals[hit["model_id"]]
        assert hit["cost_usd"] == pytest.approx(cost[hit["model_id"]])


def test_6_1_with_model_variable_and_all(engine: QueryEngine, metric_rows: list) -> None:
    sql = SQL_6_1.replace("AND metric_dimensions LIKE 'ModelId=%'",
                          f"AND metric_dimensions LIKE 'ModelId=%' AND {MODEL_ID} IN ($model)")
    one = engine.query(sql, start_time=START, end_time=END, variables={"model": [MODELS[1]]})
    every = engine.query(sql, start_time=START, end_time=END, variables={"model": []})
    assert {h["model_id"] for h in one} == {MODELS[1]}
    assert every == _run(engine, SQL_6_1)


@pytest.mark.parametrize(
    "sql", [SQL_6_1, SQL_6_3_LOGS, SQL_6_3_METRICS, SQL_6_4_METRICS, SQL_6_4_LOGS, SQL_6_5],
    ids=["6.1", "6.3-logs", "6.3-metrics", "6.4-metrics", "6.4-logs", "6.5"],
)
def test_all_placeholder_leaves_every_pattern_intact(engine: QueryEngine, sql: str) -> None:
    # An "All" filter makes the engine re-write the SQL through sqlglot; the answer must not move.
    with_all = sql.replace("WHERE ", "WHERE region IN ('_o2_all_') AND ", 1) if "bedrock_metrics" \
        in sql else sql.replace("WHERE ", "WHERE str_match(message_modelid, '_o2_all_') AND ", 1)
    assert with_all != sql
    assert _run(engine, with_all) == _run(engine, sql)
