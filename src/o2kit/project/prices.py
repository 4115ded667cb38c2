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

Pure: no files, no environment. ``o2kit.project.loader`` reads the file and calls ``parse_prices``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

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
        """Money for these token counts, computed exactly like ``sql_cost_case``."""
        total = (
            input_tokens * self.input_per_1k
            + output_tokens * self.output_per_1k
            + cache_read_tokens * self.cache_read_per_1k
            + cache_write_tokens * self.cache_write_per_1k
        )
        return total / Decimal(1000)


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

    def sql_order(self) -> list[PriceRow]:
        """Rows most specific first: the order of the ``WHEN``s."""
        return sorted(self.models, key=lambda r: (_negate(r.specificity), r.match))


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
    if problems:
        raise ModelErrors(problems)
    return table


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

    def cost(row: PriceRow) -> str:
        terms = [
            f"{column} * {sql_num(price)}"
            for column, price in (
                (input_tokens, row.input_per_1k),
                (output_tokens, row.output_per_1k),
                (cache_read_tokens, row.cache_read_per_1k),
                (cache_write_tokens, row.cache_write_per_1k),
            )
            if price != 0
        ]
        return f"({' + '.join(terms)}) / 1000.0" if terms else "0.0"

    return sql_case(table, cost, **columns)


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
        self.unit: Mapping[str, str] = currency_unit(table.currency)

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

    def match_case(self, **columns: Any) -> str:
        return sql_match_case(self._table, **self._columns(columns))

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
        return sql_cost_case(self._table, *names, **self._columns(columns))

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
        return "\n".join(lines)
