"""``POST /api/{org}/_search``: SQL over the rows the fake has ingested.

The SQL runs on a query engine the caller injects (``FakeOpenObserve(query_engine_factory=...)``;
o2kit passes ``o2kit.query.engine.QueryEngine``): the fake package stays independent of o2kit's own
modules, and without an engine the route answers 501. The engine must offer
``register_arrow(stream, table)`` and ``query(sql, *, start_time, end_time, histogram_interval,
timezone) -> list[dict]``, and raise errors carrying OpenObserve's search ``code`` and a
``detail`` text. One engine serves one (org, stream type); a stream's Arrow table is handed to it
again only after rows were written (``Stream.generation``).

Behaviour from the OpenObserve source (commit fbab9b80):

* request — ``src/config/src/meta/search.rs`` ``Request``/``Query``: ``query.sql``,
  ``start_time``, ``end_time`` required (µs), ``from`` 0, ``size`` ``ZO_QUERY_DEFAULT_LIMIT``
  (1000), ``histogram_interval`` 0, ``timezone``; ``encoding: "base64"`` means the SQL is in
  OpenObserve's URL-safe base64 (``-``/``_``/``.`` for ``+``/``/``/``=``,
  ``src/config/src/utils/base64.rs`` ``decode_url``). The ``type`` query parameter picks the
  stream type (``StreamType::from``; logs by default).
* streams — every table the SQL reads must be a stream with a schema, else 20002
  (``src/search/src/sql/mod.rs`` step 1, before the SQL is even parsed fully).
* limit — ``src/search/src/sql/mod.rs`` and ``src/search/src/datafusion/optimizer/``
  (``generate_optimizer_rules``, ``AddSortAndLimit``): when the SQL has its own top-level
  ``LIMIT`` it wins and ``from``/``size`` are not applied; otherwise ``from``/``size`` are
  (``size`` 0 or -1 means the default limit, -999 no limit). A single-stream query without
  ``ORDER BY``, ``GROUP BY``, ``DISTINCT`` or aggregates over a non-metrics stream is sorted by
  ``_timestamp`` descending (``need_sort_by_time``).
* response — ``Response`` in ``search.rs``; ``src/search_service/src/cluster/http.rs``: empty
  hit objects are dropped and ``total`` is the number of hits returned.
* errors — ``src/infra/src/errors/mod.rs`` (``ErrorCodes``: code, HTTP status, message,
  ``error_detail``), ``src/core/src/http.rs`` (``map_error_to_http_response``: the body is
  ``{"code","message","error_detail","trace_id"}`` and the ``X-Error-Message`` header carries the
  code) and ``src/core/src/error_suggest.rs`` (an unknown field reads ``unknown field 'x'`` with
  close field names in ``suggestions``; an unknown function ``unknown function 'f'``; both drop
  ``error_detail``). Every search error code used here answers HTTP 400.

Not modelled: ``histogram_interval`` in the answer (the engine does not expose it), VRL
``query_fn``, ``track_total_hits``, the result cache, ``max_query_range`` clamping, and
suggestions for unknown *functions* (the server ranks its function registry, which the fake does
not have).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from . import ingest
from .http import HttpError, Request, Response, json_response, message, read_json, shape_error
from .serde import Bool, Field, Int, SerdeError, Str, Struct, Value, opt
from .state import Store, Stream
from .streams import stream_type_param

logger = logging.getLogger(__name__)

QueryEngineFactory = Callable[[], Any]

DEFAULT_LIMIT = 1000  # ZO_QUERY_DEFAULT_LIMIT (src/config/src/config.rs: 0 → 1000)
NO_LIMIT = -999  # config::QUERY_WITH_NO_LIMIT
ERROR_HEADER = "x-error-message"  # common/src/meta/http.rs ERROR_HEADER

SQL_NOT_VALID = 20001
STREAM_NOT_FOUND = 20002
FIELD_NOT_FOUND = 20004
FUNCTION_NOT_DEFINED = 20005
SQL_EXECUTE_ERROR = 20008
INVALID_PARAMS = 20011

_QUERY = Struct("Query", [
    Field("sql", Str()), Field("start_time", Int()), Field("end_time", Int()),
    Field("from", Int(), default=0), Field("size", Int(), default=DEFAULT_LIMIT),
    Field("quick_mode", Bool(), default=False), Field("query_type", Str(), default=""),
    Field("track_total_hits", Bool(), default=False),
    Field("histogram_interval", Int(), default=0),
    opt("timezone", Str()), opt("query_fn", Str()),
])
_REQUEST = Struct("Request", [
    Field("query", _QUERY), Field("encoding", Str(), default=""),
    Field("timeout", Int(), default=0), opt("search_type", Value()),
])
# Aggregates OpenObserve adds as UDAFs (src/search/src/datafusion/udaf/); sqlglot sees them as
# plain calls, so they are named here to keep them out of the default time sort.
_O2_AGGREGATES = {"approx_topk", "approx_topk_distinct", "summary_percentile",
                  "approx_percentile_cont", "approx_distinct", "approx_median", "percentile_cont"}


@dataclass
class _OrgEngine:
    engine: Any
    generations: dict[str, int] = field(default_factory=dict)


class SearchService:
    """The ``_search`` handler with its engines (one per org and stream type)."""

    def __init__(self, store: Store, factory: QueryEngineFactory | None) -> None:
        self._store = store
        self._factory = factory
        self._engines: dict[tuple[str, str], _OrgEngine] = {}

    def search(self, req: Request) -> Response:
        if self._factory is None:
            return message(501, "search not available in this fake")
        org = req.params["org"]
        stream_type = stream_type_param(req.query_map().get("type")) or "logs"
        try:
            body = _REQUEST.de(read_json(req))
        except SerdeError as err:
            raise shape_error(err) from None
        query = body["query"]
        sql = query["sql"]
        if body["encoding"] not in ("", "base64"):
            raise shape_error(SerdeError(
                f"unknown variant `{body['encoding']}`, expected `base64` or ``", ("encoding",)))
        if body["encoding"] == "base64":
            sql = _decode_url_base64(sql)
        started = time.perf_counter()
        trace_id = uuid.uuid4().hex
        plan = _read_sql(sql)
        for name in plan.streams:
            stream = self._store.stream(org, stream_type, name)
            if stream is None or not stream.fields:
                return _error(STREAM_NOT_FOUND, name, trace_id)
        if plan.sort_by_time and stream_type != "metrics":
            sql = plan.sorted_sql
        engine = self._engine_for(org, stream_type)
        try:
            hits = engine.query(sql, start_time=query["start_time"], end_time=query["end_time"],
                                histogram_interval=query["histogram_interval"] or None,
                                timezone=query.get("timezone"))
        except Exception as exc:
            code = getattr(exc, "code", None)
            if not isinstance(code, int):
                raise
            detail = str(getattr(exc, "detail", exc))
            fields = [f for n in plan.streams
                      for f in getattr(self._store.stream(org, stream_type, n), "fields", {})]
            return _error(code, detail, trace_id, fields)
        hits = [h for h in hits if h]
        if not plan.has_limit:
            hits = _page(hits, query["from"], query["size"])
        scanned = sum(_rows_in(self._store.stream(org, stream_type, n), query["start_time"],
                               query["end_time"]) for n in plan.streams)
        took = int((time.perf_counter() - started) * 1000)
        return json_response({
            "took": took,
            "took_detail": {"total": took, "cache_took": 0, "file_list_took": 0,
                            "wait_in_queue": 0, "idx_took": 0, "search_took": took},
            "hits": hits, "total": len(hits), "from": query["from"], "size": query["size"],
            "cached_ratio": 0, "scan_size": 0, "idx_scan_size": 0, "scan_records": scanned,
            "trace_id": trace_id, "is_partial": False, "result_cache_ratio": 0,
        })

    def _engine_for(self, org: str, stream_type: str) -> Any:
        assert self._factory is not None
        slot = self._engines.get((org, stream_type))
        if slot is None:
            slot = self._engines[(org, stream_type)] = _OrgEngine(self._factory())
        for (o, t, name), stream in self._store.streams.items():
            if o != org or t != stream_type or not stream.fields:
                continue
            if slot.generations.get(name) != stream.generation:
                slot.engine.register_arrow(name, ingest.stream_table(stream))
                slot.generations[name] = stream.generation
        return slot.engine


def _rows_in(stream: Stream | None, start: int, end: int) -> int:
    """Rows of the stream inside the query's time range (the answer's ``scan_records``)."""
    if stream is None or not stream.rows:
        return 0
    stamps = ingest.stream_table(stream).column(ingest.TIMESTAMP_COL)
    inside = pc.and_(pc.greater_equal(stamps, start), pc.less(stamps, end))
    return int(pc.sum(inside).as_py() or 0)


def _page(hits: list[dict[str, Any]], offset: int, size: int) -> list[dict[str, Any]]:
    if size <= NO_LIMIT:
        return hits
    limit = size if size > 0 else DEFAULT_LIMIT
    offset = max(offset, 0)
    return hits[offset:offset + limit]


def _decode_url_base64(text: str) -> str:
    standard = text.replace("-", "+").replace("_", "/").replace(".", "=")
    try:
        return base64.b64decode(standard, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        # Request::decode fails → MetaHttpResponse::bad_request (400, {"code":400,...})
        raise HttpError(message(400, f"base64 decode error: {exc}")) from None


@dataclass(frozen=True)
class _SqlPlan:
    streams: tuple[str, ...]  # tables read (CTE names excluded); empty when unparsable
    has_limit: bool
    sort_by_time: bool
    sorted_sql: str


def _read_sql(sql: str) -> _SqlPlan:
    """What the server learns from the SQL before running it: streams, LIMIT, default sort."""
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except SqlglotError:
        return _SqlPlan((), False, False, sql)  # the engine reports the syntax error
    if tree is None:
        return _SqlPlan((), False, False, sql)
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    streams = tuple(dict.fromkeys(t.name for t in tree.find_all(exp.Table)
                                  if t.name and t.name not in ctes))
    has_limit = tree.args.get("limit") is not None or tree.args.get("fetch") is not None
    # The server's ColumnVisitor walks the whole statement, subqueries included
    # (src/search/src/sql/mod.rs "check if need sort by time"): a GROUP BY, DISTINCT or aggregate
    # anywhere — e.g. an outer filter over a grouped subquery — means no default time sort.
    selects = list(tree.find_all(exp.Select))
    sort = (isinstance(tree, exp.Select) and len(streams) == 1 and not has_limit
            and not tree.args.get("order")
            and not any(s.args.get("group") or s.args.get("distinct")
                        or _has_aggregate(s.expressions) for s in selects)
            and "--" not in sql and "/*" not in sql)
    text = sql.rstrip().rstrip(";").rstrip()
    return _SqlPlan(streams, has_limit, sort, f"{text} ORDER BY _timestamp DESC")


def _has_aggregate(expressions: Iterable[exp.Expression]) -> bool:
    for expression in expressions:
        for node in expression.walk():
            if isinstance(node, exp.AggFunc | exp.Window):
                return True
            if isinstance(node, exp.Anonymous) and str(node.name).lower() in _O2_AGGREGATES:
                return True
    return False


# --- errors ------------------------------------------------------------------------------------

_MESSAGES: dict[int, Callable[[str], str]] = {
    SQL_NOT_VALID: lambda inner: "Search SQL not valid",
    STREAM_NOT_FOUND: lambda inner: f"Search stream not found: {inner}",
    FIELD_NOT_FOUND: lambda inner: f"Search field not found: {inner}",
    FUNCTION_NOT_DEFINED: lambda inner: f"Search function not defined: {inner}",
    SQL_EXECUTE_ERROR: lambda inner: "Search SQL execute error",
    INVALID_PARAMS: lambda inner: "Invalid parameters",
}
_DETAIL_KEPT = {SQL_NOT_VALID, SQL_EXECUTE_ERROR, INVALID_PARAMS}  # get_error_detail


def _error(code: int, inner: str, trace_id: str, schema_fields: Iterable[str] = ()) -> Response:
    if code == STREAM_NOT_FOUND:
        match = re.search(r"table '(?:[^'.]*\.)*([^'.]*)' not found", inner)
        inner = match.group(1) if match else inner
    body: dict[str, Any] = {
        "code": code,
        "message": _MESSAGES.get(code, lambda _: "Server Internal Error")(inner),
        "error_detail": inner if code in _DETAIL_KEPT else "",
        "trace_id": trace_id,
    }
    if code == FIELD_NOT_FOUND:
        _enrich_field(body, inner, list(schema_fields))
    elif code == FUNCTION_NOT_DEFINED:
        match = re.search(r"Invalid function ['\"`]?([^'\"`.\n]+)", inner)
        if match:
            body["message"] = f"unknown function '{match.group(1).strip()}'"
            del body["error_detail"]
    status = 400 if code in _MESSAGES else 500
    response = json_response(body, status)
    response.headers[ERROR_HEADER] = str(code)
    return response


def _enrich_field(body: dict[str, Any], inner: str, schema_fields: list[str]) -> None:
    """``enrich_field_not_found`` with the stream's own field list (``rebuild_field_not_found``)."""
    match = re.search(r"No field named ([^.\s]+(?:\.[^.\s]+)*?)\.(?:\s|$)", inner)
    if not match:
        return
    name = match.group(1).strip("`\"")
    name = name.rsplit(".", 1)[-1].strip("`\"")
    suggestions = suggest(name, schema_fields)
    body["message"] = f"unknown field '{name}'"
    del body["error_detail"]
    if not suggestions:
        body["hint"] = (f"valid fields: {', '.join(schema_fields)}"
                        if schema_fields and len(schema_fields) <= 10 else
                        "no similar field found; use the stream schema endpoint to list fields")
    else:
        body["suggestions"] = suggestions


def suggest(target: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Close names, best first: edit distance within a third of the length (at least 2), a
    prefix one longer than the target at +1, or containment; names starting ``_`` are skipped
    (the ranking of ``suggest`` in ``src/core/src/error_suggest.rs``)."""
    wanted = target.lower()
    threshold = max(len(wanted) // 3, 2)
    scored = []
    for candidate in candidates:
        if candidate.startswith("_"):
            continue
        lowered = candidate.lower()
        distance = _levenshtein(wanted, lowered)
        if len(lowered) > len(wanted):
            distance = min(distance, _levenshtein(wanted, lowered[:len(wanted) + 1]) + 1)
        if distance <= threshold or wanted in lowered or lowered in wanted:
            scored.append((distance, len(candidate), candidate))
    out: list[str] = []
    for _, _, candidate in sorted(scored, key=lambda s: (s[0], s[1])):
        if candidate not in out:
            out.append(candidate)
        if len(out) >= limit:
            break
    return out


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j - 1] + (ca != cb), previous[j] + 1, current[j - 1] + 1))
        previous = current
    return previous[-1]
