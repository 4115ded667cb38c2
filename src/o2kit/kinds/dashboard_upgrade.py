"""Older OpenObserve dashboard schemas (v1–v7) → v8, the way the OpenObserve web UI does it.

OpenObserve stores a dashboard at the version it was sent and never upgrades it server-side
(reference openobserve-api.md §3.5); the web UI upgrades every dashboard it loads, step by step,
and saves v8. This module reimplements that migration in our own words, step for step, after
``web/src/utils/dashboard/convertDashboardSchemaVersion.ts`` (OpenObserve commit fbab9b80,
``convertDashboardSchemaVersion``). Where the TypeScript relies on JavaScript semantics the Python
keeps them, so a dashboard upgrades here exactly as in the browser:

- a missing or falsy ``version`` means 1; a version that is not one of 1..7 (8, 9, ``"5"``) is
  returned unchanged (the ``switch`` matches none of its cases);
- ``a || b`` uses JavaScript truthiness (``""``, ``0``, ``null``, ``false`` are falsy; ``[]`` and
  ``{}`` are truthy) — see ``_js_or``;
- a key set to JavaScript ``undefined`` disappears from the JSON (``_UNDEFINED``);
- layout arithmetic: ``null * 4`` is ``0``; ``undefined * 4`` is ``NaN``, which JSON writes as
  ``null`` (``_times``);
- where the browser would throw a ``TypeError`` (a v2 panel without ``layout``, a query without
  ``fields``), ``UpgradeError`` names the path instead.

One quirk worth knowing is kept on purpose: the v4→v5 step turns a *non-array* filter into an
empty group (``{}.length > 0`` is false), so a v4 document that already had a group filter loses
it — as it does in the UI.

Pure: no I/O. The input is never modified.
"""

from __future__ import annotations

import copy
import math
from typing import Any

__all__ = [
    "CURRENT_VERSION",
    "UpgradeError",
    "dashboard_version",
    "needs_upgrade",
    "upgrade_dashboard",
]

CURRENT_VERSION = 8
"""``CURRENT_DASHBOARD_SCHEMA_VERSION`` in convertDashboardSchemaVersion.ts."""

# Axis-item slots of a query's ``fields`` migrated by the v7→v8 step (arrays or single items).
_V8_FIELD_SLOTS = (
    "x",
    "y",
    "z",
    "breakdown",
    "latitude",
    "longitude",
    "weight",
    "source",
    "target",
    "value",
    "name",
    "value_for_maps",
)


