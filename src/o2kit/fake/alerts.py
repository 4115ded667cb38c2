"""Alerts, v2 API: ``/api/v2/{org}/alerts...``.

Sources (all under ``/work/oo/src``):

* request shape: ``api/management/src/models/alerts/mod.rs`` (``Alert``, ``QueryCondition``,
  ``TriggerCondition``...), ``models/alerts/requests.rs`` (``CreateAlertRequestBody`` — a
  ``#[serde(flatten)]`` body, see :mod:`o2kit.fake.serde` on numbers), ``config/src/meta/alerts/
  mod.rs`` (``AlertConditionParams``, ``ConditionList``, ``ConditionGroup``),
  ``config/src/meta/alerts/deduplication.rs``, ``config/src/meta/alerts/priority.rs``;
* handlers and their messages: ``api/management/src/request/alerts/mod.rs``;
* validation and rewrites: ``core/src/alerts/alert.rs`` (``prepare_alert``, ``create``,
  ``update``, ``update_cron_expression``), ``config/src/meta/alerts/tags.rs``,
  ``config/src/meta/alerts/level.rs``, ``config/src/meta/alerts/aggregation_level.rs``,
  ``config/src/meta/slo/condition.rs``; error → status: ``core/src/http.rs``;
* what a read gives back: ``infra/src/table/alerts/mod.rs`` (``update_mutable_fields`` and
  ``TryFrom<alerts::Model>``: empty strings stored as NULL, ``frequency`` stored in seconds,
  deduplication only kept when enabled, ``updated_at`` lost) and the response models in
  ``models/alerts/responses.rs``.

SLO alerts are checked against the SLOs of :mod:`o2kit.fake.slos`. Not modelled: composite and
anomaly-detection alerts, per-group
("multi_alert") admissibility rules, bulk/clone/trigger/export endpoints, the alert scheduler
(``last_triggered_at``/``last_satisfied_at`` are always null).
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import re
from typing import Any

from .http import (
    Request,
    Response,
    error,
    json_response,
    message,
    ok,
    parse_bool,
    parse_u64,
    query_error,
    read_json,
    shape_error,
)
from .ids import is_ksuid
from .serde import (
    Bool,
    Custom,
    Enum,
    Field,
    Int,
    Kind,
    Lazy,
    Map,
    MapNumber,
    Mapped,
    Opt,
    SerdeError,
    Str,
    Struct,
    Tagged,
    Untagged,
    Value,
    Vec,
    invalid_type,
    nullable,
    opt,
    plain,
)
from .state import DEFAULT_FOLDER, DEFAULT_ORG, Alert, Store

S, B, I64 = Str(), Bool(), Int("i64")

# --- request model ----------------------------------------------------------------------------

# models/alerts/mod.rs Operator: the DTO writes Contains/NotContains by variant name.
DTO_OPERATOR = Enum("Operator", ["=", "!=", ">", ">=", "<", "<=", "Contains", "NotContains"],
                    default="=")
# config/src/meta/alerts/mod.rs Operator (used inside `conditions`): snake_case, old names alias.
CFG_OPERATOR = Enum("Operator", ["=", "!=", ">", ">=", "<", "<=", "contains", "not_contains"],
                    aliases={"Contains": "contains", "NotContains": "not_contains"})
OPERATOR_DISPLAY = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<=",
                    "Contains": "contains", "NotContains": "not contains",
                    "contains": "contains", "not_contains": "not contains"}

DTO_CONDITION = Struct("Condition", [Field("column", S), Field("operator", DTO_OPERATOR),
                                     Field("value", Value()),
                                     Field("ignore_case", B, default=False)])
CFG_CONDITION = Struct("Condition", [Field("column", S), Field("operator", CFG_OPERATOR),
                                     Field("value", Value()),
                                     Field("ignore_case", B, default=False)])

_CONDITION_LIST: Kind
_CONDITION_LIST = Untagged("ConditionList", [
    Struct("OrNode", [Field("or", Vec(Lazy(lambda: _CONDITION_LIST)))]),
    Struct("AndNode", [Field("and", Vec(Lazy(lambda: _CONDITION_LIST)))]),
    Struct("NotNode", [Field("not", Lazy(lambda: _CONDITION_LIST))]),
    # LegacyConditions(Vec<Condition>) is written back as {"and": [...]}
    Mapped(Vec(CFG_CONDITION), lambda items: {"and": items}),
    CFG_CONDITION,
])
LOGICAL_OPERATOR = Enum("LogicalOperator", ["AND", "OR"])
_CONDITION_ITEM: Kind
_CONDITION_ITEM = Tagged("ConditionItem", "filterType", {
    "condition": Struct("ConditionItemCondition", [
        Field("column", S), Field("operator", CFG_OPERATOR), Field("value", Value()),
        opt("ignore_case", B), Field("logicalOperator", LOGICAL_OPERATOR)]),
    "group": Struct("Group", [Field("logicalOperator", LOGICAL_OPERATOR),
                              Field("conditions", Vec(Lazy(lambda: _CONDITION_ITEM)))]),
})
CONDITION_GROUP = Struct("ConditionGroup", [Field("filterType", S),
                                            Field("logicalOperator", LOGICAL_OPERATOR),
                                            Field("conditions", Vec(_CONDITION_ITEM))])


def _read_condition_params(value: Any) -> Any:
    """``AlertConditionParams``'s hand-written Deserialize: ``version`` 2 is a wrapped group,
    anything else (no version) is the v1 tree; inner errors lose their path."""
    value = plain(value)
    raw_version = value.get("version") if isinstance(value, dict) else None
    version = raw_version if isinstance(raw_version, int) and not isinstance(raw_version, bool) \
        and raw_version >= 0 else 1
    if version == 1:
        try:
            return _CONDITION_LIST.de(value)
        except SerdeError as err:
            raise SerdeError(f"Failed to parse V1 conditions: {err.message}") from None
    if version == 2:
        if "conditions" not in value:
            raise SerdeError("conditions field missing for v2")
        try:
            group = CONDITION_GROUP.de(value["conditions"])
        except SerdeError as err:
            raise SerdeError(f"Failed to parse V2 conditions: {err.message}") from None
        return {"version": 2, "conditions": group}
    raise SerdeError(f"Unsupported version: {version}")


CONDITION_PARAMS = Custom("AlertConditionParams", _read_condition_params)


def _read_lenient_f64(value: Any) -> Any:
    # models/alerts/mod.rs de_opt_f64: reads a serde_json::Number, so it survives the flatten.
    if value is None:
        return None
    if isinstance(value, MapNumber):
        return value.value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise invalid_type(value, "a JSON number")


LENIENT_F64 = Custom("f64", _read_lenient_f64, default=None)

AGG_FUNCTION = Enum("AggFunction", ["avg", "min", "max", "sum", "count", "median", "p50", "p75",
                                    "p90", "p95", "p99"])
AGGREGATION = Struct("Aggregation", [
    nullable("group_by", Vec(S)), Field("function", AGG_FUNCTION), Field("having", DTO_CONDITION),
    Field("warning_value", LENIENT_F64, default=None, omit="none"),
    Field("multi_alert", B, default=False, omit="false"),
])
QUERY_TYPE = Enum("QueryType", ["custom", "sql", "promql", "slo"], default="custom")
SEARCH_EVENT_TYPE = Enum("SearchEventType", [
    "ui", "dashboards", "reports", "alerts", "values", "other", "rum", "derivedstream",
    "searchjob", "download", "insights"])
QUERY_CONDITION = Struct("QueryCondition", [
    Field("type", QUERY_TYPE, default="custom"), nullable("conditions", CONDITION_PARAMS),
    nullable("sql", S), nullable("promql", S), nullable("promql_condition", DTO_CONDITION),
    Field("promql_warning_value", LENIENT_F64, default=None, omit="none"),
    Field("promql_multi_alert", B, default=False, omit="false"),
    nullable("aggregation", AGGREGATION), nullable("vrl_function", S),
    nullable("search_event_type", SEARCH_EVENT_TYPE),
    nullable("multi_time_range", Vec(Struct("CompareHistoricData", [Field("offSet", S)]))),
    opt("slo_condition", Value()),
])
FREQUENCY_TYPE = Enum("FrequencyType", ["cron", "minutes"], default="minutes")
TRIGGER_CONDITION = Struct("TriggerCondition", [
    Field("period", I64, default=0), Field("operator", DTO_OPERATOR, default="="),
    Field("threshold", I64, default=0), opt("warning_threshold", I64),
    opt("notify_on_warning", B), Field("frequency", I64, default=0),
    Field("cron", S, default=""), opt("frequency_type", FREQUENCY_TYPE),
    Field("silence", I64, default=0), opt("timezone", S), nullable("tolerance_in_secs", I64),
    Field("align_time", B, default=True),  # default_align_time()
])


def _trigger_default() -> dict[str, Any]:
    # An absent trigger_condition is TriggerCondition::default() (derived): align_time false.
    return {**TRIGGER_CONDITION.de({}), "align_time": False}


def _read_time_window(value: Any) -> Any:
    # deduplication.rs deserialize_optional_i32: null, a number (floats rounded) or a string.
    value = plain(value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SerdeError("expected null, number, or string")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(round(value))
    if isinstance(value, str):
        if re.fullmatch(r"[+-]?\d+", value):
            return int(value)
        raise SerdeError(f"invalid value for time_window_minutes: '{value}'")
    raise SerdeError("expected null, number, or string")


GROUPING = Struct("GroupingConfig", [
    Field("enabled", B, default=False), Field("max_group_size", Int("usize"), default=100),
    Field("send_strategy", Enum("SendStrategy", ["first_with_count", "summary", "all"]),
          default="first_with_count"),
    Field("group_wait_seconds", I64, default=30),
])
DEDUPLICATION = Struct("DeduplicationConfig", [
    Field("enabled", B, default=False), Field("fingerprint_fields", Vec(S), default=[],
                                              omit="empty"),
    Field("time_window_minutes", Custom("i32", _read_time_window, default=None), default=None,
          omit="none"),
    opt("grouping", GROUPING),
], default_all=True)


def _read_priority(value: Any) -> Any:
    # priority.rs: #[serde(try_from = "u8")], 1..=5
    number = Int("u8").de(value)
    if not 1 <= number <= 5:
        raise SerdeError(f"invalid alert priority `{number}`: expected P1 through P5")
    return number


def _read_ksuid(value: Any) -> Any:
    if not isinstance(value, str):
        raise invalid_type(value, "a KSUID string")
    if not is_ksuid(value):
        raise SerdeError(f"invalid KSUID `{value}`")
    return value


ALERT_STREAM_TYPE = Enum("StreamType", ["logs", "metrics", "traces", "enrichment_tables",
                                        "file_list", "metadata", "index"], default="logs")
ALERT_TYPE_FILTER = Enum("AlertTypeFilter", ["all", "scheduled", "realtime", "anomaly_detection",
                                             "slo", "composite"], default="all")

_ALERT_FIELDS = [
    Field("id", Opt(Custom("Ksuid", _read_ksuid)), default=None),
    Field("name", S, default=""), Field("org_id", S, default=""),
    Field("stream_type", ALERT_STREAM_TYPE, default="logs"), Field("stream_name", S, default=""),
    Field("is_real_time", B, default=False),
    Field("query_condition", QUERY_CONDITION, default=lambda: QUERY_CONDITION.de({})),
    Field("trigger_condition", TRIGGER_CONDITION, default=_trigger_default),
    Field("destinations", Vec(S), default=[], aliases=["alert_destinations"]),
    opt("template", S), opt("context_attributes", Map(S)),
    Field("row_template", S, default=""),
    Field("row_template_type", Enum("RowTemplateType", ["String", "Json"]), default="String"),
    Field("description", S, default=""), Field("enabled", B, default=False),
    Field("tz_offset", Int("i32"), default=0),
    nullable("last_triggered_at", I64), nullable("last_satisfied_at", I64),
    nullable("owner", S), opt("updated_at", I64), nullable("last_edited_by", S),
    opt("deduplication", DEDUPLICATION), Field("creates_incident", B, default=False),
    Field("workflows", Vec(S), default=[]),
    opt("priority", Custom("AlertPriority", _read_priority)),
    Field("tags", Vec(S), default=[], omit="empty"), opt("scheduler_job_present", B),
]
# CreateAlertRequestBody / UpdateAlertRequestBody: a few keys of their own + the flattened Alert.
ALERT_BODY = Struct("AlertRequestBody", [
    nullable("folder_id", S), nullable("alert_type", ALERT_TYPE_FILTER),
    nullable("anomaly_config", Value()), nullable("composite_condition", Value()),
    *_ALERT_FIELDS,
])

# --- validation -------------------------------------------------------------------------------

_OFGA_UNSUPPORTED = re.compile(r"[:#?\s'\"%&]+")  # config/src/utils/str.rs
_SELECT_STAR = re.compile(r"select[ ]+\*", re.IGNORECASE)  # search/src/sql/mod.rs RE_ONLY_SELECT
NAME_CHARS = "Alert name cannot contain ':', '#', '?', '&', '%', quotes and space characters"


class AlertNotFound(Exception):
    """``AlertError::AlertNotFound``: each handler words it its own way."""


def prepare(store: Store, org: str, meta: dict[str, Any], *, create: bool,
            overwrite: bool) -> None:
    """``prepare_alert``: validate in the server's order and apply its rewrites in place."""
    meta["name"] = meta["name"].strip()
    if _OFGA_UNSUPPORTED.search(meta["name"]):
        raise error(400, NAME_CHARS)
    meta["org_id"] = org
    meta["row_template"] = meta["row_template"].strip()

    alert_id = meta.get("id")
    if alert_id is not None:
        existing = store.alerts.get(alert_id)
        if existing is not None and existing.org == org:
            if create and not overwrite:
                raise error(409, "Alert already exists")
            meta["owner"] = existing.meta.get("owner")  # an update never changes the owner
        elif not create:
            raise AlertNotFound()

    trigger = meta["trigger_condition"]
    if trigger["frequency_type"] == "cron":
        trigger["cron"] = update_cron_expression(trigger["cron"], int(store.clock()) % 60)
        problem = cron_problem(trigger["cron"])
        if problem:
            raise error(400, f"Invalid expression: {problem}")
    else:
        trigger["cron"] = ""
        if trigger["frequency"] == 0:
            trigger["frequency"] = 60  # max(60, ZO_ALERT_SCHEDULE_INTERVAL) seconds

    query = meta["query_condition"]
    is_slo = query["type"] == "slo"
    if not meta["name"] or (not is_slo and not meta["stream_name"]):
        raise error(400, "Alert name is required")
    if "/" in meta["name"]:
        raise error(400, "Alert name cannot contain '/'")

    if query.get("vrl_function") is not None:
        query["vrl_function"] = _normalise_vrl(query["vrl_function"])

    template = meta.get("template")
    if template and (org, template) not in store.templates \
            and (DEFAULT_ORG, template) not in store.templates:
        raise error(404, f"Alert template {template} not found")

    if not meta["destinations"]:
        raise error(400, "Alert destination or workflows is required")
    for name in meta["destinations"]:
        destination = store.destinations.get((org, name))
        if destination is None:
            raise error(404, f"Alert destination {name} not found")
        if destination.module != "alert":
            raise error(403, f"Not support save destination {destination.module} type for "
                             "alert so far")

    if meta.get("context_attributes") is not None:
        meta["context_attributes"] = {k.strip(): v for k, v in meta["context_attributes"].items()
                                      if k.strip()}

    meta["tags"] = normalise_tags(meta["tags"])

    _check_slo_wiring(store, org, meta)

    if not is_slo:
        stream = store.stream(org, meta["stream_type"], meta["stream_name"])
        if stream is None or not stream.fields:  # a stream without schema fields is "not found"
            raise error(404, f"Stream {meta['stream_name']} not found")
        _check_query_range(stream.settings.get("max_query_range", 0), meta, meta["stream_name"])

    if meta["is_real_time"] and query["type"] != "custom":
        raise error(400, "Realtime alert should use Custom query type")
    _check_thresholds(meta)
    _check_query(store, org, meta)


