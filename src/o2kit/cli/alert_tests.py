"""``o2kit test``: run the alert unit tests under ``alert-tests/`` (see
``o2kit.query.alerttest``)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from o2kit.cli import flags as _flags

TESTS_DIR = "alert-tests"
# Locally the synthetic traffic is generated and held in memory: a day of it took 12 s of CPU and
# 0.9 GB peak RSS, a week 79 s and 5.1 GB (2026-12-07, this project's machine), so at most a day.
LOCAL_SINCE_MAX = 24 * 60
SINCE_MAX = 31 * 24 * 60
_SINCE = re.compile(r"^\s*([0-9]{1,6})\s*(m|min|h|d|w)\s*$")
_UNIT_MINUTES = {"m": 1, "min": 1, "h": 60, "d": 1440, "w": 10080}


def parse_since(text: str) -> int:
    """``30m``, ``12h``, ``7d``, ``1w`` → minutes (1 minute to 31 days)."""
    match = _SINCE.match(text or "")
    if not match:
        raise typer.BadParameter(f"{text!r}: give a number and a unit, e.g. 90m, 12h, 7d, 1w")
    minutes = int(match.group(1)) * _UNIT_MINUTES[match.group(2)]
    if not 1 <= minutes <= SINCE_MAX:
        raise typer.BadParameter(f"{text!r}: must be at least 1 minute and at most 31 days")
    return minutes


def _test_files(root: Path, files: list[Path] | None) -> list[tuple[Path, str]]:
    """(path, name to show) of the files to run: the ones given, else every YAML file under
    ``alert-tests/`` of the project, sorted."""
    from o2kit.errors import UserError

    if files:
        out: list[tuple[Path, str]] = []
        for path in files:
            if path.is_dir():
                out.extend((p, str(p)) for p in sorted(path.rglob("*.y*ml")))
            elif path.is_file():
                out.append((path, str(path)))
            else:
                raise UserError(f"no test file {str(path)!r}")
        return out
    folder = root / TESTS_DIR
    found = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not found:
        raise UserError(f"no alert tests: {folder} holds no .yaml files",
                        remedy="write one (see `o2kit test --help`) or name the files to run")
    return [(p, p.relative_to(root).as_posix()) for p in found]


def run_alert_tests(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Test files or folders (default: every file under alert-tests/)."),
    ] = None,
    backtest: Annotated[
        bool, typer.Option("--backtest", help="Replay every alert (or --alert ones) over past "
                                              "windows instead of running the test files.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Backtest range back from now: 90m, 12h, 7d (default 7d on "
                                     "a server, at most 31d; locally default and at most 1d).")
    ] = None,
    alert: Annotated[
        list[str] | None,
        typer.Option("--alert", help="Backtest this alert (name or folder/name); repeatable.")
    ] = None,
    changed: Annotated[
        bool, typer.Option("--changed", help="Backtest only the alerts a plan against the server "
                                             "would create or update (implies --remote).")
    ] = False,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Backtest on this server's data [env OPENOBSERVE_URL with "
                                   "--remote]."),
    ] = None,
    remote: Annotated[
        bool, typer.Option("--remote", help="Backtest on OPENOBSERVE_URL's data (else local "
                                            "synthetic traffic).")
    ] = False,
    org: Annotated[str | None, typer.Option("--org", help="Org on the server.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the local synthetic traffic.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Backtest: machine-readable.")] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Backtest: a Markdown fragment (PR comments).")
    ] = False,
    max_queries: Annotated[
        int, typer.Option("--max-queries", callback=_flags.in_range(1, 1000),
                          help="Backtest: searches in all (1-1000).")
    ] = 50,
    max_rows: Annotated[
        int, typer.Option("--max-rows", callback=_flags.in_range(1, 1_000_000),
                          help="Backtest: bucket rows per search (1-1000000).")
    ] = 100_000,
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", callback=_flags.in_range(1, 3600),
                            help="Backtest: no new search after this many seconds (1-3600).")
    ] = 300.0,
    query_timeout: Annotated[
        float, typer.Option("--query-timeout", callback=_flags.in_range(0, 600, above=True),
                            help="Backtest: seconds per search (at most 600).")
    ] = 60.0,
) -> None:
    """Run alert unit tests: evaluate each alert on given rows as OpenObserve's scheduler would.

    A test file names an alert of the project and lists tests, each with an evaluation time
    (`at`), input rows per stream (`minutes_ago` or `_timestamp`) and/or a synthetic Bedrock
    traffic `scenario`, and what to expect (`fires`, optionally `rows` and `messages`). The
    alert runs over [at - period, at) on the local query engine. Exit 1 if any test fails.

    With --backtest: evaluate every alert (or --alert ones) at each run time of its schedule
    over the last --since (period = look-back, frequency = step, silence skips runs after a
    fire) and print how often and when it would have fired — on a server's data (--url or
    --remote; one search per stream an alert reads, not one per window) or on local synthetic
    traffic. Bounded by --max-queries, --max-rows, --max-seconds and --query-timeout; what is
    skipped is said, with why. Exit 0 when the backtest ran (skipped alerts included), 1 when
    it could not run.

    Example: o2kit test alert-tests/bedrock_throttling.yaml
    Example: o2kit test --backtest --since 7d --remote
    """
    from o2kit.cli import base

    base.require_extra("local", "test")
    if backtest:
        if files:
            raise typer.BadParameter("--backtest replays the project's alerts; it takes no "
                                     "test files", param_hint="FILES")
        on_server = bool(url or remote or changed)
        minutes = parse_since(since or ("7d" if on_server else "1d"))
        _run_backtest(base, minutes=minutes, names=list(alert or []), changed=changed, url=url,
                      remote=remote, org=org, seed=seed, as_json=as_json,
                      as_markdown=as_markdown, max_queries=max_queries, max_rows=max_rows,
                      max_seconds=max_seconds, query_timeout=query_timeout)
        return
    if alert or changed or as_json or as_markdown or url or remote or since:
        raise typer.BadParameter("--since, --alert, --changed, --url, --remote, --json and "
                                 "--markdown go with --backtest")
    from o2kit.query import alerttest

    def body() -> int:
        project = base._load_validated()
        config = project.config.config
        layout = str(getattr(config.streams, "metrics_layout", "special"))
        # Scenario traffic goes through the project's ingest functions, as stored.
        functions = base.ingest_functions(project, "test")
        alerts: dict[tuple[str, str], Any] = {
            (r.key[0], r.key[1]): r.body for r in project.of("alert")}
        passed = failed = skipped = 0
        function_files, files_ = _split_function_tests(base._state.project, files)
        if function_files is not None:
            counts = _run_function_tests(base, base._state.project, config, function_files)
            passed, failed, skipped = counts
        if files is None and function_files and not (base._state.project / TESTS_DIR).is_dir():
            files_ = []  # only function tests in this project
        for path, shown in (_test_files(base._state.project, files_) if files_ != [] else []):
            try:
                test_file, index = alerttest.load_test_file(path, shown)
            except alerttest.TestFileError as exc:
                for problem in exc.problems:
                    base.err.print(base._safe(str(problem)), markup=False)
                failed += 1
                continue
            result = alerttest.run_test_file(
                test_file, index, alerts=alerts, logs_stream=config.streams.invocation_logs,
                metrics_stream=config.streams.metrics, metrics_layout=layout,
                functions=functions)
            for problem in result.problems:
                base.err.print(base._safe(str(problem)), markup=False)
                failed += 1
            for case in result.cases:
                _print_case(base, shown, result.alert, case)
                if case.status == "pass":
                    passed += 1
                elif case.status == "skip":
                    skipped += 1
                else:
                    failed += 1
        summary = f"{passed} passed, {failed} failed"
        if skipped:
            summary += f", {skipped} skipped"
        base._say(summary)
        return 1 if failed else 0

    raise typer.Exit(base._run(body))


def _split_function_tests(
    root: Path, files: list[Path] | None
) -> tuple[list[tuple[Path, str]] | None, list[Path] | None]:
    """(function-test files to run, the other files): named files under a ``function-tests``
    folder are function tests; without files, every ``function-tests/*.yaml`` runs too."""
    from o2kit.query.functiontest import TESTS_DIR as FUNCTION_TESTS
    from o2kit.query.functiontest import function_test_files

    if files is None:
        found = function_test_files(root / FUNCTION_TESTS)
        return [(p, p.relative_to(root).as_posix()) for p in found], None
    mine = [p for p in files if FUNCTION_TESTS in p.resolve().parts]
    rest = [p for p in files if p not in mine]
    named: list[tuple[Path, str]] = []
    for path in mine:
        found = function_test_files(path) if path.is_dir() else [path]
        named.extend((p, str(p)) for p in found)
    return (named or None), (rest or ([] if mine else None))


def _run_function_tests(base: Any, root: Path, config: Any,
                        files: list[tuple[Path, str]]) -> tuple[int, int, int]:
    """Function unit tests (``function-tests/``, ``o2kit.query.functiontest``): (passed,
    failed, skipped). Without the VRL runtime they are skipped with one note."""
    from o2kit.errors import ConfigError
    from o2kit.query import functiontest as ft
    from o2kit.validate import vrl

    if not files:
        return 0, 0, 0
    if not vrl.available():
        base._say(f"note: {len(files)} function test file(s) skipped: {vrl.INSTALL_HINT}")
        return 0, 0, len(files)
    passed = failed = 0

    def source_for(name: str, overrides: Any) -> str:
        return ft.render_function(root / ft.FUNCTIONS_DIR, name,
                                  ft.ingest_context(config.ingest, overrides))

    for path, shown in files:
        try:
            test_file, index = ft.load_function_test_file(path, shown)
            results = ft.run_function_test_file(test_file, index, source_for)
        except ft.FunctionTestError as exc:
            for problem in exc.problems:
                base.err.print(base._safe(str(problem)), markup=False)
            failed += 1
            continue
        except ConfigError as exc:
            base.err.print(base._safe(f"{shown}: {exc.message}"), markup=False)
            failed += 1
            continue
        for case in results:
            style, label = ("green", "PASS") if case.passed else ("bold red", "FAIL")
            base.out.print(f"[{style}]{label:<5}[/{style}] {shown}:{case.line}: "
                           f"{test_file.function}: ", end="", highlight=False)
            base.out.print(case.name, markup=False, highlight=False)
            for failure in case.failures[:20]:
                base.out.print(f"      {base._safe(failure)}", markup=False, highlight=False)
            passed, failed = passed + case.passed, failed + (not case.passed)
    return passed, failed, 0


_STYLE = {"pass": "green", "fail": "bold red", "error": "bold red", "skip": "yellow"}


def _print_case(base: Any, file: str, alert: str, case: Any) -> None:
    style = _STYLE[case.status]
    label = case.status.upper()
    base.out.print(f"[{style}]{label:<5}[/{style}] {file}:{case.line}: {alert}: ",
                   end="", highlight=False)
    base.out.print(case.name, markup=False, highlight=False)
    show = case.status in ("fail", "error", "skip") or base._state.verbose
    if not show:
        return
    for line in (part for text in case.detail for part in text.splitlines()):
        colour = ("green" if line.startswith("+") and not line.startswith("+++") else
                  "red" if line.startswith("-") and not line.startswith("---") else None)
        if colour and base._state.color:
            base.out.print(f"      {line}", style=colour, markup=False, highlight=False)
        else:
            base.out.print(f"      {line}", markup=False, highlight=False)
    if base._state.verbose > 1 and case.evaluation is not None and case.evaluation.sql:
        base.out.print("      sql: " + " ".join(case.evaluation.sql.split()), markup=False,
                       highlight=False)


def _select(base: Any, alerts: list[tuple[str, str, Any]], names: list[str],
            changed_keys: set[tuple[str, str]] | None) -> list[tuple[str, str, Any]]:
    from o2kit.errors import UserError

    chosen = alerts
    if changed_keys is not None:
        chosen = [a for a in chosen if (a[0], a[1]) in changed_keys]
    if names:
        picked: list[tuple[str, str, Any]] = []
        for name in names:
            found = [a for a in chosen if name in (a[1], f"{a[0]}/{a[1]}")]
            if not found and not any(name in (a[1], f"{a[0]}/{a[1]}") for a in alerts):
                known = ", ".join(sorted({a[1] for a in alerts})) or "none"
                raise UserError(f"no alert {name!r} in the project (alerts: {known})")
            picked.extend(a for a in found if a not in picked)
        chosen = picked
    return chosen


def _run_backtest(base: Any, *, minutes: int, names: list[str], changed: bool, url: str | None,
                  remote: bool, org: str | None, seed: int, as_json: bool, as_markdown: bool,
                  max_queries: int, max_rows: int, max_seconds: float,
                  query_timeout: float) -> None:
    from o2kit.query import backtest as bt

    if as_json and as_markdown:
        raise typer.BadParameter("--json and --markdown: choose one")
    on_server = bool(url or remote or changed)  # --changed plans against the server
    if not on_server and minutes > LOCAL_SINCE_MAX:
        raise typer.BadParameter("locally the synthetic traffic covers at most 1 day (1d); "
                                 "use a server (--url/--remote) for longer", param_hint="--since")

    def body() -> int:
        from o2kit.redact import md_text

        project = base._load_validated()
        config = project.config.config
        alerts = [(r.key[0], r.key[1], r.body) for r in project.of("alert")]
        limits = bt.Limits(max_queries=max_queries, max_rows=max_rows, max_seconds=max_seconds)
        now_us = int(time.time()) // 60 * 60 * 1_000_000
        start_us = now_us - minutes * bt.MINUTE_US
        client: Any = None
        try:
            changed_keys: set[tuple[str, str]] | None = None
            if changed:
                settings_args = base._server_args(url, org, None, False, query_timeout, 4)
                planned = base._make_plan(settings_args, prune=False, adopt=False)
                client = planned.client
                changed_keys = {(c.key[0], c.key[1]) for c in planned.plan.changes
                                if c.kind == "alert" and c.action in ("create", "update",
                                                                      "replace")}
            chosen = _select(base, alerts, names, changed_keys)
            if on_server:
                if client is None:
                    from o2kit.sync.client import OpenObserveClient

                    settings = base._settings(url, org, None, False, query_timeout, 1,
                                              config.org)
                    client = OpenObserveClient(settings, transport=base._TRANSPORT)
                search = _server_search(client)
                schemas: dict[str, Any] = {}
                # Custom alerts' SQL is built from the stream's column types: one schema read per
                # stream, within the search cap.
                for stream_type, stream in bt.custom_streams(chosen)[:max_queries]:
                    answer = client.stream_schema(stream, stream_type, resource="backtest")
                    if answer is not None:
                        schemas[stream] = bt.arrow_schema(answer)
                report = bt.backtest(chosen, search, start_us=start_us, end_us=now_us,
                                     source="server", limits=limits, schemas=schemas)
            else:
                search, local_schemas = _local_search(config, now_us=now_us, minutes=minutes,
                                                seed=seed, chosen=chosen)
                report = bt.backtest(chosen, search, start_us=start_us, end_us=now_us,
                                     source="local", limits=limits, schemas=local_schemas)
        finally:
            if client is not None:
                client.close()
        if as_json:
            typer.echo(json.dumps(bt.as_json(report, minutes), indent=2, ensure_ascii=False))
        elif as_markdown:
            empty = ("No alert is created or updated by the plan." if changed
                     else "No alert selected.")
            typer.echo(bt.markdown(report, minutes, md_text, env=base._state.env, empty=empty),
                       nl=False)
        else:
            _print_backtest(base, report, minutes)
        skipped = sum(1 for r in report.alerts if r.status != "ran")
        base._say(f"Backtest of {len(report.alerts)} alert{'s' if len(report.alerts) != 1 else ''}"
                  f" over the last {bt.since_text(minutes)} on "
                  f"{'the server' if on_server else 'local synthetic traffic'}: "
                  f"{report.queries} search{'es' if report.queries != 1 else ''}, "
                  f"{report.seconds:.1f} s" + (f", {skipped} skipped" if skipped else ""))
        return 0

    raise typer.Exit(base._run(body))


def _server_search(client: Any) -> Any:
    def search(sql: str, start_us: int, end_us: int, size: int, stream_type: str) -> list[Any]:
        answer = client.search(sql, start_us, end_us, size=size, stream_type=stream_type,
                               resource="backtest")
        return list(answer.get("hits") or [])

    return search


def _local_search(config: Any, *, now_us: int, minutes: int, seed: int,
                  chosen: list[tuple[str, str, Any]]) -> tuple[Any, dict[str, Any]]:
    """A search over synthetic Bedrock traffic for the range (made only when an alert needs
    it), and the streams' schemas (custom alerts)."""
    from o2kit.query import check
    from o2kit.query.engine import QueryEngine, rows_to_table

    engine = QueryEngine()
    schemas: dict[str, Any] = {}
    if chosen:
        rows, _traffic = check.synthetic_rows(config, now_ms=now_us // 1000, minutes=minutes,
                                              seed=seed)
        for stream, stream_rows in rows.items():
            if stream_rows:
                table = rows_to_table(stream_rows)
                engine.register_arrow(stream, table)
                schemas[stream] = table.schema

    def search(sql: str, start_us: int, end_us: int, size: int, stream_type: str) -> list[Any]:
        return engine.query(sql, start_time=start_us, end_time=end_us)[:size]

    return search, schemas


def _print_backtest(base: Any, report: Any, minutes: int) -> None:
    from o2kit.query import alerttest
    from o2kit.query import backtest as bt

    span = bt.since_text(minutes)
    for r in report.alerts:
        label = base._safe(f"{r.folder}/{r.name}")
        if r.status != "ran":
            base.out.print(f"[yellow]SKIP[/yellow]  {label}: ", end="", highlight=False,
                           markup=True)
            base.out.print(base._safe(r.reason), markup=False, highlight=False)
            continue
        style = "bold red" if r.fired else "green"
        base.out.print(f"[{style}]{len(r.fired):>4}[/{style}]  ", end="", highlight=False)
        base.out.print(f"{label}: {base._safe(bt.summary_line(r, span))}", markup=False,
                       highlight=False)
        base.out.print(f"      every {r.frequency} min over {r.period} min, silence "
                       f"{r.silence} min", markup=False, highlight=False)
        shown = r.fired[:bt.SHOW_WINDOWS]
        for at in shown:
            start = alerttest.format_micros(at - r.period * bt.MINUTE_US)
            value = r.observed.get(at)
            what = f" ({value:g} {r.measure})" if value is not None else ""
            base.out.print(f"      fired {alerttest.format_micros(at)}  window {start} .. "
                           f"{alerttest.format_micros(at)}{what}", markup=False,
                           highlight=False)
        if len(r.fired) > len(shown):
            base.out.print(f"      … and {len(r.fired) - len(shown)} more (--json lists all)",
                           markup=False, highlight=False)
        for note in r.notes:
            base.out.print(f"      note: {base._safe(note)}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command(name="test")(run_alert_tests)
