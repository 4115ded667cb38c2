"""Benchmark: what the shipped ingest pipeline buys and costs (issue 12).

1. The per-request latency panels (p50/p90/p99 per model, and over time) on ~1,000,000
   invocation-log rows in the local engine, raw rows (the latency parsed out of the response
   body's JSON text per row) against the pipeline's typed rows (an integer column), and the ratio.
2. The VRL cost per event through the runtime o2kit uses (vrl-python), for each shipped
   function: events/s of the function alone, and of the whole Firehose path with and without the
   pipeline (decode, [VRL,] flatten, timestamp).

Rows are made the way OpenObserve stores them (synthetic traffic → Firehose bodies → decoding,
with or without the functions), then copied with shifted times until the stream holds --rows.

    .venv/bin/python bench/bench_pipeline.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path
from typing import Any

from o2kit.aws import synth
from o2kit.fake.firehose import decode_firehose_body, decode_record, parse_request
from o2kit.project.config import Config
from o2kit.project.loader import load_project
from o2kit.query import check, functiontest
from o2kit.query.engine import QueryEngine
from o2kit.validate import vrl

REPO = Path(__file__).resolve().parents[1]
NOW_MS = 1_800_000_000_000
PANELS = ("Latency p50 / p90 / p99 per model — per-request",
          "Latency p50 / p90 / p99 over time — per-request",
          "Latency per output token — per-request")


def grow(rows: list[dict[str, Any]], target: int, span_us: int) -> list[dict[str, Any]]:
    """Copies of ``rows`` shifted back by whole spans until there are ``target`` rows."""
    out: list[dict[str, Any]] = []
    copy = 0
    while len(out) < target:
        shift = copy * span_us
        for row in rows:
            if len(out) == target:
                break
            new = dict(row)
            new["_timestamp"] = row["_timestamp"] - shift
            out.append(new)
        copy += 1
    return out


def panel_times(config: Config, project: Any, rows: list[dict[str, Any]], span_us: int,
                target: int, repeat: int) -> dict[str, tuple[float, int]]:
    stream = config.streams.invocation_logs
    grown = grow(rows, target, span_us)
    engine = QueryEngine()
    engine.register_rows(stream, grown)
    copies = target // max(1, len(rows))
    start_us, end_us = NOW_MS * 1000 - (copies + 1) * span_us, NOW_MS * 1000 + 1
    out: dict[str, tuple[float, int]] = {}
    for q in check.queries(project.resources):
        title = q.label.split(" › ")[-1]
        if not title.startswith(PANELS):
            continue
        names = check.variable_names(q.sql)
        times, n = [], 0
        for _ in range(repeat):
            t = time.perf_counter()
            result = engine.query(q.sql, start_time=start_us, end_time=end_us,
                                  variables={name: [] for name in names})
            times.append(time.perf_counter() - t)
            n = len(result)
        out[title] = (statistics.median(times), n)
    del engine, grown
    gc.collect()
    return out


def vrl_rates(bodies: list[bytes], source: str) -> tuple[int, float, float, float]:
    """(events, VRL-only events/s, raw path events/s, pipeline path events/s)."""
    events = []
    for body in bodies:
        request = parse_request(body)
        for data in request.records:
            events.extend(decode_record(data, request.request_id))
    vrl.execute_vrl(source, events[0])  # compile once, as the server does per function
    t = time.perf_counter()
    for event in events:
        vrl.execute_vrl(source, event)
    only = time.perf_counter() - t
    now_us = NOW_MS * 1000
    t = time.perf_counter()
    for body in bodies:
        decode_firehose_body(body, now_us=now_us)
    raw = time.perf_counter() - t
    t = time.perf_counter()
    for body in bodies:
        check.pipeline_rows(body, source, now_us=now_us)
    piped = time.perf_counter() - t
    return len(events), len(events) / only, len(events) / raw, len(events) / piped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not vrl.available():
        raise SystemExit("needs vrl-python: pip install 'o2kit[vrl]'")

    raw_project = load_project(REPO)
    raw_config = raw_project.config.config
    typed_config = raw_config.model_copy(update={
        "ingest": raw_config.ingest.model_copy(update={"pipeline": True})})
    # The same project rendered with the pipeline on: load a copy whose o2kit.yaml says so.
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "p"
        shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", ".o2kit", "tests", "bench", "docs", "src"))
        (root / "o2kit.yaml").write_text((root / "o2kit.yaml").read_text(encoding="utf-8")
                                         + "\ningest:\n  pipeline: true\n", encoding="utf-8")
        typed_project = load_project(root)
    assert typed_project.config.config.ingest.pipeline
    functions = functiontest.pipeline_functions(REPO, typed_config)

    scenario = synth.Scenario(minutes=120, requests_per_minute=200)
    t = time.perf_counter()
    raw_rows, traffic = check.synthetic_rows(raw_config, now_ms=NOW_MS, seed=3,
                                             scenario=scenario)
    typed_rows, _ = check.synthetic_rows(typed_config, now_ms=NOW_MS, seed=3, scenario=scenario,
                                         functions=functions)
    span_us = (NOW_MS - traffic.start_ms) * 1000
    logs = raw_config.streams.invocation_logs
    print(f"base: {len(raw_rows[logs]):,} invocation-log rows per copy, data made in "
          f"{time.perf_counter() - t:.1f} s; target {args.rows:,} rows; median of "
          f"{args.repeat}")

    raw_times = panel_times(raw_config, raw_project, raw_rows[logs], span_us, args.rows,
                            args.repeat)
    typed_times = panel_times(typed_config, typed_project, typed_rows[logs], span_us, args.rows,
                              args.repeat)
    print(f"\n{'panel (per-request latency)':<52} {'raw JSON':>10} {'typed':>9} {'ratio':>7}")
    for title in raw_times:
        (a, _), (b, _) = raw_times[title], typed_times[title]
        print(f"{title[:52]:<52} {a:9.3f}s {b:8.3f}s {a / b:6.1f}x")

    log_bodies, metric_bodies = synth.firehose_bodies(traffic, max_records=1)
    print(f"\n{'function':<28} {'events':>8} {'VRL only':>12} {'raw path':>12} "
          f"{'with pipeline':>14}   (events/s, one core)")
    for name, stream, bodies in (
            ("bedrock_invocation_logs", logs, log_bodies[:2000]),
            ("bedrock_metric_stream", raw_config.streams.metrics, metric_bodies[:2000])):
        n, only, raw_rate, piped = vrl_rates(bodies, functions[stream])
        print(f"{name:<28} {n:8,} {only:12,.0f} {raw_rate:12,.0f} {piped:14,.0f}")
    for label, rows in (("raw", raw_rows[logs]), ("typed (privacy: keep)", typed_rows[logs])):
        sizes = [len(json.dumps(r)) for r in rows]
        columns = {k for r in rows for k in r}
        print(f"{label:<22} invocation-log row: {statistics.mean(sizes):6.0f} bytes of JSON on "
              f"average, {len(columns)} columns in the stream")


if __name__ == "__main__":
    main()
