"""``o2kit demo``: the whole system, locally, without AWS or a server.

Starts the fake OpenObserve on a loopback port (with the DataFusion engine behind its search API),
seeds synthetic Bedrock traffic through its Firehose route, runs plan → apply → plan (the second
must show no changes), runs every panel query through the search API, and prints what a user would
read off the dashboard and which alerts would fire now.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from o2kit.aws.seed import MAX_MINUTES
from o2kit.cli import flags as _flags

# Secrets the shipped alerts reference; the demo server never sends notifications, so a
# placeholder address stands in when the user has not exported one.
DEMO_SECRET_VALUE = "https://hooks.example.com/o2kit-demo"


class _SearchRunner:
    """Queries through the (fake) server's search API, in the shape alert evaluation takes."""

    schemas: Mapping[str, Any] = {}

    def __init__(self, client: Any) -> None:
        from o2kit.query import check

        self.query = check.search_runner(client, resource="demo")


def _find(outcomes: list[Any], *aliases: str) -> list[dict[str, Any]]:
    """Rows of the first panel whose answer has all ``aliases`` and is not a time series."""
    for o in outcomes:
        cols = set(o.query.aliases)
        if o.ok and set(aliases) <= cols and not ({"ts", "x_axis_1"} & cols):
            return o.rows
    return []


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{float(value):,.{digits}f}"


