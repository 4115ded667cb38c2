"""Shape of the v2 alert object, mirroring the request DTO
``src/api/management/src/models/alerts/mod.rs`` (``Alert``, ``QueryCondition``,
``TriggerCondition``, ``Aggregation``, ``Condition``) and the condition trees of
``src/config/src/meta/alerts/mod.rs`` (``AlertConditionParams``) in the OpenObserve source.
Reference: openobserve-api.md §5.1.
"""

from __future__ import annotations

from typing import Any

from o2kit.validate.schemas.shapes import (
    AnyValue,
    Bool,
    Choice,
    Int,
    ListOf,
    MapOf,
    Num,
    Obj,
    Shape,
    Str,
    dflt,
    json_type,
    lazy,
    opt,
    req,
)

# ``StreamType`` of the alerts DTO (no service_graph, unlike the dashboard one).
ALERT_STREAM_TYPES = (
    "logs",
    "metrics",
    "traces",
    "enrichment_tables",
    "file_list",
    "metadata",
    "index",
)
QUERY_TYPES = ("custom", "sql", "promql", "slo")
# ``Operator`` also parses ``Contains``/``NotContains``, but a trigger condition with them fails
# to save (500, reference §5.1), so o2kit accepts only the six comparisons there.
TRIGGER_OPERATORS = ("=", "!=", ">", ">=", "<", "<=")
CONDITION_OPERATORS = TRIGGER_OPERATORS + ("Contains", "NotContains")
# Condition-tree leaves use the config ``Operator`` (``src/config/src/meta/alerts/mod.rs``):
# snake_case with the DTO spellings as aliases.
TREE_OPERATORS = (
    "=",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "contains",
    "not_contains",
    "Contains",
    "NotContains",
)
FREQUENCY_TYPES = ("minutes", "cron")
AGGREGATION_FUNCTIONS = (
    "avg",
    "min",
    "max",
    "sum",
    "count",
    "median",
    "p50",
    "p75",
    "p90",
    "p95",
    "p99",
)
ROW_TEMPLATE_TYPES = ("String", "Json")
SEARCH_EVENT_TYPES = (
    "ui",
    "dashboards",
    "reports",
    "alerts",
    "values",
    "other",
    "rum",
    "derivedstream",
    "searchjob",
    "download",
    "insights",
)

_S = Str()
_B = Bool()
_I = Int()

CONDITION = Obj(
    {
        "column": req(_S),
        "operator": req(Str(enum=CONDITION_OPERATORS)),
        "value": req(AnyValue()),
        "ignore_case": dflt(_B),
    }
)

TREE_LEAF = Obj(
    {
        "column": req(_S),
        "operator": req(Str(enum=TREE_OPERATORS)),
        "value": req(AnyValue()),
        "ignore_case": dflt(_B),
    }
)

# v2 conditions: {"version": 2, "conditions": <group>}; items tagged by filterType.
_V2_CONDITION = Obj(
    {
        "filterType": req(_S),
        "column": req(_S),
        "operator": req(Str(enum=TREE_OPERATORS)),
        "value": req(AnyValue()),
        "ignore_case": opt(_B),
        "logicalOperator": req(Str(enum=("AND", "OR"))),
    }
)

_V2_GROUP = Obj(
    {
        "filterType": req(_S),
        "logicalOperator": req(Str(enum=("AND", "OR"))),
        "conditions": req(ListOf(lazy(lambda: V2_ITEM))),
    }
)


def _v2_item(value: Any) -> Shape | str:
    if not isinstance(value, dict):
        return f"expected an object, got {json_type(value)}"
    kind = value.get("filterType")
    if kind == "group":
        return _V2_GROUP
    if kind == "condition":
        return _V2_CONDITION
    return 'filterType must be "condition" or "group"'


V2_ITEM: Shape = Choice(_v2_item, expected="an object")


