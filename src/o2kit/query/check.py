"""``o2kit check``: run every panel and alert query of the rendered project and judge the answers.

A query fails when it errors, when its answer lacks a column the panel draws (``fields.x/y/z/
breakdown`` aliases), or — for panels — when it returns no rows. Queries run through a *runner*
``(sql, start_us, end_us) -> rows``: the local DataFusion engine over synthetic Bedrock traffic
(``synthetic_rows``), or a real server's search API (the CLI builds that one from the client).

Synthetic rows are made the way OpenObserve would store them: ``o2kit.aws.synth`` writes real
Firehose
request bodies and ``o2kit.fake.firehose`` decodes them with OpenObserve's rules, in the metric
layout the configuration names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from o2kit.errors import O2kitError, Problem
from o2kit.model import Resource
from o2kit.project.config import Config

Runner = Callable[[str, int, int], list[dict[str, Any]]]
MINUTE_US = 60_000_000
DELIVERY_DELAY_MS = 60_000  # the Firehose buffer interval o2kit aws configures by default


@dataclass(frozen=True)
class Query:
    """One query to check: where it comes from and what its answer must contain."""

    label: str  # e.g. 'dashboard "Bedrock/Bedrock overview" › Latency › p99 per model'
    sql: str
    stream: str
    aliases: tuple[str, ...]  # columns the panel draws
    must_return_rows: bool
    variables: tuple[str, ...] = ()


@dataclass
class Outcome:
    query: Query
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing and not (
            self.query.must_return_rows and not self.rows)

    @property
    def problem(self) -> str:
        if self.error is not None:
            return self.error
        if self.missing:
            return f"the answer has no column {', '.join(repr(m) for m in self.missing)}"
        if self.query.must_return_rows and not self.rows:
            return "no rows"
        return ""


def _aliases(fields: Mapping[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for slot in ("x", "y", "z", "breakdown"):
        for item in fields.get(slot) or []:
            if isinstance(item, Mapping) and item.get("alias"):
                out.append(str(item["alias"]))
    return tuple(out)


def queries(resources: Iterable[Resource]) -> list[Query]:
    """Every SQL panel query, every SQL alert query and every SLO's SQL SLI, in project
    order."""
    out: list[Query] = []
    for r in resources:
        if r.kind == "dashboard":
            where = f'dashboard "{"/".join(r.key)}"'
            names = tuple(str(v.get("name")) for v in
                          ((r.body.get("variables") or {}).get("list") or []) if v.get("name"))
            for tab in r.body.get("tabs") or []:
                for panel in tab.get("panels") or []:
                    if panel.get("queryType", "sql") not in ("sql", ""):
                        continue
                    for q in panel.get("queries") or []:
                        sql = q.get("query")
                        if not sql:
                            continue
                        fields = q.get("fields") or {}
                        out.append(Query(
                            label=f"{where} › {tab.get('name')} › {panel.get('title')}",
                            sql=str(sql), stream=str(fields.get("stream", "")),
                            aliases=_aliases(fields), must_return_rows=True, variables=names))
        elif r.kind == "alert":
            condition = r.body.get("query_condition") or {}
            if condition.get("type") == "sql" and condition.get("sql"):
                out.append(Query(label=f'alert "{"/".join(r.key)}"', sql=str(condition["sql"]),
                                 stream=str(r.body.get("stream_name", "")), aliases=(),
                                 must_return_rows=False))
        elif r.kind == "slo":
            from o2kit.validate.slosafety import sli_queries

            # The SQL OpenObserve runs for the SLI, one row per slice (and group).
            for side, sql in sli_queries(r.body).items():
                out.append(Query(label=f'slo "{r.key[0]}" › {side}', sql=sql, stream="",
                                 aliases=("slice_start", "zo_slo_value"),
                                 must_return_rows=True))
    return out


def run(queries_: Sequence[Query], runner: Runner, *, start_us: int, end_us: int) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for q in queries_:
        try:
            rows = runner(q.sql, start_us, end_us)
        except O2kitError as exc:
            outcomes.append(Outcome(q, error=exc.message))
            continue
        present: set[str] = set()
        for row in rows:
            present.update(row)
        # OpenObserve leaves NULL columns out of a hit; a column counts as present when any row
        # has it (or when there are no rows at all, which is judged separately).
        missing = tuple(a for a in q.aliases if rows and a not in present)
        outcomes.append(Outcome(q, rows=rows, missing=missing))
    return outcomes


# --- local data --------------------------------------------------------------------------------


def synthetic_rows(config: Config, *, now_ms: int, minutes: int = 60, seed: int = 1,
                   scenario: Any = None, pipeline_health: bool = True,
                   functions: Mapping[str, str] | None = None,
                   features: bool = True,
                   ) -> tuple[dict[str, list[dict[str, Any]]], Any]:
    """Rows per stream name, as OpenObserve would store ``minutes`` of synthetic Bedrock traffic
    ending at ``now_ms``; and the traffic itself (its ``truth`` holds the exact answers).

    Without a ``scenario``, ``pipeline_health`` (default on) adds the AWS/Firehose delivery and
    Bedrock log-delivery datapoints a metric stream carries (``o2kit.aws.synth``), so the
    dashboard's
    Pipeline health panels have data; they are healthy (no failure) and do not change the
    Bedrock traffic of the seed. ``features`` (default on) adds prompt caching and the
    Guardrails, Agents and Knowledge Bases datapoints, for the tabs that show them (drawn from
    their own random streams: the calls stay those of the seed).

    ``functions`` (stream name → VRL source) runs each decoded event of that stream through the
    function as a realtime pipeline would, before flattening (:func:`pipeline_rows`); the
    shipped ones are ``o2kit.query.functiontest.pipeline_functions``."""
    from o2kit.aws import synth
    from o2kit.fake.firehose import decode_firehose_body

    percentiles = tuple(getattr(config.streams, "metric_percentiles", synth.DEFAULT_PERCENTILES))
    scenario = scenario or synth.Scenario(minutes=minutes, firehose_metrics=pipeline_health,
                                          log_delivery_metrics=pipeline_health,
                                          percentiles=percentiles, **(
                                              synth.feature_settings() if features else {}))
    traffic = synth.generate(scenario, end_ms=now_ms, seed=seed)
    layout = getattr(config.streams, "metrics_layout", "special")
    special = layout == "special"
    # One record per request, each decoded at its arrival (a minute's end plus the Firehose
    # buffer): in the flattened metric layout a row's _timestamp is its arrival time, so decoding
    # everything at one instant would pile all metric rows into the last time bucket.
    log_bodies, metric_bodies = synth.firehose_bodies(traffic, max_records=1,
                                                      integer_metric_values=special)
    rows: dict[str, list[dict[str, Any]]] = {config.streams.invocation_logs: [],
                                             config.streams.metrics: []}
    for stream, bodies in ((config.streams.invocation_logs, log_bodies),
                           (config.streams.metrics, metric_bodies)):
        for body in bodies:
            record = json.loads(body)["records"][0]["data"]
            arrival_ms = min(now_ms, synth.record_minute_end_ms(record) + DELIVERY_DELAY_MS)
            source = (functions or {}).get(stream)
            if source is not None:
                rows[stream].extend(pipeline_rows(body, source, now_us=arrival_ms * 1000,
                                                  arbitrary_precision=not special))
                continue
            rows[stream].extend(decode_firehose_body(body, now_us=arrival_ms * 1000,
                                                     arbitrary_precision=not special))
    app = config.streams.application_logs
    if app is not None:
        rows[app.stream] = _application_rows(traffic, app.latency_field, app.model_field,
                                             getattr(app, "region_field", None))
    return rows, traffic


def pipeline_rows(body: bytes, source: str, *, now_us: int,
                  arbitrary_precision: bool = True) -> list[dict[str, Any]]:
    """Rows OpenObserve would write for one Firehose request body whose stream has a realtime
    pipeline "source stream → function (after_flatten: false) → the same stream". Paths in
    openobserve/openobserve: the items are decoded but not flattened
    (src/core/src/logs/ingest.rs), the function's result replaces each (``apply_vrl_fn``,
    src/transform/src/lib.rs: the original row on a runtime error), a null result is dropped and
    the destination node flattens with the ingest flatten level
    (src/core/src/pipeline/batch_execution.rs), then ``handle_timestamp`` reads ``_timestamp``
    from the result."""
    from o2kit.fake.firehose import (
        DEFAULT_ALLOWED_IN_FUTURE_HOURS,
        DEFAULT_ALLOWED_UPTO_HOURS,
        DEFAULT_FLATTEN_LEVEL,
        decode_record,
        finalize_row,
        parse_request,
    )
    from o2kit.validate.vrl import execute_vrl

    request = parse_request(body)
    min_ts = now_us - DEFAULT_ALLOWED_UPTO_HOURS * 3600 * 1_000_000
    max_ts = now_us + DEFAULT_ALLOWED_IN_FUTURE_HOURS * 3600 * 1_000_000
    out = []
    for data in request.records:
        for event in decode_record(data, request.request_id,
                                   arbitrary_precision=arbitrary_precision):
            result = execute_vrl(source, event).output
            if not isinstance(result, dict):
                continue  # null (dropped) or not an object: the destination writes nothing
            row = finalize_row(result, now_us=now_us, min_ts=min_ts, max_ts=max_ts,
                               flatten_level=DEFAULT_FLATTEN_LEVEL)
            if row is not None:
                out.append(row)
    return out


def _application_rows(traffic: Any, latency_field: str, model_field: str,
                      region_field: str | None) -> list[dict[str, Any]]:
    """The Lambda's own log line per successful call: its latency and model."""
    out = []
    for call in traffic.invocations:
        if call.latency_ms is None:
            continue
        row = {"_timestamp": call.time_ms * 1000, latency_field: call.latency_ms,
               model_field: call.model_id}
        if region_field:
            row[region_field] = traffic.scenario.region
        out.append(row)
    return out


