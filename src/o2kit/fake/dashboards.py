"""What OpenObserve stores for a dashboard body: the v8 model as a table, plus the hash.

The table below is the fake's own transcription of the Rust v8 model in
``/work/oo/src/config/src/meta/dashboards/v8/mod.rs`` (one ``Struct`` per Rust struct, fields in
declaration order, which is also the order the server writes them). Reading it with the rules in
:mod:`o2kit.fake.serde` gives exactly the normalisation the server applies on save:

* unknown keys are dropped;
* ``Option`` fields without ``skip_serializing_if`` ("null-out") come back as ``null``;
* ``Option`` fields with ``skip_serializing_if`` ("omit") are left out when absent or ``null``;
* ``f64`` fields come back as floats (``decimals: 0`` → ``0.0``); ``i64`` fields refuse floats;
* required keys that are missing fail with 422 ``missing field `x```.

Versions 1–7 are *not* modelled field by field: they are checked for the keys their top-level
struct requires and otherwise stored as sent (a declared limitation of the fake).

How a body becomes a stored dashboard follows ``DashboardRequestBody``'s ``Deserialize``
(``src/api/management/src/models/dashboards.rs``): the integer ``version`` key picks the
schema, a missing or non-integer ``version`` means 8, other integers are 422 ``unsupported
version: N``. The dashboard's ``updatedAt`` is read (``#[serde(default, skip_serializing)]``)
but never written inside the object; it only appears in the response envelope.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from .serde import (
    F64,
    Bool,
    DateTime,
    Enum,
    Field,
    Int,
    Kind,
    Lazy,
    SerdeError,
    Str,
    Struct,
    Tagged,
    Untagged,
    Vec,
    nullable,
    opt,
    plain,
    unexpected,
)

LATEST_VERSION = 8

# config/src/meta/stream.rs: StreamType, #[serde(rename_all = "lowercase")] with renames
STREAM_TYPE = Enum(
    "StreamType",
    [
        "logs",
        "metrics",
        "traces",
        "service_graph",
        "enrichment_tables",
        "file_list",
        "metadata",
        "index",
    ],
    default="logs",
)

S, B, I64, F = Str(), Bool(), Int("i64"), F64()


def _struct(name: str, *fields: Field, default_all: bool = False) -> Struct:
    return Struct(name, fields, default_all=default_all)


def _req(key: str, kind: Kind) -> Field:
    return Field(key, kind)


def _dflt(key: str, kind: Kind) -> Field:
    """A field with ``#[serde(default)]``: absent means the type's default."""
    return Field(key, kind, default=kind.default())


# --- v8 model (config/src/meta/dashboards/v8/mod.rs) -----------------------------------------

LAYOUT = _struct("Layout", *(_dflt(k, I64) for k in "xywhi"), default_all=True)

PROMQL_LABEL_FILTER = _struct(
    "PromQLLabelFilter", _dflt("label", S), _dflt("op", S), _dflt("value", S), default_all=True
)
PROMQL_OPERATION_PARAM = Untagged("PromQLOperationParam", [Vec(S), S, F, B])
PROMQL_OPERATION = _struct(
    "PromQLOperation", _dflt("id", S), opt("params", Vec(PROMQL_OPERATION_PARAM)), default_all=True
)

AXIS_TYPE = Enum("AxisType", ["build", "raw", "custom"])
HAVING_CONDITIONS = _struct("HavingConditions", nullable("value", F), nullable("operator", S))
AXIS_ARG_VALUE = _struct("AxisArgValue", nullable("field", S), nullable("streamAlias", S))
AXIS_ARG_VALUE_WRAPPER = Untagged("AxisArgValueWrapper", [AXIS_ARG_VALUE, S, F])
AXIS_ARG = _struct("AxisArg", nullable("type", S), opt("value", AXIS_ARG_VALUE_WRAPPER))
AXIS_ITEM = _struct(
    "AxisItem",
    _req("label", S),
    _req("alias", S),
    opt("column", S),
    opt("type", AXIS_TYPE),
    nullable("color", S),
    opt("functionName", S),
    opt("sortBy", S),
    opt("args", Vec(AXIS_ARG)),
    opt("isDerived", B),
    opt("havingConditions", Vec(HAVING_CONDITIONS)),
    opt("treatAsNonTimestamp", B),
    opt("showFieldAsJson", B),
    opt("rawQuery", S),
)

