"""o2kit.validate.sqlcheck on the SQL patterns of the Bedrock reference (bedrock-telemetry.md §6)
and on
the quoting and placeholder cases that break naive parsers."""

from __future__ import annotations

import pytest

from o2kit.validate import sqlcheck
from o2kit.validate.sqlcheck import SqlParseError

METRICS_RATES = """
SELECT histogram(_timestamp, '5 minute') AS ts,
       split_part(split_part(metric_dimensions, 'ModelId=["', 2), '"]', 1) AS model_id,
       SUM("sum") FILTER (WHERE metric_name = 'Invocations')            AS invocations,
       SUM("sum") FILTER (WHERE metric_name = 'InvocationThrottles')    AS throttles,
       SUM("sum") FILTER (WHERE metric_name = 'Invocations') / 300.0    AS invocations_per_s
FROM "bedrock_metrics"
WHERE namespace = 'AWS/Bedrock' AND metric_dimensions LIKE 'ModelId=%'
  AND metric_name IN ('Invocations','InvocationThrottles')
GROUP BY ts, model_id
ORDER BY ts
"""

LOG_PERCENTILES = """
SELECT histogram(_timestamp, '5 minute') AS ts,
       message_modelid AS model_id,
       approx_percentile_cont(0.50) WITHIN GROUP
         (ORDER BY json_get_int(message_output_outputbodyjson, 'metrics', 'latencyMs')) AS p50_ms,
       approx_percentile_cont(
         json_get_int(message_output_outputbodyjson, 'metrics', 'latencyMs'), 0.99) AS p99_ms,
       COUNT(*) FILTER (WHERE message_errorcode = 'ThrottlingException') AS throttles_logged
FROM "bedrock_logs"
WHERE message_schematype = 'ModelInvocationLog'
  AND message_operation IN ('Converse', 'ConverseStream')
GROUP BY ts, model_id
ORDER BY ts
"""

SUMMARY = """
SELECT SUM("sum") / NULLIF(SUM("count"), 0) AS mean_ms, MAX("max") AS max_ms,
       summary_percentile("sum" / "count", CAST("count" AS BIGINT), 0.50) AS approx_p50_ms
FROM "bedrock_metrics" WHERE metric_name = 'InvocationLatency' AND "count" > 0
"""

COST = """
SELECT model_id, in_tok,
       (in_tok * p_in + out_tok * p_out) / 1000.0 AS cost_usd
FROM (
  SELECT model_id, in_tok, out_tok,
         CASE WHEN model_id LIKE 'global.anthropic.claude-sonnet-4-5%' THEN 0.003
              ELSE NULL END AS p_in,
         CASE WHEN model_id LIKE '%anthropic.claude-3-haiku-20240307%' THEN 0.00125
              ELSE NULL END AS p_out
  FROM (
    SELECT message_modelid AS model_id,
           SUM(message_input_inputtokencount) AS in_tok,
           SUM(COALESCE(message_output_outputtokencount, 0)) AS out_tok
    FROM "bedrock_logs" WHERE message_schematype = 'ModelInvocationLog'
    GROUP BY message_modelid
  ) tokens
) priced
ORDER BY cost_usd DESC
"""

THROTTLE_ALERT = """
SELECT split_part(split_part(metric_dimensions, 'ModelId=["', 2), '"]', 1) AS model_id,
       SUM("sum") AS throttles
FROM "bedrock_metrics"
WHERE namespace = 'AWS/Bedrock' AND metric_name = 'InvocationThrottles'
GROUP BY model_id
HAVING SUM("sum") > 10
"""


def test_metric_rates() -> None:
    assert sqlcheck.output_aliases(METRICS_RATES) == [
        "ts",
        "model_id",
        "invocations",
        "throttles",
        "invocations_per_s",
    ]
    assert sqlcheck.streams(METRICS_RATES) == {"bedrock_metrics"}
    # "sum" is a quoted column; 'ModelId=%' is a string; ts/model_id in GROUP BY are aliases
    assert sqlcheck.referenced_columns(METRICS_RATES) == {
        "bedrock_metrics": {"_timestamp", "metric_dimensions", "sum", "metric_name", "namespace"}
    }