def local_runner(rows: Mapping[str, list[dict[str, Any]]],
                 variables: Mapping[str, Any] | None = None) -> Runner:
    """A runner over the local DataFusion engine holding ``rows``; dashboard variables are
    all set to "All" (``'_o2_all_'``) unless given."""
    from o2kit.query.engine import QueryEngine

    engine = QueryEngine()
    for stream, stream_rows in rows.items():
        engine.register_rows(stream, stream_rows)

    def run_one(sql: str, start_us: int, end_us: int) -> list[dict[str, Any]]:
        names = variable_names(sql)
        values: dict[str, Any] = {n: [] for n in names}
        values.update(variables or {})
        return engine.query(sql, start_time=start_us, end_time=end_us, variables=values)

    return run_one


def variable_names(sql: str) -> list[str]:
    """Dashboard variables (``$name`` / ``${name}``) a query uses."""
    import re

    return sorted(set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", sql)))


def search_runner(client: Any, *, resource: str) -> Runner:
    """A runner through a server's search API (``OpenObserveClient.search``). Variables are set
    to "All" and substituted here, as the UI does before it sends a panel's query."""
    from o2kit.query.engine import substitute_variables

    def run_one(sql: str, start_us: int, end_us: int) -> list[dict[str, Any]]:
        names = variable_names(sql)
        text = substitute_variables(sql, {n: [] for n in names}) if names else sql
        return list(client.search(text, start_us, end_us, resource=resource).get("hits") or [])

    return run_one


def seen_models(config: Config, runner: Runner, *, start_us: int, end_us: int) -> list[str]:
    """The model ids in the invocation logs over the window (the pipeline's typed column when
    ``ingest.pipeline`` is on, else the raw one)."""
    column = "model_id" if config.ingest.pipeline else "message_modelid"
    stream = config.streams.invocation_logs.replace('"', '""')
    sql = (f'SELECT {column} AS model_id, COUNT(*) AS calls FROM "{stream}" '
           f"WHERE {column} IS NOT NULL GROUP BY model_id")
    return sorted({str(r["model_id"]) for r in runner(sql, start_us, end_us)
                   if r.get("model_id") is not None})


def price_coverage(project: Any, model_ids: list[str], minutes: int) -> list[Problem]:
    """Warnings, at the rows of prices.yaml, for rows that price none of the models seen in the
    data, and one for the models seen that no row prices (their cost is unknown)."""
    from o2kit.project.prices import coverage

    table = project.prices
    if table is None or not model_ids:
        return []
    name = project.config.config.prices
    unused, unpriced = coverage(table, model_ids)
    seen = (f"the {len(model_ids)} model id{'s' if len(model_ids) != 1 else ''} of the last "
            f"{minutes} min of invocation logs")
    out = [Problem(name, project.price_lines.get(i, 1), f"models[{i}].match",
                   f"{table.models[i].match!r} prices none of {seen}", severity="warning")
           for i in unused]
    if unpriced:
        shown = ", ".join(unpriced[:10]) + (" …" if len(unpriced) > 10 else "")
        out.append(Problem(name, 1, "models", f"no row prices {shown} (seen in {seen}); their "
                           "cost is left empty", severity="warning"))
    return out


MAX_PRICE_PROBES = 50  # model ids asked about (two requests each)


def server_price_problems(project: Any, client: Any, model_ids: Sequence[str],
                          now_us: int) -> list[Problem]:
    """With ``prices_sync`` on: does OpenObserve price each model seen as prices.yaml does?
    Asks ``POST /llm/models/test`` (through ``client.test_model_price``) for a small call and
    one above the highest tier, at ``now_us``; a different total is a warning at the row."""
    from datetime import UTC, datetime

    table = project.prices
    if table is None:
        return []
    name = project.config.config.prices
    when = datetime.fromtimestamp(now_us / 1_000_000, UTC)
    index = {row.match: i for i, row in enumerate(table.models)}
    out: list[Problem] = []
    for model_id in list(model_ids)[:MAX_PRICE_PROBES]:
        row = table.price_for(model_id)
        if row is None:
            continue
        top = max((t.above_input_tokens for t in row.rates_at(when).tiers), default=0)
        for tokens_in, tokens_out in ((1000, 500), (top + 1000, 500)) if top else ((1000, 500),):
            want = float(table.cost_at(model_id, when, tokens_in, tokens_out, 0, 0) or 0)
            answer = client.test_model_price(model_id, {"input": tokens_in, "output": tokens_out},
                                             now_us, resource=f"price of {model_id}")
            got = float(answer.get("total_cost") or 0.0)
            if abs(got - want) > 1e-9 * max(abs(want), 1e-12):
                matched = answer.get("matched") or {}
                which = (f"definition {str(matched.get('name', ''))!r}" if matched
                         else "no definition")
                i = index[row.match]
                out.append(Problem(
                    name, project.price_lines.get(i, 1), f"models[{i}]",
                    f"OpenObserve prices {model_id} at {got:.10g} for {tokens_in} input + "
                    f"{tokens_out} output tokens ({which}), prices.yaml at {want:.10g}; "
                    "`o2kit apply` syncs them", severity="warning"))
                break
    return out


def summary_rows(outcomes: Sequence[Outcome]) -> list[tuple[str, str, str]]:
    """``(status, label, detail)`` per query, for the terminal."""
    out = []
    for o in outcomes:
        detail = o.problem if not o.ok else f"{len(o.rows)} row{'s' if len(o.rows) != 1 else ''}"
        if o.ok and o.query.must_return_rows is False and o.rows:
            detail += " (the alert would fire on this data)"
        out.append(("ok" if o.ok else "FAIL", o.query.label, detail))
    return out


def as_json(outcomes: Sequence[Outcome]) -> str:
    return json.dumps([{"query": o.query.label, "ok": o.ok, "problem": o.problem,
                        "rows": len(o.rows)} for o in outcomes], indent=2)


# --- functions on the server -------------------------------------------------------------------

#: Sample events sent per function (from its function-tests/ files), and functions checked.
MAX_SAMPLE_EVENTS = 20
MAX_FUNCTIONS = 200


def function_samples(root: Any) -> dict[str, list[Any]]:
    """Function name → up to ``MAX_SAMPLE_EVENTS`` events from ``function-tests/*.y(a)ml``
    (files that do not load are left to ``o2kit test``, which reports them)."""
    from pathlib import Path

    from o2kit.query import functiontest

    out: dict[str, list[Any]] = {}
    for path in functiontest.function_test_files(Path(root) / functiontest.TESTS_DIR):
        try:
            test_file, _index = functiontest.load_function_test_file(
                path, f"{functiontest.TESTS_DIR}/{path.name}")
        except (functiontest.FunctionTestError, O2kitError):
            continue
        events = out.setdefault(test_file.function, [])
        for case in test_file.tests:
            events.extend(case.events[: MAX_SAMPLE_EVENTS - len(events)])
    return out


def function_checks(test_function: Callable[[str, list[Any]], dict[str, Any]],
                    functions: Mapping[str, str], samples: Mapping[str, list[Any]]
                    ) -> list[Outcome]:
    """Each function of the project through the server's ``/functions/test`` (the server's own
    VRL, enrichment functions included) on its sample events (``{}`` without any): fails when it
    does not compile there, or a sample hits a runtime error. ``test_function(source, events)``
    is ``OpenObserveClient.test_function``."""
    out: list[Outcome] = []
    for name in sorted(functions)[:MAX_FUNCTIONS]:
        events = list(samples.get(name) or [{}])[:MAX_SAMPLE_EVENTS]
        query = Query(label=f'function "{name}" (server /functions/test, {len(events)} '
                            f'event{"s" if len(events) != 1 else ""})',
                      sql="", stream="", aliases=(), must_return_rows=False)
        try:
            answer = test_function(functions[name], events)
        except O2kitError as exc:
            out.append(Outcome(query, error=exc.message))
            continue
        results = [r for r in answer.get("results") or [] if isinstance(r, dict)]
        failed = [f"event {i + 1}: {str(r.get('message'))[:300]}"
                  for i, r in enumerate(results) if r.get("message")]
        out.append(Outcome(query, rows=results, error="; ".join(failed[:3]) or None))
    return out
