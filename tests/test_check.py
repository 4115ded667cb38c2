"""``o2kit check``: how answers are judged, and the command on the shipped project."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from o2kit.cli import app as cli
from o2kit.query import check
from o2kit.query.engine import QueryEngine

REPO = Path(__file__).resolve().parents[1]
ROWS = [{"_timestamp": 1_000_000 + i, "model": "m", "n": i} for i in range(5)]


def _runner():
    engine = QueryEngine()
    engine.register_rows("s", ROWS)
    return lambda sql, start, end: engine.query(sql, start_time=start, end_time=end)


def _q(sql: str, aliases: tuple[str, ...] = (), rows: bool = True) -> check.Query:
    return check.Query(label="q", sql=sql, stream="s", aliases=aliases, must_return_rows=rows)


def test_judgements() -> None:
    outcomes = check.run(
        [_q('SELECT model, SUM(n) AS total FROM "s" GROUP BY model', ("model", "total")),
         _q('SELECT SUM(n) AS total FROM "s"', ("total", "ts")),
         _q('SELECT n FROM "s" WHERE n > 100', ("n",)),
         _q('SELECT n FROM "s" WHERE n > 100', ("n",), rows=False),
         _q('SELECT nope FROM "s"')],
        _runner(), start_us=0, end_us=10**12)
    ok, missing, empty, alert_quiet, error = outcomes
    assert ok.ok and ok.rows == [{"model": "m", "total": 10}]
    assert not missing.ok and missing.problem == "the answer has no column 'ts'"
    assert not empty.ok and empty.problem == "no rows"
    assert alert_quiet.ok  # an alert that does not fire is fine
    assert not error.ok and "nope" in error.problem


def test_shipped_project_passes_locally() -> None:
    result = CliRunner().invoke(cli.app, ["--project", str(REPO), "check", "--minutes", "30"])
    assert result.exit_code == 0, result.output
    assert "queries passed" in result.output and "FAIL" not in result.output
