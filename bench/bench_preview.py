"""Benchmark: ``o2kit preview`` of the shipped Bedrock dashboard (26 panels in 4 tabs).

Prints the wall and CPU time of each step (CPU time is the figure to compare on a busy
machine) — synthetic traffic, running every panel query on the local engine, drawing one
picture per tab, drawing one picture of every tab — and the pictures' sizes. Drawing is the
best of ``--repeat`` runs.

    .venv/bin/python bench/bench_preview.py
    .venv/bin/python bench/bench_preview.py --minutes 360 --repeat 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from o2kit.cli.preview import LOCAL_END_MS
from o2kit.project.loader import load_project
from o2kit.query import check, preview

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    project = load_project(REPO)
    config = project.config.config
    [dashboard] = project.of("dashboard")
    panels = len(preview.panel_keys(dashboard.body))

    began = time.perf_counter()
    rows, traffic = check.synthetic_rows(config, now_ms=LOCAL_END_MS, minutes=args.minutes)
    synth_s = time.perf_counter() - began

    began = time.perf_counter()
    results = preview.run_panels(dashboard.body, check.local_runner(rows),
                                 start_us=traffic.start_ms * 1000,
                                 end_us=LOCAL_END_MS * 1000 + 1)
    query_s = time.perf_counter() - began

    def best(split: bool) -> tuple[float, float, list[preview.Picture]]:
        times, cpu, pictures = [], [], []
        for _ in range(args.repeat):
            began, began_cpu = time.perf_counter(), time.process_time()
            pictures = preview.draw_dashboard(dashboard.body, results, split_tabs=split)
            times.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
        return min(times), min(cpu), pictures

    per_tab_s, per_tab_cpu, per_tab = best(True)
    whole_s, whole_cpu, whole = best(False)
    rows_total = sum(len(r) for r in rows.values())
    print(f"dashboard: {panels} panels in {len(dashboard.body['tabs'])} tabs; "
          f"{args.minutes} minutes of traffic, {rows_total} rows")
    print(f"synthetic traffic      {synth_s:6.2f} s")
    print(f"panel queries (local)  {query_s:6.2f} s")
    print(f"draw, one per tab      {per_tab_s:6.2f} s wall, {per_tab_cpu:5.2f} s CPU  "
          + ", ".join(f"{p.width}x{p.height} {len(p.png) // 1024} KiB" for p in per_tab))
    print(f"draw, one picture      {whole_s:6.2f} s wall, {whole_cpu:5.2f} s CPU  "
          + ", ".join(f"{p.width}x{p.height} {len(p.png) // 1024} KiB" for p in whole))


if __name__ == "__main__":
    main()
