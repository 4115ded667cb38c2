"""LLM model pricing definitions (``/api/{org}/llm/models``), from the OpenObserve source at commit
fbab9b80:

- routes: src/api/http/src/handler/http/router/mod.rs:801-807 (the literal ``built-in``,
  ``refresh-built-in`` and ``test`` before ``{model_id}``);
- handlers: src/api/management/src/request/model_pricing.rs (``list``, ``get``, ``create``,
  ``update``, ``delete``, ``validate_definition``, ``derive_test_string``);
- storage: src/infra/src/table/model_pricing.rs (``put``: upsert by id, a rename onto a taken
  name is ``DuplicateName``; ``delete_by_id``: scoped to the org, built-in rows are read-only;
  ``list``: ordered by name);
- JSON: src/config/src/meta/model_pricing.rs (``#[serde(default)]`` everywhere, snake_case;
  ``id``/``valid_from``/``condition`` skipped when None, ``provider``/``description`` when empty,
  ``children`` when empty).

Built-in definitions live in org ``_openobserve`` and the inherited ones in ``_meta``: a test
seeds them with ``seed_definition``. Regexes are compiled with Python's ``re`` standing in for
Rust's ``regex`` crate, with the constructs only Python has (look-around, back-references,
atomic groups, possessive quantifiers) refused as Rust refuses them.
"""

from __future__ import annotations

import re
from typing import Any

from .http import Request, Response, error, json_response, ok, read_json, shape_error
from .serde import (
    F64,
    Bool,
    Enum,
    Field,
    Int,
    Lazy,
    Map,
    Opt,
    SerdeError,
    Str,
    Struct,
    Vec,
)
from .state import Store

KIND = "model_price"
META_ORG = "_meta"
BUILT_IN_ORG = "_openobserve"
NOT_FOUND = "Model pricing definition not found"

_CONDITION = Struct("TierCondition", [
    Field("usage_key", Str()),
    Field("operator", Enum("TierOperator", ("gt", "gte", "lt", "lte", "eq", "neq"),
                           default="gt")),
    Field("value", F64()),
], default_all=True)
_TIER = Struct("PricingTierDefinition", [
    Field("name", Str()),
    Field("condition", Opt(_CONDITION), omit="none"),
    Field("prices", Map(F64())),
], default_all=True)
_DEFINITION: Struct = Struct("ModelPricingDefinition", [
    Field("id", Opt(Str()), omit="none"),
    Field("org_id", Str()),
    Field("name", Str()),
    Field("match_pattern", Str()),
    Field("enabled", Bool(), default=True),
    Field("tiers", Vec(_TIER)),
    Field("valid_from", Opt(Int("i64")), omit="none"),
    Field("sort_order", Int("i32")),
    Field("source", Enum("PricingSource", ("built_in", "meta_org", "org"), default="org")),
    Field("provider", Str()),
    Field("description", Str()),
    Field("created_at", Int("i64")),
    Field("updated_at", Int("i64")),
    # list responses only (not stored): read like any definition, then dropped
    Field("children", Vec(Lazy(lambda: _DEFINITION))),
], default_all=True)

