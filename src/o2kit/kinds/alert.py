"""The ``alert`` kind: what o2kit knows about it, as tables (see ``o2kit.kinds``)."""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Mapping
from typing import Any

from o2kit.kinds.spec import (
    ALERT_MARKER_TAG,
    DROP,
    LEGACY_MARKER,
    NO_MARKER,
    Default,
    KindSpec,
    Marker,
    Ref,
    Rewrite,
    _drop_if,
    _token_marker,
    _trim,
    _without,
)
from o2kit.model import Resource

# ---------------------------------------------------------------------------------------------
# alert — key (folder_name, name); body = GET /api/v2/{org}/alerts/{id} object

_ALERT_MODEL = "src/api/management/src/models/alerts/mod.rs"
_ALERT_CORE = "src/core/src/alerts/alert.rs prepare_alert"
_ALERT_TABLE = "src/infra/src/table/alerts/mod.rs"
_ALERT_META = "src/config/src/meta/alerts/mod.rs"
ALERT_SERVER_OWNED = (
    "id",
    "org_id",
    "owner",
    "last_edited_by",
    "updated_at",
    "last_triggered_at",
    "last_satisfied_at",
    "scheduler_job_present",
)


def _normalize_tags(value: Any) -> Any:
    # Trimmed, empties dropped, lower-cased, de-duplicated (src/config/src/meta/alerts/tags.rs
    # normalize_tags); sorted here because their order carries no meaning.
    if not isinstance(value, list):
        return value
    tags = {t.strip().lower() for t in value if isinstance(t, str) and t.strip()}
    return sorted(tags)


def _context_attributes(value: Any) -> Any:
    # Keys trimmed, empty keys dropped (prepare_alert); {} reads back like absent.
    if not isinstance(value, dict):
        return value
    out = {k.strip(): v for k, v in value.items() if k.strip()}
    return out or DROP


def _v1_conditions(node: Any) -> Any:
    # A bare array (LegacyConditions) is stored and returned as {"and": [...]}, at any depth
    # (src/config/src/meta/alerts/mod.rs ConditionList, serialize_legacy_conditions); a leaf's
    # ``ignore_case`` defaults to false (Condition).
    if isinstance(node, list):
        return {"and": [_v1_conditions(n) for n in node]}
    if not isinstance(node, dict):
        return node
    for op in ("and", "or"):
        if op in node and isinstance(node[op], list):
            return {op: [_v1_conditions(n) for n in node[op]]}
    if "not" in node:
        return {"not": _v1_conditions(node["not"])}
    leaf = {k: node[k] for k in ("column", "operator", "value", "ignore_case") if k in node}
    leaf.setdefault("ignore_case", False)
    return leaf


_V2_CONDITION_KEYS = ("filterType", "column", "operator", "value", "ignore_case", "logicalOperator")
_V2_GROUP_KEYS = ("filterType", "logicalOperator", "conditions")


def _v2_item(node: Any) -> Any:
    # Unknown keys (e.g. the UI's "type": "condition") are not stored (ConditionItem /
    # ConditionGroup in src/config/src/meta/alerts/mod.rs).
    if not isinstance(node, dict):
        return node
    if node.get("filterType") == "group":
        out = {k: node[k] for k in _V2_GROUP_KEYS if k in node}
        if isinstance(out.get("conditions"), list):
            out["conditions"] = [_v2_item(n) for n in out["conditions"]]
        return out
    return {k: node[k] for k in _V2_CONDITION_KEYS if k in node}


def _alert_conditions(value: Any) -> Any:
    if isinstance(value, dict) and value.get("version") == 2:
        return {"version": 2, "conditions": _v2_item(value.get("conditions"))}
    return _v1_conditions(value)


def _o2_b64decode(text: str) -> str:
    # src/config/src/utils/base64.rs decode_url: '-' '_' '.' stand for '+' '/' '='.
    raw = text.replace("-", "+").replace("_", "/").replace(".", "=")
    return base64.b64decode(raw, validate=True).decode("utf-8")


def _o2_b64encode(text: str) -> str:
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return encoded.replace("+", "-").replace("/", "_").replace("=", ".")


def _vrl_function(value: Any) -> Any:
    # prepare_alert: decode, trim; empty or "." → not stored; otherwise a program not ending in
    # "." gets "\n." appended. Compared here in one canonical encoding.
    if not isinstance(value, str):
        return value
    try:
        program = _o2_b64decode(value).strip()
    except (binascii.Error, ValueError):
        return value  # the server would refuse it (400); show it as written
    if program in ("", "."):
        return DROP
    if not program.endswith("."):
        program += "\n."
    return _o2_b64encode(program)


