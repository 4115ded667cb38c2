"""fork_map shares work among forked processes and returns what a plain loop returns; loading
and validating a project through it gives exactly the serial result (resources, digests,
problems in their order), also through the on-disk cache its children write."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from test_cache import _bad_project

from o2kit.errors import Problem, ValidationFailed
from o2kit.project import workers
from o2kit.project.cache import Cache
from o2kit.project.loader import load_project
from o2kit.project.workers import fork_map
from o2kit.validate.rules import early_check, validate_resources

pytestmark = pytest.mark.skipif(not workers._can_fork(), reason="fork_map forks only on Linux")


def test_results_come_back_in_order_from_every_process() -> None:
    items = list(range(101))
    assert fork_map(lambda n: (n * n, os.getpid()), items, workers=3, min_items=1) != [
        (n * n, os.getpid()) for n in items]  # other processes did some of it
    assert [r for r, _ in fork_map(lambda n: (n * n, os.getpid()), items, workers=3,
                                   min_items=1)] == [n * n for n in items]


def test_a_failing_or_crashing_child_share_is_redone_by_the_parent() -> None:
    parent = os.getpid()

    def fails_in_children(n: int) -> int:
        if os.getpid() != parent and n == 3:
            raise RuntimeError("only in a child")
        return n + 1

    def dies_in_children(n: int) -> int:
        if os.getpid() != parent:
            os._exit(3)
        return n + 1

    items = list(range(60))
    assert fork_map(fails_in_children, items, workers=2, min_items=1) == [n + 1 for n in items]
    assert fork_map(dies_in_children, items, workers=4, min_items=1) == [n + 1 for n in items]


def test_an_error_in_the_parent_stops_the_children_and_propagates() -> None:
    parent = os.getpid()

    def fails_in_parent(n: int) -> int:
        if os.getpid() == parent:
            raise ValueError("parent")
        return n

    with pytest.raises(ValueError, match="parent"):
        fork_map(fails_in_parent, list(range(60)), workers=2, min_items=1)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind


def test_serial_when_few_items_one_worker_or_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    pids = lambda items, **kw: {pid for pid in fork_map(lambda _: os.getpid(), items, **kw)}  # noqa: E731
    assert pids(range(10), workers=2) == {os.getpid()}  # under MIN_ITEMS
    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    assert pids(range(100), min_items=1) == {os.getpid()}
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    assert len(pids(range(100), min_items=1)) == 2
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert pids(range(100), min_items=1) == {os.getpid()}  # never fork a threaded process
    finally:
        stop.set()
        thread.join()


def _big_bad_project(root: Path, copies: int = 60) -> Path:
    _bad_project(root)
    for i in range(copies):
        (root / "dashboards" / f"bad_{i:03d}.yaml").write_text(
            f"template: t/bad_dash.yaml.j2\ntitle: Bad {i}\n"
            + ("params: {column: message_modelid}\n" if i % 3 == 0 else ""))
    (root / "dashboards" / "broken_050.yaml").write_text("template: t/bad_dash.yaml.j2\n")
    return root


def _outcome(root: Path, cache: Cache | None, parallel: bool, early: bool = False) -> Any:
    """What `o2kit validate` computes; with ``early``, as the CLI does it: the resources that
    can be are checked where they are rendered (``early_check``)."""
    mapper = fork_map if parallel else None
    check = None
    if early:
        def check(config: Any) -> Any:
            return early_check(config, memo=cache)
    try:
        project = load_project(root, None, cache=cache, check=check)
    except ValidationFailed as exc:
        return ("load", exc.problems)
    problems = validate_resources(project.resources, project.config.config, memo=cache,
                                  digests=project.digests, mapper=mapper,
                                  checked=project.checked)
    if early and project.checked:  # what was checked early is what validate would check
        assert {k for k, _ in project.checked} <= {"dashboard", "template", "folder"}
    return ("validate", problems, [(r.kind, r.key, r.body, r.source, r.meta)
                                   for r in project.resources], project.digests)


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(workers.WORKERS_ENV, "2")


def test_pool_loads_and_validates_like_a_serial_run(tmp_path: Path, two_workers: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = _big_bad_project(tmp_path / "project")
    pooled = _outcome(root, None, parallel=True)
    assert pooled[0] == "load"  # broken_050.yaml has no title: a load problem among many files
    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    assert _outcome(root, None, parallel=False) == pooled
    (root / "dashboards" / "broken_050.yaml").unlink()
    serial = _outcome(root, None, parallel=False)
    assert serial[0] == "validate" and any(isinstance(p, Problem) for p in serial[1])
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    assert _outcome(root, None, parallel=True) == serial


def test_pool_writes_the_cache_a_serial_warm_run_reads(tmp_path: Path, two_workers: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = _big_bad_project(tmp_path / "project")
    (root / "dashboards" / "broken_050.yaml").unlink()
    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    reference = _outcome(root, Cache(tmp_path / "serial-cache"), parallel=False)
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    cold = Cache(tmp_path / "cache")
    assert _outcome(root, cold, parallel=True) == reference
    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    warm = Cache(tmp_path / "cache")
    assert _outcome(root, warm, parallel=False) == reference
    assert warm.misses == 0 and warm.hits > 100  # every entry a child wrote is found


def test_broken_projects_load_alike_in_the_pool(tmp_path: Path, two_workers: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from test_cache import BROKEN

    from tests.test_project_broken import build_case

    monkeypatch.setattr(workers, "MIN_ITEMS", 1)
    for case in BROKEN:
        root = tmp_path / case.name
        env = build_case(case, root)
        outcomes = []
        for count in ("2", "1"):
            monkeypatch.setenv(workers.WORKERS_ENV, count)
            with pytest.raises(ValidationFailed) as info:
                load_project(root, env)
            outcomes.append(info.value.problems)
        assert outcomes[0] == outcomes[1], case.name
        shutil.rmtree(root)


def test_sql_findings_kept_on_disk_report_the_same(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """validate_resources(tool=...) keeps what the SQL checks found per SQL text: a run where
    one dashboard changed takes the rest from the cache, damaged entries are ignored, and
    another o2kit (tool) finds them again."""
    from test_cache import _run

    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    root = _big_bad_project(tmp_path / "project", copies=5)
    (root / "dashboards" / "broken_050.yaml").unlink()
    reference = _run(root, None)

    def run(cache: Cache, tool: str) -> Any:
        project = load_project(root, None, cache=cache)
        return validate_resources(project.resources, project.config.config, memo=cache,
                                  digests=project.digests, tool=tool)

    cold = Cache(tmp_path / "cache")
    assert run(cold, "tool-1") == reference[0]
    stored = sorted((tmp_path / "cache" / "sql").rglob("*.json"))
    assert stored, "the SQL findings were kept"
    (root / "dashboards" / "bad_001.yaml").write_text(
        "template: t/bad_dash.yaml.j2\ntitle: Bad 1 changed\n")
    reference = _run(root, None)
    one_changed = Cache(tmp_path / "cache")
    assert run(one_changed, "tool-1") == reference[0]
    for path in stored:
        path.write_text(path.read_text().replace('"findings":[', '"findings":[1,'))
    shutil.rmtree(tmp_path / "cache" / "validate")  # so the SQL is checked again
    damaged = Cache(tmp_path / "cache")
    assert run(damaged, "tool-1") == reference[0]  # damaged entries are found again
    assert damaged.hits >= len(stored)  # the SQL entries were read (and refused)
    shutil.rmtree(tmp_path / "cache" / "validate")  # so the SQL is checked again
    other = Cache(tmp_path / "cache")
    assert run(other, "tool-2") == reference[0]
    assert len(sorted((tmp_path / "cache" / "sql").rglob("*.json"))) > len(stored)


def test_a_warm_validate_reads_no_cached_body(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies replayed from the cache stay in their blobs until read: a warm validate reads none
    of them (no body in memory, no decode) and reading one gives the body a miss gives. A blob
    that is missing, of another size, or named by an address that is not a SHA-256 makes the
    file a miss (read and rendered again); one whose bytes were changed in place is refused
    with a clear error when read."""
    import json

    from o2kit.errors import UserError
    from o2kit.project.loader import CacheDamaged

    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    root = _big_bad_project(tmp_path / "project", copies=3)
    (root / "dashboards" / "broken_050.yaml").unlink()
    reference = _outcome(root, None, parallel=False)
    _outcome(root, Cache(tmp_path / "cache"), parallel=False)
    project = load_project(root, None, cache=Cache(tmp_path / "cache"))
    dashboards = [r for r in project.resources if r.kind == "dashboard"]
    validate_resources(project.resources, project.config.config, memo=Cache(tmp_path / "cache"),
                       digests=project.digests)
    assert dashboards and all("_blob" in r.__dict__ and r.__dict__["_body"] == {}
                              for r in dashboards)  # never read
    warm = _outcome(root, Cache(tmp_path / "cache"), parallel=False)
    assert warm[1:3] == reference[1:3]  # problems and resources (bodies read on reading)
    # Bodies read from the cache share their strings, as rendered ones do: one copy of a query.
    first, second = (r.body["tabs"][0]["panels"][0]["queries"][0]["query"]
                     for r in dashboards if r.key[1] in ("Bad 1", "Bad 2"))
    assert first == second and first is second
    blobs = sorted((tmp_path / "cache" / "blobs").rglob("*"))
    blobs = [b for b in blobs if b.is_file()]
    assert len(blobs) >= len(dashboards)

    def entries() -> list[Path]:
        return sorted((tmp_path / "cache" / "load").rglob("*.json"))

    for damage in ("delete", "truncate"):
        for blob in blobs:
            if damage == "delete":
                blob.unlink()
            else:
                blob.write_bytes(blob.read_bytes()[:-1])
        damaged = Cache(tmp_path / "cache")
        assert _outcome(root, damaged, parallel=False)[1:3] == reference[1:3], damage
        assert damaged.misses > 0
        assert all(b.is_file() and b.stat().st_size > 0 for b in blobs)  # written again
    for path in entries():  # an address that would lead out of the cache: a miss
        entry = json.loads(path.read_text())
        for item in entry["value"]["resources"]:
            item["body"] = "../../../" + item["body"][9:]
        path.write_text(json.dumps(entry))
    assert _outcome(root, Cache(tmp_path / "cache"), parallel=False)[1:3] == reference[1:3]
    dashboard_blob = next(b for b in blobs if b'"panels"' in b.read_bytes())
    data = dashboard_blob.read_bytes()
    dashboard_blob.write_bytes(data.replace(b'"panels"', b'"pan3ls"', 1))  # same size
    with pytest.raises(UserError, match="damaged") as info:  # when loading reads a body, or later
        project = load_project(root, None, cache=Cache(tmp_path / "cache"))
        [r.body for r in project.resources if r.kind == "dashboard"]
    assert isinstance(info.value, CacheDamaged)
    assert "--no-cache" in (info.value.remedy or "")


