"""Sample bodies shared by the kinds/plan/report tests (no tests here).

Each ``live_*`` body is what OpenObserve returns for the matching ``desired_*`` request body after
o2kit created it, written by hand from the OpenObserve source (commit fbab9b80): server ids and
owners filled in, floats for ``f64`` fields, ``null`` for null-out optionals, defaults materialised,
tags lower-cased, condition arrays rewritten, o2kit's ownership marker present.
"""

from __future__ import annotations

import copy
from typing import Any

from o2kit.kinds import MARKER_TEXT
from o2kit.model import Resource, SourceRef

SECRET_URL = "https://hooks.example.com/services/T000/B000/s3cr3t-w3bh00k-t0k3n"
SECRET_TOKEN = "Bearer tok_9f8e7d6c5b4a-very-secret"


def desired_folder() -> dict[str, Any]:
    return {"name": "Bedrock", "description": "AWS Bedrock monitoring"}


def live_folder() -> dict[str, Any]:
    return {
        "folderId": "7395551234567890123",
        "name": "Bedrock",
        "description": "AWS Bedrock monitoring\n\n" + MARKER_TEXT,
    }


def desired_template() -> dict[str, Any]:
    return {
        "name": "ops_payload",
        "type": "http",
        "body": '{"text": "{alert_name} fired on {stream_name}: {rows}"}',
    }


def live_template() -> dict[str, Any]:
    return {
        "name": "ops_payload",
        "type": "http",
        "title": "",
        "kind": "custom",
        "body": '{"text": "{alert_name} fired on {stream_name}: {rows}"}',
        "isDefault": None,
        "isPrebuilt": False,
    }


def desired_destination() -> dict[str, Any]:
    return {
        "name": "ops_webhook",
        "type": "http",
        "url": SECRET_URL,
        "headers": {"Authorization": SECRET_TOKEN},
        "template": "ops_payload",
    }


def live_destination() -> dict[str, Any]:
    return {
        "name": "ops_webhook",
        "url": SECRET_URL,
        "method": "post",
        "skip_tls_verify": False,
        "headers": {"Authorization": SECRET_TOKEN},
        "template": "ops_payload",
        "emails": [],
        "type": "http",
        "metadata": {"managed-by": "o2kit"},
    }


def desired_email_destination() -> dict[str, Any]:
    return {
        "name": "oncall_mail",
        "type": "email",
        "emails": [" Oncall@Example.com", "sre@example.com"],
        "template": "ops_payload",
        "metadata": {"ignored": "for email"},
    }


def live_email_destination() -> dict[str, Any]:
    # The email variant keeps recipients and template only; the rest reads back as defaults.
    return {
        "name": "oncall_mail",
        "url": "",
        "method": "post",
        "skip_tls_verify": False,
        "template": "ops_payload",
        "emails": ["oncall@example.com", "sre@example.com"],
        "type": "email",
        "metadata": {},
    }


def desired_dashboard() -> dict[str, Any]:
    return {
        "version": 8,
        "title": "Bedrock overview ",
        "description": "Invocations, latency and errors",
        "defaultDatetimeDuration": {"type": "relative", "relativeTimePeriod": "1h"},
        "variables": {
            "showDynamicFilters": False,
            "list": [
                {
                    "type": "query_values",
                    "name": "model",
                    "label": "Model",
                    "multiSelect": False,
                    "query_data": {
                        "stream_type": "logs",
                        "stream": "bedrock",
                        "field": "modelId",
                        "max_record_size": 50,
                    },
                }
            ],
        },
        "tabs": [
            {
                "tabId": "main",
                "name": "Main",
                "panels": [
                    _panel("invocations", "Invocations", 0),
                    _panel("errors", "Errors", 18),
                    _panel("latency", "Latency p95", 36),
                ],
            }
        ],
    }


