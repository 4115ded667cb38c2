"""``o2kit --env all plan``: plan every environment of the repository and print one summary.

Which environments "all" means:

- every overlay ``envs/<name>.yaml``, in name order. The base ``o2kit.yaml`` on its own is *not*
  an extra target when overlays exist: it holds the shared settings each overlay is merged over.
  To deploy the base settings as they are, add an empty overlay (e.g. ``envs/default.yaml``);
- when there is no overlay at all, the base ``o2kit.yaml`` alone (shown as env ``-``), so that a
  pipeline calling ``--env all`` works before a repository grows environments.

``envs/all.yaml`` is refused: ``all`` would be ambiguous. An organisation forced with ``--org`` or
``OPENOBSERVE_ORG`` is refused when there is more than one environment, because it would send
every environment to the same organisation instead of its own.

Each environment is planned with the same flags, one after the other; a failure in one (invalid
overlay, unknown organisation, server error) is reported and the next is still planned. Output:

- text: each environment's plan, then a table ``env, org, create, update, replace, delete,
  unchanged, checksum`` (a failed environment shows its error instead of counts);
- ``--markdown``: one document with one ``<!-- o2kit-plan -->`` marker, the summary table, then each
  environment's plan (the per-plan markers removed, so a PR comment is found by one marker);
- ``--json``: ``{"format_version": 1, "has_changes": bool, "ok": bool, "environments": [{"env":
  str | null, "org": str | null, "ok": bool, "error": str | null, "plan": <the plan --json
  document> | null}]}``.

Exit code, as ``plan --detailed-exitcode`` over all environments: 1 if any environment failed;
otherwise 2 if ``detailed_exitcode`` and any environment has changes; otherwise 0.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import typer

from o2kit.errors import ConfigError, O2kitError, ValidationFailed
from o2kit.project.config import list_envs, load_config

ALL = "all"
BASE_LABEL = "-"  # the env column when only o2kit.yaml exists


@dataclass
class EnvOutcome:
    """One environment's plan, or why it could not be planned."""

    env: str | None
    org: str | None = None
    plan: Any = None
    checksum: str | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        return self.env or BASE_LABEL

    @property
    def ok(self) -> bool:
        return self.error is None


def environments(root: Any) -> list[str | None]:
    """The targets ``--env all`` plans: every overlay, or the base config when there is none."""
    names = list_envs(root)
    if ALL in names:
        raise ConfigError(
            "envs/all.yaml: 'all' is reserved for `--env all` (every environment)",
            remedy="rename envs/all.yaml",
        )
    return list(names) or [None]


def _error_text(exc: O2kitError) -> str:
    lines = [str(p) for p in exc.problems] if isinstance(exc, ValidationFailed) else []
    lines.append(exc.message)
    return "; ".join(lines)


def _org_for(root: Any, env: str | None, settings_args: dict[str, Any]) -> str | None:
    """The org an environment targets, for the summary even when its plan fails (None if its
    configuration cannot be read; the plan reports why)."""
    forced = settings_args.get("org") or os.environ.get("OPENOBSERVE_ORG")
    if forced:
        return str(forced)
    try:
        return load_config(root, env).config.org
    except O2kitError:
        return None


def _plan_one(env: str | None, settings_args: dict[str, Any], *, prune: bool,
              adopt: bool) -> EnvOutcome:
    from o2kit.cli import base

    outcome = EnvOutcome(env=env, org=_org_for(base._state.project, env, settings_args))
    planned = None
    base._state.env = env  # _make_plan loads the project for the current env
    try:
        planned = base._make_plan(settings_args, prune=prune, adopt=adopt)
        outcome.plan = planned.plan
        outcome.org = planned.plan.org
        outcome.checksum = planned.checksum
    except O2kitError as exc:
        outcome.error = _error_text(exc)
        if isinstance(exc, ValidationFailed):
            for problem in exc.problems:
                base.err.print(base._safe(str(problem)), markup=False)
        base.err.print(f"Error ({outcome.label}): {base._safe(exc.message)}", style="bold red",
                       markup=False)
        if exc.remedy:
            base.err.print(f"  → {base._safe(exc.remedy)}", markup=False)
    finally:
        base._state.env = ALL
        if planned is not None:
            planned.client.close()
    if base._state.verbose and planned is not None:
        base._say(f"{outcome.label}: {planned.live.requests} requests to read live state")
    return outcome


_COLUMNS = ("env", "org", "create", "update", "replace", "delete", "unchanged", "checksum")


def summary_rows(outcomes: list[EnvOutcome]) -> list[list[str]]:
    """One row per environment, in ``_COLUMNS`` order; a failed one carries its error."""
    from o2kit.sync import report

    rows = []
    for o in outcomes:
        if o.plan is None:
            rows.append([o.label, o.org or "?", f"error: {o.error}"])
            continue
        n = report.counts(o.plan)
        rows.append([o.label, o.org or "", str(n["create"]), str(n["update"]),
                     str(n["replace"]), str(n["delete"]), str(n["noop"]), o.checksum or ""])
    return rows