ALERT_WITH_THRESHOLD = """{#- o2kit
kind: alert
params:
  threshold: {type: integer, default: 1}
-#}
{% set sql %}
SELECT missing_col AS m, COUNT(*) AS c FROM {{ streams.invocation_logs | sql_ident }}
GROUP BY m HAVING COUNT(*) > {{ threshold }}
{% endset %}
{{ sql_alert(stream=streams.invocation_logs, sql=sql, period=10, frequency=5, silence=0,
             row_template="{m}") | tojson }}
"""


def _many_alerts(root: Path) -> None:
    """80 alerts over 7 SQL texts (the bad column each reads is a problem of each)."""
    (root / "templates" / "t" / "threshold.yaml.j2").write_text(ALERT_WITH_THRESHOLD)
    alerts = "".join(
        f"  many_{i:03d}:\n    template: t/threshold.yaml.j2\n    destinations: [team_hook]\n"
        f"    params: {{threshold: {i % 7}}}\n" for i in range(80))
    (root / "alerts" / "many.yaml").write_text("alerts:\n" + alerts)


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "pool"])
def test_early_checks_report_what_validate_reports(tmp_path: Path, two_workers: None,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   parallel: bool) -> None:
    """Dashboards checked in the process that rendered them (``early_check``), alerts shared
    among processes by SQL text: the same problems, resources and digests as checking
    everything after loading, one process, no cache; with the cache too, and a warm run then
    finds every entry the early checks wrote."""
    root = _big_bad_project(tmp_path / "project")
    (root / "dashboards" / "broken_050.yaml").unlink()
    _many_alerts(root)
    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    reference = _outcome(root, None, parallel=False)
    assert reference[0] == "validate"
    assert sum("missing_col" in p.message for p in reference[1]) > 80  # every alert's problem
    cached_reference = _outcome(root, Cache(tmp_path / "reference-cache"), parallel=False)
    assert cached_reference[:3] == reference[:3] and cached_reference[3]  # + the digests
    monkeypatch.setenv(workers.WORKERS_ENV, "2" if parallel else "1")
    assert _outcome(root, None, parallel, early=True) == reference
    cold = Cache(tmp_path / "cache")
    assert _outcome(root, cold, parallel, early=True) == cached_reference
    warm = Cache(tmp_path / "cache")
    project = load_project(root, None, cache=warm)
    dashboards = {r.key for r in project.resources if r.kind == "dashboard"}
    assert {key for kind, key in project.checked if kind == "dashboard"} == dashboards
    problems = validate_resources(project.resources, project.config.config, memo=warm,
                                  digests=project.digests, checked=project.checked)
    assert problems == reference[1]
    assert warm.misses == 0 and warm.hits > 60  # what the early checks found came with the files
    assert all("_blob" in r.__dict__ for r in project.resources if r.kind == "dashboard")
    assert _outcome(root, Cache(tmp_path / "cache"), parallel, early=True) == cached_reference
    import json

    for damage in ([[0, [{"line": "x"}]]], [[999, []]], [[True, []]]):  # untrusted: a miss
        for path in sorted((tmp_path / "cache" / "load").rglob("*.json")):
            entry = json.loads(path.read_text())
            if entry["value"]["checked"]:
                entry["value"]["checked"] = damage
                path.write_text(json.dumps(entry))
        damaged = Cache(tmp_path / "cache")
        assert _outcome(root, damaged, parallel, early=True) == cached_reference
        assert damaged.misses > 60