def _trigger_condition(tc: Any) -> Any:
    if not isinstance(tc, dict):
        return tc
    if tc.get("frequency_type", "minutes") == "cron":
        cron = str(tc.get("cron", "")).strip()
        # A leading "*" seconds field is replaced by the current second (update_cron_expression);
        # o2kit sends "0" instead (see payload), so both sides read "0".
        if cron.startswith("*"):
            cron = "0 " + cron[1:].strip()
        tc["cron"] = cron
    else:
        tc["cron"] = ""  # non-cron alerts lose any cron
        if tc.get("frequency", 0) == 0:
            tc["frequency"] = 1  # 0 → max(60 s, ZO_ALERT_SCHEDULE_INTERVAL=10 s), read back /60
    return tc


def _deduplication(value: Any) -> Any:
    # Only an enabled configuration is read back (src/infra/src/table/alerts/mod.rs: dedup_enabled).
    if not isinstance(value, dict) or not value.get("enabled"):
        return DROP
    return value


def _alert_marker(body: dict[str, Any]) -> Marker:
    tags = body.get("tags") or []
    if not isinstance(tags, list):
        return NO_MARKER
    for t in tags:
        found = _token_marker(t)
        if found is not None:
            return found
    if any(isinstance(t, str) and t.strip().lower() == ALERT_MARKER_TAG for t in tags):
        return LEGACY_MARKER
    return NO_MARKER


def _alert_is_managed(body: dict[str, Any]) -> bool:
    return _alert_marker(body).state != "none"


def _is_marker_tag(tag: Any) -> bool:
    return isinstance(tag, str) and (
        tag.strip().lower() == ALERT_MARKER_TAG or _token_marker(tag) is not None
    )


def _alert_stamp(body: dict[str, Any], token: str) -> None:
    body["tags"] = [*(body.get("tags") or []), token]


def is_managed_alert_item(item: dict[str, Any]) -> bool:
    """True when an alert *list item* (``GET /api/v2/{org}/alerts``) carries an o2kit marker
    (of any project)."""
    return _alert_is_managed(item)


def _alert_strip_marker(body: dict[str, Any]) -> None:
    tags = body.get("tags")
    if isinstance(tags, list):
        body["tags"] = [t for t in tags if not _is_marker_tag(t)]


def _alert_payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    out = _without(desired.body, ALERT_SERVER_OWNED)
    out.setdefault("name", desired.key[-1])
    tags = [t for t in (out.get("tags") or []) if not _is_marker_tag(t)]
    out["tags"] = [*tags, ALERT_MARKER_TAG]
    tc = out.get("trigger_condition")
    if isinstance(tc, dict) and tc.get("frequency_type") == "cron":
        cron = str(tc.get("cron", "")).strip()
        if cron.startswith("*"):
            # Otherwise the server stores the second of the request: a perpetual diff.
            tc["cron"] = "0 " + cron[1:].strip()
    if live is not None and live.server_id:
        out["id"] = live.server_id  # the path id wins; carried so the body is self-describing
    return out


def _alert_references(key: tuple[str, ...], body: dict[str, Any]) -> list[Ref]:
    refs: list[Ref] = [("folder", ("alerts", key[0]))]
    for name in body.get("destinations") or body.get("alert_destinations") or []:
        refs.append(("destination", (str(name),)))
    if body.get("template"):
        refs.append(("template", (str(body["template"]),)))
    # An SLO alert points at its SLO by server id (src/config/src/meta/slo/condition.rs
    # SloCondition.slo_id); deleting the SLO deletes the alert (src/core/src/slo/service.rs
    # delete), so the SLO is in use while the alert stays. "@id" marks a reference by id.
    query = body.get("query_condition")
    query = query if isinstance(query, dict) else {}
    cond = query.get("slo_condition")
    if isinstance(cond, dict) and query.get("type") == "slo" and cond.get("slo_id"):
        refs.append(("slo", ("@id", str(cond["slo_id"]))))
    return refs


