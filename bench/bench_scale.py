"""Benchmark: validate, plan and apply at the size of a platform team.

Builds a temporary project of N dashboards rendered from the shipped Bedrock template (one per
team and application, ~35 panels each, different titles and params) and N alerts from the shipped
alert templates with varied params, over 10 folders; then runs ``o2kit`` as a subprocess (the way a
user does) for each phase and prints wall time, peak memory (the RSS high-water of that o2kit
process, from ``os.wait4``'s rusage — what ``getrusage(RUSAGE_CHILDREN)`` reports for one child),
and for the server phases the requests sent, the request floor
⌈requests ÷ concurrency⌉ × latency and the ratio to it. The fake OpenObserve is served on loopback
in its own process with added latency per request (as in ``bench/bench_sync.py``). A naive
sequential client that GETs every object one by one is timed for comparison.

    .venv/bin/python bench/bench_scale.py                      # N = 100, 300, 1000; 20 ms
    .venv/bin/python bench/bench_scale.py --sizes 1000 --profile /tmp/prof   # + cProfile dumps
    .venv/bin/python bench/bench_scale.py --sizes 100 --keep /tmp/proj       # keep the project
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
FOLDERS = 10
TEAMS = ("search", "payments", "risk", "support", "growth", "ads", "data", "infra", "mobile", "web")
INTERVALS = ("1 minute", "5 minute", "10 minute", "15 minute", "30 minute")
TIME_RANGES = ("1h", "6h", "12h", "24h", "7d")
ALERT_TEMPLATES = (
    ("bedrock/throttling.yaml.j2", lambda i: {"threshold": 5 + i % 50, "period_minutes": 10}),
    ("bedrock/server-errors.yaml.j2", lambda i: {"min_invocations": 10 + i % 30}),
    ("bedrock/token-budget.yaml.j2",
     lambda i: {"team": TEAMS[i % len(TEAMS)], "budget": 50 + i, "frequency_minutes": 60}),
    ("bedrock/pipeline-freshness.yaml.j2", lambda i: {"period_minutes": 15 + i % 20}),
    ("bedrock/firehose-delivery.yaml.j2", lambda i: {"min_success_ratio": 1 - (i % 5) / 100}),
    ("bedrock/log-delivery.yaml.j2", lambda i: {"threshold": i % 7}),
)


# --- the project --------------------------------------------------------------------------------


def build_project(root: Path, count: int) -> None:
    """``count`` dashboards and ``count`` alerts over ``FOLDERS`` folders of each type."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("o2kit.yaml", "prices.yaml"):
        shutil.copy(REPO / name, root / name)
    # The shipped budgets notify the shipped alerts/bedrock.yaml's destination; here they notify
    # the bench's own (their alerts and the Budgets tab stay part of the project).
    config = root / "o2kit.yaml"
    config.write_text(config.read_text().replace("destinations: [bedrock_slack]",
                                                  "destinations: [bench_slack]"))
    shutil.copytree(REPO / "templates", root / "templates", dirs_exist_ok=True)
    (root / "dashboards").mkdir(exist_ok=True)
    (root / "alerts").mkdir(exist_ok=True)
    for i in range(count):
        team = TEAMS[i % len(TEAMS)]
        doc = {
            "template": "bedrock/dashboard.yaml.j2",
            "title": f"Bedrock {team} app {i:04d}",
            "folder": f"Team {i % FOLDERS:02d}",
            "description": f"Bedrock usage of {team} application {i}",
            "params": {
                "interval": INTERVALS[i % len(INTERVALS)],
                "token_interval": "1 hour",
                "time_range": TIME_RANGES[i % len(TIME_RANGES)],
                "attribution_tags": ["team", "cost-center", f"app-{i % 7}"],
                "include_cache_tokens": i % 3 != 0,
            },
        }
        path = root / "dashboards" / f"app_{i:04d}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    (root / "alerts" / "notify.yaml").write_text(yaml.safe_dump({
        "templates": {"bench_slack": {"type": "http", "body": {"text": "{alert_name}: {rows}"}}},
        "destinations": {"bench_slack": {"type": "http", "url": "https://hooks.example.com/x",
                                         "method": "post", "template": "bench_slack"}},
    }, sort_keys=False))
    per_folder: dict[int, dict[str, Any]] = {}
    for i in range(count):
        template, params = ALERT_TEMPLATES[i % len(ALERT_TEMPLATES)]
        per_folder.setdefault(i % FOLDERS, {})[f"bench_alert_{i:04d}"] = {
            "template": template, "destinations": ["bench_slack"], "params": params(i)}
    for folder, alerts in per_folder.items():
        (root / "alerts" / f"team_{folder:02d}.yaml").write_text(yaml.safe_dump(
            {"folder": f"Team {folder:02d}", "alerts": alerts}, sort_keys=False))


