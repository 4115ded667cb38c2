"""The ``dashboard`` kind: what o2kit knows about it, as tables (see ``o2kit.kinds``)."""

from __future__ import annotations

from typing import Any

from o2kit.kinds import dashboard_upgrade as upgrade
from o2kit.kinds.spec import (
    MARKER_TEXT,
    Default,
    KindSpec,
    Rewrite,
    _description_marker,
    _stamp_description,
    _strip_description_marker,
    _transform_at,
    _trim,
    _with_description_marker,
)
from o2kit.model import Resource

# ---------------------------------------------------------------------------------------------
# dashboard — key (folder_name, title); body = the inner v8 object

_V8 = "src/config/src/meta/dashboards/v8/mod.rs"
DASHBOARD_SERVER_OWNED = ("dashboardId", "owner", "created", "role", "version", "updatedAt", "hash")


def _dashboard_strip_marker(body: dict[str, Any]) -> None:
    _transform_at(body, "description", _strip_description_marker)


def _dashboard_payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    # Every field this sets or drops is a top-level one (the marker too: ``_stamp_description``),
    # so a new top level is enough; the members stay the desired body's, which apply only
    # encodes. Deep copies of 1,000 dashboards of ~250 KB took ~0.3 s of apply's CPU.
    out = {k: v for k, v in desired.body.items() if k not in DASHBOARD_SERVER_OWNED}
    out["version"] = 8
    out["description"] = _with_description_marker(out.get("description", ""))
    if live is not None:
        # PUT is a full replace: without these the server resets owner to the caller and
        # ``created`` to now (src/api/management/src/request/dashboards/mod.rs,
        # src/config/src/meta/dashboards/mod.rs datetime_now); dashboardId comes from the path.
        for key in ("dashboardId", "owner", "created"):
            if live.body.get(key):
                out[key] = live.body[key]
        if "dashboardId" not in out and live.server_id:
            out["dashboardId"] = live.server_id
    return out


def _dashboard_prepare(body: dict[str, Any]) -> dict[str, Any]:
    # OpenObserve stores a dashboard at the version it was sent and never upgrades it (reference
    # §3.5); the web UI upgrades v1..v7 to v8 on every load (web/src/utils/dashboard/
    # convertDashboardSchemaVersion.ts) and o2kit writes v8. Compare an older live body as the v8
    # the UI would make of it, so a dashboard exported (and upgraded) by ``o2kit export`` is in
    # sync with the unchanged original. Only an explicit integer version 1..7 is upgraded: a
    # missing version means v8 to the server (remote.py fills in the envelope's version for live
    # v1 bodies, which have no version key).
    version = body.get("version")
    if type(version) is not int or not 1 <= version < upgrade.CURRENT_VERSION:
        return body
    try:
        return upgrade.upgrade_dashboard(body)
    except upgrade.UpgradeError:
        return body  # the UI could not open it either; compare it as it is


def _override_config_item(item: Any) -> Any:
    # The unique_value_color variant defaults autoColor to false (v8 Config::UniqueValueColor).
    if isinstance(item, dict) and item.get("type") == "unique_value_color":
        item.setdefault("autoColor", False)
    return item


_PANELS = "tabs[].panels[]"
_QUERIES = f"{_PANELS}.queries[]"
_CONFIG = f"{_PANELS}.config"
_VARS = "variables.list[]"

