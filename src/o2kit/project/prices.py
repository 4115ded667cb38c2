"""Token prices: the price table (``prices.yaml``), a Python lookup, and SQL matching alike.

The rule (reference bedrock-telemetry.md §7), implemented twice — ``PriceTable.price_for`` in
Python and ``sql_case`` for OpenObserve's SQL — and tested to agree:

1. ``raw``   = the model id as logged (a base id, an inference-profile id, or an ARN);
2. ``noarn`` = ``raw`` without an ARN prefix: everything up to the last ``/`` is dropped
   (``arn:…:inference-profile/us.anthropic…`` → ``us.anthropic…``);
3. ``base``  = ``noarn`` without a geo prefix (``us.``, ``eu.``, ``apac.``, ``jp.``, ``au.``,
   ``ca.``, ``us-gov.``, ``global.``).

A price row's ``match`` is a *prefix*. Which text it is compared with depends on its shape:

- ``arn:…``       → ``raw``   (application inference profiles, provisioned models: user mapping)
- ``global.…`` etc → ``noarn`` (a geo-specific price, e.g. Claude 4.5 ``global.`` is cheaper)
- anything else   → ``base``  (applies to the base id and to every geo profile of it)

Among matching rows the most specific wins: ARN rows first, then the longest base-id part, and
on equal base-id parts the geo-specific row. In SQL the ``WHEN``s are emitted in exactly that
order, so the first that matches is the winner. A model with no matching row has no price:
``price_for`` returns ``None`` and the SQL yields ``NULL`` (never 0).

Prices change over time and with the request's size (issue 12 item 4):

- **periods** — a row's own prices apply from the beginning of time; each entry of its
  ``periods:`` (``from: 2026-10-01``, UTC midnight) replaces them for calls from that day on, so
  last month's spend is priced at last month's prices. Cache multipliers and tiers a period does
  not write are the previous period's.
- **tiers** — ``tiers: [{above_input_tokens: 200000, input_per_1k: …, output_per_1k: …}]``: a call
  whose input (input + cache read + cache write tokens, as Bedrock's long-context prices and
  OpenObserve's tier selection count it: ``build_pricing_usage`` in
  src/core/src/traces/otel/processor.rs) is above the threshold is priced at the tier's prices;
  the highest threshold it is above wins. Cache tokens cost the tier's input price × multiplier.

The SQL picks the period by each row's ``_timestamp`` and the tier by each row's input, so the
token sums are grouped by (period start, tier threshold) before pricing and summed again after
(``TemplatePrices.keyed``). A table with neither renders exactly the SQL it did before.

Pure: no files, no environment. ``o2kit.project.loader`` reads the file and calls ``parse_prices``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from o2kit.kinds.model_price import (
    USAGE_CACHE_READ,
    USAGE_CACHE_WRITE,
    USAGE_INPUT,
    USAGE_OUTPUT,
    match_pattern,
)
from o2kit.project.render import (
    MODEL_ID_CHARS,
    currency_unit,
    decimal_text,
    mark_params,
    require_sql_fragment,
    sql_num,
    sql_str,
)
from o2kit.project.yamlsrc import LineIndex, ModelErrors, parse_as

# Longest first where one is a prefix of another (us-gov before us); the "." must follow.
GEO_PREFIXES: tuple[str, ...] = ("us-gov", "us", "eu", "apac", "jp", "au", "ca", "global")


@dataclass(frozen=True)
class ModelIdParts:
    raw: str
    noarn: str
    geo: str | None
    base: str


def strip_geo(text: str) -> tuple[str | None, str]:
    for geo in GEO_PREFIXES:
        if text.startswith(geo + "."):
            return geo, text[len(geo) + 1 :]
    return None, text


def split_model_id(model_id: str) -> ModelIdParts:
    noarn = model_id.rsplit("/", 1)[-1]
    geo, base = strip_geo(noarn)
    return ModelIdParts(raw=model_id, noarn=noarn, geo=geo, base=base)


def _price(value: Any) -> Decimal:
    # YAML gives int or float; Decimal(repr(float)) keeps the number as written (0.00025).
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite() or number < 0:
        raise ValueError("must be a finite number ≥ 0")
    return number


Price = Annotated[Decimal, BeforeValidator(_price)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceTier(_Strict):
    """Prices for calls whose input is above ``above_input_tokens`` (long-context prices)."""

    above_input_tokens: int = Field(gt=0)
    input_per_1k: Price
    output_per_1k: Price
    note: str = ""


class PricePeriod(_Strict):
    """A row's prices from ``from`` (a UTC day) on; unwritten multipliers and tiers carry over."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: date = Field(alias="from")
    input_per_1k: Price
    output_per_1k: Price
    cache_read_multiplier: Price | None = None
    cache_write_multiplier: Price | None = None
    tiers: list[PriceTier] | None = None
    note: str = ""