def _check_query_range(max_hours: int, meta: dict[str, Any], stream_name: str) -> None:
    period = meta["trigger_condition"]["period"]
    if max_hours > 0 and not meta["is_real_time"] and period > max_hours * 60:
        raise error(400, f"Alert period is greater than max query range of {max_hours} hours "
                         f'for stream "{stream_name}"')


def _check_slo_wiring(store: Store, org: str, meta: dict[str, Any]) -> None:
    # config/src/meta/slo/condition.rs validate_slo_alert (the SLO side: fake/slos.py).
    query = meta["query_condition"]
    is_slo, cond = query["type"] == "slo", query.get("slo_condition")
    if not is_slo and cond is not None:
        raise error(400, "slo_condition is only valid when query_type is `slo`; it would be "
                         "silently ignored here")
    if is_slo and cond is None:
        raise error(400, "an SLO alert requires an slo_condition; set query_type to something "
                         "else, or supply the condition")
    if is_slo:
        from .slos import check_slo_alert

        check_slo_alert(store, org, meta)


def _direction(op: str) -> str:
    return {">": "up", ">=": "up", "<": "down", "<=": "down"}.get(op, "none")


def _threshold_problem(op: str, critical: float, warning: float | None) -> str | None:
    # level.rs validate_thresholds_f64
    if warning is None:
        return None
    direction = _direction(op)
    if direction == "up" and warning < critical or direction == "down" and warning > critical:
        return None
    if direction == "none":
        return (f"operator `{OPERATOR_DISPLAY.get(op, op)}` has no severity ordering; a warning "
                "threshold is not supported")
    return "warning threshold must be less severe than critical for this operator"


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _check_thresholds(meta: dict[str, Any]) -> None:
    query, trigger = meta["query_condition"], meta["trigger_condition"]
    aggregation = query.get("aggregation")
    if meta["is_real_time"] and (
            trigger.get("warning_threshold") is not None
            or (aggregation and aggregation.get("warning_value") is not None)
            or query.get("promql_warning_value") is not None):
        raise error(400, "Warning thresholds are not supported on real-time alerts")
    if trigger.get("warning_threshold") is not None:
        if aggregation is not None:
            raise error(400, "warning_threshold is not supported on aggregation alerts: the "
                             "count threshold is coverage, not severity — use "
                             "aggregation.warning_value instead")
        if query.get("promql_condition") is not None or query["type"] == "promql":
            raise error(400, "warning_threshold is not supported on PromQL alerts: the count "
                             "threshold is coverage, not severity — use promql_warning_value "
                             "instead")
        problem = _threshold_problem(trigger["operator"], float(trigger["threshold"]),
                                     float(trigger["warning_threshold"]))
        if problem:
            raise error(400, f"Invalid warning threshold: {problem}")
    if aggregation is not None:
        # aggregation_level.rs validate_aggregation_thresholds
        critical = _as_number(aggregation["having"]["value"])
        prefix = "Invalid aggregation warning value: "
        if critical is None:
            raise error(400, prefix + "aggregation threshold (having.value) is not numeric")
        warning = aggregation.get("warning_value")
        if warning is not None:
            direction = _direction(aggregation["having"]["operator"])
            if direction == "none":
                raise error(400, prefix + "the aggregation operator has no severity ordering; "
                                          "a warning value is not supported")
            if not (direction == "up" and warning < critical
                    or direction == "down" and warning > critical):
                raise error(400, prefix + "aggregation warning value must be less severe than "
                                          "the having threshold")
    if query.get("promql_warning_value") is not None:
        condition = query.get("promql_condition")
        if condition is None:
            raise error(400, "A PromQL warning value requires a PromQL condition")
        critical = _as_number(condition["value"]) or 0.0
        problem = _threshold_problem(condition["operator"], critical,
                                     query["promql_warning_value"])
        if problem:
            raise error(400, f"Invalid warning threshold: {problem}")


