"""The query-safety rules OpenObserve applies to an SLO's SLI at save, offline.

From ``src/config/src/meta/slo/mod.rs`` (commit fbab9b80): ``parse_predicate`` (a ``scope`` or
``good_expr`` fragment is exactly one boolean expression: no ``;``, no subquery, functions only
from ``PREDICATE_FUNCTION_ALLOWLIST``, and boolean-shaped — a comparison, AND/OR/NOT of such,
IS [NOT] NULL, IN list, BETWEEN or [I]LIKE), ``validate_count_query`` (a dual-query member is one
SELECT projecting exactly ``slice_start`` = ``histogram(_timestamp, '<slice>')``, the group_by
columns and one numeric ``zo_slo_value``, grouped by the same keys) and
``validate_query_safety`` (the order: scope, then good_expr; good query, then total query;
PromQL and time-slice aggregates non-empty; a PromQL time slice takes no scope, and only on a
``metrics`` stream). The server parses with sqlparser's GenericDialect; o2kit with sqlglot, which
accepts the same fragments for everything these rules look at.

Pure: ``problems(body)`` returns ``(path, message)`` pairs, the server's first error.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

Issue = tuple[tuple[str | int, ...], str]

ALLOWED_FUNCTIONS = frozenset({
    "lower", "upper", "trim", "length", "abs", "round", "floor", "ceil", "coalesce", "concat",
    "substr", "starts_with", "ends_with", "cast",
})
# sqlglot's names for the same functions.
_ALIASES = {"substring": "substr", "char_length": "length", "ceiling": "ceil"}
SLICE_LITERALS = {60: "1 minute", 300: "5 minute"}


def _d(value: Any) -> dict[str, Any]:
    """``value`` when it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _function_name(node: Any) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    name = str(node.sql_name()).lower()
    return _ALIASES.get(name, name)


def _check_tree(field: str, node: Any) -> None:
    for sub in node.walk():
        if isinstance(sub, (exp.Subquery, exp.Select, exp.Exists)):
            raise _Refused(f"{field} must not contain a subquery")
        if isinstance(sub, exp.Func) and not isinstance(sub, (exp.Connector, exp.Binary)):
            name = _function_name(sub)
            if name not in ALLOWED_FUNCTIONS:
                raise _Refused(f"{field} uses function `{name}`, which is not allowed")


