"""build_plan: pairing by key, ownership, adopt, prune, replace, streams, checksum, delete guard."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_kinds_samples import (
    SECRET_URL,
    desired_alert,
    desired_dashboard,
    desired_email_destination,
    desired_set,
    desired_template,
    live_alert,
    live_dashboard,
    live_email_destination,
    live_set,
    live_template,
    res,
)

from o2kit.errors import PlanError
from o2kit.kinds import ALERT_MARKER_TAG, MARKER_TEXT
from o2kit.model import Change, Plan, Resource
from o2kit.sync import plan as planmod
from o2kit.sync.plan import build_plan, delete_guard, managed_set, plan_checksum

ALERT_KEY = ("Bedrock", "bedrock_error_rate")
DASH_KEY = ("Bedrock", "Bedrock overview")


def by_key(plan: Plan, kind: str, key: tuple[str, ...]) -> Change:
    found = [c for c in plan.changes if c.kind == kind and c.key == key]
    assert len(found) == 1, found
    return found[0]


def replaced(
    items: list[Resource], kind: str, key: tuple[str, ...], **changes: Any
) -> list[Resource]:
    out = []
    for r in items:
        if r.kind == kind and r.key == key:
            r = Resource(
                kind=r.kind,
                key=r.key,
                body=changes.get("body", r.body),
                server_id=changes.get("server_id", r.server_id),
                meta=changes.get("meta", r.meta),
                source=r.source,
            )
        out.append(r)
    return out


def without(items: list[Resource], kind: str, key: tuple[str, ...]) -> list[Resource]:
    return [r for r in items if not (r.kind == kind and r.key == key)]


def unmarked_dashboard() -> dict[str, Any]:
    body = live_dashboard()
    body["description"] = body["description"].replace("\n\n" + MARKER_TEXT, "")
    return body


# --- basic actions ---------------------------------------------------------------------------


def test_everything_in_sync_is_all_noops() -> None:
    plan = build_plan(desired_set(), live_set(), org="default", env="prod")
    assert not plan.has_changes
    assert {c.reason for c in plan.changes} == {planmod.IN_SYNC}
    assert len(plan.changes) == 6 and plan.warnings == ()


def test_empty_server_creates_everything_in_apply_order() -> None:
    plan = build_plan(desired_set(), [])
    assert [(c.action, c.kind) for c in plan.changes] == [
        ("create", "folder"),
        ("create", "folder"),
        ("create", "template"),
        ("create", "destination"),
        ("create", "dashboard"),
        ("create", "alert"),
    ]
    assert [c.key for c in plan.changes[:2]] == [("alerts", "Bedrock"), ("dashboards", "Bedrock")]


def test_update_lists_field_changes_old_to_new() -> None:
    body = live_alert()
    body["trigger_condition"]["threshold"] = 5
    body["enabled"] = False
    plan = build_plan(desired_set(), replaced(live_set(), "alert", ALERT_KEY, body=body))
    change = by_key(plan, "alert", ALERT_KEY)
    assert change.action == "update"
    assert [(f.path, f.old, f.new) for f in change.fields] == [
        ("enabled", False, True),
        ("trigger_condition.threshold", 5, 1),
    ]


def test_pairs_by_key_never_by_id() -> None:
    # Same dashboard content under another server id: still the same key, so in sync.
    live = replaced(live_set(), "dashboard", DASH_KEY, server_id="999")
    assert by_key(build_plan(desired_set(), live), "dashboard", DASH_KEY).reason == planmod.IN_SYNC


def test_plan_is_deterministic_whatever_the_input_order() -> None:
    live = live_set()
    body = live_alert()
    body["enabled"] = False
    live = replaced(live, "alert", ALERT_KEY, body=body)
    first = build_plan(desired_set(), live)
    for seed in range(5):
        d, lv = desired_set(), list(live)
        random.Random(seed).shuffle(d)
        random.Random(seed + 100).shuffle(lv)
        again = build_plan(d, lv)
        assert again.changes == first.changes
        assert plan_checksum(again) == plan_checksum(first)


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(PlanError, match="unknown resource kind 'report'"):
        build_plan([res("report", ("x",), {})], [])


# --- ownership and adopt ---------------------------------------------------------------------


def test_unmanaged_object_with_a_desired_key_is_left_alone() -> None:
    live = replaced(live_set(), "dashboard", DASH_KEY, body=unmarked_dashboard())
    change = by_key(build_plan(desired_set(), live), "dashboard", DASH_KEY)
    assert change.action == "noop"
    assert change.reason == (
        "exists but is not managed by o2kit; left alone (use --adopt to take it over)"
    )


def test_adopt_marks_an_in_sync_object() -> None:
    live = replaced(live_set(), "dashboard", DASH_KEY, body=unmarked_dashboard())
    change = by_key(build_plan(desired_set(), live, adopt=True), "dashboard", DASH_KEY)
    assert change.action == "update" and change.fields == ()
    assert change.reason == planmod.ADOPT_MARK


def test_adopt_updates_a_different_object() -> None:
    body = unmarked_dashboard()
    body["tabs"][0]["panels"][0]["title"] = "Calls"
    live = replaced(live_set(), "dashboard", DASH_KEY, body=body)
    change = by_key(build_plan(desired_set(), live, adopt=True), "dashboard", DASH_KEY)
    assert change.action == "update" and change.reason == planmod.ADOPT_UPDATE
    assert [(f.path, f.old, f.new) for f in change.fields] == [
        ("tabs[0].panels[0].title", "Calls", "Invocations")
    ]


def test_unmanaged_objects_not_in_code_are_counted_but_never_touched() -> None:
    stranger = res("dashboard", ("Team", "Theirs"), {"title": "Theirs"}, server_id="555")
    plan = build_plan(desired_set(), [*live_set(), stranger], prune=True)
    change = by_key(plan, "dashboard", ("Team", "Theirs"))
    assert (change.action, change.reason) == ("noop", "unmanaged; left alone")


def test_system_objects_are_ignored() -> None:
    system = [
        res(
            "folder",
            ("dashboards", "default"),
            {"folderId": "default", "name": "default", "description": "default"},
            server_id="default",
        ),
        res(
            "template",
            ("prebuilt_slack",),
            {"name": "prebuilt_slack", "isPrebuilt": True, "body": "x"},
            server_id="prebuilt_slack",
        ),
    ]
    plan = build_plan(desired_set(), [*live_set(), *system], prune=True)
    assert len(plan.changes) == 6


def test_the_builtin_default_folder_is_never_created() -> None:
    plan = build_plan([res("folder", ("dashboards", "default"), {"name": "default"})], [])
    assert [(c.action, c.reason) for c in plan.changes] == [("noop", planmod.BUILTIN)]


# --- ownership by reference (kinds without a marker) -------------------------------------------


def email_world(alert_tags: list[str]) -> tuple[list[Resource], list[Resource]]:
    dest_key = ("oncall_mail",)
    alert_body = live_alert()
    alert_body["destinations"] = ["oncall_mail"]
    alert_body["tags"] = alert_tags
    live = [
        res("destination", dest_key, live_email_destination(), server_id="oncall_mail"),
        res("alert", ALERT_KEY, alert_body, server_id="A1"),
    ]
    want = desired_email_destination()
    want["emails"] = ["oncall@example.com"]  # someone was removed
    return [res("destination", dest_key, want)], live


def test_email_destination_used_by_a_managed_alert_is_managed() -> None:
    desired, live = email_world(["prod", ALERT_MARKER_TAG])
    change = by_key(build_plan(desired, live), "destination", ("oncall_mail",))
    assert change.action == "update"
    assert [f.path for f in change.fields] == ["emails"]


def test_email_destination_also_used_by_an_unmanaged_alert_is_not_managed() -> None:
    desired, live = email_world(["prod", ALERT_MARKER_TAG])
    other = live_alert()
    other["tags"] = ["prod"]
    other["destinations"] = ["oncall_mail"]
    live.append(res("alert", ("Team", "theirs"), other, server_id="A2"))
    change = by_key(build_plan(desired, live), "destination", ("oncall_mail",))
    assert change.action == "noop" and change.reason == planmod.NOT_MANAGED_UNMARKABLE


def test_adopting_an_unmarkable_object_warns_about_the_limit() -> None:
    desired, live = email_world(["prod"])
    plan = build_plan(desired, live, adopt=True)
    assert by_key(plan, "destination", ("oncall_mail",)).action == "update"
    assert any("cannot carry an ownership marker" in w for w in plan.warnings)


def test_template_used_by_a_managed_destination_is_managed_and_prunable_with_it() -> None:
    live = live_set()
    assert ("template", ("ops_payload",), "ops_payload") in managed_set(live)
    desired = [r for r in desired_set() if r.kind in ("folder", "dashboard")]
    desired += [r for r in desired_set() if r.kind == "alert"]
    desired[-1].body["destinations"] = []
    plan = build_plan(desired, live, prune=True)
    assert by_key(plan, "destination", ("ops_webhook",)).action == "delete"
    assert by_key(plan, "template", ("ops_payload",)).action == "delete"


def test_template_still_used_by_code_is_not_deleted() -> None:
    desired = without(desired_set(), "template", ("ops_payload",))
    change = by_key(build_plan(desired, live_set(), prune=True), "template", ("ops_payload",))
    assert (change.action, change.reason) == ("noop", planmod.STILL_USED)


def test_unreferenced_template_is_not_o2kits() -> None:
    live = [res("template", ("ops_payload",), live_template(), server_id="ops_payload")]
    body = desired_template()
    body["body"] = "changed"
    change = by_key(
        build_plan([res("template", ("ops_payload",), body)], live), "template", ("ops_payload",)
    )
    assert change.action == "noop" and change.reason == planmod.NOT_MANAGED_UNMARKABLE


# --- prune -----------------------------------------------------------------------------------


def test_managed_object_not_in_code_needs_prune() -> None:
    desired = without(desired_set(), "dashboard", DASH_KEY)
    change = by_key(build_plan(desired, live_set()), "dashboard", DASH_KEY)
    assert (change.action, change.reason) == ("noop", "not in code; use --prune to delete")
    change = by_key(build_plan(desired, live_set(), prune=True), "dashboard", DASH_KEY)
    assert change.action == "delete"


def test_prune_never_deletes_an_unmanaged_object() -> None:
    live = replaced(live_set(), "dashboard", DASH_KEY, body=unmarked_dashboard())
    desired = without(desired_set(), "dashboard", DASH_KEY)
    change = by_key(build_plan(desired, live, prune=True), "dashboard", DASH_KEY)
    assert (change.action, change.reason) == ("noop", planmod.UNMANAGED)


def test_folder_that_still_holds_dashboards_is_not_deleted() -> None:
    desired = [r for r in desired_set() if r.kind != "folder" and r.kind != "dashboard"]
    hand_made = res("dashboard", ("Bedrock", "Hand made"), {"title": "Hand made"}, server_id="77")
    plan = build_plan(desired, [*live_set(), hand_made], prune=True)
    # The folder is no longer declared: what is in it is never touched, not even by --prune.
    assert by_key(plan, "dashboard", DASH_KEY).reason == planmod.UNDECLARED_FOLDER
    assert by_key(plan, "folder", ("dashboards", "Bedrock")).reason == planmod.STILL_USED
    assert by_key(plan, "folder", ("alerts", "Bedrock")).reason == planmod.STILL_USED  # alert stays


# --- duplicates ------------------------------------------------------------------------------


def test_an_unmarked_twin_of_ours_is_named_and_left_alone() -> None:
    twin = res("dashboard", DASH_KEY, unmarked_dashboard(), server_id="7400000000000000002")
    plan = build_plan(desired_set(), [*live_set(), twin])
    changes = [c for c in plan.changes if c.kind == "dashboard" and c.key == DASH_KEY]
    by_id = {c.live.server_id: c for c in changes if c.live}
    assert by_id["7400000000000000002"].reason == planmod.NOT_MANAGED
    assert by_id["7400000000000000002"].action == "noop"
    assert by_id["7400000000000000001"].action in ("noop", "update")


def test_two_unmarked_objects_with_a_key_in_code_and_adopt_is_an_error_naming_both_ids() -> None:
    one = res("dashboard", DASH_KEY, unmarked_dashboard(), server_id="7400000000000000001")
    twin = res("dashboard", DASH_KEY, unmarked_dashboard(), server_id="7400000000000000002")
    live = [r for r in live_set() if r.kind != "dashboard"]
    with pytest.raises(PlanError) as err:
        build_plan(desired_set(), [*live, one, twin], adopt=True)
    assert "7400000000000000001" in err.value.message
    assert "7400000000000000002" in err.value.message
    assert "dashboard" in err.value.message and "Bedrock/Bedrock overview" in err.value.message


def test_unrelated_unmanaged_look_alikes_are_not_an_error() -> None:
    a = res("dashboard", ("Team", "Same"), {"title": "Same"}, server_id="1")
    b = res("dashboard", ("Team", "Same"), {"title": "Same"}, server_id="2")
    plan = build_plan(desired_set(), [*live_set(), a, b])
    assert [c.live.server_id for c in plan.changes if c.key == ("Team", "Same") and c.live] == [
        "1",
        "2",
    ]


def test_duplicate_desired_keys_name_both_files() -> None:
    twice = [*desired_set(), res("alert", ALERT_KEY, desired_alert(), source="alerts/copy.yaml")]
    with pytest.raises(PlanError, match="alerts/bedrock.yaml:1 and alerts/copy.yaml:1"):
        build_plan(twice, live_set())


# --- alerts: replace and streams -------------------------------------------------------------


def test_stream_change_is_a_replace() -> None:
    desired = desired_set()
    desired[-1].body["stream_name"] = "bedrock_v2"
    change = by_key(build_plan(desired, live_set()), "alert", ALERT_KEY)
    assert change.action == "replace"
    assert ("stream_name", "bedrock", "bedrock_v2") in [
        (f.path, f.old, f.new) for f in change.fields
    ]
    assert "cannot change in place" in change.reason


def test_alert_on_a_missing_stream_warns_and_is_marked() -> None:
    plan = build_plan(desired_set(), [], existing_streams={("logs", "other")})
    change = by_key(plan, "alert", ALERT_KEY)
    assert change.missing_stream == ("logs", "bedrock")
    assert change.reason.startswith("stream-missing: ")
    assert plan.warnings == (
        'alert "Bedrock/bedrock_error_rate": stream logs/bedrock does not exist yet: OpenObserve '
        "will refuse the alert (404 Stream not found). Ingest data first or run apply with "
        "--create-streams.",
    )


def test_existing_stream_or_unknown_streams_give_no_warning() -> None:
    assert build_plan(desired_set(), [], existing_streams={("logs", "bedrock")}).warnings == ()
    assert build_plan(desired_set(), []).warnings == ()


# --- checksum --------------------------------------------------------------------------------


def changed_live() -> list[Resource]:
    body = live_alert()
    body["trigger_condition"]["threshold"] = 5
    return replaced(live_set(), "alert", ALERT_KEY, body=body)


def test_checksum_is_stable_and_hex() -> None:
    a = plan_checksum(build_plan(desired_set(), changed_live(), org="default"))
    b = plan_checksum(build_plan(desired_set(), changed_live(), org="default"))
    assert a == b and len(a) == 64 and int(a, 16) >= 0


def test_checksum_is_the_same_in_another_process() -> None:
    here = plan_checksum(build_plan(desired_set(), changed_live(), org="default"))
    tests = Path(__file__).parent
    code = (
        f"import sys; sys.path.insert(0, {str(tests)!r})\n"
        "from test_plan import build_plan, desired_set, changed_live, plan_checksum\n"
        "print(plan_checksum(build_plan(desired_set(), changed_live(), org='default')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert out.stdout.strip() == here


def test_checksum_changes_when_the_live_hash_changes() -> None:
    def dashboard_plan(hash_: str) -> str:
        body = live_dashboard()
        body["tabs"][0]["panels"][0]["title"] = "Calls"
        live = replaced(
            live_set(),
            "dashboard",
            DASH_KEY,
            body=body,
            meta={"hash": hash_, "folder_id": "7395551234567890123"},
        )
        return plan_checksum(build_plan(desired_set(), live))

    assert dashboard_plan("1") != dashboard_plan("2")


def test_checksum_changes_with_what_would_be_sent() -> None:
    base = plan_checksum(build_plan(desired_set(), []))
    desired = desired_set()
    desired[-1].body["description"] = "other"
    assert plan_checksum(build_plan(desired, [])) != base
    desired = desired_set()
    desired[3].body["url"] = SECRET_URL + "-rotated"
    assert plan_checksum(build_plan(desired, [])) != base


def test_checksum_ignores_unrelated_unmanaged_objects() -> None:
    base = plan_checksum(build_plan(desired_set(), changed_live()))
    stranger = res("dashboard", ("Team", "Theirs"), {"title": "Theirs"}, server_id="555")
    assert plan_checksum(build_plan(desired_set(), [*changed_live(), stranger])) == base


def test_checksum_input_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = planmod._digest

    def spy(value: Any) -> str:
        seen.append(json.dumps(value, default=str))
        return real(value)

    live = copy.deepcopy(live_set())
    live[3].body["url"] = "https://hooks.example.com/old-s3cr3t"
    monkeypatch.setattr(planmod, "_digest", spy)
    plan = build_plan(desired_set(), live)
    assert [f.secret for f in by_key(plan, "destination", ("ops_webhook",)).fields] == [True]
    plan_checksum(plan)
    final = seen[-1]  # the document whose digest is the checksum
    assert SECRET_URL not in final and "old-s3cr3t" not in final


# --- delete guard ----------------------------------------------------------------------------


def dashboards(n: int) -> list[Resource]:
    out = []
    for i in range(n):
        body = copy.deepcopy(desired_dashboard())
        body["title"] = f"D{i}"
        body["description"] = MARKER_TEXT
        out.append(res("dashboard", ("Bedrock", f"D{i}"), body, server_id=str(i)))
    return out


def test_delete_guard_allows_a_small_share() -> None:
    live = dashboards(4)
    desired = [res("dashboard", r.key, {**r.body, "description": ""}) for r in live[1:]]
    plan = build_plan(desired, live, prune=True)
    assert len(plan.of("delete")) == 1
    assert delete_guard(plan, live) == []


def test_delete_guard_names_the_kind_over_the_threshold() -> None:
    live = dashboards(4)
    desired = [res("dashboard", live[0].key, {**live[0].body, "description": ""})]
    plan = build_plan(desired, live, prune=True)
    assert delete_guard(plan, live) == [
        "would delete 3 of 4 o2kit-managed dashboards (75%, more than the 30% allowed)"
    ]
    assert delete_guard(plan, live, max_fraction=0.8) == []