def _check_query(store: Store, org: str, meta: dict[str, Any]) -> None:
    query = meta["query_condition"]
    if query["type"] == "sql":
        sql = query.get("sql")
        if not sql:
            raise error(400, "Alert with SQL mode should have a query")
        if _SELECT_STAR.search(sql):
            raise error(400, "Alert with SQL can not contain SELECT * in the SQL query")
        for name in _stream_names(sql):
            stream = store.stream(org, meta["stream_type"], name)
            if name != meta["stream_name"] and stream is not None:
                _check_query_range(stream.settings.get("max_query_range", 0), meta,
                                   meta["stream_name"])
    elif query["type"] == "promql" and (not query.get("promql")
                                         or query.get("promql_condition") is None):
        raise error(400, "Alert with PromQL mode should have a query")


def _stream_names(sql: str) -> list[str]:
    """``config/src/meta/sql.rs`` resolve_stream_names: parse (PostgreSQL dialect) and list the
    tables. The fake parses with sqlglot instead of DataFusion's parser, so what counts as
    unparsable differs at the edges."""
    return list(_parsed_stream_names(sql))


@functools.lru_cache(maxsize=4096)  # alerts made from one template share their SQL
def _parsed_stream_names(sql: str) -> tuple[str, ...]:
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.SqlglotError as err:
        raise error(500, f"Error resolving stream names in SQL query: {err}") from None
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return tuple(t.name for t in tree.find_all(exp.Table) if t.name not in ctes)