def demo_command(
    minutes: Annotated[int, typer.Option(
        "--minutes", callback=_flags.in_range(1, MAX_MINUTES),
        help="Minutes of synthetic traffic (1-299).")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic traffic.")] = 1,
    port: Annotated[int, typer.Option(
        "--port", callback=_flags.in_range(0, 65535),
        help="Loopback port (0: any free one).")] = 0,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Keep the fake server up until Ctrl-C.")
    ] = False,
    pipeline: Annotated[
        bool | None, typer.Option("--pipeline/--no-pipeline",
                                  help="Send the traffic through the shipped ingest pipeline "
                                       "(ingest.pipeline on, whatever o2kit.yaml says) or not "
                                       "(off). Default: on when the project has pipelines/.",
                                  show_default=False)
    ] = None,
) -> None:
    """Run the whole thing locally: fake OpenObserve, seeded traffic, plan → apply → plan, every
    panel query, and a summary of what the dashboards and alerts show.

    With the ingest pipeline (the default) the functions and pipelines are applied first, so
    the seeded Firehose traffic goes through them on the fake server, and the panels read the
    pipeline's typed columns; --no-pipeline stores the raw rows and the panels read those.

    Example: o2kit demo --minutes 90
    """
    from o2kit.cli import base

    base.require_extra("local", "demo")
    from o2kit.aws import seed as seeding
    from o2kit.errors import PlanError
    from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve
    from o2kit.model import Resource
    from o2kit.project import envrefs
    from o2kit.project.config import ServerSettings
    from o2kit.query import check
    from o2kit.query.alerttest import EvaluationError, UnsupportedAlert, evaluate
    from o2kit.query.engine import QueryEngine
    from o2kit.redact import Secret
    from o2kit.sync import report
    from o2kit.sync.client import OpenObserveClient
    from o2kit.sync.plan import build_plan
    from o2kit.sync.remote import apply_plan, fetch_live

    def body() -> int:
        project = _load(base, pipeline)
        config = project.config.config
        seeding.check_minutes(minutes)
        # The server's clock: real time, except while a metric batch is replayed at the minute
        # Firehose would have delivered it (see step 1).
        replay: dict[str, float | None] = {"at": None}

        def clock() -> float:
            at = replay["at"]
            return time.time() if at is None else at

        fake = FakeOpenObserve(seed=seed, query_engine_factory=QueryEngine, clock=clock)
        fake.add_org(config.org)
        environ = dict(os.environ)
        for r in project.resources:
            for _path, name in envrefs.find_env_refs(r.body):
                environ.setdefault(name, DEMO_SECRET_VALUE)
        desired = [Resource(kind=r.kind, key=r.key, source=r.source,
                            body=envrefs.resolve_env_refs(r.body, environ, resource=r.address))
                   for r in project.resources]
        with fake.serve(port=port) as server:
            base._say(f"Fake OpenObserve on {server.url} (org {config.org}, user {DEFAULT_USER})")
            settings = ServerSettings(url=server.url, org=config.org, user=DEFAULT_USER,
                                      password=Secret(DEFAULT_PASSWORD))
            with OpenObserveClient(settings) as client:
                ingest_kinds = [r for r in desired if r.kind in ("function", "pipeline")]
                if config.ingest.pipeline and ingest_kinds:
                    # The pipelines must exist before the traffic arrives: they run on ingest.
                    live = fetch_live(client, desired=ingest_kinds)
                    early = apply_plan(client, build_plan(ingest_kinds, live.resources,
                                                          org=config.org,
                                                          project=config.project))
                    if not early.ok:
                        for o in early.failed:
                            base.err.print(base._safe(f"   ✗ {o.change.address}: {o.message}"),
                                           markup=False)
                        raise PlanError("the ingest pipeline could not be applied")
                    base.out.print(f"0. Applied {len(ingest_kinds)} ingest functions and "
                                   "pipelines first: the traffic goes through them",
                                   markup=False)
                # 1. traffic through the Firehose route
                now_ms = int(time.time() * 1000)
                options = seeding.SeedOptions(
                    minutes=minutes, seed=seed, incident=True,
                    metrics_layout=getattr(config.streams, "metrics_layout", "flattened"),
                    percentiles=tuple(config.streams.metric_percentiles))
                traffic, log_bodies, metric_bodies = seeding.build_traffic(
                    options, end_ms=now_ms, metric_minutes_per_request=1)
                started = time.perf_counter()
                key = seeding.firehose_access_key(DEFAULT_USER, DEFAULT_PASSWORD)
                sent = seeding.send_traffic(
                    client, traffic, log_bodies, [],
                    logs_stream=config.streams.invocation_logs,
                    metrics_stream=config.streams.metrics, access_key=key)
                # OpenObserve stamps a flattened metric row with its arrival time, so the metric
                # minutes are sent one by one with the fake's clock at each one's delivery (a
                # minute's end plus the Firehose buffer), as an hour of real deliveries would
                # have stamped them; sent at once they would all be "now".
                try:
                    for body in metric_bodies:
                        replay["at"] = seeding.metric_arrival_ms(body, now_ms=now_ms) / 1000
                        part = seeding.send_traffic(
                            client, traffic, [], [body],
                            logs_stream=config.streams.invocation_logs,
                            metrics_stream=config.streams.metrics, access_key=key)
                        sent.requests += part.requests
                        sent.failed_requests += part.failed_requests
                        sent.metric_rows += part.metric_rows
                        sent.errors.extend(part.errors)
                finally:
                    replay["at"] = None
                took = time.perf_counter() - started
                base.out.print(f"1. Seeded {sent.rows:,} rows ({sent.log_rows:,} invocation "
                               f"logs, {sent.metric_rows:,} metric datapoints) in "
                               f"{sent.requests} Firehose requests, {took:.1f} s", markup=False)

                # 2. plan → apply → plan
                def plan_now() -> Any:
                    live = fetch_live(client, desired=desired, stream_types={"logs"})
                    return build_plan(desired, live.resources,
                                      existing_streams=live.existing_streams, org=config.org,
                                      project=config.project)

                first = plan_now()
                base.out.print("2. " + report.summary_line(first), markup=False)
                result = apply_plan(client, first)
                if not result.ok:
                    for o in result.failed:
                        base.err.print(base._safe(f"   ✗ {o.change.address}: {o.message}"),
                                       markup=False)
                    raise PlanError("apply failed on the demo server")
                second = plan_now()
                base.out.print(f"   apply: {len(result.outcomes)} changes, {result.writes} "
                               f"writes; plan again: {report.summary_line(second)}", markup=False)
                if second.has_changes:
                    raise PlanError("the second plan is not empty: o2kit would not converge")

                # 3. every panel query through the search API
                # Up to now, not to the traffic's end: with the flattened metric layout a
                # datapoint's _timestamp is its ingestion time (o2kit.fake.firehose).
                end_us = int(time.time() * 1_000_000) + 1
                start_us = traffic.start_ms * 1000
                runner = _SearchRunner(client)
                outcomes = check.run(check.queries(desired), runner.query,
                                     start_us=start_us, end_us=end_us)
                failed = [o for o in outcomes if not o.ok]
                base.out.print(f"3. Ran {len(outcomes)} panel and alert queries: "
                               f"{len(outcomes) - len(failed)} passed", markup=False)
                for failure in failed:
                    base.err.print(base._safe(f"   ✗ {failure.query.label}: {failure.problem}"),
                                   markup=False)

                # 4. what the dashboard shows
                _print_summary(base.out, outcomes)

                # 5. alerts, evaluated now
                base.out.print("5. Alerts now (the traffic ends in an incident: "
                               f"{seeding.INCIDENT_MINUTES} minutes of runaway spend, throttles, "
                               "server errors and a log-delivery outage):", markup=False)
                firing, alerts = 0, 0
                for r in desired:
                    if r.kind != "alert":
                        continue
                    try:
                        ev = evaluate({**r.body, "enabled": True}, runner, end_us)  # type: ignore[arg-type]
                        state = "FIRES" if ev.fires else "quiet"
                        detail = f"{len(ev.rows)} row{'s' if len(ev.rows) != 1 else ''}"
                        if ev.fires and ev.payload:
                            detail += ": " + "; ".join(
                                ", ".join(f"{k}={v}" for k, v in row.items())
                                for row in ev.payload[:3])
                    except (UnsupportedAlert, EvaluationError) as exc:
                        state, detail = "?", str(exc)
                    base.out.print(f"   {state:<5} {r.key[1]}: {detail}", markup=False)
                    alerts += state != "?"
                    firing += state == "FIRES"
                skipped = sum(1 for r in desired if r.kind == "alert") - alerts
                base.out.print(f"   {firing} of {alerts} alerts fire"
                               + (f" ({skipped} not evaluated here, see ?)" if skipped else ""),
                               markup=False)
                if keep_running:
                    base._say(f"Serving on {server.url}; Ctrl-C to stop.")
                    try:
                        while True:
                            time.sleep(3600)
                    except KeyboardInterrupt:
                        pass
        return 1 if failed else 0

    raise typer.Exit(base._run(body))


