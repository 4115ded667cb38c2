"""Price table: the Python lookup and the SQL CASE expressions must pick the same row for every
model id, and compute the same money."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from sqlglot import exp

from o2kit.project.prices import (
    PriceTable,
    parse_prices,
    split_model_id,
    sql_cost_case,
    sql_match_case,
    sql_model_columns,
)
from o2kit.project.yamlsrc import ModelErrors, load_yaml

REPO = Path(__file__).resolve().parents[1]

# A table with the awkward cases: geo rows more specific than base rows, a short base row that is
# a prefix of a longer one, an ARN mapping, and multipliers.
TABLE = PriceTable.model_validate(
    {
        "currency": "USD",
        "effective_date": "2026-08-01",
        "checked_on": "2026-08-21",
        "source": "test",
        "models": [
            {"match": "anthropic.claude", "input_per_1k": 0.1, "output_per_1k": 0.2},
            {
                "match": "anthropic.claude-3-5-haiku-20241022",
                "input_per_1k": 0.0008,
                "output_per_1k": 0.004,
                "cache_read_multiplier": 0.1,
                "cache_write_multiplier": 1.25,
            },
            {
                "match": "anthropic.claude-sonnet-4-5",
                "input_per_1k": 0.0033,
                "output_per_1k": 0.0165,
            },
            {
                "match": "global.anthropic.claude-sonnet-4-5",
                "input_per_1k": 0.003,
                "output_per_1k": 0.015,
            },
            {"match": "global.anthropic.claude", "input_per_1k": 0.5, "output_per_1k": 0.5},
            {
                "match": "us-gov.anthropic.claude-3-5-haiku",
                "input_per_1k": 0.7,
                "output_per_1k": 0.7,
            },
            {
                "match": "amazon.nova-pro-v1",
                "input_per_1k": 0.0008,
                "output_per_1k": 0.0032,
                "cache_read_multiplier": 0.25,
            },
            {"match": "amazon.titan-embed-text-v2", "input_per_1k": 0.00002, "output_per_1k": 0},
            {
                "match": "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc",
                "input_per_1k": 9,
                "output_per_1k": 9,
            },
        ],
    }
)

EXPECTED = {
    "anthropic.claude-3-5-haiku-20241022-v1:0": "anthropic.claude-3-5-haiku-20241022",
    "us.anthropic.claude-3-5-haiku-20241022-v1:0": "anthropic.claude-3-5-haiku-20241022",
    "eu.anthropic.claude-3-5-haiku-20241022-v1:0": "anthropic.claude-3-5-haiku-20241022",
    # the us-gov. row names a shorter model-id part than the base row: the base row is more specific
    "us-gov.anthropic.claude-3-5-haiku-20241022-v1:0": "anthropic.claude-3-5-haiku-20241022",
    "us-gov.anthropic.claude-3-5-haiku-20240101-v1:0": "us-gov.anthropic.claude-3-5-haiku",
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0": "global.anthropic.claude-sonnet-4-5",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0": "anthropic.claude-sonnet-4-5",
    "anthropic.claude-sonnet-4-5-20250929-v1:0": "anthropic.claude-sonnet-4-5",
    # the global. row for "anthropic.claude" is less specific than the longer base row …
    "global.anthropic.claude-3-5-haiku-20241022-v1:0": "anthropic.claude-3-5-haiku-20241022",
    # … but beats the base row of equal length
    "global.anthropic.claude-3-opus": "global.anthropic.claude",
    "apac.anthropic.claude-3-opus": "anthropic.claude",
    "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0": "amazon.nova-pro-v1",
    "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.amazon.nova-pro-v1:0": (
        "amazon.nova-pro-v1"
    ),
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc": (
        "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc"
    ),
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/xyz": None,
    "meta.llama3-70b-instruct-v1:0": None,
    "amazon.nova-pro": None,  # shorter than the row's prefix
    "xanthropic.claude": None,  # a prefix match, not a substring match
    "us.": None,
    "": None,
    "global.": None,
    "anthropic.claude": "anthropic.claude",
}


def test_price_for_picks_the_most_specific_row() -> None:
    for model_id, match in EXPECTED.items():
        row = TABLE.price_for(model_id)
        assert (row.match if row else None) == match, model_id


def test_split_model_id() -> None:
    parts = split_model_id("arn:aws:bedrock:us-east-1:1:inference-profile/us-gov.meta.llama3-8b")
    assert (parts.noarn, parts.geo, parts.base) == (
        "us-gov.meta.llama3-8b",
        "us-gov",
        "meta.llama3-8b",
    )


# ------------------------------------------------------------------------------------------
# A small evaluator for the SQL the generators emit — independent of o2kit.project.prices, so the
# test
# compares two implementations. Unknown node types fail the test rather than being guessed.
# ------------------------------------------------------------------------------------------


def evaluate(node: exp.Expression, row: dict[str, Any]) -> Any:
    if isinstance(node, exp.Alias | exp.Paren):
        return evaluate(node.this, row)
    if isinstance(node, exp.Column):
        return row[node.name]
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else Decimal(node.this)
    if isinstance(node, exp.Case):
        for branch in node.args["ifs"]:
            if evaluate(branch.this, row) is True:
                return evaluate(branch.args["true"], row)
        default = node.args.get("default")
        return evaluate(default, row) if default is not None else None
    if isinstance(node, exp.StartsWith):
        text, prefix = evaluate(node.this, row), evaluate(node.expression, row)
        return None if text is None or prefix is None else text.startswith(prefix)
    if isinstance(node, exp.RegexpReplace):
        text = evaluate(node.this, row)
        pattern = evaluate(node.expression, row)
        replacement = evaluate(node.args["replacement"], row)
        # DataFusion's regexp_replace without the 'g' flag replaces the first match only.
        return re.sub(pattern, replacement, text, count=1)
    if isinstance(node, exp.Add | exp.Mul | exp.Div):
        left, right = evaluate(node.this, row), evaluate(node.expression, row)
        if left is None or right is None:
            return None
        if isinstance(node, exp.Add):
            return left + right
        return left * right if isinstance(node, exp.Mul) else left / right
    raise AssertionError(f"evaluator does not know {type(node).__name__}: {node.sql()}")


def sql_row(model_id: str, **tokens: int) -> dict[str, Any]:
    select = sqlglot.parse_one(f"SELECT {sql_model_columns('model_id')}", read="postgres")
    row: dict[str, Any] = {"model_id": model_id, **{k: Decimal(v) for k, v in tokens.items()}}
    for item in select.selects:
        row[item.alias] = evaluate(item, row)
    return row


def _ids_for(table: PriceTable) -> list[str]:
    ids = set(EXPECTED)
    for row in table.models:
        for prefix in ("", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global."):
            for suffix in ("", "-v1:0", "-20250101-v2:0", "x"):
                ids.add(prefix + row.match + suffix)
                ids.add(
                    f"arn:aws:bedrock:us-west-2:111122223333:inference-profile/{prefix}{row.match}{suffix}"
                )
        ids.add(row.match[:-1])
    return sorted(ids)


def _agree(table: PriceTable) -> int:
    match_case = sqlglot.parse_one(sql_match_case(table), read="postgres")
    cost_case = sqlglot.parse_one(
        sql_cost_case(table, "in_tok", "out_tok", "cr_tok", "cw_tok"), read="postgres"
    )
    tokens = {"in_tok": 1234, "out_tok": 567, "cr_tok": 89, "cw_tok": 10}
    checked = 0
    for model_id in _ids_for(table):
        row = sql_row(model_id, **tokens)
        python = table.price_for(model_id)
        assert evaluate(match_case, row) == (python.match if python else None), model_id
        expected_cost = python.cost(1234, 567, 89, 10) if python else None
        assert evaluate(cost_case, row) == expected_cost, model_id
        checked += 1
    return checked


def test_sql_case_agrees_with_python_lookup() -> None:
    assert _agree(TABLE) > 300


def test_shipped_price_table_sql_agrees_with_python() -> None:
    data, index = load_yaml((REPO / "prices.yaml").read_text(encoding="utf-8"), "prices.yaml")
    table = parse_prices(data, index)
    assert _agree(table) > 1000
    cases = {
        "us.anthropic.claude-3-5-haiku-20241022-v1:0": ("0.0008", "0.004"),
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0": ("0.003", "0.015"),
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0": ("0.0033", "0.0165"),
        "anthropic.claude-3-haiku-20240307-v1:0": ("0.00025", "0.00125"),
        "amazon.nova-micro-v1:0": ("0.000035", "0.00014"),
        "meta.llama3-1-70b-instruct-v1:0": ("0.00072", "0.00072"),
        "mistral.mistral-7b-instruct-v0:2": ("0.00015", "0.0002"),
    }
    for model_id, (price_in, price_out) in cases.items():
        row = table.price_for(model_id)
        assert row is not None, model_id
        assert (row.input_per_1k, row.output_per_1k) == (Decimal(price_in), Decimal(price_out))
    assert table.price_for("ai21.jamba-1-5-large-v1:0") is None
    assert table.currency == "USD" and table.source.strip()


def test_cost_uses_cache_multipliers_exactly() -> None:
    row = TABLE.price_for("us.anthropic.claude-3-5-haiku-20241022-v1:0")
    assert row is not None
    # (1000*0.0008 + 1000*0.004 + 1000*0.00008 + 1000*0.001) / 1000
    assert row.cost(1000, 1000, 1000, 1000) == Decimal("0.00588")


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        (
            [{"match": "a.b", "input_per_1k": 1, "output_per_1k": 1} for _ in range(2)],
            "prices.yaml:9: models[1].match: 'a.b' is already priced by models[0]",
        ),
        (
            [{"match": "anthropic.claude'x", "input_per_1k": 1, "output_per_1k": 1}],
            'prices.yaml:6: models[0].match: "anthropic.claude\'x" is not a model id prefix '
            "(letters, digits and . _ : / - only)",
        ),
        (
            [{"match": "global.", "input_per_1k": 1, "output_per_1k": 1}],
            "prices.yaml:6: models[0].match: 'global.' names only a geo prefix; add the model id",
        ),
        (
            [{"match": "a.b", "input_per_1k": -1, "output_per_1k": "x"}],
            "prices.yaml:7: models[0].input_per_1k: must be a finite number ≥ 0\n"
            "prices.yaml:8: models[0].output_per_1k: must be a number",
        ),
        (
            [{"match": "a.b", "input_per_1k": 1, "output_per_1k": 1, "cache_read": 0.1}],
            "prices.yaml:9: models[0].cache_read: unknown field (check the spelling)",
        ),
    ],
)
def test_price_table_errors(models: list[dict[str, Any]], expected: str) -> None:
    doc = {
        "currency": "USD",
        "effective_date": "2026-08-01",
        "checked_on": "2026-08-21",
        "source": "test",
        "models": models,
    }
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    data, index = load_yaml(text, "prices.yaml")
    with pytest.raises(ModelErrors) as info:
        parse_prices(data, index)
    assert "\n".join(str(p) for p in info.value.problems) == expected


def test_price_table_header_errors() -> None:
    text = "currency: dollars\neffective_date: someday\nchecked_on: 2026-01-01\nsource: ' '\n"
    data, index = load_yaml(text, "prices.yaml")
    with pytest.raises(ModelErrors) as info:
        parse_prices(data, index)
    assert [str(p) for p in info.value.problems] == [
        "prices.yaml:1: currency: use an ISO 4217 code such as USD or EUR",
        "prices.yaml:2: effective_date: "
        "Input should be a valid date or datetime, input is too short",
        "prices.yaml:4: source: say where the prices come from",
    ]
