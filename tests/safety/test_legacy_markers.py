"""Issue 11, harms 3-5: migrating the markers of o2kit before project identity.

Objects o2kit wrote before ``project:`` existed carry the plain marker ("Managed by o2kit…",
tag ``managed-by:o2kit``, ``metadata["managed-by"] = "o2kit"``). Once the repository names a
project, each one whose key is in code is updated in place — same server id, never a
delete/recreate — to carry the project and its key; a legacy one whose key is not in code may be
another repository's and is never pruned.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ownership_world import O2, make_repo, new_fake, plan_changes, set_project

from o2kit import kinds
from o2kit.sync import plan as planmod


@pytest.fixture()
def o2(monkeypatch: pytest.MonkeyPatch) -> O2:
    return O2(new_fake(), monkeypatch)


def _ids(o2: O2) -> dict[str, str]:
    ids = {f'dashboard {d["data"]["title"]}': str(d["data"]["dashboardId"])
           for d in o2.fake.dashboards()}
    ids.update({f'alert {a["name"]}': str(a["id"]) for a in o2.fake.alerts()})
    return ids


def test_legacy_markers_are_migrated_in_place(o2: O2, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", None)
    assert o2(root, "apply", "--auto-approve").exit_code == 0  # plain (legacy) markers
    board = o2.fake.dashboards()[0]["data"]
    assert board["description"].endswith(kinds.MARKER_TEXT)
    before = _ids(o2)

    set_project(root, "team-a")
    plan = o2.plan_json(root)
    updates = {c["address"]: c["reason"] for c in plan["changes"] if c["action"] == "update"}
    assert set(updates.values()) == {planmod.MIGRATE}
    assert {c["kind"] for c in plan["changes"] if c["action"] == "update"} == {
        "folder", "template", "destination", "dashboard", "alert", "slo"}
    assert not [c for c in plan["changes"] if c["action"] in ("create", "delete", "replace")]

    result = o2(root, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert _ids(o2) == before  # same objects: updated, not recreated
    token = kinds.identity_token("team-a", "dashboard", ("Bedrock", "Bedrock overview"))
    assert o2.fake.dashboards()[0]["data"]["description"].endswith(f"[{token}]")
    for alert in o2.fake.alerts():
        tok = kinds.identity_token("team-a", "alert", ("Bedrock", alert["name"]))
        assert tok in alert["tags"]
    assert o2(root, "plan", "--detailed-exitcode").exit_code == 0


def test_a_legacy_object_not_in_code_is_never_pruned(o2: O2, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", None)
    assert o2(root, "apply", "--auto-approve").exit_code == 0
    # The repository (now with a project id) no longer has the dashboard.
    set_project(root, "team-a")
    (root / "dashboards" / "bedrock.yaml").unlink()
    plan = o2.plan_json(root, "--prune")
    (board,) = plan_changes(plan, "dashboard")
    assert (board["action"], board["reason"]) == ("noop", planmod.LEGACY_NOT_IN_CODE)
    result = o2(root, "apply", "--auto-approve", "--prune", "--force")
    assert result.exit_code == 0, result.output
    assert [d["data"]["title"] for d in o2.fake.dashboards()] == ["Bedrock overview"]
