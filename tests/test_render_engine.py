"""Run the shipped dashboard and alerts on known Bedrock rows with the local OpenObserve query
engine (DataFusion + OpenObserve's functions, o2kit.query.engine): every query executes, and the
numbers
that matter — cost, unpriced tokens, sample counts, rates, what an alert returns — are right.

Every test runs for both ``streams.metrics_layout`` values. The metric-stream rows are not written
by hand: known CloudWatch datapoints are sent as a Firehose body through the fake server's decoder
(``o2kit.fake.firehose.decode_firehose_body``) with ``arbitrary_precision`` on (OpenObserve as
built: generic flattening, ``_timestamp`` = arrival time) or off (the §4.2 special case), so the
rows are what OpenObserve would store in each case and the templates must read them as such."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("datafusion")

from test_render_golden import applogs_project, shipped_project, with_metrics_layout  # noqa: E402

from o2kit.fake.firehose import decode_firehose_body  # noqa: E402
from o2kit.model import Resource  # noqa: E402
from o2kit.project.loader import load_project  # noqa: E402
from o2kit.query.engine import QueryEngine, QueryError  # noqa: E402

MINUTE = 60_000_000
START = 1_780_000_000_000_000  # µs
END = START + 60 * MINUTE
HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
SONNET = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
UNPRICED = "ai21.jamba-1-5-large-v1:0"
ALL = {"model": ["_o2_all_"], "region": ["_o2_all_"]}
SEARCH_APP = "arn:aws:sts::111122223333:assumed-role/search-app"
BATCH_USER = "arn:aws:iam::111122223333:user/batch-runner"
LAYOUTS = ("flattened", "special")
# CloudWatch + Firehose delivery delay: in the flattened layout _timestamp is the arrival time.
DELIVERY_DELAY = 3 * MINUTE


def log_row(
    minute: int,
    model: str,
    *,
    op: str = "Converse",
    latency: int | None = 1000,
    tokens: tuple[int, int, int, int] = (1000, 100, 0, 0),
    error: str | None = None,
    region: str = "us-east-1",
    caller: str = SEARCH_APP + "/session-1",
    team: str | None = "search",
) -> dict[str, Any]:
    body: dict[str, Any] = {"stopReason": "end_turn"}
    if latency is not None:
        body["metrics"] = {"latencyMs": latency}
    row: dict[str, Any] = {
        "_timestamp": START + minute * MINUTE,
        "messagetype": "DATA_MESSAGE",
        "message_schematype": "ModelInvocationLog",
        "message_modelid": model,
        "message_region": region,
        "message_operation": op,
        "message_input_inputtokencount": tokens[0],
        "message_output_outputtokencount": tokens[1],
        "message_input_cachereadinputtokencount": tokens[2],
        "message_input_cachewriteinputtokencount": tokens[3],
        "message_output_outputbodyjson": json.dumps(body),
        "message_input_inputbodyjson": json.dumps({"inferenceConfig": {"maxTokens": 400}}),
        "message_identity_arn": caller,
    }
    if team is not None:
        row["message_requestmetadata_team"] = team
        row["message_requestmetadata_cost_center"] = f"cc-{team}"
    if error:
        row["message_errorcode"] = error
    return row


def datum(
    minute: int,
    model: str | None,
    name: str,
    total: float,
    count: float | None = None,
    high: float | None = None,
    region: str = "us-east-1",
    pcts: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One CloudWatch metric-stream JSON datapoint (model None: no dimensions at all); ``pcts``
    are extra statistics of ``value`` (AdditionalStatistics, e.g. {"p99": 17.5})."""
    count = total if count is None else count
    extra = {k: float(v) for k, v in (pcts or {}).items()}
    return {
        "metric_stream_name": "bedrock-ms",
        "account_id": "111122223333",
        "region": region,
        "namespace": "AWS/Bedrock",
        "metric_name": name,
        "dimensions": {"ModelId": model} if model is not None else {},
        "timestamp": (START + minute * MINUTE) // 1000,  # ms
        # floats, as CloudWatch writes them ("sum":42.0); json.dumps keeps the ".0"
        "value": {
            "max": float(high if high is not None else total),
            "min": 0.0,
            "sum": float(total),
            "count": float(count),
            **extra,
        },
        "unit": "Count",
    }