def test_a_worker_sends_checked_resources_back_without_their_bodies(
        tmp_path: Path, two_workers: None) -> None:
    """With the cache, what a worker checked comes back as a cached resource that holds no body
    (read from its blob if ever needed, equal to the rendered one); what it did not check (the
    alerts, checked once every file is read) comes back whole."""
    root = _big_bad_project(tmp_path / "project")
    (root / "dashboards" / "broken_050.yaml").unlink()
    reference = _outcome(root, None, parallel=False)
    project = load_project(root, None, cache=Cache(tmp_path / "cache"),
                           check=lambda config: early_check(config))
    dashboards = [r for r in project.resources if r.kind == "dashboard"]
    alerts = [r for r in project.resources if r.kind == "alert"]
    assert len(dashboards) > 60 and alerts
    assert all("_blob" in r.__dict__ for r in dashboards)
    assert not any("_blob" in r.__dict__ for r in alerts)
    assert [(r.kind, r.key, r.body, r.source, r.meta) for r in project.resources] == reference[2]


def test_fewer_collections_inside_the_block_only() -> None:
    import gc

    before = gc.get_threshold()
    with pytest.raises(RuntimeError), workers.fewer_collections():
        assert gc.get_threshold() == workers.GC_THRESHOLD != before
        raise RuntimeError("an error inside the block")
    assert gc.get_threshold() == before


