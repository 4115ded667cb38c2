"""Commands ``o2kit export`` (server → files), ``o2kit schema`` (JSON Schemas of the YAML files)
and ``o2kit init`` (a new configuration repository)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from o2kit.cli import flags as _flags

if TYPE_CHECKING:
    from o2kit.sync.export import ExportResult

_SERVER = "Server"


def export_command(
    folder: Annotated[
        list[str] | None,
        typer.Option("--folder", help="Folder name or id (repeatable).", show_default=False),
    ] = None,
    title: Annotated[
        list[str] | None,
        typer.Option(
            "--title", help="Dashboard title or alert name, exact (repeatable).", show_default=False
        ),
    ] = None,
    object_id: Annotated[
        list[str] | None,
        typer.Option("--id", help="Dashboard or alert id (repeatable).", show_default=False),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Every dashboard and alert of the org.")
    ] = False,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only one kind: 'dashboards', 'alerts', 'functions', "
                                    "'pipelines' …", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the files it would write; write nothing.")
    ] = False,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Server URL [env OPENOBSERVE_URL].", rich_help_panel=_SERVER),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option("--org", help="Organisation [env OPENOBSERVE_ORG].", rich_help_panel=_SERVER),
    ] = None,
    ca_bundle: Annotated[
        str | None,
        typer.Option("--ca-bundle", help="CA bundle for TLS.", rich_help_panel=_SERVER),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Do not verify TLS certificates.", rich_help_panel=_SERVER),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", callback=_flags.check_timeout,
                            help="Seconds per request (more than 0, at most 3600).",
                            rich_help_panel=_SERVER)
    ] = 30.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", callback=_flags.check_concurrency,
                          help="Requests in flight (1-64).", rich_help_panel=_SERVER)
    ] = 8,
) -> None:
    """Pull dashboards and alerts from a server into this repository as files o2kit manages.

    Dashboards become raw OpenObserve v8 JSON under templates/exported/ (older schema versions are
    upgraded as the OpenObserve UI does) plus one dashboards/*.yaml each; alerts become raw JSON
    plus alerts/<folder>.yaml with the destinations and alert templates they use; functions
    become functions/<name>.vrl and pipelines pipelines/<name>.yaml (--title NAME selects one).
    Secrets are never written: destination URLs and headers become ${env:O2KIT_...}
    placeholders, listed at the end. Objects already in code are skipped; existing files are kept
    unless --force.

    Right after an export, `o2kit plan` shows no changes (the objects are "not managed by o2kit");
    `o2kit apply --adopt` then marks them as managed. Folder "default" is OpenObserve's built-in
    folder: exported like any other, referenced (never created) by plan.

    Exit 1 when something selected cannot be exported — e.g. two dashboards with one title in one
    folder, which o2kit cannot tell apart: each is listed with the fix and the rest is exported
    (--dry-run reports and exits the same way).

    Example: o2kit export --folder Payments --title "Stripe"
    """
    from o2kit.cli import base
    from o2kit.errors import UserError
    from o2kit.project.config import load_config
    from o2kit.sync import export
    from o2kit.sync.client import OpenObserveClient

    def body() -> int:
        root = base._state.project
        rest = {f"{k}s": k for k in export.exportable_kinds()}
        rest.update({k: k for k in export.exportable_kinds()})
        if kind not in (None, "dashboards", "alerts", *rest):
            choices = ", ".join(repr(c) for c in ("dashboards", "alerts",
                                                   *(f"{k}s" for k in export.exportable_kinds())))
            raise UserError(f"--kind {kind!r}: use one of {choices}")
        request = export.ExportRequest(
            folders=tuple(folder or ()),
            titles=tuple(title or ()),
            ids=tuple(object_id or ()),
            everything=everything,
            dashboards=kind in (None, "dashboards"),
            alerts=kind in (None, "alerts"),
            rest_kinds=None if kind is None else tuple(k for c, k in rest.items() if c == kind),
        )
        request.check()
        config = load_config(root, base._state.env).config
        settings = base._settings(
            url, org, ca_bundle, insecure, timeout, concurrency, config_org=config.org
        )
        with OpenObserveClient(settings, transport=base._TRANSPORT) as client:
            objects = export.read_server(client, request)
        result = export.build_export(objects, export.existing_keys(root))
        for line in result.skipped:
            base._say(f"skipped {line}")
        for line in result.not_exported:
            base._say(f"not exported: {line}")
        if not result.files:
            base._say("Nothing to export.")
            return _not_exported_code(result, dry_run)
        if dry_run:
            for f in result.files:
                typer.echo(base._safe(f"would write {f.path}  ({f.what})"))
        else:
            for path in export.write_export(result, root, force=force):
                typer.echo(base._safe(f"wrote {path.relative_to(root)}"))
        for note in result.notes:
            base._say(f"note: {note}")
        if result.env_vars:
            base._say("Set these variables before plan/apply (secrets are never written to files):")
            for line in export.env_var_lines(result.env_vars):
                base._say(f"  {line}")
        if not dry_run:
            _check_after_export()
        base._say("Next: `o2kit plan` (no changes expected), then `o2kit apply --adopt`.")
        return _not_exported_code(result, dry_run)

    raise typer.Exit(base._run(body))


def _not_exported_code(result: ExportResult, dry_run: bool) -> int:
    """Exit 1 when anything selected was not exported for a problem to fix (a name clash, a
    dashboard the UI cannot upgrade), as apply exits 1 when a resource failed: the rest is
    exported all the same, and a script must not take the partial export for a whole one.
    ``--dry-run`` exits as the export would. Objects skipped because they are already in code
    are not problems."""
    from o2kit.cli import base

    missing = len(result.not_exported)
    if not missing:
        return 0
    verb = "would not be exported" if dry_run else "not exported"
    base._say(
        f"Error: {missing} selected object{'s' if missing != 1 else ''} {verb} (listed above "
        "with the fix); everything else " + ("would be" if dry_run else "was") + " exported"
    )
    return 1


def _check_after_export() -> None:
    """Say at once when the project (with the new files) does not validate: plan refuses then."""
    from o2kit.cli import base
    from o2kit.errors import O2kitError, ValidationFailed

    try:
        base._load_validated()
    except ValidationFailed as exc:
        base._say(
            f"warning: `o2kit validate` finds {len(exc.problems)} problem(s) with the project now "
            "(for example streams the exported queries read that o2kit.yaml does not configure); "
            "plan and apply refuse until they are fixed. First: " + str(exc.problems[0])
        )
    except O2kitError as exc:
        base._say(f"warning: the project does not load: {exc.message}")


def schema_command(
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="One schema: config, env, dashboard, alerts, prices, "
                                    "alert-test. Default: all.", show_default=False),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write <kind>.schema.json files here instead of printing.",
                     show_default=False),
    ] = None,
) -> None:
    """Print (or write) the JSON Schemas of the YAML files o2kit reads, for editors.

    With yaml-language-server (VS Code's YAML extension and others), the schemas in schemas/ give
    completion and checks while typing; see the README for the wiring.

    Example: o2kit schema --kind dashboard
    """
    from o2kit.cli import base
    from o2kit.cli import schema_files as jsonschema
    from o2kit.errors import UserError

    def body() -> int:
        schemas = jsonschema.all_schemas()
        if kind is not None and kind not in schemas:
            raise UserError(f"--kind {kind!r}: use one of {', '.join(schemas)}")
        chosen = {kind: schemas[kind]} if kind else schemas
        if out_dir is None:
            doc = chosen[kind] if kind else chosen
            typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
            return 0
        for path in jsonschema.write_schemas(out_dir, chosen):
            typer.echo(f"wrote {path}")
        return 0

    raise typer.Exit(base._run(body))


def init_command(
    directory: Annotated[Path, typer.Argument(help="Where to create the repository.")],
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty directory (never overwrites).")
    ] = False,
) -> None:
    """Create a new o2kit configuration repository: o2kit.yaml, prices.yaml, dashboards/,
    alerts/, templates/ (the Bedrock templates), envs/, schemas/ + editor settings, and the CI
    workflow.

    Example: o2kit init observability-config
    """
    from o2kit.cli import base, scaffold

    def body() -> int:
        result = scaffold.init_project(directory, force=force)
        for path in result.written:
            typer.echo(f"wrote {path}")
        for path in result.kept:
            base._say(f"kept {path} (exists)")
        for note in result.notes:
            base._say(f"note: {note}")
        base._say(f"Next: cd {directory} && o2kit validate")
        return 0

    raise typer.Exit(base._run(body))


def register(app: typer.Typer) -> None:
    app.command(name="export")(export_command)
    app.command(name="schema")(schema_command)
    app.command(name="init")(init_command)