SELECTED_FIELD = _struct("SelectedField", nullable("streamAlias", S), _req("field", S))
JOIN_CONDITION = _struct(
    "JoinCondition",
    _req("leftField", SELECTED_FIELD),
    _req("rightField", SELECTED_FIELD),
    _req("operation", S),
)
JOIN = _struct(
    "Join",
    _req("stream", S),
    _req("streamAlias", S),
    _req("joinType", S),
    _req("conditions", Vec(JOIN_CONDITION)),
)

STREAM_FIELD_OBJ = _struct("StreamFieldObj", nullable("field", S), nullable("streamAlias", S))
FILTER_CONDITION = _struct(
    "FilterCondition",
    _req("type", S),
    _req("values", Vec(S)),
    nullable("column", STREAM_FIELD_OBJ),
    nullable("operator", S),
    nullable("value", S),
    _req("logicalOperator", S),
    _req("filterType", S),
)
PANEL_FILTER: Kind
GROUP_TYPE = _struct(
    "GroupType",
    _req("filterType", S),
    _req("logicalOperator", S),
    _req("conditions", Vec(Lazy(lambda: PANEL_FILTER))),
)
# Untagged, Condition first: an object with both shapes' keys is read as a condition.
PANEL_FILTER = Untagged("PanelFilter", [FILTER_CONDITION, GROUP_TYPE])

PANEL_FIELDS = _struct(
    "PanelFields",
    _req("stream", S),
    _req("stream_type", STREAM_TYPE),
    _req("x", Vec(AXIS_ITEM)),
    _req("y", Vec(AXIS_ITEM)),
    _dflt("z", Vec(AXIS_ITEM)),
    opt("breakdown", Vec(AXIS_ITEM)),
    *(
        opt(k, AXIS_ITEM)
        for k in (
            "latitude",
            "longitude",
            "weight",
            "name",
            "value_for_maps",
            "source",
            "target",
            "value",
        )
    ),
    _req("filter", PANEL_FILTER),
    Field("promql_labels", Vec(PROMQL_LABEL_FILTER), default=[], omit="empty"),
    Field("promql_operations", Vec(PROMQL_OPERATION), default=[], omit="empty"),
)

TIME_SHIFT = _struct("TimeShift", opt("offSet", S), default_all=True)
QUERY_CONFIG = _struct(
    "QueryConfig",
    _req("promql_legend", S),
    opt("step_value", S),
    opt("layer_type", S),
    opt("weight_fixed", F),
    opt("limit", F),
    opt("min", F),
    opt("max", F),
    opt("time_shift", Vec(TIME_SHIFT)),
    opt("query_label", S),
)

QUERY = _struct(
    "Query",
    nullable("query", S),
    nullable("vrlFunctionQuery", S),
    _req("customQuery", B),
    _req("fields", PANEL_FIELDS),
    _req("config", QUERY_CONFIG),
    opt("joins", Vec(JOIN)),
    opt("tabName", S),
)

DATE_TIME_OPTIONS = _struct(
    "DateTimeOptions",
    _dflt("type", S),
    opt("relativeTimePeriod", S),
    opt("startTime", I64),
    opt("endTime", I64),
    default_all=True,
)

