"""Names the server reserves: org default's templates are listed (and taken) in every org."""

from __future__ import annotations

import pytest

from o2kit.errors import PlanError
from o2kit.model import Resource
from o2kit.sync.plan import build_plan

DESIRED = Resource("template", ("ops",), {"name": "ops", "type": "http", "body": "{}"})
FOREIGN = Resource("template", ("ops",), {"name": "ops", "type": "http", "body": "{}",
                                          "isDefault": True}, server_id="ops")


def test_a_template_of_org_default_blocks_the_same_name_elsewhere() -> None:
    with pytest.raises(PlanError, match='already exists in org "default"'):
        build_plan([DESIRED], [FOREIGN], org="prod")


def test_in_org_default_it_is_simply_the_live_template() -> None:
    plan = build_plan([DESIRED], [FOREIGN], org="default")
    (change,) = plan.changes
    assert change.action == "noop"  # unmarked: left alone, not refused


def test_system_templates_are_not_planned_for() -> None:
    prebuilt = Resource("template", ("prebuilt_slack",),
                        {"name": "prebuilt_slack", "isPrebuilt": True, "body": "x"})
    assert build_plan([], [prebuilt], org="prod").changes == ()


def test_folder_default_is_referenced_not_refused() -> None:
    """Desired folder "default" (a dashboard or alert kept in it) names the built-in folder: a
    no-op, never a clash, while a template of org default still is one elsewhere."""
    from o2kit.sync.plan import BUILTIN

    wanted = [Resource("folder", (t, "default"), {"name": "default", "description": ""})
              for t in ("dashboards", "alerts")]
    live = [Resource("folder", (t, "default"), {"folderId": "default", "name": "default",
                                                "description": "default"}, server_id="default")
            for t in ("dashboards", "alerts")]
    for org in ("default", "prod"):
        plan = build_plan(wanted, live, org=org, prune=True, adopt=True)
        assert [(c.action, c.reason) for c in plan.changes] == [("noop", BUILTIN)] * 2
    with pytest.raises(PlanError, match='template "ops"') as caught:
        build_plan([*wanted, DESIRED], [*live, FOREIGN], org="prod")
    assert "folder" not in str(caught.value)
