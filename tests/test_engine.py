"""o2kit.query.engine: OpenObserve SQL on DataFusion, checked against answers computed in plain
Python."""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import pyarrow as pa
import pytest

from o2kit.query import udfs as engine_udfs
from o2kit.query.engine import (
    ALL_PLACEHOLDER,
    QueryEngine,
    QueryError,
    adjust_interval,
    auto_histogram_interval,
    remove_all_placeholder,
    substitute_variables,
)

T0 = 1_767_607_200_000_000  # 2026-01-05T10:00:00Z in µs
MINUTE = 60_000_000
HOUR = 60 * MINUTE


def _iso(micros: int) -> str:
    return dt.datetime.fromtimestamp(micros / 1e6, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    rng = random.Random(7)
    out = []
    for i in range(600):  # one row every 12 s for 2 h
        out.append({
            "_timestamp": T0 + i * 12_000_000,
            "service": rng.choice(["checkout", "Checkout-API", "cart", "search"]),
            "latency": rng.randint(5, 5000),
            "weight": rng.randint(1, 9),
            "ok": rng.random() < 0.9,
        })
    return out


@pytest.fixture(scope="module")
def engine(rows: list[dict]) -> QueryEngine:
    e = QueryEngine()
    e.register_rows("app", rows)
    return e


def _q(engine: QueryEngine, sql: str, start: int = T0, end: int = T0 + 2 * HOUR, **kw) -> list:
    return engine.query(sql, start_time=start, end_time=end, **kw)


# --- counts, sums, time window -------------------------------------------------------------

def test_count_and_sum_over_whole_range(engine: QueryEngine, rows: list[dict]) -> None:
    hits = _q(engine, 'SELECT count(*) AS n, sum(latency) AS s FROM "app"')
    assert hits == [{"n": len(rows), "s": sum(r["latency"] for r in rows)}]


def test_time_window_is_start_inclusive_end_exclusive(engine: QueryEngine, rows: list) -> None:
    start, end = T0 + 10 * MINUTE, T0 + 25 * MINUTE
    expected = [r for r in rows if start <= r["_timestamp"] < end]
    hits = _q(engine, 'SELECT count(*) AS n, min(_timestamp) AS lo, max(_timestamp) AS hi '
                      'FROM "app"', start, end)
    assert hits == [{"n": len(expected), "lo": expected[0]["_timestamp"],
                     "hi": expected[-1]["_timestamp"]}]
    assert expected[-1]["_timestamp"] < end and any(r["_timestamp"] == end for r in rows)


def test_rows_outside_window_are_invisible_even_without_where(engine: QueryEngine) -> None:
    assert _q(engine, 'SELECT count(*) AS n FROM "app"', T0 - HOUR, T0) == [{"n": 0}]


# --- histogram ------------------------------------------------------------------------------

def _buckets(rows: list[dict], width: int, start: int, end: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    origin = 978_307_200_000_000  # 2001-01-01T00:00:00Z, the date_bin origin OpenObserve uses
    for r in rows:
        if start <= r["_timestamp"] < end:
            key = _iso(r["_timestamp"] - (r["_timestamp"] - origin) % width)
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_histogram_with_explicit_interval(engine: QueryEngine, rows: list[dict]) -> None:
    start, end = T0 + 7 * MINUTE, T0 + 100 * MINUTE
    hits = _q(engine, "SELECT histogram(_timestamp, '15 minute') AS ts, count(*) AS c "
                      'FROM "app" GROUP BY ts ORDER BY ts', start, end)
    assert {h["ts"]: h["c"] for h in hits} == _buckets(rows, 15 * MINUTE, start, end)
    assert hits[0]["ts"] == "2026-01-05T10:00:00"  # bucket start, as a string like the API


@pytest.mark.parametrize(
    ("span", "expected"),
    [(2 * HOUR, "1 minute"), (HOUR, "30 second"), (45 * MINUTE, "15 second"),
     (20 * MINUTE, "10 second"), (5_000_000, "1 second"), (6 * HOUR, "1 hour"),
     (24 * 15 * HOUR, "2 hour"), (24 * 60 * HOUR, "1 day")],
)
def test_automatic_interval_table(span: int, expected: str) -> None:
    assert auto_histogram_interval(T0, T0 + span) == expected


def test_histogram_without_interval_uses_automatic_interval(engine: QueryEngine,
                                                            rows: list[dict]) -> None:
    start, end = T0, T0 + 45 * MINUTE  # ≥ 30 min → 15 second buckets
    hits = _q(engine, 'SELECT histogram(_timestamp) AS ts, count(*) AS c FROM "app" '
                      "GROUP BY ts ORDER BY ts", start, end)
    assert {h["ts"]: h["c"] for h in hits} == _buckets(rows, 15_000_000, start, end)


def test_request_histogram_interval_wins_and_is_adjusted(engine: QueryEngine,
                                                         rows: list[dict]) -> None:
    # 420 s does not divide a day: OpenObserve rounds up to 600 s.
    assert adjust_interval(420, T0, T0 + HOUR) == 600
    assert adjust_interval(2 * 86400, T0, T0 + HOUR) == 2 * 86400
    start = T0 + 3 * MINUTE
    hits = _q(engine, 'SELECT histogram(_timestamp) AS ts, count(*) AS c FROM "app" '
                      "GROUP BY ts ORDER BY ts", start, T0 + HOUR, histogram_interval=420)
    # The scan start snaps down to a multiple of the requested 420 s; buckets are 600 s.
    snapped = start - start % (420 * 1_000_000)
    assert {h["ts"]: h["c"] for h in hits} == _buckets(rows, 600_000_000, snapped, T0 + HOUR)


def test_histogram_with_timezone_shifts_buckets(engine: QueryEngine, rows: list[dict]) -> None:
    hits = _q(engine, "SELECT histogram(_timestamp, '1 hour', '+05:30') AS ts, count(*) AS c "
                      'FROM "app" GROUP BY ts ORDER BY ts')
    shifted = [{"_timestamp": r["_timestamp"] + 19_800_000_000} for r in rows]
    expected = _buckets(shifted, HOUR, T0 + 19_800_000_000, T0 + 2 * HOUR + 19_800_000_000)
    assert {h["ts"]: h["c"] for h in hits} == expected


@pytest.mark.parametrize("request_interval", [None, 60])
def test_bare_number_interval_is_invalid_sql(engine: QueryEngine,
                                             request_interval: int | None) -> None:
    with pytest.raises(QueryError) as info:
        _q(engine, "SELECT histogram(_timestamp, '10') AS ts FROM \"app\" GROUP BY ts",
           histogram_interval=request_interval)
    assert info.value.code == 20001


# --- string and regex matching --------------------------------------------------------------

@pytest.mark.parametrize(
    ("function", "needle", "predicate"),
    [("str_match", "heck", lambda s: "heck" in s),
     ("match_field", "Check", lambda s: "Check" in s),
     ("str_match_ignore_case", "CHECKOUT", lambda s: "checkout" in s.lower()),
     ("match_field_ignore_case", "api", lambda s: "api" in s.lower()),
     ("re_match", "^c[a-z]+t$", lambda s: s in ("checkout", "cart")),
     ("re_not_match", "out", lambda s: "out" not in s)],
)
def test_string_matching(engine: QueryEngine, rows: list, function: str, needle: str,
                         predicate) -> None:
    hits = _q(engine, f"SELECT count(*) AS n FROM \"app\" WHERE {function}(service, '{needle}')")
    assert hits == [{"n": sum(1 for r in rows if predicate(r["service"]))}]


def test_str_match_on_null_field_matches_nothing() -> None:
    e = QueryEngine()
    e.register_rows("s", [{"_timestamp": T0, "a": "x"}, {"_timestamp": T0 + 1, "b": 1}])
    assert e.query("SELECT count(*) AS n FROM \"s\" WHERE str_match(a, '')",
                   start_time=T0, end_time=T0 + 10) == [{"n": 1}]


# --- percentiles ----------------------------------------------------------------------------

def _exact_percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (percentile_cont)."""
    ordered = sorted(values)
    rank = p * (len(ordered) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


@pytest.mark.parametrize("p", [0.5, 0.9, 0.99])
def test_approx_percentile_both_forms_within_one_percent(engine: QueryEngine, rows: list,
                                                         p: float) -> None:
    exact = _exact_percentile([r["latency"] for r in rows], p)
    hits = _q(engine, f"SELECT approx_percentile_cont(latency, {p}) AS a, "
                      f"approx_percentile_cont({p}) WITHIN GROUP (ORDER BY latency) AS b, "
                      f"percentile_cont({p}) WITHIN GROUP (ORDER BY latency) AS c FROM \"app\"")
    (hit,) = hits
    assert hit["c"] == pytest.approx(exact)
    assert hit["a"] == pytest.approx(exact, rel=0.01)
    assert hit["b"] == pytest.approx(exact, rel=0.01)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 0.99, 1.0])
def test_summary_percentile_is_weighted_rank(engine: QueryEngine, rows: list, p: float) -> None:
    pairs = sorted((r["latency"], r["weight"]) for r in rows)
    target = p * sum(w for _, w in pairs)
    running, expected = 0, None
    for value, weight in pairs:
        running += weight
        if running >= target:
            expected = value
            break
    hits = _q(engine, "SELECT summary_percentile(CAST(latency AS DOUBLE), weight, "
                      f"{p}) AS v FROM \"app\"")
    assert hits == [{"v": float(expected)}]


def test_summary_percentile_per_group(engine: QueryEngine, rows: list) -> None:
    hits = _q(engine, "SELECT service, summary_percentile(CAST(latency AS DOUBLE), weight, 0.5) "
                      'AS v FROM "app" GROUP BY service ORDER BY service')
    for hit in hits:
        pairs = sorted((r["latency"], r["weight"]) for r in rows if r["service"] == hit["service"])
        half = 0.5 * sum(w for _, w in pairs)
        cumulative = [sum(w for _, w in pairs[: i + 1]) for i in range(len(pairs))]
        assert hit["v"] == pairs[next(i for i, c in enumerate(cumulative) if c >= half)][0]
    assert len(hits) == 4


# --- JSON helpers ---------------------------------------------------------------------------

CONVERSE_BODY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "hello"}]}},
    "stopReason": "end_turn",
    "metrics": {"latencyMs": 1432},
    "usage": {"inputTokens": 812, "outputTokens": 95, "totalTokens": 907},
}


@pytest.fixture(scope="module")
def json_engine() -> QueryEngine:
    e = QueryEngine()
    e.register_rows("logs", [
        {"_timestamp": T0, "body": json.dumps(CONVERSE_BODY)},
        {"_timestamp": T0 + 1, "body": json.dumps({"metrics": {"latencyMs": 12.5}})},
        {"_timestamp": T0 + 2, "body": "not json"},
        {"_timestamp": T0 + 3},
    ])
    return e


def _json(engine: QueryEngine, expr: str) -> list:
    hits = engine.query(f'SELECT {expr} AS v FROM "logs" ORDER BY _timestamp',
                        start_time=T0, end_time=T0 + 10)
    return [h.get("v") for h in hits]


def test_json_get_int_nested_path(json_engine: QueryEngine) -> None:
    assert _json(json_engine, "json_get_int(body, 'metrics', 'latencyMs')") == [
        1432, None, None, None]  # a float is not an int; invalid JSON and NULL give NULL


def test_json_get_float_str_and_arrays(json_engine: QueryEngine) -> None:
    assert _json(json_engine, "json_get_float(body, 'metrics', 'latencyMs')") == [
        1432.0, 12.5, None, None]
    assert _json(json_engine, "json_get_str(body, 'stopReason')") == ["end_turn", None, None,
                                                                     None]
    assert _json(json_engine, "json_get_str(body, 'output', 'message', 'content', 0, 'text')"
                 )[0] == "hello"
    assert _json(json_engine, "json_get_int(body, 'usage')")[0] is None  # object, not int
    assert json.loads(_json(json_engine, "json_get_json(body, 'usage')")[0]) == \
        CONVERSE_BODY["usage"]
    assert _json(json_engine, "json_contains(body, 'metrics')") == [True, True, False, None]


def test_json_in_where_and_aggregates(json_engine: QueryEngine) -> None:
    hits = json_engine.query(
        "SELECT sum(json_get_int(body, 'usage', 'outputTokens')) AS out, count(*) AS n "
        "FROM \"logs\" WHERE json_get_int(body, 'metrics', 'latencyMs') IS NOT NULL",
        start_time=T0, end_time=T0 + 10)
    assert hits == [{"out": 95, "n": 1}]


@pytest.mark.parametrize("irregular", [False, True])
def test_json_numbers_fast_and_row_by_row_paths_agree(irregular: bool) -> None:
    # Regular documents take Arrow's JSON reader; one odd document sends the whole batch through
    # the row-by-row parser. Both must give what this plain-Python reading of the rules gives.
    docs: list[str | None] = [json.dumps({"m": {"l": v}}) for v in (5, 0, 123456789, -4)]
    docs += [json.dumps({"m": {}}), json.dumps({"x": 1}), None, json.dumps({"m": None})]
    if irregular:
        docs += [json.dumps({"m": {"l": 2.5}}), json.dumps({"m": [1]}), "oops", ""]
    e = QueryEngine()
    e.register_rows("d", [{"_timestamp": T0 + i, **({"b": d} if d is not None else {})}
                          for i, d in enumerate(docs)])

    def expected(doc: str | None, want_int: bool) -> float | None:
        try:
            value = json.loads(doc)["m"]["l"]  # type: ignore[arg-type]
        except (TypeError, KeyError, ValueError):
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return None
        if want_int:
            return value if isinstance(value, int) else None
        return float(value)

    fast = engine_udfs._arrow_number(pa.array(docs, pa.string()), ["m", "l"], pa.int64())
    assert (fast is None) == irregular  # the case really exercises the path it names

    hits = e.query("SELECT json_get_int(b, 'm', 'l') AS i, json_get_float(b, 'm', 'l') AS f "
                   'FROM "d" ORDER BY _timestamp', start_time=T0, end_time=T0 + 100)
    assert [h.get("i") for h in hits] == [expected(d, True) for d in docs]
    assert [h.get("f") for h in hits] == [expected(d, False) for d in docs]


def test_spath_returns_text(json_engine: QueryEngine) -> None:
    assert _json(json_engine, "spath(body, 'metrics.latencyMs')") == ["1432", "12.5", None,
                                                                     None]


# --- dashboard variables and the All placeholder --------------------------------------------

def test_variable_substitution_forms() -> None:
    sql = "WHERE a = '$svc' AND b = '${ svc }' AND c IN (${models}) AND d = '{{models:csv}}'"
    out = substitute_variables(sql, {"svc": "cart", "models": ["m1", "m2"]})
    assert out == "WHERE a = 'cart' AND b = 'cart' AND c IN ('m1','m2') AND d = 'm1,m2'"
    assert substitute_variables("x IN ($m)", {"m": []}) == f"x IN ('{ALL_PLACEHOLDER}')"


@pytest.mark.parametrize(
    ("condition", "keeps_all"),
    [(f"service = '{ALL_PLACEHOLDER}'", True), (f"'{ALL_PLACEHOLDER}' = service", True),
     (f"service IN ('{ALL_PLACEHOLDER}')", True), (f"str_match(service, '{ALL_PLACEHOLDER}')",
                                                   True),
     (f"service LIKE '{ALL_PLACEHOLDER}'", True), (f"service != '{ALL_PLACEHOLDER}'", False),
     (f"service NOT IN ('{ALL_PLACEHOLDER}')", False)],
)
def test_all_placeholder_rewrite(engine: QueryEngine, rows: list, condition: str,
                                 keeps_all: bool) -> None:
    hits = _q(engine, f'SELECT count(*) AS n FROM "app" WHERE {condition} AND latency > 100')
    expected = sum(1 for r in rows if r["latency"] > 100) if keeps_all else 0
    assert hits == [{"n": expected}]


def test_all_variable_end_to_end(engine: QueryEngine, rows: list) -> None:
    sql = "SELECT count(*) AS n FROM \"app\" WHERE service IN ($svc) AND str_match(service, '$q')"
    every = _q(engine, sql, variables={"svc": [], "q": ALL_PLACEHOLDER})
    some = _q(engine, sql, variables={"svc": ["cart", "search"], "q": "ar"})
    assert every == [{"n": len(rows)}]
    assert some == [{"n": sum(1 for r in rows if r["service"] in ("cart", "search")
                              and "ar" in r["service"])}]


def test_placeholder_free_sql_is_left_alone() -> None:
    sql = "SELECT histogram(_timestamp) AS ts FROM \"x\" WHERE a = 'b'"
    assert remove_all_placeholder(sql) is sql


# --- errors, schema -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("sql", "code"),
    [("SELEC count(*) FROM \"app\"", 20001), ('SELECT nope FROM "app"', 20004),
     ('SELECT no_such_fn(latency) FROM "app"', 20005), ('SELECT 1 FROM "missing"', 20002)],
)
def test_error_codes(engine: QueryEngine, sql: str, code: int) -> None:
    with pytest.raises(QueryError) as info:
        _q(engine, sql)
    assert info.value.code == code
    assert str(code) in str(info.value)


def test_schema_inference_and_nulls_left_out_of_hits() -> None:
    e = QueryEngine()
    e.register_rows("s", [{"_timestamp": T0, "i": 1, "f": 1, "b": True, "m": 1, "arr": [1, 2]}])
    e.register_rows("s", [{"_timestamp": T0 + 1, "f": 2.5, "m": "x"}])
    (first, second) = e.query('SELECT * FROM "s" ORDER BY _timestamp', start_time=T0,
                              end_time=T0 + 5)
    assert first == {"_timestamp": T0, "i": 1, "f": 1.0, "b": True, "m": "1", "arr": "[1,2]"}
    assert second == {"_timestamp": T0 + 1, "f": 2.5, "m": "x"}


def test_register_arrow_replaces_stream() -> None:
    e = QueryEngine()
    e.register_arrow("s", pa.table({"_timestamp": [T0, T0 + 1, T0 + 2], "x": [1.5, 2.5, 4.0]}))
    assert e.query('SELECT sum(x) AS s FROM "s"', start_time=T0, end_time=T0 + 2) == [{"s": 4.0}]


@pytest.mark.parametrize("stream", ["bedrock_logs", "MyStream", "k8s.logs", "app-logs"])
def test_stream_names_are_taken_literally(stream: str) -> None:
    e = QueryEngine()
    e.register_rows(stream, [{"_timestamp": T0, "v": 1}])
    e.register_rows(stream, [{"_timestamp": T0 + 5, "v": 2}])
    assert e.query(f'SELECT sum(v) AS s FROM "{stream}"', start_time=T0,
                   end_time=T0 + 10) == [{"s": 3}]
