"""Shape of the inner v8 dashboard object, mirroring ``src/config/src/meta/dashboards/v8/mod.rs``
in the OpenObserve source (commit fbab9b80) key by key, with the UI's enums where the server takes
free text but the web UI breaks on anything else (reference openobserve-api.md §4, §9).

Where the Rust model and reference §4 differ, the model wins. Notably each ``layout`` key is
optional for the server (``Layout`` is ``#[serde(default)]``: a missing ``w`` becomes 0); o2kit
requires all five, like the UI's import validation. ``PanelFilter`` is an untagged serde enum
(tried as a condition, then as a group); o2kit dispatches on ``filterType`` as the UI writes it.
"""

from __future__ import annotations

from typing import Any

from o2kit.validate.schemas.shapes import (
    AnyValue,
    Bool,
    Choice,
    Int,
    ListOf,
    Num,
    Obj,
    Shape,
    Str,
    dflt,
    json_type,
    lazy,
    opt,
    req,
    tagged,
)

# OpenObserve stream types (``src/config/src/meta/stream.rs`` ``StreamType``, lower-case serde).
STREAM_TYPES = (
    "logs",
    "metrics",
    "traces",
    "service_graph",
    "enrichment_tables",
    "file_list",
    "metadata",
    "index",
)

# The 20 panel types of the web UI (server: free text; UI import validation refuses others).
PANEL_TYPES = (
    "area",
    "area-stacked",
    "bar",
    "h-bar",
    "line",
    "scatter",
    "stacked",
    "h-stacked",
    "pie",
    "donut",
    "heatmap",
    "table",
    "metric",
    "gauge",
    "geomap",
    "maps",
    "sankey",
    "custom_chart",
    "html",
    "markdown",
)

QUERY_TYPES = ("", "sql", "promql", "promql-builder")
VARIABLE_TYPES = ("query_values", "constant", "textbox", "custom", "dynamic_filters")
GRID_COLUMNS = 192

_S = Str()
_N = Num()
_B = Bool()
_I = Int()
_STRS = ListOf(_S)

DATETIME_OPTIONS = Obj(
    {
        "type": dflt(Str(enum=("relative", "absolute"))),
        "relativeTimePeriod": opt(_S),
        "startTime": opt(_I),
        "endTime": opt(_I),
    }
)

LAYOUT = Obj({"x": dflt(_I), "y": dflt(_I), "w": dflt(_I), "h": dflt(_I), "i": dflt(_I)})

_AXIS_ARG_VALUE_OBJECT = Obj({"field": opt(_S), "streamAlias": opt(_S)})


def _axis_arg_value(value: Any) -> Shape | str:
    # serde untagged: object {field, streamAlias} | string | number
    if isinstance(value, dict):
        return _AXIS_ARG_VALUE_OBJECT
    if isinstance(value, str):
        return _S
    return _N


AXIS_ITEM = Obj(
    {
        "label": req(_S),
        "alias": req(_S),
        "column": opt(_S),
        "type": opt(Str(enum=("build", "raw", "custom"))),
        "color": opt(_S),
        "functionName": opt(_S),
        "sortBy": opt(_S),
        "args": opt(
            ListOf(
                Obj(
                    {
                        "type": opt(_S),
                        "value": opt(
                            Choice(_axis_arg_value, expected="an object, string or number")
                        ),
                    }
                )
            )
        ),
        "isDerived": opt(_B),
        "havingConditions": opt(ListOf(Obj({"value": opt(_N), "operator": opt(_S)}))),
        "treatAsNonTimestamp": opt(_B),
        "showFieldAsJson": opt(_B),
        "rawQuery": opt(_S),
    }
)

_FILTER_CONDITION = Obj(
    {
        "type": req(Str(enum=("condition", "list"))),
        "values": req(_STRS),
        "column": opt(Obj({"field": opt(_S), "streamAlias": opt(_S)})),
        "operator": opt(_S),
        "value": opt(_S),
        "logicalOperator": req(Str(enum=("AND", "OR"))),
        "filterType": req(_S),
    }
)