def update_cron_expression(cron: str, second: int) -> str:
    """``update_cron_expression``: a leading ``*`` is replaced by the current second — note that
    this also rewrites ``*/5 ...`` into ``<s> /5 ...``, which then fails to parse."""
    cron = cron.strip()
    if cron.startswith("*"):
        cron = f"{second} {cron.split('*', 1)[1].strip()}"
    return cron


_CRON_FIELDS = [  # the `cron` crate (0.15): seconds first, optional year
    ("seconds", 0, 59, {}), ("minutes", 0, 59, {}), ("hours", 0, 23, {}),
    ("days of month", 1, 31, {}),
    ("months", 1, 12, {m: i + 1 for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}),
    ("days of week", 1, 7, {d: i + 1 for i, d in enumerate(
        ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}),
    ("years", 1970, 2100, {}),
]


def cron_problem(expression: str) -> str | None:
    """Why the ``cron`` crate would refuse ``expression`` (None if it parses). A structural
    re-implementation: field count, ``* ? , - /`` syntax, names and ranges."""
    fields = expression.split()
    if len(fields) not in (6, 7):
        return f"{expression}: expected 6 or 7 fields, got {len(fields)}"
    for text, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=False):
        for item in text.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                return f"invalid step `{step}` in {what}"
            if base in ("*", "?") and (base == "*" or what.startswith("days")):
                continue
            bounds = base.split("-")
            if len(bounds) > 2 or not all(bounds):
                return f"invalid {what} `{item}`"
            values = []
            for bound in bounds:
                value = _cron_value(bound, names)
                if value is None or not low <= value <= high:
                    return f"invalid {what} `{item}`"
                values.append(value)
            if len(values) == 2 and values[0] > values[1]:
                return f"invalid range `{base}` in {what}"
    return None