def _v1_tree(value: Any) -> Shape | str:
    # ConditionList: {"and": [...]}, {"or": [...]}, {"not": {...}}, [Condition...], or Condition.
    if isinstance(value, list):
        return ListOf(lazy(lambda: V1_TREE))
    if isinstance(value, dict):
        if "and" in value or "or" in value:
            key = "and" if "and" in value else "or"
            return Obj({key: req(ListOf(lazy(lambda: V1_TREE)))})
        if "not" in value:
            return Obj({"not": req(lazy(lambda: V1_TREE))})
        return TREE_LEAF
    return "expected a condition, a list of conditions, or an and/or/not object"


V1_TREE: Shape = Choice(_v1_tree, expected="a condition tree")


def _conditions(value: Any) -> Shape | str:
    if isinstance(value, dict) and value.get("version") == 2:
        return Obj({"version": req(_I), "conditions": req(_V2_GROUP)})
    if isinstance(value, dict) and value.get("filterType") == "group":
        return 'a v2 condition group must be wrapped as {"version": 2, "conditions": {...}}'
    return V1_TREE


AGGREGATION = Obj(
    {
        "group_by": opt(ListOf(_S)),
        "function": req(Str(enum=AGGREGATION_FUNCTIONS)),
        "having": req(CONDITION),
        "warning_value": opt(Num()),
        "multi_alert": dflt(_B),
    }
)

QUERY_CONDITION = Obj(
    {
        "type": dflt(Str(enum=QUERY_TYPES)),
        "conditions": opt(Choice(_conditions, expected="a condition tree")),
        "sql": opt(_S),
        "promql": opt(_S),
        "promql_condition": opt(CONDITION),
        "promql_warning_value": opt(Num()),
        "promql_multi_alert": dflt(_B),
        "aggregation": opt(AGGREGATION),
        "vrl_function": opt(_S),
        "search_event_type": opt(Str(enum=SEARCH_EVENT_TYPES)),
        "multi_time_range": opt(ListOf(Obj({"offSet": req(_S)}))),
        "slo_condition": opt(AnyValue()),
    }
)

TRIGGER_CONDITION = Obj(
    {
        "period": dflt(_I),
        "operator": dflt(Str(enum=TRIGGER_OPERATORS)),
        "threshold": dflt(_I),
        "warning_threshold": opt(_I),
        "notify_on_warning": opt(_B),
        "frequency": dflt(_I),
        "cron": dflt(_S),
        "frequency_type": opt(Str(enum=FREQUENCY_TYPES)),
        "silence": dflt(_I),
        "timezone": opt(_S),
        "tolerance_in_secs": opt(_I),
        "align_time": dflt(_B),
    }
)

ALERT = Obj(
    {
        # server-owned; accepted so an exported alert validates, ignored by the server on write
        "id": opt(_S),
        "org_id": dflt(_S),
        "owner": opt(_S),
        "last_triggered_at": opt(_I),
        "last_satisfied_at": opt(_I),
        "updated_at": opt(_I),
        "last_edited_by": opt(_S),
        "scheduler_job_present": opt(_B),
        # desired state
        "name": dflt(_S),
        "stream_type": dflt(Str(enum=ALERT_STREAM_TYPES)),
        "stream_name": dflt(_S),
        "is_real_time": dflt(_B),
        "query_condition": dflt(QUERY_CONDITION),
        "trigger_condition": dflt(TRIGGER_CONDITION),
        "destinations": dflt(ListOf(_S)),
        "alert_destinations": dflt(ListOf(_S)),  # serde alias of destinations
        "template": opt(_S),
        "context_attributes": opt(MapOf(_S)),
        "row_template": dflt(_S),
        "row_template_type": dflt(Str(enum=ROW_TEMPLATE_TYPES)),
        "description": dflt(_S),
        "enabled": dflt(_B),
        "tz_offset": dflt(_I),
        "deduplication": opt(AnyValue()),
        "creates_incident": dflt(_B),
        "workflows": dflt(ListOf(_S)),
        "priority": opt(Int(minimum=1, maximum=5)),
        "tags": dflt(ListOf(_S)),
    }
)
