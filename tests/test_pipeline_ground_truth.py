"""Ground truth for the shipped ingest pipeline (issue 12 item 3): the same synthetic Bedrock
traffic stored raw and stored through the shipped functions gives the same numbers in every
panel and alert of the shipped project — and on time.

Raw path: synth → Firehose bodies → OpenObserve's decoding (o2kit.fake.firehose) → rows.
Pipeline path: the same bodies decoded *without* flattening, each event through the shipped VRL
(o2kit.validate.vrl, the vrl-python runtime), then flattened by the destination node
(o2kit.query.check.pipeline_rows). The dashboard and alerts are rendered twice, with
`ingest.pipeline` off and on, so each variant reads its own columns (templates/lib/bedrock.j2).

What may differ, and is checked against the generator's truth instead:
* metric rows are stamped with the datapoint's minute instead of the Firehose arrival time, so a
  metric time series moves to the right bucket: the pipeline's answers equal the raw answers
  over raw rows re-stamped with their own `timestamp` column (and the per-bucket invocation
  counts equal the calls per bucket);
* per-request latency: the pipeline reads ConverseStream calls too (their latency is in the
  stream's metadata event, which SQL cannot reach in the raw text).
"""

from __future__ import annotations

import math
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from shipped_project import copy_shipped_project

from o2kit.aws import synth
from o2kit.project.loader import load_project
from o2kit.query import check, functiontest

pytest.importorskip("vrl_python")

REPO = Path(__file__).resolve().parents[1]
NOW_MS = 1_800_000_000_000 + 37_123  # not minute-aligned on purpose
PER_REQUEST = "per-request"


