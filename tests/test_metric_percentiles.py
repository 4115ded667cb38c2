"""CloudWatch percentiles in the metric stream (streams.metric_percentiles), end to end, against
ground truth computed here from the generator's per-request calls (never from a panel's SQL):

* the generator's per-minute p50/p90/p99 are numpy's / ``statistics``' percentiles of that
  minute's latencies;
* OpenObserve's Firehose decoding (the fake, from the source) keeps them as ``value_pNN`` in the
  flattened layout and drops them in the special layout;
* the dashboard's percentile and OTPS panels, run on the local engine over those rows, return the
  per-minute values (1-minute buckets), their count-weighted mean (whole range) and AWS's OTPS.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy
import pytest
import yaml

pytest.importorskip("datafusion")

from test_render_golden import shipped_project, with_metrics_layout  # noqa: E402

from o2kit.aws import synth  # noqa: E402
from o2kit.project.loader import load_project  # noqa: E402
from o2kit.query import check

NOW_MS = 1_800_000_000_000 + 41_000
MINUTES = 30
SEED = 5
PCTS = (50.0, 90.0, 99.0)


def _per_minute_truth(traffic: synth.Traffic, metric: str) -> dict[tuple[int, str], list[float]]:
    """Per (minute, model): the per-request values CloudWatch would aggregate, from the calls."""
    values: dict[tuple[int, str], list[float]] = defaultdict(list)
    for call in traffic.invocations:
        if call.outcome != "success" or call.latency_ms is None:
            continue
        if metric == "InvocationLatency":
            values[(call.minute, call.model_id)].append(float(call.latency_ms))
        elif call.operation in synth.STREAMING_OPERATIONS:
            # the generator's model of TTFT: a fixed share of the call's latency
            values[(call.minute, call.model_id)].append(
                float(round(call.latency_ms * synth.FIRST_TOKEN_SHARE)))
    return values


def _points(traffic: synth.Traffic, metric: str) -> dict[tuple[int, str], dict[str, Any]]:
    return {((p["timestamp"] - traffic.start_ms) // 60_000, p["dimensions"]["ModelId"]): p
            for p in traffic.datapoints
            if p["metric_name"] == metric and p["namespace"] == "AWS/Bedrock"}


@pytest.mark.parametrize("metric", ["InvocationLatency", "TimeToFirstToken"])
def test_generator_percentiles_are_those_of_the_minutes_calls(metric: str) -> None:
    scenario = synth.Scenario(minutes=MINUTES, percentiles=("p50", "p90", "p99", "p99.9"))
    traffic = synth.generate(scenario, end_ms=NOW_MS, seed=SEED)
    truth = _per_minute_truth(traffic, metric)
    points = _points(traffic, metric)
    assert points.keys() == truth.keys() and len(points) > MINUTES
    for key, values in truth.items():
        value = points[key]["value"]
        assert value["count"] == len(values)
        for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)):
            assert value[name] == pytest.approx(float(numpy.percentile(values, q))), (key, name)
        if len(values) >= 2:  # statistics.quantiles needs two values
            cuts = statistics.quantiles(values, n=100, method="inclusive")
            assert value["p50"] == pytest.approx(cuts[49])
            assert value["p99"] == pytest.approx(cuts[98])
    # other metrics carry no extra statistics
    others = [p for p in traffic.datapoints if p["metric_name"] == "Invocations"]
    assert others and all(set(p["value"]) == {"count", "sum", "max", "min"} for p in others)


def test_no_percentiles_leave_the_traffic_unchanged() -> None:
    with_pcts = synth.generate(synth.Scenario(minutes=10), end_ms=NOW_MS, seed=SEED)
    without = synth.generate(synth.Scenario(minutes=10, percentiles=()), end_ms=NOW_MS,
                             seed=SEED)
    assert [i.request_id for i in with_pcts.invocations] == [
        i.request_id for i in without.invocations]
    strip = [{**p, "value": {k: v for k, v in p["value"].items() if not k.startswith("p")}}
             for p in with_pcts.datapoints]
    assert strip == without.datapoints


# --- what OpenObserve stores -------------------------------------------------------------------


def _project(tmp_path: Path, layout: str, interval: str = "5 minute",
             percentiles: list[str] | None = None) -> Any:
    root = with_metrics_layout(shipped_project(tmp_path / "p"), layout)
    if percentiles is not None:
        config = root / "o2kit.yaml"
        text = "".join(line for line in config.read_text(encoding="utf-8").splitlines(True)
                       if not line.lstrip().startswith("metric_percentiles:"))
        config.write_text(text.replace("streams:\n", "streams:\n  metric_percentiles: "
                                       + yaml.safe_dump(percentiles, default_flow_style=True),
                                       1), encoding="utf-8")
    dashboard = root / "dashboards/bedrock.yaml"
    doc = yaml.safe_load(dashboard.read_text(encoding="utf-8"))
    doc["params"]["interval"] = interval
    dashboard.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return load_project(root)


def test_flattened_rows_keep_the_percentiles_special_rows_drop_them(tmp_path: Path) -> None:
    for layout in ("flattened", "special"):
        project = _project(tmp_path / layout, layout, percentiles=["p50", "p99.9"])
        config = project.config.config
        rows, traffic = check.synthetic_rows(config, now_ms=NOW_MS, minutes=10, seed=SEED)
        latency = [r for r in rows[config.streams.metrics]
                   if r["metric_name"] == "InvocationLatency" and r["namespace"] == "AWS/Bedrock"]
        assert len(latency) == len(_points(traffic, "InvocationLatency"))
        if layout == "flattened":
            # format_key (src/config/src/utils/flatten.rs): "p99.9" -> "p99_9"
            assert all({"value_p50", "value_p99_9"} <= set(r) for r in latency)
            assert not any("value_p90" in r for r in latency)
        else:
            # KinesisFHMetricValue (src/ingestion_common/src/lib.rs) has count/sum/max/min only
            assert all(not any("p50" in k or "p99" in k for k in r) for r in latency)
            assert {"count", "sum", "max", "min"} <= set(latency[0])


# --- the panels --------------------------------------------------------------------------------

TITLE = "{what} p50 / p90 / p99 {shape} — metric stream ({apis}), per-minute CloudWatch percentiles"


@pytest.fixture(scope="module")
def minute_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = _project(tmp_path_factory.mktemp("m"), "flattened", interval="1 minute")
    rows, traffic = check.synthetic_rows(project.config.config, now_ms=NOW_MS, minutes=MINUTES,
                                         seed=SEED)
    runner = check.local_runner(rows)
    panels = {q.label.split(" › ")[-1]: q for q in check.queries(project.resources)}

    def run(title: str) -> list[dict[str, Any]]:
        return runner(panels[title].sql, traffic.start_ms * 1000, NOW_MS * 1000 + 1)

    return {"traffic": traffic, "run": run, "titles": set(panels)}


@pytest.mark.parametrize("metric, what, apis", [
    ("InvocationLatency", "Latency", "all APIs"),
    ("TimeToFirstToken", "Time to first token", "streaming APIs"),
])
def test_percentile_panels_against_the_calls(minute_world: dict[str, Any], metric: str,
                                             what: str, apis: str) -> None:
    traffic = minute_world["traffic"]
    truth = _per_minute_truth(traffic, metric)
    # line, 1-minute buckets: a minute's datapoints arrive in one Firehose delivery a minute
    # after it ends (flattened layout: _timestamp = arrival), so each bucket holds one minute and
    # its point is numpy's percentile of that minute's calls. The last minute has not arrived by
    # NOW_MS yet (check.synthetic_rows stamps it NOW_MS), so the last bucket holds the last two
    # minutes, combined by request count.
    line = minute_world["run"](TITLE.format(what=what, shape="over time", apis=apis))
    got: dict[str, list[float]] = defaultdict(list)
    for hit in line:
        got[hit["model_id"]].append(hit["p99_ms"])
    last = MINUTES - 2
    for model in {m for _, m in truth}:
        mine = sorted((minute, v) for (minute, m), v in truth.items() if m == model)
        expected = [float(numpy.percentile(v, 99)) for minute, v in mine if minute < last]
        tail = [v for minute, v in mine if minute >= last]
        if tail:
            expected.append(sum(len(v) * float(numpy.percentile(v, 99)) for v in tail)
                            / sum(len(v) for v in tail))
        assert got[model] == pytest.approx(expected), model
    # table: over the whole range, the per-minute values weighted by the minute's calls, and the
    # worst minute
    table = {r["model_id"]: r for r in
             minute_world["run"](TITLE.format(what=what, shape="per model", apis=apis))}
    assert table.keys() == {m for _, m in truth}
    for model, row in table.items():
        minutes = [v for (_, m), v in truth.items() if m == model]
        weight = sum(len(v) for v in minutes)
        assert row["samples"] == weight
        for q, column in zip(PCTS, ("p50_ms", "p90_ms", "p99_ms"), strict=True):
            expected = sum(len(v) * float(numpy.percentile(v, q)) for v in minutes) / weight
            assert row[column] == pytest.approx(expected), (model, column)
        assert row["p99_worst_minute_ms"] == pytest.approx(
            max(float(numpy.percentile(v, 99)) for v in minutes))


def test_otps_is_aws_formula_over_the_calls(minute_world: dict[str, Any]) -> None:
    traffic = minute_world["traffic"]
    rows = {r["model_id"]: r for r in minute_world["run"](
        "Output tokens per second and latency per output token — metric stream")}
    for model, row in rows.items():
        ok = [c for c in traffic.invocations if c.model_id == model and c.outcome == "success"]
        streamed = [c for c in ok if c.operation in synth.STREAMING_OPERATIONS]
        mean_out = statistics.fmean(c.output_tokens for c in ok)
        mean_latency = statistics.fmean(c.latency_ms or 0 for c in ok)
        assert row["ms_per_output_token"] == pytest.approx(mean_latency / mean_out)
        if not streamed:
            assert "otps" not in row  # no TimeToFirstToken: AWS's formula has no value
            continue
        mean_ttft = statistics.fmean(round((c.latency_ms or 0) * synth.FIRST_TOKEN_SHARE)
                                     for c in streamed)
        assert row["otps"] == pytest.approx(mean_out / ((mean_latency - mean_ttft) / 1000))
    assert any("otps" in r for r in rows.values()) and any("otps" not in r for r in rows.values())


def test_special_layout_and_no_percentiles_render_a_notice(tmp_path: Path) -> None:
    for layout, pcts, says in (("special", None, "special"), ("flattened", [], "is empty")):
        project = _project(tmp_path / layout, layout, percentiles=pcts)
        body = next(r.body for r in project.resources if r.kind == "dashboard")
        latency = next(t for t in body["tabs"] if t["tabId"] == "latency")
        titles = [p["title"] for p in latency["panels"]]
        assert not any("per-minute CloudWatch percentiles" in t for t in titles)
        (note,) = [p for p in latency["panels"] if p["type"] == "markdown"]
        assert says in note["markdownContent"]
        # the OTPS panels need no percentiles: they stay
        assert "Output tokens per second over time — metric stream" in titles


def test_a_bad_percentile_names_file_line_and_field(tmp_path: Path) -> None:
    from o2kit.errors import ValidationFailed
    from o2kit.project.config import load_config

    (tmp_path / "o2kit.yaml").write_text(
        "org: default\nstreams:\n  metric_percentiles: [p50, p99, tm90]\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_config(tmp_path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("o2kit.yaml", 3)
    assert "metric_percentiles" in problem.field and "tm90" in problem.message