@dataclass(frozen=True)
class Rates:
    """The prices of one row in one period: base prices, cache multipliers, tiers (highest
    threshold first). ``start`` None: since the beginning of time."""

    start: date | None
    input_per_1k: Decimal
    output_per_1k: Decimal
    cache_read_multiplier: Decimal
    cache_write_multiplier: Decimal
    tiers: tuple[PriceTier, ...]

    def prices_for_input(self, context_input: int) -> tuple[Decimal, Decimal]:
        """(input, output) per 1K for a call with this much input (incl. cache tokens)."""
        for tier in self.tiers:
            if context_input > tier.above_input_tokens:
                return tier.input_per_1k, tier.output_per_1k
        return self.input_per_1k, self.output_per_1k

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int,
             cache_write_tokens: int) -> Decimal:
        """Money for one call (the tier is chosen by this call's input)."""
        price_in, price_out = self.prices_for_input(
            input_tokens + cache_read_tokens + cache_write_tokens)
        return _cost(price_in, price_out, self.cache_read_multiplier,
                     self.cache_write_multiplier, input_tokens, output_tokens,
                     cache_read_tokens, cache_write_tokens)


def _cost(price_in: Decimal, price_out: Decimal, read_mult: Decimal, write_mult: Decimal,
          input_tokens: int, output_tokens: int, cache_read_tokens: int,
          cache_write_tokens: int) -> Decimal:
    total = (
        input_tokens * price_in
        + output_tokens * price_out
        + cache_read_tokens * (price_in * read_mult)
        + cache_write_tokens * (price_in * write_mult)
    )
    return total / Decimal(1000)