def change_one_dashboard(root: Path) -> None:
    path = root / "dashboards" / "app_0000.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["description"] = doc["description"] + " (changed)"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


# --- the fake server in its own process -------------------------------------------------


def _serve_fake(latency: float, conn: Any) -> None:
    """Child process: the fake OpenObserve on loopback, recording its answers. Answers
    ``"count"`` with the number of requests it has received; ``"replay"`` stops the fake and
    serves the recorded answers instead (``bench/replay.py``), sending the new URL; ``"reset"``
    serves them again from the start; ``"misses"``
    answers the replay's requests that had no recorded answer; anything else stops it."""
    from replay import Recorder, ReplayServer

    from o2kit.fake import FakeOpenObserve, Faults

    fake = FakeOpenObserve(seed=1, faults=Faults(latency_s=latency))
    for stream in ("bedrock_metrics", "bedrock_logs"):
        fake.add_stream("default", stream)
    recorder = Recorder(fake)
    replay: ReplayServer | None = None
    server = fake.serve()
    conn.send(server.url)
    while True:
        command = conn.recv()
        if command == "count":
            conn.send(replay.requests if replay is not None else len(fake.request_log))
        elif command == "misses":
            conn.send(replay.misses if replay is not None else 0)
        elif command == "reset" and replay is not None:
            replay.reset()
            conn.send(True)
        elif command == "replay" and replay is None:
            server.stop()
            replay = ReplayServer(recorder.answers, latency)
            conn.send(replay.url)
        else:
            break
    if replay is not None:
        replay.stop()
    else:
        server.stop()


