"""Backtests (``o2kit test --backtest``): how often, and when, each alert would have fired over a
past range — on a server through ``_search`` or on local synthetic data — with one search per
stream an alert reads, never one per window.

How one search serves every window. A scheduled alert runs at times T (its schedule, below) over
``[T - period, T)``. The alert's SQL is rewritten in two parts (``rewrite``):

* the *scan*: each innermost ``SELECT … FROM "stream"`` becomes one time-bucketed aggregate over the
  whole range — ``GROUP BY`` the bucket ``_timestamp - (_timestamp - phase) % step``, the scan's
  own groups, and the *partial* aggregates (``SUM``, ``COUNT``, ``MIN``, ``MAX``; ``AVG`` as
  ``SUM`` and ``COUNT``; ``FILTER (WHERE …)`` kept). ``step`` divides the period and the distance
  between any two run times, and ``phase`` puts bucket edges on the run times, so every window
  is a whole number of buckets. This is the one query sent to the server;
* the *combine*: the rest of the SQL, run on the local engine (``o2kit.query.engine``) over the
  scan's buckets joined to a table of run times ``zo_bt_end``: the partial aggregates are added
  up per window (``SUM`` of sums and counts, ``MIN`` of minima …), and every outer ``SELECT``
  carries ``zo_bt_end`` (in its projection, ``GROUP BY`` and join conditions) so one local query
  returns every window's rows. ``now()`` becomes the window's T, as on the server (below).

Then the alert's trigger condition is applied per window in Python, exactly as ``o2kit test``
does for one run (``o2kit.query.alerttest``: rows vs ``operator``/``threshold``, groups meeting
``having`` for aggregation alerts), and the schedule is replayed with silences (``replay``).

Not rewritten (the alert is skipped with this reason): ``LIMIT``/``OFFSET``, window functions
(``OVER``), ``WITH``, subqueries in expressions, joins without ``ON``, a scan that returns rows
rather than aggregates inside an outer query, aggregates that cannot be combined from buckets
(``COUNT(DISTINCT …)``, percentiles, medians …) unless period = frequency (then a window is one
bucket), ``now()`` in a scan anywhere but in a ``WHERE`` condition on ``_timestamp`` alone; and
whatever ``o2kit test`` does not evaluate (PromQL, real-time, multi-time-range, VRL, cron).
A ``WHERE`` condition on ``now()`` in a scan (the budgets' ``_timestamp >=
date_trunc('month', now())``) is applied per bucket start in the combine: exact when its boundary
falls on a bucket edge (month, week and day starts do for buckets of an hour or less in UTC).

Schedule semantics, from the OpenObserve source (commit fbab9b80; paths under ``src/``):

* a run at T searches ``[T - period, T)``: ``core/src/alerts/scheduler/handlers.rs``
  ``handle_alert_triggers`` (``final_end_time``, ``start_time = final_end_time - period``); the
  SQL's ``now()`` is the query time, T up to the scheduler's delay;
* the next run after T is ``get_next_trigger_time`` (``config/src/meta/alerts/mod.rs``):
  ``T + frequency`` — or, when this run matched and ``silence > 0``, ``T + max(frequency,
  silence)`` (``get_next_trigger_time_non_aligned``, ``apply_silence``) — then, with
  ``align_time`` (the default), floored by ``TriggerCondition::align_time``: minute-of-hour
  ``% frequency`` in the alert's time zone, seconds zeroed. Silence is not a mute: the runs in
  between never happen (handlers.rs: "Single-level alerts keep the legacy behaviour: push
  next_run_at past the silence window"). A run "fires" when its condition matches.
* frequency above 60 minutes: alignment floors to the hour only, so OpenObserve's run times
  depend on when the alert was created; the backtest starts from the first aligned time in
  range. Cron schedules are not replayed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import SqlglotError

from o2kit.query import alerttest

# A sqlglot node (its stubs type builders and nodes apart; the rewrite handles both alike).
Node = Any

MINUTE_US = 60_000_000
WINDOW_COLUMN = "zo_bt_end"
BUCKET_COLUMN = "zo_bt_bucket"
ROWS_COLUMN = "zo_bt_rows"
WINDOWS_TABLE = "zo_bt_windows"
SCAN_TABLE = "zo_bt_scan_{}"

# Bounds (the CLI's defaults; each is a flag).
MAX_SINCE_MINUTES = 31 * 24 * 60
MAX_QUERIES = 50
MAX_ROWS = 100_000
MAX_SECONDS = 300.0
MAX_WINDOWS = 50_000
SHOW_WINDOWS = 20


class NotRewritable(ValueError):
    """The alert's SQL cannot be turned into one bucketed scan (the reason is the message)."""


class _Dialect(Postgres):
    """OpenObserve parses with sqlparser's PostgreSqlDialect; sqlglot's Postgres would rewrite
    ``to_char`` formats (chrono ``%Y`` in DataFusion) into Postgres ``YYYY``: no time mapping."""

    TIME_MAPPING: dict[str, str] = {}


# =============================================================================================
# The schedule (pure)
# =============================================================================================


