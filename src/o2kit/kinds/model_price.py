"""The ``model_price`` kind: OpenObserve's LLM model pricing definitions (``/api/{org}/llm/models``,
src/api/management/src/request/model_pricing.rs), which price OTel LLM trace spans.

o2kit does not read these from files of their own: they are DERIVED from ``prices.yaml``
(``o2kit.project.prices.model_pricing_definitions``) when ``o2kit.yaml`` says ``prices_sync:
true``, so one price table prices both the dashboards' SQL and OpenObserve's LLM views. This
module holds what the server does with them (defaults, server-owned fields, the pattern syntax it
accepts) and how a live definition is written back as a ``prices.yaml`` row (``export``).

Key: the definition's ``name`` (unique per org: create refuses a taken name, 400 "A model pricing
definition with name '…' already exists in this organization"). The server assigns the ``id``
(a KSUID; create ignores a sent one) and addresses one definition by it. Only the org's own
definitions (``source == "org"``) are listed as this kind: the list also holds the ``_meta`` org's
and the built-in ones (read-only, 403 on PUT/DELETE), and nests shadowed definitions under
``children`` — flattened here (``RestApi.nested_key``). Ownership: the ``description`` line
(client-settable on org definitions, stored verbatim, omitted when empty).

Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from o2kit.kinds.spec import (
    MARKER_TEXT,
    Default,
    KindSpec,
    RestApi,
    _description_marker,
    _stamp_description,
    _strip_description_marker,
    _transform_at,
    _with_description_marker,
    _without,
)
from o2kit.model import Resource

_META = "src/config/src/meta/model_pricing.rs"
_API = "src/api/management/src/request/model_pricing.rs"

# Limits of validate_definition (src/api/management/src/request/model_pricing.rs).
NAME_MAX = 256
PATTERN_MAX = 512

# The usage keys OpenObserve prices for spans (src/config/src/meta/model_pricing.rs
# PricingTierDefinition.prices; src/core/src/traces/otel/processor.rs build_pricing_usage): input
# is the uncached input, cache tokens have keys of their own.
USAGE_INPUT = "input"
USAGE_OUTPUT = "output"
USAGE_CACHE_READ = "cache_read_input_tokens"
USAGE_CACHE_WRITE = "cache_creation_input_tokens"

# ``match_pattern`` is a Rust ``regex`` (src/db/src/model_pricing.rs build_entries), matched with
# ``is_match``: an UNANCHORED search. o2kit's rows are model-id prefixes compared with the id
# without its ARN prefix and, for base rows, without its geo prefix (o2kit.project.prices), so
# the pattern is anchored at the start and left open at the end (a prefix, not a substring: an
# unanchored ``anthropic\.claude`` would also price ``xanthropic.claude…``):
#   arn row   ``^<match>``
#   geo row   ``^(?:.*/)?<match>``                         (after an optional ARN prefix)
#   base row  ``^(?:.*/)?(?:(?:us|eu|…)\.)?<match>``       (…and an optional geo prefix)
# ``.*/`` is greedy like the SQL's ``regexp_replace(id, '^.*/', '')``. Model ids are made of
# letters, digits and ``. _ : / -``: only ``.`` is a metacharacter among them.
_ARN_PREFIX = "(?:.*/)?"


def escape(literal: str) -> str:
    """``literal`` as a Rust-regex literal (model ids have ``.``; the rest for safety)."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", literal)


def match_pattern(match: str, row_kind: str, geo_prefixes: tuple[str, ...]) -> str:
    """The ``match_pattern`` of a prices.yaml row (``row_kind``: arn, geo or base)."""
    if row_kind == "arn":
        return "^" + escape(match)
    if row_kind == "geo":
        return "^" + _ARN_PREFIX + escape(match)
    geos = "|".join(escape(g) for g in geo_prefixes)
    return "^" + _ARN_PREFIX + f"(?:(?:{geos})\\.)?" + escape(match)


_LITERAL = r"((?:[A-Za-z0-9_:/-]|\\\.)+)"
_PATTERN_FORMS = (
    re.compile(r"\^" + re.escape(_ARN_PREFIX) + r"\(\?:\(\?:[A-Za-z0-9_|\\.-]+\)\\\.\)\?"
               + _LITERAL),
    re.compile(r"\^" + re.escape(_ARN_PREFIX) + _LITERAL),
    re.compile(r"\^" + _LITERAL),
)


def match_of_pattern(pattern: str) -> str | None:
    """The prices.yaml ``match`` a pattern of one of the forms above stands for; None for any other
    regex (which a prefix row cannot express)."""
    for form in _PATTERN_FORMS:
        m = form.fullmatch(pattern)
        if m:
            return m.group(1).replace("\\.", ".")
    return None


