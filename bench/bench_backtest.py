"""Benchmark: ``o2kit test --backtest`` (one bucketed search per stream, combined locally) against
the naive way (one search per alert and window), over the shipped project's SQL alerts on
``--hours`` of synthetic Bedrock traffic on the local engine. Prints searches, CPU seconds and
whether both ways agree on every window.

    .venv/bin/python bench/bench_backtest.py
    .venv/bin/python bench/bench_backtest.py --hours 24
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from o2kit.aws import synth
from o2kit.project.loader import load_project
from o2kit.query import alerttest, check
from o2kit.query import backtest as bt
from o2kit.query.engine import QueryEngine

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=int, default=6)
    args = parser.parse_args()
    project = load_project(REPO, None)
    config = project.config.config
    end_ms = int(time.time()) // 3600 * 3600 * 1000
    minutes = args.hours * 60
    scenario = synth.Scenario(minutes=minutes, firehose_metrics=True, log_delivery_metrics=True,
                              throttle_burst=synth.ThrottleBurst(start_minute=minutes // 3,
                                                                 minutes=20,
                                                                 extra_per_minute=5))
    t0 = time.process_time()
    rows, traffic = check.synthetic_rows(config, now_ms=end_ms, scenario=scenario)
    print(f"traffic: {args.hours} h, {sum(len(r) for r in rows.values())} rows, "
          f"{time.process_time() - t0:.1f} s CPU to generate")
    alerts = [(r.key[0], r.key[1], r.body) for r in project.of("alert")
              if (r.body.get("query_condition") or {}).get("type") == "sql"]
    engine = QueryEngine()
    for stream, stream_rows in rows.items():
        engine.register_rows(stream, stream_rows)
    searches = 0

    def search(sql: str, start: int, end: int, size: int, stream_type: str) -> list[Any]:
        nonlocal searches
        searches += 1
        return engine.query(sql, start_time=start, end_time=end)[:size]

    start_us, end_us = traffic.start_ms * 1000, end_ms * 1000
    t0 = time.process_time()
    report = bt.backtest(alerts, search, start_us=start_us, end_us=end_us, source="local")
    fast = time.process_time() - t0
    t0 = time.process_time()
    runner = alerttest.QueryRunner(rows)
    naive = 0
    agree = True
    for result, (_, _, body) in zip(report.alerts, alerts, strict=True):
        schedule = bt.Schedule.of(body)
        runs = bt.run_times(schedule, start_us, end_us)
        direct = {t: alerttest.evaluate(body, runner, t).fires for t in runs}
        naive += len(runs)
        fired, _ = bt.replay(schedule, runs, direct)
        agree = agree and fired == result.fired and sum(direct.values()) == result.matched
    slow = time.process_time() - t0
    print(f"{len(alerts)} SQL alerts, {sum(r.runs for r in report.alerts)} windows")
    print(f"backtest: {searches} searches, {fast:.2f} s CPU")
    print(f"one search per window: {naive} searches, {slow:.2f} s CPU")
    print(f"same fires and matched windows: {agree}")


if __name__ == "__main__":
    main()