@dataclass(frozen=True)
class Schedule:
    period: int  # minutes: the look-back of each run
    frequency: int  # minutes between runs
    silence: int  # minutes without runs after a run that fired
    align: bool = True
    tz_offset: int = 0  # minutes (the alert's tz_offset; `timezone` wins when it parses)
    timezone: str | None = None

    @classmethod
    def of(cls, alert: Mapping[str, Any]) -> Schedule:
        trigger = alert.get("trigger_condition") or {}
        if trigger.get("frequency_type", "minutes") == "cron":
            raise NotRewritable("cron schedules are not replayed")
        period = int(trigger.get("period") or 0)
        frequency = int(trigger.get("frequency") or 1)  # minutes in the request body
        if period <= 0:
            raise NotRewritable("the alert has no period")
        return cls(period=period, frequency=max(1, frequency),
                   silence=max(0, int(trigger.get("silence") or 0)),
                   align=bool(trigger.get("align_time", True)),
                   tz_offset=int(alert.get("tz_offset") or 0),
                   timezone=trigger.get("timezone") or None)


def _offset_minutes(schedule: Schedule, at_us: int) -> int:
    """``get_timezone_from_string``: the IANA zone's offset at that instant, else tz_offset."""
    if schedule.timezone:
        try:
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=at_us)
            offset = moment.astimezone(ZoneInfo(schedule.timezone)).utcoffset()
            if offset is not None:
                return int(offset.total_seconds() // 60)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return schedule.tz_offset


def align_time(schedule: Schedule, at_us: int) -> int:
    """``TriggerCondition::align_time``: back to the previous minute-of-hour multiple of the
    frequency (in the alert's zone), seconds and sub-seconds zeroed."""
    offset = _offset_minutes(schedule, at_us)
    local = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=at_us)).astimezone(
        timezone(timedelta(minutes=offset)))
    back = local.minute % max(1, schedule.frequency)
    aligned = (local - timedelta(minutes=back)).replace(second=0, microsecond=0)
    return alerttest.to_micros(aligned)


def next_run(schedule: Schedule, at_us: int, fired: bool) -> int:
    """The run after the one at ``at_us`` (``get_next_trigger_time`` with now = ``at_us``)."""
    minutes = max(schedule.frequency, schedule.silence) if fired and schedule.silence > 0 \
        else schedule.frequency
    following = at_us + minutes * MINUTE_US
    return align_time(schedule, following) if schedule.align else following


def run_times(schedule: Schedule, start_us: int, end_us: int, limit: int = MAX_WINDOWS,
              ) -> list[int]:
    """Every run time in ``[start_us, end_us]`` when the alert never fires (the grid)."""
    if schedule.align:
        at = align_time(schedule, start_us)
    else:
        step = schedule.frequency * MINUTE_US
        at = start_us - start_us % step
    while at < start_us:
        at = next_run(schedule, at, False)
    out: list[int] = []
    while at <= end_us:
        if len(out) >= limit:
            raise NotRewritable(f"more than {limit} runs in the range; shorten --since")
        out.append(at)
        at = next_run(schedule, at, False)
    return out


def bucket_of(schedule: Schedule, runs: Sequence[int]) -> tuple[int, int]:
    """``(step, phase)`` in µs: the widest bucket whose edges hold every run time and every
    window start (``step`` divides the period and every gap between runs)."""
    step = schedule.period * MINUTE_US
    for a, b in zip(runs, runs[1:], strict=False):
        step = math.gcd(step, b - a)
    phase = runs[0] % step if runs else 0
    return step, phase


def replay(schedule: Schedule, runs: Sequence[int], matched: Mapping[int, bool],
           ) -> tuple[list[int], list[str]]:
    """The runs that fire, replaying the scheduler from the first run: a run that matches fires
    and the next one comes after ``max(frequency, silence)``; notes for runs off the grid."""
    fired: list[int] = []
    notes: list[str] = []
    if not runs:
        return fired, notes
    at, last = runs[0], runs[-1]
    while at <= last:
        if at not in matched:
            notes.append(f"the run at {alerttest.format_micros(at)} (after a silence) is not on "
                         "the frequency grid; the replay stops there")
            break
        hit = matched[at]
        if hit:
            fired.append(at)
        at = next_run(schedule, at, hit)
    return fired, notes


# =============================================================================================
# Rewriting the SQL
# =============================================================================================


@dataclass
class Scan:
    """One bucketed search over one stream (the SQL sent to the server)."""

    index: int
    stream: str
    sql: str
    columns: dict[str, str]  # partial column → "group" or "aggregate"


@dataclass
class Rewrite:
    scans: list[Scan]
    combine: str  # local SQL over zo_bt_windows and zo_bt_scan_<i>
    count_only: bool = False  # the alert's SQL is a bare row scan: zo_bt_rows per window
    notes: list[str] = field(default_factory=list)


_KNOWN_AGGREGATES = frozenset({
    "approx_distinct", "approx_median", "approx_percentile_cont",
    "approx_percentile_cont_with_weight", "approx_topk", "array_agg", "string_agg", "median",
    "first_value", "last_value", "bit_and", "bit_or", "bit_xor", "bool_and", "bool_or", "corr",
    "covar", "covar_pop", "covar_samp", "stddev", "stddev_pop", "stddev_samp", "var", "var_pop",
    "var_samp", "percentile_cont", "count_distinct", "histogram_agg",
})


def _is_aggregate(node: Node) -> bool:
    if isinstance(node, exp.Filter | exp.WithinGroup):
        return _is_aggregate(node.this)
    if isinstance(node, exp.AggFunc):
        return True
    return isinstance(node, exp.Anonymous) and str(node.name).lower() in _KNOWN_AGGREGATES


