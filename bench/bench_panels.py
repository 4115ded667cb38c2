"""Benchmark: every shipped panel and alert query on the local engine over ~1,000,000 rows per
stream.

Rows are made the way OpenObserve stores them (synthetic traffic → Firehose bodies → OpenObserve's
decoding rules), then copied with shifted times and request ids until each stream holds the target
count, so the data keeps its realistic shape. Prints the time of each query.

    .venv/bin/python bench/bench_panels.py [--rows 1000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from o2kit.aws import synth
from o2kit.project.loader import load_project
from o2kit.query import check
from o2kit.query.engine import QueryEngine, QueryError

REPO = Path(__file__).resolve().parents[1]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    project = load_project(REPO)
    config = project.config.config
    now_ms = 1_800_000_000_000
    started = time.perf_counter()
    base, traffic = check.synthetic_rows(
        config, now_ms=now_ms,
        scenario=synth.Scenario(minutes=120, requests_per_minute=200, firehose_metrics=True,
                                log_delivery_metrics=True),
        seed=3)
    span_us = (now_ms - traffic.start_ms) * 1000
    engine = QueryEngine()
    sizes = {}
    for stream, rows in base.items():
        grown = grow(rows, args.rows, span_us)
        sizes[stream] = len(grown)
        engine.register_rows(stream, grown)
    copies = args.rows // max(1, min(len(r) for r in base.values()))
    start_us = now_ms * 1000 - (copies + 1) * span_us
    end_us = now_ms * 1000 + 1
    print(f"rows per stream: {sizes}; data prepared in {time.perf_counter() - started:.1f} s; "
          f"window {(end_us - start_us) / 3.6e9:.0f} h")
    for q in check.queries(project.resources):
        names = check.variable_names(q.sql)
        times = []
        rows_out = 0
        try:
            for _ in range(args.repeat):
                t = time.perf_counter()
                result = engine.query(q.sql, start_time=start_us, end_time=end_us,
                                      variables={n: [] for n in names})
                times.append(time.perf_counter() - t)
                rows_out = len(result)
        except QueryError as exc:
            print(f"  error          {q.label}: {exc.message.splitlines()[0]}")
            continue
        print(f"{statistics.median(times):7.3f} s  {rows_out:5d} rows  {q.label}")


if __name__ == "__main__":
    main()
