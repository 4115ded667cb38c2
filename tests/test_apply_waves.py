"""Which phases of an apply run at once (``sync.remote._waves``): a phase waits only for the
kinds its changes need, and runs as late as what needs it allows, so the kinds nothing needs go
together. Plain values: no server."""

from __future__ import annotations

from typing import Any

from o2kit.model import Change, Plan, Resource
from o2kit.sync.remote import _in_turns, _phases, _waves


def change(action: str, kind: str, key: tuple[str, ...], body: dict[str, Any] | None = None
           ) -> Change:
    desired = Resource(kind, key, body or {}) if action != "delete" else None
    live = Resource(kind, key, body or {}, server_id="1") if action != "create" else None
    return Change(action, kind, key, desired=desired, live=live)


def kinds_by_wave(plan: Plan) -> list[list[str]]:
    phases = _phases(plan)
    return [[f"{phases[i][0].action} {phases[i][0].kind}" for i in wave]
            for wave in _waves(phases)]


def test_dashboards_and_alerts_go_together_after_what_they_need() -> None:
    plan = Plan((
        change("create", "folder", ("dashboards", "Team")),
        change("create", "folder", ("alerts", "Team")),
        change("create", "template", ("slack",)),
        change("create", "destination", ("slack",), {"template": "slack"}),
        change("create", "dashboard", ("Team", "Overview")),
        change("create", "alert", ("Team", "Throttling"),
               {"destinations": ["slack"], "template": "slack"}),
        change("delete", "dashboard", ("Team", "Old")),
        change("delete", "folder", ("dashboards", "Old")),
    ))
    assert kinds_by_wave(plan) == [
        ["create template"],
        ["create folder", "create destination"],
        ["create dashboard", "create alert"],
        ["delete dashboard"],
        ["delete folder"],
    ]


def test_a_phase_waits_only_for_kinds_its_changes_need() -> None:
    # A destination without a template needs nothing: it goes with the folder the alert
    # needs. A template nothing here needs goes last, with the alert.
    plan = Plan((
        change("create", "folder", ("alerts", "Team")),
        change("create", "template", ("mail",)),
        change("create", "destination", ("pager",), {"url": "https://x"}),
        change("update", "alert", ("Team", "Errors"), {"destinations": ["pager"]}),
    ))
    assert kinds_by_wave(plan) == [["create folder", "create destination"],
                                   ["create template", "update alert"]]


def test_a_wave_deals_its_phases_changes_in_turns() -> None:
    dashboards = [change("create", "dashboard", ("T", f"d{i}")) for i in range(3)]
    alerts = [change("create", "alert", ("T", f"a{i}")) for i in range(5)]
    wave = [dashboards, alerts]
    assert [wave[i][j].key[1] for i, j in _in_turns(wave)] == [
        "d0", "a0", "d1", "a1", "d2", "a2", "a3", "a4"]


def test_without_changes_there_are_no_waves() -> None:
    assert _waves(_phases(Plan(()))) == []
