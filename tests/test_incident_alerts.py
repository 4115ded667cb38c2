"""Item 7 of issue 13: the demo's synthetic traffic fires every shipped alert. The scenario of
`o2kit demo` (seed.scenario_for with the closing incident) is stored as OpenObserve would store it
(each Firehose record stamped at its arrival), and every alert of the shipped project is
evaluated with OpenObserve's scheduler semantics twice: at the end of the incident (each fires)
and at its start, after the quiet minutes (none fires). SLO burn-rate alerts are left out: the
server evaluates them, o2kit's evaluator runs sql and custom alerts only (it says so)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("datafusion")

from test_render_golden import REPO, shipped_project, with_metrics_layout  # noqa: E402

from o2kit.aws import seed as seeding  # noqa: E402
from o2kit.project.loader import load_project  # noqa: E402
from o2kit.query import check  # noqa: E402
from o2kit.query.alerttest import QueryRunner, UnsupportedAlert, evaluate  # noqa: E402

# Mid-month, so the month-to-date budgets have a period to project (the forecast alerts wait for
# 5 % of the month).
NOW = dt.datetime(2026, 11, 20, 12, 0, 30, tzinfo=dt.UTC)
MINUTES = 60


@pytest.mark.parametrize("layout", ["flattened", "special"])
def test_every_shipped_alert_fires_in_the_incident_and_none_before(tmp_path: Path,
                                                                   layout: str) -> None:
    root = with_metrics_layout(shipped_project(tmp_path / "p"), layout)
    if (REPO / "slos").is_dir():
        shutil.copytree(REPO / "slos", root / "slos")
    project = load_project(root)
    config = project.config.config
    now_ms = int(NOW.timestamp() * 1000)
    options = seeding.SeedOptions(minutes=MINUTES, seed=1, incident=True, metrics_layout=layout,
                                  percentiles=tuple(config.streams.metric_percentiles))
    scenario = seeding.scenario_for(options)
    rows, traffic = check.synthetic_rows(config, now_ms=now_ms, seed=1, scenario=scenario)
    runner = QueryRunner(rows)
    alerts = [r for r in project.resources if r.kind == "alert"
              and r.body["query_condition"].get("type") != "slo"]
    assert len(alerts) >= 14
    for slo_alert in [r for r in project.resources if r not in alerts and r.kind == "alert"]:
        with pytest.raises(UnsupportedAlert):
            evaluate({**slo_alert.body, "enabled": True}, QueryRunner({}), 0)

    def fired(at_us: int) -> dict[str, Any]:
        out = {}
        for alert in alerts:
            ev = evaluate({**alert.body, "enabled": True}, runner, at_us)
            out[alert.key[1]] = ev.fires
        return out

    end_us = traffic.end_ms * 1000
    quiet_end_us = (traffic.start_ms + seeding.incident_start(MINUTES) * 60_000) * 1000
    at_end = fired(end_us)
    assert all(at_end.values()), sorted(n for n, f in at_end.items() if not f)
    before = fired(quiet_end_us)
    assert not any(before.values()), sorted(n for n, f in before.items() if f)


def test_the_incident_burns_the_availability_slo_before_the_log_outage(tmp_path: Path) -> None:
    """The SLO burn-rate alerts are the server's to evaluate; this checks their condition as the
    rendered alert states it — error rate ÷ (1 − target) at or over `critical` in both the long
    and the short window — for the availability SLO, with the SLO's own scope and good
    predicates on the local engine, and the same counts from the generator's logged calls."""
    if not (REPO / "slos").is_dir():
        pytest.skip("no shipped SLOs")
    root = shipped_project(tmp_path / "p")
    shutil.copytree(REPO / "slos", root / "slos")
    project = load_project(root)
    config = project.config.config
    slo = next(r.body for r in project.resources
               if r.kind == "slo" and r.key == ("bedrock_availability",))
    fast = next(r.body for r in project.resources
                if r.kind == "alert" and r.key[1] == "bedrock_availability_fast_burn")
    cond = fast["query_condition"]["slo_condition"]
    query = slo["config"]["source"]["query"]
    now_ms = int(NOW.timestamp() * 1000)
    options = seeding.SeedOptions(minutes=MINUTES, seed=1, incident=True,
                                  percentiles=tuple(config.streams.metric_percentiles))
    rows, traffic = check.synthetic_rows(config, now_ms=now_ms, seed=1,
                                         scenario=seeding.scenario_for(options))
    runner = QueryRunner(rows)
    sql = (f"SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE {query['good_expr']}) AS good "
           f"FROM \"{query['stream']}\" WHERE {query['scope']}")

    def burn(end_ms: int, seconds: int) -> float:
        (hit,) = runner.query(sql, (end_ms - seconds * 1000) * 1000, end_ms * 1000)
        logged = [c.record for c in traffic.invocations if c.record is not None
                  and end_ms - seconds * 1000 <= c.time_ms < end_ms
                  and not traffic.scenario.lost("logs", c.minute)]
        assert hit["total"] == len(logged) > 0
        assert hit["good"] == sum("errorCode" not in r for r in logged)
        return (1 - hit["good"] / hit["total"]) / (1 - slo["target"] / 100)

    def fires(end_ms: int) -> bool:
        return (burn(end_ms, cond["long_window_secs"]) >= cond["critical"]
                and burn(end_ms, cond["short_window_secs"]) >= cond["critical"])

    outage_ms = traffic.end_ms - seeding.LOG_OUTAGE_MINUTES * 60_000
    quiet_ms = traffic.start_ms + seeding.incident_start(MINUTES) * 60_000
    assert fires(outage_ms)  # the last logged minutes of the incident
    assert not fires(quiet_ms)