def _alert_rebind(body: dict[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    # The SLO an SLO alert points at (see _alert_references), by its live id.
    query = body.get("query_condition")
    cond = query.get("slo_condition") if isinstance(query, dict) else None
    if not isinstance(cond, dict) or str(cond.get("slo_id")) not in ids:
        return body
    out = copy.deepcopy(body)
    out["query_condition"]["slo_condition"]["slo_id"] = ids[str(cond["slo_id"])]
    return out


def _rename_alias(body: dict[str, Any]) -> dict[str, Any]:
    if "alert_destinations" in body:
        value = body.pop("alert_destinations")
        body.setdefault("destinations", value)
    return body


_QC = "query_condition"
_TC = "trigger_condition"
ALERT = KindSpec(
    kind="alert",
    order=50,
    key_fields=("folder_name", "name"),
    server_owned=ALERT_SERVER_OWNED,
    defaults=(
        # Every key of the v2 Alert has a serde default (_ALERT_MODEL Alert).
        Default("stream_type", "logs", _ALERT_MODEL + " StreamType"),
        Default("stream_name", "", _ALERT_MODEL),
        Default("is_real_time", False, _ALERT_MODEL),
        Default(_QC, {}, _ALERT_MODEL),
        Default(f"{_QC}.type", "custom", _ALERT_MODEL + " QueryType"),
        Default(f"{_QC}.promql_multi_alert", False, _ALERT_MODEL + " (omitted when false)"),
        Default(f"{_QC}.aggregation.having.ignore_case", False, _ALERT_MODEL + " Condition"),
        Default(f"{_QC}.aggregation.multi_alert", False, _ALERT_MODEL + " Aggregation"),
        Default(f"{_QC}.promql_condition.ignore_case", False, _ALERT_MODEL + " Condition"),
        Default(_TC, {}, _ALERT_MODEL),
        Default(f"{_TC}.period", 0, _ALERT_MODEL + " TriggerCondition"),
        Default(f"{_TC}.operator", "=", _ALERT_MODEL + " Operator"),
        Default(f"{_TC}.threshold", 0, _ALERT_MODEL),
        Default(f"{_TC}.frequency", 0, _ALERT_MODEL),
        Default(
            f"{_TC}.frequency_type",
            "minutes",
            _ALERT_MODEL + " (always returned; None means minutes)",
        ),
        Default(f"{_TC}.cron", "", _ALERT_MODEL),
        Default(f"{_TC}.silence", 0, _ALERT_MODEL),
        Default(f"{_TC}.align_time", True, "src/config/src/meta/alerts/mod.rs default_align_time"),
        Default("destinations", [], _ALERT_MODEL),
        Default("row_template", "", _ALERT_MODEL),
        Default("row_template_type", "String", "src/config/src/meta/alerts/alert.rs"),
        Default("description", "", _ALERT_MODEL),
        Default("enabled", False, _ALERT_MODEL),
        Default("tz_offset", 0, _ALERT_MODEL),
        Default("creates_incident", False, _ALERT_MODEL),
        Default("workflows", [], _ALERT_MODEL),
        Default("tags", [], _ALERT_MODEL + " (omitted when empty)"),
        Default(
            "deduplication.fingerprint_fields", [], "src/config/src/meta/alerts/deduplication.rs"
        ),
    ),
    rewrites=(
        Rewrite("", _rename_alias, "alert_destinations is an alias of destinations", _ALERT_MODEL),
        Rewrite("name", _trim, "name trimmed", _ALERT_CORE + " prepared_alert_name"),
        Rewrite("row_template", _trim, "row_template trimmed", _ALERT_CORE),
        Rewrite("template", _drop_if(""), "empty template stored as NULL", _ALERT_TABLE),
        Rewrite(
            "tags",
            _normalize_tags,
            "tags trimmed, lower-cased, de-duplicated",
            "src/config/src/meta/alerts/tags.rs",
        ),
        Rewrite(
            "context_attributes",
            _context_attributes,
            "keys trimmed, empty keys dropped",
            _ALERT_CORE,
        ),
        Rewrite(
            "deduplication", _deduplication, "disabled deduplication is not read back", _ALERT_TABLE
        ),
        Rewrite(
            f"{_QC}.conditions",
            _alert_conditions,
            'condition arrays become {"and": [...]}; unknown v2 keys dropped',
            _ALERT_META,
        ),
        Rewrite(f"{_QC}.sql", _drop_if(""), "empty SQL stored as NULL", _ALERT_TABLE),
        Rewrite(f"{_QC}.promql", _drop_if(""), "empty PromQL stored as NULL", _ALERT_TABLE),
        Rewrite(
            f"{_QC}.vrl_function",
            _vrl_function,
            "VRL decoded, trimmed, ends with \\n.",
            _ALERT_CORE,
        ),
        Rewrite(f"{_TC}.timezone", _drop_if(""), "empty timezone stored as NULL", _ALERT_TABLE),
        Rewrite(
            _TC,
            _trigger_condition,
            'non-cron: cron "" and frequency 0 → 1; cron: leading * seconds',
            _ALERT_CORE,
            after_defaults=True,
        ),
    ),
    order_insensitive=("destinations",),
    secret_paths=(),
    marker=f"tag {ALERT_MARKER_TAG!r}",
    _is_managed=_alert_is_managed,
    _strip_marker=_alert_strip_marker,
    _payload=_alert_payload,
    _marker_of=_alert_marker,
    _stamp=_alert_stamp,
    _references=_alert_references,
    _rebind=_alert_rebind,
)