def _cron_value(text: str, names: dict[str, int]) -> int | None:
    if text.isdigit():
        return int(text)
    upper = text.upper()
    for name, value in names.items():
        if upper == name or (len(upper) > 3 and upper.startswith(name)):
            return value
    return None


def _normalise_vrl(encoded: str) -> str | None:
    """Decode (O2's URL-safe base64: ``-`` ``_`` and ``.`` for padding), trim, end with
    ``"\\n."`` and re-encode; an empty or ``.`` program is dropped (``prepare_alert``)."""
    standard = encoded.replace("-", "+").replace("_", "/").replace(".", "=")
    try:
        program = base64.b64decode(standard, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError) as err:
        raise error(400, f"Error decoding vrl function for alert: base64 decode error: {err}") \
            from None
    program = program.strip()
    if program and not program.endswith("."):
        text = base64.b64encode(f"{program}\n.".encode()).decode()
        return text.replace("+", "-").replace("/", "_").replace("=", ".")
    if not program or program == ".":
        return None
    return encoded  # already ends with '.': kept as sent


def normalise_tags(tags: list[str]) -> list[str]:
    """``tags.rs`` normalize_tags: trimmed, lower-cased, de-duplicated, validated."""
    if len(tags) > 640:
        raise error(400, f"Invalid tag: {len(tags)} tags supplied; refusing to process more "
                         "than 640 entries")
    out: list[str] = []
    for raw in tags:
        tag = raw.strip().lower()
        if not tag:
            continue
        if not tag[0].isalpha():
            raise error(400, f"Invalid tag: tag `{tag}` must start with a letter")
        for ch in tag:
            if not (ch.isalnum() or ch in "_-./:"):
                raise error(400, f"Invalid tag: tag `{tag}` contains an illegal character "
                                 f"`{ch}`; allowed: letters, digits, and _ - . / :")
        if len(tag) > 200:
            raise error(400, f"Invalid tag: tag `{tag}` is {len(tag)} characters; the maximum "
                             "is 200")
        if tag not in out:
            out.append(tag)
    if len(out) > 64:
        raise error(400, f"Invalid tag: {len(out)} distinct tags; the maximum is 64 per alert")
    return out