def summary_text(outcomes: list[EnvOutcome]) -> str:
    rows = summary_rows(outcomes)
    widths = [len(c) for c in _COLUMNS]
    for row in rows:
        if len(row) == len(_COLUMNS):
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    def line(cells: list[str]) -> str:
        if len(cells) < len(_COLUMNS):  # a failed env: the error fills the rest of the line
            return "  ".join(c.ljust(w) for c, w in zip(cells[:2], widths, strict=False)) + \
                "  " + cells[2]
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
    failed = sum(1 for o in outcomes if not o.ok)
    changed = sum(1 for o in outcomes if o.plan is not None and o.plan.has_changes)
    head = (f"Environments: {len(outcomes)} planned, {changed} with changes, {failed} failed.")
    return "\n".join([head, line(list(_COLUMNS)), *(line(r) for r in rows)]) + "\n"


def summary_markdown(outcomes: list[EnvOutcome]) -> str:
    from o2kit.redact import md_text

    out = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for raw in summary_rows(outcomes):
        # Names and errors (server text) are escaped, so they cannot break out of the table.
        row = [md_text(c) for c in raw]
        if len(row) < len(_COLUMNS):
            row = [row[0], row[1], f"**{row[2]}**", *([""] * (len(_COLUMNS) - 3))]
        elif row[-1]:
            row = [*row[:-1], f"`{raw[-1]}`"]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


def render_markdown_all(outcomes: list[EnvOutcome]) -> str:
    """One pull-request comment for every environment, carrying exactly one marker."""
    from o2kit.sync import report

    failed = sum(1 for o in outcomes if not o.ok)
    parts = [report.MARKDOWN_MARKER, "## o2kit plan: every environment", "",
             summary_markdown(outcomes)]
    if failed:
        parts += [f"**{failed} environment{'s' if failed != 1 else ''} could not be planned.**",
                  ""]
    for o in outcomes:
        if o.plan is None:
            continue
        body = report.render_markdown(o.plan)
        body = "\n".join(x for x in body.splitlines() if x.strip() != report.MARKDOWN_MARKER)
        parts += [body, ""]
    return "\n".join(parts).rstrip("\n") + "\n"


def render_json_all(outcomes: list[EnvOutcome]) -> dict[str, Any]:
    from o2kit.sync import report

    docs = []
    for o in outcomes:
        doc = report.render_json(o.plan) if o.plan is not None else None
        docs.append({"env": o.env, "org": o.org, "ok": o.ok, "error": o.error, "plan": doc})
    return {
        "format_version": 1,
        "ok": all(o.ok for o in outcomes),
        "has_changes": any(o.plan is not None and o.plan.has_changes for o in outcomes),
        "environments": docs,
    }


def exit_code(outcomes: list[EnvOutcome], detailed_exitcode: bool) -> int:
    if any(not o.ok for o in outcomes):
        return 1
    if detailed_exitcode and any(o.plan.has_changes for o in outcomes):
        return 2
    return 0


def plan_all_envs(
    settings_args: dict[str, Any],
    *,
    prune: bool = False,
    adopt: bool = False,
    as_json: bool = False,
    markdown: bool = False,
    detailed_exitcode: bool = False,
) -> int:
    """Plan every environment (see the module docstring) and return the exit code.

    ``settings_args`` is what ``cli.plan`` passes to ``o2kit.cli.base._make_plan`` (url, org, ca,
    insecure, timeout, concurrency). Prints the plans and the summary; raises ``O2kitError`` only
    for problems that concern all environments (``envs/all.yaml``, a forced org).
    """
    from o2kit.cli import base
    from o2kit.sync import report

    targets = environments(base._state.project)
    forced_org = settings_args.get("org") or os.environ.get("OPENOBSERVE_ORG")
    if forced_org and len(targets) > 1:
        raise ConfigError(
            f"--org/OPENOBSERVE_ORG ({forced_org!r}) would send every environment to the same "
            "organisation",
            remedy="unset it (each envs/NAME.yaml names its org) or plan one env with --env NAME",
        )
    outcomes = [_plan_one(env, settings_args, prune=prune, adopt=adopt) for env in targets]
    if as_json:
        typer.echo(json.dumps(render_json_all(outcomes), indent=2, sort_keys=True))
    elif markdown:
        typer.echo(render_markdown_all(outcomes), nl=False)
    else:
        for o in outcomes:
            if o.plan is not None:
                text = report.render_text(o.plan, color=base._state.color,
                                          verbose_noops=base._state.verbose > 0)
                typer.echo(text)  # the blank line keeps environments apart
        typer.echo(summary_text(outcomes), nl=False)
    return exit_code(outcomes, detailed_exitcode)