def _own(node: Node, select: Node) -> bool:
    """True when ``node``'s nearest enclosing SELECT is ``select``."""
    return node.find_ancestor(exp.Select) is select


def _own_nodes(select: exp.Select, kind: Any,
               ) -> list[Node]:
    return [n for n in select.find_all(kind) if n is not select and _own(n, select)]


def _has_own_aggregate(select: exp.Select) -> bool:
    parts = [*select.expressions]
    if select.args.get("having") is not None:
        parts.append(select.args["having"])
    for part in parts:
        for node in part.walk():
            if _is_aggregate(node) and _own(node, select):
                return True
    return False


def _now_nodes(node: Node) -> list[Node]:
    found: list[Node] = list(node.find_all(exp.CurrentTimestamp))
    found += [n for n in node.find_all(exp.Anonymous) if str(n.name).lower() == "now"]
    return found


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def _window_time(window: Node) -> Node:
    return exp.Anonymous(this="to_timestamp_micros", expressions=[window.copy()])


def _replace_now(node: Node, window: Node, owner: exp.Select | None,
                 ) -> Node:
    for now in _now_nodes(node):
        if owner is None or _own(now, owner):
            now.replace(_window_time(window))
    return node


def _conjuncts(where: Node | None) -> list[Node]:
    if where is None:
        return []
    return list(where.flatten()) if isinstance(where, exp.And) else [where]


def _and(parts: Sequence[Node]) -> Node | None:
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out = exp.and_(out, part)
    return out


def _check_shape(tree: Node) -> None:
    if tree.find(exp.With) is not None:
        raise NotRewritable("WITH (common table expressions) is not rewritten")
    if tree.find(exp.Limit) is not None or tree.find(exp.Offset) is not None:
        raise NotRewritable("LIMIT/OFFSET keeps the first rows of the whole range, not of each "
                            "window")
    if tree.find(exp.Window) is not None:
        raise NotRewritable("window functions (OVER) see rows across windows")
    for sub in tree.find_all(exp.Subquery):
        if not isinstance(sub.parent, exp.From | exp.Join):
            raise NotRewritable("subqueries inside expressions are not rewritten")
    for node in tree.find_all(exp.Exists, exp.In):
        if node.find(exp.Select) is not None:
            raise NotRewritable("subqueries inside expressions are not rewritten")
    for kind in (exp.CurrentDate, exp.CurrentTime):
        if tree.find(kind) is not None:
            raise NotRewritable("current_date/current_time are not rewritten (now() is)")


def rewrite(sql: str, *, step_us: int, phase_us: int, period_us: int,
            tumbling: bool) -> Rewrite:
    """The scans and the combine query of ``sql`` (module docstring); ``NotRewritable``
    says why not. ``tumbling``: each window is exactly one bucket (any aggregate may stay)."""
    try:
        tree = sqlglot.parse_one(sql, read=_Dialect)
    except SqlglotError as exc:
        raise NotRewritable(f"the SQL does not parse: {str(exc).splitlines()[0]}") from None
    if not isinstance(tree, exp.Select | exp.Union):
        raise NotRewritable("the SQL is not a SELECT")
    _check_shape(tree)
    selects = list(tree.find_all(exp.Select))
    leaves = []
    for select in selects:
        sources = _sources(select)
        tables = [s for s in sources if isinstance(s, exp.Table)]
        if tables and len(sources) > 1:
            raise NotRewritable("a SELECT that joins a stream directly is not rewritten (join "
                                "aggregated subqueries instead)")
        if tables:
            leaves.append(select)
        elif not sources:
            raise NotRewritable("a SELECT without FROM is not rewritten")
    if not leaves:
        raise NotRewritable("the SQL reads no stream")
    rewrite_ = Rewrite(scans=[], combine="")
    replaced: set[int] = set()
    for index, leaf in enumerate(leaves):
        combine, scan, count_only, notes = _leaf(leaf, index, tree, step_us=step_us,
                                                 phase_us=phase_us, period_us=period_us,
                                                 tumbling=tumbling)
        rewrite_.scans.append(scan)
        rewrite_.count_only = rewrite_.count_only or count_only
        rewrite_.notes.extend(n for n in notes if n not in rewrite_.notes)
        if leaf is tree:
            tree = combine
        else:
            leaf.replace(combine)
        replaced.add(id(combine))
    for select in list(tree.find_all(exp.Select)):
        if id(select) not in replaced and not _inside(select, replaced):
            _carry(select)
    rewrite_.combine = tree.sql(dialect=_Dialect)
    return rewrite_


def _inside(node: Node, ids: set[int]) -> bool:
    parent = node.parent
    while parent is not None:
        if id(parent) in ids:
            return True
        parent = parent.parent
    return False


def _sources(select: exp.Select) -> list[Node]:
    out = []
    from_ = select.args.get("from") or select.args.get("from_")
    if from_ is not None:
        out.append(from_.this)
    out.extend(j.this for j in select.args.get("joins") or [])
    return out


def _from_key(select: exp.Select) -> str:
    return "from" if "from" in select.args and select.args.get("from") is not None else "from_"


