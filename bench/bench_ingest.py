"""Benchmark: rows per second through the fake OpenObserve's Firehose route on a loopback port,
then the cost of the first and of a repeated search over what was ingested.

Synthetic Bedrock traffic (o2kit.aws.synth) is turned into Firehose request bodies beforehand, so
the figures cover the HTTP round trip, the fake's decoding (base64, gzip, JSON, flattening) and
its writes (schema evolution, Arrow chunk) — not the generator.

    .venv/bin/python bench/bench_ingest.py                      # 60 minutes at 400 calls/min
    .venv/bin/python bench/bench_ingest.py --minutes 120 --rpm 1000 --concurrency 4
    .venv/bin/python bench/bench_ingest.py --pipeline both     # + through the ingest pipeline

With ``--pipeline on`` the shipped Bedrock functions and pipelines (functions/, pipelines/) are
applied to the fake first, so every Firehose record runs through its stream's realtime pipeline
(VRL through vrl-python, then flattening) as on a real server; ``both`` runs the ingest twice and
prints what the pipeline adds per event.
"""

from __future__ import annotations

import argparse
import time

from o2kit.aws.seed import firehose_access_key
from o2kit.aws.synth import Scenario, firehose_bodies, generate
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve
from o2kit.project.config import ServerSettings
from o2kit.query.engine import QueryEngine
from o2kit.sync.client import OpenObserveClient

# Raw rows; through the pipeline the typed columns (model_id, input_tokens) are read instead.
SEARCH_SQL = ('SELECT message_modelid AS model_id, COUNT(*) AS invocations, '
              'SUM(message_input_inputtokencount) AS input_tokens '
              'FROM "bedrock_logs" WHERE message_schematype = \'ModelInvocationLog\' '
              'GROUP BY model_id')


TYPED_SQL = ('SELECT model_id, COUNT(*) AS invocations, SUM(input_tokens) AS input_tokens '
             'FROM "bedrock_logs" WHERE schema_type = \'ModelInvocationLog\' GROUP BY model_id')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--rpm", type=float, default=400.0, help="Bedrock calls per minute")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--records", type=int, default=500, help="records per Firehose request")
    parser.add_argument("--pipeline", choices=("off", "on", "both"), default="off",
                        help="ingest through the shipped realtime pipelines (needs o2kit[vrl])")
    args = parser.parse_args()
    figures = {mode: _run(args, mode == "on")
               for mode in (("off", "on") if args.pipeline == "both" else (args.pipeline,))}
    if len(figures) == 2:
        off, on = figures["off"], figures["on"]
        print(f"pipeline     {on:,.0f} rows/s with, {off:,.0f} rows/s without: "
              f"{(1 / on - 1 / off) * 1e6:,.1f} µs more per row")


def _apply_pipeline(client: OpenObserveClient) -> int:
    """Apply the shipped functions and pipelines (ingest.pipeline on) to the server."""
    from pathlib import Path

    from o2kit.project.loader import load_project
    from o2kit.sync.plan import build_plan
    from o2kit.sync.remote import apply_plan, fetch_live

    root = Path(__file__).resolve().parents[1]
    project = load_project(root, overrides={"ingest": {"pipeline": True}})
    wanted = [r for r in project.resources if r.kind in ("function", "pipeline")]
    result = apply_plan(client, build_plan(wanted, fetch_live(client, desired=wanted).resources,
                                           project=project.config.config.project))
    if not result.ok:
        raise SystemExit(f"could not apply the pipeline: {result.failed[0].message}")
    return len(wanted)


def _run(args: argparse.Namespace, pipeline: bool) -> float:

    now_ms = int(time.time() * 1000)
    traffic = generate(Scenario(minutes=args.minutes, requests_per_minute=args.rpm),
                       end_ms=now_ms, seed=1)
    logs, metrics = firehose_bodies(traffic, max_records=args.records)
    jobs = [("bedrock_logs", b) for b in logs] + [("bedrock_metrics", b) for b in metrics]
    log_rows = len(traffic.log_records) + len(traffic.control_messages)
    rows = log_rows + len(traffic.datapoints)
    megabytes = sum(len(b) for _, b in jobs) / 1e6

    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    key = firehose_access_key(DEFAULT_USER, DEFAULT_PASSWORD)
    with fake.serve() as server:
        settings = ServerSettings(url=server.url, org="default", user=DEFAULT_USER,
                                  password=DEFAULT_PASSWORD, concurrency=args.concurrency,
                                  retries=0)
        with OpenObserveClient(settings) as client:
            if pipeline:
                applied = _apply_pipeline(client)
            started = time.perf_counter()
            results = client.map(
                lambda job: client.post_firehose(job[0], job[1], access_key=key), jobs)
            ingest_s = time.perf_counter() - started
            failures = [r for r in results if isinstance(r, BaseException)]
            window = (0, (now_ms + 3600_000) * 1000)
            started = time.perf_counter()
            sql = TYPED_SQL if pipeline else SEARCH_SQL
            first = client.search(sql, *window)
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            client.search(sql, *window)
            again_s = time.perf_counter() - started

    stored = len(fake.rows("default", "bedrock_logs")) + len(fake.rows("default",
                                                                       "bedrock_metrics"))
    counted = sum(h["invocations"] for h in first["hits"])
    mode = f"on ({applied} functions and pipelines)" if pipeline else "off"
    print(f"--- pipeline {mode}")
    print(f"traffic      {args.minutes} min × {args.rpm:g} calls/min = {len(traffic.invocations)}"
          f" calls; {rows} rows ({log_rows} log events, {len(traffic.datapoints)} datapoints)")
    print(f"requests     {len(jobs)} Firehose bodies, {megabytes:.1f} MB, "
          f"concurrency {args.concurrency}, {len(failures)} failed")
    print(f"ingest       {ingest_s:.2f} s  →  {rows / ingest_s:,.0f} rows/s, "
          f"{len(jobs) / ingest_s:.1f} requests/s, {megabytes / ingest_s:.1f} MB/s")
    print(f"stored       {stored} rows (expected {rows})")
    print(f"search       first {first_s * 1000:.0f} ms (builds the Arrow table), "
          f"repeated {again_s * 1000:.0f} ms; {counted} invocations counted "
          f"(truth {sum(t.invocations for t in traffic.truth.values())})")
    return rows / ingest_s


if __name__ == "__main__":
    main()
