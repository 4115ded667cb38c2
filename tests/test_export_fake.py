"""``o2kit export`` end to end against the fake OpenObserve: dashboards of schema versions 1, 3, 5,
7 and 8 and an alert (with its destination and alert template) are created over HTTP the way a UI
user would, exported into a fresh project, and then:

- ``plan --adopt`` proposes only to add o2kit's ownership marker — no field changes, for every
  schema version (the live v1..v7 bodies are compared through the UI's upgrade);
- ``apply --adopt`` succeeds, after which ``plan --detailed-exitcode`` reports no changes;
- no secret reaches a file; existing files are not overwritten without --force.

The dashboards are hand-made in the shapes of real OpenObserve exports of each version.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from o2kit import kinds
from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.cli import export as cli_export
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults
from o2kit.sync import plan

if not any(c.name == "export" for c in cli.app.registered_commands):
    cli_export.register(cli.app)

REPO = Path(__file__).resolve().parents[1]
SQL = (
    'SELECT histogram(_timestamp) AS "x_axis_1", count(_timestamp) AS "y_axis_1" '
    'FROM "bedrock_logs" GROUP BY x_axis_1 ORDER BY x_axis_1 ASC'
)
HOOK_URL = "https://hooks.example.com/services/T000/very-secret-token"
HOOK_AUTH = "Bearer s3cr3t-value"


def _x(version: int) -> dict[str, Any]:
    return {"label": "Time", "alias": "x_axis_1", "column": "_timestamp", "color": None,
            "aggregationFunction": "histogram"}


def _y() -> dict[str, Any]:
    return {"label": "Calls", "alias": "y_axis_1", "column": "_timestamp", "color": None,
            "aggregationFunction": "count"}


def dashboard_v1() -> dict[str, Any]:
    return {
        "version": 1,
        "title": "Calls v1",
        "description": "from the first UI",
        "panels": [{
            "id": "Panel_ID1000001", "type": "line",
            "config": {"title": "Calls", "description": "", "show_legends": True,
                       "legends_position": None, "unit": None, "unit_custom": None,
                       "promql_legend": ""},
            "queryType": "sql", "query": SQL, "customQuery": False,
            "fields": {"stream": "bedrock_logs", "stream_type": "logs",
                       "x": [_x(1)], "y": [_y()], "filter": []},
        }],
        "layouts": [{"panelId": "Panel_ID1000001", "x": 0, "y": 0, "w": 6, "h": 9, "i": 1}],
    }


def _panel(layout: dict[str, int], filt: Any, *, breakdown: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {"stream": "bedrock_logs", "stream_type": "logs", "x": [_x(3)],
                              "y": [_y()], "z": [], "filter": filt}
    if breakdown:
        fields["breakdown"] = []
    return {
        "id": "Panel_ID2000001", "type": "line", "title": "Calls", "description": "",
        "config": {"show_legends": True, "legends_position": None, "decimals": 2,
                   "axis_border_show": False, "legend_width": {"unit": "px"},
                   "base_map": {"type": "osm"}, "map_view": {"zoom": 1, "lat": 0, "lng": 0}},
        "queryType": "sql",
        "queries": [{"query": SQL, "customQuery": False, "fields": fields,
                     "config": {"promql_legend": "", "layer_type": "scatter",
                                "weight_fixed": 1, "limit": 0, "min": 0, "max": 100}}],
        "layout": layout,
    }


def _tabbed(version: int, title: str, panel: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": version, "title": title, "description": "", "role": "",
        "tabs": [{"tabId": "default", "name": "Default", "panels": [panel]}],
        "variables": {"list": [], "showDynamicFilters": True},
    }
    if version >= 5:
        out["defaultDatetimeDuration"] = {"type": "relative", "relativeTimePeriod": "15m",
                                          "startTime": None, "endTime": None}
    return out


def dashboard_v3() -> dict[str, Any]:
    return _tabbed(3, "Calls v3", _panel({"x": 0, "y": 0, "w": 24, "h": 9, "i": 1}, [],
                                         breakdown=False))


def dashboard_v5() -> dict[str, Any]:
    condition = {"type": "condition", "values": [], "column": "message_modelid",
                 "operator": "!=", "value": "none", "logicalOperator": "AND",
                 "filterType": "condition"}
    group = {"filterType": "group", "logicalOperator": "AND", "conditions": [condition]}
    return _tabbed(5, "Calls v5", _panel({"x": 0, "y": 0, "w": 24, "h": 9, "i": 1}, group,
                                         breakdown=True))


def dashboard_v7() -> dict[str, Any]:
    group = {"filterType": "group", "logicalOperator": "AND", "conditions": []}
    return _tabbed(7, "Calls v7", _panel({"x": 0, "y": 0, "w": 96, "h": 18, "i": 1}, group,
                                         breakdown=True))


def dashboard_v8() -> dict[str, Any]:
    panel = {
        "id": "calls", "type": "line", "title": "Calls", "description": "", "queryType": "sql",
        "config": {"show_legends": True, "legends_position": None, "decimals": 0},
        "queries": [{
            "query": SQL, "vrlFunctionQuery": None, "customQuery": True,
            "fields": {"stream": "bedrock_logs", "stream_type": "logs",
                       "x": [{"label": "Time", "alias": "x_axis_1", "type": "custom",
                              "color": None}],
                       "y": [{"label": "Calls", "alias": "y_axis_1", "type": "custom",
                              "color": "#e53935"}],
                       "z": [], "filter": {"filterType": "group", "logicalOperator": "AND",
                                           "conditions": []}},
            "config": {"promql_legend": ""},
        }],
        "layout": {"x": 0, "y": 0, "w": 96, "h": 18, "i": 1},
    }
    return {"version": 8, "title": "Calls v8", "description": "current",
            "tabs": [{"tabId": "main", "name": "Main", "panels": [panel]}]}


DASHBOARDS = {1: dashboard_v1, 3: dashboard_v3, 5: dashboard_v5, 7: dashboard_v7, 8: dashboard_v8}


class UiUser:
    """Someone clicking in the OpenObserve UI: plain HTTP to the fake."""

    def __init__(self, fake: FakeOpenObserve) -> None:
        self.http = httpx.Client(base_url="http://o2.test", transport=fake.transport(Faults()),
                                 auth=(DEFAULT_USER, DEFAULT_PASSWORD))

    def ok(self, response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()

    def folder(self, folder_type: str, name: str) -> str:
        data = self.ok(self.http.post(f"/api/v2/default/folders/{folder_type}",
                                      json={"name": name, "description": ""}))
        return str(data["folderId"])

    def dashboard(self, folder_id: str, body: dict[str, Any]) -> str:
        data = self.ok(self.http.post("/api/default/dashboards", params={"folder": folder_id},
                                      json=body))
        return str(data[f"v{data['version']}"]["dashboardId"])


@pytest.fixture()
def fake() -> FakeOpenObserve:
    server = FakeOpenObserve(seed=3)
    server.add_stream("default", "bedrock_logs")
    server.add_stream("default", "bedrock_metrics")
    return server


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("o2kit.yaml", "prices.yaml"):
        shutil.copy(REPO / name, root / name)
    # the shipped budgets render from templates/ and notify bedrock_slack, neither here
    config = (root / "o2kit.yaml").read_text(encoding="utf-8")
    (root / "o2kit.yaml").write_text(config.split("\nbudgets:")[0] + "\n", encoding="utf-8")
    return root


class O2:
    def __init__(self, project: Path, fake: FakeOpenObserve, mp: pytest.MonkeyPatch) -> None:
        self.project, self.fake, self.mp = project, fake, mp
        mp.setenv("OPENOBSERVE_URL", "http://o2.test")
        mp.setenv("OPENOBSERVE_USER", DEFAULT_USER)
        mp.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
        mp.delenv("OPENOBSERVE_ORG", raising=False)
        mp.setenv("CI", "true")

    def __call__(self, *args: str) -> Any:
        self.mp.setattr(cli_base, "_TRANSPORT", self.fake.transport(Faults()))
        return CliRunner().invoke(cli.app, ["--project", str(self.project), *args])

    def plan(self, *args: str) -> dict[str, Any]:
        result = self("plan", "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture()
def o2(project: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch) -> O2:
    return O2(project, fake, monkeypatch)


def _populate(fake: FakeOpenObserve) -> dict[int, str]:
    ui = UiUser(fake)
    folder = ui.folder("dashboards", "Imported")
    ids = {v: ui.dashboard(folder, make()) for v, make in DASHBOARDS.items()}
    ui.ok(ui.http.post("/api/default/alerts/templates", json={
        "name": "ops_body", "type": "http", "body": '{"text": "{alert_name} fired\\n{rows}"}'}))
    ui.ok(ui.http.post("/api/default/alerts/destinations", json={
        "name": "ops_hook", "type": "http", "url": HOOK_URL, "method": "post",
        "headers": {"Authorization": HOOK_AUTH}, "template": "ops_body"}))
    alert_folder = ui.folder("alerts", "Ops")
    ui.ok(ui.http.post("/api/v2/default/alerts", params={"folder": alert_folder}, json={
        "name": "many_calls", "stream_type": "logs", "stream_name": "bedrock_logs",
        "is_real_time": False, "enabled": True, "description": "calls spike",
        "query_condition": {"type": "sql", "sql":
                            'SELECT count(_timestamp) AS calls FROM "bedrock_logs" '
                            "HAVING count(_timestamp) > 100"},
        "trigger_condition": {"period": 10, "operator": ">=", "threshold": 1, "frequency": 5,
                              "silence": 30},
        "destinations": ["ops_hook"], "tags": ["Team:ML"], "row_template": "{calls} calls",
    }))
    return ids


def _all_text(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file())


def test_export_then_plan_adopt_only_marks_and_apply_converges(o2: O2) -> None:
    _populate(o2.fake)
    result = o2("export", "--all")
    assert result.exit_code == 0, result.output
    root = o2.project
    for version in DASHBOARDS:
        assert (root / "dashboards" / f"calls-v{version}.yaml").is_file()
        body = json.loads((root / "templates/exported/dashboards/imported"
                           / f"calls-v{version}.json").read_text())
        assert body["version"] == 8
        assert not {"dashboardId", "owner", "created", "hash", "role"} & body.keys()
    assert (root / "alerts" / "ops.yaml").is_file()
    # Secrets never reach a file; the variables to set are listed instead.
    text = _all_text(root)
    assert "very-secret-token" not in text and "s3cr3t" not in text
    assert "O2KIT_OPS_HOOK_URL" in result.output
    assert "O2KIT_OPS_HOOK_HEADER_AUTHORIZATION" in result.output
    assert "very-secret-token" not in result.output

    o2.mp.setenv("O2KIT_OPS_HOOK_URL", HOOK_URL)
    o2.mp.setenv("O2KIT_OPS_HOOK_HEADER_AUTHORIZATION", HOOK_AUTH)
    assert o2("validate").exit_code == 0, o2("validate").output

    # Without --adopt: nothing to do, everything "exists but is not managed".
    plain = o2.plan()
    assert not plain["has_changes"], plain["changes"]
    reasons = Counter(c["reason"] for c in plain["changes"] if c["kind"] != "template")
    assert set(reasons) == {plan.NOT_MANAGED}
    assert sum(1 for c in plain["changes"] if c["kind"] == "dashboard") == len(DASHBOARDS)

    # With --adopt: only the ownership marker is added — no field differs, for any version.
    adopt = o2.plan("--adopt")
    for change in adopt["changes"]:
        assert change["fields"] == [], (change["address"], change["fields"])
        assert change["action"] in ("update", "noop"), change
        if change["action"] == "update":
            assert change["reason"] == plan.ADOPT_MARK, change
    adopted = {c["address"] for c in adopt["changes"] if c["action"] == "update"}
    assert {f'dashboard "Imported/Calls v{v}"' for v in DASHBOARDS} <= adopted
    assert 'alert "Ops/many_calls"' in adopted and 'destination "ops_hook"' in adopted

    applied = o2("apply", "--adopt", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    stored = o2.fake.dashboards()
    assert {d["version"] for d in stored} == {8}  # the adopt PUT writes v8
    assert all(kinds.MARKER_TEXT in d["data"]["description"] for d in stored)
    after = o2("plan", "--detailed-exitcode")
    assert after.exit_code == 0, after.output
    # The export is stable: exporting again (now managed, marker and all) gives the same files.
    def exported() -> dict[Path, str]:  # not the cache (.o2kit/), which plan and apply keep
        return {p: p.read_text() for p in root.rglob("*.json") if ".o2kit" not in p.parts}

    before = exported()
    shutil.rmtree(root / "templates")
    shutil.rmtree(root / "dashboards")
    shutil.rmtree(root / "alerts")
    assert o2("export", "--all").exit_code == 0
    assert exported() == before


def test_export_selects_by_folder_title_and_id(o2: O2) -> None:
    ids = _populate(o2.fake)
    dry = o2("export", "--all", "--dry-run")
    assert dry.exit_code == 0 and "would write dashboards/calls-v5.yaml" in dry.output
    assert not (o2.project / "dashboards").exists()
    result = o2("export", "--title", "Calls v5", "--kind", "dashboards")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (o2.project / "dashboards").iterdir()) == ["calls-v5.yaml"]
    assert not (o2.project / "alerts").exists()
    result = o2("export", "--id", ids[7], "--kind", "dashboards")
    assert result.exit_code == 0, result.output
    assert (o2.project / "dashboards" / "calls-v7.yaml").is_file()
    result = o2("export", "--folder", "Ops")
    assert result.exit_code == 0, result.output
    assert (o2.project / "alerts" / "ops.yaml").is_file()
    assert not (o2.project / "dashboards" / "calls-v8.yaml").exists()
    missing = o2("export", "--title", "No such dashboard")
    assert missing.exit_code == 1 and "No such dashboard" in missing.output
    nothing = o2("export")
    assert nothing.exit_code == 1 and "--all" in nothing.output


def test_export_refuses_to_overwrite_without_force_and_skips_what_is_in_code(o2: O2) -> None:
    _populate(o2.fake)
    target = o2.project / "dashboards" / "calls-v3.yaml"
    target.parent.mkdir()
    target.write_text("# mine\n")
    refused = o2("export", "--kind", "dashboards", "--all")
    assert refused.exit_code == 1 and "calls-v3.yaml" in refused.output
    assert target.read_text() == "# mine\n"
    assert not (o2.project / "templates").exists()  # nothing written at all
    forced = o2("export", "--kind", "dashboards", "--all", "--force")
    assert forced.exit_code == 0, forced.output
    assert "template: exported/dashboards/imported/calls-v3.json" in target.read_text()
    # Now they are in code: a second export skips them and writes nothing.
    again = o2("export", "--kind", "dashboards", "--all")
    assert again.exit_code == 0, again.output
    assert "skipped dashboard" in again.output and "wrote" not in again.output


def test_exported_v8_dashboard_is_the_server_body_minus_server_fields(o2: O2) -> None:
    _populate(o2.fake)
    assert o2("export", "--title", "Calls v8").exit_code == 0
    written = json.loads((o2.project / "templates/exported/dashboards/imported/calls-v8.json")
                         .read_text())
    stored = next(d["data"] for d in o2.fake.dashboards() if d["data"]["title"] == "Calls v8")
    expected = copy.deepcopy(stored)
    for key in ("dashboardId", "owner", "created", "role"):
        expected.pop(key, None)
    # Written canonically: null members dropped, integral floats as ints (see export._json_text).
    assert written == kinds.canonical(expected)
    assert written["tabs"][0]["panels"][0]["config"]["decimals"] == 0


def test_exported_dashboard_on_foreign_streams_plans_without_changes(o2: O2) -> None:
    """Exported raw JSON may read streams o2kit.yaml does not describe: validate accepts them
    (their streams and columns are not judged against the Bedrock catalogue) and plan runs."""
    ui = UiUser(o2.fake)
    folder = ui.folder("dashboards", "Apps")
    other = dashboard_v8()
    other["title"] = "Other app"
    for query in other["tabs"][0]["panels"][0]["queries"]:
        query["fields"]["stream"] = "other_app"
        query["query"] = query["query"].replace("bedrock_logs", "other_app")
    ui.dashboard(folder, other)
    result = o2("export", "--folder", "Apps")
    assert result.exit_code == 0, result.output
    assert "warning: `o2kit validate` finds" not in result.output
    plan = o2("plan", "--adopt", "--json")
    assert plan.exit_code == 0, plan.output
    changes = [c for c in json.loads(plan.stdout)["changes"]
               if c["kind"] == "dashboard" and c["key"][-1] == "Other app"]
    assert len(changes) == 1 and changes[0]["fields"] == [], changes