LABEL_POSITION = Enum(
    "LabelPosition",
    [
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
    ],
    default="top",
)
LINE_INTERPOLATION = Enum(
    "LineInterpolation",
    ["smooth", "linear", "step-start", "step-end", "step-middle"],
    default="smooth",
)
LABEL_OPTION = _struct(
    "LabelOption", opt("position", LABEL_POSITION), opt("rotate", F), default_all=True
)
LEGEND_SIZE = _struct("LegendWidth", opt("value", F), opt("unit", S), default_all=True)
BASE_MAP = _struct("BaseMap", nullable("type", S), default_all=True)
MAP_TYPE = _struct("MapType", nullable("type", S), default_all=True)
MAP_VIEW = _struct("MapView", _dflt("zoom", F), _dflt("lat", F), _dflt("lng", F), default_all=True)
SIZE_BY_VALUE = _struct("SizeByValue", _dflt("min", F), _dflt("max", F), default_all=True)
MAP_SYMBOL_STYLE = _struct(
    "MapSymbolStyle",
    _dflt("size", S),
    nullable("size_by_value", SIZE_BY_VALUE),
    _dflt("size_fixed", F),
    default_all=True,
)
TRELLIS = _struct(
    "Trellis",
    nullable("layout", S),
    _dflt("num_of_columns", I64),
    opt("group_by_y_axis", B),
    default_all=True,
)
COLOR_BY_SERIES = _struct(
    "ColorBySeries", opt("type", S), opt("value", S), opt("color", S), default_all=True
)
COLOR_CFG = _struct(
    "ColorCfg",
    opt("mode", S),
    opt("fixedColor", Vec(S)),
    opt("seriesBy", S),
    opt("colorBySeries", Vec(COLOR_BY_SERIES)),
    default_all=True,
)
MAPPING = _struct(
    "Mapping",
    *(
        opt(k, S)
        for k in ("type", "value", "from", "to", "pattern", "match", "color", "text", "textColor")
    ),
    default_all=True,
)
DRILL_DOWN_VARIABLES = _struct(
    "DrillDownVariables", nullable("name", S), nullable("value", S), default_all=True
)
DRILL_DOWN_DATA = _struct(
    "DrillDownData",
    opt("url", S),
    opt("folder", S),
    opt("dashboard", S),
    opt("tab", S),
    opt("passAllVariables", B),
    opt("variables", Vec(DRILL_DOWN_VARIABLES)),
    opt("logsMode", S),
    opt("logsQuery", S),
    default_all=True,
)
DRILL_DOWN = _struct(
    "DrillDown",
    opt("name", S),
    opt("type", S),
    opt("targetBlank", B),
    opt("findBy", S),
    opt("data", DRILL_DOWN_DATA),
    default_all=True,
)
MARK_LINE = _struct("MarkLine", opt("name", S), opt("type", S), opt("value", S), default_all=True)
OVERRIDE_FIELD = _struct("Field", _dflt("matchBy", S), _dflt("value", S), default_all=True)
UNIT_VALUE = _struct("Value", opt("unit", S), opt("customUnit", S), default_all=True)
CONDITIONAL_RULE = _struct(
    "ConditionalRule",
    _dflt("operator", S),
    _dflt("threshold", F),
    opt("textColor", S),
    opt("bgColor", S),
    default_all=True,
)
OVERRIDE_CONFIG_ITEM = Tagged(
    "Config",
    "type",
    {
        "unit": _struct("Unit", opt("value", UNIT_VALUE)),
        "unique_value_color": _struct("UniqueValueColor", Field("autoColor", B, default=False)),
        "alignment": _struct("Alignment", opt("value", S)),
        "text_color": _struct("TextColor", opt("value", S)),
        "background_color": _struct("BackgroundColor", opt("value", S)),
        "field_type": _struct("FieldType", opt("value", S)),
        "conditional_styles": _struct("ConditionalStyles", opt("rules", Vec(CONDITIONAL_RULE))),
    },
)
OVERRIDE_CONFIG = _struct(
    "OverrideConfig",
    opt("field", OVERRIDE_FIELD),
    opt("config", Vec(OVERRIDE_CONFIG_ITEM)),
    default_all=True,
)
BACKGROUND = _struct(
    "Background", _req("type", S), nullable("value", _struct("BackgroundValue", _req("color", S)))
)
SPARKLINE = _struct(
    "Sparkline",
    _dflt("enabled", B),
    opt("type", S),
    opt("layout", S),
    opt("color", S),
    opt("fillOpacity", F),
    opt("lineWidth", F),
    default_all=True,
)