def _leaf(select: exp.Select, index: int, root: Node, *, step_us: int, phase_us: int,
          period_us: int, tumbling: bool) -> tuple[exp.Select, Scan, bool, list[str]]:
    table = _sources(select)[0]
    assert isinstance(table, exp.Table)
    stream = table.name
    notes: list[str] = []
    for part in [*select.expressions, select.args.get("having"), select.args.get("group")]:
        if part is not None and _now_nodes(part):
            raise NotRewritable("now() in a scan's projection, GROUP BY or HAVING is not "
                                "rewritten")
    keep, moved = [], []
    where = select.args.get("where")
    for conjunct in _conjuncts(where.this if where is not None else None):
        if _now_nodes(conjunct):
            other = {c.name for c in conjunct.find_all(exp.Column)} - {"_timestamp"}
            if other:
                raise NotRewritable("a condition on now() in a scan may use only _timestamp "
                                    f"(this one also reads {', '.join(sorted(other))})")
            moved.append(conjunct)
        else:
            keep.append(conjunct)
    if moved:
        notes.append(f"conditions on now() are applied to whole {step_us // MINUTE_US}-minute "
                     "buckets (by their start)")
    if phase_us:
        bucket_sql = f"_timestamp - (_timestamp - {phase_us}) % {step_us}"
    else:
        bucket_sql = f"_timestamp - _timestamp % {step_us}"
    bucket = sqlglot.parse_one(bucket_sql, read=_Dialect)
    where_sql = _and([c.copy() for c in keep])
    stream_sql = table.sql(dialect=_Dialect)
    group = select.args.get("group")
    aggregated = group is not None or _has_own_aggregate(select)
    window = _col(WINDOW_COLUMN, "zo_bt_w")

    if not aggregated:
        if select is not root or select.args.get("distinct"):
            raise NotRewritable("a scan that returns rows (not aggregates) inside an outer "
                                "query cannot be bucketed; aggregate in the scan")
        scan = exp.select(bucket.copy().as_(BUCKET_COLUMN),
                          exp.Count(this=exp.Star()).as_(ROWS_COLUMN)).from_(stream_sql)
        if where_sql is not None:
            scan = scan.where(where_sql)
        scan = scan.group_by(bucket.copy())
        combine = _combine_select(
            [exp.Coalesce(this=exp.Sum(this=_col(ROWS_COLUMN, "p")),
                          expressions=[exp.Literal.number(0)]).as_(ROWS_COLUMN)],
            index, period_us, moved, groups=[], left=True)
        return combine, Scan(index, stream, scan.sql(dialect=_Dialect),
                             {ROWS_COLUMN: "aggregate"}), True, notes

    # GROUP BY items, aliases and ordinals resolved to the expressions they name.
    aliases = {e.alias: e.unalias() for e in select.expressions if isinstance(e, exp.Alias)}
    groups: list[Node] = []
    for item in (group.expressions if group is not None else []):
        if isinstance(item, exp.Literal) and item.is_int:
            position = int(item.this) - 1
            if not 0 <= position < len(select.expressions):
                raise NotRewritable(f"GROUP BY {item.this} names no column")
            groups.append(select.expressions[position].unalias().copy())
        elif isinstance(item, exp.Column) and not item.table and item.name in aliases:
            groups.append(aliases[item.name].copy())
        else:
            groups.append(item.copy())
    partials: list[tuple[str, Node]] = []

    def combined(node: Node) -> Node:
        inner = node.this if isinstance(node, exp.Filter) else node
        condition = node.expression if isinstance(node, exp.Filter) else None

        def partial(expr: Node) -> str:
            name = f"zo_bt_a{len(partials)}"
            if condition is not None:
                expr = exp.Filter(this=expr, expression=condition.copy())
            partials.append((name, expr))
            return name

        distinct = isinstance(inner.args.get("this"), exp.Distinct)
        if isinstance(inner, exp.Sum) and not distinct:
            return exp.Sum(this=_col(partial(inner.copy()), "p"))
        if isinstance(inner, exp.Count) and not distinct:
            return exp.Coalesce(this=exp.Sum(this=_col(partial(inner.copy()), "p")),
                                expressions=[exp.Literal.number(0)])
        if isinstance(inner, exp.Min | exp.Max) and not distinct:
            return type(inner)(this=_col(partial(inner.copy()), "p"))
        if isinstance(inner, exp.Avg) and not distinct:
            total = partial(exp.Sum(this=inner.this.copy()))
            count = partial(exp.Count(this=inner.this.copy()))
            return exp.Div(this=exp.Cast(this=exp.Sum(this=_col(total, "p")),
                                         to=exp.DataType.build("DOUBLE")),
                           expression=exp.Sum(this=_col(count, "p")))
        if tumbling:
            return exp.Max(this=_col(partial(node.copy()), "p"))
        name = node.sql(dialect=_Dialect)
        raise NotRewritable(f"{name[:60]} cannot be combined from {step_us // MINUTE_US}-minute "
                            "buckets (only SUM, COUNT, MIN, MAX and AVG can, or any aggregate "
                            "when period = frequency)")

    def convert(node: Node) -> Node:
        def visit(n: Node) -> Node:
            for i, g in enumerate(groups):
                if n == g:
                    return _col(f"zo_bt_g{i}", "p")
            if _is_aggregate(n):
                return combined(n)
            return n

        out = node.copy().transform(visit)
        for column in out.find_all(exp.Column):
            if column.table not in ("p", "zo_bt_w"):
                raise NotRewritable(f"column {column.name} of a scan is neither grouped nor "
                                    "aggregated")
        return out

    projection = []
    for item in select.expressions:
        converted = convert(item)
        if not isinstance(item, exp.Alias) and item.alias_or_name \
                and converted.alias_or_name != item.alias_or_name:
            converted = converted.as_(item.alias_or_name)
        projection.append(converted)
    having = select.args.get("having")
    having_expr = None
    if having is not None:
        # HAVING may name the projection's aliases (custom alerts: "alert_agg_value").
        resolved = having.this.copy()
        for column in list(resolved.find_all(exp.Column)):
            if not column.table and column.name in aliases:
                column.replace(aliases[column.name].copy())
        having_expr = convert(resolved)
    scan = exp.select(bucket.copy().as_(BUCKET_COLUMN),
                      *[g.copy().as_(f"zo_bt_g{i}") for i, g in enumerate(groups)],
                      *[p.as_(name) for name, p in partials]).from_(stream_sql)
    if where_sql is not None:
        scan = scan.where(where_sql)
    scan = scan.group_by(bucket.copy(), *[g.copy() for g in groups])
    columns = {f"zo_bt_g{i}": "group" for i in range(len(groups))}
    columns.update({name: "aggregate" for name, _ in partials})
    combine = _combine_select([window.copy().as_(WINDOW_COLUMN), *projection], index, period_us,
                              moved, groups=[_col(f"zo_bt_g{i}", "p") for i in range(len(groups))],
                              left=group is None, having=having_expr)
    if select.args.get("distinct"):
        combine.set("distinct", select.args["distinct"].copy())
    return combine, Scan(index, stream, scan.sql(dialect=_Dialect), columns), False, notes


