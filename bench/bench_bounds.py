"""Benchmark: how fast and how cheaply hostile input is refused (issue 11, bounded input).

Prints, for each case, the time to rejection and the peak memory the Python heap reached
(tracemalloc) while loading it, plus the process's peak resident set size at the end. The
issue's target for the 2.7 KB alias bomb: under 1 s and under 100 MB (it took 50 s and 3.4 GB).

    .venv/bin/python bench/bench_bounds.py
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from o2kit.project.yamlsrc import YamlError, load_json, load_yaml


def alias_bomb() -> str:
    """Nine levels of nine aliases: 9**9 (387 million) strings once expanded."""
    lol = '"' + "lol" * 90 + '"'  # padded as the 2.7 KB file
    lines = ["a: &a [" + ",".join([lol] * 9) + "]"]
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


def measure(label: str, load: Callable[[], object]) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        load()
        outcome = "accepted"
    except YamlError as exc:
        outcome = f"refused: {exc}"
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<34} {elapsed * 1000:9.2f} ms {peak / 1024 / 1024:9.2f} MiB  {outcome[:90]}")


def main() -> None:
    bomb = alias_bomb()
    print(f"{'case':<34} {'time':>12} {'heap peak':>13}  outcome")
    measure(f"alias bomb ({len(bomb):,} bytes)", lambda: load_yaml(bomb, "alerts/bomb.yaml"))
    measure("10,000 '[' (flow)", lambda: load_yaml("a: " + "[" * 10_000, "deep.yaml"))
    block = "".join("  " * i + f"k{i}:\n" for i in range(2_000)) + "  " * 2_000 + "v: 1\n"
    measure("2,000 nested mappings (block)", lambda: load_yaml(block, "deep.yaml"))
    measure("10,000 '[' in JSON", lambda: load_json("[" * 10_000 + "]" * 10_000, "deep.json"))
    measure("5 MiB + 1 byte", lambda: load_yaml("#" * (5 * 1024 * 1024 + 1), "big.yaml"))
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"this process's peak RSS: {rss_kib / 1024:.1f} MiB (interpreter and imports included)")
    cli_run(bomb)


def cli_run(bomb: str) -> None:
    """`o2kit validate` of the shipped project plus alerts/bomb.yaml, in a child process: wall
    time and the child's peak resident set size (whole process: Python, imports, rendering)."""
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "repo"
        project.mkdir()
        for name in ("o2kit.yaml", "prices.yaml", "dashboards", "alerts", "templates"):
            src = repo / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
        (project / "alerts" / "bomb.yaml").write_text(bomb, encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(repo / "src")}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "o2kit", "-C", str(project), "validate"],
                              capture_output=True, text=True, env=env, check=False)
        elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    last = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
    print(f"o2kit validate with the bomb: exit {done.returncode} in {elapsed:.2f} s, child peak "
          f"RSS {rss:.1f} MiB: {last[:100]}")


if __name__ == "__main__":
    main()
