"""Run OpenObserve SQL locally: Apache DataFusion plus the OpenObserve functions o2kit uses.

OpenObserve answers ``POST /api/{org}/_search`` by running the panel SQL on DataFusion with its
own functions registered and a few rewrites applied first. ``QueryEngine`` does the same over
in-memory Arrow tables so that dashboards and alerts can be checked against known data without a
server. What happens to a query, in OpenObserve's order:

1. Dashboard variables are substituted the way the web UI does before it sends a query
   (``web/src/composables/dashboard/usePanelVariableSubstitution.ts`` ``replaceQueryValue``,
   after ``normalizeVariableSyntax`` in ``web/src/utils/dashboard/variables/variablesUtils.ts``).
2. Comparisons with the "All" placeholder ``'_o2_all_'`` become ``true`` (``!=``, ``NOT IN`` and
   ``NOT LIKE`` become ``false``) — ``src/search/src/sql/rewriter/remove_dashboard_placeholder.rs``.
   We do this on a sqlglot tree, and only when the placeholder occurs in the text, so queries
   without it reach DataFusion exactly as written.
3. ``histogram(ts [, 'N unit' [, 'tz']])`` becomes
   ``date_bin(CAST('N unit' AS INTERVAL), to_timestamp_micros(ts [+ tz offset]),
   to_timestamp('2001-01-01T00:00:00'))`` — OpenObserve does this as a logical-plan rule
   (``src/search/src/datafusion/optimizer/logical_optimizer/rewrite_histogram.rs``); we do it on
   the SQL text, token by token, which gives the same plan and leaves the rest of the text alone.
   Without an interval the bucket is the query's histogram interval
   (``src/search/src/sql/mod.rs`` step 10, ``src/search/src/sql/visitor/histogram_interval.rs``):
   the request's ``histogram_interval`` adjusted to divide a day, else the first histogram's own
   interval (or the automatic one for the time range), adjusted the same way.
4. The variadic ``json_*`` calls are renamed to the fixed-arity UDFs of ``o2kit.query.udfs``.
5. The stream is narrowed to ``start_time <= _timestamp < end_time`` before the SQL sees it
   (``src/search/src/datafusion/table_provider/helpers.rs``); when the request carries a
   ``histogram_interval`` the start is first snapped down to a bucket boundary
   (``src/search/src/sql/histogram.rs`` ``histogram_bucket_start``, used in
   ``src/search/src/datafusion/distributed_plan/node.rs``).
6. Hits are shaped like the search API's (``src/config/src/utils/arrow.rs``: arrow_json rows):
   NULL columns are left out of a hit and timestamps are strings such as
   ``"2026-01-01T10:05:00"``.

Errors carry OpenObserve's search error codes (``src/infra/src/errors/mod.rs``; DataFusion errors
are classified as in ``src/infra/src/errors/grpc.rs``): 20001 SQL not valid, 20002 stream not
found, 20004 field not found, 20005 function not defined, 20008 execution error.

Not thread-safe: a query re-registers the stream views of one shared DataFusion context.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import sqlglot
from datafusion import SessionContext
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from o2kit.errors import O2kitError
from o2kit.query import udfs as engine_udfs

log = logging.getLogger(__name__)

TIMESTAMP_COLUMN = "_timestamp"
# ZO_DASHBOARD_PLACEHOLDER default (src/config/src/config.rs) == SELECT_ALL_VALUE in
# web/src/utils/dashboard/constants.ts.
ALL_PLACEHOLDER = "_o2_all_"
# date_bin origin used by OpenObserve's histogram rewrite (rewrite_histogram.rs).
HISTOGRAM_ORIGIN = "2001-01-01T00:00:00"

SQL_NOT_VALID = 20001
STREAM_NOT_FOUND = 20002
FIELD_NOT_FOUND = 20004
FUNCTION_NOT_DEFINED = 20005
SQL_EXECUTE_ERROR = 20008

_DIALECT = "postgres"  # OpenObserve parses with sqlparser's PostgreSqlDialect too
_BASE_PREFIX = "__o2kit_base__"


class QueryError(O2kitError):
    """A query OpenObserve would refuse; ``code`` is OpenObserve's search error code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.detail = message