def _project(root: Path, extra: str) -> Any:
    copy_shipped_project(root)
    shutil.copytree(REPO / "functions", root / "functions")
    if (REPO / "slos").is_dir() and not (root / "slos").is_dir():  # the SLOs' SQL SLIs are
        shutil.copytree(REPO / "slos", root / "slos")              # checked like the panels
    config = root / "o2kit.yaml"
    config.write_text(config.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return load_project(root)


def _restamped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Raw flattened metric rows with `_timestamp` = their datapoint time (`timestamp`, ms)."""
    return [{**r, "_timestamp": r["timestamp"] * 1000} if "timestamp" in r else r for r in rows]


def _norm(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    def value(x: Any) -> Any:
        if isinstance(x, float):
            return float(f"{x:.9g}") if math.isfinite(x) else repr(x)
        return x
    return sorted((tuple(sorted((k, value(v)) for k, v in r.items())) for r in rows), key=repr)


def _clock_free(rows: list[tuple[Any, ...]]) -> list[Any]:
    """``_norm`` rows flattened to a list of values, so ``pytest.approx`` can compare them."""
    return [value for row in rows for pair in row for value in pair]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("pipeline")
    raw = _project(base / "raw", "")
    typed = _project(base / "typed", "\ningest:\n  pipeline: true\n")
    special = _project(base / "special", "\ningest:\n  pipeline: true\n")
    scenario = synth.Scenario(minutes=60, requests_per_minute=60, firehose_metrics=True,
                              log_delivery_metrics=True, **synth.feature_settings())
    raw_config, typed_config = raw.config.config, typed.config.config
    assert (raw_config.ingest.pipeline, typed_config.ingest.pipeline) == (False, True)
    raw_rows, traffic = check.synthetic_rows(raw_config, now_ms=NOW_MS, seed=11,
                                             scenario=scenario)
    functions = functiontest.pipeline_functions(REPO, typed_config)
    typed_rows, _ = check.synthetic_rows(typed_config, now_ms=NOW_MS, seed=11, scenario=scenario,
                                         functions=functions)
    restamped = dict(raw_rows)
    restamped[raw_config.streams.metrics] = _restamped(raw_rows[raw_config.streams.metrics])
    special_config = special.config.config.model_copy(update={
        "streams": special.config.config.streams.model_copy(update={"metrics_layout": "special"})})
    special_rows, _ = check.synthetic_rows(special_config, now_ms=NOW_MS, seed=11,
                                           scenario=scenario, functions=functions)
    return {
        "traffic": traffic, "raw": raw, "typed": typed,
        "raw_run": check.local_runner(raw_rows), "typed_run": check.local_runner(typed_rows),
        "restamped_run": check.local_runner(restamped),
        "special_run": check.local_runner(special_rows),
        "typed_rows": typed_rows, "raw_rows": raw_rows,
    }


# The latency SLO is two queries on raw rows (the latency sits in JSON text) and one predicate
# on typed rows, counting ConverseStream too: test_latency_slo_… checks it on its own.
LATENCY_SLO = 'slo "bedrock_latency"'


def _queries(project: Any) -> dict[str, check.Query]:
    # The per-request panels name what they count: Converse only on raw rows.
    return {q.label.replace("(Converse, ConverseStream)", "(Converse only)"): q
            for q in check.queries(project.resources) if not q.label.startswith(LATENCY_SLO)}


def _latency_slo(project: Any) -> dict[str, check.Query]:
    return {q.label.split(" › ")[-1]: q for q in check.queries(project.resources)
            if q.label.startswith(LATENCY_SLO)}


def _window(world: dict[str, Any]) -> tuple[int, int]:
    return world["traffic"].start_ms * 1000, NOW_MS * 1000 + 1


def test_every_panel_and_alert_gives_the_same_numbers_through_the_pipeline(
        world: dict[str, Any]) -> None:
    raw, typed = _queries(world["raw"]), _queries(world["typed"])
    assert raw.keys() == typed.keys() and len(raw) > 40
    start, end = _window(world)
    compared = 0
    for label, query in raw.items():
        if PER_REQUEST in label:
            continue  # ConverseStream counted too: test_per_request_latency_…
        typed_sql = typed[label].sql
        assert "message_" not in typed_sql, label  # the pipeline variant reads typed columns
        expected = world["restamped_run"](query.sql, start, end)
        actual = world["typed_run"](typed_sql, start, end)
        assert _norm(actual) == _norm(expected), label
        compared += 1
    assert compared > 40


def test_metric_series_are_on_time_through_the_pipeline(world: dict[str, Any]) -> None:
    """Invocations per model per 5-minute bucket equal the calls whose minute falls in it (the
    raw rows lag by the Firehose delivery and do not)."""
    traffic = world["traffic"]
    label = next(label for label in _queries(world["typed"])
                 if label.endswith("Overview › Invocations per model"))
    start, end = _window(world)
    bucket_us = 5 * 60 * 1_000_000
    truth: dict[tuple[int, str], int] = {}
    for call in traffic.invocations:
        if call.outcome == "throttled":
            continue
        minute_us = (traffic.start_ms + call.minute * 60_000) * 1000
        key = (minute_us - minute_us % bucket_us, call.model_id)
        truth[key] = truth.get(key, 0) + 1

    def series(run: Any, sql: str) -> dict[tuple[int, str], float]:
        out = {}
        for row in run(sql, start, end):
            ts = datetime.fromisoformat(row["ts"]).replace(tzinfo=UTC)  # the search API's text
            micros = int(ts.timestamp()) * 1_000_000
            out[(micros, row["model_id"])] = row["invocations"]
        return out

    typed = series(world["typed_run"], _queries(world["typed"])[label].sql)
    raw = series(world["raw_run"], _queries(world["raw"])[label].sql)
    assert typed == pytest.approx(truth)
    assert raw != pytest.approx(truth)  # the raw rows sit at their arrival time
    assert sum(raw.values()) == sum(truth.values())


def _exact_percentile(values: list[int], p: float) -> float:
    ordered = sorted(values)
    rank = p * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def test_per_request_latency_counts_converse_stream_through_the_pipeline(
        world: dict[str, Any]) -> None:
    traffic = world["traffic"]
    label = next(label for label in _queries(world["typed"])
                 if "Latency p50 / p90 / p99 per model — per-request" in label)
    start, end = _window(world)
    for run, project, operations in (
            (world["raw_run"], world["raw"], {"Converse"}),
            (world["typed_run"], world["typed"], {"Converse", "ConverseStream"})):
        rows = {r["model_id"]: r for r in run(_queries(project)[label].sql, start, end)}
        expected: dict[str, list[int]] = {}
        for call in traffic.invocations:
            if call.latency_ms is not None and call.operation in operations:
                expected.setdefault(call.model_id, []).append(call.latency_ms)
        assert set(rows) == set(expected)
        for model, samples in expected.items():
            assert rows[model]["samples"] == len(samples)
            # t-digest: close to the exact p50 on a few hundred samples
            assert rows[model]["p50_ms"] == pytest.approx(_exact_percentile(samples, 0.5),
                                                          rel=0.05)
    stream_calls = [c for c in traffic.invocations
                    if c.operation == "ConverseStream" and c.latency_ms is not None]
    assert stream_calls  # the scenario has some, so the two variants really differ


def test_one_metric_layout_through_the_pipeline(world: dict[str, Any]) -> None:
    """The special server layout through the pipeline has the same columns, times and numbers as
    the flattened one (its percentiles are lost before any pipeline, so those panels are left
    out)."""
    special = world["special_run"]
    start, end = _window(world)
    for label, query in _queries(world["typed"]).items():
        if "percentile" in label.lower() or PER_REQUEST in label:
            continue
        got = _norm(special(query.sql, start, end))
        want = _norm(world["typed_run"](query.sql, start, end))
        if "now()" in query.sql:
            # Measured against the clock: the two runs are a moment apart, so a time since the
            # last row (in minutes) may differ by that moment (it did, by one second: -55714.2667
            # against -55714.25, in a CI run). Half a minute allows it; counts compare exactly.
            got, want = _clock_free(got), _clock_free(want)
            assert got == pytest.approx(want, abs=0.5), label
        else:
            assert got == want, label


def test_typed_rows_have_the_documented_columns(world: dict[str, Any]) -> None:
    from o2kit.project import columns

    typed = world["typed"].config.config
    catalogue = columns.catalogue(typed)
    for stream, rows in world["typed_rows"].items():
        known = catalogue[stream]
        seen = {k for r in rows for k in r}
        assert seen and all(known.documents(c) for c in seen), sorted(
            c for c in seen if not known.documents(c))
    logs = world["typed_rows"][typed.streams.invocation_logs]
    converse = next(r for r in logs if r.get("operation") == "Converse" and "latency_ms" in r)
    assert isinstance(converse["latency_ms"], int) and isinstance(converse["input_tokens"], int)
    assert "request_metadata_team" in {k for r in logs for k in r}


def test_latency_slo_counts_the_same_calls_as_the_generator(world: dict[str, Any]) -> None:
    """Good and total calls of the latency SLO over the whole range: raw rows (Converse only,
    two queries) and typed rows (Converse and ConverseStream, one predicate) against the calls."""
    raw, typed = _latency_slo(world["raw"]), _latency_slo(world["typed"])
    if not raw:
        pytest.skip("no latency SLO in this project")
    start, end = _window(world)
    limit = 10_000
    for operations, good, total in (
            ({"Converse"},
             sum(r["zo_slo_value"] for r in world["raw_run"](raw["good"].sql, start, end)),
             sum(r["zo_slo_value"] for r in world["raw_run"](raw["total"].sql, start, end))),
            ({"Converse", "ConverseStream"},
             sum(r["zo_slo_good"] for r in world["typed_run"](typed["count"].sql, start, end)),
             sum(r["zo_slo_value"] for r in world["typed_run"](typed["count"].sql, start, end)))):
        calls = [c for c in world["traffic"].invocations
                 if c.latency_ms is not None and c.operation in operations]
        assert total == len(calls) > 0
        assert good == sum(c.latency_ms < limit for c in calls)