def _boolean_shaped(node: Any) -> bool:
    if isinstance(node, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
        return True
    if isinstance(node, (exp.And, exp.Or)):
        return _boolean_shaped(node.left) and _boolean_shaped(node.right)
    if isinstance(node, (exp.Not, exp.Paren)):
        return _boolean_shaped(node.this)
    if isinstance(node, exp.Is):
        return isinstance(node.expression, exp.Null)  # IS [NOT] NULL only
    return isinstance(node, (exp.In, exp.Between, exp.Like, exp.ILike))


def predicate_problem(field: str, fragment: str) -> str | None:
    """``parse_predicate``: why ``fragment`` is not a predicate the server accepts, or None."""
    if not fragment.strip():
        return f"{field} must be exactly one boolean expression"
    if ";" in fragment:
        return f"{field} must not contain a statement separator"
    try:
        parsed = sqlglot.parse(fragment, dialect="postgres")
    except sqlglot.errors.SqlglotError:
        return f"{field} could not be parsed"
    if len(parsed) != 1 or parsed[0] is None:
        return f"{field} must be exactly one boolean expression"
    node = parsed[0]
    if isinstance(node, (exp.Select, exp.Union, exp.Command, exp.Create, exp.Insert)):
        return f"{field} must be exactly one boolean expression"
    try:
        _check_tree(field, node)
    except _Refused as refused:
        return refused.message
    if not _boolean_shaped(node):
        return f"{field} must be exactly one boolean expression"
    return None


def count_query_problem(field: str, sql: str, group_by: list[str], slice_secs: int) -> str | None:
    """``validate_count_query`` for one member of a dual query."""
    try:
        parsed = sqlglot.parse(sql, dialect="postgres")
    except sqlglot.errors.SqlglotError:
        return f"{field} could not be parsed"
    if len(parsed) != 1 or not isinstance(parsed[0], exp.Select):
        return f"{field} must be a single SELECT"
    select = parsed[0]
    names: list[str] = []
    saw_value = numeric = False
    for item in select.expressions:
        if isinstance(item, exp.Alias):
            alias = item.alias.lower()
            if alias == "zo_slo_value":
                saw_value = True
                inner = item.this
                while isinstance(inner, exp.Paren):
                    inner = inner.this
                numeric = isinstance(inner, (exp.Func, exp.Cast, exp.Literal, exp.Binary))
                continue
            if alias == "slice_start":
                problem = _histogram_problem(field, item.this, slice_secs)
                if problem:
                    return problem
            names.append(alias)
        elif isinstance(item, exp.Column) and not item.table:
            names.append(item.name.lower())
        else:
            return (f"{field} has an invalid projection: every projected column must be a plain "
                    "column or an alias")
    if not saw_value:
        return f"{field} has an invalid projection: missing a numeric `zo_slo_value` column"
    if not numeric:
        return f"{field} has an invalid projection: `zo_slo_value` must be a numeric aggregate"
    expected = ["slice_start", *(g.lower() for g in group_by)]
    if sorted(names) != sorted(expected):
        return f"{field} has an invalid projection: projects {names}, expected {expected}"
    group = select.args.get("group")
    grouped = sorted(
        (e.name.lower() if isinstance(e, exp.Column) else e.sql().lower())
        for e in (group.expressions if group is not None else [])
    )
    if grouped != sorted(expected):
        return f"{field} has an invalid projection: groups by {grouped}, expected {expected}"
    return None


def _histogram_problem(field: str, node: exp.Expression, slice_secs: int) -> str | None:
    prefix = f"{field} has an invalid projection: "
    if not isinstance(node, exp.Func):
        return prefix + "`slice_start` must be histogram(_timestamp, '<interval>')"
    if _function_name(node) != "histogram":
        return prefix + "`slice_start` must be produced by histogram()"
    literals = [a for a in node.expressions if isinstance(a, exp.Literal) and a.is_string]
    if not literals:
        return prefix + "histogram() needs a quoted interval literal"
    want = SLICE_LITERALS.get(slice_secs, f"{slice_secs} second")
    if literals[0].this.strip().lower() != want:
        return prefix + f"histogram interval '{literals[0].this}' must be '{want}'"
    return None


def problems(body: dict[str, Any]) -> list[Issue]:
    """``validate_query_safety`` of an SLO body: its first problem, with the body path."""
    config = _d(body.get("config"))
    group_by = [str(g) for g in body.get("group_by") or []]
    slice_secs = body.get("slice_interval_secs")
    slice_secs = slice_secs if isinstance(slice_secs, int) else 0
    sli_type = body.get("sli_type")
    if sli_type == "count":
        source = _d(config.get("source"))
        query = _d(source.get("query"))
        base: tuple[str | int, ...] = ("config", "source", "query")
        mode = source.get("mode")
        if mode == "single_query":
            for field in ("scope", "good_expr"):
                value = query.get(field)
                if value is None and field == "scope":
                    continue
                problem = predicate_problem(field, value if isinstance(value, str) else "")
                if problem:
                    return [((*base, field), problem)]
        elif mode == "dual_query":
            for side in ("good", "total"):
                member = _d(query.get(side))
                sql = member.get("sql")
                problem = count_query_problem(f"{side}_query", sql if isinstance(sql, str)
                                              else "", group_by, slice_secs)
                if problem:
                    return [((*base, side, "sql"), problem)]
        elif mode == "prom_ql":
            for side in ("good", "total"):
                value = query.get(side)
                if not isinstance(value, str) or not value.strip():
                    return [((*base, side), f"{side} must be a non-empty expression")]
    elif sli_type == "time_slice":
        language = config.get("query_language", "sql")
        stream_type = config.get("stream_type")
        if language == "prom_ql" and stream_type != "metrics":
            return [(("config", "query_language"),
                     f"PromQl cannot be used against a `{stream_type}` stream")]
        scope = config.get("scope")
        if language == "prom_ql":
            if isinstance(scope, str) and scope.strip():
                return [(("config", "scope"), "scope is a SQL filter and cannot be applied to a "
                         "PromQl query; put label matchers inside the expression instead")]
        elif scope is not None:
            problem = predicate_problem("scope", scope if isinstance(scope, str) else "")
            if problem:
                return [(("config", "scope"), problem)]
        query_text = config.get("query")
        if not isinstance(query_text, str) or not query_text.strip():
            return [(("config", "query"), "query must be a non-empty expression")]
    return []


# ---------------------------------------------------------------------------------------------
# The SQL the server runs for an SLI (src/core/src/slo/query.rs), for the SQL checks and the
# local engine (o2kit check).


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sli_queries(body: dict[str, Any]) -> dict[str, str]:
    """The SQL of an SLO's SLI as the server builds it (``query.rs`` ``single_count_sql``,
    ``time_slice_sql``; a dual query runs as written): ``{"count": …}`` for a single count query
    (columns ``slice_start``, the group columns, ``zo_slo_good``, ``zo_slo_value`` = total),
    ``{"good": …, "total": …}`` for a dual query (``zo_slo_value`` each), ``{"value": …}`` for a
    SQL time slice. Empty for PromQL and alert SLIs. The server adds the slice range itself."""
    config = _d(body.get("config"))
    slice_secs = body.get("slice_interval_secs")
    literal = (SLICE_LITERALS.get(slice_secs, f"{slice_secs} second")
               if isinstance(slice_secs, int) else "")
    bucket = f"histogram(_timestamp, '{literal}')"
    groups = [_quote_ident(str(g)) for g in body.get("group_by") or []]

    def build(stream: str, value: str, scope: Any) -> str:
        select = [f"{bucket} AS slice_start", *groups, value]
        sql = f"SELECT {', '.join(select)} FROM {_quote_ident(stream)}"
        if isinstance(scope, str) and scope.strip():
            sql += f" WHERE ({scope})"
        return sql + f" GROUP BY {', '.join(['slice_start', *groups])}"

    sli_type = body.get("sli_type")
    if sli_type == "count":
        source = _d(config.get("source"))
        query = _d(source.get("query"))
        if source.get("mode") == "single_query":
            good = query.get("good_expr", "")
            value = (f"SUM(CASE WHEN ({good}) THEN 1 ELSE 0 END) AS zo_slo_good, "
                     "COUNT(*) AS zo_slo_value")
            return {"count": build(str(query.get("stream", "")), value, query.get("scope"))}
        if source.get("mode") == "dual_query":
            return {side: str(query[side].get("sql", "")) for side in ("good", "total")
                    if isinstance(query.get(side), dict)}
        return {}
    if sli_type == "time_slice" and config.get("query_language", "sql") == "sql":
        return {"value": build(str(config.get("stream", "")),
                               f"{config.get('query', '')} AS zo_slo_value", config.get("scope"))}
    return {}