class UpgradeError(ValueError):
    """The dashboard cannot be upgraded: the web UI would fail on it too."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


_UNDEFINED: Any = _Undefined()


def _js_truthy(value: Any) -> bool:
    if value is None or value is False or value is _UNDEFINED:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True  # lists and objects, even empty ones


def _js_or(value: Any, fallback: Any) -> Any:
    return value if _js_truthy(value) else fallback


def _get(obj: Any, key: str) -> Any:
    """``obj?.key``: ``_UNDEFINED`` when ``obj`` is not an object or has no ``key``."""
    if isinstance(obj, dict) and key in obj:
        return obj[key]
    return _UNDEFINED


def _obj(pairs: dict[str, Any]) -> dict[str, Any]:
    """An object literal: keys set to ``undefined`` are left out (as JSON.stringify does)."""
    return {k: v for k, v in pairs.items() if v is not _UNDEFINED}


def _times(value: Any, factor: int) -> Any:
    """JavaScript ``value * factor`` for the layout numbers, as JSON will read it back."""
    if value is None:
        return 0  # null * 4 === 0
    if isinstance(value, bool):
        return int(value) * factor
    if isinstance(value, int | float):
        return value * factor
    if isinstance(value, str):
        try:
            number = float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return None  # NaN → null
        result = number * factor
        return int(result) if result.is_integer() else result
    return None  # undefined, objects, arrays: NaN → null


def _require_dict(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        shown = "missing" if value is _UNDEFINED else f"{type(value).__name__}, not an object"
        raise UpgradeError(path, f"expected an object ({shown}); the OpenObserve UI fails here too")
    return value


def _require_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        shown = "missing" if value is _UNDEFINED else f"{type(value).__name__}, not a list"
        raise UpgradeError(path, f"expected a list ({shown}); the OpenObserve UI fails here too")
    return value


def dashboard_version(body: Any) -> int | None:
    """The schema version the UI reads ``body`` as: 1 when missing or falsy, the integer when it
    is one (``5.0`` counts as 5, as ``===`` does in JavaScript), otherwise None (not migrated)."""
    version = _get(body, "version")
    if not _js_truthy(version):
        return 1
    if isinstance(version, bool):
        return None
    if isinstance(version, int):
        return version
    if isinstance(version, float) and version.is_integer():
        return int(version)
    return None


def needs_upgrade(body: Any) -> bool:
    """True when the UI would migrate ``body`` (its version is one of 1..7)."""
    version = dashboard_version(body)
    return version is not None and 1 <= version < CURRENT_VERSION


def upgrade_dashboard(body: dict[str, Any]) -> dict[str, Any]:
    """Return ``body`` migrated to v8 (a new object). Bodies at version 8, or at a version the UI
    does not know, are returned as an unchanged copy. Raises ``UpgradeError``."""
    if not isinstance(body, dict):
        raise UpgradeError("", f"a dashboard must be a JSON object, not {type(body).__name__}")
    data = copy.deepcopy(body)
    version = dashboard_version(data)
    if version is None or not 1 <= version < CURRENT_VERSION:
        return data
    # The TypeScript ``switch`` falls through: each step feeds the next.
    for step in range(version, CURRENT_VERSION):
        _STEPS[step](data)
        data["version"] = step + 1
    return data


# ---------------------------------------------------------------------------------------------
# The steps. Each mutates ``data`` (a private deep copy) like the corresponding ``case``.


def _v1_panel(panel: Any) -> dict[str, Any]:
    """``convertPanelSchemaVersion``: a v1 panel (one query, title in config) → a v2 panel."""
    if not _js_truthy(panel) or (isinstance(panel, dict) and not panel):
        return {}  # the function returns undefined; spreading undefined adds nothing
    fields = _get(panel, "fields")
    if not isinstance(fields, dict):
        # ``data.fields.stream`` (no optional chaining there) throws.
        raise UpgradeError("panels[].fields", "a version-1 panel needs fields")
    config = _get(panel, "config")
    if not isinstance(config, dict):
        raise UpgradeError("panels[].config", "a version-1 panel needs config")
    query_fields = {
        "stream_type": _js_or(_get(fields, "stream_type"), "logs"),
        "stream": _js_or(_get(fields, "stream"), ""),
        "x": _js_or(_get(fields, "x"), []),
        "y": _js_or(_get(fields, "y"), []),
        "z": [],  # the heatmap's z axis is new in v2
        "filter": _js_or(_get(fields, "filter"), []),
    }
    return _obj(
        {
            "id": _get(panel, "id"),
            "type": _get(panel, "type"),
            "title": _get(config, "title"),
            "description": _get(config, "description"),
            "config": _obj(
                {
                    "show_legends": _get(config, "show_legends"),
                    "legends_position": _get(config, "legends_position"),
                    "unit": _get(config, "unit"),
                    "unit_custom": _get(config, "unit_custom"),
                }
            ),
            "queryType": _get(panel, "queryType"),
            "queries": [
                _obj(
                    {
                        "query": _get(panel, "query"),
                        "customQuery": _get(panel, "customQuery"),
                        "fields": query_fields,
                        "config": {"promql_legend": _js_or(_get(config, "promql_legend"), "")},
                    }
                )
            ],
        }
    )


def _step_1(data: dict[str, Any]) -> None:
    # Top-level ``layouts`` (one per panel id) move into the panels; panels take the v2 shape.
    layouts: dict[str, dict[str, Any]] = {}
    raw_layouts = _get(data, "layouts")
    if isinstance(raw_layouts, list):
        for n, layout in enumerate(raw_layouts):
            layout = _require_dict(layout, f"layouts[{n}]")
            layouts[_js_key(_get(layout, "panelId"))] = _obj(
                {k: _get(layout, k) for k in ("x", "y", "h", "w", "i")}
            )
    panels = _get(data, "panels")
    if isinstance(panels, list):
        converted = []
        for n, panel in enumerate(panels):
            if panel is None:
                raise UpgradeError(f"panels[{n}]", "a panel cannot be null")
            new = _v1_panel(panel)
            layout = layouts.get(_js_key(_get(panel, "id")), _UNDEFINED)
            if layout is not _UNDEFINED:
                new["layout"] = copy.deepcopy(layout)
            else:
                new.pop("layout", None)
            converted.append(new)
        data["panels"] = converted
    else:
        data.pop("panels", None)  # ``data?.panels?.map`` yields undefined
    data.pop("layouts", None)


def _js_key(value: Any) -> str:
    """How JavaScript spells a value used as an object key."""
    if value is _UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _panels(data: dict[str, Any], key: str = "panels") -> list[tuple[str, dict[str, Any]]]:
    """(path, panel) for the flat ``panels`` list of a v2 document."""
    panels = _require_list(_get(data, key), key)
    return [(f"{key}[{n}]", _require_dict(p, f"{key}[{n}]")) for n, p in enumerate(panels)]


def _tab_panels(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, panel) for every panel of every tab (v3 and later)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for t, tab in enumerate(_require_list(_get(data, "tabs"), "tabs")):
        tab = _require_dict(tab, f"tabs[{t}]")
        out.extend((f"tabs[{t}].{p}", panel) for p, panel in _panels(tab))
    return out


def _queries(path: str, panel: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    queries = _require_list(_get(panel, "queries"), f"{path}.queries")
    out = []
    for q, query in enumerate(queries):
        where = f"{path}.queries[{q}]"
        query = _require_dict(query, where)
        _require_dict(_get(query, "fields"), f"{where}.fields")
        out.append((where, query))
    return out


def _layout(path: str, panel: dict[str, Any]) -> dict[str, Any]:
    return _require_dict(_get(panel, "layout"), f"{path}.layout")


def _scale(layout: dict[str, Any], key: str, factor: int) -> None:
    layout[key] = _times(layout.get(key, _UNDEFINED), factor)


def _step_2(data: dict[str, Any]) -> None:
    # Grid 12 → 48 columns (x and w × 4); the panels move into one tab "Default" (id "default").
    panels = _panels(data)
    for path, panel in panels:
        layout = _layout(path, panel)
        _scale(layout, "w", 4)
        _scale(layout, "x", 4)
    # The UI stores the literal "Default" (marked raw, never translated).
    data["tabs"] = [{"panels": data["panels"], "name": "Default", "tabId": "default"}]
    del data["panels"]


def _step_3(data: dict[str, Any]) -> None:
    # Every query gets a ``breakdown`` list; in non-table panels the x fields after the first
    # move to it.
    for path, panel in _tab_panels(data):
        for where, query in _queries(path, panel):
            fields = query["fields"]
            if not isinstance(fields.get("breakdown"), list):
                fields["breakdown"] = []
            x = _require_list(_get(fields, "x"), f"{where}.fields.x")
            if len(x) > 1 and _get(panel, "type") != "table":
                fields["breakdown"].extend(x[1:])
                fields["x"] = [x[0]]


def _v4_condition(item: Any, where: str) -> dict[str, Any]:
    item = _require_dict(item, where)
    return _obj(
        {
            "type": _get(item, "type"),
            "values": _get(item, "values"),
            "column": _get(item, "column"),
            "operator": _get(item, "operator"),
            "value": _get(item, "value"),
            "logicalOperator": "AND",
            "filterType": "condition",
        }
    )


def _js_length_positive(value: Any) -> bool:
    """``value.length > 0``: only arrays and strings have a length; ``undefined > 0`` is false."""
    return isinstance(value, list | str) and len(value) > 0


def _step_4(data: dict[str, Any]) -> None:
    # A filter list becomes an AND group of conditions; an empty (or non-list) filter becomes the
    # empty group. An absent or falsy filter is left as it is.
    for path, panel in _tab_panels(data):
        for where, query in _queries(path, panel):
            fields = query["fields"]
            current = _get(fields, "filter")
            if not _js_truthy(current):
                continue
            if _js_length_positive(current):
                if isinstance(current, str):
                    raise UpgradeError(f"{where}.fields.filter", "a filter cannot be a string")
                conditions = [
                    _v4_condition(item, f"{where}.fields.filter[{n}]")
                    for n, item in enumerate(current)
                ]
            else:
                conditions = []
            fields["filter"] = {
                "filterType": "group",
                "logicalOperator": "AND",
                "conditions": conditions,
            }


def _step_5(data: dict[str, Any]) -> None:
    # Grid 48 → 192 columns (x, w × 4); row height 34 px → 17 px (h × 2).
    for path, panel in _tab_panels(data):
        layout = _layout(path, panel)
        _scale(layout, "w", 4)
        _scale(layout, "x", 4)
        _scale(layout, "h", 2)


def _step_6(data: dict[str, Any]) -> None:
    # The 5→6 step forgot y: doubled here so panels keep their place.
    for path, panel in _tab_panels(data):
        _scale(_layout(path, panel), "y", 2)


def _v7_axis_item(item: Any, custom_query: Any, where: str) -> None:
    """``migrateV7FieldsToV8``: typed axis items, ``aggregationFunction`` → ``functionName``, and
    (builder queries) the column as the first argument."""
    if not _js_truthy(item):
        return
    if not isinstance(item, dict):
        raise UpgradeError(where, "an axis field must be an object")
    is_histogram = _get(item, "aggregationFunction") == "histogram"
    args = _get(item, "args")
    if not _js_truthy(args) or not is_histogram:
        item["args"] = []
    else:
        # Before v8 args only held the histogram interval.
        if not isinstance(args, list):
            raise UpgradeError(f"{where}.args", "args must be a list")
        for n, arg in enumerate(args):
            arg = _require_dict(arg, f"{where}.args[{n}]")
            if not _js_truthy(_get(arg, "type")):
                arg["type"] = "histogramInterval"
    if _js_truthy(custom_query):
        item["type"] = "custom"
    else:
        item["type"] = "build"
        item["args"].insert(
            0,
            {"type": "field", "value": _obj({"field": _get(item, "column"), "streamAlias": None})},
        )
        item.pop("column", None)
    function = _get(item, "aggregationFunction")
    if _js_truthy(function):
        item["functionName"] = function
        del item["aggregationFunction"]
    else:
        item["functionName"] = None


def _v7_filter(node: Any, where: str) -> Any:
    """``migrateFilterConditions``: condition columns become ``{streamAlias: null, field}``."""
    if not _js_truthy(node) or not isinstance(node, dict):
        return node
    conditions = node.get("conditions")
    if isinstance(conditions, list):
        for n, condition in enumerate(conditions):
            at = f"{where}.conditions[{n}]"
            if condition is None:
                raise UpgradeError(at, "a filter condition cannot be null")
            if not isinstance(condition, dict):
                continue  # ``condition.filterType`` is undefined: returned as it is
            if condition.get("filterType") == "group":
                _v7_filter(condition, at)
            elif isinstance(condition.get("column"), str):
                condition["column"] = {"streamAlias": None, "field": condition["column"]}
    return node


def _step_7(data: dict[str, Any]) -> None:
    for path, panel in _tab_panels(data):
        for where, query in _queries(path, panel):
            fields = query["fields"]
            custom = _get(query, "customQuery")
            for slot in _V8_FIELD_SLOTS:
                value = _get(fields, slot)
                if isinstance(value, list):
                    for n, item in enumerate(value):
                        _v7_axis_item(item, custom, f"{where}.fields.{slot}[{n}]")
                elif value is not _UNDEFINED:
                    _v7_axis_item(value, custom, f"{where}.fields.{slot}")
            if "filter" in fields:
                fields["filter"] = _v7_filter(fields["filter"], f"{where}.fields.filter")


_STEPS = {1: _step_1, 2: _step_2, 3: _step_3, 4: _step_4, 5: _step_5, 6: _step_6, 7: _step_7}