# Constructs Python's ``re`` accepts but Rust's ``regex`` refuses (no look-around, no
# back-references, no possessive quantifiers or atomic groups: docs of the regex crate, "Syntax").
_RUST_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\(\?>|\\[1-9]|\(\?P=|[*+?}][+]")


def pattern_problem(pattern: str) -> str | None:
    """Why OpenObserve would refuse ``pattern`` (validate_definition: required, ≤ 512 characters,
    must compile), or None. Python's ``re`` stands in for Rust's ``regex``, with the constructs
    only Python has refused too."""
    if not pattern.strip():
        return "Match pattern is required"
    if len(pattern) > PATTERN_MAX:
        return f"Match pattern must be {PATTERN_MAX} characters or fewer"
    unsupported = _RUST_UNSUPPORTED.search(pattern)
    if unsupported:
        return (f"Invalid regex pattern: {unsupported.group(0)!r} (look-around, back-references "
                "and possessive/atomic groups are not supported by OpenObserve's Rust regex)")
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"Invalid regex pattern: {exc}"
    return None


def _check(resource: Resource) -> list[tuple[tuple[str | int, ...], str]]:
    body = resource.body
    out: list[tuple[tuple[str | int, ...], str]] = []
    name = str(body.get("name", ""))
    if not name.strip() or len(name) > NAME_MAX:
        out.append((("name",), f"must be 1 to {NAME_MAX} characters"))
    problem = pattern_problem(str(body.get("match_pattern", "")))
    if problem:
        out.append((("match_pattern",), problem))
    tiers = body.get("tiers") or []
    if not tiers or all(isinstance(t, dict) and t.get("condition") for t in tiers):
        out.append((("tiers",), "at least one tier must have no condition (default fallback)"))
    return out


def _payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    out = _without(desired.body, SERVER_OWNED)
    out["name"] = str(desired.body.get("name", desired.key[0]))
    out["description"] = _with_description_marker(desired.body.get("description", ""))
    return out


def _strip_marker(body: dict[str, Any]) -> None:
    _transform_at(body, "description", _strip_description_marker)


def _per_1k(value: Any) -> Decimal:
    """A per-token price (f64) as a per-1K price, without float noise (1e-06 → 0.001)."""
    return (Decimal(repr(float(value))) * 1000).normalize()


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def export_rows(bodies: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[str]]:
    """Live definitions as ``prices.yaml`` rows: one row per ``match``, a definition with a
    ``valid_from`` becoming a period of its row (from its UTC day). Returns the rows (match, YAML
    flow mapping) and, per definition a row cannot express, why it was left out."""
    problems: list[str] = []
    by_match: dict[str, list[tuple[int | None, dict[str, Any]]]] = {}
    for body in bodies:
        name = str(body.get("name", ""))
        pattern = str(body.get("match_pattern", ""))
        match = match_of_pattern(pattern)
        if match is None:
            problems.append(f'model_price "{name}": match_pattern {pattern!r} is not a model-id '
                            "prefix pattern, which prices.yaml cannot express; add its row by "
                            "hand")
            continue
        if body.get("enabled") is False:
            problems.append(f'model_price "{name}": disabled on the server; not exported')
            continue
        try:
            rates = _rates(body)
        except ValueError as exc:
            problems.append(f'model_price "{name}": {exc}')
            continue
        valid_from = body.get("valid_from")
        by_match.setdefault(match, []).append(
            (valid_from if isinstance(valid_from, int) else None, rates))
    rows: list[tuple[str, str]] = []
    for match, periods in sorted(by_match.items()):
        periods.sort(key=lambda p: (p[0] is not None, p[0] or 0))
        first, rest = periods[0][1], periods[1:]
        fields = {"match": json.dumps(match), **first}
        if periods[0][0] is not None:
            day = _day(periods[0][0])
            fields["note"] = json.dumps(f"OpenObserve: valid from {day}; earlier calls priced "
                                        "the same here")
        later: list[str] = []
        previous = first
        for valid_from, rates in rest:
            if valid_from is None or rates == previous:
                continue
            later.append("{" + ", ".join([f"from: {_day(valid_from)}", *(
                f"{k}: {v}" for k, v in rates.items())]) + "}")
            previous = rates
        if later:
            fields["periods"] = "[" + ", ".join(later) + "]"
        rows.append((match, "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"))
    return rows, problems


def _day(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1_000_000, UTC).date().isoformat()


def _rates(body: dict[str, Any]) -> dict[str, str]:
    """The prices.yaml fields of one definition's tiers (per 1K tokens, multipliers, tiers)."""
    tiers = [t for t in body.get("tiers") or [] if isinstance(t, dict)]
    default = next((t for t in tiers if not t.get("condition")), None)
    if default is None:
        raise ValueError("no unconditional tier")
    prices = default.get("prices") or {}
    unknown = sorted(set(prices) - {USAGE_INPUT, USAGE_OUTPUT, USAGE_CACHE_READ,
                                    USAGE_CACHE_WRITE})
    if unknown:
        raise ValueError(f"prices usage keys {unknown} have no prices.yaml column")
    price_in = _per_1k(prices.get(USAGE_INPUT, 0))
    out = {"input_per_1k": _number(price_in),
           "output_per_1k": _number(_per_1k(prices.get(USAGE_OUTPUT, 0)))}
    for key, column in ((USAGE_CACHE_READ, "cache_read_multiplier"),
                        (USAGE_CACHE_WRITE, "cache_write_multiplier")):
        if key in prices:
            cache = _per_1k(prices[key])
            if price_in == 0:
                if cache != 0:
                    raise ValueError(f"{key} is priced but input is free: no multiplier says so")
                continue
            mult = (cache / price_in).normalize()
            if mult != 1:
                out[column] = _number(mult)
    tier_texts = []
    for tier in tiers:
        condition = tier.get("condition")
        if not condition:
            continue
        operator, value = condition.get("operator", "gt"), condition.get("value", 0)
        if condition.get("usage_key") != USAGE_INPUT or operator not in ("gt", "gte") or (
                not float(value).is_integer()):
            raise ValueError(f"tier {tier.get('name', '')!r}: only 'input > N' tiers can be "
                             "written in prices.yaml")
        above = int(value) - (1 if operator == "gte" else 0)
        tier_prices = tier.get("prices") or {}
        tier_texts.append("{" + f"above_input_tokens: {above}, input_per_1k: "
                          f"{_number(_per_1k(tier_prices.get(USAGE_INPUT, 0)))}, output_per_1k: "
                          f"{_number(_per_1k(tier_prices.get(USAGE_OUTPUT, 0)))}" + "}")
    if tier_texts:
        out["tiers"] = "[" + ", ".join(tier_texts) + "]"
    return out


EXPORT_FILE = "prices.exported.yaml"


def _export_all(bodies: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The org's own definitions as one price table (``prices.exported.yaml``, to merge into
    prices.yaml by hand). Definitions that carry an o2kit marker are made from some project's
    prices.yaml already and are left out; so is what a prefix row cannot express."""
    reasons: list[str] = []
    chosen = []
    for body in bodies:
        if _description_marker(body).state != "none":
            reasons.append(f'model_price "{body.get("name", "")}": made by o2kit from a '
                           "prices.yaml (see its marker); not exported")
        else:
            chosen.append(body)
    rows, problems = export_rows(chosen)
    reasons.extend(problems)
    if not rows:
        return [], reasons
    stamps = [int(b.get("created_at") or 0) for b in chosen] + [
        int(b.get("updated_at") or 0) for b in chosen]
    first, last = _day(min(stamps)), _day(max(stamps))
    lines = [
        "# OpenObserve's LLM model prices of this org (/api/{org}/llm/models), exported by",
        "# `o2kit export` as prices.yaml rows: merge the rows you want into prices.yaml (the",
        "# table o2kit.yaml names). OpenObserve prices are USD per token; these are per 1,000.",
        "currency: USD",
        f"effective_date: {first}",
        f"checked_on: {last}",
        "source: exported from OpenObserve llm/models (the org's own definitions)",
        "models:",
        *(f"  - {row}" for _match, row in rows),
    ]
    return [(EXPORT_FILE, "\n".join(lines) + "\n")], reasons


SERVER_OWNED = ("id", "org_id", "source", "created_at", "updated_at", "children")

SPEC = KindSpec(
    kind="model_price",
    # After the alerts: nothing depends on a price, and it depends on nothing.
    order=60,
    key_fields=("name",),
    server_owned=SERVER_OWNED,
    defaults=(
        # ModelPricingDefinition is #[serde(default)]; enabled defaults to true; provider and
        # description are skipped when empty; valid_from when None.
        Default("enabled", True, _META),
        Default("sort_order", 0, _META),
        Default("provider", "", _META),
        Default("description", "", _META),
        Default("tiers", [], _META),
        Default("tiers[].name", "", _META),
        Default("tiers[].prices", {}, _META),
        Default("tiers[].condition.operator", "gt", _META),
    ),
    rewrites=(),
    order_insensitive=(),
    secret_paths=(),
    marker=f"description line {MARKER_TEXT!r}",
    _is_managed=lambda b: MARKER_TEXT in str(b.get("description") or ""),
    _strip_marker=_strip_marker,
    _payload=_payload,
    _marker_of=_description_marker,
    _stamp=_stamp_description,
    # Routes: src/api/http/src/handler/http/router/mod.rs:801-807; list = a bare JSON array of
    # this org's, the _meta org's and the built-in definitions (model_pricing.rs ``list``).
    api=RestApi("llm/models", id_field="id", nested_key="children",
                list_only=(("source", "org"),)),
    files=None,
    _live_key=lambda body: (str(body.get("name", "")),),
    _check=_check,
    _export_all=_export_all,
)