# ---------------------------------------------------------------------------------------------
# Histogram interval: src/search/src/sql/visitor/histogram_interval.rs
# ---------------------------------------------------------------------------------------------

_HOUR = 3600 * 1_000_000
_MINUTE = 60 * 1_000_000
_SECOND = 1_000_000
# (minimum range in µs, interval) — the first row whose minimum the range reaches wins. Note the
# source's table jumps from "1 hour" (≥ 6 h) straight to "1 minute" (≥ 2 h).
_AUTO_INTERVALS: tuple[tuple[int, str], ...] = (
    (24 * 60 * _HOUR, "1 day"),
    (24 * 30 * _HOUR, "12 hour"),
    (24 * 28 * _HOUR, "6 hour"),
    (24 * 21 * _HOUR, "3 hour"),
    (24 * 15 * _HOUR, "2 hour"),
    (6 * _HOUR, "1 hour"),
    (2 * _HOUR, "1 minute"),
    (1 * _HOUR, "30 second"),
    (30 * _MINUTE, "15 second"),
    (10 * _SECOND, "10 second"),
)
# Bucket lengths (seconds) that divide a day, used to round an odd interval up.
_DAY_DIVISORS = (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 28800,
                 43200, 86400)
_DAY = 86400
_UNIT_SECONDS = {
    **dict.fromkeys(("second", "seconds", "s", "secs", "sec"), 1),
    **dict.fromkeys(("minute", "minutes", "m", "mins", "min"), 60),
    **dict.fromkeys(("hour", "hours", "h", "hrs", "hr"), 3600),
    **dict.fromkeys(("day", "days", "d"), 86400),
}


def auto_histogram_interval(start_time: int, end_time: int) -> str:
    """OpenObserve's automatic bucket for a time range in µs (``generate_histogram_interval``)."""
    if (start_time, end_time) == (0, 0):
        return "1 hour"
    duration = end_time - start_time
    for minimum, interval in _AUTO_INTERVALS:
        if duration >= minimum:
            return interval
    return "1 second"


def interval_seconds(interval: str) -> int | None:
    """``'5 minute'`` → 300; None when OpenObserve's parser would not understand it."""
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]+)\s*", interval)
    if not match:
        return None
    unit = _UNIT_SECONDS.get(match.group(2).lower())
    return None if unit is None else int(match.group(1)) * unit


def adjust_interval(seconds: int, start_time: int, end_time: int) -> int:
    """Make a bucket divide a day or be whole days (``validate_and_adjust_histogram_interval``)."""
    if seconds <= 0:
        return interval_seconds(auto_histogram_interval(start_time, end_time)) or 10
    if seconds % _DAY == 0 or _DAY % seconds == 0:
        return seconds
    return next((d for d in _DAY_DIVISORS if d >= seconds), _DAY)


# ---------------------------------------------------------------------------------------------
# Dashboard variables: web/src/composables/dashboard/usePanelVariableSubstitution.ts
# ---------------------------------------------------------------------------------------------

_MUSTACHE = re.compile(r"\{\{\s*([a-zA-Z0-9_-]+)\s*(?::\s*([a-zA-Z]+)\s*)?\}\}")
_DOLLAR_BRACE = re.compile(r"\$\{\s*([a-zA-Z0-9_-]+)\s*(?::\s*([a-zA-Z]+)\s*)?\}")


def _normalize_variable_syntax(sql: str) -> str:
    # normalizeVariableSyntax: drop spaces inside {{ name : fmt }} and ${ name : fmt }.
    sql = _MUSTACHE.sub(lambda m: "{{" + m[1] + (f":{m[2]}" if m[2] else "") + "}}", sql)
    return _DOLLAR_BRACE.sub(lambda m: "${" + m[1] + (f":{m[2]}" if m[2] else "") + "}", sql)


