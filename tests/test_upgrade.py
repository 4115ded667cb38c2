"""Dashboard schema upgrade v1..v7 → v8 (o2kit.kinds.dashboard_upgrade), step by step as the
OpenObserve web UI
does it (web/src/utils/dashboard/convertDashboardSchemaVersion.ts). Expected values are worked out
by hand from the TypeScript, one step at a time."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from o2kit.kinds.dashboard_upgrade import (
    UpgradeError,
    dashboard_version,
    needs_upgrade,
    upgrade_dashboard,
)

GROUP_EMPTY = {"filterType": "group", "logicalOperator": "AND", "conditions": []}


def _v1() -> dict[str, Any]:
    return {
        "title": "Old",
        "description": "",
        "panels": [
            {
                "id": "p1",
                "type": "bar",
                "config": {
                    "title": "Errors",
                    "description": "d",
                    "show_legends": True,
                    "legends_position": None,
                    "unit": None,
                    "promql_legend": "",
                },
                "queryType": "sql",
                "query": "SELECT 1",
                "customQuery": False,
                "fields": {
                    "stream": "app",
                    "stream_type": "",
                    "x": [{"label": "T", "alias": "x_axis_1", "column": "_timestamp",
                           "aggregationFunction": "histogram"}],
                    "y": [{"label": "N", "alias": "y_axis_1", "column": "n",
                           "aggregationFunction": "count"}],
                    "filter": [{"type": "condition", "values": [], "column": "level",
                                "operator": "=", "value": "error"}],
                },
            }
        ],
        "layouts": [{"panelId": "p1", "x": 1, "y": 2, "w": 3, "h": 4, "i": 1, "static": False}],
    }


def test_v1_goes_through_every_step() -> None:
    out = upgrade_dashboard(_v1())
    assert out["version"] == 8
    assert "layouts" not in out and "panels" not in out
    tab = out["tabs"][0]
    assert (tab["name"], tab["tabId"]) == ("Default", "default")
    panel = tab["panels"][0]
    # x, w: ×4 (v2→3) ×4 (v5→6) = ×16; h ×2 (v5→6); y ×2 (v6→7); only x y h w i were kept.
    assert panel["layout"] == {"x": 16, "y": 4, "w": 48, "h": 8, "i": 1}
    assert panel["title"] == "Errors" and panel["description"] == "d"
    assert panel["config"] == {"show_legends": True, "legends_position": None, "unit": None}
    query = panel["queries"][0]
    assert query["config"] == {"promql_legend": ""}
    fields = query["fields"]
    assert fields["stream_type"] == "logs"  # "" is falsy: the default applies
    assert fields["z"] == [] and fields["breakdown"] == []
    # builder query: the column becomes the first argument; histogram keeps no other args here
    assert fields["x"] == [
        {"label": "T", "alias": "x_axis_1", "type": "build", "functionName": "histogram",
         "args": [{"type": "field", "value": {"field": "_timestamp", "streamAlias": None}}]}
    ]
    assert fields["y"][0]["functionName"] == "count"
    assert fields["filter"] == {
        "filterType": "group",
        "logicalOperator": "AND",
        "conditions": [
            {"type": "condition", "values": [], "operator": "=", "value": "error",
             "logicalOperator": "AND", "filterType": "condition",
             "column": {"streamAlias": None, "field": "level"}}
        ],
    }


def test_missing_version_is_one_and_input_is_not_modified() -> None:
    body = _v1()
    before = copy.deepcopy(body)
    assert dashboard_version(body) == 1
    upgrade_dashboard(body)
    assert body == before


def _v3(x: list[dict[str, Any]], panel_type: str = "line", custom: bool = False) -> dict[str, Any]:
    return {
        "version": 3,
        "title": "T",
        "tabs": [
            {
                "tabId": "default",
                "name": "Default",
                "panels": [
                    {
                        "id": "p",
                        "type": panel_type,
                        "title": "P",
                        "description": "",
                        "config": {"show_legends": True},
                        "queries": [
                            {"query": "q", "customQuery": custom,
                             "fields": {"stream": "s", "stream_type": "logs", "x": x, "y": [],
                                        "filter": []},
                             "config": {"promql_legend": ""}}
                        ],
                        "layout": {"x": 12, "y": 3, "w": 24, "h": 9, "i": 1},
                    }
                ],
            }
        ],
    }


def _item(alias: str, column: str, fn: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"label": alias, "alias": alias, "column": column, "color": None}
    if fn:
        out["aggregationFunction"] = fn
    return out


def test_v3_extra_x_fields_move_to_breakdown_except_in_tables() -> None:
    x = [_item("a", "ca"), _item("b", "cb"), _item("c", "cc")]
    line = upgrade_dashboard(_v3(copy.deepcopy(x)))["tabs"][0]["panels"][0]
    fields = line["queries"][0]["fields"]
    assert [i["alias"] for i in fields["x"]] == ["a"]
    assert [i["alias"] for i in fields["breakdown"]] == ["b", "c"]
    table = upgrade_dashboard(_v3(copy.deepcopy(x), "table"))["tabs"][0]["panels"][0]
    fields = table["queries"][0]["fields"]
    assert [i["alias"] for i in fields["x"]] == ["a", "b", "c"] and fields["breakdown"] == []
    # 48 → 192 columns (×4) and 34 → 17 px rows (h ×2, y ×2)
    assert line["layout"] == {"x": 48, "y": 6, "w": 96, "h": 18, "i": 1}
    assert fields["filter"] == GROUP_EMPTY


def test_custom_query_items_are_typed_custom_and_keep_their_column() -> None:
    x = [_item("ts", "_timestamp", "histogram") | {"args": [{"value": "5 minute"}]}]
    out = upgrade_dashboard(_v3(x, custom=True))
    item = out["tabs"][0]["panels"][0]["queries"][0]["fields"]["x"][0]
    assert item["type"] == "custom" and item["column"] == "_timestamp"
    assert item["functionName"] == "histogram" and "aggregationFunction" not in item
    assert item["args"] == [{"value": "5 minute", "type": "histogramInterval"}]


def test_non_histogram_args_are_dropped_and_builder_column_prepended() -> None:
    x = [_item("s", "bytes", "sum") | {"args": [{"value": "x"}]}]
    out = upgrade_dashboard(_v3(x))
    item = out["tabs"][0]["panels"][0]["queries"][0]["fields"]["x"][0]
    assert item["args"] == [{"type": "field", "value": {"field": "bytes", "streamAlias": None}}]
    assert "column" not in item and item["type"] == "build"


def _v5(layout: dict[str, Any], fields: dict[str, Any], version: int = 5) -> dict[str, Any]:
    return {
        "version": version,
        "title": "T",
        "tabs": [{"tabId": "t", "name": "T", "panels": [
            {"id": "p", "type": "line", "title": "P", "description": "",
             "config": {"show_legends": True},
             "queries": [{"query": "q", "customQuery": False, "fields": fields,
                          "config": {"promql_legend": ""}}],
             "layout": layout}]}],
    }


def test_v5_layout_and_nested_filter_columns() -> None:
    fields = {
        "stream": "s", "stream_type": "logs", "x": [], "y": [],
        "latitude": _item("lat", "lat_col"),
        "filter": {"filterType": "group", "logicalOperator": "OR", "conditions": [
            {"filterType": "condition", "column": "a", "operator": "=", "value": "1",
             "type": "condition", "values": [], "logicalOperator": "AND"},
            {"filterType": "group", "logicalOperator": "AND", "conditions": [
                {"filterType": "condition", "column": "b", "type": "list", "values": ["x"],
                 "operator": "IN", "value": "", "logicalOperator": "AND"}]},
        ]},
    }
    out = upgrade_dashboard(_v5({"x": 1, "y": 2, "w": 3, "h": 4, "i": 1}, fields))
    panel = out["tabs"][0]["panels"][0]
    assert panel["layout"] == {"x": 4, "y": 4, "w": 12, "h": 8, "i": 1}
    filt = panel["queries"][0]["fields"]["filter"]
    assert filt["logicalOperator"] == "OR"
    assert filt["conditions"][0]["column"] == {"streamAlias": None, "field": "a"}
    assert filt["conditions"][1]["conditions"][0]["column"] == {"streamAlias": None, "field": "b"}
    lat = panel["queries"][0]["fields"]["latitude"]  # a single-item slot, migrated as well
    assert lat["type"] == "build" and lat["functionName"] is None
    assert lat["args"][0]["value"]["field"] == "lat_col"


def test_v6_only_doubles_y_and_v7_only_migrates_fields() -> None:
    fields = {"stream": "s", "stream_type": "logs", "x": [], "y": [], "filter": GROUP_EMPTY}
    layout = {"x": 5, "y": 7, "w": 9, "h": 11, "i": 2}
    v6 = upgrade_dashboard(_v5(dict(layout), copy.deepcopy(fields), version=6))
    assert v6["tabs"][0]["panels"][0]["layout"] == {"x": 5, "y": 14, "w": 9, "h": 11, "i": 2}
    v7 = upgrade_dashboard(_v5(dict(layout), copy.deepcopy(fields), version=7))
    assert v7["tabs"][0]["panels"][0]["layout"] == layout
    assert v7["version"] == 8


def test_v4_group_filter_is_reset_like_the_ui_does() -> None:
    # ``{}.length > 0`` is false in JavaScript: a v4 document whose filter is already a group
    # gets the empty group (a UI quirk kept on purpose).
    group = {"filterType": "group", "logicalOperator": "AND",
             "conditions": [{"filterType": "condition", "column": "a"}]}
    fields = {"stream": "s", "stream_type": "logs", "x": [], "y": [], "filter": group}
    out = upgrade_dashboard(_v5({"x": 0, "y": 0, "w": 1, "h": 1, "i": 1}, fields, version=4))
    assert out["tabs"][0]["panels"][0]["queries"][0]["fields"]["filter"] == GROUP_EMPTY


def test_js_arithmetic_on_odd_layout_values() -> None:
    fields = {"stream": "s", "stream_type": "logs", "x": [], "y": [], "filter": []}
    out = upgrade_dashboard(_v5({"x": None, "y": "3", "w": 2.5, "i": 1}, fields))
    layout = out["tabs"][0]["panels"][0]["layout"]
    # null*4 = 0, "3"*2 = 6, 2.5*4 = 10, undefined*2 = NaN → JSON null
    assert layout == {"x": 0, "y": 6, "w": 10.0, "h": None, "i": 1}


@pytest.mark.parametrize("version", [8, 9, "5", True])
def test_versions_the_ui_does_not_migrate_are_returned_unchanged(version: Any) -> None:
    body = {"version": version, "title": "x", "tabs": []}
    assert upgrade_dashboard(body) == body
    assert not needs_upgrade(body)


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6, 7, 5.0, 0, None])
def test_needs_upgrade(version: Any) -> None:
    assert needs_upgrade({"version": version})


def test_where_the_ui_would_throw_the_error_names_the_path() -> None:
    body = _v3([], "line")
    del body["tabs"][0]["panels"][0]["layout"]
    with pytest.raises(UpgradeError, match=r"tabs\[0\]\.panels\[0\]\.layout"):
        upgrade_dashboard(body)
    v2 = {"version": 2, "title": "x", "panels": [{"id": "p", "queries": []}]}
    with pytest.raises(UpgradeError, match=r"panels\[0\]\.layout"):
        upgrade_dashboard(v2)


def test_upgrade_is_idempotent_at_v8() -> None:
    once = upgrade_dashboard(_v1())
    assert upgrade_dashboard(once) == once
