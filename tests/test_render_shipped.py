"""The shipped Bedrock dashboard and alerts follow the SQL rules of the telemetry reference (§6,
§9): every query parses, its output columns are the panel's columns, streams and metric columns are
quoted, logs and metrics are filtered to Bedrock rows, there is no time filter in the SQL,
percentiles say where they come from, and the layout has no overlaps."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp
from test_render_golden import applogs_project, shipped_project, with_metrics_layout

from o2kit.model import Resource
from o2kit.project.loader import load_project

ALL = "'_o2_all_'"


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Resource]]:
    base = tmp_path_factory.mktemp("projects")
    return {
        "shipped": load_project(shipped_project(base / "shipped")).resources,
        "applogs": load_project(applogs_project(base / "applogs")).resources,
        # the same templates for a server that special-cases metric-stream lines (§4.2)
        "shipped_special": load_project(
            with_metrics_layout(shipped_project(base / "shipped_special"), "special")
        ).resources,
        "applogs_special": load_project(
            with_metrics_layout(applogs_project(base / "applogs_special"), "special")
        ).resources,
    }


# Metric-stream columns that exist in only one metrics_layout (o2kit.project.columns).
SPECIAL_ONLY = {"sum", "count", "max", "min", "metric_dimensions"}
FLATTENED_ONLY = {"value_sum", "value_count", "value_max", "value_min", "dimensions_modelid"}


def dashboards(projects: dict[str, list[Resource]]) -> list[dict[str, Any]]:
    return [r.body for rs in projects.values() for r in rs if r.kind == "dashboard"]


def sql_panels(projects: dict[str, list[Resource]]) -> list[tuple[dict[str, Any], str]]:
    return [
        (panel, query["query"])
        for body in dashboards(projects)
        for tab in body["tabs"]
        for panel in tab["panels"]
        for query in panel["queries"]
    ]


def alert_sqls(projects: dict[str, list[Resource]]) -> list[tuple[dict[str, Any], str]]:
    return [
        (r.body, r.body["query_condition"]["sql"])
        for rs in projects.values()
        for r in rs
        if r.kind == "alert"
    ]


def parse(sql: str) -> exp.Expression:
    # The UI replaces $model / $region with the selected, quoted values; "All" is '_o2_all_'.
    substituted = sql.replace("$model", ALL).replace("$region", ALL)
    assert "$" not in substituted
    tree = sqlglot.parse_one(substituted, read="postgres")
    assert tree is not None
    return tree


# Bedrock's log-delivery metrics: AWS/Bedrock but dimensionless (no per-model filter applies).
LOG_DELIVERY = "ModelInvocationLogs"


def check_common_rules(sql: str) -> exp.Expression:
    tree = parse(sql)
    for table in tree.find_all(exp.Table):
        assert table.this.quoted, f"stream name not quoted: {table.sql()}"
    for column in tree.find_all(exp.Column):
        if column.name in ("sum", "count", "max", "min"):
            assert column.this.quoted, f"metric column not quoted in {sql}"
    for column in tree.find_all(exp.Column):
        if column.name == "_timestamp":
            # only as the argument of histogram(), or the newest/oldest row (freshness); never in
            # a comparison: the time range comes from the request
            if isinstance(column.parent, exp.Max | exp.Min):
                continue
            # budgets: the calendar period's start inside a period long enough to hold it
            if isinstance(column.parent, exp.GTE) and column.parent.this is column:
                assert "_timestamp >= CAST(to_unixtime(date_trunc(" in sql, sql
                assert ", now())) AS BIGINT) * 1000000" in sql, sql
                continue
            assert isinstance(column.parent, exp.Anonymous), sql
            assert column.parent.name.lower() == "histogram", sql
    if '"bedrock_logs"' in sql:
        assert "message_schematype = 'ModelInvocationLog'" in sql
    if "COUNT(*) AS" in sql and '"bedrock_metrics"' in sql:
        # row counts (freshness) read every AWS/Bedrock row, never per model
        assert "namespace = 'AWS/Bedrock'" in sql, sql
        assert "ModelId" not in sql and "dimensions_modelid" not in sql, sql
    elif "namespace = 'AWS/Firehose'" in sql:
        # delivery-stream series, never filtered as per-model ones
        assert "DeliveryStreamName" in sql or "dimensions_deliverystreamname" in sql, sql
        assert "ModelId" not in sql and "dimensions_modelid" not in sql, sql
    elif LOG_DELIVERY in sql:
        # Bedrock's log-delivery metrics are AWS/Bedrock but dimensionless
        assert "namespace = 'AWS/Bedrock'" in sql, sql
        assert "ModelId" not in sql and "dimensions_modelid" not in sql, sql
    elif "namespace = 'AWS/Bedrock/" in sql:
        # Guardrails / Agents / Knowledge Bases: one dimension set per query, so a datapoint
        # CloudWatch streams once per set is never counted twice
        assert "dimensions_operation IS NOT NULL" in sql or "Operation=[" in sql \
            or "dimensions_guardrail" in sql or "Guardrail" in sql, sql
        assert "dimensions_modelid IN ($model)" not in sql, sql
    elif '"bedrock_metrics"' in sql:
        assert "namespace = 'AWS/Bedrock'" in sql
        names = {c.name for c in tree.find_all(exp.Column)}
        # one layout's columns only, and only per-model series (no dimensionless aggregate)
        if names & SPECIAL_ONLY:
            assert not names & FLATTENED_ONLY, sql
            assert "metric_dimensions LIKE 'ModelId=%'" in sql
        else:
            assert names & FLATTENED_ONLY, sql
            assert "dimensions_modelid IS NOT NULL" in sql
    assert not re.search(r"select\s+\*", sql, re.IGNORECASE)
    return tree


def test_panel_sql_rules_and_aliases(projects: dict[str, list[Resource]]) -> None:
    panels = sql_panels(projects)
    assert len(panels) > 40
    for panel, sql in panels:
        tree = check_common_rules(sql)
        query = panel["queries"][0]
        assert query["customQuery"] is True and panel["queryType"] == "sql"
        fields = query["fields"]
        aliases = [a["alias"] for key in ("x", "breakdown", "y") for a in fields[key]]
        assert sorted(tree.named_selects) == sorted(aliases), panel["title"]
        # every panel follows the dashboard's region variable, and every panel of per-model
        # data its model variable (pipeline-health series are per delivery stream or stream)
        assert "IN ($region)" in sql or "aws_region" not in sql, panel["title"]
        if panel["id"].startswith(("pipeline-", "guardrails-", "agents-", "knowledge_bases-")):
            # no ModelId on these series (Agents' per-model table is the agents' own model)
            assert "IN ($region)" in sql and "IN ($model)" not in sql, panel["title"]
        elif panel["id"].startswith("budgets-"):
            # a budget counts every call in its scope, whatever the filters say
            assert "$" not in sql, panel["title"]
        else:
            assert "IN ($model)" in sql, panel["title"]


def test_percentiles_say_where_they_come_from(projects: dict[str, list[Resource]]) -> None:
    seen = {"per-request": 0, "approx": 0, "samples": 0}
    for panel, sql in sql_panels(projects):
        if "approx_percentile_cont" in sql:
            assert "per-request" in panel["title"], panel["title"]
            if panel["type"] == "table":  # the sample count is shown next to the percentiles
                assert "AS samples" in sql, panel["title"]
                seen["samples"] += 1
            seen["per-request"] += 1
        if "summary_percentile" in sql:
            assert "approx. from 1-min means" in panel["title"], panel["title"]
            for y in panel["queries"][0]["fields"]["y"]:
                if y["alias"].startswith("approx_"):
                    assert "approx. from 1-min means" in y["label"], y["label"]
            seen["approx"] += 1
    assert seen["per-request"] >= 4 and seen["approx"] >= 2 and seen["samples"] >= 3


def test_alert_sql_rules(projects: dict[str, list[Resource]]) -> None:
    alerts = alert_sqls(projects)
    # shipped: 7 alerts + 7 of the two example budgets each layout; applogs: 3 each
    assert len(alerts) == 34
    for body, sql in alerts:
        assert "$" not in sql
        check_common_rules(sql)
        trigger = body["trigger_condition"]
        assert (trigger["operator"], trigger["threshold"]) == (">=", 1)
        assert body["query_condition"]["type"] == "sql"
        assert body["stream_name"] in sql


def test_metrics_layout_picks_the_metric_columns(projects: dict[str, list[Resource]]) -> None:
    for name, resources in projects.items():
        own, other = (
            (SPECIAL_ONLY, FLATTENED_ONLY) if name.endswith("_special")
            else (FLATTENED_ONLY, SPECIAL_ONLY)
        )
        sqls = [q["query"] for r in resources if r.kind == "dashboard"
                for t in r.body["tabs"] for p in t["panels"] for q in p["queries"]]
        sqls += [r.body["query_condition"]["sql"] for r in resources if r.kind == "alert"]
        metric_sqls = [sql for sql in sqls if '"bedrock_metrics"' in sql]
        assert len(metric_sqls) > 10, name
        for sql in metric_sqls:
            names = {c.name for c in parse(sql).find_all(exp.Column)}
            assert not names & other, (name, sql)
            # only row counts (freshness) read no layout-specific column
            assert names & own or "COUNT(*) AS" in sql, (name, sql)


def test_layout_has_no_overlaps_and_stable_ids(projects: dict[str, list[Resource]]) -> None:
    for body in dashboards(projects):
        ids = [p["id"] for tab in body["tabs"] for p in tab["panels"]]
        assert len(ids) == len(set(ids))
        for tab in body["tabs"]:
            cells: set[tuple[int, int]] = set()
            seen_i = set()
            for panel in tab["panels"]:
                layout = panel["layout"]
                assert layout["x"] >= 0 and layout["x"] + layout["w"] <= 192
                assert layout["i"] not in seen_i
                seen_i.add(layout["i"])
                area = {
                    (x, y)
                    for x in range(layout["x"], layout["x"] + layout["w"])
                    for y in range(layout["y"], layout["y"] + layout["h"])
                }
                assert not cells & area, panel["title"]
                cells |= area


def test_required_panels_exist(projects: dict[str, list[Resource]]) -> None:
    body = next(r.body for r in projects["shipped"] if r.kind == "dashboard")
    assert [t["name"] for t in body["tabs"]] == [
        "Overview",
        "Latency",
        "Errors & throttles",
        "Tokens & cost",
        "Attribution",
        "Quota",
        "Budgets",
        "Pipeline health",
        "Caching",
        "Guardrails",
        "Agents",
        "Knowledge bases",
    ]
    assert [v["name"] for v in body["variables"]["list"]] == ["model", "region"]
    titles = " | ".join(p["title"] for t in body["tabs"] for p in t["panels"])
    for needle in (
        "Latency p50 / p90 / p99 per model — per-request (Converse only)",
        "mean and max exact, p50 / p99 approx. from 1-min means",
        "Invocations per model",
        "Invocations per model (total)",
        "Client errors (4xx) per model",
        "Server errors (5xx) per model",
        "Throttles per model",
        "Error rate",
        "Input tokens per model",
        "Output tokens per model",
        "Token cost per model (USD)",
        "Tokens without a price",
    ):
        assert needle in titles, needle
    app_titles = " | ".join(
        p["title"]
        for r in projects["applogs"]
        if r.kind == "dashboard"
        for t in r.body["tabs"]
        for p in t["panels"]
    )
    assert "per-request (application logs)" in app_titles
    assert "per-request (application logs)" not in titles


def test_unpriced_models_are_never_costed_at_zero(projects: dict[str, list[Resource]]) -> None:
    for _panel, sql in sql_panels(projects):
        if " AS cost" in sql:
            assert "ELSE NULL" in sql
            assert "COALESCE(cost" not in sql
    table = next(
        p for p, _ in sql_panels(projects) if p["title"].startswith("Token cost per model")
    )
    assert "'unpriced') AS price_match" in table["queries"][0]["query"]
    assert "NULLS FIRST" in table["queries"][0]["query"]


def test_dashboard_body_is_a_v8_request(projects: dict[str, list[Resource]]) -> None:
    for body in dashboards(projects):
        assert body["version"] == 8
        assert not {"dashboardId", "owner", "created", "hash", "role"} & body.keys()
    for rs in projects.values():
        for r in rs:
            if r.kind == "alert":
                assert not {"id", "owner", "folder"} & r.body.keys()


def test_shipped_secrets_are_references(projects: dict[str, list[Resource]]) -> None:
    dest = next(r for r in projects["shipped"] if r.kind == "destination")
    assert dest.body["url"] == "${env:SLACK_WEBHOOK_URL}"


def test_repo_root_renders(tmp_path: Path) -> None:
    # the shipped files as they are in the repository (not a copy) load without problems
    root = Path(__file__).resolve().parents[1]
    kinds = [r.kind for r in load_project(root).resources]
    # 14 alerts of alerts/ and budgets:, 4 burn-rate alerts of the 2 SLOs in slos/
    assert kinds.count("dashboard") == 1 and kinds.count("alert") == 18
    assert kinds.count("slo") == 2
