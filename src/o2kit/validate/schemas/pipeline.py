"""Shape of a realtime pipeline (``Pipeline``, src/config/src/meta/pipeline/mod.rs; nodes and
edges in components.rs, snake_case)."""

from __future__ import annotations

from o2kit.validate.schemas.alert import _V2_GROUP
from o2kit.validate.schemas.shapes import (
    AnyValue,
    Bool,
    Int,
    ListOf,
    MapOf,
    Num,
    Obj,
    Str,
    dflt,
    opt,
    req,
    tagged,
)

KIND = "pipeline"
_S = Str()
_STREAM = Obj({"node_type": req(_S), "org_id": dflt(_S), "stream_name": dflt(_S),
               "stream_type": dflt(Str(enum=("logs", "metrics", "traces")))})
_FUNCTION = Obj({"node_type": req(_S), "name": dflt(_S), "after_flatten": dflt(Bool()),
                 "num_args": dflt(Int())})
_CONDITION = Obj({"node_type": req(_S), "version": opt(Int()), "conditions": req(_V2_GROUP)})
NODE = Obj(
    {
        "id": req(_S),
        "data": req(tagged("node_type", {"stream": _STREAM, "function": _FUNCTION,
                                         "condition": _CONDITION})),
        "position": opt(Obj({"x": req(Num()), "y": req(Num())})),
        "io_type": req(Str(enum=("input", "output", "default"))),
        "meta": opt(MapOf(_S)),
        "style": opt(AnyValue()),
        "is_disabled": dflt(Bool()),
    }
)
EDGE = Obj({"id": req(_S), "source": req(_S), "target": req(_S)})
SHAPE = Obj(
    {
        "pipeline_id": dflt(_S),
        "version": dflt(Int()),
        "enabled": dflt(Bool()),
        "org": dflt(_S),
        "name": req(_S),
        "description": dflt(_S),
        "source": opt(AnyValue()),
        "nodes": req(ListOf(NODE)),
        "edges": req(ListOf(EDGE)),
    }
)