def day_start_us(day: date) -> int:
    """Microseconds since the epoch of ``day``'s UTC midnight (OpenObserve's ``_timestamp``)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


class PriceRow(_Strict):
    """One row of prices.yaml: prices per 1,000 tokens for model ids starting with ``match``."""

    match: str
    input_per_1k: Price
    output_per_1k: Price
    # Cache tokens are billed as a multiple of the input price (Claude: read 0.10, write 1.25;
    # Nova: read 0.25). Without a value they are billed like input tokens.
    cache_read_multiplier: Price = Decimal(1)
    cache_write_multiplier: Price = Decimal(1)
    note: str = ""
    # Long-context prices, and later prices (see the module docstring).
    tiers: list[PriceTier] = Field(default_factory=list)
    periods: list[PricePeriod] = Field(default_factory=list)

    @field_validator("match")
    @classmethod
    def _check_match(cls, value: str) -> str:
        if not value or not MODEL_ID_CHARS.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a model id prefix (letters, digits and . _ : / - only)"
            )
        if not value.startswith("arn:"):
            geo, base = strip_geo(value)
            if geo is not None and not base:
                raise ValueError(f"{value!r} names only a geo prefix; add the model id")
            if "/" in value:
                raise ValueError(f"{value!r}: only ARN patterns (arn:…) may contain '/'")
        return value

    @property
    def kind(self) -> str:
        """``arn``, ``geo`` or ``base``: which form of the model id this row is compared with."""
        if self.match.startswith("arn:"):
            return "arn"
        return "geo" if strip_geo(self.match)[0] is not None else "base"

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Bigger wins: ARN rows, then the longer base-id part, then geo-specific rows."""
        if self.kind == "arn":
            return (1, len(self.match), 0)
        return (0, len(strip_geo(self.match)[1]), 1 if self.kind == "geo" else 0)

    def matches(self, parts: ModelIdParts) -> bool:
        text = {"arn": parts.raw, "geo": parts.noarn, "base": parts.base}[self.kind]
        return text.startswith(self.match)

    @property
    def cache_read_per_1k(self) -> Decimal:
        return self.input_per_1k * self.cache_read_multiplier

    @property
    def cache_write_per_1k(self) -> Decimal:
        return self.input_per_1k * self.cache_write_multiplier

    def cost(
        self, input_tokens: int, output_tokens: int, cache_read_tokens: int, cache_write_tokens: int
    ) -> Decimal:
        """Money for these token counts at the row's own prices (first period, no tier)."""
        return _cost(self.input_per_1k, self.output_per_1k, self.cache_read_multiplier,
                     self.cache_write_multiplier, input_tokens, output_tokens,
                     cache_read_tokens, cache_write_tokens)

    def schedule(self) -> list[Rates]:
        """The row's prices per period, oldest first; the first has ``start`` None."""
        rates = [Rates(None, self.input_per_1k, self.output_per_1k, self.cache_read_multiplier,
                       self.cache_write_multiplier, _by_threshold(self.tiers))]
        for period in self.periods:
            before = rates[-1]
            rates.append(Rates(
                period.from_, period.input_per_1k, period.output_per_1k,
                before.cache_read_multiplier if period.cache_read_multiplier is None
                else period.cache_read_multiplier,
                before.cache_write_multiplier if period.cache_write_multiplier is None
                else period.cache_write_multiplier,
                before.tiers if period.tiers is None else _by_threshold(period.tiers),
            ))
        return rates

    def rates_at(self, when: datetime) -> Rates:
        """The prices of a call at ``when`` (aware; UTC days)."""
        day = when.astimezone(UTC).date()
        chosen = self.schedule()[0]
        for rates in self.schedule()[1:]:
            if rates.start is not None and rates.start <= day:
                chosen = rates
        return chosen


class PriceTable(_Strict):
    """``prices.yaml``. A default shipped with o2kit; users edit it (and must, for their deal)."""

    currency: str
    effective_date: date
    # Provenance: where the numbers come from and when someone last compared them with it.
    source: str
    checked_on: date
    models: list[PriceRow] = Field(default_factory=list)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError("use an ISO 4217 code such as USD or EUR")
        return value

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say where the prices come from")
        return value

    def price_for(self, model_id: str) -> PriceRow | None:
        """The row that prices ``model_id``, or None when no row matches (the model is unpriced)."""
        parts = split_model_id(model_id)
        best: PriceRow | None = None
        for row in self.models:
            if row.matches(parts) and (best is None or row.specificity > best.specificity):
                best = row
        return best

    def cost_at(self, model_id: str, when: datetime, input_tokens: int, output_tokens: int,
                cache_read_tokens: int, cache_write_tokens: int) -> Decimal | None:
        """Money for one call of ``model_id`` at ``when``; None when the model is unpriced."""
        row = self.price_for(model_id)
        if row is None:
            return None
        return row.rates_at(when).cost(input_tokens, output_tokens, cache_read_tokens,
                                       cache_write_tokens)

    @property
    def period_starts(self) -> list[date]:
        """Every day on which some row's prices change, oldest first."""
        return sorted({p.from_ for row in self.models for p in row.periods})

    @property
    def tier_thresholds(self) -> list[int]:
        """Every tier threshold of the table, smallest first."""
        return sorted({t.above_input_tokens for row in self.models for rates in row.schedule()
                       for t in rates.tiers})

    def sql_order(self) -> list[PriceRow]:
        """Rows most specific first: the order of the ``WHEN``s."""
        return sorted(self.models, key=lambda r: (_negate(r.specificity), r.match))


