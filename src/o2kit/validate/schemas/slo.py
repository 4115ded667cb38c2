"""Shape of an SLO body (``POST``/``PUT /api/{org}/slos``): ``src/config/src/meta/slo/mod.rs``
``Slo`` with its flattened ``SloDefinition`` and the adjacently tagged ``SliConfig``
(``sli_type`` + ``config``) and ``CountSource`` (``mode`` + ``query``), commit fbab9b80."""

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
    opt,
    req,
)

KIND = "slo"

_S = Str()
_STREAM = {"stream": req(_S), "stream_type": req(_S)}
COUNT_QUERY = Obj({**_STREAM, "sql": req(_S)})
_SOURCES: dict[str, Shape] = {
    "single_query": Obj({**_STREAM, "scope": opt(_S), "good_expr": req(_S)}),
    "dual_query": Obj({"good": req(COUNT_QUERY), "total": req(COUNT_QUERY)}),
    "prom_ql": Obj({"good": req(_S), "total": req(_S)}),
}


def _adjacent(tag: str, content: str, variants: dict[str, Shape]) -> Choice:
    """``#[serde(tag = tag, content = content)]``: the tag names the variant of the content."""

    def pick(value: Any) -> Shape | str:
        if not isinstance(value, dict):
            return f"expected an object, got {json_type(value)}"
        name = value.get(tag)
        if name not in variants:
            return f'{tag} {name!r} is not one of: {", ".join(variants)}'
        return Obj({tag: req(Str(enum=tuple(variants))), content: req(variants[name])})

    return Choice(pick, expected="an object")


SOURCE = _adjacent("mode", "query", _SOURCES)
_CONFIGS: dict[str, Shape] = {
    "count": Obj({"source": req(SOURCE)}),
    "time_slice": Obj({
        **_STREAM,
        "query_language": req(Str(enum=("sql", "prom_ql"))),
        "query": req(_S),
        "scope": opt(_S),
        "comparator": req(Str(enum=(">", ">=", "<", "<=", "=", "!="))),
        "threshold": req(Num()),
        "absent_is_bad": dflt(Bool()),
    }),
    "alert": Obj({"alert_id": req(_S)}),
}

_TOP = {
    "id": dflt(_S),
    "org": dflt(_S),
    "folder_id": dflt(_S),
    "name": req(_S),
    "description": dflt(_S),
    "group_by": opt(ListOf(_S)),
    "window_secs": req(Int()),
    "slice_interval_secs": req(Int()),
    "target": req(Num()),
    "tags": dflt(ListOf(_S)),
    "enabled": dflt(Bool()),
    "owner": opt(_S),
    "definition_generation": dflt(Int()),
    "groups_estimate": opt(Int()),
    "groups_reserved": dflt(Int()),
    "status": opt(AnyValue()),
}


def _slo(value: Any) -> Shape | str:
    if not isinstance(value, dict):
        return f"expected an object, got {json_type(value)}"
    name = value.get("sli_type")
    if name not in _CONFIGS:
        return f"sli_type {name!r} is not one of: {', '.join(_CONFIGS)}"
    return Obj({**_TOP, "sli_type": req(Str(enum=tuple(_CONFIGS))), "config": req(_CONFIGS[name])})


SHAPE: Shape = Choice(_slo, expected="an SLO object")