_FILTER_GROUP = Obj(
    {
        "filterType": req(_S),
        "logicalOperator": req(Str(enum=("AND", "OR"))),
        "conditions": req(ListOf(lazy(lambda: PANEL_FILTER))),
    }
)


def _panel_filter(value: Any) -> Shape | str:
    if not isinstance(value, dict):
        return f"expected an object, got {json_type(value)}"
    kind = value.get("filterType")
    if kind == "group" or (kind is None and "conditions" in value):
        return _FILTER_GROUP
    if kind == "condition" or kind is None:
        return _FILTER_CONDITION
    return f'filterType "{kind}" is not one of: condition, group'


PANEL_FILTER: Shape = Choice(_panel_filter, expected="an object")

PANEL_FIELDS = Obj(
    {
        "stream": req(_S),
        "stream_type": req(Str(enum=STREAM_TYPES)),
        "x": req(ListOf(AXIS_ITEM)),
        "y": req(ListOf(AXIS_ITEM)),
        "z": dflt(ListOf(AXIS_ITEM)),
        "breakdown": opt(ListOf(AXIS_ITEM)),
        "latitude": opt(AXIS_ITEM),
        "longitude": opt(AXIS_ITEM),
        "weight": opt(AXIS_ITEM),
        "name": opt(AXIS_ITEM),
        "value_for_maps": opt(AXIS_ITEM),
        "source": opt(AXIS_ITEM),
        "target": opt(AXIS_ITEM),
        "value": opt(AXIS_ITEM),
        "filter": req(PANEL_FILTER),
        "promql_labels": dflt(ListOf(Obj({"label": dflt(_S), "op": dflt(_S), "value": dflt(_S)}))),
        "promql_operations": dflt(ListOf(Obj({"id": dflt(_S), "params": opt(ListOf(AnyValue()))}))),
    }
)

QUERY_CONFIG = Obj(
    {
        "promql_legend": req(_S),
        "step_value": opt(_S),
        "layer_type": opt(_S),
        "weight_fixed": opt(_N),
        "limit": opt(_N),
        "min": opt(_N),
        "max": opt(_N),
        "time_shift": opt(ListOf(Obj({"offSet": opt(_S)}))),
        "query_label": opt(_S),
    }
)

_SELECTED_FIELD = Obj({"streamAlias": opt(_S), "field": req(_S)})

JOIN = Obj(
    {
        "stream": req(_S),
        "streamAlias": req(_S),
        "joinType": req(_S),
        "conditions": req(
            ListOf(
                Obj(
                    {
                        "leftField": req(_SELECTED_FIELD),
                        "rightField": req(_SELECTED_FIELD),
                        "operation": req(_S),
                    }
                )
            )
        ),
    }
)

QUERY = Obj(
    {
        "query": opt(_S),
        "vrlFunctionQuery": opt(_S),
        "customQuery": req(_B),
        "fields": req(PANEL_FIELDS),
        "config": req(QUERY_CONFIG),
        "joins": opt(ListOf(JOIN)),
        "tabName": opt(_S),
    }
)

_OVERRIDE_ITEM = tagged(
    "type",
    {
        "unit": Obj({"type": req(_S), "value": opt(Obj({"unit": opt(_S), "customUnit": opt(_S)}))}),
        "unique_value_color": Obj({"type": req(_S), "autoColor": dflt(_B)}),
        "alignment": Obj({"type": req(_S), "value": opt(_S)}),
        "text_color": Obj({"type": req(_S), "value": opt(_S)}),
        "background_color": Obj({"type": req(_S), "value": opt(_S)}),
        "field_type": Obj({"type": req(_S), "value": opt(_S)}),
        "conditional_styles": Obj(
            {
                "type": req(_S),
                "rules": opt(
                    ListOf(
                        Obj(
                            {
                                "operator": dflt(_S),
                                "threshold": dflt(_N),
                                "textColor": opt(_S),
                                "bgColor": opt(_S),
                            }
                        )
                    )
                ),
            }
        ),
    },
)

