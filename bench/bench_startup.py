"""Benchmark: wall time of ``o2kit --help`` and ``o2kit --version`` (target: under 150 ms), each
run ``--runs`` times in a fresh interpreter, and what they import.

Byte-code is cached in a temporary ``PYTHONPYCACHEPREFIX`` and the first run of each command is
not counted, as after ``pip install`` (which compiles the package); ``PYTHONDONTWRITEBYTECODE``
is ignored for that reason. For a second opinion: ``hyperfine -N '.venv/bin/o2kit --help'``.

    .venv/bin/python bench/bench_startup.py
    .venv/bin/python bench/bench_startup.py --runs 50
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HEAVY = ("rich", "pydantic", "yaml", "jinja2", "httpx", "sqlglot", "datafusion", "pyarrow",
         "matplotlib")

LOADED = """
import json, sys
from o2kit.cli import app as cli
sys.argv = ["o2kit", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def _time(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    command = [sys.executable, "-m", "o2kit", *args]
    subprocess.run(command, env=env, capture_output=True, check=True)  # compile, warm the disk
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        print(f"{'command':<16}{'min':>9}{'median':>9}{'mean':>9}{'max':>9}  (ms, {args.runs} "
              "runs)")
        for flags in (["--help"], ["--version"]):
            t = _time(flags, env, args.runs)
            print(f"{'o2kit ' + flags[0]:<16}{min(t):>9.1f}{statistics.median(t):>9.1f}"
                  f"{statistics.fmean(t):>9.1f}{max(t):>9.1f}")
        bare = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
            bare.append((time.perf_counter() - started) * 1000)
        print(f"{'python -c pass':<16}{min(bare):>9.1f}{statistics.median(bare):>9.1f}"
              f"{statistics.fmean(bare):>9.1f}{max(bare):>9.1f}")
        probe = subprocess.run([sys.executable, "-c", LOADED, "--help"], env=env,
                               capture_output=True, text=True, check=True)
        loaded = set(json.loads(probe.stderr.strip().splitlines()[-1]))
        heavy = sorted(loaded & set(HEAVY))
        print(f"--help imports {len(loaded)} top-level modules; heavy ones: {heavy or 'none'}")


if __name__ == "__main__":
    main()
