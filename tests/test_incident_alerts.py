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