class Server:
    def __init__(self, latency: float) -> None:
        self.conn, child_conn = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_serve_fake, args=(latency, child_conn),
                                               daemon=True)
        self.process.start()
        self.url: str = self.conn.recv()

    def requests(self) -> int:
        self.conn.send("count")
        return int(self.conn.recv())

    def replay(self) -> str:
        """From now on, answer what the fake answered (``bench/replay.py``); the new URL."""
        self.conn.send("replay")
        self.url = self.conn.recv()
        return self.url

    def reset(self) -> None:
        """Serve the recorded answers again from the start."""
        self.conn.send("reset")
        self.conn.recv()

    def misses(self) -> int:
        self.conn.send("misses")
        return int(self.conn.recv())

    def cpu(self) -> float:
        """CPU seconds (user + system) the fake's process has used so far."""
        with open(f"/proc/{self.process.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


# --- running o2kit -----------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float
    code: int
    stderr: str


def run_o2kit(args: list[str], env: dict[str, str], profile: Path | None = None) -> Run:
    """One o2kit process: wall time and its own RSS high-water mark."""
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += ["-m", "o2kit", *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    # ru_maxrss is in kilobytes on Linux.
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode,
               text)


def _help(env: dict[str, str]) -> str:
    cmd = [sys.executable, "-m", "o2kit", "validate", "--help"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True).stdout


def naive_fetch(url: str) -> tuple[float, float, int]:
    """GET every object one by one: folders, each folder's dashboards and each dashboard, the
    alerts and each alert — what a hand-written sync script does."""
    from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER
    from o2kit.project.config import ServerSettings
    from o2kit.sync.client import OpenObserveClient

    settings = ServerSettings(url=url, org="default", user=DEFAULT_USER,
                              password=DEFAULT_PASSWORD, concurrency=1)
    start, cpu = time.perf_counter(), time.process_time()
    with OpenObserveClient(settings) as client:
        for folder in client.list_folders("dashboards"):
            for item in client.list_dashboards(folder["folderId"]):
                body = item.get(f"v{item.get('version', 8)}") or {}
                client.get_dashboard(str(item.get("dashboard_id") or body.get("dashboardId")))
        for folder in client.list_folders("alerts"):
            for item in client.list_alerts(folder["folderId"]):
                client.get_alert(item["alert_id"])
        client.list_destinations()
        client.list_templates()
        return time.perf_counter() - start, time.process_time() - cpu, client.request_count


# --- the table ---------------------------------------------------------------------------------


@dataclass
class Row:
    size: int
    phase: str
    wall: float
    cpu: float
    peak_mb: float | None = None
    requests: int | None = None
    floor: float | None = None
    server_cpu: float | None = None

    def line(self) -> str:
        peak = f"{self.peak_mb:6.0f} MB" if self.peak_mb is not None else "       —"
        if self.requests is None or self.floor is None:
            rest = f"{'—':>8} | {'—':>8} | {'—':>6}"
        else:
            ratio = self.wall / self.floor if self.floor else float("nan")
            rest = f"{self.requests:8d} | {self.floor:7.2f}s | {ratio:6.2f}"
        fake = f"{self.server_cpu:6.2f}s" if self.server_cpu is not None else f"{'—':>7}"
        return (f"| {self.size:5d} | {self.phase:<31} | {self.wall:7.2f}s | {self.cpu:7.2f}s | "
                f"{peak} | {rest} | {fake} |")


HEADER = ("| N     | phase                           |    wall |     CPU | peak RSS | requests |"
          "    floor |  ratio | fake CPU |")


def bench_size(count: int, latency: float, concurrency: int, keep: Path | None,
               profile_dir: Path | None, with_no_cache: bool = True,
               validate_only: bool = False) -> list[Row]:
    rows: list[Row] = []
    tmp = Path(tempfile.mkdtemp(prefix=f"o2kit-scale-{count}-"))
    root = keep if keep is not None else tmp / "project"
    cache = tmp / "cache"
    build_project(root, count)
    env = {**os.environ, "O2KIT_CACHE_DIR": str(cache), "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"),
                                                      os.environ.get("PYTHONPATH")]))

    def prof(name: str) -> Path | None:
        return profile_dir / f"{count}-{name}.prof" if profile_dir is not None else None

    def phase(name: str, args: list[str], server: Server | None = None,
              profile: str | None = None) -> Run:
        before = server.requests() if server else 0
        server_cpu = server.cpu() if server else 0.0
        run = run_o2kit(["-C", str(root), *args], env, prof(profile) if profile else None)
        if run.code != 0:
            sys.exit(f"{name} failed (exit {run.code}):\n{run.stderr[-3000:]}")
        row = Row(count, name, run.wall, run.cpu, run.peak_mb)
        if server is not None:
            row.requests = server.requests() - before
            row.server_cpu = server.cpu() - server_cpu
            row.floor = math.ceil(row.requests / concurrency) * latency
        rows.append(row)
        print(row.line(), flush=True)
        return run

    try:
        shutil.rmtree(cache, ignore_errors=True)
        phase("validate, cold", ["validate"], profile="validate-cold")
        phase("validate, warm", ["validate"], profile="validate-warm")
        change_one_dashboard(root)
        phase("validate, one dashboard changed", ["validate"], profile="validate-one")
        if with_no_cache and "--no-cache" in _help(env):
            phase("validate, --no-cache", ["validate", "--no-cache"])
        if validate_only:
            return rows

        # The replay below starts from the cache as it is now, as the fake's phases did.
        before_server = tmp / "cache-before-server"
        if cache.exists():
            shutil.copytree(cache, before_server)
        server = Server(latency)
        from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER

        env.update(OPENOBSERVE_URL=server.url, OPENOBSERVE_USER=DEFAULT_USER,
                   OPENOBSERVE_PASSWORD=DEFAULT_PASSWORD)
        server_args = ["--concurrency", str(concurrency)]
        try:
            # The first plan after apply normalises every live dashboard; it remembers their
            # digests by the server's hash, so the next plans (a pull request's) do not.
            server_phases = [
                ("plan, empty server", ["plan"]),
                ("apply, create all", ["apply", "--auto-approve"]),
                ("plan, in sync (first)", ["plan", "--detailed-exitcode"]),
                ("plan, in sync", ["plan", "--detailed-exitcode"]),
            ]
            profiles = {"plan, empty server": "plan-empty", "apply, create all": "apply",
                        "plan, in sync": "plan-sync"}
            for name, args in server_phases:
                phase(name, [*args, *server_args], server, profile=profiles.get(name))
            # In a process of its own: a child forked from a grown parent would report the
            # parent's RSS as its own high-water mark.
            server_cpu = server.cpu()
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                wall, cpu, requests = pool.apply(naive_fetch, (server.url,))
            rows.append(Row(count, "naive sequential GETs", wall, cpu, None, requests,
                            requests * latency, server.cpu() - server_cpu))
            print(rows[-1].line(), flush=True)
            # The same phases again, against the fake's recorded answers: a server that spends
            # next to no CPU on these cores, as a real one on another machine would.
            env["OPENOBSERVE_URL"] = server.replay()
            shutil.rmtree(cache, ignore_errors=True)
            if before_server.exists():
                shutil.copytree(before_server, cache)
            for name, args in server_phases:
                phase(f"{name} (replay)", [*args, *server_args], server)
                if server.misses():
                    sys.exit(f"{name} (replay): {server.misses()} requests were never recorded")
            by_phase = {row.phase: row for row in rows}
            warm = by_phase["validate, warm"].wall
            for name in ("plan, in sync", "apply, create all", "plan, in sync (replay)",
                         "apply, create all (replay)"):
                row = by_phase[name]
                assert row.floor is not None
                target = 1.5 * row.floor + warm
                print(f"  {count}: {name}: {row.wall:.2f} s = {row.wall / row.floor:.2f}× the "
                      f"floor; target 1.5 × {row.floor:.2f} s + warm validate {warm:.2f} s = "
                      f"{target:.2f} s ({'met' if row.wall <= target else 'not met'}); naive ÷ "
                      f"this = {by_phase['naive sequential GETs'].wall / row.wall:.1f}×",
                      flush=True)
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="build the project here and keep it")
    parser.add_argument("--profile", type=Path, help="write cProfile dumps of each phase here")
    parser.add_argument("--skip-no-cache", action="store_true",
                        help="leave out the second cold run (validate --no-cache)")
    parser.add_argument("--validate-only", action="store_true",
                        help="only the validate phases (no server, plan or apply)")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} cores; {args.latency_ms:g} ms per request; concurrency "
          f"{args.concurrency}; N dashboards (~35 panels) + N alerts over {FOLDERS} folders")
    print("floor = ⌈requests ÷ concurrency⌉ × latency (naive: requests × latency); CPU = user +"
          " system seconds of the o2kit process; fake CPU = the same for the fake OpenObserve,"
          " which shares the machine's cores (a real server's time would not be o2kit's)")
    print(HEADER)
    print("|" + "|".join("---" for _ in range(9)) + "|")
    for size in args.sizes:
        bench_size(size, latency, args.concurrency, args.keep, args.profile,
                   with_no_cache=not args.skip_no_cache, validate_only=args.validate_only)


if __name__ == "__main__":
    main()
