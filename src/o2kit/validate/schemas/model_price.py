"""The shape of a ``model_price`` body: OpenObserve's ``ModelPricingDefinition``
(src/config/src/meta/model_pricing.rs, ``#[serde(default)]`` on every struct, snake_case)."""

from __future__ import annotations

from o2kit.validate.schemas.shapes import (
    Bool,
    Int,
    ListOf,
    MapOf,
    Num,
    Obj,
    Shape,
    Str,
    dflt,
    opt,
)

KIND = "model_price"

_CONDITION = Obj(
    {
        "usage_key": dflt(Str()),
        "operator": dflt(Str(enum=("gt", "gte", "lt", "lte", "eq", "neq"))),  # TierOperator
        "value": dflt(Num()),
    }
)

_TIER = Obj(
    {
        "name": dflt(Str()),
        "condition": opt(_CONDITION),
        "prices": dflt(MapOf(Num())),  # usage key -> price per token
    }
)

SHAPE: Shape = Obj(
    {
        "id": opt(Str()),  # server-assigned KSUID
        "org_id": dflt(Str()),
        "name": dflt(Str()),
        "match_pattern": dflt(Str()),
        "enabled": dflt(Bool()),
        "tiers": dflt(ListOf(_TIER)),
        "valid_from": opt(Int()),  # µs
        "sort_order": dflt(Int()),
        "source": dflt(Str(enum=("org", "meta_org", "built_in"))),
        "provider": dflt(Str()),
        "description": dflt(Str()),
        "created_at": dflt(Int()),
        "updated_at": dflt(Int()),
    }
)
