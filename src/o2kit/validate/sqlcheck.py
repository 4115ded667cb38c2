"""Offline reading of the SQL in panels and alerts: does it parse, which streams and columns does
it read, which names does it return.

OpenObserve runs Apache DataFusion, whose parser is sqlparser-rs; OpenObserve itself parses
alert SQL with sqlparser's ``PostgreSqlDialect`` (``src/config/src/meta/sql.rs``
``resolve_stream_names``). We therefore read SQL with sqlglot's ``postgres`` dialect, which
accepts every pattern of reference bedrock-telemetry.md §6: ``FILTER (WHERE …)``,
``approx_percentile_cont(p) WITHIN GROUP (ORDER BY …)``, OpenObserve UDFs such as
``histogram``/``summary_percentile``/``json_get_int`` (unknown functions parse as calls),
``::`` casts, nested subqueries, ``CASE WHEN … LIKE``, ``HAVING``.

Identifiers follow DataFusion's rule: unquoted names are lower-cased, quoted names are exact.

Dashboard variables (``$model``, ``${model}``, ``${model:csv}``, ``{{model}}`` …) are not SQL.
The OpenObserve UI replaces them before sending the query
(``web/src/composables/dashboard/usePanelVariableSubstitution.ts`` ``replaceQueryValue``, after
``normalizeVariableSyntax`` in ``web/src/utils/dashboard/variables/variablesUtils.ts``): a
multi-select value becomes a list of quoted strings, a single value is pasted verbatim (so it is
written inside quotes, ``'$model'``). Before parsing we do the same with a harmless value of the
*same length* — underscores inside a string literal, a quoted string of underscores outside one —
so the line and column of a syntax error still point into the text the user wrote.

Limits (sqlglot is not DataFusion's parser): unknown function names parse as calls, so a
misspelt function is only reported by OpenObserve at query time; a few constructs sqlglot accepts
and DataFusion refuses are caught explicitly (a trailing comma before ``FROM`` or ``)``); columns
that an outer query reads from a subquery which does not return them are not reported; the
output name of an un-aliased expression is only an approximation of DataFusion's.

Pure: no I/O. Parsed trees are cached per SQL text; callers must not mutate them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlglot
    from sqlglot import TokenType, exp
    from sqlglot.errors import ParseError, SqlglotError
    from sqlglot.optimizer.scope import Scope, traverse_scope


def _import_sqlglot() -> None:
    """Import sqlglot on the first parse (it takes a third of a second): a run whose SQL
    findings all come from the cache never needs it. Everything else here works on trees that
    ``_parse_cached`` made, so it runs after this."""
    global sqlglot, TokenType, exp, ParseError, SqlglotError, Scope, traverse_scope  # noqa: PLW0603
    import sqlglot as _sqlglot
    from sqlglot import TokenType as _TokenType
    from sqlglot import exp as _exp
    from sqlglot.errors import ParseError as _ParseError
    from sqlglot.errors import SqlglotError as _SqlglotError
    from sqlglot.optimizer.scope import Scope as _Scope
    from sqlglot.optimizer.scope import traverse_scope as _traverse_scope

    sqlglot, exp, traverse_scope = _sqlglot, _exp, _traverse_scope
    TokenType = _TokenType  # type: ignore[misc]
    ParseError = _ParseError  # type: ignore[misc]
    SqlglotError = _SqlglotError  # type: ignore[misc]
    Scope = _Scope  # type: ignore[misc]

DIALECT = "postgres"

# ``{{ name }}`` / ``{{ name : fmt }}``, ``${ name }`` / ``${ name : fmt }`` (the UI's
# normalizeVariableSyntax allows spaces and a format suffix), and the bare ``$name``.
_PLACEHOLDER = re.compile(
    r"\{\{\s*(?P<mustache>[A-Za-z0-9_-]+)\s*(?::\s*[A-Za-z]+\s*)?\}\}"
    r"|\$\{\s*(?P<braced>[A-Za-z0-9_-]+)\s*(?::\s*[A-Za-z]+\s*)?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)

# The UI's built-in variables (usePanelVariableSubstitution.ts ``fixedVariables``).
FIXED_VARIABLES: frozenset[str] = frozenset(
    {
        "__interval_ms",
        "__interval",
        "__rate_interval",
        "__percentile_interval",
        "__range",
        "__range_s",
        "__range_ms",
    }
)

# The alert check of the server, verbatim in behaviour: ``(?i)select[ ]+\*`` searched anywhere
# in the text (``src/search/src/sql/mod.rs`` ``RE_ONLY_SELECT``, used by ``prepare_alert`` in
# ``src/core/src/alerts/alert.rs``). Only spaces count: ``SELECT\n*`` passes, ``'select *'`` in
# a string literal does not.
_SERVER_SELECT_STAR = re.compile(r"select[ ]+\*", re.IGNORECASE)

_CLAUSE_NAMES = {"Where": "WHERE", "Order": "ORDER BY", "Group": "GROUP BY", "Having": "HAVING"}
_REQUIRED_KEYWORD = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]*?\.?(\w+)'>")


class SqlParseError(ValueError):
    """The SQL does not parse; ``line``/``col`` are 1-based positions in the text as written."""

    def __init__(
        self,
        description: str,
        line: int = 0,
        col: int = 0,
        near: str = "",
        *,
        syntax: bool = True,
    ) -> None:
        self.description = description
        self.line = line
        self.col = col
        self.near = near
        self.syntax = syntax
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if not self.syntax:
            return self.description
        where = f" at line {self.line}, column {self.col}" if self.line else ""
        near = f' near "{self.near}"' if self.near else ""
        return f"SQL syntax error{where}{near}: {self.description}"


@dataclass(frozen=True)
class Placeholder:
    """A dashboard variable reference found in SQL text."""

    name: str
    start: int
    end: int
    in_string: bool


@dataclass(frozen=True)
class ColumnRef:
    """A column read from a stream. ``streams`` has several entries only for an unqualified
    column in a join of several streams (it may belong to any of them)."""

    name: str
    streams: tuple[str, ...]


def placeholders(sql: str) -> list[Placeholder]:
    """Every variable placeholder, in order, with whether it sits inside a '…' string literal."""
    return list(_placeholders_cached(sql))


@lru_cache(maxsize=1024)
def _placeholders_cached(sql: str) -> tuple[Placeholder, ...]:
    found: list[Placeholder] = []
    in_string = False
    in_ident = False
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if in_string:
            if ch == "'":
                if i + 1 < n and sql[i + 1] == "'":  # '' escapes a quote
                    i += 2
                    continue
                in_string = False
                i += 1
                continue
        elif in_ident:
            if ch == '"':
                in_ident = False
            i += 1
            continue
        elif ch == "'":
            in_string = True
            i += 1
            continue
        elif ch == '"':
            in_ident = True
            i += 1
            continue
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "${":
            match = _PLACEHOLDER.match(sql, i)
            if match:
                name = match.group("mustache") or match.group("braced") or match.group("bare")
                found.append(Placeholder(name, match.start(), match.end(), in_string))
                i = match.end()
                continue
        i += 1
    return tuple(found)


def substitute_placeholders(sql: str) -> str:
    """Replace every placeholder with a same-length harmless value (see module docstring)."""
    parts: list[str] = []
    last = 0
    for ph in placeholders(sql):
        width = ph.end - ph.start
        parts.append(sql[last : ph.start])
        parts.append("_" * width if ph.in_string else "'" + "_" * (width - 2) + "'")
        last = ph.end
    parts.append(sql[last:])
    return "".join(parts)


def _clean_description(description: str) -> str:
    """sqlglot's wording, made readable for SQL authors."""
    match = _REQUIRED_KEYWORD.search(description)
    if match:
        clause = _CLAUSE_NAMES.get(match.group(1), match.group(1).lower())
        return f"incomplete {clause} clause"
    if description.startswith("Invalid expression / Unexpected token"):
        return "unexpected token"
    if description.startswith("Expecting "):
        return f'expected "{description[len("Expecting ") :].strip()}"'
    return description