_LABEL_POSITIONS = (
    "top",
    "left",
    "right",
    "bottom",
    "inside",
    "insideLeft",
    "insideRight",
    "insideTop",
    "insideBottom",
    "insideTopLeft",
    "insideBottomLeft",
    "insideTopRight",
    "insideBottomRight",
    "outside",
)

_SIZE = Obj({"value": opt(_N), "unit": opt(_S)})

PANEL_CONFIG = Obj(
    {
        "show_legends": req(_B),
        "legends_position": opt(_S),
        "legends_type": opt(_S),
        "chart_align": opt(_S),
        "unit": opt(_S),
        "unit_custom": opt(_S),
        "decimals": opt(_N),
        "line_thickness": opt(_N),
        "step_value": opt(_S),
        "top_results": opt(_N),
        "y_axis_min": opt(_N),
        "y_axis_max": opt(_N),
        "top_results_others": opt(_B),
        "axis_width": opt(_N),
        "axis_border_show": opt(_B),
        "label_option": opt(Obj({"position": opt(Str(enum=_LABEL_POSITIONS)), "rotate": opt(_N)})),
        "axis_label_rotate": opt(_N),
        "axis_label_truncate_width": opt(_N),
        "show_symbol": opt(_B),
        "line_interpolation": opt(
            Str(enum=("smooth", "linear", "step-start", "step-end", "step-middle"))
        ),
        "legend_width": opt(_SIZE),
        "legend_height": opt(_SIZE),
        "base_map": opt(Obj({"type": opt(_S)})),
        "map_type": opt(Obj({"type": opt(_S)})),
        "map_view": opt(Obj({"zoom": dflt(_N), "lat": dflt(_N), "lng": dflt(_N)})),
        "map_symbol_style": opt(
            Obj(
                {
                    "size": dflt(_S),
                    "size_by_value": opt(Obj({"min": dflt(_N), "max": dflt(_N)})),
                    "size_fixed": dflt(_N),
                }
            )
        ),
        "drilldown": opt(
            ListOf(
                Obj(
                    {
                        "name": opt(_S),
                        "type": opt(_S),
                        "targetBlank": opt(_B),
                        "findBy": opt(_S),
                        "data": opt(
                            Obj(
                                {
                                    "url": opt(_S),
                                    "folder": opt(_S),
                                    "dashboard": opt(_S),
                                    "tab": opt(_S),
                                    "passAllVariables": opt(_B),
                                    "variables": opt(
                                        ListOf(Obj({"name": opt(_S), "value": opt(_S)}))
                                    ),
                                    "logsMode": opt(_S),
                                    "logsQuery": opt(_S),
                                }
                            )
                        ),
                    }
                )
            )
        ),
        "mark_line": opt(ListOf(Obj({"name": opt(_S), "type": opt(_S), "value": opt(_S)}))),
        "override_config": opt(
            ListOf(
                Obj(
                    {
                        "field": opt(Obj({"matchBy": dflt(_S), "value": dflt(_S)})),
                        "config": opt(ListOf(_OVERRIDE_ITEM)),
                    }
                )
            )
        ),
        "connect_nulls": opt(_B),
        "no_value_replacement": opt(_S),
        "wrap_table_cells": opt(_B),
        "table_transpose": opt(_B),
        "table_dynamic_columns": opt(_B),
        "mappings": opt(
            ListOf(
                Obj(
                    {
                        "type": opt(_S),
                        "value": opt(_S),
                        "from": opt(_S),
                        "to": opt(_S),
                        "pattern": opt(_S),
                        "match": opt(_S),
                        "color": opt(_S),
                        "text": opt(_S),
                        "textColor": opt(_S),
                    }
                )
            )
        ),
        "color": opt(
            Obj(
                {
                    "mode": opt(_S),
                    "fixedColor": opt(_STRS),
                    "seriesBy": opt(_S),
                    "colorBySeries": opt(
                        ListOf(Obj({"type": opt(_S), "value": opt(_S), "color": opt(_S)}))
                    ),
                }
            )
        ),
        "background": opt(Obj({"type": req(_S), "value": opt(Obj({"color": req(_S)}))})),
        "sparkline": opt(
            Obj(
                {
                    "enabled": dflt(_B),
                    "type": opt(Str(enum=("line", "area", "bar"))),
                    "layout": opt(Str(enum=("bottom", "background"))),
                    "color": opt(_S),
                    "fillOpacity": opt(_N),
                    "lineWidth": opt(_N),
                }
            )
        ),
        "trellis": opt(
            Obj({"layout": opt(_S), "num_of_columns": dflt(_I), "group_by_y_axis": opt(_B)})
        ),
        "show_gridlines": opt(_B),
        "aggregation": opt(_S),
        "lat_label": opt(_S),
        "lon_label": opt(_S),
        "weight_label": opt(_S),
        "name_label": opt(_S),
        "table_aggregations": opt(_STRS),
        "promql_table_mode": opt(_S),
        "visible_columns": opt(_STRS),
        "hidden_columns": opt(_STRS),
        "sticky_columns": opt(_STRS),
        "sticky_first_column": opt(_B),
        "column_order": opt(_STRS),
        "table_pagination": opt(_B),
        "table_pagination_rows_per_page": opt(_I),
        "table_filtering": opt(_B),
        "table_pivot_show_row_totals": opt(_B),
        "table_pivot_show_col_totals": opt(_B),
        "table_pivot_sticky_row_totals": opt(_B),
        "table_pivot_sticky_col_totals": opt(_B),
        "panel_time_enabled": opt(_B),
        "panel_time_range": opt(DATETIME_OPTIONS),
    }
)