def test_the_command_line_leaves_nothing_for_the_collection_at_exit() -> None:
    """``main`` freezes what the command built, so the collection Python runs at exit does not
    scan it (about 1 s after a cold validate of 1,000 + 1,000 objects)."""
    import subprocess
    import sys

    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
            "from o2kit.cli.app import main\n"
            "sys.argv = ['o2kit', '--version']\n"
            "main()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("frozen True")


def test_a_slow_process_takes_fewer_items_and_the_order_is_kept() -> None:
    """Items go to whichever process asks first: a child slowed down (here by a sleep; on a
    machine, by other work on its core) takes fewer, and the results are still in order."""
    import time

    parent = os.getpid()

    def slow_in_children(n: int) -> tuple[int, int]:
        if os.getpid() != parent:
            time.sleep(0.02)
        return n * 2, os.getpid()

    items = list(range(200))
    out = fork_map(slow_in_children, items, workers=2, min_items=1)
    assert [r for r, _ in out] == [n * 2 for n in items]
    by_parent = sum(pid == parent for _, pid in out)
    assert 100 < by_parent < 200  # the parent did most, the child some


def test_more_items_than_a_pipe_holds_numbers() -> None:
    items = list(range(40_000))  # 160 KB of item numbers: dealt several items a number
    assert fork_map(lambda n: n + 1, items, workers=3, min_items=1) == [n + 1 for n in items]