def _combine_select(projection: list[Node], index: int, period_us: int,
                    moved: Sequence[Node], *, groups: Sequence[Node],
                    left: bool, having: Node | None = None) -> exp.Select:
    window = _col(WINDOW_COLUMN, "zo_bt_w")
    on: list[Node] = [
        sqlglot.parse_one(f"p.{BUCKET_COLUMN} >= zo_bt_w.{WINDOW_COLUMN} - {period_us}",
                          read=_Dialect),
        sqlglot.parse_one(f"p.{BUCKET_COLUMN} < zo_bt_w.{WINDOW_COLUMN}", read=_Dialect),
    ]
    for conjunct in moved:
        moved_expr = conjunct.copy()
        for column in list(moved_expr.find_all(exp.Column)):
            column.replace(_col(BUCKET_COLUMN, "p"))
        on.append(_replace_now(moved_expr, window, None))
    if not any(isinstance(e, exp.Alias) and e.alias == WINDOW_COLUMN for e in projection):
        projection = [window.copy().as_(WINDOW_COLUMN), *projection]
    windows = sqlglot.parse_one(f'(SELECT {WINDOW_COLUMN} FROM "{WINDOWS_TABLE}") AS zo_bt_w',
                                read=_Dialect)
    select = exp.select(*projection).from_(windows)
    select = select.join(f'"{SCAN_TABLE.format(index)}" AS p', on=_and(on),
                         join_type="LEFT" if left else "INNER", dialect=_Dialect)
    select = select.group_by(window.copy(), *[g.copy() for g in groups])
    if having is not None:
        select = select.having(having)
    return select


def _carry(select: exp.Select) -> None:
    """Make an outer SELECT keep ``zo_bt_end``: in its projection, GROUP BY, join conditions;
    ``now()`` becomes the window's time."""
    sources = _sources(select)
    aggregated = select.args.get("group") is not None or _has_own_aggregate(select)
    star = any(isinstance(e, exp.Star) for e in select.expressions)
    joins = select.args.get("joins") or []
    if joins:
        names = []
        for source in sources:
            if not source.alias:
                raise NotRewritable("joined subqueries need an alias")
            names.append(source.alias)
        if star:
            raise NotRewritable("SELECT * over a join is not rewritten")
        for k, join in enumerate(joins, start=1):
            if join.args.get("using"):
                raise NotRewritable("JOIN … USING is not rewritten (use ON)")
            if join.args.get("on") is None:
                raise NotRewritable("a join without ON is not rewritten")
            before = _coalesce([_col(WINDOW_COLUMN, n) for n in names[:k]])
            same = exp.EQ(this=before, expression=_col(WINDOW_COLUMN, names[k]))
            join.set("on", exp.and_(join.args["on"], same))
        window: Node = _coalesce([_col(WINDOW_COLUMN, n) for n in names])
        if aggregated and select.args.get("group") is None:
            raise NotRewritable("an aggregate without GROUP BY over a join is not rewritten")
    elif aggregated and select.args.get("group") is None:
        # One row per window even when a window has no rows, as the original query returns one
        # row on empty input: the windows table LEFT JOIN the source.
        source = sources[0]
        alias = source.alias or "zo_bt_s"
        if not source.alias:
            source.replace(exp.alias_(source.copy(), alias, table=True))
        for count in _own_nodes(select, exp.Count):
            if isinstance(count.this, exp.Star):
                count.set("this", _col(WINDOW_COLUMN, alias))
        window = _col(WINDOW_COLUMN, "zo_bt_w")
        from_key = _from_key(select)
        source_node = select.args[from_key].this
        windows = sqlglot.parse_one(f'(SELECT {WINDOW_COLUMN} FROM "{WINDOWS_TABLE}") AS zo_bt_w',
                                    read=_Dialect)
        select.set(from_key, exp.From(this=windows))
        select.set("joins", [exp.Join(this=source_node, side="LEFT",
                                      on=exp.EQ(this=_col(WINDOW_COLUMN, "zo_bt_w"),
                                                expression=_col(WINDOW_COLUMN, alias)))])
    else:
        window = _col(WINDOW_COLUMN)
    for now in [n for n in _now_nodes(select) if _own(n, select)]:
        now.replace(_window_time(window))
    if not star:
        select.set("expressions", [*select.expressions, window.copy().as_(WINDOW_COLUMN)])
    if aggregated:
        group = select.args.get("group")
        items = [*(group.expressions if group is not None else []), window.copy()]
        select.set("group", exp.Group(expressions=items))