PANEL_CONFIG = _struct(
    "PanelConfig",
    _req("show_legends", B),
    nullable("legends_position", S),
    opt("legends_type", S),
    opt("chart_align", S),
    opt("unit", S),
    opt("unit_custom", S),
    opt("decimals", F),
    opt("line_thickness", F),
    opt("step_value", S),
    opt("top_results", F),
    opt("y_axis_min", F),
    opt("y_axis_max", F),
    opt("top_results_others", B),
    opt("axis_width", F),
    opt("axis_border_show", B),
    opt("label_option", LABEL_OPTION),
    opt("axis_label_rotate", F),
    opt("axis_label_truncate_width", F),
    opt("show_symbol", B),
    opt("line_interpolation", LINE_INTERPOLATION),
    opt("legend_width", LEGEND_SIZE),
    opt("legend_height", LEGEND_SIZE),
    nullable("base_map", BASE_MAP),
    opt("map_type", MAP_TYPE),
    nullable("map_view", MAP_VIEW),
    opt("map_symbol_style", MAP_SYMBOL_STYLE),
    opt("drilldown", Vec(DRILL_DOWN)),
    opt("mark_line", Vec(MARK_LINE)),
    opt("override_config", Vec(OVERRIDE_CONFIG)),
    opt("connect_nulls", B),
    opt("no_value_replacement", S),
    opt("wrap_table_cells", B),
    opt("table_transpose", B),
    opt("table_dynamic_columns", B),
    opt("mappings", Vec(MAPPING)),
    opt("color", COLOR_CFG),
    opt("background", BACKGROUND),
    opt("sparkline", SPARKLINE),
    opt("trellis", TRELLIS),
    opt("show_gridlines", B),
    opt("aggregation", S),
    opt("lat_label", S),
    opt("lon_label", S),
    opt("weight_label", S),
    opt("name_label", S),
    opt("table_aggregations", Vec(S)),
    opt("promql_table_mode", S),
    opt("visible_columns", Vec(S)),
    opt("hidden_columns", Vec(S)),
    opt("sticky_columns", Vec(S)),
    opt("sticky_first_column", B),
    opt("column_order", Vec(S)),
    opt("table_pagination", B),
    opt("table_pagination_rows_per_page", I64),
    opt("table_filtering", B),
    opt("table_pivot_show_row_totals", B),
    opt("table_pivot_show_col_totals", B),
    opt("table_pivot_sticky_row_totals", B),
    opt("table_pivot_sticky_col_totals", B),
    opt("panel_time_enabled", B),
    opt("panel_time_range", DATE_TIME_OPTIONS),
)

PANEL = _struct(
    "Panel",
    _req("id", S),
    _req("type", S),
    _req("title", S),
    _req("description", S),
    _req("config", PANEL_CONFIG),
    _dflt("queryType", S),
    _req("queries", Vec(QUERY)),
    opt("layout", LAYOUT),
    opt("htmlContent", S),
    opt("markdownContent", S),
    opt("customChartContent", S),
)
TAB = _struct("Tab", _req("tabId", S), _req("name", S), _dflt("panels", Vec(PANEL)))

FILTERS = _struct(
    "Filters", nullable("name", S), nullable("operator", S), _dflt("value", S), default_all=True
)
QUERY_DATA = _struct(
    "QueryData",
    _dflt("stream_type", STREAM_TYPE),
    _dflt("stream", S),
    _dflt("field", S),
    nullable("max_record_size", I64),
    opt("filter", Vec(FILTERS)),
    default_all=True,
)
CUSTOM_FIELDS_OPTION = _struct(
    "CustomFieldsOption", _dflt("label", S), _dflt("value", S), opt("selected", B), default_all=True
)
VARIABLE = _struct(
    "VariableList",
    _dflt("type", S),
    _dflt("name", S),
    _dflt("label", S),
    nullable("query_data", QUERY_DATA),
    nullable("value", S),
    nullable("options", Vec(CUSTOM_FIELDS_OPTION)),
    opt("multiSelect", B),
    opt("hideOnDashboard", B),
    opt("selectAllValueForMultiSelect", S),
    opt("customMultiSelectValue", Vec(S)),
    opt("escapeSingleQuotes", B),
    opt("scope", S),
    opt("tabs", Vec(S)),
    opt("panels", Vec(S)),
    default_all=True,
)
VARIABLES = _struct(
    "Variables", _dflt("list", Vec(VARIABLE)), opt("showDynamicFilters", B), default_all=True
)