# --- conversions ------------------------------------------------------------------------------

def to_meta(body: dict[str, Any]) -> dict[str, Any]:
    """``From<models::Alert> for meta::Alert``: the service-layer alert; ``frequency`` becomes
    seconds (``frequency_minutes * 60``) and a missing ``frequency_type`` means minutes."""
    trigger = dict(body["trigger_condition"])
    trigger["frequency"] = trigger["frequency"] * 60
    trigger["frequency_type"] = trigger.get("frequency_type") or "minutes"
    keys = ["id", "name", "org_id", "stream_type", "stream_name", "is_real_time",
            "query_condition", "destinations", "template", "context_attributes", "row_template",
            "row_template_type", "description", "enabled", "tz_offset", "owner",
            "deduplication", "creates_incident", "workflows", "priority", "tags"]
    meta = {k: copy.deepcopy(body.get(k)) for k in keys}
    meta["tags"] = meta["tags"] or []  # omitted when empty in the normalised body
    meta["trigger_condition"] = trigger
    meta["last_edited_by"] = None
    return meta


def stored(meta: dict[str, Any]) -> dict[str, Any]:
    """What reading the row back gives (``update_mutable_fields`` then ``TryFrom<Model>``)."""
    meta = copy.deepcopy(meta)
    query = meta["query_condition"]
    for key in ("sql", "promql", "vrl_function"):
        if query.get(key) == "":
            query[key] = None
    for key in ("template", "owner", "last_edited_by"):
        if meta.get(key) == "":
            meta[key] = None
    trigger = meta["trigger_condition"]
    if trigger.get("timezone") == "":
        del trigger["timezone"]
    dedup = meta.get("deduplication")
    meta["deduplication"] = dedup if dedup and dedup.get("enabled") else None
    return meta


def _trunc_div(a: int, b: int) -> int:
    quotient = abs(a) // b
    return quotient if a >= 0 else -quotient


def dto_trigger(trigger: dict[str, Any]) -> dict[str, Any]:
    """``From<meta::TriggerCondition>``: minutes again, ``frequency_type`` always present."""
    out: dict[str, Any] = {"period": trigger["period"], "operator": trigger["operator"],
                           "threshold": trigger["threshold"]}
    for key in ("warning_threshold", "notify_on_warning"):
        if trigger.get(key) is not None:
            out[key] = trigger[key]
    out["frequency"] = _trunc_div(trigger["frequency"], 60)
    out["cron"] = trigger["cron"]
    out["frequency_type"] = trigger["frequency_type"]
    out["silence"] = trigger["silence"]
    if trigger.get("timezone") is not None:
        out["timezone"] = trigger["timezone"]
    out["tolerance_in_secs"] = trigger.get("tolerance_in_secs")
    out["align_time"] = trigger["align_time"]
    return out


def dto_alert(record: Alert) -> dict[str, Any]:
    """GET body: ``GetAlertResponseBody(models::Alert)`` in field order."""
    meta = record.meta
    out: dict[str, Any] = {
        "id": record.alert_id, "name": meta["name"], "org_id": record.org,
        "stream_type": meta["stream_type"], "stream_name": meta["stream_name"],
        "is_real_time": meta["is_real_time"], "query_condition": meta["query_condition"],
        "trigger_condition": dto_trigger(meta["trigger_condition"]),
        "destinations": meta["destinations"],
    }
    if meta.get("template") is not None:
        out["template"] = meta["template"]
    if meta.get("context_attributes") is not None:
        out["context_attributes"] = meta["context_attributes"]
    out.update({
        "row_template": meta["row_template"], "row_template_type": meta["row_template_type"],
        "description": meta["description"], "enabled": meta["enabled"],
        "tz_offset": meta["tz_offset"], "last_triggered_at": None, "last_satisfied_at": None,
        "owner": meta.get("owner"), "last_edited_by": meta.get("last_edited_by"),
    })
    if meta.get("deduplication") is not None:
        out["deduplication"] = meta["deduplication"]
    out["creates_incident"] = meta["creates_incident"]
    out["workflows"] = meta["workflows"]
    if meta.get("priority") is not None:
        out["priority"] = meta["priority"]
    if meta.get("tags"):
        out["tags"] = meta["tags"]
    return copy.deepcopy(out)