def _coalesce(items: Sequence[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    return exp.Coalesce(this=items[0], expressions=list(items[1:]))


# =============================================================================================
# Running
# =============================================================================================

# A search: (sql, start_us, end_us, max_rows, stream_type) → hits; raises o2kit errors.
Search = Callable[[str, int, int, int, str], list[dict[str, Any]]]


@dataclass
class Limits:
    max_queries: int = MAX_QUERIES
    max_rows: int = MAX_ROWS
    max_seconds: float = MAX_SECONDS
    max_windows: int = MAX_WINDOWS


@dataclass
class AlertResult:
    folder: str
    name: str
    status: str  # "ran" or "skipped"
    reason: str = ""
    runs: int = 0  # windows evaluated (the grid)
    matched: int = 0  # windows whose condition held
    fired: list[int] = field(default_factory=list)  # runs that fired, after silences
    observed: dict[int, float] = field(default_factory=dict)  # value that decided, per fire
    queries: int = 0
    rows: int = 0
    notes: list[str] = field(default_factory=list)
    period: int = 0
    frequency: int = 0
    silence: int = 0
    measure: str = "rows"  # what `observed` counts: rows, or groups meeting `having`

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder, "alert": self.name, "status": self.status,
            "reason": self.reason or None, "windows": self.runs,
            "matched_windows": self.matched, "fires": len(self.fired),
            "first": alerttest.format_micros(self.fired[0]) if self.fired else None,
            "last": alerttest.format_micros(self.fired[-1]) if self.fired else None,
            "fired_at": [alerttest.format_micros(t) for t in self.fired],
            "period_minutes": self.period, "frequency_minutes": self.frequency,
            "silence_minutes": self.silence,
            "observed": {alerttest.format_micros(t): v for t, v in self.observed.items()},
            "observed_measure": self.measure, "queries": self.queries, "rows": self.rows,
            "notes": self.notes,
        }


@dataclass
class Report:
    start_us: int
    end_us: int
    source: str  # "server" or "local"
    alerts: list[AlertResult]
    queries: int = 0
    seconds: float = 0.0


class _Budget:
    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self.started = clock()
        self.queries = 0

    def refusal(self, needed: int) -> str | None:
        if self.clock() - self.started > self.limits.max_seconds:
            return f"time budget of {self.limits.max_seconds:g} s spent (--max-seconds)"
        if self.queries + needed > self.limits.max_queries:
            return (f"query cap of {self.limits.max_queries} reached (--max-queries); this "
                    f"alert needs {needed}")
        return None


def backtest(alerts: Sequence[tuple[str, str, Mapping[str, Any]]], search: Search, *,
             start_us: int, end_us: int, source: str, limits: Limits | None = None,
             schemas: Mapping[str, Any] | None = None,
             clock: Callable[[], float] = time.monotonic) -> Report:
    """Backtest each ``(folder, name, body)`` over run times in ``[start_us, end_us]``.

    ``search`` runs a scan (the server's ``_search`` or the local engine); ``schemas`` (stream →
    Arrow schema) lets custom alerts be turned into SQL (``alerttest.custom_sql``)."""
    limits = limits or Limits()
    budget = _Budget(limits, clock)
    results = []
    for folder, name, body in alerts:
        results.append(_one(folder, name, body, search, budget, start_us, end_us, schemas or {}))
    return Report(start_us, end_us, source, results, queries=budget.queries,
                  seconds=clock() - budget.started)


def _one(folder: str, name: str, alert: Mapping[str, Any], search: Search, budget: _Budget,
         start_us: int, end_us: int, schemas: Mapping[str, Any]) -> AlertResult:
    result = AlertResult(folder, name, "skipped")
    try:
        schedule = Schedule.of(alert)
        result.period, result.frequency, result.silence = (schedule.period, schedule.frequency,
                                                           schedule.silence)
        reason = alerttest.unsupported_reason(alert)
        if reason:
            raise NotRewritable(reason)
        if not alert.get("enabled", False):
            raise NotRewritable("the alert is disabled (OpenObserve never runs it)")
        sql = _alert_sql(alert, schemas)
        runs = run_times(schedule, start_us, end_us, budget.limits.max_windows)
        if not runs:
            raise NotRewritable("no run time in the range")
        step, phase = bucket_of(schedule, runs)
        period_us = schedule.period * MINUTE_US
        tumbling = step == period_us and all(b - a == period_us
                                             for a, b in zip(runs, runs[1:], strict=False))
        plan = rewrite(sql, step_us=step, phase_us=phase, period_us=period_us,
                       tumbling=tumbling)
    except (NotRewritable, alerttest.UnsupportedAlert) as exc:
        result.reason = str(exc)
        return result
    refusal = budget.refusal(len(plan.scans))
    if refusal:
        result.reason = refusal
        return result
    result.notes.extend(plan.notes)
    scan_start, scan_end = runs[0] - period_us, runs[-1]
    tables: dict[int, list[dict[str, Any]]] = {}
    for scan in plan.scans:
        budget.queries += 1
        result.queries += 1
        try:
            hits = search(scan.sql, scan_start, scan_end, budget.limits.max_rows + 1,
                          str(alert.get("stream_type") or "logs"))
        except Exception as exc:  # an o2kit error from the search: reported, the next alert runs
            result.reason = f"the search failed: {getattr(exc, 'message', None) or exc}"
            return result
        result.rows += len(hits)
        if len(hits) > budget.limits.max_rows:
            result.reason = (f"the scan of {scan.stream} returned more than "
                             f"{budget.limits.max_rows} bucket rows (--max-rows); shorten "
                             "--since")
            return result
        tables[scan.index] = hits
    try:
        per_window = combine(plan, tables, runs)
    except Exception as exc:  # the local engine's error on the combine query
        result.reason = f"the combined query failed locally: {getattr(exc, 'message', None) or exc}"
        return result
    matched: dict[int, bool] = {}
    observed: dict[int, float] = {}
    for at in runs:
        hit, value = decide(alert, per_window.get(at, []), count_only=plan.count_only)
        matched[at] = hit
        observed[at] = value
    fired, notes = replay(schedule, runs, matched)
    result.status = "ran"
    result.measure = "groups" if (alert.get("query_condition") or {}).get("aggregation") \
        else "rows"
    result.runs = len(runs)
    result.matched = sum(1 for v in matched.values() if v)
    result.fired = fired
    result.observed = {t: observed[t] for t in fired}
    result.notes.extend(notes)
    return result


def _alert_sql(alert: Mapping[str, Any], schemas: Mapping[str, Any]) -> str:
    query = alert.get("query_condition") or {}
    if query.get("type") == "slo":
        raise NotRewritable("an SLO alert runs no query: OpenObserve evaluates its SLO's burn "
                            "rate from the SLO's own slices")
    if query.get("type") == "sql":
        sql = str(query.get("sql") or "")
        if not sql.strip():
            raise NotRewritable("the alert has no SQL")
        return sql
    stream = str(alert.get("stream_name", ""))
    if query.get("conditions") is None:
        raise NotRewritable("a custom alert without conditions returns no data")
    if stream not in schemas:
        raise NotRewritable(f"custom alert: the schema of stream {stream!r} is unknown "
                            "(no data in it)")
    return alerttest.custom_sql(alert, schemas[stream])


# Arrow type names in a stream's schema (``GET /api/{org}/streams/{stream}/schema``,
# ``src/config/src/meta/stream.rs`` ``Stream.schema``: arrow ``DataType`` names) that custom
# alerts' conditions care about: strings, integers, floats, booleans (alerttest._kind).
_ARROW_TYPES = {"utf8": "string", "largeutf8": "string", "utf8view": "string", "int64": "int64",
                "int32": "int32", "int16": "int16", "uint64": "int64", "uint32": "int64",
                "float64": "float64", "float32": "float32", "boolean": "bool"}


def arrow_schema(answer: Mapping[str, Any]) -> Any:
    """An Arrow schema from a stream-schema answer (fields of other types become strings:
    o2kit's SQL for custom alerts only distinguishes the kinds above)."""
    import pyarrow as pa

    fields = []
    for item in answer.get("schema") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        kind = _ARROW_TYPES.get(str(item.get("type", "")).lower().replace("_", ""), "string")
        fields.append(pa.field(item["name"], getattr(pa, kind)()))
    return pa.schema(fields)


def custom_streams(alerts: Sequence[tuple[str, str, Mapping[str, Any]]],
                   ) -> list[tuple[str, str]]:
    """``(stream_type, stream)`` of the custom (condition-built) alerts: their SQL needs the
    stream's column types."""
    out: list[tuple[str, str]] = []
    for _, _, alert in alerts:
        query = alert.get("query_condition") or {}
        if query.get("type", "custom") == "custom" and query.get("conditions") is not None:
            key = (str(alert.get("stream_type") or "logs"), str(alert.get("stream_name", "")))
            if key not in out:
                out.append(key)
    return out


def _table(hits: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> Any:
    import pyarrow as pa

    from o2kit.query.engine import _column_type

    data: dict[str, Any] = {
        "_timestamp": pa.array([int(h[BUCKET_COLUMN]) for h in hits], pa.int64()),
        BUCKET_COLUMN: pa.array([int(h[BUCKET_COLUMN]) for h in hits], pa.int64()),
    }
    for name, role in columns.items():
        values = [h.get(name) for h in hits]
        kind = _column_type(values)
        if all(v is None for v in values):
            kind = pa.float64() if role == "aggregate" else pa.string()
        if kind == pa.string():
            values = [None if v is None else v if isinstance(v, str) else str(v) for v in values]
        elif kind == pa.float64():
            values = [None if v is None else float(v) for v in values]
        data[name] = pa.array(values, kind)
    return pa.table(data)


def combine(plan: Rewrite, tables: Mapping[int, Sequence[Mapping[str, Any]]],
            runs: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Rows of the alert's query per run time: the combine query on the local engine."""
    import pyarrow as pa

    from o2kit.query.engine import QueryEngine

    engine = QueryEngine()
    engine.register_arrow(WINDOWS_TABLE, pa.table({
        "_timestamp": pa.array(list(runs), pa.int64()),
        WINDOW_COLUMN: pa.array(list(runs), pa.int64())}))
    for scan in plan.scans:
        for hit in tables.get(scan.index, []):
            if not isinstance(hit.get(BUCKET_COLUMN), int | float):
                raise NotRewritable(f"a scan row has no numeric {BUCKET_COLUMN}")
        engine.register_arrow(SCAN_TABLE.format(scan.index),
                              _table(tables.get(scan.index, []), scan.columns))
    rows = engine.query(plan.combine, start_time=0, end_time=2**62)
    out: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        at = row.pop(WINDOW_COLUMN, None)
        if isinstance(at, int):
            out.setdefault(at, []).append(row)
    return out


def decide(alert: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], *,
           count_only: bool = False) -> tuple[bool, float]:
    """The trigger condition on one window's rows (``alerttest.evaluate``'s rules): whether it
    matched and the value compared (rows, or groups meeting ``having``)."""
    trigger = alert.get("trigger_condition") or {}
    query = alert.get("query_condition") or {}
    operator = str(trigger.get("operator", "="))
    threshold = int(trigger.get("threshold") or 0)
    aggregation = query.get("aggregation")
    if aggregation:
        having = aggregation.get("having") or {}
        critical = alerttest._json_number(having.get("value"))
        if critical is None:
            raise alerttest.UnsupportedAlert("aggregation threshold (having.value) is not numeric")
        seen = list(rows)[:alerttest.required_search_size(operator, threshold)]
        values = [None if isinstance(r.get("alert_agg_value"), str)
                  else alerttest._json_number(r.get("alert_agg_value")) for r in seen]
        groups = sum(1 for v in values if v is not None
                     and alerttest.compare(v, str(having.get("operator", "=")), critical))
        return alerttest.compare(groups, operator, threshold), float(groups)
    if count_only:
        count = float(sum(int(r.get(ROWS_COLUMN) or 0) for r in rows))
    else:
        count = float(len(rows))
    return alerttest.compare(count, operator, threshold), count


# =============================================================================================
# Output (text values only; the CLI prints them through its redacting consoles)
# =============================================================================================


def summary_line(result: AlertResult, days_text: str) -> str:
    if result.status != "ran":
        return f"skipped: {result.reason}"
    n = len(result.fired)
    times = "time" if n == 1 else "times"
    text = f"would have fired {n} {times} in the last {days_text}"
    if n:
        text += (f" (first {alerttest.format_micros(result.fired[0])}, last "
                 f"{alerttest.format_micros(result.fired[-1])})")
    return text + f"; condition held in {result.matched} of {result.runs} runs"


def since_text(minutes: int) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day" + ("s" if days != 1 else "")
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{minutes} minute" + ("s" if minutes != 1 else "")


def as_json(report: Report, since_minutes: int) -> dict[str, Any]:
    return {
        "source": report.source,
        "since_minutes": since_minutes,
        "start": alerttest.format_micros(report.start_us),
        "end": alerttest.format_micros(report.end_us),
        "queries": report.queries,
        "seconds": round(report.seconds, 3),
        "alerts": [r.as_dict() for r in report.alerts],
    }


def markdown(report: Report, since_minutes: int, md: Callable[[str], str], *,
             env: str | None = None, empty: str = "No alert to backtest.") -> str:
    """A Markdown fragment: one table row per alert. ``md`` escapes text (redact.md_text)."""
    span = since_text(since_minutes)
    where = f"environment {md(env)}, " if env else ""
    data = "server data" if report.source == "server" else "local synthetic traffic"
    head = (f"**Backtest** ({where}{data}, last {span}, {report.queries} "
            f"search{'es' if report.queries != 1 else ''})")
    if not report.alerts:
        return f"{head}: {md(empty)}\n"
    if all(r.status != "ran" for r in report.alerts):
        one = report.alerts[0]
        count = len(report.alerts)
        return (f"{head}: could not run for any of the {count} alert"
                f"{'s' if count != 1 else ''} (first: {md(one.name)}: {md(one.reason)})\n")
    lines = [f"{head}:", "", "| alert | backtest | first | last |", "|---|---|---|---|"]
    for r in report.alerts:
        label = md(f"{r.folder}/{r.name}")
        if r.status != "ran":
            lines.append(f"| {label} | skipped: {md(r.reason)} | – | – |")
            continue
        n = len(r.fired)
        first = alerttest.format_micros(r.fired[0]) if n else "–"
        last = alerttest.format_micros(r.fired[-1]) if n else "–"
        lines.append(f"| {label} | would have fired {n} time{'s' if n != 1 else ''} in the last "
                     f"{span} | {first} | {last} |")
    return "\n".join(lines) + "\n"
