"""The cache does not grow forever (o2kit.project.cache: use marks, trim, the lock; o2kit cache).

A use refreshes a file's mtime when it is older than an hour (and only then); a trim deletes what
no run used for N days — never a blob a remaining entry names, never a file that is not of the
cache's layout, never while another run uses the folder; the automatic trim runs at most once a
day; a run after a trim reports exactly what a cold run reports. Times are set with os.utime:
nothing here sleeps.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from o2_harness import O2, bedrock_fake
from shipped_project import copy_shipped_project
from test_cache import BROKEN, _bad_project, _run, broken_report
from typer.testing import CliRunner

from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.project import cache as cache_mod
from o2kit.project.cache import Cache, CacheBusy, clean, finish, read_blob, trim
from o2kit.project.loader import _CachedResource, load_project

DAY = 86400.0


@pytest.fixture(autouse=True)
def _released() -> Iterator[None]:
    """Each test starts and ends with no cache folder held by this process."""
    finish({}, trim=False)
    yield
    finish({}, trim=False)


def _files(directory: Path) -> dict[Path, int]:
    """Every file under ``directory`` → its mtime in ns."""
    return {p: p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file()}


def _age(directory: Path, when: float, *, under: str = "") -> None:
    for path in (directory / under).rglob("*"):
        if path.is_file():
            os.utime(path, ns=(int(when * 1e9), int(when * 1e9)))


def _fresh(path: Path, since: float) -> bool:
    return path.stat().st_mtime >= since - 1


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    return _bad_project(tmp_path / "project")


# --- use marks --------------------------------------------------------------------------------


def test_a_hit_on_an_old_entry_marks_it_and_the_blobs_it_names(bad: Path, tmp_path: Path) -> None:
    """Replaying a file marks its entry and the blobs of its bodies, without reading them (a plan
    in sync never reads a body: its blob must stay all the same)."""
    directory = tmp_path / "cache"
    _run(bad, Cache(directory))
    old = time.time() - 3 * DAY
    _age(directory, old)
    started = time.time()
    project = load_project(bad, None, cache=Cache(directory))
    replayed = [r for r in project.resources
                if isinstance(r, _CachedResource) and "_blob" in r.__dict__]
    assert replayed, "bodies must be left unread in their blobs for this test to mean anything"
    blobs = [p for p in (directory / "blobs").rglob("*") if p.is_file()]
    assert blobs and all(_fresh(p, started) for p in blobs)
    assert {r.__dict__["_blob"][0] for r in replayed} <= set(blobs)
    assert all(_fresh(p, started) for p in (directory / "load").rglob("*.json"))
    # What this run did not use keeps its time: the validate results were not looked up.
    validate = [p for p in (directory / "validate").rglob("*.json")]
    assert validate and all(p.stat().st_mtime == pytest.approx(old) for p in validate)


def test_a_hit_on_a_recently_used_entry_writes_nothing(bad: Path, tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    _run(bad, Cache(directory))
    _age(directory, time.time() - 1800)  # used half an hour ago
    before = _files(directory)
    warm = Cache(directory)
    problems, bodies = _run(bad, warm)
    assert warm.misses == 0 and warm.hits > 0 and bodies  # bodies: every blob was read too
    assert _files(directory) == before


def test_a_blob_found_already_stored_or_read_is_marked(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    data = b'{"title":"a dashboard"}'
    address = cache.put_blob(data)
    assert address is not None
    path = cache.blob_path(address)
    assert path is not None
    old = time.time() - 3 * DAY
    os.utime(path, (old, old))
    assert cache.put_blob(data) == address
    assert _fresh(path, time.time())
    os.utime(path, (old, old))
    assert read_blob(path, address, len(data)) == data
    assert _fresh(path, time.time())


# --- trim ---------------------------------------------------------------------------------------


def test_trim_removes_what_no_run_used_and_keeps_what_one_did(bad: Path, tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    reference = _run(bad, None)
    dashboard = bad / "dashboards" / "bad.yaml"
    original = dashboard.read_text()
    dashboard.write_text(original.replace("title: Bad", "title: Bad two"))
    _run(bad, Cache(directory))  # a version of the file that is gone now
    stale = _files(directory)
    dashboard.write_text(original)
    _run(bad, Cache(directory))
    _age(directory, time.time() - 10 * DAY)
    started = time.time()
    used = Cache(directory)
    assert _run(bad, used) == reference and used.misses == 0
    in_use = {p for p in _files(directory) if _fresh(p, started)}
    assert in_use, "the warm run must have marked what it used"

    done = trim(directory, 5)

    left = set(_files(directory))
    assert in_use <= left  # everything the last run used is still there
    gone = set(stale) - left
    assert done.removed.entries >= 1 and done.removed.blobs >= 1
    assert any(p.parent.parent.name == "blobs" for p in gone)  # the old version's body
    assert done.removed.entries + done.removed.blobs == len(gone)
    assert done.kept.entries + done.kept.blobs == len(
        [p for p in left if p.suffix == ".json" or p.parent.parent.name == "blobs"])
    after = Cache(directory)
    assert _run(bad, after) == reference
    assert after.misses == 0  # nothing a run still needs was removed


def test_trim_keeps_a_blob_a_fresh_entry_names_and_leaves_what_is_not_its_own(
    bad: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    _run(bad, Cache(directory))
    ten_days_ago = time.time() - 10 * DAY
    _age(directory, ten_days_ago, under="blobs")  # entries fresh, their blobs not marked
    orphan = Cache(directory).put_blob(b'{"nobody":"names me"}')
    assert orphan is not None
    orphan_path = directory / "blobs" / orphan[:2] / orphan
    foreign = [directory / "notes.txt", directory / "load" / "ab" / "README",
               directory / "blobs" / "zz" / ("0" * 64), directory / "mine" / "x.json"]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not o2kit's")
    young_temp = directory / "load" / "ab" / ".tmp-young"
    old_temp = directory / "load" / "ab" / ".tmp-old"
    young_temp.write_text("a write in progress")
    old_temp.write_text("a write that crashed")
    for path in [orphan_path, old_temp, *foreign, directory / ".gitignore",
                 directory / "CACHEDIR.TAG"]:
        os.utime(path, (ten_days_ago, ten_days_ago))
    os.utime(young_temp, (time.time() - 600,) * 2)
    named = {p for p in (directory / "blobs").rglob("*") if p.is_file()} - {orphan_path}
    assert named

    done = trim(directory, 5)

    assert not orphan_path.exists() and not old_temp.exists()
    assert done.removed.blobs == 1 and done.removed.entries == 0 and done.removed.temp_files == 1
    assert all(p.exists() for p in named)
    assert all(p.read_text() == "not o2kit's" for p in foreign)
    assert young_temp.exists() and (directory / ".gitignore").exists()
    assert (directory / "CACHEDIR.TAG").exists()
    warm = Cache(directory)
    _run(bad, warm)
    assert warm.misses == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_run_after_a_partial_trim_reports_what_a_cold_run_reports(
    bad: Path, tmp_path: Path, seed: int
) -> None:
    """Whatever subset of files a trim finds unused, the next run is a mix of hits and misses
    that reports exactly what a cold run reports."""
    import random

    directory = tmp_path / "cache"
    reference = _run(bad, None)
    _run(bad, Cache(directory))
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    old = random.Random(seed).sample(files, len(files) // 2)
    for path in old:
        os.utime(path, (time.time() - 10 * DAY,) * 2)
    done = trim(directory, 5)
    assert done.removed.entries + done.removed.blobs > 0
    warm = Cache(directory)
    assert _run(bad, warm) == reference
    assert warm.hits > 0 and warm.misses > 0
    again = Cache(directory)
    assert _run(bad, again) == reference and again.misses == 0


@pytest.mark.parametrize("case", BROKEN, ids=[c.name for c in BROKEN])
def test_a_broken_project_after_a_trim_reports_the_same(case: Path, tmp_path: Path) -> None:
    run = broken_report(case, tmp_path / "project")
    directory = tmp_path / "cache"
    reference = run(None)
    assert run(Cache(directory)) == reference
    _age(directory, time.time() - 10 * DAY, under="blobs")
    _age(directory, time.time() - 10 * DAY, under="load")
    trim(directory, 5)
    assert run(Cache(directory)) == reference


def _two_entries(directory: Path) -> Cache:
    """A cache with entries "used" and "unused", both last used ten days ago; "used" is then
    hit (so this process holds the folder, as a command does)."""
    cache = Cache(directory)
    cache.put("x", "used" + "0" * 60, 1)
    cache.put("x", "unused" + "0" * 58, 2)
    _age(directory, time.time() - 10 * DAY, under="x")
    assert Cache(directory).get("x", "used" + "0" * 60) == 1
    return cache


def _has(directory: Path, name: str) -> bool:
    return any((directory / "x").rglob(f"{name}*.json"))


def test_the_automatic_trim_runs_at_most_once_a_day(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    now = time.time()
    _two_entries(directory)
    assert finish({}, now=now) == []  # a new folder: its trim.txt says "trimmed now"
    assert _has(directory, "unused") and not cache_mod._HELD

    (directory / "trim.txt").write_text(f"{int(now - 2 * DAY)}\n")
    _two_entries(directory)
    assert finish({"O2KIT_CACHE_TRIM_DAYS": "20"}, now=now)  # trimmed, nothing that old
    assert _has(directory, "unused")
    assert int((directory / "trim.txt").read_text()) == int(now)

    _two_entries(directory)
    assert finish({}, now=now + 3600) == []  # trimmed an hour ago: not again
    assert _has(directory, "unused")

    _two_entries(directory)
    [(where, done)] = finish({}, now=now + DAY + 1)
    assert where == directory.absolute() and done.removed.entries == 1
    assert not _has(directory, "unused") and _has(directory, "used")

    (directory / "trim.txt").write_text(f"{int(now + 3 * 3600)}\n")  # a clock set back
    _two_entries(directory)
    assert len(finish({}, now=now)) == 1


def test_a_folder_another_run_uses_is_not_trimmed(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    now = time.time()
    _two_entries(directory)
    (directory / "trim.txt").write_text(f"{int(now - 2 * DAY)}\n")
    other = os.open(directory / "lock", os.O_RDWR)  # another o2kit run, holding it shared
    try:
        fcntl.flock(other, fcntl.LOCK_SH)
        assert finish({}, now=now) == []  # left for a later command, without waiting
        assert _has(directory, "unused")
        with pytest.raises(CacheBusy):
            trim(directory, 0, wait=0)
        with pytest.raises(CacheBusy):
            clean(directory, wait=0)
        assert _has(directory, "unused") and _has(directory, "used")
    finally:
        os.close(other)
    assert trim(directory, 5).removed.entries == 1


def test_a_run_waits_out_another_runs_trim_then_goes_on_without_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "cache"
    _two_entries(directory)
    finish({}, now=time.time())
    monkeypatch.setattr(cache_mod, "LOCK_WAIT", 0.0)
    trimming = os.open(directory / "lock", os.O_RDWR)  # another run's trim or clean
    try:
        fcntl.flock(trimming, fcntl.LOCK_EX)
        cache = Cache(directory)
        assert cache.get("x", "used" + "0" * 60) is None  # a miss, not a wait without end
        cache.put("x", "new" + "0" * 61, 3)
        assert cache.misses == 1 and not _has(directory, "new")
    finally:
        os.close(trimming)


def test_invalid_trim_days_is_named(tmp_path: Path) -> None:
    for value in ("-1", "nan", "inf", "five", "4000"):
        with pytest.raises(ValueError, match="O2KIT_CACHE_TRIM_DAYS"):
            cache_mod.trim_days({"O2KIT_CACHE_TRIM_DAYS": value})
    assert cache_mod.trim_days({"O2KIT_CACHE_TRIM_DAYS": "0.5"}) == 0.5
    assert cache_mod.trim_days({}) == 5


# --- a trim racing a command -----------------------------------------------------------------


@pytest.fixture
def planned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[O2, Path, dict[str, Any]]:
    """The shipped project, a fake server, the plan made without the cache, and a cache that
    holds the loaded files only (so the next plan reads their bodies from the blobs)."""
    project = copy_shipped_project(tmp_path / "repo")
    directory = tmp_path / "cache"
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(directory))
    o2 = O2(project, bedrock_fake(seed=3), monkeypatch)
    reference = o2("--no-cache", "plan", "--json")
    assert reference.exit_code == 0, reference.output
    assert o2("validate").exit_code == 0
    _age(directory, time.time() - 10 * DAY)
    return o2, directory, json.loads(reference.stdout)


TRIM_ELSEWHERE = """
import sys
from pathlib import Path
from o2kit.project.cache import CacheBusy, trim
try:
    done = trim(Path(sys.argv[1]), 0, wait=0)
    print(f"removed {done.removed.entries} entries")