def test_percentiles_within_group_and_filter() -> None:
    assert sqlcheck.output_aliases(LOG_PERCENTILES) == [
        "ts",
        "model_id",
        "p50_ms",
        "p99_ms",
        "throttles_logged",
    ]
    assert sqlcheck.referenced_columns(LOG_PERCENTILES) == {
        "bedrock_logs": {
            "_timestamp",
            "message_modelid",
            "message_output_outputbodyjson",
            "message_errorcode",
            "message_schematype",
            "message_operation",
        }
    }


def test_summary_percentile_and_quoted_metric_columns() -> None:
    assert sqlcheck.output_aliases(SUMMARY) == ["mean_ms", "max_ms", "approx_p50_ms"]
    assert sqlcheck.referenced_columns(SUMMARY) == {
        "bedrock_metrics": {"sum", "count", "max", "metric_name"}
    }


def test_subquery_aliases_are_not_stream_columns() -> None:
    assert sqlcheck.output_aliases(COST) == ["model_id", "in_tok", "cost_usd"]
    assert sqlcheck.streams(COST) == {"bedrock_logs"}
    assert sqlcheck.referenced_columns(COST) == {
        "bedrock_logs": {
            "message_modelid",
            "message_input_inputtokencount",
            "message_output_outputtokencount",
            "message_schematype",
        }
    }


def test_having_alert() -> None:
    assert sqlcheck.output_aliases(THROTTLE_ALERT) == ["model_id", "throttles"]
    assert sqlcheck.referenced_columns(THROTTLE_ALERT) == {
        "bedrock_metrics": {"metric_dimensions", "sum", "namespace", "metric_name"}
    }
    assert not sqlcheck.has_select_star(THROTTLE_ALERT)


def test_alias_in_where_is_a_column_datafusion_does_not_resolve_it() -> None:
    sql = "SELECT message_modelid AS model_id FROM \"bedrock_logs\" WHERE model_id = 'x'"
    assert sqlcheck.referenced_columns(sql) == {"bedrock_logs": {"message_modelid", "model_id"}}


def test_identifier_case_follows_datafusion() -> None:
    sql = 'SELECT Message_ModelId AS Model, "Sum" AS "Total" FROM bedrock_LOGS GROUP BY Model'
    assert sqlcheck.output_aliases(sql) == ["model", "Total"]
    assert sqlcheck.streams(sql) == {"bedrock_logs"}
    assert sqlcheck.referenced_columns(sql) == {"bedrock_logs": {"message_modelid", "Sum"}}


def test_table_aliases_joins_ctes_and_in_subqueries() -> None:
    sql = """
    WITH recent AS (SELECT message_modelid AS m FROM "bedrock_logs" WHERE message_errorcode IS NULL)
    SELECT l.message_region, b.metric_name, namespace, m
    FROM "bedrock_logs" AS l
    JOIN "bedrock_metrics" b ON l.message_modelid = b.metric_dimensions
    JOIN recent r ON r.m = l.message_modelid
    WHERE l.message_operation IN (SELECT message_operation FROM "bedrock_logs")
    """
    assert sqlcheck.streams(sql) == {"bedrock_logs", "bedrock_metrics"}
    refs = {(r.name, r.streams) for r in sqlcheck.column_refs(sql)}
    assert ("namespace", ("bedrock_logs", "bedrock_metrics")) in refs  # unqualified in a join
    assert ("message_region", ("bedrock_logs",)) in refs
    assert ("metric_dimensions", ("bedrock_metrics",)) in refs
    assert ("message_errorcode", ("bedrock_logs",)) in refs
    assert all(name != "m" for name, _ in refs)  # output of the CTE, not a stream column


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select * from t", True),
        ("SELECT   * FROM t", True),
        ("SELECT a FROM (select * from t) x", True),
        ("SELECT\n* FROM t", False),  # the server's regex only accepts spaces
        ("SELECT\t* FROM t", False),
        ("SELECT count(*) FROM t", False),
        ("SELECT t.* FROM t", False),
        ("SELECT a FROM t WHERE b = 'select *'", True),  # no parsing on the server either
    ],
)
def test_select_star_as_the_server_decides(sql: str, expected: bool) -> None:
    assert sqlcheck.has_select_star(sql) is expected