DASHBOARD = KindSpec(
    kind="dashboard",
    order=40,
    key_fields=("folder_name", "title"),
    server_owned=DASHBOARD_SERVER_OWNED,
    defaults=(
        Default("description", "", _V8 + " Dashboard (serde default)"),
        Default("tabs", [], _V8 + " Dashboard.tabs"),
        Default("tabs[].panels", [], _V8 + " Tab.panels"),
        Default(f"{_PANELS}.queryType", "", _V8 + " Panel.query_type"),
        Default(f"{_PANELS}.layout.x", 0, _V8 + " Layout (serde default)"),
        Default(f"{_PANELS}.layout.y", 0, _V8 + " Layout"),
        Default(f"{_PANELS}.layout.w", 0, _V8 + " Layout"),
        Default(f"{_PANELS}.layout.h", 0, _V8 + " Layout"),
        Default(f"{_PANELS}.layout.i", 0, _V8 + " Layout"),
        Default(f"{_QUERIES}.fields.z", [], _V8 + " PanelFields.z"),
        Default(f"{_QUERIES}.fields.promql_labels", [], _V8 + " PanelFields (omitted when empty)"),
        Default(f"{_QUERIES}.fields.promql_operations", [], _V8 + " PanelFields"),
        Default(f"{_CONFIG}.sparkline.enabled", False, _V8 + " Sparkline"),
        Default(f"{_CONFIG}.trellis.num_of_columns", 0, _V8 + " Trellis"),
        Default(f"{_CONFIG}.map_view.zoom", 0, _V8 + " MapView"),
        Default(f"{_CONFIG}.map_view.lat", 0, _V8 + " MapView"),
        Default(f"{_CONFIG}.map_view.lng", 0, _V8 + " MapView"),
        Default(f"{_CONFIG}.map_symbol_style.size", "", _V8 + " MapSymbolStyle"),
        Default(f"{_CONFIG}.map_symbol_style.size_fixed", 0, _V8 + " MapSymbolStyle"),
        Default(f"{_CONFIG}.map_symbol_style.size_by_value.min", 0, _V8 + " SizeByValue"),
        Default(f"{_CONFIG}.map_symbol_style.size_by_value.max", 0, _V8 + " SizeByValue"),
        Default(f"{_CONFIG}.override_config[].field.matchBy", "", _V8 + " Field"),
        Default(f"{_CONFIG}.override_config[].field.value", "", _V8 + " Field"),
        Default(
            f"{_CONFIG}.override_config[].config[].rules[].operator", "", _V8 + " ConditionalRule"
        ),
        Default(
            f"{_CONFIG}.override_config[].config[].rules[].threshold", 0, _V8 + " ConditionalRule"
        ),
        Default(f"{_CONFIG}.panel_time_range.type", "", _V8 + " DateTimeOptions"),
        Default("defaultDatetimeDuration.type", "", _V8 + " DateTimeOptions"),
        Default("variables.list", [], _V8 + " Variables.list"),
        Default(f"{_VARS}.type", "", _V8 + " VariableList (serde default)"),
        Default(f"{_VARS}.name", "", _V8 + " VariableList"),
        Default(f"{_VARS}.label", "", _V8 + " VariableList"),
        Default(f"{_VARS}.query_data.stream_type", "logs", _V8 + " QueryData / StreamType"),
        Default(f"{_VARS}.query_data.stream", "", _V8 + " QueryData"),
        Default(f"{_VARS}.query_data.field", "", _V8 + " QueryData"),
        Default(f"{_VARS}.query_data.filter[].value", "", _V8 + " Filters"),
        Default(f"{_VARS}.options[].label", "", _V8 + " CustomFieldsOption"),
        Default(f"{_VARS}.options[].value", "", _V8 + " CustomFieldsOption"),
    ),
    rewrites=(
        Rewrite("title", _trim, "title trimmed", "src/core/src/dashboards/mod.rs put"),
        Rewrite(
            f"{_CONFIG}.override_config[].config[]",
            _override_config_item,
            "unique_value_color autoColor defaults to false",
            _V8 + " Config",
        ),
    ),
    order_insensitive=(),
    secret_paths=(),
    marker=f"description line {MARKER_TEXT!r}",
    _is_managed=lambda b: MARKER_TEXT in str(b.get("description") or ""),
    _strip_marker=_dashboard_strip_marker,
    _payload=_dashboard_payload,
    _marker_of=_description_marker,
    _stamp=_stamp_description,
    _references=lambda key, body: [("folder", ("dashboards", key[0]))],
    _prepare=_dashboard_prepare,
    bulky=("tabs",),
)