# `created` has `#[serde(default = "datetime_now")]`; the caller supplies "now" (see parse).
DASHBOARD_V8 = _struct(
    "Dashboard",
    _dflt("version", Int("i32")),
    _dflt("dashboardId", S),
    _dflt("title", S),
    _dflt("description", S),
    _dflt("role", S),
    _dflt("owner", S),
    _req("created", DateTime()),
    _dflt("tabs", Vec(TAB)),
    opt("variables", VARIABLES),
    opt("defaultDatetimeDuration", DATE_TIME_OPTIONS),
    default_all=True,
)

# Versions 1-7: only the top-level keys their structs require are checked
# (config/src/meta/dashboards/v1..v7/mod.rs: v1 has no `version` field; v1-v3 have no
# struct-level default, so `title` and `description` are required, and v2/v3 need `version`).
_LEGACY_REQUIRED = {
    1: ("title", "description"),
    2: ("version", "title", "description"),
    3: ("version", "title", "description"),
}
_LEGACY_TOP = {
    "version": Int("i32"),
    "dashboardId": S,
    "title": S,
    "description": S,
    "role": S,
    "owner": S,
    "created": DateTime(),
}


def requested_version(body: Any) -> int:
    """The schema a body is read with: its integer ``version`` key, else the latest (8)."""
    version = body.get("version") if isinstance(body, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and -(2**63) <= version < 2**63:
        return version
    return LATEST_VERSION


def parse_body(body: Any, now: Callable[[], str]) -> tuple[int, dict[str, Any], int]:
    """Read a POST/PUT body: ``(version, inner object as stored, updatedAt)``.

    Raises :class:`SerdeError` for what the server answers with 422.
    """
    if not isinstance(body, dict):
        raise SerdeError(f"invalid type: {unexpected(body)}, expected a map")
    version = requested_version(body)
    if not 1 <= version <= LATEST_VERSION:
        raise SerdeError(f"unsupported version: {version}")
    source = dict(body)
    if "created" not in source:
        source["created"] = now()
    inner = DASHBOARD_V8.de(source) if version == LATEST_VERSION else _legacy(version, source)
    updated_at = Int("i64").de(body.get("updatedAt", 0)) if "updatedAt" in body else 0
    return version, inner, updated_at


def _legacy(version: int, body: dict[str, Any]) -> dict[str, Any]:
    for key in _LEGACY_REQUIRED.get(version, ()):
        if key not in body:
            raise SerdeError(f"missing field `{key}`")
    inner = plain(body)
    for key, kind in _LEGACY_TOP.items():
        if key in body:
            try:
                inner[key] = kind.de(body[key])
            except SerdeError as err:
                raise err.at(key) from None
        elif key != "version":  # `created` is always present (parse_body fills it)
            inner[key] = ""
    inner.pop("updatedAt", None)  # skip_serializing in every version
    if version == 1:
        inner.pop("version", None)
    else:
        inner["version"] = version
    return inner


def dashboard_hash(version: int, inner: dict[str, Any], updated_at: int) -> str:
    """A deterministic u64 over the stored content, in decimal.

    OpenObserve computes SipHash over the Rust struct (``impl From<v8::Dashboard> for
    Dashboard``, ``config/src/meta/dashboards/v8/mod.rs``) whenever a dashboard is read, so the
    value is not stored and identical content gives the identical hash. Clients must treat it as
    opaque; the fake uses BLAKE2b of the canonical JSON instead of SipHash.
    """
    canonical = json.dumps(
        [version, inner, updated_at], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    digest = hashlib.blake2b(canonical.encode("utf-8"), digest_size=8).digest()
    return str(int.from_bytes(digest, "big"))


def envelope(version: int, inner: dict[str, Any], updated_at: int,
             hash_: str | None = None) -> dict[str, Any]:
    """The response body of POST/PUT/GET (``config::meta::dashboards::Dashboard``)."""
    body: dict[str, Any] = {f"v{n}": None for n in range(1, LATEST_VERSION + 1)}
    body[f"v{version}"] = inner
    body["version"] = version
    body["hash"] = hash_ or dashboard_hash(version, inner, updated_at)
    body["updatedAt"] = updated_at
    return body


__all__ = [
    "DASHBOARD_V8",
    "LATEST_VERSION",
    "dashboard_hash",
    "envelope",
    "parse_body",
    "requested_version",
]