def substitute_variables(sql: str, variables: Mapping[str, str | Sequence[str] | None]) -> str:
    """Replace ``$name``, ``${name}``, ``{{name}}`` (and ``:csv``/``:pipe``/``:singlequote``/
    ``:doublequote`` forms) as the UI does for SQL panels.

    A single value (``str``) is pasted verbatim, so templates write ``'$model'``; ``None`` stands
    for "no value" and becomes the All placeholder. A multi-select value (a list) becomes
    ``'a','b'`` (an empty list: ``'_o2_all_'``). Variables are replaced in the mapping's order
    with plain text replacement, like the UI — so ``$model`` also rewrites the start of
    ``$model_id`` if ``model`` comes first.
    """
    sql = _normalize_variable_syntax(sql)
    for name, raw in variables.items():
        if raw is None or isinstance(raw, str):
            value = ALL_PLACEHOLDER if raw is None else raw
            forms = [f"{{{{{name}:{fmt}}}}}" for fmt in ("csv", "pipe", "doublequote",
                                                         "singlequote")]
            forms += [f"{{{{{name}}}}}", f"${{{name}}}", f"${name}"]
            for form in forms:
                sql = sql.replace(form, value)
            continue
        values = list(raw) or [ALL_PLACEHOLDER]
        quoted = ",".join(f"'{v}'" for v in values) or "''"
        double = ",".join(f'"{v}"' for v in values) or '""'
        replacements = []
        for opener, closer in (("{{", "}}"), ("${", "}")):
            replacements += [
                (f"{opener}{name}:csv{closer}", ",".join(values)),
                (f"{opener}{name}:pipe{closer}", "|".join(values)),
                (f"{opener}{name}:doublequote{closer}", double),
                (f"{opener}{name}:singlequote{closer}", quoted),
                (f"{opener}{name}{closer}", quoted),
            ]
        replacements.append((f"${name}", quoted))
        for form, value in replacements:
            sql = sql.replace(form, value)
    return sql


# ---------------------------------------------------------------------------------------------
# The "All" placeholder: src/search/src/sql/rewriter/remove_dashboard_placeholder.rs
# ---------------------------------------------------------------------------------------------

_PLACEHOLDER_FUNCTIONS = {"str_match", "str_match_ignore_case", "match_field",
                          "match_field_ignore_case"}


def _is_placeholder(node: object) -> bool:
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this == ALL_PLACEHOLDER
    # The source also treats an identifier spelt like the placeholder ("_o2_all_") as one.
    if isinstance(node, exp.Column):
        return node.name == ALL_PLACEHOLDER or (
            bool(node.table) and node.parts[0].name == ALL_PLACEHOLDER
        )
    return False