def _by_threshold(tiers: list[PriceTier]) -> tuple[PriceTier, ...]:
    return tuple(sorted(tiers, key=lambda t: -t.above_input_tokens))


def coverage(table: PriceTable, model_ids: list[str]) -> tuple[list[int], list[str]]:
    """Against the model ids seen in the data: the rows (indexes) that price none of them, and
    the ids no row prices."""
    used: set[str] = set()
    unpriced: list[str] = []
    for model_id in model_ids:
        row = table.price_for(model_id)
        if row is None:
            unpriced.append(model_id)
        else:
            used.add(row.match)
    unused = [i for i, row in enumerate(table.models) if row.match not in used]
    return unused, sorted(unpriced)


def _negate(key: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(-k for k in key)


def parse_prices(data: Any, index: LineIndex) -> PriceTable:
    """Validate loaded YAML; raises ``o2kit.project.yamlsrc.ModelErrors`` with file:line
    problems."""
    table = parse_as(PriceTable, data, index)
    first: dict[str, int] = {}
    problems = []
    for i, row in enumerate(table.models):
        if row.match in first:
            problems.append(
                index.problem(
                    ("models", i, "match"),
                    f"{row.match!r} is already priced by models[{first[row.match]}]",
                )
            )
        first.setdefault(row.match, i)
        problems.extend(_schedule_problems(row, ("models", i), index))
    if problems:
        raise ModelErrors(problems)
    return table


def _schedule_problems(row: PriceRow, at: tuple[str | int, ...], index: LineIndex) -> list[Any]:
    """Periods oldest first and one tier per threshold, each problem at its own line."""
    problems = []
    tier_lists: list[tuple[tuple[str | int, ...], list[PriceTier]]] = [(at, row.tiers)]
    for j, period in enumerate(row.periods):
        if period.tiers is not None:
            tier_lists.append(((*at, "periods", j), period.tiers))
        if j and period.from_ <= row.periods[j - 1].from_:
            problems.append(index.problem(
                (*at, "periods", j, "from"),
                f"{period.from_.isoformat()} must be after the previous period's "
                f"{row.periods[j - 1].from_.isoformat()} (periods are listed oldest first)"))
    for where, tiers in tier_lists:
        seen: dict[int, int] = {}
        for k, tier in enumerate(tiers):
            if tier.above_input_tokens in seen:
                problems.append(index.problem(
                    (*where, "tiers", k, "above_input_tokens"),
                    f"tiers[{seen[tier.above_input_tokens]}] already starts above "
                    f"{tier.above_input_tokens} input tokens"))
            seen.setdefault(tier.above_input_tokens, k)
    return problems


# --------------------------------------------------------------------------------------------
# OpenObserve's model pricing definitions (kind ``model_price``), derived from the table.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DerivedDefinition:
    """One ``/llm/models`` definition made from row ``row`` of the table."""

    row: int
    name: str
    body: dict[str, Any]


def _overlaps(a: PriceRow, b: PriceRow) -> bool:
    """Whether some model id could match both rows (conservative: True when unsure)."""
    if (a.kind == "arn") != (b.kind == "arn"):
        return True  # a base/geo pattern also matches an ARN ending in that id
    if a.kind == "arn":
        return a.match.startswith(b.match) or b.match.startswith(a.match)
    geo_a, base_a = strip_geo(a.match)
    geo_b, base_b = strip_geo(b.match)
    if geo_a is not None and geo_b is not None and geo_a != geo_b:
        return False
    return base_a.startswith(base_b) or base_b.startswith(base_a)


def _per_token(per_1k: Decimal) -> float:
    return float(per_1k / Decimal(1000))


def _tier_prices(price_in: Decimal, price_out: Decimal, rates: Rates) -> dict[str, float]:
    return {
        USAGE_INPUT: _per_token(price_in),
        USAGE_OUTPUT: _per_token(price_out),
        USAGE_CACHE_READ: _per_token(price_in * rates.cache_read_multiplier),
        USAGE_CACHE_WRITE: _per_token(price_in * rates.cache_write_multiplier),
    }


def model_pricing_definitions(table: PriceTable) -> list[DerivedDefinition]:
    """The table as OpenObserve model pricing definitions, so its LLM trace views price spans as
    the dashboards do (src/db/src/model_pricing.rs ``find_pricing_sync_at``):

    - ``match_pattern`` anchors the row's prefix (``kinds.model_price.match_pattern``);
    - the most specific row wins: ``sort_order`` is the row's place in ``sql_order`` (lower wins
      among definitions of equal ``valid_from``);
    - a period is a definition with ``valid_from`` = its day's UTC midnight (µs); the row's own
      prices have none (valid for all time, like the SQL's ``ELSE``). But OpenObserve prefers the
      GREATEST ``valid_from`` among all matching definitions before looking at ``sort_order``:
      a broad row's later period would beat a narrower row. So a row also gets a definition at
      every period start of a broader row it overlaps (its own prices of that day), which keeps
      the most specific row the winner at every time;
    - tiers: the row's prices as the unconditional tier, each tier as ``input > N`` (OpenObserve
      selects tiers on input incl. cache tokens, src/core/src/traces/otel/processor.rs
      ``build_pricing_usage``), highest threshold first (the first matching tier wins);
    - prices per token: input, output, cache read and write (input × multiplier).
    """
    ordered = table.sql_order()
    rank = {row.match: i for i, row in enumerate(ordered)}
    index = {row.match: i for i, row in enumerate(table.models)}
    out: list[DerivedDefinition] = []
    for row in ordered:
        starts = {p.from_ for p in row.periods}
        for other in ordered:
            if other.specificity < row.specificity and _overlaps(row, other):
                starts |= {p.from_ for p in other.periods}
        description = f"prices.yaml row {row.match}" + (f": {row.note}" if row.note else "")
        for start in (None, *sorted(starts)):
            rates = row.schedule()[0] if start is None else row.rates_at(
                datetime(start.year, start.month, start.day, tzinfo=UTC))
            tiers: list[dict[str, Any]] = [{
                "name": "default",
                "prices": _tier_prices(rates.input_per_1k, rates.output_per_1k, rates),
            }]
            for tier in rates.tiers:
                tiers.append({
                    "name": f"input > {tier.above_input_tokens}",
                    "condition": {"usage_key": USAGE_INPUT, "operator": "gt",
                                  "value": tier.above_input_tokens},
                    "prices": _tier_prices(tier.input_per_1k, tier.output_per_1k, rates),
                })
            body: dict[str, Any] = {
                "name": row.match if start is None else f"{row.match} from {start.isoformat()}",
                "match_pattern": match_pattern(row.match, row.kind, GEO_PREFIXES),
                "enabled": True,
                "tiers": tiers,
                "sort_order": rank[row.match],
                "description": description,
            }
            if start is not None:
                body["valid_from"] = day_start_us(start)
            out.append(DerivedDefinition(index[row.match], body["name"], body))
    return out


# --------------------------------------------------------------------------------------------
# SQL: the same matching, for OpenObserve (DataFusion, PostgreSQL dialect).
# --------------------------------------------------------------------------------------------

# `.*` is greedy, so this drops everything up to the LAST "/", like rsplit("/", 1)[-1].
_ARN_STRIP = "'^.*/'"
# `[.]` rather than `\.` so the pattern means the same whatever the string-escape rules are.
_GEO_STRIP = "'^(" + "|".join(GEO_PREFIXES) + ")[.]'"


def sql_noarn(model: str) -> str:
    return f"regexp_replace({model}, {_ARN_STRIP}, '')"


def sql_base(model: str) -> str:
    return f"regexp_replace({sql_noarn(model)}, {_GEO_STRIP}, '')"


def sql_model_columns(
    model: str = "model_id", noarn: str = "model_noarn", base: str = "model_base"
) -> str:
    """Select-list items computing the two normalised forms of ``model`` that the CASE reads."""
    return f"{sql_noarn(model)} AS {noarn}, {sql_base(model)} AS {base}"


def sql_case(
    table: PriceTable,
    then: Callable[[PriceRow], str],
    *,
    model: str = "model_id",
    noarn: str = "model_noarn",
    base: str = "model_base",
    indent: int = 0,
) -> str:
    """``CASE WHEN <row matches> THEN then(row) … ELSE NULL END``, most specific row first."""
    column = {"arn": model, "geo": noarn, "base": base}
    pad = " " * indent
    lines = ["CASE"]
    for row in table.sql_order():
        lines.append(
            f"{pad}  WHEN starts_with({column[row.kind]}, {sql_str(row.match)}) THEN {then(row)}"
        )
    lines.append(f"{pad}  ELSE NULL")
    lines.append(f"{pad}END")
    return "\n".join(lines)


def sql_match_case(table: PriceTable, **columns: Any) -> str:
    """The ``match`` of the row that prices each model (NULL when unpriced)."""
    return sql_case(table, lambda row: sql_str(row.match), **columns)


def sql_cost_case(
    table: PriceTable,
    input_tokens: str,
    output_tokens: str,
    cache_read_tokens: str,
    cache_write_tokens: str,
    **columns: Any,
) -> str:
    """Money for the four token columns, per model; NULL for an unpriced model."""

    def money(price_in: Decimal, price_out: Decimal, rates: Rates) -> str:
        terms = [
            f"{column} * {sql_num(price)}"
            for column, price in (
                (input_tokens, price_in),
                (output_tokens, price_out),
                (cache_read_tokens, price_in * rates.cache_read_multiplier),
                (cache_write_tokens, price_in * rates.cache_write_multiplier),
            )
            if price != 0
        ]
        return f"({' + '.join(terms)}) / 1000.0" if terms else "0.0"

    return _sql_priced_case(table, money, **columns)


def _sql_priced_case(
    table: PriceTable, money: Callable[[Decimal, Decimal, Rates], str], **columns: Any
) -> str:
    """Per model, ``money(input price, output price, rates)`` at the row's price: a CASE over the
    ``price_from`` period and the ``tier_floor`` tier when the row has them (NULL when unpriced)."""

    def tiered(rates: Rates) -> str:
        base = money(rates.input_per_1k, rates.output_per_1k, rates)
        if not rates.tiers:
            return base
        whens = [f"WHEN {TIER_COLUMN} >= {tier.above_input_tokens} THEN "
                 + money(tier.input_per_1k, tier.output_per_1k, rates) for tier in rates.tiers]
        return f"CASE {' '.join(whens)} ELSE {base} END"

    def priced(row: PriceRow) -> str:
        schedule = row.schedule()
        if len(schedule) == 1:
            return tiered(schedule[0])
        whens = [f"WHEN {PERIOD_COLUMN} >= {day_start_us(rates.start)} THEN {tiered(rates)}"
                 for rates in reversed(schedule[1:]) if rates.start is not None]
        return f"CASE {' '.join(whens)} ELSE {tiered(schedule[0])} END"

    return sql_case(table, priced, **columns)


# The grouping columns of a table with periods or tiers (``TemplatePrices.key_columns``): the
# start (µs) of the latest period boundary at or before the row's _timestamp (0 before the first),
# and the highest tier threshold the row's input is above (0 when none).
PERIOD_COLUMN = "price_from"
TIER_COLUMN = "tier_floor"


def sql_key_columns(table: PriceTable, timestamp: str, context_input: str) -> list[str]:
    """Select-list items computing ``price_from`` / ``tier_floor`` per row (only those the table
    needs; none for a table without periods and tiers)."""
    out = []
    starts = table.period_starts
    if starts:
        whens = " ".join(f"WHEN {timestamp} >= {day_start_us(d)} THEN {day_start_us(d)}"
                         for d in reversed(starts))
        out.append(f"CASE {whens} ELSE 0 END AS {PERIOD_COLUMN}")
    thresholds = table.tier_thresholds
    if thresholds:
        whens = " ".join(f"WHEN {context_input} > {t} THEN {t}" for t in reversed(thresholds))
        out.append(f"CASE {whens} ELSE 0 END AS {TIER_COLUMN}")
    return out


def sql_cache_saving_case(
    table: PriceTable, cache_read_tokens: str, cache_write_tokens: str, **columns: Any
) -> str:
    """Money prompt caching saved per model, NULL for an unpriced model: cache-read tokens billed
    at the cache-read price instead of the input price they would otherwise have cost
    (``cache read × (input − cache read price)``), less what cache writes cost over the input
    price (``cache write × (cache write price − input)``, Claude's 25 % premium). With periods
    or tiers the input price is the one :func:`sql_cost_case` picks (``price_from`` /
    ``tier_floor`` columns)."""

    def money(price_in: Decimal, _price_out: Decimal, rates: Rates) -> str:
        read = price_in * (1 - rates.cache_read_multiplier)
        write = price_in * (rates.cache_write_multiplier - 1)
        terms = []
        if read != 0:
            terms.append(f"{cache_read_tokens} * {sql_num(read)}")
        if write != 0:
            terms.append(f"0 - {cache_write_tokens} * {sql_num(write)}")
        return f"({' + '.join(terms)}) / 1000.0" if terms else "0.0"

    return _sql_priced_case(table, money, **columns)


class TemplatePrices:
    """What templates see as ``prices``: provenance for labels, and SQL generators.

    The generators paste column names, so they accept only SQL written in the template (never a
    parameter value, see ``o2kit.project.render.require_sql_fragment``)."""

    def __init__(self, table: PriceTable) -> None:
        self._table = table
        self.currency = mark_params(table.currency)
        self.effective_date = mark_params(table.effective_date.isoformat())
        self.checked_on = mark_params(table.checked_on.isoformat())
        self.source = mark_params(table.source)
        self.rows = len(table.models)
        self._unit = currency_unit(table.currency)
        # The SQL generators' results by their arguments: every dashboard of a project asks for
        # the same CASE expressions, and the table does not change while this object lives (one
        # object serves every render of a project: nothing a template can reach here is mutable).
        self._sql: dict[tuple[Any, ...], str] = {}
        self._keyed = bool(table.period_starts or table.tier_thresholds)
        names = []
        if table.period_starts:
            names.append(PERIOD_COLUMN)
        if table.tier_thresholds:
            names.append(TIER_COLUMN)
        self._key_names = "".join(f", {n}" for n in names)

    @property
    def unit(self) -> Mapping[str, str]:
        """Panel config keys that show money (a new dict each time: a template may change it)."""
        return dict(self._unit)

    def _columns(self, names: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in names.items():
            if key == "indent":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("indent must be a non-negative integer")
                out[key] = value
            elif key in ("model", "noarn", "base"):
                out[key] = require_sql_fragment(value, f"prices: {key}")
            else:
                raise TypeError(f"prices: unexpected argument {key!r}")
        return out

    def model_columns(self, model: str = "model_id") -> str:
        return sql_model_columns(require_sql_fragment(model, "prices.model_columns"))

    @property
    def keyed(self) -> bool:
        """True when the table has periods or tiers: token sums must then be grouped by
        ``key_names`` before pricing (each row's time and input decide its price)."""
        return self._keyed

    @property
    def key_names(self) -> str:
        """``, price_from, tier_floor`` (the ones the table needs), to append to a column list."""
        return self._key_names

    def key_columns(self, timestamp: str, context_input: str) -> str:
        """``, <expr> AS price_from, <expr> AS tier_floor`` computed from a raw row:
        ``timestamp`` its time (µs), ``context_input`` its input incl. cache tokens."""
        names = (require_sql_fragment(timestamp, "prices.key_columns"),
                 require_sql_fragment(context_input, "prices.key_columns"))
        key = ("key", *names)
        if key not in self._sql:
            items = sql_key_columns(self._table, *names)
            self._sql[key] = "".join(f", {item}" for item in items)
        return self._sql[key]

    def match_case(self, **columns: Any) -> str:
        checked = self._columns(columns)
        key = ("match", *sorted(checked.items()))
        if key not in self._sql:
            self._sql[key] = sql_match_case(self._table, **checked)
        return self._sql[key]

    def cost_case(
        self,
        input_tokens: str,
        output_tokens: str,
        cache_read_tokens: str,
        cache_write_tokens: str,
        **columns: Any,
    ) -> str:
        names = [
            require_sql_fragment(c, "prices.cost_case")
            for c in (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        ]
        checked = self._columns(columns)
        key = ("cost", *names, *sorted(checked.items()))
        if key not in self._sql:
            self._sql[key] = sql_cost_case(self._table, *names, **checked)
        return self._sql[key]

    def cache_saving_case(
        self, cache_read_tokens: str, cache_write_tokens: str, **columns: Any
    ) -> str:
        names = [
            require_sql_fragment(c, "prices.cache_saving_case")
            for c in (cache_read_tokens, cache_write_tokens)
        ]
        checked = self._columns(columns)
        key = ("saving", *names, *sorted(checked.items()))
        if key not in self._sql:
            self._sql[key] = sql_cache_saving_case(self._table, *names, **checked)
        return self._sql[key]

    def table_markdown(self) -> str:
        """A short Markdown account of the table, for a dashboard panel."""
        lines = [
            f"**Prices** in {self._table.currency} per 1,000 tokens, effective "
            f"{self._table.effective_date.isoformat()}, checked on "
            f"{self._table.checked_on.isoformat()}.",
            "",
            f"Source: {self._table.source.strip()}",
            "",
            f"{len(self._table.models)} price rows (prices.yaml). Models that match no row are "
            "shown as **unpriced**: their tokens are counted, their cost is left empty, never 0.",
            "",
            "| match | input / 1K | output / 1K |",
            "|---|---|---|",
        ]
        for row in self._table.sql_order():
            lines.append(
                f"| `{row.match}` | {decimal_text(row.input_per_1k)} | "
                f"{decimal_text(row.output_per_1k)} |"
            )
        changes = []
        for row in self._table.sql_order():
            for rates in row.schedule():
                if rates.start is not None:
                    when = f"from {rates.start.isoformat()}"
                    changes.append(f"- `{row.match}` {when}: {decimal_text(rates.input_per_1k)}"
                                   f" / {decimal_text(rates.output_per_1k)}")
                else:
                    when = (f"before {row.periods[0].from_.isoformat()}" if row.periods
                            else "always")
                for tier in rates.tiers:
                    changes.append(f"- `{row.match}` ({when}), "
                                   f"calls above {tier.above_input_tokens} input tokens: "
                                   f"{decimal_text(tier.input_per_1k)} / "
                                   f"{decimal_text(tier.output_per_1k)}")
        if changes:
            lines += ["", "Later prices and long-context tiers (input / output per 1K, each call "
                      "priced at its own day's and size's prices):", "", *changes]
        return "\n".join(lines)
