"""``o2kit check``: run every panel and alert query, locally or against a server."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from o2kit.cli import flags as _flags
from o2kit.errors import O2kitError

MAX_WINDOW_MINUTES = 7 * 24 * 60  # a week: locally, the synthetic traffic is held in memory


def check_command(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Run against this server's search API instead of locally "
                                   "[env OPENOBSERVE_URL with --remote]"),
    ] = None,
    remote: Annotated[
        bool, typer.Option("--remote", help="Use OPENOBSERVE_URL (or --url) instead of local data.")
    ] = False,
    org: Annotated[str | None, typer.Option("--org", help="Org on the server.")] = None,
    minutes: Annotated[
        int, typer.Option("--minutes", callback=_flags.in_range(1, MAX_WINDOW_MINUTES),
                          help="Time window (and synthetic traffic, locally), 1-10080.")
    ] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic traffic.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable results.")] = False,
) -> None:
    """Run every panel and alert query; fail on errors, missing columns, and empty panels.

    Locally (the default) the queries run on Apache DataFusion with OpenObserve's functions over
    synthetic Bedrock traffic stored exactly as OpenObserve would store it. With --url/--remote
    they run through the server's search API over the last --minutes, and every VRL function
    of functions/ is compiled and run by the server (/functions/test) on its function-tests/
    events.

    Example: o2kit check --minutes 120
    """
    from o2kit.cli import base

    base.require_extra("local", "check")
    from o2kit.query import check

    def body() -> int:
        project = base._load_validated()
        config = project.config.config
        now_ms = int(time.time() * 1000)
        end_us = now_ms * 1000 + 1
        start_us = end_us - minutes * check.MINUTE_US
        queries = check.queries(project.resources)
        client: Any = None
        if url or remote:
            from o2kit.sync.client import OpenObserveClient

            settings = base._settings(url, org, None, False, 30.0, 4, config.org)
            client = OpenObserveClient(settings, transport=base._TRANSPORT)
            runner = check.search_runner(client, resource="check")
        else:
            rows, traffic = check.synthetic_rows(config, now_ms=now_ms, minutes=minutes,
                                                 seed=seed,
                                                 functions=base.ingest_functions(project, "check"))
            start_us = traffic.start_ms * 1000  # whole minutes of traffic, all of them
            runner = check.local_runner(rows)
        outcomes = check.run(queries, runner, start_us=start_us, end_us=end_us)
        warnings = []
        if client is not None:
            # Real data: which prices.yaml rows price nothing seen, which models no row prices.
            try:
                seen = check.seen_models(config, runner, start_us=start_us, end_us=end_us)
            except O2kitError as exc:
                base._say(f"price table coverage not checked: {exc}")
            else:
                warnings = check.price_coverage(project, seen, minutes)
                if config.prices_sync:
                    # OpenObserve's own prices (LLM trace views) against prices.yaml.
                    try:
                        warnings += check.server_price_problems(project, client, seen, end_us)
                    except O2kitError as exc:
                        base._say(f"OpenObserve's model prices not compared: {exc}")
            outcomes += _server_functions(client, project, check)
            client.close()
        if as_json:
            typer.echo(check.as_json(outcomes))
        else:
            for status, label, detail in check.summary_rows(outcomes):
                style = "green" if status == "ok" else "bold red"
                base.out.print(f"[{style}]{status:>4}[/{style}] {label}: {detail}",
                               highlight=False)
        for problem in warnings:
            base._say(str(problem))
        failed = sum(1 for o in outcomes if not o.ok)
        base._say(f"{len(outcomes) - failed} of {len(outcomes)} queries passed")
        return 1 if failed else 0

    raise typer.Exit(base._run(body))


def _server_functions(client: Any, project: Any, check: Any) -> list[Any]:
    """Every function of the project through the server's /functions/test (compile + a run on
    its function-tests/ events)."""
    functions = {r.key[0]: str(r.body.get("function", "")) for r in project.resources
                 if r.kind == "function"}
    if not functions:
        return []
    samples = check.function_samples(project.config.root)
    return list(check.function_checks(
        lambda source, events: client.test_function(source, events, resource="check"),
        functions, samples))


def register(app: typer.Typer) -> None:
    app.command(name="check")(check_command)