def _placeholder_truth(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.EQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
        if _is_placeholder(node.left) or _is_placeholder(node.right):
            return exp.true()
    elif isinstance(node, exp.NEQ):
        if _is_placeholder(node.left) or _is_placeholder(node.right):
            return exp.false()
    elif isinstance(node, exp.Like | exp.ILike):
        # NOT LIKE parses as NOT (LIKE …), so it becomes NOT TRUE = false, as in the source.
        if _is_placeholder(node.expression):
            return exp.true()
    elif isinstance(node, exp.In):
        # NOT IN parses as NOT (IN …) and so becomes false.
        if any(_is_placeholder(item) for item in node.expressions):
            return exp.true()
    elif (isinstance(node, exp.Anonymous) and node.name.lower() in _PLACEHOLDER_FUNCTIONS
          and len(node.expressions) == 2 and _is_placeholder(node.expressions[1])):
        return exp.true()
    return node


def remove_all_placeholder(sql: str) -> str:
    """Turn comparisons with ``'_o2_all_'`` into ``true``/``false``; other SQL is untouched."""
    if ALL_PLACEHOLDER not in sql:
        return sql
    try:
        tree = sqlglot.parse_one(sql, read=_DIALECT)
    except SqlglotError as error:
        raise QueryError(f"Search SQL not valid: {error}", SQL_NOT_VALID) from error
    return tree.transform(_placeholder_truth).sql(dialect=_DIALECT)


# ---------------------------------------------------------------------------------------------
# Token-level rewrite of histogram() and the variadic json_* calls
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    name: str
    start: int  # offset of the function name
    end: int  # offset just past the closing parenthesis
    args: list[tuple[int, int]]  # [start, end) of each argument's text
    arg_tokens: list[list[Token]]


_REWRITTEN = {"histogram", "now", *engine_udfs.JSON_FUNCTIONS}


def _tokens(sql: str) -> list[Token]:
    try:
        return list(sqlglot.Dialect.get_or_raise(_DIALECT).tokenize(sql))
    except SqlglotError as error:
        raise QueryError(f"Search SQL not valid: {error}", SQL_NOT_VALID) from error


def _calls(sql: str) -> list[_Call]:
    """Outermost calls of the functions we rewrite, in text order."""
    tokens = _tokens(sql)
    calls: list[_Call] = []
    i = 0
    while i < len(tokens) - 1:
        token = tokens[i]
        if (token.token_type not in (TokenType.STRING, TokenType.IDENTIFIER)
                and token.text.lower() in _REWRITTEN
                and tokens[i + 1].token_type == TokenType.L_PAREN
                and (i == 0 or tokens[i - 1].token_type != TokenType.DOT)):
            depth, j = 0, i + 1
            args: list[tuple[int, int]] = []
            arg_tokens: list[list[Token]] = []
            current: list[Token] = []
            arg_start = tokens[i + 1].end + 1
            while j < len(tokens):
                t = tokens[j]
                if t.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET):
                    depth += 1
                elif t.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET):
                    depth -= 1
                    if depth == 0:
                        if current:
                            args.append((arg_start, t.start))
                            arg_tokens.append(current)
                        break
                elif t.token_type == TokenType.COMMA and depth == 1:
                    args.append((arg_start, t.start))
                    arg_tokens.append(current)
                    current, arg_start = [], t.end + 1
                    j += 1
                    continue
                if j > i + 1:
                    current.append(t)
                j += 1
            if j >= len(tokens):
                raise QueryError(
                    f"Search SQL not valid: unclosed parenthesis after {token.text}", SQL_NOT_VALID
                )
            calls.append(_Call(token.text.lower(), token.start, tokens[j].end + 1, args,
                               arg_tokens))
            i = j + 1
            continue
        i += 1
    return calls


@dataclass(frozen=True)
class _HistogramContext:
    start_time: int
    end_time: int
    default_seconds: int  # bucket for histogram(x) without an interval
    timezone: str | None


def _first_histogram_interval(sql: str) -> str | None | bool:
    """The interval text of the first histogram() call; None if it has none; False if no call."""
    for call in _calls(sql):
        if call.name == "histogram":
            if len(call.arg_tokens) < 2:
                return None
            return "".join(t.text for t in call.arg_tokens[1])
        inner = _first_histogram_interval(_inner_text(sql, call))
        if inner is not False:
            return inner
    return False


def _inner_text(sql: str, call: _Call) -> str:
    return " , ".join(sql[a:b] for a, b in call.args)


def _timezone_offset_micros(tz: str | None, at_micros: int) -> int:
    # rewrite_histogram.rs histogram_timezone_offset_micros / config::utils::time.
    if tz is None or tz.strip().upper() in ("", "UTC", "Z", "+00:00"):
        return 0
    match = re.fullmatch(r"\s*([+-])(\d{1,2}):?(\d{2})\s*", tz)
    if match:
        sign = 1 if match[1] == "+" else -1
        return sign * (int(match[2]) * 3600 + int(match[3]) * 60) * 1_000_000
    try:
        zone = ZoneInfo(tz.strip())
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise QueryError(
            f"Invalid timezone in histogram(): '{tz}'. Expected a fixed offset like '+08:00', "
            "'UTC', or an IANA name like 'America/Los_Angeles'.", SQL_EXECUTE_ERROR,
        ) from error
    moment = dt.datetime.fromtimestamp(at_micros / 1_000_000, tz=dt.UTC).astimezone(zone)
    offset = moment.utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds()) * 1_000_000