def test_placeholders_and_their_context() -> None:
    sql = "SELECT a FROM t WHERE m IN ($model) AND o = '${op}' AND r = {{ region : csv }} -- $no"
    found = [(p.name, p.in_string) for p in sqlcheck.placeholders(sql)]
    assert found == [("model", False), ("op", True), ("region", False)]
    substituted = sqlcheck.substitute_placeholders(sql)
    assert len(substituted) == len(sql)  # positions of errors stay right
    assert "$" not in substituted.split("--")[0] and "{{" not in substituted


def test_placeholders_keep_quoted_text_apart() -> None:
    sql = "SELECT \"$x\" AS a, 'it''s $y' AS b FROM t"
    assert [(p.name, p.in_string) for p in sqlcheck.placeholders(sql)] == [("y", True)]


def test_placeholders_do_not_break_parsing() -> None:
    sql = """SELECT histogram(_timestamp, '$__interval') AS ts, COUNT(*) AS n
    FROM "bedrock_logs" WHERE message_modelid IN (${model:singlequote})
      AND message_operation = '$operation' AND message_region = $region GROUP BY ts"""
    assert sqlcheck.output_aliases(sql) == ["ts", "n"]
    assert sqlcheck.referenced_columns(sql) == {
        "bedrock_logs": {"_timestamp", "message_modelid", "message_operation", "message_region"}
    }


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT a FORM t", 'SQL syntax error at line 1, column 15 near "t": unexpected token'),
        (
            "SELECT a\nFROM t WHERE",
            'SQL syntax error at line 2, column 8 near "WHERE": incomplete WHERE clause',
        ),
        (
            "SELECT count(* FROM t",
            'SQL syntax error at line 1, column 16 near "FROM": expected ")"',
        ),
        ("SELECT '$x' FROM t WHERE ORDER BY a", "SQL syntax error at line 1, column 26"),
        ("   ", "the SQL query is empty"),
        ("DELETE FROM t", "the SQL must be a SELECT query, found DELETE"),
        ("SELECT 1; SELECT 2", "the SQL must be one SELECT query, found 2 statements"),
        ("SELECT 'abc FROM t", "SQL syntax error"),
        ("SELECT a,\n  FROM t", 'SQL syntax error at line 1, column 9 near ",": trailing comma'),
        ("SELECT a FROM t WHERE b IN (1, 2,)", "SQL syntax error at line 1, column 33"),
    ],
)
def test_parse_errors(sql: str, message: str) -> None:
    with pytest.raises(SqlParseError) as caught:
        sqlcheck.parse(sql)
    assert caught.value.message.startswith(message)


def test_parse_error_position_is_in_the_text_as_written() -> None:
    # the placeholder is longer than a typical value; a same-length substitution keeps columns
    sql = "SELECT a FROM t WHERE m IN (${a_very_long_variable_name}) GROUP ts"
    with pytest.raises(SqlParseError) as caught:
        sqlcheck.parse(sql)
    assert (caught.value.line, caught.value.col) == (1, sql.index("GROUP") + 1)


def test_unaliased_outputs() -> None:
    assert sqlcheck.output_aliases('SELECT message_modelid, "sum", t.x FROM t') == [
        "message_modelid",
        "sum",
        "x",
    ]
    assert sqlcheck.output_aliases("SELECT * FROM t") == ["*"]
