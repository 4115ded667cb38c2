"""Issue 11, harm 3: deletes that are not ours.

The real CLI against the fake OpenObserve: ``apply --prune`` in one repository never deletes
another o2kit repository's objects in the same org, nor a UI copy of a managed dashboard (the
copy carries the marker along), nor anything in a folder the project does not declare — not even
with ``--force``; ``--max-delete-fraction`` must be finite and in [0, 1]; and a repository
without a ``project:`` is refused ``--prune`` before any request.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ownership_world import O2, UiUser, make_repo, new_fake, plan_changes

from o2kit.sync import plan as planmod


@pytest.fixture()
def o2(monkeypatch: pytest.MonkeyPatch) -> O2:
    return O2(new_fake(), monkeypatch)


def _titles(o2: O2) -> list[str]:
    return sorted(d["data"]["title"] for d in o2.fake.dashboards())


def test_prune_in_repo_a_never_deletes_repo_b_objects_in_the_same_org(
    o2: O2, tmp_path: Path
) -> None:
    # Repository B: one dashboard, in the same folder as A's.
    b = make_repo(tmp_path / "b", "team-b")
    (b / "alerts" / "bedrock.yaml").unlink()
    shutil.rmtree(b / "slos")  # their burn-rate alerts notify the destination just removed
    config = (b / "o2kit.yaml").read_text(encoding="utf-8")  # and the budgets' alerts
    (b / "o2kit.yaml").write_text(config.split("\nbudgets:")[0] + "\n", encoding="utf-8")
    board = b / "dashboards" / "bedrock.yaml"
    board.write_text(board.read_text(encoding="utf-8").replace(
        "title: Bedrock overview", "title: Team B overview"), encoding="utf-8")
    assert o2(b, "apply", "--auto-approve").exit_code == 0

    a = make_repo(tmp_path / "a", "team-a")
    result = o2(a, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert _titles(o2) == ["Bedrock overview", "Team B overview"]

    # A drops its dashboard and prunes, forced: only A's dashboard goes.
    (a / "dashboards" / "bedrock.yaml").unlink()
    plan = o2.plan_json(a, "--prune")
    reasons = {c["address"]: c["reason"] for c in plan_changes(plan, "dashboard")}
    assert reasons['dashboard "Bedrock/Team B overview"'] == planmod.OTHER_PROJECT.format(
        project="team-b")
    text = o2(a, "plan", "--prune").output  # named one by one, not only counted
    assert 'dashboard "Bedrock/Team B overview"' in text.split("Not ours (left alone):")[1]
    assert "not ours (project team-b)" in text
    result = o2(a, "apply", "--auto-approve", "--prune", "--force")
    assert result.exit_code == 0, result.output
    assert _titles(o2) == ["Team B overview"]
    # ...and B still plans clean: nothing of it was touched.
    assert o2(b, "plan", "--detailed-exitcode").exit_code == 0


def test_a_ui_copy_of_a_managed_dashboard_is_not_deleted(o2: O2, tmp_path: Path) -> None:
    a = make_repo(tmp_path / "a", "team-a")
    assert o2(a, "apply", "--auto-approve").exit_code == 0
    copy_id = UiUser(o2.fake).copy_dashboard("Bedrock", "Bedrock overview", "My copy")
    copied = next(d for d in o2.fake.dashboards() if d["data"]["title"] == "My copy")
    assert "Managed by o2kit" in copied["data"]["description"]

    plan = o2.plan_json(a, "--prune")
    copy_change = next(c for c in plan_changes(plan, "dashboard") if c["server_id"] == copy_id)
    assert (copy_change["action"], copy_change["reason"]) == ("noop", planmod.COPY)
    result = o2(a, "apply", "--auto-approve", "--prune", "--force")
    assert result.exit_code == 0, result.output
    assert _titles(o2) == ["Bedrock overview", "My copy"]


def test_objects_in_an_undeclared_folder_are_untouched_even_with_prune_force(
    o2: O2, tmp_path: Path
) -> None:
    # The project first deployed into the shared folder "Shared", then moved to "Bedrock".
    a = make_repo(tmp_path / "a", "team-a", folder="Shared")
    assert o2(a, "apply", "--auto-approve").exit_code == 0
    shared_alerts = sorted(x["name"] for x in o2.fake.alerts())
    assert shared_alerts
    (a / "o2kit.yaml").write_text((a / "o2kit.yaml").read_text(encoding="utf-8").replace(
        ": Shared", ": Bedrock"), encoding="utf-8")

    plan = o2.plan_json(a, "--prune")
    shared = [c for c in plan["changes"] if c["kind"] in ("dashboard", "alert")
              and c["key"][0] == "Shared"]
    assert shared and {c["reason"] for c in shared} == {planmod.UNDECLARED_FOLDER}
    result = o2(a, "apply", "--auto-approve", "--prune", "--force")
    assert result.exit_code == 0, result.output
    # Everything in "Shared" is still there; the project now also lives in "Bedrock".
    shared_id = UiUser(o2.fake).folder_id("alerts", "Shared")
    alerts = o2.fake.alerts()
    assert sorted(x["name"] for x in alerts if x["folder_id"] == shared_id) == shared_alerts
    assert _titles(o2) == ["Bedrock overview", "Bedrock overview"]


@pytest.mark.parametrize("value", ["nan", "-0.1", "1.5", "inf"])
def test_max_delete_fraction_must_be_finite_in_0_1(o2: O2, tmp_path: Path, value: str) -> None:
    a = make_repo(tmp_path / "a", "team-a")
    assert o2(a, "apply", "--auto-approve").exit_code == 0
    (a / "dashboards" / "bedrock.yaml").unlink()
    writes = o2.fake.write_count()
    result = o2(a, "apply", "--auto-approve", "--prune", "--max-delete-fraction", value)
    assert result.exit_code == 64  # a usage error (README "Exit codes")
    assert "--max-delete-fraction" in result.output
    assert o2.fake.write_count() == writes
    assert _titles(o2) == ["Bedrock overview"]


def test_prune_without_a_project_id_is_refused_before_any_request(
    o2: O2, tmp_path: Path
) -> None:
    a = make_repo(tmp_path / "a", None)
    result = o2(a, "plan", "--prune")
    assert result.exit_code == 1
    assert "has no `project:`" in result.output and "project: " in result.output
    assert o2.fake.request_log == []