def _string_literal(tokens: list[Token]) -> str | None:
    if len(tokens) == 1 and tokens[0].token_type == TokenType.STRING:
        return tokens[0].text
    return None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def rewrite_functions(sql: str, histogram: _HistogramContext) -> str:
    """Replace histogram() by date_bin() and json_*(…) by their fixed-arity UDFs."""
    calls = _calls(sql)
    if not calls:
        return sql
    out: list[str] = []
    cursor = 0
    for call in calls:
        out.append(sql[cursor:call.start])
        args = [rewrite_functions(sql[a:b], histogram).strip() for a, b in call.args]
        if call.name == "histogram":
            out.append(_histogram_sql(args, call.arg_tokens, histogram))
        elif call.name == "now":
            # OpenObserve runs a scheduled alert's SQL when its trigger is due, and the searched
            # range ends at that trigger time (src/core/src/alerts/scheduler/handlers.rs
            # handle_alert_triggers: final_end_time), so DataFusion's now() is the range's end
            # (later only by the scheduler's delay). o2kit evaluates alert tests at an arbitrary
            # `at`, so now() becomes the query's end time; without one it stays now().
            if args or histogram.end_time <= 0:
                out.append(sql[call.start:call.end])
            else:
                out.append(f"to_timestamp_micros({int(histogram.end_time)})")
        else:
            if not args:
                raise QueryError(f"{call.name} needs a JSON argument", SQL_EXECUTE_ERROR)
            path_len = len(args) - 1
            if path_len > engine_udfs.MAX_JSON_PATH:
                raise QueryError(
                    f"{call.name}: paths longer than {engine_udfs.MAX_JSON_PATH} keys are not "
                    "supported by o2kit's engine", SQL_EXECUTE_ERROR,
                )
            out.append(f"{engine_udfs.variadic_name(call.name, path_len)}({', '.join(args)})")
        cursor = call.end
    out.append(sql[cursor:])
    return "".join(out)


def _histogram_sql(args: list[str], arg_tokens: list[list[Token]],
                   ctx: _HistogramContext) -> str:
    if not args or len(args) > 3:
        raise QueryError(
            f"Unexpected argument len in histogram function: {len(args)}", SQL_EXECUTE_ERROR
        )
    if len(args) == 1:
        interval = f"{ctx.default_seconds} second"
    else:
        literal = _string_literal(arg_tokens[1])
        if literal is None:
            raise QueryError(
                f"Unexpected argument type in histogram function: {args[1]}", SQL_EXECUTE_ERROR
            )
        interval = literal
    tz: str | None = ctx.timezone
    if len(args) == 3:
        tz = _string_literal(arg_tokens[2])
        if tz is None:
            raise QueryError(
                f"Unexpected timezone argument type in histogram function: {args[2]}",
                SQL_EXECUTE_ERROR,
            )
    reference = ctx.end_time if ctx.end_time > 0 else ctx.start_time
    offset = _timezone_offset_micros(tz, reference)
    source = f"({args[0]}) + {offset}" if offset else args[0]
    return (f"date_bin(CAST({_quote(interval)} AS INTERVAL), to_timestamp_micros({source}), "
            f"to_timestamp('{HISTOGRAM_ORIGIN}'))")


def query_histogram_seconds(sql: str, start_time: int, end_time: int,
                            histogram_interval: int | None) -> int | None:
    """The query's histogram interval in seconds (``Sql::new`` step 10), None without histogram.

    Raises 20001 for an interval that is a bare number (``histogram(_timestamp, '10')``).
    """
    first = _first_histogram_interval(sql)
    if first is False:
        return None
    if first is None:
        text = auto_histogram_interval(start_time, end_time)
    else:
        assert isinstance(first, str)
        text = first.strip("'\"")
        # Checked before the request's interval is considered, as in the source.
        if text.strip().lstrip("-").isdigit():
            raise QueryError(f"Invalid histogram interval: {text}", SQL_NOT_VALID)
    if histogram_interval and histogram_interval > 0:
        return adjust_interval(histogram_interval, start_time, end_time)
    return adjust_interval(interval_seconds(text) or 0, start_time, end_time)