def _trailing_comma(tokens: list[Any]) -> SqlParseError | None:
    """sqlglot accepts ``SELECT a, FROM t`` and ``IN (1,)``; DataFusion's parser (sqlparser with
    default options) does not."""
    for before, after in zip(tokens, tokens[1:], strict=False):
        if before.token_type == TokenType.COMMA and after.token_type in (
            TokenType.FROM,
            TokenType.R_PAREN,
        ):
            return SqlParseError(
                f'trailing comma before "{after.text}"', before.line, before.col, ","
            )
    return None


@lru_cache(maxsize=1024)
def _parse_cached(sql: str) -> exp.Query:
    _import_sqlglot()
    text = substitute_placeholders(sql)
    if not text.strip():
        raise SqlParseError("the SQL query is empty", syntax=False)
    try:
        # What sqlglot.parse does, keeping the tokens for the trailing-comma check (tokenizing is
        # half the cost of a parse).
        dialect = sqlglot.Dialect.get_or_raise(DIALECT)
        tokens = dialect.tokenize(text)
        statements = [s for s in dialect.parser().parse(tokens, text) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        near = str(first.get("highlight") or "")
        col = int(first.get("col") or 0)
        if col and near and "\n" not in near:
            col = max(1, col - len(near) + 1)  # sqlglot points at the token's last character
        raise SqlParseError(
            _clean_description(str(first.get("description") or exc)),
            int(first.get("line") or 0),
            col,
            near.strip(),
        ) from None
    except SqlglotError as exc:  # tokenizer errors (unterminated string …)
        raise SqlParseError(str(exc).splitlines()[0]) from None
    if not statements:
        raise SqlParseError("the SQL query is empty", syntax=False)
    if len(statements) > 1:
        raise SqlParseError(
            f"the SQL must be one SELECT query, found {len(statements)} statements", syntax=False
        )
    trailing = _trailing_comma(tokens)
    if trailing is not None:
        raise trailing
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise SqlParseError(
            f"the SQL must be a SELECT query, found {tree.key.upper()}", syntax=False
        )
    return tree


def parse(sql: str) -> exp.Query:
    """Parse one SELECT statement (placeholders substituted). Raises SqlParseError."""
    return _parse_cached(sql)


def _identifier_name(node: exp.Expression | None) -> str:
    """DataFusion's view of an identifier: unquoted → lower case, quoted → exact."""
    if isinstance(node, exp.Identifier):
        return node.name if node.quoted else node.name.lower()
    if node is None:
        return ""
    return node.name.lower()


def _output_name(projection: Any) -> str:
    if isinstance(projection, exp.Alias):
        return _identifier_name(projection.args.get("alias"))
    if isinstance(projection, exp.Column):
        return _identifier_name(projection.this) if not projection.is_star else "*"
    if isinstance(projection, exp.Star):
        return "*"
    # DataFusion names an un-aliased expression after its text; this is only an approximation.
    return str(projection.sql(dialect=DIALECT))


@lru_cache(maxsize=1024)
def _output_aliases_cached(sql: str) -> tuple[str, ...]:
    return tuple(_output_name(p) for p in parse(sql).selects)


def output_aliases(sql: str) -> list[str]:
    """Names of the columns the top-level SELECT returns, in order (``*`` for a star)."""
    return list(_output_aliases_cached(sql))


def _table_name(table: exp.Table) -> str:
    return _identifier_name(table.this) if isinstance(table.this, exp.Identifier) else table.name


def _clause_of(node: exp.Expression, select: exp.Expression) -> str:
    """Which argument of ``select`` (``expressions``, ``where``, ``group``…) holds ``node``."""
    current: Any = node
    while current.parent is not None and current.parent is not select:
        current = current.parent
    return str(current.arg_key or "") if current.parent is select else ""


def _source_outputs(source: Scope) -> set[str] | None:
    """Output names of a derived table (None when it selects ``*`` and so is open-ended)."""
    query: Any = source.expression
    names = {_output_name(p) for p in query.selects}
    return None if "*" in names else names


def _scope_lookup(scope: Scope, qualifier: str) -> Any:
    current: Scope | None = scope
    while current is not None:
        for key, source in current.sources.items():
            if key == qualifier or key.lower() == qualifier.lower():
                return source
        current = current.parent
    return None


@lru_cache(maxsize=1024)
def _column_refs_cached(sql: str) -> tuple[ColumnRef, ...]:
    tree = parse(sql)
    refs: list[ColumnRef] = []
    for scope in traverse_scope(tree):
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        aliases = {
            _identifier_name(p.args.get("alias"))
            for p in select.expressions
            if isinstance(p, exp.Alias)
        }
        tables = {k: v for k, v in scope.sources.items() if isinstance(v, exp.Table)}
        derived = [v for v in scope.sources.values() if isinstance(v, Scope)]
        for column in scope.columns:
            if column.is_star:
                continue
            name = _identifier_name(column.this)
            qualifier = column.table
            if qualifier:
                source = _scope_lookup(scope, qualifier)
                if isinstance(source, exp.Table):
                    refs.append(ColumnRef(name, (_table_name(source),)))
                continue  # a derived table's output, or an unknown qualifier
            # DataFusion resolves select-list aliases in GROUP BY / HAVING / ORDER BY.
            if name in aliases and _clause_of(column, select) in {"group", "having", "order"}:
                continue
            open_derived = False
            from_derived = False
            for source in derived:
                outputs = _source_outputs(source)
                if outputs is None:
                    open_derived = True
                elif name in outputs:
                    from_derived = True
            if from_derived or (open_derived and not tables):
                continue
            if tables:
                streams = tuple(sorted({_table_name(t) for t in tables.values()}))
                refs.append(ColumnRef(name, streams))
    return tuple(refs)


def column_refs(sql: str) -> list[ColumnRef]:
    """Every stream column the query reads, resolved through aliases and subqueries.

    Select-list aliases used in GROUP BY / HAVING / ORDER BY, and columns of derived tables
    (``FROM (SELECT … AS model_id) t``), are not stream columns and are left out.
    """
    return list(_column_refs_cached(sql))


def referenced_columns(sql: str) -> dict[str, set[str]]:
    """Stream → the stream columns the query reads (see ``column_refs``)."""
    out: dict[str, set[str]] = {}
    for ref in column_refs(sql):
        for stream in ref.streams:
            out.setdefault(stream, set()).add(ref.name)
    return out


@lru_cache(maxsize=1024)
def _streams_cached(sql: str) -> frozenset[str]:
    found: set[str] = set()
    for scope in traverse_scope(parse(sql)):
        for source in scope.sources.values():
            if isinstance(source, exp.Table):
                found.add(_table_name(source))
    return frozenset(found)


def streams(sql: str) -> set[str]:
    """Every stream (table) the query reads, CTE names excluded."""
    return set(_streams_cached(sql))


@lru_cache(maxsize=1024)
def _aliases_cached(sql: str) -> frozenset[str]:
    return frozenset(_identifier_name(a.args.get("alias")) for a in parse(sql).find_all(exp.Alias))


def aliases_anywhere(sql: str) -> set[str]:
    """Every ``AS name`` alias in the query, at any depth."""
    return set(_aliases_cached(sql))


def has_select_star(sql: str) -> bool:
    """What OpenObserve refuses in alert SQL: ``select`` + spaces + ``*``, case-insensitive,
    anywhere in the text (no parsing, exactly like the server)."""
    return _SERVER_SELECT_STAR.search(sql) is not None