# RegexBuilder::size_limit(256 KiB) (src/db/src/model_pricing.rs REGEX_SIZE_LIMIT) is not
# modelled: o2kit's patterns are literals of a few dozen characters.
_RUST_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\(\?>|\\[1-9]|\(\?P=|[*+?}][+]")


def _compile(pattern: str) -> re.Pattern[str] | str:
    """The compiled pattern, or the error text."""
    found = _RUST_UNSUPPORTED.search(pattern)
    if found:
        return f"regex parse error: {found.group(0)} is not supported"
    try:
        return re.compile(pattern)
    except re.error as exc:
        return f"regex parse error: {exc}"


def _validate(item: dict[str, Any]) -> str | None:
    """``validate_definition``: the first problem's message, or None."""
    name, pattern = item["name"], item["match_pattern"]
    if not name.strip():
        return "Model name is required"
    if len(name.encode("utf-8")) > 256:
        return "Model name must be 256 characters or fewer"
    if not pattern.strip():
        return "Match pattern is required"
    if len(pattern.encode("utf-8")) > 512:
        return "Match pattern must be 512 characters or fewer"
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        return f"Invalid regex pattern: {compiled}"
    tiers = item["tiers"]
    if not tiers:
        return "At least one pricing tier is required"
    if all(t.get("condition") is not None for t in tiers):
        return "At least one tier must have no condition (default fallback)"
    for tier in tiers:
        condition = tier.get("condition")
        if condition is not None:
            if not condition["usage_key"].strip():
                return f"Tier '{tier['name']}' has a condition with an empty usage_key"
            value = condition["value"]
            if value != value or value in (float("inf"), float("-inf")):
                return (f"Tier '{tier['name']}' condition value must be a finite number, "
                        f"got {value}")
        for key, price in tier["prices"].items():
            if price != price or price in (float("inf"), float("-inf")):
                return (f"Price for '{key}' in tier '{tier['name']}' must be a finite number, "
                        f"got {price}")
            if price < 0:
                return f"Price for '{key}' in tier '{tier['name']}' must be >= 0, got {price}"
    return None


def _written(item: dict[str, Any]) -> dict[str, Any]:
    """What the server answers for a stored definition (the skip_serializing_if rules)."""
    out = {k: v for k, v in item.items() if k != "children"}
    for key in ("provider", "description"):
        if not out.get(key):
            out.pop(key, None)
    for key in ("id", "valid_from"):
        if out.get(key) is None:
            out.pop(key, None)
    return out


def _read_body(req: Request) -> dict[str, Any]:
    try:
        item = _DEFINITION.de(read_json(req))
    except SerdeError as err:
        raise shape_error(err) from None
    item.pop("children", None)
    return dict(item)


def _table(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    return store.objects.setdefault(KIND, {})


def _org_items(store: Store, org: str) -> list[dict[str, Any]]:
    """``table::model_pricing::list``: the org's definitions ordered by name."""
    return sorted((v for (o, _), v in _table(store).items() if o == org),
                  key=lambda v: v["name"])


def _by_name(store: Store, org: str, name: str) -> dict[str, Any] | None:
    return next((v for v in _org_items(store, org) if v["name"] == name), None)


def _by_id(store: Store, model_id: str) -> dict[str, Any] | None:
    return next((v for (_, i), v in _table(store).items() if i == model_id), None)


def seed_definition(store: Store, org: str, body: dict[str, Any]) -> dict[str, Any]:
    """Store a definition as the server's sync job or another org would (tests: built-ins)."""
    item = dict(_DEFINITION.de(body))
    item.pop("children", None)
    item["org_id"] = org
    item["id"] = store.ksuid()
    item["source"] = {BUILT_IN_ORG: "built_in", META_ORG: "meta_org"}.get(org, "org")
    item["created_at"] = item["updated_at"] = store.now_micros()
    _table(store)[(org, item["id"])] = item
    return _written(item)


_PRIORITY = {"org": 0, "meta_org": 1, "built_in": 2}


def _strip_leading_flags(text: str) -> str:
    while True:
        m = re.match(r"\(\?([imsxu-]*)\)", text)
        if not m:
            return text
        text = text[m.end():]


def _derive_test_string(pattern: str) -> str:
    text = _strip_leading_flags(pattern.strip()).lstrip("^")
    out = []
    chars = iter(text)
    for c in chars:
        if c == "\\":
            nxt = next(chars, None)
            if nxt is not None:
                out.append(nxt)
        elif c in "()[]{}*+?|$^.":
            break
        else:
            out.append(c)
    return "".join(out)


def list_definitions(store: Store, req: Request) -> Response:
    org = req.params["org"]
    items = list(_org_items(store, org))
    if org not in (META_ORG, BUILT_IN_ORG):
        items += [v for v in _org_items(store, META_ORG) if v["enabled"]]
    if org != BUILT_IN_ORG:
        items += [v for v in _org_items(store, BUILT_IN_ORG) if v["enabled"]]
    items.sort(key=lambda v: (_PRIORITY[v["source"]], v["sort_order"], v["name"]))
    # Group: a definition whose literal prefix an earlier parent's regex matches is nested in
    # that parent's ``children`` (model_pricing.rs ``list``).
    parents: list[tuple[dict[str, Any], re.Pattern[str] | None]] = []
    for item in items:
        test = _derive_test_string(item["match_pattern"])
        parent = next((p for p, rx in parents if test and rx is not None and rx.search(test)),
                      None)
        if parent is not None:
            parent.setdefault("children", []).append(_written(item))
            continue
        compiled = _compile(item["match_pattern"])
        parents.append((_written(item), compiled if not isinstance(compiled, str) else None))
    return json_response([p for p, _ in parents])


def get_definition(store: Store, req: Request) -> Response:
    org, item = req.params["org"], _by_id(store, req.params["model_id"])
    if item is None or item["org_id"] not in (org, META_ORG, BUILT_IN_ORG):
        raise error(404, NOT_FOUND)
    return json_response(_written(item))


def create_definition(store: Store, req: Request) -> Response:
    org = req.params["org"]
    item = _read_body(req)
    if org == BUILT_IN_ORG:
        raise error(403, "Cannot create entries in the built-in org. Use the refresh endpoint "
                         "to sync from upstream.")
    item["org_id"] = org
    item["id"] = None
    item["source"] = "meta_org" if org == META_ORG else "org"
    problem = _validate(item)
    if problem:
        raise error(400, problem)
    if _by_name(store, org, item["name"]) is not None:
        raise error(400, f"A model pricing definition with name '{item['name']}' already exists "
                         "in this organization")
    item["id"] = store.ksuid()
    item["created_at"] = item["updated_at"] = store.now_micros()
    _table(store)[(org, item["id"])] = item
    return json_response(_written(item), 201)


def update_definition(store: Store, req: Request) -> Response:
    org, model_id = req.params["org"], req.params["model_id"]
    item = _read_body(req)
    existing = _by_id(store, model_id)
    if existing is None or existing["org_id"] != org:
        raise error(404, NOT_FOUND)
    if existing["source"] == "built_in":
        raise error(403, "Built-in model pricing definitions are read-only. Clone to customize.")
    item["id"], item["org_id"], item["source"] = existing["id"], org, existing["source"]
    problem = _validate(item)
    if problem:
        raise error(400, problem)
    other = _by_name(store, org, item["name"])
    if item["name"] != existing["name"] and other is not None:
        raise error(400, f"A model pricing definition with name '{item['name']}' already exists "
                         "in this organization")
    item["created_at"] = existing["created_at"]
    item["updated_at"] = store.now_micros()
    _table(store)[(org, model_id)] = item
    return json_response(_written(item))


def delete_definition(store: Store, req: Request) -> Response:
    org, model_id = req.params["org"], req.params["model_id"]
    existing = _table(store).get((org, model_id))
    if existing is None:
        raise error(404, NOT_FOUND)
    if existing["source"] == "built_in":
        raise error(403, "Built-in model pricing definitions cannot be deleted")
    del _table(store)[(org, model_id)]
    return ok("Model pricing definition deleted")


def built_in_catalogue(store: Store, req: Request) -> Response:
    """``GET /llm/models/built-in``: the fake has no upstream source (an air-gapped server)."""
    models = [{"name": v["name"], "match_pattern": v["match_pattern"], "tiers": v["tiers"],
               "description": v["description"], "provider": v["provider"]}
              for v in _org_items(store, BUILT_IN_ORG)]
    return json_response({"models": models, "source_url": "", "last_updated": 0})


def _find_pricing(store: Store, org: str, model: str, span_us: int | None
                  ) -> dict[str, Any] | None:
    """``find_pricing_sync_at`` over ``get_org_pricing_entries`` (src/db/src/model_pricing.rs):
    enabled definitions of the org, ``_meta`` and the built-in org, each sorted by sort_order then
    name (``build_entries``), merged in source order; among those whose regex matches (a search,
    not a full match), skipping a ``valid_from`` after the span: org > meta_org > built_in, then
    the greatest ``valid_from`` (None oldest), then the first."""
    entries: list[dict[str, Any]] = []
    for source_org in (org, META_ORG, BUILT_IN_ORG):
        entries += sorted((v for v in _org_items(store, source_org) if v["enabled"]),
                          key=lambda v: (v["sort_order"], v["name"]))
    best: dict[str, Any] | None = None
    floor = -(2**63)
    for entry in entries:
        compiled = _compile(entry["match_pattern"])
        if isinstance(compiled, str) or not compiled.search(model):
            continue
        valid_from = entry.get("valid_from")
        if span_us is not None and valid_from is not None and valid_from > span_us:
            continue
        if best is None:
            best = entry
        elif _PRIORITY[entry["source"]] != _PRIORITY[best["source"]]:
            if _PRIORITY[entry["source"]] < _PRIORITY[best["source"]]:
                best = entry
        else:
            best_from = best.get("valid_from")
            if (floor if valid_from is None else valid_from) > (
                    floor if best_from is None else best_from):
                best = entry
    return best


_TOLERANCE = 0.5  # TierOperator::EQ_TOLERANCE


def _holds(operator: str, actual: float, threshold: float) -> bool:
    return {
        "gt": actual > threshold, "gte": actual >= threshold, "lt": actual < threshold,
        "lte": actual <= threshold, "eq": abs(actual - threshold) < _TOLERANCE,
        "neq": abs(actual - threshold) >= _TOLERANCE,
    }[operator]


def test_model_match(store: Store, req: Request) -> Response:
    """``POST /llm/models/test``: the matched definition, tier and cost of ``usage``
    (``calculate_cost_from_definition``: the tier chosen on ``usage`` itself; ``total`` never
    priced; zero counts and zero costs left out)."""
    try:
        body = Struct("TestModelMatchRequest", [
            Field("model_name", Str()),
            Field("usage", Map(Int("i64")), default=dict),
            Field("timestamp", Opt(Int("i64"))),
        ]).de(read_json(req))
    except SerdeError as err:
        raise shape_error(err) from None
    matched = _find_pricing(store, req.params["org"], body["model_name"], body["timestamp"])
    if matched is None:
        return json_response({"matched": None, "tier": None, "costs": {}, "total_cost": 0.0})
    usage = body["usage"]
    tiers = matched["tiers"]
    tier = next((t for t in tiers if t.get("condition") is not None and _holds(
        t["condition"]["operator"], float(usage.get(t["condition"]["usage_key"], 0)),
        t["condition"]["value"])), None) or next(
        (t for t in tiers if t.get("condition") is None), None)
    costs: dict[str, float] = {}
    if tier is not None:
        for key, count in usage.items():
            if key == "total" or count == 0 or key not in tier["prices"]:
                continue
            cost = count * tier["prices"][key]
            if cost > 0:
                costs[key] = cost
    return json_response({"matched": _written(matched),
                          "tier": tier["name"] if tier is not None else "",
                          "costs": costs, "total_cost": sum(costs.values())})


ROUTES = [
    ("{org}/llm/models", {"GET": list_definitions, "POST": create_definition}),
    ("{org}/llm/models/built-in", {"GET": built_in_catalogue}),
    ("{org}/llm/models/test", {"POST": test_model_match}),
    ("{org}/llm/models/{model_id}", {"GET": get_definition, "PUT": update_definition,
                                     "DELETE": delete_definition}),
]