def test_dashboard_files_alike_but_for_their_names_are_read_together() -> None:
    """load_project hands fork_map groups of dashboards files that differ only in title,
    description and folder (one process renders their shared document once), at most a fair
    share each; other files alone. Any grouping loads the same project (the pool tests)."""
    from o2kit.project.loader import _alike, _FileJob

    def job(kind: str, name: str, text: str) -> _FileJob:
        return _FileJob(kind, name, text.encode(), "")

    same = [job("dashboards", f"d{i}.yaml", f"template: t.j2\ntitle: T {i}\nfolder: F{i % 3}\n"
                f"description: D {i}\nparams: {{interval: 5m}}\n") for i in range(12)]
    other = [job("dashboards", "x.yaml", "template: t.j2\ntitle: X\nparams: {interval: 1m}\n")]
    alerts = [job("alerts", f"a{i}.yaml", "alerts: {}\n") for i in range(3)]
    groups = _alike(same + other + alerts, workers=1)
    assert sorted(len(g) for g in groups) == [1, 1, 1, 1, 4, 4, 4]  # 16 files: 4 a share
    assert [j.rel for g in groups for j in g if j.kind == "dashboards" and j.rel != "x.yaml"] \
        == [f"d{i}.yaml" for i in range(12)]
    assert all(len({j.kind for j in g}) == 1 for g in groups)
    assert [len(g) for g in _alike(same, workers=1)] == [3, 3, 3, 3]  # 12 files: 3 a share
    assert [len(g) for g in _alike(same, workers=2)] == [2] * 6