def list_item(store: Store, record: Alert, include_dependencies: bool) -> dict[str, Any]:
    """``ListAlertsResponseBodyItem``: folder id and name, no stream fields."""
    meta = record.meta
    folder = store.folder(record.org, "alerts", record.folder_id)
    item: dict[str, Any] = {
        "alert_id": record.alert_id, "folder_id": record.folder_id,
        "folder_name": folder.name if folder else "", "name": meta["name"],
        "owner": meta.get("owner"), "description": meta["description"] or None,
        # responses.rs: "slo" when the alert has an slo_condition.
        "alert_type": ("slo" if (meta["query_condition"] or {}).get("slo_condition") is not None
                       else "realtime" if meta["is_real_time"] else "scheduled"),
        "condition": meta["query_condition"],
        "trigger_condition": dto_trigger(meta["trigger_condition"]),
        "enabled": meta["enabled"], "last_triggered_at": None, "last_satisfied_at": None,
        "is_real_time": meta["is_real_time"],
    }
    if meta.get("priority") is not None:
        item["priority"] = meta["priority"]
    if meta.get("tags"):
        item["tags"] = meta["tags"]
    if include_dependencies:  # otherwise the handler blanks them
        if meta["destinations"]:
            item["destinations"] = meta["destinations"]
        if meta.get("template") is not None:
            item["template"] = meta["template"]
    return copy.deepcopy(item)


# --- handlers ---------------------------------------------------------------------------------

def _read_body(req: Request) -> dict[str, Any]:
    raw = read_json(req, numbers="flatten")
    try:
        body = ALERT_BODY.de(raw)
    except SerdeError as err:
        raise shape_error(err) from None
    if body.get("alert_type") in ("composite", "anomaly_detection"):
        raise error(400, f"{body['alert_type']} alerts are not supported by the fake "
                         "OpenObserve")
    return body


def _alert_id(req: Request) -> str:
    alert_id = req.params["alert_id"]
    if not is_ksuid(alert_id):
        raise error(404, f"invalid alert id {alert_id}")
    return alert_id


def _get(store: Store, org: str, alert_id: str) -> Alert | None:
    record = store.alerts.get(alert_id)
    return record if record is not None and record.org == org else None


def _is_overwrite(req: Request) -> bool:
    return req.query_map().get("overwrite") == "true"


def create_alert(store: Store, req: Request) -> Response:
    org = req.params["org"]
    body = _read_body(req)
    folder_id = req.query_map().get("folder", DEFAULT_FOLDER)
    meta = to_meta(body)
    if not meta.get("owner"):
        meta["owner"] = req.user
    meta["last_edited_by"] = req.user
    overwrite = _is_overwrite(req)
    if store.folder(org, "alerts", folder_id) is None:
        if folder_id != DEFAULT_FOLDER:
            raise error(404, "Error creating alert in folder that cannot be found")
        store.ensure_default_folder(org, "alerts")
    prepare(store, org, meta, create=True, overwrite=overwrite)
    _check_storable(meta)
    alert_id = meta["id"] if overwrite and meta.get("id") else store.ksuid()
    meta["id"] = alert_id
    store.alerts[alert_id] = Alert(alert_id, org, folder_id, stored(meta))
    return message(200, "Alert saved", id=alert_id, name=meta["name"])


def get_alert(store: Store, req: Request) -> Response:
    alert_id = _alert_id(req)
    record = _get(store, req.params["org"], alert_id)
    if record is None:
        raise error(404, f"alert {alert_id} not found")
    return json_response(dto_alert(record))


def update_alert(store: Store, req: Request) -> Response:
    org = req.params["org"]
    body = _read_body(req)  # the Json extractor runs before the id is looked at
    alert_id = _alert_id(req)
    meta = to_meta(body)
    meta["last_edited_by"] = req.user
    meta["id"] = alert_id
    try:
        _update(store, org, alert_id, meta, None)
    except AlertNotFound:
        raise error(404, f"alert {alert_id} not found") from None
    return ok("Alert Updated")


def _update(store: Store, org: str, alert_id: str, meta: dict[str, Any],
            dst_folder: str | None) -> None:
    """``alert::update``: the stream of an alert is fixed at creation — the body's
    ``stream_type``/``stream_name`` are validated but not stored (``update_mutable_fields``)."""
    if dst_folder is not None and store.folder(org, "alerts", dst_folder) is None:
        if dst_folder != DEFAULT_FOLDER:
            raise error(404, "Error moving alert to folder that cannot be found")
        store.ensure_default_folder(org, "alerts")
    prepare(store, org, meta, create=False, overwrite=False)
    _check_storable(meta)
    record = store.alerts[alert_id]
    new = stored(meta)
    new["stream_type"] = record.meta["stream_type"]
    new["stream_name"] = record.meta["stream_name"]
    record.meta = new
    if dst_folder is not None:
        record.folder_id = dst_folder


def _check_storable(meta: dict[str, Any]) -> None:
    # infra/src/table/alerts/intermediate.rs TriggerThresholdOperator has no contains variants:
    # they parse, pass validation, and fail when the row is written (infra/src/errors/mod.rs).
    operator = meta["trigger_condition"]["operator"]
    if operator in ("Contains", "NotContains"):
        raise error(500, f"DbError# PutAlert# cannot convert {OPERATOR_DISPLAY[operator]} into "
                         "a trigger threshold operator")


def delete_alert(store: Store, req: Request) -> Response:
    alert_id = _alert_id(req)
    if _get(store, req.params["org"], alert_id) is None:
        raise error(404, f"alert {alert_id} not found")
    del store.alerts[alert_id]
    return ok("Alert deleted")