def firehose_datum(minute: int, delivery_stream: str, name: str, total: float,
                   count: float) -> dict[str, Any]:
    """One AWS/Firehose datapoint of a delivery stream, as the metric stream carries it."""
    point = datum(minute, None, name, total, count=count)
    point.update(namespace="AWS/Firehose", dimensions={"DeliveryStreamName": delivery_stream})
    return point


GUARDRAIL = "arn:aws:bedrock:us-east-1:111122223333:guardrail/gr-1"


def other_datum(minute: int, namespace: str, name: str, total: float,
                dims: dict[str, str]) -> dict[str, Any]:
    """A datapoint of another Bedrock namespace (Guardrails, Agents, Knowledge bases)."""
    point = datum(minute, None, name, total, count=max(1.0, total / 100))
    point.update(namespace=namespace, dimensions=dict(dims))
    return point


def metric_rows(layout: str, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows OpenObserve stores for ``points``: one Firehose request per datapoint minute,
    arriving DELIVERY_DELAY after it, decoded as the server of ``layout`` decodes it."""
    by_ms: dict[int, list[str]] = defaultdict(list)
    for point in points:
        by_ms[point["timestamp"]].append(json.dumps(point, separators=(",", ":")) + "\n")
    rows: list[dict[str, Any]] = []
    for ms, lines in sorted(by_ms.items()):
        arrival = ms * 1000 + DELIVERY_DELAY
        record = base64.b64encode("".join(lines).encode()).decode()
        body = json.dumps(
            {"requestId": f"r{ms}", "timestamp": arrival // 1000, "records": [{"data": record}]}
        ).encode()
        rows += decode_firehose_body(
            body, now_us=arrival, arbitrary_precision=layout == "flattened"
        )
    return rows


LOGS = [
    *(log_row(m, HAIKU, latency=100 * (m + 1)) for m in range(10)),  # 10 Converse calls
    log_row(3, HAIKU, op="InvokeModel", latency=None),  # no latency in the log
    log_row(5, SONNET, tokens=(2000, 500, 1000, 100), latency=3000,
            caller=SEARCH_APP + "/session-2", team="chat"),
    log_row(6, SONNET, tokens=(0, 0, 0, 0), latency=None, error="ThrottlingException"),
    log_row(7, UNPRICED, tokens=(400, 50, 0, 0), latency=None, op="InvokeModel",
            caller=BATCH_USER, team=None),
    log_row(8, HAIKU, region="eu-west-1", latency=None, op="InvokeModel"),
    # a CloudWatch health-check envelope: must never be counted
    {"_timestamp": START + 9 * MINUTE, "messagetype": "CONTROL_MESSAGE", "message": "CWL CONTROL"},
]
DATAPOINTS = [
    datum(1, HAIKU, "Invocations", 40),
    datum(2, HAIKU, "Invocations", 60),
    datum(2, HAIKU, "InvocationClientErrors", 4),
    datum(3, HAIKU, "InvocationServerErrors", 6),
    datum(3, HAIKU, "InvocationThrottles", 25),
    datum(1, HAIKU, "InvocationLatency", 40 * 500, count=40, high=4000,
          pcts={"p50": 450, "p90": 900, "p99": 3000}),
    datum(2, HAIKU, "InvocationLatency", 60 * 1000, count=60, high=9000,
          pcts={"p50": 900, "p90": 2000, "p99": 8000}),
    datum(3, HAIKU, "OutputTokenCount", 40 * 200, count=40),
    # prompt caching (the Caching tab's metric-stream panel)
    datum(3, HAIKU, "CacheReadInputTokenCount", 1200, count=4),
    datum(3, HAIKU, "CacheWriteInputTokenCount", 300, count=1),
    datum(2, HAIKU, "EstimatedTPMQuotaUsage", 150000, count=60, high=9000),
    datum(3, HAIKU, "EstimatedTPMQuotaUsage", 90000, count=40, high=9000),
    datum(4, SONNET, "OutputTokenCount", 30 * 400, count=30),
    datum(2, SONNET, "Invocations", 30),
    datum(2, SONNET, "InvocationServerErrors", 3),
    datum(4, SONNET, "InvocationThrottles", 5),
    datum(4, SONNET, "InvocationLatency", 30 * 2000, count=30, high=5000,
          pcts={"p50": 1900, "p90": 3000, "p99": 4800}),
    datum(5, HAIKU, "Invocations", 10, region="eu-west-1"),
    datum(4, SONNET, "TimeToFirstToken", 30 * 400, count=30, high=900,
          pcts={"p50": 380, "p90": 700, "p99": 880}),
    # a dimensionless aggregate series must not be double counted
    datum(2, None, "Invocations", 1000),
    # pipeline health: Firehose delivery (2 of 4 attempts failed on the logs stream, one batch
    # of 30 records to the S3 backup) and Bedrock's own log delivery (3 records failed)
    firehose_datum(1, "o2kit-bedrock-logs", "DeliveryToHttpEndpoint.Success", 2, count=4),
    firehose_datum(1, "o2kit-bedrock-logs", "DeliveryToHttpEndpoint.Records", 50, count=2),
    firehose_datum(2, "o2kit-bedrock-logs", "DeliveryToS3.Success", 1, count=1),
    firehose_datum(2, "o2kit-bedrock-logs", "DeliveryToS3.Records", 30, count=1),
    firehose_datum(1, "o2kit-bedrock-metrics", "DeliveryToHttpEndpoint.Success", 3, count=3),
    datum(3, None, "ModelInvocationLogsCloudWatchDeliverySuccess", 12, count=1),
    datum(4, None, "ModelInvocationLogsCloudWatchDeliveryFailure", 3, count=1),
    # The Guardrails, Agents and Knowledge bases tabs read namespaces of their own (AWS docs:
    # "Monitor Amazon Bedrock Guardrails / Agents / Knowledge Bases using CloudWatch metrics"):
    # they do not count as AWS/Bedrock rows in the freshness panel.
    *(other_datum(2, "AWS/Bedrock/Guardrails", name, total, dims)
      for name, total in (("Invocations", 20), ("InvocationsIntervened", 3),
                          ("InvocationLatency", 20 * 80), ("TextUnitCount", 40))
      for dims in ({"GuardrailArn": GUARDRAIL, "GuardrailVersion": "1"},
                   {"GuardrailArn": GUARDRAIL, "GuardrailPolicyType": "ContentPolicy"},
                   {"GuardrailArn": GUARDRAIL, "GuardrailContentSource": "INPUT"},
                   {"GuardrailArn": GUARDRAIL, "GuardrailPolicyType": "ContentPolicy",
                    "GuardrailContentSource": "INPUT"})),
    *(other_datum(3, "AWS/Bedrock/Agents", name, total, dims)
      for name, total in (("InvocationCount", 8), ("TotalTime", 8 * 2500), ("TTFT", 8 * 700),
                          ("ModelLatency", 8 * 1200), ("ModelInvocationCount", 16),
                          ("InputTokenCount", 4000), ("OutputTokenCount", 900),
                          ("InvocationThrottles", 1), ("InvocationServerErrors", 1),
                          ("InvocationClientErrors", 1))
      for dims in ({"Operation": "InvokeAgent"},
                   {"Operation": "InvokeAgent", "ModelId": SONNET})),
    *(other_datum(4, "AWS/Bedrock/KnowledgeBases", name, total, {"Operation": "Retrieve"})
      for name, total in (("Invocations", 12), ("ClientErrors", 1), ("ServerErrors", 1),
                          ("Throttles", 1))),
]


@pytest.fixture(scope="module", params=LAYOUTS)
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def engine(layout: str) -> QueryEngine:
    eng = QueryEngine()
    eng.register_rows("bedrock_logs", LOGS)
    eng.register_rows("bedrock_metrics", metric_rows(layout, DATAPOINTS))
    eng.register_rows(
        "bedrock_app",
        [
            {
                "_timestamp": START + m * MINUTE,
                "model_id": HAIKU,
                "latency_ms": 10 * (m + 1),
                "aws_region": "us-east-1",
            }
            for m in range(20)
        ],
    )
    return eng


@pytest.fixture(scope="module")
def shipped(layout: str, tmp_path_factory: pytest.TempPathFactory) -> list[Resource]:
    root = shipped_project(tmp_path_factory.mktemp("s") / "p")
    return load_project(with_metrics_layout(root, layout)).resources


def panels(resources: list[Resource]) -> dict[str, dict[str, Any]]:
    body = next(r.body for r in resources if r.kind == "dashboard")
    return {p["title"]: p for t in body["tabs"] for p in t["panels"] if p["queries"]}


def run(
    engine: QueryEngine, sql: str, variables: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    return engine.query(sql, start_time=START, end_time=END, variables=variables or ALL)


def by_model(hits: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {h["model_id"]: h for h in hits}


def test_metric_rows_are_what_each_layout_stores(layout: str) -> None:
    rows = metric_rows(layout, DATAPOINTS)
    assert len(rows) == len(DATAPOINTS)
    first = rows[0]  # datum(1, HAIKU, "Invocations", 40)
    datapoint_us = START + MINUTE
    if layout == "flattened":
        assert first["value_sum"] == 40.0 and first["dimensions_modelid"] == HAIKU
        assert first["timestamp"] * 1000 == datapoint_us
        assert first["_timestamp"] == datapoint_us + DELIVERY_DELAY
        assert not {"sum", "count", "metric_dimensions"} & set().union(*rows)
    else:
        assert first["sum"] == 40.0 and first["metric_dimensions"] == f'ModelId=["{HAIKU}"]'
        assert first["_timestamp"] == datapoint_us and "timestamp" not in first
        assert not {"value_sum", "dimensions_modelid"} & set().union(*rows)


def test_every_shipped_query_runs(engine: QueryEngine, layout: str, tmp_path: Path) -> None:
    for name, build in (("shipped", shipped_project), ("applogs", applogs_project)):
        resources = load_project(with_metrics_layout(build(tmp_path / name), layout)).resources
        for title, panel in panels(resources).items():
            query = panel["queries"][0]
            fields = query["fields"]
            aliases = {a["alias"] for k in ("x", "breakdown", "y") for a in fields[k]}
            hits = run(engine, query["query"])
            assert hits, f"{name}: {title} returned nothing"
            for hit in hits:
                assert set(hit) <= aliases, title  # NULL columns are left out of a hit
        for r in resources:
            if r.kind == "alert":
                run(engine, r.body["query_condition"]["sql"], {})


def test_invocations_errors_and_throttles(engine: QueryEngine, shipped: list[Resource]) -> None:
    p = panels(shipped)
    assert run(engine, p["Invocations"]["queries"][0]["query"]) == [{"invocations": 140.0}]
    table = by_model(run(engine, p["Invocations per model (total)"]["queries"][0]["query"]))
    assert table[HAIKU]["invocations"] == 110.0 and table[HAIKU]["throttles"] == 25.0
    assert table[HAIKU]["error_rate_pct"] == pytest.approx(100 * 10 / 110)
    assert table[SONNET]["error_rate_pct"] == pytest.approx(10.0)
    only_haiku = run(
        engine, p["Invocations"]["queries"][0]["query"], {"model": [HAIKU], "region": ["_o2_all_"]}
    )
    assert only_haiku == [{"invocations": 110.0}]
    only_eu = run(
        engine,
        p["Invocations"]["queries"][0]["query"],
        {"model": ["_o2_all_"], "region": ["eu-west-1"]},
    )
    assert only_eu == [{"invocations": 10.0}]


def test_latency_percentiles_and_samples(engine: QueryEngine, shipped: list[Resource]) -> None:
    p = panels(shipped)
    title = "Latency p50 / p90 / p99 per model — per-request (Converse only)"
    rows = by_model(run(engine, p[title]["queries"][0]["query"]))
    assert rows[HAIKU]["samples"] == 10  # InvokeModel calls carry no latency
    assert 400 <= rows[HAIKU]["p50_ms"] <= 700 and rows[HAIKU]["p99_ms"] >= 900
    assert rows[SONNET]["samples"] == 1 and UNPRICED not in rows
    title = (
        "Latency from the metric stream — mean and max exact, p50 / p99 approx. from 1-min means"
    )
    rows = by_model(run(engine, p[title]["queries"][0]["query"]))
    assert rows[HAIKU]["mean_ms"] == pytest.approx((20000 + 60000) / 100)
    assert rows[HAIKU]["max_ms"] == 9000.0 and rows[HAIKU]["requests"] == 100.0


PCT_TABLE = ("{what} p50 / p90 / p99 per model — metric stream ({apis}), per-minute CloudWatch "
             "percentiles")


def test_metric_stream_percentiles_are_count_weighted_per_minute_values(
    engine: QueryEngine, layout: str, shipped: list[Resource]
) -> None:
    p = panels(shipped)
    latency = PCT_TABLE.format(what="Latency", apis="all APIs")
    ttft = PCT_TABLE.format(what="Time to first token", apis="streaming APIs")
    if layout == "special":
        # OpenObserve's special case drops the percentiles: a notice instead of panels
        assert latency not in p and ttft not in p
        body = next(r.body for r in shipped if r.kind == "dashboard")
        notes = [x["markdownContent"] for t in body["tabs"] for x in t["panels"]
                 if x["type"] == "markdown" and "percentiles" in x["title"]]
        assert len(notes) == 1 and "special" in notes[0]
        return
    rows = by_model(run(engine, p[latency]["queries"][0]["query"]))
    # haiku: minute 1 (40 requests) and minute 2 (60 requests), by hand
    assert rows[HAIKU] == {"model_id": HAIKU, "samples": 100.0,
                           "p50_ms": pytest.approx((40 * 450 + 60 * 900) / 100),
                           "p90_ms": pytest.approx((40 * 900 + 60 * 2000) / 100),
                           "p99_ms": pytest.approx((40 * 3000 + 60 * 8000) / 100),
                           "p99_worst_minute_ms": 8000.0}
    assert rows[SONNET]["p99_ms"] == pytest.approx(4800) and rows[SONNET]["samples"] == 30
    rows = by_model(run(engine, p[ttft]["queries"][0]["query"]))
    assert set(rows) == {SONNET} and rows[SONNET]["p90_ms"] == pytest.approx(700)
    only_haiku = {"model": [HAIKU], "region": ["_o2_all_"]}
    assert run(engine, p[ttft]["queries"][0]["query"], only_haiku) == []
    line = p[latency.replace("per model", "over time")]["queries"][0]["query"]
    points = [h for h in run(engine, line) if h["model_id"] == HAIKU]
    # minutes 1 and 2 arrive 3 minutes later, at START + 340 s and + 400 s: one 5-minute bucket
    # (buckets are aligned to the epoch, START is 100 s into one), combined by request count
    assert [h["p99_ms"] for h in points] == [pytest.approx((40 * 3000 + 60 * 8000) / 100)]


def test_output_tokens_per_second_as_aws_defines_it(
    engine: QueryEngine, shipped: list[Resource]
) -> None:
    p = panels(shipped)
    table = "Output tokens per second and latency per output token — metric stream"
    rows = by_model(run(engine, p[table]["queries"][0]["query"]))
    # sonnet: 400 output tokens / (2000 ms latency - 400 ms TTFT) = 250 tokens/s
    assert rows[SONNET]["otps"] == pytest.approx(400 / ((2000 - 400) / 1000))
    assert rows[SONNET]["ms_per_output_token"] == pytest.approx(2000 / 400)
    # haiku has no streaming calls (no TimeToFirstToken): no OTPS, latency per token still
    assert "otps" not in rows[HAIKU]
    assert rows[HAIKU]["ms_per_output_token"] == pytest.approx(((20000 + 60000) / 100) / 200)
    logs = "Latency per output token — per-request (Converse only)"
    rows = by_model(run(engine, p[logs]["queries"][0]["query"]))
    # ten haiku Converse calls: 100 * (m + 1) ms for 100 output tokens each
    assert rows[HAIKU]["samples"] == 10 and 1 <= rows[HAIKU]["p50_ms"] <= 10
    assert rows[HAIKU]["tokens_per_s"] == pytest.approx(1000 / 5.5)
    assert rows[SONNET]["p50_ms"] == pytest.approx(3000 / 500)


def test_quota_tab_peak_minutes(engine: QueryEngine, shipped: list[Resource]) -> None:
    p = panels(shipped)
    rows = {(r["model_id"], r["region"]): r for r in
            run(engine, p["Quota use per model and region — peak minute"]["queries"][0]["query"])}
    haiku = rows[(HAIKU, "us-east-1")]
    # the busiest minute, never the sum of minutes; throttles beside them
    assert (haiku["peak_tpm"], haiku["peak_rpm"], haiku["throttles"]) == (150000.0, 60.0, 25.0)
    assert haiku["peak_tpm_pct"] == pytest.approx(100 * 150000 / haiku["tpm_quota"])
    assert haiku["peak_rpm_pct"] == pytest.approx(100 * 60 / haiku["rpm_quota"])
    assert rows[(HAIKU, "eu-west-1")]["peak_rpm"] == 10.0
    assert "tpm_quota" not in rows[(SONNET, "us-east-1")]  # no quota row matches it


def test_cost_marks_unpriced_models_and_matches_the_price_table(
    engine: QueryEngine, shipped: list[Resource], tmp_path: Path
) -> None:
    from o2kit.project.prices import parse_prices
    from o2kit.project.yamlsrc import load_yaml

    root = Path(__file__).resolve().parents[1]
    table = parse_prices(*load_yaml((root / "prices.yaml").read_text(), "prices.yaml"))
    p = panels(shipped)
    rows = by_model(run(engine, p["Token cost per model (USD)"]["queries"][0]["query"]))
    assert rows[UNPRICED]["price_match"] == "unpriced" and "cost" not in rows[UNPRICED]
    assert rows[UNPRICED]["input_tokens"] == 400
    for model, tokens in ((HAIKU, (12000, 1200, 0, 0)), (SONNET, (2000, 500, 1000, 100))):
        price = table.price_for(model)
        assert price is not None and rows[model]["price_match"] == price.match
        assert Decimal(str(rows[model]["cost"])) == pytest.approx(price.cost(*tokens))
    unpriced = run(engine, p["Tokens without a price"]["queries"][0]["query"])
    assert unpriced == [{"unpriced_tokens": 450}]
    total = run(engine, p["Total token cost (priced models)"]["queries"][0]["query"])[0][
        "total_cost"
    ]
    assert total == pytest.approx(rows[HAIKU]["cost"] + rows[SONNET]["cost"])


def _alerts(tmp_path: Path, params: dict[str, dict[str, Any]], layout: str) -> dict[str, str]:
    root = with_metrics_layout(shipped_project(tmp_path / "p"), layout)
    doc = yaml.safe_load((root / "alerts/bedrock.yaml").read_text())
    for name, values in params.items():
        doc["alerts"][name]["params"] = values
    (root / "alerts/bedrock.yaml").write_text(yaml.safe_dump(doc))
    return {
        r.key[1]: r.body["query_condition"]["sql"]
        for r in load_project(root).resources
        if r.kind == "alert"
    }


def test_alerts_return_rows_only_when_breached(
    engine: QueryEngine, layout: str, tmp_path: Path
) -> None:
    low = _alerts(
        tmp_path / "low",
        {
            "bedrock_token_budget": {"budget": 0.01},
            "bedrock_throttling": {"threshold": 10, "per_model": {SONNET: 1}},
            "bedrock_server_errors": {"threshold_pct": 5, "min_invocations": 20},
        },
        layout,
    )
    high = _alerts(
        tmp_path / "high",
        {
            "bedrock_token_budget": {"budget": 1000},
            "bedrock_throttling": {"threshold": 100},
            "bedrock_server_errors": {"threshold_pct": 50},
            "bedrock_firehose_delivery": {"min_success_ratio": 0.5, "alert_on_s3_backup": False},
            "bedrock_log_delivery": {"threshold": 3},
        },
        layout,
    )
    spend = run(engine, low["bedrock_token_budget"], {})
    assert len(spend) == 1 and spend[0]["unpriced_tokens"] == 450 and spend[0]["spend"] > 0.01
    assert by_model(run(engine, low["bedrock_throttling"], {})).keys() == {HAIKU, SONNET}
    assert by_model(run(engine, low["bedrock_server_errors"], {})).keys() == {HAIKU, SONNET}
    # Firehose: only the logs delivery stream failed (2 of 4 attempts, one S3 backup batch)
    assert run(engine, low["bedrock_firehose_delivery"], {}) == [
        {"delivery_stream": "o2kit-bedrock-logs", "attempts": 4.0, "success_ratio": 0.5,
         "s3_backups": 1.0, "s3_backup_records": 30.0}]
    assert run(engine, low["bedrock_log_delivery"], {}) == [
        {"metric": "ModelInvocationLogsCloudWatchDeliveryFailure", "failures": 3.0}]
    # both streams have rows: the freshness alert stays quiet at any setting
    assert run(engine, low["bedrock_pipeline_freshness"], {}) == []
    for sql in high.values():
        assert run(engine, sql, {}) == []


def test_queries_for_the_other_layout_fail_on_these_rows(
    engine: QueryEngine, layout: str, tmp_path: Path
) -> None:
    other = "special" if layout == "flattened" else "flattened"
    alerts = _alerts(tmp_path, {}, other)
    for name in ("bedrock_throttling", "bedrock_server_errors"):
        with pytest.raises(QueryError):
            run(engine, alerts[name], {})


def test_the_time_range_selects_datapoint_time_or_arrival_time(
    engine: QueryEngine, layout: str, shipped: list[Resource]
) -> None:
    # Special layout: _timestamp is the datapoint time. Flattened: the arrival time, so a window
    # ending at minute 4.5 holds only the datapoints of minute <= 1.5 (3 minutes' delay).
    sql = panels(shipped)["Invocations"]["queries"][0]["query"]
    hits = engine.query(sql, start_time=START, end_time=START + 9 * MINUTE // 2, variables=ALL)
    assert hits == [{"invocations": {"special": 130.0, "flattened": 40.0}[layout]}]


def test_pipeline_health_panels(engine: QueryEngine, shipped: list[Resource]) -> None:
    p = panels(shipped)
    delivery = run(engine, p["Firehose delivery to OpenObserve per delivery stream"]["queries"][0]
                   ["query"])
    assert delivery == [
        {"delivery_stream": "o2kit-bedrock-logs", "delivery_attempts": 4.0, "success_pct": 50.0,
         "delivered_records": 50.0, "s3_backup_records": 30.0},
        {"delivery_stream": "o2kit-bedrock-metrics", "delivery_attempts": 3.0,
         "success_pct": 100.0, "delivered_records": 0.0, "s3_backup_records": 0.0}]
    logs = run(engine, p["Bedrock invocation-log delivery to CloudWatch Logs"]["queries"][0]
               ["query"])
    assert sum(r["delivered"] for r in logs) == 12 and sum(r["failed"] for r in logs) == 3
    fresh = {r["source"]: r["row_count"] for r in
             run(engine, p["Data freshness per stream"]["queries"][0]["query"])}
    # AWS/Bedrock: 19 per-model + 1 dimensionless + 2 log-delivery datapoints; 15 Bedrock log rows
    assert fresh == {"metric stream (AWS/Bedrock)": 22, "metric stream (AWS/Firehose)": 5,
                     "invocation logs": 15}
    eu = run(engine, p["Data freshness per stream"]["queries"][0]["query"],
             {"model": ["_o2_all_"], "region": ["eu-west-1"]})
    assert {r["source"]: r["row_count"] for r in eu} == {
        "metric stream (AWS/Bedrock)": 1, "metric stream (AWS/Firehose)": 0, "invocation logs": 1}


def test_attribution_panels(engine: QueryEngine, shipped: list[Resource]) -> None:
    p = panels(shipped)
    callers = {r["caller"]: r for r in
               run(engine, p["Token cost per caller (USD)"]["queries"][0]["query"])}
    # assumed-role sessions fold into their role; the unpriced model's tokens are not cost
    assert set(callers) == {SEARCH_APP, BATCH_USER}
    assert callers[BATCH_USER]["unpriced_tokens"] == 450 and "cost" not in callers[BATCH_USER]
    teams = {r["tag_value"]: r for r in
             run(engine, p["Token cost by requestMetadata.team (USD)"]["queries"][0]["query"])}
    assert set(teams) == {"search", "chat", "(untagged)"}
    total = run(engine, p["Total token cost (priced models)"]["queries"][0]["query"])
    assert sum(r.get("cost") or 0 for r in teams.values()) == pytest.approx(total[0]["total_cost"])
    assert teams["chat"]["input_tokens"] == 2000 + 0  # the sonnet call tagged chat (+ throttled)
    centres = run(engine, p["Token cost by requestMetadata.cost-center (USD)"]["queries"][0]
                  ["query"])
    assert {r["tag_value"] for r in centres} == {"cc-search", "cc-chat", "(untagged)"}


def test_alerts_can_watch_only_some_regions(
    engine: QueryEngine, layout: str, tmp_path: Path
) -> None:
    eu = _alerts(
        tmp_path / "eu",
        {
            "bedrock_token_budget": {"budget": 0.0000001, "only_regions": ["eu-west-1"]},
            "bedrock_throttling": {"threshold": 0, "only_regions": ["eu-west-1"]},
            "bedrock_firehose_delivery": {"only_regions": ["eu-west-1"]},
        },
        layout,
    )
    # the one eu-west-1 call: 1000 input + 100 output tokens of haiku (0.0008 / 0.004 per 1k)
    assert run(engine, eu["bedrock_token_budget"], {}) == [
        {"spend": pytest.approx(0.0012), "unpriced_tokens": 0}]
    assert run(engine, eu["bedrock_throttling"], {}) == []  # all throttles are in us-east-1
    assert run(engine, eu["bedrock_firehose_delivery"], {}) == []
    us = _alerts(tmp_path / "us", {"bedrock_throttling": {"threshold": 0,
                                                          "only_regions": ["us-east-1"]}}, layout)
    assert by_model(run(engine, us["bedrock_throttling"], {})).keys() == {HAIKU, SONNET}
