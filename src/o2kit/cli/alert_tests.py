"""``o2kit test``: run the alert unit tests under ``alert-tests/`` (see
``o2kit.query.alerttest``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

TESTS_DIR = "alert-tests"


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
) -> None:
    """Run alert unit tests: evaluate each alert on given rows as OpenObserve's scheduler would.

    A test file names an alert of the project and lists tests, each with an evaluation time
    (`at`), input rows per stream (`minutes_ago` or `_timestamp`) and/or a synthetic Bedrock
    traffic `scenario`, and what to expect (`fires`, optionally `rows` and `messages`). The
    alert runs over [at - period, at) on the local query engine. Exit 1 if any test fails.

    Example: o2kit test alert-tests/bedrock_throttling.yaml
    """
    from o2kit.cli import base

    base.require_extra("local", "test")
    from o2kit.query import alerttest

    def body() -> int:
        project = base._load_validated()
        config = project.config.config
        layout = str(getattr(config.streams, "metrics_layout", "special"))
        alerts: dict[tuple[str, str], Any] = {
            (r.key[0], r.key[1]): r.body for r in project.of("alert")}
        passed = failed = skipped = 0
        for path, shown in _test_files(base._state.project, files):
            try:
                test_file, index = alerttest.load_test_file(path, shown)
            except alerttest.TestFileError as exc:
                for problem in exc.problems:
                    base.err.print(base._safe(str(problem)), markup=False)
                failed += 1
                continue
            result = alerttest.run_test_file(
                test_file, index, alerts=alerts, logs_stream=config.streams.invocation_logs,
                metrics_stream=config.streams.metrics, metrics_layout=layout)
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


def register(app: typer.Typer) -> None:
    app.command(name="test")(run_alert_tests)