except CacheBusy:
    print("busy")
"""


def _trim_elsewhere(directory: Path) -> str:
    """``trim --older-than 0`` in another process, as another o2kit run would."""
    result = subprocess.run([sys.executable, "-c", TRIM_ELSEWHERE, str(directory)],
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.strip()


def test_a_trim_between_a_hit_and_its_read_is_kept_out(
    planned: tuple[O2, Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    o2, directory, reference = planned
    real = cli_base._desired_state
    tried: list[str] = []

    def racing(project: Any) -> Any:
        # The files were replayed from the cache (hits); their bodies are read now.
        assert any(isinstance(r, _CachedResource) and "_blob" in r.__dict__
                   for r in project.resources)
        tried.append(_trim_elsewhere(directory))
        return real(project)

    monkeypatch.setattr(cli_base, "_desired_state", racing)
    result = o2("plan", "--json")
    assert result.exit_code == 0, result.output
    assert tried == ["busy"]  # and nothing was deleted under the plan
    assert json.loads(result.stdout) == reference
    # Once the command is over, the folder is free: a trim runs, and the next plan is the same.
    assert _trim_elsewhere(directory).startswith("removed ")
    again = o2("plan", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == reference


def test_a_body_deleted_between_a_hit_and_its_read_stops_with_a_message(
    planned: tuple[O2, Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What no lock can keep out (another program, a trim on another machine sharing the folder
    over a network file system): the command stops with one line saying what happened and what
    to do — no traceback, no plan from a guessed body — and the next run is a plain miss."""
    o2, directory, reference = planned
    real = cli_base._desired_state

    def deleting(project: Any) -> Any:
        for blob in [p for p in (directory / "blobs").rglob("*") if p.is_file()]:
            blob.unlink()
        return real(project)

    monkeypatch.setattr(cli_base, "_desired_state", deleting)
    result = o2("plan", "--json")
    assert result.exit_code == 1
    assert "was deleted from the cache while this command ran" in result.output
    assert "run the command again" in result.output
    assert "Traceback" not in result.output and "Internal error" not in result.output
    monkeypatch.setattr(cli_base, "_desired_state", real)
    again = o2("plan", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == reference


# --- o2kit cache --------------------------------------------------------------------------------


def _o2kit(project: Path, *args: str) -> Any:
    return CliRunner().invoke(cli.app, ["-C", str(project), *args])


def test_cache_info_trim_and_clean(bad: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("O2KIT_CACHE_DIR", raising=False)
    monkeypatch.delenv("O2KIT_CACHE_TRIM_DAYS", raising=False)
    directory = bad / ".o2kit" / "cache"
    cold = _o2kit(bad, "validate")
    assert cold.exit_code == 1  # the project has problems; they are what is compared below
    files = _files(directory)
    entries = [p for p in files if p.suffix == ".json"]
    blobs = [p for p in files if p.parent.parent.name == "blobs"]

    info = _o2kit(bad, "cache", "info", "--json")
    assert info.exit_code == 0, info.output
    doc = json.loads(info.stdout)
    assert doc["directory"] == str(directory) and doc["exists"] is True
    assert doc["entries"] == len(entries) and doc["blobs"] == len(blobs)
    assert doc["bytes"] == sum(p.stat().st_size for p in entries + blobs)
    assert sum(doc["namespaces"].values()) == len(entries) and "load" in doc["namespaces"]
    assert doc["trim_days"] == 5 and doc["last_trim"].endswith("Z")
    text = _o2kit(bad, "cache", "info")
    assert text.exit_code == 0 and str(directory) in text.output
    assert f"entries: {len(entries)} " in text.output

    nothing = _o2kit(bad, "cache", "trim")
    assert nothing.exit_code == 0
    assert "Removed 0 entries and 0 blobs" in nothing.output
    _age(directory, time.time() - 3 * DAY)
    trimmed = _o2kit(bad, "cache", "trim", "--older-than", "2", "--json")
    assert trimmed.exit_code == 0, trimmed.output
    report = json.loads(trimmed.stdout)
    assert report["removed"]["entries"] == len(entries)
    assert report["removed"]["blobs"] == len(blobs)
    assert report["kept"]["entries"] == 0 and report["older_than_days"] == 2

    warm = _o2kit(bad, "validate")
    assert warm.output == cold.output and warm.exit_code == 1
    cleaned = _o2kit(bad, "cache", "clean")
    assert cleaned.exit_code == 0 and f"Removed {len(entries)} entries" in cleaned.output
    assert sorted(p.name for p in directory.iterdir()) == [
        ".gitignore", "CACHEDIR.TAG", "lock", "trim.txt"]
    assert _o2kit(bad, "validate").output == cold.output

    for bad_days in ("-1", "nan", "99999"):
        usage = _o2kit(bad, "cache", "trim", "--older-than", bad_days)
        assert usage.exit_code == 64, usage.output
    monkeypatch.setenv("O2KIT_CACHE_TRIM_DAYS", "soon")
    named = _o2kit(bad, "cache", "trim")
    assert named.exit_code == 1 and "O2KIT_CACHE_TRIM_DAYS" in named.output
    assert "Traceback" not in named.output
    warned = _o2kit(bad, "validate")  # the automatic trim says why it did not run
    assert warned.exit_code == 1 and "O2KIT_CACHE_TRIM_DAYS='soon'" in warned.output


def test_cache_commands_leave_a_folder_that_is_not_o2kits_alone(
    bad: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "load" / "ab").mkdir(parents=True)
    precious = home / "load" / "ab" / "abcdef.json"
    precious.write_text("{}")
    os.utime(precious, (1, 1))
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(home))
    for args in (["cache", "trim", "--older-than", "0"], ["cache", "clean"]):
        result = _o2kit(bad, *args)
        assert result.exit_code == 1
        assert "is not an o2kit cache" in result.output and "nothing was removed" in result.output
    assert precious.read_text() == "{}" and not (home / "lock").exists()


def test_cache_commands_do_nothing_when_the_cache_is_off(
    bad: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "cache"
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(directory))
    assert _o2kit(bad, "validate").exit_code == 1
    _age(directory, time.time() - 30 * DAY)
    (directory / "trim.txt").write_text("0\n")  # a trim is due
    before = _files(directory)
    for args in (["cache", "info"], ["cache", "info", "--json"], ["cache", "trim"],
                 ["cache", "clean"], ["validate"]):
        result = _o2kit(bad, "--no-cache", *args)
        assert result.exit_code == (1 if args == ["validate"] else 0)
        if args[0] == "cache":
            assert result.output == ""
    assert _files(directory) == before  # nothing read (marked), trimmed or removed
    # With the cache on, the due trim runs at the end of the command, silently.
    quiet = _o2kit(bad, "validate")
    assert "trim" not in quiet.output
    assert int((directory / "trim.txt").read_text()) > 0
    assert not any(p.suffix == ".json" and p.stat().st_mtime < time.time() - 6 * DAY
                   for p in directory.rglob("*"))


def test_a_busy_cache_is_reported(bad: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(directory))
    _o2kit(bad, "validate")
    monkeypatch.setattr(cache_mod, "LOCK_WAIT", 0.0)
    other = os.open(directory / "lock", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_SH)
        result = _o2kit(bad, "cache", "clean")
    finally:
        os.close(other)
    assert result.exit_code == 1
    assert "in use by another o2kit run" in result.output
    assert any(directory.rglob("*.json"))


def test_no_cache_uses_a_scratch_cache_of_its_own_and_removes_it(
    bad: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-cache reads and writes no cache another run uses, yet the bodies it renders wait on
    disk in a scratch cache of the command (not all in memory), removed at its end; it reports
    what a run with the cache does."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(directory))
    made: list[Cache] = []
    scratch = cache_mod.scratch_cache

    def spy() -> Cache:
        made.append(scratch())
        return made[-1]

    monkeypatch.setattr(cache_mod, "scratch_cache", spy)
    without = _o2kit(bad, "--no-cache", "validate")
    assert without.exit_code == 1
    assert not directory.exists()  # the shared cache is neither read nor written
    (used,) = made
    assert used.misses > 0 and used.directory is not None and not used.directory.exists()
    with_cache = _o2kit(bad, "validate")
    assert with_cache.exit_code == 1 and with_cache.output == without.output
    # Without a usable temporary directory it does without a cache, as before.
    def refuse(*args: Any, **kwargs: Any) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache_mod.tempfile, "mkdtemp", refuse)
    made.clear()
    off = _o2kit(bad, "--no-cache", "validate")
    assert off.exit_code == 1 and off.output == without.output
    assert made[0].directory is None


def test_the_command_line_bound_on_days_is_the_cache_modules() -> None:
    # Restated in o2kit.cli.cache so that `o2kit --help` need not import the cache (~15 ms).
    from o2kit.cli import cache as cache_cli

    assert cache_cli.DAYS_MAX == cache_mod.TRIM_DAYS_MAX
