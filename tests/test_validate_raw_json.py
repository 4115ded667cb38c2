"""Raw OpenObserve JSON (exported dashboards) may read streams o2kit.yaml does not describe."""

from __future__ import annotations

from o2kit.model import Resource, SourceRef
from o2kit.project.config import Config
from o2kit.validate.rules import validate_resources

PANEL = {
    "id": "p1", "type": "table", "title": "Flows", "description": "", "queryType": "sql",
    "config": {"show_legends": True},
    "queries": [{"query": 'SELECT src AS "src", COUNT(*) AS "n" FROM "netflow" GROUP BY src',
                 "vrlFunctionQuery": None, "customQuery": True,
                 "fields": {"stream": "netflow", "stream_type": "logs",
                            "x": [{"label": "src", "alias": "src", "color": None}],
                            "y": [{"label": "n", "alias": "n", "color": None}], "z": [],
                            "filter": {"filterType": "group", "logicalOperator": "AND",
                                       "conditions": []}},
                 "config": {"promql_legend": ""}}],
    "layout": {"x": 0, "y": 0, "w": 96, "h": 18, "i": 1},
}
BODY = {"version": 8, "title": "Netflow", "description": "",
        "tabs": [{"tabId": "default", "name": "Default", "panels": [PANEL]}]}


def _resource(meta: dict[str, str]) -> Resource:
    return Resource("dashboard", ("Net", "Netflow"), BODY, SourceRef("dashboards/netflow.yaml", 1),
                    meta=meta)


def test_foreign_streams_are_accepted_only_in_raw_json() -> None:
    templated = validate_resources([_resource({})], Config())
    assert any('unknown stream "netflow"' in p.message for p in templated)
    raw = validate_resources([_resource({"raw_json": "exported/netflow.json"})], Config())
    assert raw == []


def test_raw_json_still_checks_aliases() -> None:
    sql = 'SELECT src AS "source", COUNT(*) AS "n" FROM "netflow" GROUP BY src'
    query = {**PANEL["queries"][0], "query": sql}
    body = {**BODY, "tabs": [{"tabId": "default", "name": "Default",
                              "panels": [{**PANEL, "queries": [query]}]}]}
    problems = validate_resources(
        [Resource("dashboard", ("Net", "Netflow"), body, SourceRef("d.yaml", 1),
                  meta={"raw_json": "x.json"})], Config())
    assert any('"src" is not a column the SQL returns' in p.message for p in problems), problems
