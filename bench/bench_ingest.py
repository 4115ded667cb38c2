"""Benchmark: rows per second through the fake OpenObserve's Firehose route on a loopback port,
then the cost of the first and of a repeated search over what was ingested.

Synthetic Bedrock traffic (o2kit.aws.synth) is turned into Firehose request bodies beforehand, so
the figures cover the HTTP round trip, the fake's decoding (base64, gzip, JSON, flattening) and
its writes (schema evolution, Arrow chunk) — not the generator.

    .venv/bin/python bench/bench_ingest.py                      # 60 minutes at 400 calls/min
    .venv/bin/python bench/bench_ingest.py --minutes 120 --rpm 1000 --concurrency 4
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

SEARCH_SQL = ('SELECT message_modelid AS model_id, COUNT(*) AS invocations, '
              'SUM(message_input_inputtokencount) AS input_tokens '
              'FROM "bedrock_logs" WHERE message_schematype = \'ModelInvocationLog\' '
              'GROUP BY model_id')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--rpm", type=float, default=400.0, help="Bedrock calls per minute")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--records", type=int, default=500, help="records per Firehose request")
    args = parser.parse_args()

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
            started = time.perf_counter()
            results = client.map(
                lambda job: client.post_firehose(job[0], job[1], access_key=key), jobs)
            ingest_s = time.perf_counter() - started
            failures = [r for r in results if isinstance(r, BaseException)]
            window = (0, (now_ms + 3600_000) * 1000)
            started = time.perf_counter()
            first = client.search(SEARCH_SQL, *window)
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            client.search(SEARCH_SQL, *window)
            again_s = time.perf_counter() - started

    stored = len(fake.rows("default", "bedrock_logs")) + len(fake.rows("default",
                                                                       "bedrock_metrics"))
    counted = sum(h["invocations"] for h in first["hits"])
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


if __name__ == "__main__":
    main()
