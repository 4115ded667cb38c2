"""Issue 11, harm 5: concurrent runs.

Two applies of one project at once (two merges in a row, a re-run job) must end with exactly one
copy of each object, and the next plan must be clean. The applies run in two threads with their
own clients against one fake OpenObserve, with latency on every request so their requests
interleave; a barrier makes both plan before either writes, so both really create everything.
Also: a plan that finds duplicates of ours reports deleting the extra copies (the oldest stays)
instead of failing, and apply fixes them.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from ownership_world import O2, WEBHOOK, UiUser, make_repo, new_fake, plan_changes

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults
from o2kit.model import Resource
from o2kit.project import envrefs
from o2kit.project.config import server_settings
from o2kit.project.loader import load_project
from o2kit.sync import plan as planmod
from o2kit.sync.client import OpenObserveClient
from o2kit.sync.plan import build_plan
from o2kit.sync.remote import apply_plan, fetch_live

PROJECT = "race-test"


def _copies(fake: FakeOpenObserve) -> Counter[tuple[str, ...]]:
    found: Counter[tuple[str, ...]] = Counter()
    for d in fake.dashboards():
        found[("dashboard", d["data"]["title"])] += 1
    for a in fake.alerts():
        found[("alert", a["name"])] += 1
    for t in fake.templates():
        found[("template", t["name"])] += 1
    for d in fake.destinations():
        found[("destination", d["name"])] += 1
    for folder_type in ("dashboards", "alerts"):
        for f in fake.folders("default", folder_type):
            found[("folder", folder_type, f["name"])] += 1
    return found


def _one_apply(root: Path, fake: FakeOpenObserve, barrier: threading.Barrier,
               results: list[Any]) -> None:
    project = load_project(root)
    config = project.config.config
    desired = [Resource(kind=r.kind, key=r.key, source=r.source,
                        body=envrefs.resolve_env_refs(r.body, {"SLACK_WEBHOOK_URL": WEBHOOK}))
               for r in project.resources]
    settings = server_settings(env={"OPENOBSERVE_URL": "http://o2.test",
                                    "OPENOBSERVE_USER": DEFAULT_USER,
                                    "OPENOBSERVE_PASSWORD": DEFAULT_PASSWORD},
                               config_org="default")
    client = OpenObserveClient(settings, transport=fake.transport(Faults(latency_s=0.01)))
    try:
        live = fetch_live(client, desired=desired, stream_types={"logs"})
        plan = build_plan(desired, live.resources, existing_streams=live.existing_streams,
                          org="default", project=config.project)
        barrier.wait(timeout=60)
        results.append((plan, apply_plan(client, plan)))
    except BaseException as exc:  # reported by the test
        results.append(exc)
        barrier.abort()
    finally:
        client.close()


def test_two_concurrent_applies_leave_exactly_one_copy_of_each_object(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = new_fake()
    root = make_repo(tmp_path / "repo", PROJECT)
    barrier = threading.Barrier(2)
    results: list[Any] = []
    threads = [threading.Thread(target=_one_apply, args=(root, fake, barrier, results))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 2 and not any(isinstance(r, BaseException) for r in results), results

    # Both planned before either wrote: both set out to create everything (a real race)...
    for plan, _applied in results:
        assert plan.of("create") and not plan.of("update")
    dashboard_posts = [r for r in fake.request_log
                       if r.method == "POST" and r.path == "/api/default/dashboards"]
    assert len(dashboard_posts) == 2
    # ...and exactly one copy of each object remains; both applies succeeded.
    copies = _copies(fake)
    assert copies and set(copies.values()) == {1}, copies
    for _plan, applied in results:
        assert applied.ok, [(o.change.address, o.message) for o in applied.failed]

    # A third run plans clean.
    o2 = O2(fake, monkeypatch)
    result = o2(root, "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_a_plan_that_finds_duplicates_of_ours_deletes_the_extra_copies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    o2 = O2(new_fake(), monkeypatch)
    root = make_repo(tmp_path / "repo", PROJECT)
    assert o2(root, "apply", "--auto-approve").exit_code == 0
    original = next(d for d in o2.fake.dashboards() if d["data"]["title"] == "Bedrock overview")
    # A duplicate carrying our full marker (as a lost race would leave it).
    extra_id = UiUser(o2.fake).copy_dashboard("Bedrock", "Bedrock overview", "Bedrock overview")

    plan = o2.plan_json(root)
    deletes = [c for c in plan_changes(plan, "dashboard") if c["action"] == "delete"]
    keep_id = str(original["data"]["dashboardId"])
    assert [(c["server_id"], c["reason"]) for c in deletes] == [
        (extra_id, planmod.DUPLICATE.format(keep=keep_id))]

    result = o2(root, "apply", "--auto-approve")  # no --prune needed: it fixes our own mess
    assert result.exit_code == 0, result.output
    left = [d["data"]["dashboardId"] for d in o2.fake.dashboards()]
    assert [str(i) for i in left] == [keep_id]
    assert o2(root, "plan", "--detailed-exitcode").exit_code == 0


def test_the_look_for_dashboard_copies_runs_beside_the_alert_creates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Apply lists the dashboards it created, to find copies a concurrent apply made, while the
    alerts (which need no dashboard) are being created: the list does not hold them up. The
    list waits here until an alert has been posted; run one after the other, it never is."""
    fake = new_fake()
    root = make_repo(tmp_path / "repo", PROJECT)
    alert_posted = threading.Event()
    overlapped: list[bool] = []
    dispatch = fake.dispatch

    def watching(method: str, path: str, query: Any, headers: Any, body: bytes,
                 faults: Any = None) -> Any:
        if method == "POST" and path == "/api/v2/default/alerts":
            alert_posted.set()
        elif method == "GET" and path == "/api/default/dashboards" and fake.dashboards():
            overlapped.append(alert_posted.wait(timeout=5))
        return dispatch(method, path, query, headers, body, faults)

    monkeypatch.setattr(fake, "dispatch", watching)
    o2 = O2(fake, monkeypatch)
    result = o2(root, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert overlapped == [True]
    assert set(_copies(fake).values()) == {1}
