"""The quoting filters: no value can break out of an SQL literal/identifier or out of a JSON/YAML
value, and values that could be misread later are refused."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

from o2kit.project.render import (
    TemplateValueError,
    decimal_text,
    sql_ident,
    sql_list,
    sql_num,
    sql_str,
    to_json_text,
)
from o2kit.project.yamlsrc import load_yaml

# Strings chosen to end a literal, open a comment or confuse a parser; combined pairwise below.
NASTY_PARTS = [
    "'",
    "''",
    '"',
    '""',
    "\\",
    "\\'",
    "'; DROP TABLE bedrock_logs; --",
    "*/",
    "/*",
    "--",
    "' OR '1'='1",
    "E'",
    "%_",
    "é",
    "名前",
    "🙂",
    "\u00a0",
    "`",
    "[x]",
    'ModelId=["',
    "a'b\"c\\d",
    " ",
    "",
]
NASTY = sorted({a + b for a, b in itertools.product(NASTY_PARTS, repeat=2)})


def _parse(sql: str) -> exp.Expression:
    # OpenObserve parses SQL with the PostgreSQL dialect (src/config/src/meta/sql.rs).
    statements = sqlglot.parse(sql, read="postgres")
    assert len(statements) == 1, sql
    statement = statements[0]
    assert statement is not None
    return statement


def test_sql_str_round_trips_as_one_literal() -> None:
    for value in NASTY:
        tree = _parse(f"SELECT {sql_str(value)} AS a FROM t WHERE b = {sql_str(value)}")
        literals = [lit.this for lit in tree.find_all(exp.Literal) if lit.is_string]
        assert literals == [value, value], value
        assert tree.named_selects == ["a"], value
        assert isinstance(tree.args["where"].this, exp.EQ), value


def test_sql_ident_round_trips_as_one_identifier() -> None:
    for value in NASTY:
        if not value:
            continue
        tree = _parse(f"SELECT {sql_ident(value)} AS a FROM {sql_ident(value)}")
        column = tree.selects[0].this
        assert isinstance(column, exp.Column) and column.name == value, value
        assert [t.name for t in tree.find_all(exp.Table)] == [value], value
        assert tree.named_selects == ["a"], value


def test_sql_list_items_stay_separate() -> None:
    for value in NASTY:
        tree = _parse(f"SELECT a FROM t WHERE a IN ({sql_list([value, 'x', value])})")
        in_list = tree.find(exp.In)
        assert in_list is not None
        assert [e.this for e in in_list.expressions] == [value, "x", value], value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\x00b", "control character U+0000"),
        ("a\nb", "control character U+000A"),
        ("a\rb", "control character U+000D"),
        ("a\tb", "control character U+0009"),
        ("a\x1bb", "control character U+001B"),
        ("a\x85b", "control character U+0085"),
        ("a\u2028b", "line separator U+2028"),
        ("a\ud800b", "control character U+D800"),
        ("$model", "'$', which the OpenObserve UI treats as a dashboard variable"),
        ("x${region}", "'$'"),
        ("{{model}}", "'{{' or '}}'"),
    ],
)
def test_quoting_refuses_dangerous_characters(value: str, message: str) -> None:
    for quote in (sql_str, sql_ident):
        with pytest.raises(TemplateValueError, match=None) as info:
            quote(value)
        assert message in str(info.value)


def test_quoting_refuses_non_text_and_empty_identifiers() -> None:
    with pytest.raises(TemplateValueError, match="expects text, got int"):
        sql_str(5)
    with pytest.raises(TemplateValueError, match="cannot be empty"):
        sql_ident("")
    with pytest.raises(TemplateValueError, match="empty"):
        sql_list([])
    with pytest.raises(TemplateValueError, match="list of strings"):
        sql_list("abc")


def test_sql_str_exact_output() -> None:
    assert sql_str("it's") == "'it''s'"
    assert sql_str("a\\") == "'a\\'"  # backslash is ordinary in PostgreSQL strings
    assert sql_ident('my"col') == '"my""col"'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (250, "250"),
        (0.00025, "0.00025"),
        (1e-05, "0.00001"),
        (1e20, "100000000000000000000"),
        (Decimal("0.10"), "0.1"),
        (Decimal("1.2500"), "1.25"),
        (-5, "(-5)"),
        (-0.5, "(-0.5)"),
    ],
)
def test_sql_num(value: object, text: str) -> None:
    assert sql_num(value) == text


@pytest.mark.parametrize("value", [True, None, "5", float("nan"), float("inf"), [1]])
def test_sql_num_refuses(value: object) -> None:
    with pytest.raises(TemplateValueError):
        sql_num(value)


def test_negative_number_cannot_start_a_comment() -> None:
    tree = _parse(f"SELECT a -{sql_num(-5)} AS b FROM t")
    assert tree.named_selects == ["b"]
    assert decimal_text(-5) == "-5"


def test_tojson_reads_back_identically_as_yaml() -> None:
    for value in [*NASTY, "a\nb", "tab\there", "\x00", "\x7f\x85\u2028\ufeff"]:
        doc = {"k": value, "list": [value, 1, 0.5, 1e-05, None, True], value or "empty": value}
        line = to_json_text(doc)
        assert "\n" not in line
        data, _ = load_yaml(f"top:\n  - {line}\n", "t.yaml")
        assert data == {"top": [doc]}, value


def test_tojson_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TemplateValueError):
        to_json_text(float("nan"))
    with pytest.raises(TemplateValueError):
        to_json_text({1: "a"})
    with pytest.raises(TemplateValueError):
        to_json_text({"a": object()})