PANEL = Obj(
    {
        "id": req(_S),
        "type": req(Str(enum=PANEL_TYPES)),
        "title": req(_S),
        "description": req(_S),
        "config": req(PANEL_CONFIG),
        "queryType": dflt(Str(enum=QUERY_TYPES)),
        "queries": req(ListOf(QUERY)),
        "layout": opt(LAYOUT),
        "htmlContent": opt(_S),
        "markdownContent": opt(_S),
        "customChartContent": opt(_S),
    }
)

TAB = Obj({"tabId": req(_S), "name": req(_S), "panels": dflt(ListOf(PANEL))})

VARIABLE = Obj(
    {
        "type": dflt(Str(enum=VARIABLE_TYPES)),
        "name": dflt(_S),
        "label": dflt(_S),
        "query_data": opt(
            Obj(
                {
                    "stream_type": dflt(Str(enum=STREAM_TYPES)),
                    "stream": dflt(_S),
                    "field": dflt(_S),
                    "max_record_size": opt(_I),
                    "filter": opt(
                        ListOf(Obj({"name": opt(_S), "operator": opt(_S), "value": dflt(_S)}))
                    ),
                }
            )
        ),
        "value": opt(_S),
        "options": opt(ListOf(Obj({"label": dflt(_S), "value": dflt(_S), "selected": opt(_B)}))),
        "multiSelect": opt(_B),
        "hideOnDashboard": opt(_B),
        "selectAllValueForMultiSelect": opt(Str(enum=("first", "all", "custom"))),
        "customMultiSelectValue": opt(_STRS),
        "escapeSingleQuotes": opt(_B),
        "scope": opt(Str(enum=("global", "tabs", "panels"))),
        "tabs": opt(_STRS),
        "panels": opt(_STRS),
    }
)

VARIABLES = Obj({"list": dflt(ListOf(VARIABLE)), "showDynamicFilters": opt(_B)})

DASHBOARD = Obj(
    {
        "version": dflt(_I),
        "dashboardId": dflt(_S),
        "title": dflt(_S),
        "description": dflt(_S),
        "role": dflt(_S),
        "owner": dflt(_S),
        "created": dflt(_S),
        "tabs": dflt(ListOf(TAB)),
        "variables": opt(VARIABLES),
        "defaultDatetimeDuration": opt(DATETIME_OPTIONS),
        "updatedAt": dflt(_I),
    }
)