def _load(base: Any, pipeline: bool | None) -> Any:
    """The project, validated, with ``ingest.pipeline`` set as ``--pipeline`` says; by default
    on when the project declares the pipelines (``pipelines/``), else as o2kit.yaml says."""
    from o2kit.errors import UserError, ValidationFailed
    from o2kit.project.loader import load_project
    from o2kit.validate.rules import validate_resources

    project = base._load_validated()
    wanted = True if pipeline is None else pipeline
    if project.config.config.ingest.pipeline != wanted:
        project = load_project(base._state.project, base._state.env,
                               overrides={"ingest": {"pipeline": wanted}})
        errors = [p for p in validate_resources(project.resources, project.config.config)
                  if p.is_error]
        if errors:
            raise ValidationFailed(errors)
    if wanted and not project.of("pipeline"):
        if pipeline:
            raise UserError("--pipeline: the project declares no ingest pipeline",
                            remedy="add pipelines/bedrock.yaml.j2 and functions/ (o2kit init "
                                   "writes them), or run with --no-pipeline")
        base._say("note: the project declares no ingest pipeline (pipelines/); the demo stores "
                  "the raw rows")
        return _load(base, False)
    return project


def _print_summary(out: Any, outcomes: list[Any]) -> None:
    latency = {r.get("model_id"): r for r in _find(outcomes, "p50_ms", "p90_ms", "p99_ms")}
    totals = {r.get("model_id"): r for r in _find(outcomes, "invocations", "client_errors",
                                                   "server_errors", "throttles")}
    cost = {r.get("model_id"): r for r in _find(outcomes, "input_tokens", "output_tokens",
                                                 "cost")}
    models = sorted(set(latency) | set(totals) | set(cost), key=str)
    out.print("4. Per model (latency per request, Converse only; counts from the metric stream; "
              "tokens and cost from the invocation logs):", markup=False)
    header = (f"   {'model':<46} {'p50':>7} {'p90':>7} {'p99':>7} {'n':>5} {'calls':>7} "
              f"{'4xx':>5} {'5xx':>5} {'thr':>5} {'in tok':>10} {'out tok':>9} {'cost':>9}")
    out.print(header, markup=False)
    total_cost = 0.0
    for m in models:
        lat, tot, c = latency.get(m, {}), totals.get(m, {}), cost.get(m, {})
        if c.get("cost") is not None:
            total_cost += float(c["cost"])
        out.print(
            f"   {str(m):<46} {_num(lat.get('p50_ms')):>7} {_num(lat.get('p90_ms')):>7} "
            f"{_num(lat.get('p99_ms')):>7} {_num(lat.get('samples')):>5} "
            f"{_num(tot.get('invocations')):>7} {_num(tot.get('client_errors')):>5} "
            f"{_num(tot.get('server_errors')):>5} {_num(tot.get('throttles')):>5} "
            f"{_num(c.get('input_tokens')):>10} {_num(c.get('output_tokens')):>9} "
            f"{_num(c.get('cost'), 4) if c.get('cost') is not None else 'unpriced':>9}",
            markup=False)
    out.print(f"   total cost of priced models: {total_cost:,.4f}", markup=False)


def register(app: typer.Typer) -> None:
    app.command(name="demo")(demo_command)
