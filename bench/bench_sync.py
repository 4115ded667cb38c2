"""Benchmark: plan and apply of N dashboards and N alerts against the fake OpenObserve served on a
loopback port, with added latency per request.

Prints, for each phase, wall time, requests sent, and the ratio to the lower bound
``requests / concurrency × latency`` (1.0 would be a perfectly packed pipe).

    .venv/bin/python bench/bench_sync.py                 # 1,000 + 1,000, 20 ms, concurrency 8
    .venv/bin/python bench/bench_sync.py --count 200 --latency-ms 20 --concurrency 16
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import tracemalloc
from collections.abc import Callable
from typing import Any, TypeVar

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults
from o2kit.model import Resource
from o2kit.project.config import ServerSettings
from o2kit.sync.client import OpenObserveClient
from o2kit.sync.plan import build_plan
from o2kit.sync.remote import apply_plan, fetch_live

T = TypeVar("T")


def desired_resources(count: int) -> list[Resource]:
    out = [
        Resource("folder", ("dashboards", "Bench"), {"name": "Bench", "description": ""}),
        Resource("folder", ("alerts", "Bench"), {"name": "Bench", "description": ""}),
        Resource("template", ("bench_tpl",),
                 {"name": "bench_tpl", "type": "http", "body": '{"text": "{alert_name}"}'}),
        Resource("destination", ("bench_dest",),
                 {"name": "bench_dest", "type": "http", "url": "https://hooks.example.com/x",
                  "method": "post", "template": "bench_tpl"}),
    ]
    for i in range(count):
        title = f"Bench dashboard {i:04d}"
        panels = [
            {"id": f"p{j}", "type": "line", "title": f"Panel {j}", "description": "",
             "queryType": "sql", "config": {"show_legends": True, "decimals": 0},
             "queries": [{
                 "query": f'SELECT histogram(_timestamp) AS x, count(*) AS y FROM "bench" '
                          f"WHERE n = {j} GROUP BY x ORDER BY x",
                 "customQuery": True,
                 "fields": {"stream": "bench", "stream_type": "logs",
                            "x": [{"label": "t", "alias": "x", "type": "custom"}],
                            "y": [{"label": "n", "alias": "y", "type": "custom"}],
                            "filter": {"filterType": "group", "logicalOperator": "AND",
                                       "conditions": []}},
                 "config": {"promql_legend": ""}}],
             "layout": {"x": (j % 2) * 96, "y": (j // 2) * 18, "w": 96, "h": 18, "i": j + 1}}
            for j in range(6)
        ]
        out.append(Resource("dashboard", ("Bench", title),
                            {"version": 8, "title": title, "description": "bench",
                             "tabs": [{"tabId": "main", "name": "Main", "panels": panels}]}))
        name = f"bench_alert_{i:04d}"
        out.append(Resource("alert", ("Bench", name), {
            "name": name, "stream_type": "logs", "stream_name": "bench", "enabled": True,
            "query_condition": {"type": "sql",
                                "sql": f"SELECT count(*) AS c FROM \"bench\" WHERE n = {i} "
                                       "HAVING count(*) > 10"},
            "trigger_condition": {"period": 10, "operator": ">=", "threshold": 1,
                                  "frequency": 5, "silence": 30},
            "destinations": ["bench_dest"]}))
    return out


def timed(label: str, fn: Callable[[], T], client: OpenObserveClient, concurrency: int,
          latency: float) -> T:
    before = client.request_count
    start = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    requests = client.request_count - before
    bound = requests / concurrency * latency
    ratio = wall / bound if bound else float("nan")
    print(f"{label:<28} {wall:8.2f} s  {requests:6d} requests  lower bound {bound:6.2f} s  "
          f"ratio {ratio:5.2f}")
    return result


def _serve_fake(latency: float, urls: Any, stop: Any) -> None:
    """Child process: the fake server gets a core of its own, as a real server would."""
    fake = FakeOpenObserve(seed=1, faults=Faults(latency_s=latency))
    fake.add_stream("default", "bench")
    with fake.serve() as server:
        urls.put(server.url)
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--trace-memory", action="store_true",
                        help="also report peak memory (tracemalloc slows everything ~3x)")
    args = parser.parse_args()
    latency = args.latency_ms / 1000

    urls: Any = multiprocessing.Queue()
    stop = multiprocessing.Event()
    child = multiprocessing.Process(target=_serve_fake, args=(latency, urls, stop), daemon=True)
    child.start()
    url = urls.get(timeout=30)
    desired = desired_resources(args.count)
    if args.trace_memory:
        tracemalloc.start()
    try:
        settings = ServerSettings(url=url, org="default", user=DEFAULT_USER,
                                  password=DEFAULT_PASSWORD, concurrency=args.concurrency)
        with OpenObserveClient(settings) as client:
            print(f"{args.count} dashboards + {args.count} alerts, {args.latency_ms:g} ms per "
                  f"request, concurrency {args.concurrency}")

            def plan() -> Any:
                live = fetch_live(client, desired=desired, stream_types={"logs"})
                return build_plan(desired, live.resources,
                                  existing_streams=live.existing_streams), live

            first, _ = timed("plan (empty server)", plan, client, args.concurrency, latency)
            result = timed("apply (create all)", lambda: apply_plan(client, first), client,
                           args.concurrency, latency)
            assert result.ok, [o.message for o in result.failed][:3]
            second, _ = timed("plan (in sync)", plan, client, args.concurrency, latency)
            changes = sum(1 for c in second.changes if c.action != "noop")
            again = timed("apply (nothing to do)", lambda: apply_plan(client, second), client,
                          args.concurrency, latency)
            print(f"second plan: {changes} changes; second apply: {again.writes} writes")
    finally:
        stop.set()
        child.join(timeout=10)
    if args.trace_memory:
        _, peak = tracemalloc.get_traced_memory()
        print(f"peak traced memory: {peak / 1e6:.0f} MB (client, fake server and plan together)")


if __name__ == "__main__":
    main()