# ---------------------------------------------------------------------------------------------
# Rows → Arrow, with OpenObserve-like type inference
# ---------------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _column_type(values: Iterable[Any]) -> pa.DataType:
    """Boolean, Int64 or Float64 when every value is one, Float64 for int/float mixes, else Utf8.

    ``_timestamp`` is always Int64. Mirrors the JSON schema inference OpenObserve uses on ingest
    (a stream's first record decides, conflicting kinds widen to Utf8).
    """
    kinds = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, int):
            kinds.add("int")
        elif isinstance(v, float):
            kinds.add("float")
        else:
            kinds.add("str")
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds and kinds <= {"int", "float"}:
        return pa.float64()
    return pa.string()


def rows_to_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Arrow table of flattened rows; a column missing from a row is NULL there."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    if TIMESTAMP_COLUMN not in names:
        raise ValueError(f"rows need a {TIMESTAMP_COLUMN} column (µs since the epoch)")
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        kind = pa.int64() if name == TIMESTAMP_COLUMN else _column_type(values)
        if kind == pa.string():
            values = [None if v is None else _cell_text(v) for v in values]
        elif kind == pa.float64():
            values = [None if v is None else float(v) for v in values]
        columns[name] = pa.array(values, kind)
    return pa.table(columns)


# ---------------------------------------------------------------------------------------------
# Results → hits
# ---------------------------------------------------------------------------------------------


def _format_timestamp(value: dt.datetime) -> str:
    # arrow_json writes Timestamp(µs, None) with chrono "%Y-%m-%dT%H:%M:%S%.f": no fraction when
    # it is zero, else 3 or 6 digits.
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        micros = f"{value.microsecond:06d}"
        text += "." + (micros[:3] if micros.endswith("000") else micros)
    if value.tzinfo is not None:
        text += value.strftime("%z")[:3] + ":" + value.strftime("%z")[3:]
    return text


def _hit_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _format_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _hits(table: pa.Table) -> list[dict[str, Any]]:
    hits = []
    for row in table.to_pylist():
        hit = {}
        for key, value in row.items():
            value = _hit_value(value)
            if value is not None:  # arrow_json leaves NULLs out of the object
                hit[key] = value
        hits.append(hit)
    return hits


def _classify(error: Exception) -> QueryError:
    text = str(error)
    if "ParserError" in text or "SQL error" in text:
        code = SQL_NOT_VALID
    elif "No field named" in text:
        code = FIELD_NOT_FOUND
    elif "Invalid function" in text:
        code = FUNCTION_NOT_DEFINED
    elif re.search(r"table '[^']*' not found", text):
        code = STREAM_NOT_FOUND
    else:
        code = SQL_EXECUTE_ERROR
    # Speak of the functions by the names the user wrote.
    text = re.sub(r"\b(json_[a-z_]+)__\d+\b", r"\1", text)
    return QueryError(text, code)


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