def enable_alert(store: Store, req: Request) -> Response:
    query = req.query_map()
    if "value" not in query:
        raise query_error("missing field `value`")
    value = parse_bool("value", query["value"])
    alert_id = _alert_id(req)
    org = req.params["org"]
    record = _get(store, org, alert_id)
    if record is None:
        raise error(404, f"alert {alert_id} not found")
    meta = copy.deepcopy(record.meta)  # enable re-runs the whole update on the stored alert
    meta["enabled"] = value
    _update(store, org, alert_id, meta, None)
    return json_response({"enabled": value})


MOVE_BODY = Struct("MoveAlertsRequestBody", [
    Field("alert_ids", Vec(Custom("Ksuid", _read_ksuid))),
    Field("anomaly_config_ids", Vec(Custom("Ksuid", _read_ksuid)), default=[]),
    Field("dst_folder_id", S),
])


def move_alerts(store: Store, req: Request) -> Response:
    org = req.params["org"]
    raw = read_json(req)
    try:
        body = MOVE_BODY.de(raw)
    except SerdeError as err:
        raise shape_error(err) from None
    for alert_id in body["alert_ids"]:
        record = _get(store, org, alert_id)
        if record is None:
            raise error(404, "Alert not found")
        try:
            _update(store, org, alert_id, copy.deepcopy(record.meta), body["dst_folder_id"])
        except AlertNotFound:
            raise error(404, "Alert not found") from None
    total = len(body["alert_ids"]) + len(body["anomaly_config_ids"])
    return ok("Alert moved" if total == 1 else "Alerts moved")


def _like(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.lower()]
    return re.compile(".*" + "".join(parts) + ".*", re.DOTALL)


def list_alerts(store: Store, req: Request) -> Response:
    """``list_alerts`` + ``table::alerts::list``: the filters o2kit may send, in the server's
    semantics (``owner`` is accepted and ignored — no code reads it)."""
    org = req.params["org"]
    query = req.query_map()
    try:
        stream_type = ALERT_STREAM_TYPE.de(query["stream_type"]) if "stream_type" in query \
            else None
        alert_type = ALERT_TYPE_FILTER.de(query.get("alert_type", "all"))
    except SerdeError as err:
        raise query_error(err.message) from None
    enabled = parse_bool("enabled", query["enabled"]) if "enabled" in query else None
    include = parse_bool("include_dependencies", query["include_dependencies"]) \
        if "include_dependencies" in query else False
    page_size = parse_u64(query["page_size"]) if "page_size" in query else None
    page_idx = parse_u64(query["page_idx"]) if "page_idx" in query else 0
    folder = query.get("folder")
    name_like = _like(query["alert_name_substring"]) if query.get("alert_name_substring") \
        else None
    wanted_tags = []
    for raw in query.get("tags", "").split(","):
        tag = raw.strip().lower()
        if tag and tag not in wanted_tags:
            wanted_tags.append(tag)
    tokens = [t.strip() for v in req.query_all("priority") for t in v.split(",") if t.strip()]
    priorities = {int(t.lstrip("Pp")) for t in tokens
                  if t.lstrip("Pp") in {"1", "2", "3", "4", "5"}} if tokens else None

    rows = []
    for record in store.alerts.values():
        meta = record.meta
        if record.org != org or (folder is not None and record.folder_id != folder):
            continue
        if name_like is not None and not name_like.fullmatch(meta["name"].lower()):
            continue
        if stream_type is not None and (meta["stream_type"] != stream_type or (
                query.get("stream_name") is not None
                and meta["stream_name"] != query["stream_name"])):
            continue
        if enabled is not None and meta["enabled"] != enabled:
            continue
        is_slo = (meta["query_condition"] or {}).get("slo_condition") is not None
        # request/alerts/mod.rs AlertTypeFilter: scheduled = not realtime and not SLO.
        if alert_type in ("anomaly_detection", "composite") or (
                alert_type == "slo" and not is_slo) or (
                alert_type == "scheduled" and (meta["is_real_time"] or is_slo)) or (
                alert_type == "realtime" and not meta["is_real_time"]):
            continue
        if priorities is not None and meta.get("priority") not in priorities:
            continue
        if not all(tag in meta["tags"] for tag in wanted_tags):
            continue
        rows.append(list_item(store, record, include))

    descending = query.get("sort_order") == "desc"
    if query.get("sort_by") == "priority":
        rows.sort(key=lambda r: (r["name"], r["folder_name"], r["alert_id"]))
        with_priority = sorted((r for r in rows if "priority" in r),
                               key=lambda r: r["priority"], reverse=descending)
        rows = with_priority + [r for r in rows if "priority" not in r]  # nulls last
    elif query.get("sort_by") == "name":
        rows.sort(key=lambda r: (r["folder_name"], r["alert_id"]))
        rows.sort(key=lambda r: r["name"], reverse=descending)
    else:
        rows.sort(key=lambda r: (r["name"], r["folder_name"]))
    if page_size:
        rows = rows[page_idx * page_size:(page_idx + 1) * page_size]
    return json_response({"list": rows})


__all__ = ["AlertNotFound", "create_alert", "delete_alert", "enable_alert",
           "get_alert", "list_alerts", "move_alerts", "prepare", "update_alert"]
