"""The command line: the only module that reads flags and talks to the terminal.

Each command is a thin sequence over the library: load → render → validate → (fetch → plan →
report/apply). Every ``O2kitError`` becomes a one-line message with a remedy and exit code 1;
anything else is an internal error that says how to see the traceback (``--debug``).

Exit codes (``o2kit.cli.flags``): 0 success (``plan --detailed-exitcode``: no changes), 1 error,
2 changes present (``plan --detailed-exitcode`` only), 64 usage error (an unknown option, a flag
value that is not a finite number in its range: nothing was read or sent), 130 interrupted.
Typer's own usage-error code is 2; o2kit moves it to 64 so that a mistyped flag in CI is never
read as "the plan has changes". Without ``--debug`` no failure prints a traceback.

Everything printed or logged goes through one redaction layer (``o2kit.redact``), installed by
the root callback before anything else runs (``o2kit.cli.base.install_output_safety``).
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from o2kit import __version__
from o2kit.cli import base
from o2kit.cli.base import (  # noqa: F401  (_load_validated, _state: used by tests)
    _load_validated,
    _make_plan,
    _Planned,
    _run,
    _say,
    _server_args,
    _state,
    _write,
)
from o2kit.cli.flags import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CliGroup,
    check_concurrency,
    check_timeout,
    in_range,
)

app = typer.Typer(
    cls=CliGroup,
    name="o2kit",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    help="OpenObserve dashboards and alerts as code (built first for AWS Bedrock monitoring).",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"o2kit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    project: Annotated[
        Path, typer.Option("--project", "-C", help="Repository root holding o2kit.yaml.")
    ] = Path("."),
    env: Annotated[
        str | None,
        typer.Option("--env", "-e", envvar="O2KIT_ENV", help="Overlay envs/NAME.yaml."),
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Log HTTP requests; show tracebacks.")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain output.")] = False,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Neither read nor write the cache (.o2kit/cache/)."),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """OpenObserve dashboards and alerts as code.

    Example: o2kit plan --env prod
    """
    base.install_output_safety()
    _state.project = project
    _state.env = env
    _state.verbose = verbose
    _state.quiet = quiet
    _state.debug = debug
    _state.command = ctx.invoked_subcommand
    _state.no_cache = no_cache
    ctx.call_on_close(base.finish_cache)  # release (and trim when due) the cache it used
    base.set_color(base.use_color(no_color))
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    base.install_log_handler(level)
    from o2kit.redact import install_logging_redaction

    install_logging_redaction(logging.getLogger().handlers)


@app.command()
def render(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the rendered JSON.")
    ] = Path("build/rendered"),
) -> None:
    """Render dashboards, alerts, destinations and templates to OpenObserve JSON files.

    Secrets stay as ${env:NAME} placeholders. Output is sorted and stable so git diffs stay small.

    Example: o2kit render --out build/rendered
    """

    def body() -> None:
        from o2kit.project.loader import load_project, write_rendered

        project = load_project(_state.project, _state.env)
        target = out_dir if out_dir.is_absolute() else _state.project / out_dir
        written = write_rendered(project.resources, target)
        _say(f"Rendered {len(project.resources)} resources into {len(written)} files in {target}")

    _run(body)


@app.command()
def validate(
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on warnings too (e.g. overlapping panels).")
    ] = False,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Neither read nor write the cache (.o2kit/cache/)."),
    ] = False,
) -> None:
    """Check everything offline: shapes, layout, SQL, columns, alert rules. Exit 1 on problems.

    Warnings (rules OpenObserve itself does not enforce, such as overlapping panels) are printed
    and do not fail, unless --strict. Results of unchanged files are kept in .o2kit/cache/ (or
    $O2KIT_CACHE_DIR); delete it freely, or pass --no-cache.

    Example: o2kit validate --env staging
    """
    if no_cache:
        _state.no_cache = True

    def body() -> None:
        project = _load_validated(strict=strict)
        counts: dict[str, int] = {}
        for r in project.resources:
            counts[r.kind] = counts.get(r.kind, 0) + 1
        summary = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(counts.items()))
        _say(f"OK: {summary} valid")

    _run(body)


# --- server commands ----------------------------------------------------------------------------

UrlOpt = Annotated[str | None, typer.Option("--url", help="OpenObserve URL [env OPENOBSERVE_URL]")]
OrgOpt = Annotated[str | None, typer.Option("--org", help="Org [env OPENOBSERVE_ORG, o2kit.yaml]")]
CaOpt = Annotated[
    str | None, typer.Option("--ca-bundle", help="CA bundle file [env OPENOBSERVE_CA_BUNDLE]")
]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Do not verify TLS certificates (never by default).")
]
TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", callback=check_timeout,
    help="Seconds per request, body included (more than 0, at most 3600).")]
ConcurrencyOpt = Annotated[int, typer.Option(
    "--concurrency", callback=check_concurrency, help="Requests in flight at once (1-64).")]
PruneOpt = Annotated[
    bool, typer.Option("--prune", help="Delete managed objects that are no longer in code.")
]
AdoptOpt = Annotated[
    bool, typer.Option("--adopt", help="Take over unmanaged objects with the same key.")
]


@app.command()
def plan(
    url: UrlOpt = None,
    org: OrgOpt = None,
    ca_bundle: CaOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 30.0,
    concurrency: ConcurrencyOpt = 8,
    prune: PruneOpt = False,
    adopt: AdoptOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable plan.")] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Markdown for a pull-request comment.")
    ] = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0 no changes, 2 changes, 1 error.")
    ] = False,
) -> None:
    """Show what apply would change, field by field. Writes nothing.

    With the global option --env all: every environment (envs/*.yaml), then one summary table.

    Example: o2kit plan --env prod --detailed-exitcode
    """
    from o2kit.sync import report

    if _state.env == "all":  # every environment, one summary (o2kit/cli_envs.py)
        from o2kit.cli.envs import plan_all_envs

        settings_args = _server_args(url, org, ca_bundle, insecure, timeout, concurrency)
        raise typer.Exit(_run(lambda: plan_all_envs(
            settings_args, prune=prune, adopt=adopt, as_json=as_json, markdown=markdown,
            detailed_exitcode=detailed_exitcode)))

    def body() -> int:
        planned = _make_plan(
            _server_args(url, org, ca_bundle, insecure, timeout, concurrency),
            prune=prune,
            adopt=adopt,
        )
        p = planned.plan
        if as_json:
            doc = report.render_json(p)
            doc.setdefault("checksum", planned.checksum)
            typer.echo(json.dumps(doc, indent=2, sort_keys=True))
        elif markdown:
            typer.echo(report.render_markdown(p))
        else:
            _write(report.render_text(p, color=_state.color, verbose_noops=_state.verbose > 0))
        if _state.verbose:
            _say(f"{planned.live.requests} requests to read live state")
        planned.client.close()
        return 2 if (detailed_exitcode and p.has_changes) else 0

    code = _run(body)
    raise typer.Exit(code)


@app.command()
def apply(
    url: UrlOpt = None,
    org: OrgOpt = None,
    ca_bundle: CaOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = 30.0,
    concurrency: ConcurrencyOpt = 8,
    prune: PruneOpt = False,
    adopt: AdoptOpt = False,
    checksum: Annotated[
        str | None,
        typer.Option("--checksum", help="Refuse unless the plan still has this checksum."),
    ] = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", "-y", help="Do not ask for confirmation.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite server-side edits; allow mass deletes."),
    ] = False,
    create_streams: Annotated[
        bool,
        typer.Option("--create-streams",
                     help="Create streams that alerts need but that have no data yet."),
    ] = False,
    max_delete_fraction: Annotated[
        float,
        typer.Option(
            "--max-delete-fraction", callback=in_range(0, 1),
            help="Deleting more than this share of a kind needs --force (0 to 1).",
        ),
    ] = 0.3,
) -> None:
    """Make the server match the code: plan again, then create/update/delete in dependency order.

    Example: o2kit apply --env prod --checksum 3f2a… --auto-approve
    """
    from o2kit.errors import PlanError
    from o2kit.sync import report
    from o2kit.sync.plan import delete_guard

    def body() -> int:
        planned = _make_plan(
            _server_args(url, org, ca_bundle, insecure, timeout, concurrency),
            prune=prune,
            adopt=adopt,
        )
        p = planned.plan
        if checksum is not None and checksum != planned.checksum:
            raise PlanError(
                f"the plan changed since it was reviewed (checksum {planned.checksum}, "
                f"expected {checksum}); nothing was applied",
                remedy="run `o2kit plan` again and review the new plan",
            )
        if not _state.quiet:
            _write(report.render_text(p, color=_state.color, verbose_noops=_state.verbose > 0))
        if not p.has_changes:
            planned.client.close()
            return 0
        guard = delete_guard(
            p, planned.live.resources, max_fraction=max_delete_fraction, project=p.project
        )
        if guard and not force:
            raise PlanError("; ".join(guard), remedy="review the deletes and pass --force")
        if not auto_approve:
            if not sys.stdin.isatty():
                raise PlanError(
                    "apply needs confirmation but there is no terminal",
                    remedy="pass --auto-approve (in CI, with --checksum)",
                )
            if not typer.confirm("Apply these changes?", default=False):
                _say("Nothing applied.")
                return 1
        streams = _streams_to_create(p) if create_streams else None
        result = _apply_with_progress(planned, force, streams)
        _print_apply_summary(result)
        planned.client.close()
        return 0 if result.ok else 1

    code = _run(body)
    raise typer.Exit(code)


def _streams_to_create(plan: Any) -> dict[tuple[str, str], dict[str, str]]:
    """Schema for each stream the plan found missing: the columns its alerts' SQL reads."""
    from o2kit.project.columns import column_type
    from o2kit.validate.sqlcheck import referenced_columns

    streams: dict[tuple[str, str], dict[str, str]] = {}
    for change in plan.changes:
        if change.missing_stream is None or change.desired is None:
            continue
        fields = streams.setdefault(change.missing_stream, {})
        sql = (change.desired.body.get("query_condition") or {}).get("sql") or ""
        for stream, columns in referenced_columns(sql).items() if sql else ():
            if stream == change.missing_stream[1]:
                fields.update({c: column_type(c) for c in columns})
    return streams


def _apply_with_progress(planned: _Planned, force: bool,
                         streams: dict[tuple[str, str], dict[str, str]] | None = None) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from o2kit.project.workers import fewer_collections
    from o2kit.sync.remote import PreparedPayloads, apply_plan, count_changes

    total = count_changes(planned.plan)
    show = _state.color and not _state.quiet and total > 5
    # Each dashboard payload decodes its ~250 KB cached body: many objects, all short-lived.
    # The payloads are made ahead before the progress bar starts its thread (PreparedPayloads).
    with fewer_collections(), PreparedPayloads(planned.plan) as prepared:
        if not show:
            return apply_plan(planned.client, planned.plan, force=force, create_streams=streams,
                              prepared=prepared)
        with Progress(TextColumn("Applying"), BarColumn(), MofNCompleteColumn(),
                      console=base.err, transient=True) as progress:
            task = progress.add_task("apply", total=total)
            return apply_plan(
                planned.client, planned.plan, force=force, create_streams=streams,
                progress=lambda _o: progress.advance(task), prepared=prepared,
            )


def _print_apply_summary(result: Any) -> None:
    done = [o for o in result.outcomes if o.status == "ok" and o.change.action != "noop"]
    failed = [o for o in result.outcomes if o.status == "failed"]
    skipped = [o for o in result.outcomes if o.status == "skipped"]
    err = base.err
    for o in failed:
        err.print(base._safe(f"✗ {o.change.action} {o.change.address}: {o.message}"),
                  style="red", markup=False)
    for o in skipped:
        err.print(base._safe(f"- skipped {o.change.address}: {o.message}"), style="yellow",
                  markup=False)
    if _state.verbose:
        for o in done:
            err.print(base._safe(f"✓ {o.change.action} {o.change.address}"), style="green",
                      markup=False)
    line = (
        f"Apply: {len(done)} succeeded, {len(failed)} failed, {len(skipped)} skipped "
        f"({result.writes} writes, {result.requests} requests)."
    )
    (base.err if result.failed else base.out).print(line, markup=False)
    if result.failed:
        base.err.print(
            "  → fix the errors above and run `o2kit apply` again; it converges", markup=False
        )


# Commands that live in their own modules (o2kit/cli_<name>.py, each with ``register(app)``), so
# the command line can grow without one file becoming a bottleneck.
_COMMAND_MODULES: tuple[str, ...] = (
    "check", "aws", "seed", "demo", "alert_tests", "export", "preview", "cache",
)


def _register_command_modules() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(f"o2kit.cli.{name}").register(app)


_register_command_modules()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # raised outside a command body (option parsing, typer itself)
        if _state.debug:
            raise
        plain = base.plain_error(exc)
        sys.stderr.write(f"Error: {base.one_line(plain[0] if plain else repr(exc))}\n")
        raise SystemExit(EXIT_ERROR) from None
    finally:
        # The process ends now: the collection Python runs at exit need not scan everything
        # the command built (about 1 s after a cold validate of 1,000 + 1,000 objects).
        gc.freeze()