class QueryEngine:
    """In-memory streams queried with OpenObserve's SQL dialect.

    >>> engine = QueryEngine()
    >>> engine.register_rows("app", [{"_timestamp": 1_000_000, "level": "error"}])
    >>> engine.query('SELECT count(*) AS n FROM "app"', start_time=0, end_time=2_000_000)
    [{'n': 1}]
    """

    def __init__(self) -> None:
        self._ctx = SessionContext()
        engine_udfs.register_all(self._ctx)
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._tables: dict[str, pa.Table] = {}
        self._partitions = max(1, min(4, os.cpu_count() or 1))

    # -- registration ---------------------------------------------------------------------
    def register_rows(self, stream: str, rows: list[dict[str, Any]]) -> None:
        """Add flattened rows to ``stream`` (created if new), re-inferring its schema."""
        kept = self._rows.setdefault(stream, [])
        if not kept and stream in self._tables:
            kept.extend(self._tables[stream].to_pylist())
        kept.extend(rows)
        self._install(stream, rows_to_table(kept))

    def register_arrow(self, stream: str, table: pa.Table) -> None:
        """Use ``table`` as the whole content of ``stream`` (it needs an Int64 ``_timestamp``)."""
        if TIMESTAMP_COLUMN not in table.column_names:
            raise ValueError(f"table for stream {stream!r} has no {TIMESTAMP_COLUMN} column")
        if table.schema.field(TIMESTAMP_COLUMN).type != pa.int64():
            table = table.set_column(
                table.schema.get_field_index(TIMESTAMP_COLUMN), TIMESTAMP_COLUMN,
                table.column(TIMESTAMP_COLUMN).cast(pa.int64()),
            )
        self._rows.pop(stream, None)
        self._install(stream, table)

    def _install(self, stream: str, table: pa.Table) -> None:
        self._tables[stream] = table
        base = self._base_name(stream)
        if self._ctx.table_exist(base):
            self._ctx.deregister_table(base)
        batches = table.combine_chunks().to_batches(
            max_chunksize=max(1, -(-table.num_rows // self._partitions))
        ) or [pa.RecordBatch.from_pylist([], schema=table.schema)]
        # One partition per batch lets DataFusion scan on several cores.
        self._ctx.register_record_batches(base, [[b] for b in batches])

    # -- querying -------------------------------------------------------------------------
    def prepare(self, sql: str, *, start_time: int, end_time: int,
                histogram_interval: int | None = None,
                variables: Mapping[str, str | Sequence[str] | None] | None = None,
                timezone: str | None = None) -> str:
        """The SQL DataFusion will run for this request (steps 1–4 of the module docstring)."""
        if variables:
            sql = substitute_variables(sql, variables)
        sql = remove_all_placeholder(sql)
        seconds = query_histogram_seconds(sql, start_time, end_time, histogram_interval)
        context = _HistogramContext(start_time, end_time, seconds or 0, timezone)
        return rewrite_functions(sql, context)

    def query(self, sql: str, *, start_time: int, end_time: int,
              histogram_interval: int | None = None,
              variables: Mapping[str, str | Sequence[str] | None] | None = None,
              timezone: str | None = None) -> list[dict[str, Any]]:
        """Run ``sql`` over rows with ``start_time <= _timestamp < end_time`` (µs); return hits."""
        prepared = self.prepare(sql, start_time=start_time, end_time=end_time,
                                histogram_interval=histogram_interval, variables=variables,
                                timezone=timezone)
        log.debug("running %s", prepared)
        scan_start = start_time
        if histogram_interval and histogram_interval > 0:
            bucket = histogram_interval * 1_000_000
            scan_start = start_time - start_time % bucket
        self._window(scan_start, end_time)
        engine_udfs.clear_memos()
        try:
            frame = self._ctx.sql(prepared)
            schema = frame.schema()
            # A constant column (now(), a literal) can come back "not null" in some batches and
            # nullable in the plan's schema; the values are what count, so rebuild on the plan's.
            table = pa.Table.from_batches(
                [b if b.schema.equals(schema) else pa.RecordBatch.from_arrays(b.columns,
                                                                               schema=schema)
                 for b in frame.collect()],
                schema=schema,
            )
        except Exception as error:  # DataFusion raises plain Exception subclasses
            raise _classify(error) from error
        finally:
            engine_udfs.clear_memos()
        return _hits(table)

    def _base_name(self, stream: str) -> str:
        # DataFusion parses registered names as SQL identifiers (lower-casing, splitting at
        # dots), so the base table gets a plain name and the stream view a quoted one.
        return f"{_BASE_PREFIX}{list(self._tables).index(stream)}"

    def _window(self, start_time: int, end_time: int) -> None:
        for stream in self._tables:
            quoted = '"' + stream.replace('"', '""') + '"'
            if self._ctx.table_exist(quoted):
                self._ctx.deregister_table(quoted)
            view = self._ctx.sql(
                f"SELECT * FROM {self._base_name(stream)} "
                f"WHERE {TIMESTAMP_COLUMN} >= {int(start_time)} "
                f"AND {TIMESTAMP_COLUMN} < {int(end_time)}"
            ).into_view()
            self._ctx.register_table(quoted, view)