def _panel(panel_id: str, title: str, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "line",
        "title": title,
        "description": "",
        "queryType": "sql",
        "config": {"show_legends": True, "unit": "numbers", "decimals": 2},
        "queries": [
            {
                "query": f'SELECT histogram(_timestamp) AS "x_axis_1",\n  count(*) AS "y_axis_1"\n'
                f"FROM \"bedrock\"\nWHERE panel = '{panel_id}'\nGROUP BY x_axis_1\n"
                "ORDER BY x_axis_1 ASC",
                "customQuery": True,
                "fields": {
                    "stream": "bedrock",
                    "stream_type": "logs",
                    "x": [{"label": "Time", "alias": "x_axis_1", "type": "custom"}],
                    "y": [
                        {"label": title, "alias": "y_axis_1", "type": "custom", "color": "#e53935"}
                    ],
                    "filter": {"filterType": "group", "logicalOperator": "AND", "conditions": []},
                },
                "config": {"promql_legend": ""},
            }
        ],
        "layout": {"x": 0, "y": y, "w": 96, "h": 18, "i": y // 18 + 1},
    }


def live_dashboard() -> dict[str, Any]:
    body = copy.deepcopy(desired_dashboard())
    body["title"] = "Bedrock overview"
    body["description"] = "Invocations, latency and errors\n\n" + MARKER_TEXT
    body.update(
        {
            "dashboardId": "7400000000000000001",
            "role": "",
            "owner": "ci@example.com",
            "created": "2026-01-05T10:00:00Z",
            "version": 8,
        }
    )
    var = body["variables"]["list"][0]
    var.update({"value": None, "options": None})
    var["query_data"]["max_record_size"] = 50
    for panel in body["tabs"][0]["panels"]:
        panel["config"].update(
            {"decimals": 2.0, "legends_position": None, "base_map": None, "map_view": None}
        )
        query = panel["queries"][0]
        query["vrlFunctionQuery"] = None
        query["fields"]["z"] = []
        query["fields"]["x"][0]["color"] = None
    return body


def desired_alert() -> dict[str, Any]:
    return {
        "name": "bedrock_error_rate",
        "description": "Bedrock invocation errors",
        "stream_type": "logs",
        "stream_name": "bedrock",
        "enabled": True,
        "query_condition": {
            "type": "custom",
            "conditions": [
                {"column": "level", "operator": "=", "value": "error"},
            ],
            "aggregation": {
                "group_by": ["modelId"],
                "function": "count",
                "having": {"column": "_timestamp", "operator": ">=", "value": 10},
            },
        },
        "trigger_condition": {
            "period": 10,
            "operator": ">=",
            "threshold": 1,
            "frequency": 0,
            "silence": 30,
            "cron": "0 */5 * * * *",
        },
        "destinations": ["ops_webhook"],
        "context_attributes": {" team ": "genai", "": "dropped"},
        "row_template": " {modelId}: {count} ",
        "deduplication": {"enabled": False},
        "tags": ["Prod", "service:bedrock", "prod "],
        "priority": 2,
    }


def live_alert() -> dict[str, Any]:
    return {
        "id": "2bY2L0i4p1yYj6y8d9mBxYq0vZk",
        "name": "bedrock_error_rate",
        "org_id": "default",
        "stream_type": "logs",
        "stream_name": "bedrock",
        "is_real_time": False,
        "query_condition": {
            "type": "custom",
            "conditions": {
                "and": [
                    {"column": "level", "operator": "=", "value": "error", "ignore_case": False}
                ]
            },
            "sql": None,
            "promql": None,
            "promql_condition": None,
            "aggregation": {
                "group_by": ["modelId"],
                "function": "count",
                "having": {
                    "column": "_timestamp",
                    "operator": ">=",
                    "value": 10,
                    "ignore_case": False,
                },
            },
            "vrl_function": None,
            "search_event_type": None,
            "multi_time_range": None,
        },
        "trigger_condition": {
            "period": 10,
            "operator": ">=",
            "threshold": 1,
            "frequency": 1,
            "cron": "",
            "frequency_type": "minutes",
            "silence": 30,
            "tolerance_in_secs": None,
            "align_time": True,
        },
        "destinations": ["ops_webhook"],
        "context_attributes": {"team": "genai"},
        "row_template": "{modelId}: {count}",
        "row_template_type": "String",
        "description": "Bedrock invocation errors",
        "enabled": True,
        "tz_offset": 0,
        "last_triggered_at": 1767607200000000,
        "last_satisfied_at": None,
        "owner": "ci@example.com",
        "last_edited_by": "ci@example.com",
        "creates_incident": False,
        "workflows": [],
        "priority": 2,
        "tags": ["prod", "service:bedrock", "managed-by:o2kit"],
    }


def res(
    kind: str,
    key: tuple[str, ...],
    body: dict[str, Any],
    *,
    server_id: str | None = None,
    meta: dict[str, Any] | None = None,
    source: str | None = None,
) -> Resource:
    return Resource(
        kind=kind,
        key=key,
        body=body,
        server_id=server_id,
        meta=meta or {},
        source=SourceRef(source) if source else None,
    )


def desired_set() -> list[Resource]:
    """One of each kind, as the project loader would give them."""
    return [
        res("folder", ("dashboards", "Bedrock"), desired_folder(), source="o2kit.yaml"),
        res("folder", ("alerts", "Bedrock"), desired_folder(), source="o2kit.yaml"),
        res("template", ("ops_payload",), desired_template(), source="alerts/templates.yaml"),
        res(
            "destination",
            ("ops_webhook",),
            desired_destination(),
            source="alerts/destinations.yaml",
        ),
        res(
            "dashboard",
            ("Bedrock", "Bedrock overview"),
            desired_dashboard(),
            source="dashboards/bedrock.yaml",
        ),
        res(
            "alert",
            ("Bedrock", "bedrock_error_rate"),
            desired_alert(),
            source="alerts/bedrock.yaml",
        ),
    ]


def live_set() -> list[Resource]:
    """What the server holds after applying ``desired_set`` (all managed, all in sync)."""
    return [
        res("folder", ("dashboards", "Bedrock"), live_folder(), server_id="7395551234567890123"),
        res(
            "folder",
            ("alerts", "Bedrock"),
            {**live_folder(), "folderId": "7395551234567890999"},
            server_id="7395551234567890999",
        ),
        res("template", ("ops_payload",), live_template(), server_id="ops_payload"),
        res("destination", ("ops_webhook",), live_destination(), server_id="ops_webhook"),
        res(
            "dashboard",
            ("Bedrock", "Bedrock overview"),
            live_dashboard(),
            server_id="7400000000000000001",
            meta={"hash": "12904816283351950277", "folder_id": "7395551234567890123"},
        ),
        res(
            "alert",
            ("Bedrock", "bedrock_error_rate"),
            live_alert(),
            server_id="2bY2L0i4p1yYj6y8d9mBxYq0vZk",
            meta={"folder_id": "7395551234567890999"},
        ),
    ]
