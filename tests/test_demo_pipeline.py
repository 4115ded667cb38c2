"""Issue 12 "done when": the seeded Bedrock traffic goes through the shipped ingest pipeline on
the fake OpenObserve (functions and pipelines applied by o2kit, run by the fake's Firehose path
with the VRL runtime) and every panel that is not a time series reads the same numbers as
without the pipeline — and the metric rows are on time (the datapoint's minute, not the
arrival)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vrl_python")
pytest.importorskip("datafusion")

from o2kit.aws import seed as seeding  # noqa: E402
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults  # noqa: E402
from o2kit.project.config import server_settings  # noqa: E402
from o2kit.project.loader import load_project  # noqa: E402
from o2kit.query import check  # noqa: E402
from o2kit.query.engine import QueryEngine  # noqa: E402
from o2kit.sync.client import OpenObserveClient  # noqa: E402
from o2kit.sync.plan import build_plan  # noqa: E402
from o2kit.sync.remote import apply_plan, fetch_live  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOW_MS = 1_764_331_200_000 + 37_000  # fixed: both runs see the same traffic
MINUTES = 20


def _run(pipeline: bool) -> tuple[list[Any], FakeOpenObserve]:
    project = load_project(REPO, overrides={"ingest": {"pipeline": pipeline}})
    config = project.config.config
    desired = [r for r in project.resources
               if r.kind not in ("destination",)]  # ${env:} URLs are not needed here
    desired = [r for r in desired if not (r.kind == "alert" and r.body.get("destinations"))]
    fake = FakeOpenObserve(seed=3, clock=lambda: NOW_MS / 1000 + 5,
                           query_engine_factory=QueryEngine)
    settings = server_settings(env={"OPENOBSERVE_URL": "http://o2.test",
                                    "OPENOBSERVE_USER": DEFAULT_USER,
                                    "OPENOBSERVE_PASSWORD": DEFAULT_PASSWORD},
                               config_org=config.org)
    with OpenObserveClient(settings, transport=fake.transport(Faults())) as client:
        ingest = [r for r in desired if r.kind in ("function", "pipeline")]
        assert bool([r for r in ingest if r.kind == "pipeline"]) == pipeline
        result = apply_plan(client, build_plan(ingest, fetch_live(client, desired=ingest)
                                               .resources, project=config.project))
        assert result.ok, [o.message for o in result.outcomes]
        options = seeding.SeedOptions(minutes=MINUTES, seed=4, throttle_burst=True,
                                      metrics_layout=config.streams.metrics_layout,
                                      percentiles=tuple(config.streams.metric_percentiles))
        traffic, logs, metrics = seeding.build_traffic(options, end_ms=NOW_MS)
        sent = seeding.send_traffic(client, traffic, logs, metrics,
                                    logs_stream=config.streams.invocation_logs,
                                    metrics_stream=config.streams.metrics,
                                    access_key=seeding.firehose_access_key(DEFAULT_USER,
                                                                           DEFAULT_PASSWORD))
        assert sent.failed_requests == 0
        queries = [q for q in check.queries(desired) if q.label.startswith("dashboard")]
        outcomes = check.run(queries, check.search_runner(client, resource="test"),
                             start_us=traffic.start_ms * 1000,
                             end_us=NOW_MS * 1000 + 10 * 60 * 1_000_000)
    return outcomes, fake


def _rounded(rows: list[dict[str, Any]]) -> list[tuple[tuple[str, Any], ...]]:
    def value(v: Any) -> Any:
        return round(float(v), 6) if isinstance(v, int | float) and not isinstance(v, bool) else v

    return sorted(tuple(sorted((k, value(v)) for k, v in r.items())) for r in rows)


def test_the_pipeline_gives_the_same_panel_numbers_and_puts_metrics_on_time() -> None:
    on_list, fake_on = _run(True)
    off_list, fake_off = _run(False)
    # The same panels in the same order (a title may name the variant: "Converse only").
    assert len(on_list) == len(off_list)
    assert all(o.ok for o in on_list), [(o.query.label, o.problem) for o in on_list if not o.ok]
    compared = 0
    for piped, outcome in zip(on_list, off_list, strict=True):
        label = outcome.query.label
        assert piped.query.aliases == outcome.query.aliases, label
        if {"ts", "x_axis_1", "minute"} & set(outcome.query.aliases) or "freshness" in label \
                or "over time" in label or "per interval" in label:
            continue  # time series: the pipeline moves metric rows to their own minute
        if "per-request" in label:
            # The pipeline's latency_ms covers ConverseStream too (the raw JSON variant reads
            # Converse only; tests/test_pipeline_ground_truth.py checks both against the
            # generator): more samples, never fewer.
            raw = {r["model_id"]: r for r in outcome.rows if "samples" in r}
            for row in piped.rows:
                if row.get("model_id") in raw and "samples" in row:
                    assert row["samples"] >= raw[row["model_id"]]["samples"], label
            continue
        assert _rounded(piped.rows) == _rounded(outcome.rows), label
        compared += 1
    assert compared >= 15
    # On time: with the pipeline a metric row's _timestamp is its datapoint minute; without, it
    # is the arrival time (the fake's clock).
    def stamps(fake: FakeOpenObserve) -> set[int]:
        (stream,) = [s for (org, t, name), s in fake._store.streams.items()
                     if name == "bedrock_metrics"]
        return {r["_timestamp"] for r in stream.rows}

    arrival = int((NOW_MS / 1000 + 5) * 1_000_000)
    assert stamps(fake_off) == {arrival}
    piped = stamps(fake_on)
    assert len(piped) >= MINUTES - 1 and max(piped) < arrival
    assert all(t % 60_000_000 == 0 for t in piped)