def test_the_command_reports_alike_cold_warm_pooled_serial_and_without_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`o2kit validate` as a user runs it (early checks, grouped files, the pool, the cache):
    the same report cold, warm, with one process and with --no-cache."""
    from typer.testing import CliRunner

    from o2kit.cli.app import app

    root = _big_bad_project(tmp_path / "project")
    (root / "dashboards" / "broken_050.yaml").unlink()
    _many_alerts(root)
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    outputs = []
    runs = (("1", ["--no-cache"]), ("2", []), ("2", []), ("1", []), ("2", ["--no-cache"]))
    for count, args in runs:
        monkeypatch.setenv(workers.WORKERS_ENV, count)
        result = runner.invoke(app, ["-C", str(root), *args, "validate"])
        assert result.exit_code == 1, result.output
        outputs.append(result.output)
    assert "missing_col" in outputs[0] and "no_such_column" in outputs[0]
    assert all(output == outputs[0] for output in outputs)


# --- Ahead: results made by a forked process while this one goes on --------------------------


def _made_by(n: int) -> bytes:
    return f"{n * n} {os.getpid()}".encode()


def test_ahead_gives_each_result_whoever_made_it_and_leaves_nothing(two_workers: None) -> None:
    items = list(range(120))
    with workers.Ahead(_made_by, items) as ahead:
        folder = ahead._folder
        assert folder is not None and os.path.isdir(folder)
        got = [ahead.get(i).split() for i in reversed(items)][::-1]
    assert [int(square) for square, _ in got] == [n * n for n in items]
    assert {pid for _, pid in got} - {str(os.getpid()).encode()}, "no other process made any"
    assert not os.path.exists(folder)  # the folder is removed on leaving
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # and the child is gone


def test_ahead_makes_here_what_the_child_could_not(two_workers: None) -> None:
    parent = os.getpid()

    def fails_in_child(n: int) -> bytes:
        if os.getpid() != parent and n % 7 == 3:
            raise RuntimeError("only in the child")
        return str(n).encode()

    def dies_in_child(n: int) -> bytes:
        if os.getpid() != parent and n == 40:
            os._exit(3)
        return str(n).encode()

    items = list(range(80))
    for func in (fails_in_child, dies_in_child):
        with workers.Ahead(func, items) as ahead:
            assert [ahead.get(i) for i in items] == [str(n).encode() for n in items]
    # An error this process meets itself is raised as it is.
    def always_fails(n: int) -> bytes:
        raise ValueError(f"item {n}")

    with workers.Ahead(always_fails, items) as ahead, pytest.raises(ValueError, match="item 5"):
        ahead.get(5)


def test_ahead_does_not_fork_a_threaded_process_or_a_few_items(two_workers: None) -> None:
    with workers.Ahead(_made_by, list(range(10))) as ahead:  # under MIN_ITEMS
        assert ahead._folder is None
        assert ahead.get(3) == _made_by(3)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with workers.Ahead(_made_by, list(range(100))) as ahead:
            assert ahead._folder is None
            assert [ahead.get(i) for i in range(100)] == [_made_by(i) for i in range(100)]
    finally:
        stop.set()
        thread.join()


def test_ahead_runs_at_most_lead_past_what_was_taken_and_never_waits_for_it(
        two_workers: None) -> None:
    """Items never taken (apply skips a create whose folder failed) do not hold the child up,
    and the child does not run more than LEAD past the furthest item taken."""
    items = list(range(300))
    with workers.Ahead(_made_by, items) as ahead:
        assert ahead._folder is not None
        assert int(ahead.get(0).split()[0]) == 0
        folder = ahead._folder
        for _ in range(100):  # let the child go as far as it may
            made = len(os.listdir(folder))
            threading.Event().wait(0.02)
            if len(os.listdir(folder)) == made:
                break
        assert len([n for n in os.listdir(folder) if not n.endswith(".tmp")]) <= ahead.LEAD
        # Skip to the end: taken without waiting for the ones never taken.
        assert [int(ahead.get(i).split()[0]) for i in (299, 150, 151)] == [299**2, 150**2, 151**2]


# --- Helper: a forked process answering jobs sent later ---------------------------------------


def _square_and_pid(n: int) -> tuple[int, int]:
    if n < 0:
        raise ValueError("negative")
    if n == 999:
        os._exit(5)
    return n * n, os.getpid()


def test_a_helper_answers_every_thread_in_another_process(two_workers: None) -> None:
    with workers.Helper(_square_and_pid) as helper:
        assert helper.running
        answers: dict[int, Any] = {}

        def ask(n: int) -> None:
            answers[n] = helper.call(n)

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert {n: a[0] for n, a in answers.items()} == {n: n * n for n in range(20)}
        assert {a[1] for a in answers.values()} == {helper._pid} != {os.getpid()}
        assert helper.call(-1) is None  # its error: the caller does that job itself
        assert helper.call(3) == (9, helper._pid)  # and it goes on
        assert helper.call(999) is None  # it died: no answer, no hang ...
        assert not helper.running and helper.call(4) is None  # ... and none after
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # nothing left behind


def test_no_helper_with_threads_running_one_worker_or_none_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    with workers.Helper.none() as helper:
        assert not helper.running and helper.call(2) is None
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with workers.Helper(_square_and_pid) as helper:
            assert not helper.running and helper.call(2) is None
    finally:
        stop.set()
        thread.join()
    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    with workers.Helper(_square_and_pid) as helper:
        assert not helper.running
