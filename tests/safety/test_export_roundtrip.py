"""Issue 11, harm 9: the export of a real org round-trips.

Each test runs the real CLI (in-process, the client mounted on the fake OpenObserve) the way a
user adopting an existing org would: objects are made over HTTP as a UI user makes them, then
``o2kit export`` → ``validate`` → ``plan`` → ``apply --adopt`` → ``plan``. The dashboards are
real ones published by OpenObserve (``tests/data_real_dashboards``, copied sample data).

- folder ``default`` (where a real org keeps most of its dashboards) is referenced, never
  created, updated or deleted, and what it holds plans and adopts cleanly; a real reserved-name
  clash (org default's alert templates, listed in every org) is still refused;
- panels that overlap (the server and the UI accept them) are a validate warning, not a refusal;
- two dashboards with one title in one folder are reported, each with the fix, while the rest is
  exported (and ``--dry-run`` reports them too);
- ``preview --remote`` fails, saying so, when every query failed.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from o2kit import kinds
from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.cli import export as cli_export
from o2kit.cli import preview as cli_preview
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults

if not any(c.name == "export" for c in cli.app.registered_commands):
    cli_export.register(cli.app)
if not any(c.name == "preview" for c in cli.app.registered_commands):
    cli_preview.register(cli.app)

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "data_real_dashboards"
REAL_NAMES = sorted(p.name for p in REAL.glob("*.json"))
HOOK_URL = "https://hooks.example.com/services/T000/export-roundtrip-token"


def real(name: str) -> dict[str, Any]:
    return json.loads((REAL / name).read_text(encoding="utf-8"))


class UiUser:
    """Someone clicking in the OpenObserve UI: plain HTTP to the fake."""

    def __init__(self, fake: FakeOpenObserve, org: str = "default") -> None:
        self.org = org
        self.http = httpx.Client(base_url="http://o2.test", transport=fake.transport(Faults()),
                                 auth=(DEFAULT_USER, DEFAULT_PASSWORD))

    def ok(self, response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()

    def folder(self, folder_type: str, name: str) -> str:
        data = self.ok(self.http.post(f"/api/v2/{self.org}/folders/{folder_type}",
                                      json={"name": name, "description": ""}))
        return str(data["folderId"])

    def dashboard(self, folder_id: str, body: dict[str, Any]) -> str:
        data = self.ok(self.http.post(f"/api/{self.org}/dashboards", params={"folder": folder_id},
                                      json=body))
        return str(data[f"v{data['version']}"]["dashboardId"])

    def folders(self, folder_type: str) -> list[dict[str, Any]]:
        data = self.ok(self.http.get(f"/api/v2/{self.org}/folders/{folder_type}"))
        return list(data["list"])

    def alert_with_destination(self, folder_id: str) -> None:
        self.ok(self.http.post(f"/api/{self.org}/alerts/templates", json={
            "name": "ops_body", "type": "http", "body": '{"text": "{alert_name} fired"}'}))
        self.ok(self.http.post(f"/api/{self.org}/alerts/destinations", json={
            "name": "ops_hook", "type": "http", "url": HOOK_URL, "method": "post",
            "template": "ops_body"}))
        self.ok(self.http.post(f"/api/v2/{self.org}/alerts", params={"folder": folder_id}, json={
            "name": "many_calls", "stream_type": "logs", "stream_name": "bedrock_logs",
            "is_real_time": False, "enabled": True, "description": "calls spike",
            "query_condition": {"type": "sql", "sql":
                                'SELECT count(_timestamp) AS calls FROM "bedrock_logs" '
                                "HAVING count(_timestamp) > 100"},
            "trigger_condition": {"period": 10, "operator": ">=", "threshold": 1,
                                  "frequency": 5, "silence": 30},
            "destinations": ["ops_hook"], "row_template": "{calls} calls",
        }))


@pytest.fixture()
def fake() -> FakeOpenObserve:
    server = FakeOpenObserve(seed=11, orgs=("default", "prod"))
    for org in ("default", "prod"):
        server.add_stream(org, "bedrock_logs")
        server.add_stream(org, "bedrock_metrics")
    return server


class O2:
    def __init__(self, root: Path, fake: FakeOpenObserve, mp: pytest.MonkeyPatch) -> None:
        self.root, self.fake, self.mp = root, fake, mp
        for name in ("o2kit.yaml", "prices.yaml"):
            shutil.copy(REPO / name, root / name)
        # no budgets: their alerts need the shipped templates and bedrock_slack, not here
        _cfg = (root / "o2kit.yaml").read_text(encoding="utf-8")
        (root / "o2kit.yaml").write_text(_cfg.split("\nbudgets:")[0] + "\n", encoding="utf-8")
        mp.setenv("OPENOBSERVE_URL", "http://o2.test")
        mp.setenv("OPENOBSERVE_USER", DEFAULT_USER)
        mp.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
        mp.setenv("O2KIT_OPS_HOOK_URL", HOOK_URL)
        mp.delenv("OPENOBSERVE_ORG", raising=False)
        mp.setenv("CI", "true")

    def __call__(self, *args: str) -> Any:
        self.mp.setattr(cli_base, "_TRANSPORT", self.fake.transport(Faults()))
        return CliRunner().invoke(cli.app, ["--project", str(self.root), *args])

    def ok(self, *args: str) -> Any:
        result = self(*args)
        assert result.exit_code == 0, (args, result.output)
        return result

    def clean_plan(self, *args: str) -> Any:
        """``plan --detailed-exitcode`` must exit 0: no changes at all."""
        result = self("plan", "--detailed-exitcode", *args)
        assert result.exit_code == 0, result.output
        return result


@pytest.fixture()
def o2(tmp_path: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch) -> O2:
    root = tmp_path / "repo"
    root.mkdir()
    return O2(root, fake, monkeypatch)


# ---------------------------------------------------------------------------------------------
# folder "default"


def test_folder_default_round_trips_and_adopts(o2: O2) -> None:
    ui = UiUser(o2.fake)
    dashboard_id = ui.dashboard("default", real("v7-stripe.json"))
    ui.alert_with_destination("default")

    exported = o2.ok("export", "--folder", "default")
    assert "templates/exported/dashboards/default/stripe.json" in exported.output
    assert (o2.root / "alerts" / "default.yaml").is_file()

    before = o2.clean_plan()
    assert "reserve" not in before.output
    assert "built-in" in before.output  # the folder is referenced, not created
    adopt = json.loads(o2.ok("plan", "--adopt", "--json").stdout)
    acted = {(c["kind"], c["action"]) for c in adopt["changes"] if c["action"] != "noop"}
    # The template's update writes no field: adopting records in the server's key-value store
    # that this project owns it (templates carry no marker).
    assert acted == {("dashboard", "update"), ("alert", "update"), ("destination", "update"),
                     ("template", "update")}
    assert all(c["fields"] == [] for c in adopt["changes"]), adopt["changes"]

    o2.ok("apply", "--adopt", "--auto-approve")
    o2.clean_plan()
    o2.clean_plan("--prune")  # folder default is never a delete candidate either
    stored = next(d for d in o2.fake.dashboards() if d["data"]["title"] == "Stripe")
    assert kinds.MARKER_TEXT in stored["data"]["description"]
    assert stored["data"]["dashboardId"] == dashboard_id  # updated in place, not re-created
    for folder_type in ("dashboards", "alerts"):
        folders = ui.folders(folder_type)
        assert [f["folderId"] for f in folders if f["name"] == "default"] == ["default"]
        assert kinds.MARKER_TEXT not in json.dumps(folders)  # the built-in folder is not touched

    # A real reserved-name clash is still refused: org default's alert templates are listed in
    # every org, so the same project applied to org "prod" cannot create template "ops_body".
    refused = o2("plan", "--org", "prod")
    assert refused.exit_code == 1, refused.output
    assert 'template "ops_body" is a name the server reserves' in refused.output
    assert 'folder "' not in refused.output.split("reserves")[0]


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_dashboards_in_folder_default_export_plan_and_adopt_clean(o2: O2, name: str) -> None:
    ui = UiUser(o2.fake)
    ui.dashboard("default", real(name))
    o2.ok("export", "--folder", "default")
    o2.ok("validate")
    o2.clean_plan()
    o2.ok("apply", "--adopt", "--auto-approve")
    o2.clean_plan()


# ---------------------------------------------------------------------------------------------
# overlapping panels


def _overlapping_stripe() -> dict[str, Any]:
    """The real Stripe dashboard with its first pie panel moved onto the metric beside it and
    another panel reaching past the 192th column: layouts the server stores as they are."""
    body = copy.deepcopy(real("v7-stripe.json"))
    panels = body["tabs"][0]["panels"]
    pie = next(p for p in panels if p["id"] == "Panel_ID8366510")
    pie["layout"].update({"x": 30, "y": 5})
    wide = next(p for p in panels if p["id"] == "Panel_ID7786910")  # and one off the grid
    wide["layout"]["w"] = 90
    return body


def test_a_real_dashboard_with_overlapping_panels_validates_with_a_warning_and_plans(
    o2: O2,
) -> None:
    ui = UiUser(o2.fake)
    folder = ui.folder("dashboards", "Payments")
    ui.dashboard(folder, _overlapping_stripe())
    exported = o2.ok("export", "--folder", "Payments")
    assert "problem" not in exported.output  # the after-export check finds nothing to refuse

    validated = o2.ok("validate")
    assert 'warning: tabs[0].panels[1].layout: panel "Panel_ID8366510"' in validated.output
    assert "overlaps" in validated.output and "OK:" in validated.output
    assert "warning: tabs[0].panels[4].layout: the panel ends at column 206" in validated.output
    strict = o2("validate", "--strict")
    assert strict.exit_code == 1 and "overlaps" in strict.output

    planned = o2.clean_plan()
    assert "overlaps" in planned.output  # plan prints the warning and runs
    o2.ok("apply", "--adopt", "--auto-approve")
    o2.clean_plan()


# ---------------------------------------------------------------------------------------------
# name clashes


def _two_with_one_title(o2: O2) -> tuple[list[str], str]:
    ui = UiUser(o2.fake)
    folder = ui.folder("dashboards", "Team")
    netflow = real("v2-netflow-activity.json")
    twins = [ui.dashboard(folder, copy.deepcopy(netflow)) for _ in range(2)]
    other = ui.dashboard(folder, real("v7-stripe.json"))
    return twins, other


def _clash_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("not exported:")]


def test_a_title_clash_is_reported_per_dashboard_and_the_rest_is_exported(o2: O2) -> None:
    twins, _other = _two_with_one_title(o2)
    result = o2("export", "--all")
    assert result.exit_code == 1, result.output  # documented: something selected was left out
    lines = _clash_lines(result.output)
    assert len(lines) == 2, result.output
    for twin, line in zip(sorted(twins), lines, strict=True):
        assert f'dashboard "Team/Netflow / Activity" (id {twin})' in line
        assert "rename all but one in the OpenObserve UI" in line
    assert "wrote dashboards/stripe.yaml" in result.output
    assert (o2.root / "templates/exported/dashboards/team/stripe.json").is_file()
    assert not list(o2.root.rglob("netflow*"))  # neither twin: o2kit could manage neither
    assert "2 selected objects not exported" in result.output

    # Asking for one twin by id does not help: plan would still find two dashboards with its key.
    by_id = o2("export", "--id", twins[0])
    assert by_id.exit_code == 1, by_id.output
    (line,) = _clash_lines(by_id.output)
    assert f"(id {twins[0]})" in line and f"also id {twins[1]}" in line
    assert not list(o2.root.rglob("netflow*"))


def test_dry_run_reports_title_clashes_too(o2: O2) -> None:
    twins, _other = _two_with_one_title(o2)
    dry = o2("export", "--all", "--dry-run")
    assert dry.exit_code == 1, dry.output
    lines = _clash_lines(dry.output)
    assert len(lines) == 2 and all(any(t in line for t in twins) for line in lines), dry.output
    assert "would write dashboards/stripe.yaml" in dry.output
    assert "would not be exported" in dry.output
    assert not (o2.root / "dashboards").exists()


# ---------------------------------------------------------------------------------------------
# preview --remote


def _preview_remote(fake: FakeOpenObserve, tmp_path: Path, mp: pytest.MonkeyPatch) -> Any:
    mp.setattr(cli_base, "_TRANSPORT", fake.transport(Faults()))
    mp.setenv("OPENOBSERVE_USER", DEFAULT_USER)
    mp.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
    mp.setenv("CI", "true")
    return CliRunner().invoke(cli.app, ["-C", str(REPO), "preview", "--out", str(tmp_path / "p"),
                                        "--url", "http://o2.test", "--minutes", "30"])


def _failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("query failed: ")]


def test_preview_remote_fails_and_says_so_when_every_query_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = FakeOpenObserve(seed=11)  # an org where none of the streams exist
    result = _preview_remote(empty, tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    failed = _failed_lines(result.output)
    assert failed and all('dashboard "Bedrock/Bedrock overview" tab "' in f for f in failed)
    count = len(failed)
    assert f"every one of the {count} panel queries failed" in result.output


def test_preview_remote_reports_partial_failures_per_panel_and_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import time

    from o2kit.aws.synth import Scenario, firehose_bodies, generate
    from o2kit.query.engine import QueryEngine

    logs_only = FakeOpenObserve(seed=11, query_engine_factory=QueryEngine)
    traffic = generate(Scenario(minutes=5, requests_per_minute=10.0),
                       end_ms=int(time.time() * 1000) - 60_000, seed=3)
    logs, _metrics = firehose_bodies(traffic)  # the metric stream gets nothing: it does not exist
    key = base64.b64encode(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}".encode()).decode()
    ui = UiUser(logs_only)
    for body in logs:
        ui.ok(ui.http.post("/aws/default/bedrock_logs/_kinesis_firehose", content=body,
                           headers={"X-Amz-Firehose-Access-Key": key,
                                    "Content-Type": "application/json"}))
    result = _preview_remote(logs_only, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    failed = _failed_lines(result.output)
    assert failed and all("bedrock_metrics" in line for line in failed), result.output
    assert f"{len(failed)} of " in result.output and "panel queries failed" in result.output
    assert "every one of" not in result.output


# ---------------------------------------------------------------------------------------------
# the same, without a server (build_export is pure)


def test_two_alerts_with_one_name_in_one_folder_are_not_exported_the_rest_is() -> None:
    from o2kit.sync import export

    def alert(alert_id: str, name: str) -> dict[str, Any]:
        return {"id": alert_id, "name": name, "folder_name": "Ops", "destinations": [],
                "stream_type": "logs", "stream_name": "bedrock_logs"}

    objects = export.ServerObjects(alerts=[alert("a1", "twin"), alert("a2", "twin"),
                                           alert("a3", "single")])
    result = export.build_export(objects, export.ProjectKeys())
    assert len(result.not_exported) == 2
    assert all('alert "Ops/twin"' in line and "rename all but one" in line
               for line in result.not_exported)
    written = {str(f.path) for f in result.files}
    assert written == {"templates/exported/alerts/ops/single.json", "alerts/ops.yaml"}


def test_names_that_only_share_a_file_name_get_their_own_files() -> None:
    from o2kit.sync import export

    def item(dashboard_id: str, title: str, folder: str) -> dict[str, Any]:
        return {"version": 8, "dashboard_id": dashboard_id, "folder_name": folder,
                "v8": {"version": 8, "title": title, "tabs": []}}

    objects = export.ServerObjects(dashboards=[item("d1", "A/B", "F"), item("d2", "A B", "F"),
                                               item("d3", "A B", "f")])
    result = export.build_export(objects, export.ProjectKeys())
    assert result.not_exported == []
    paths = [str(f.path) for f in result.files]
    assert len(paths) == len(set(paths)) == 6
    import yaml

    for f in result.files:
        if f.path.suffix == ".yaml":
            doc = yaml.safe_load(f.text)
            assert f"templates/{doc['template']}" in paths, (f.path, doc)


def test_preview_remote_with_refused_credentials_stops_after_one_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeOpenObserve(seed=11)
    inner = fake.transport(Faults())
    searches: list[str] = []

    class Counting(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/_search"):
                searches.append(request.url.path)
            return inner.handle_request(request)

    monkeypatch.setattr(cli_base, "_TRANSPORT", Counting())
    monkeypatch.setenv("OPENOBSERVE_USER", DEFAULT_USER)
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", "not-the-password")
    monkeypatch.setenv("CI", "true")
    result = CliRunner().invoke(cli.app, ["-C", str(REPO), "preview", "--out", str(tmp_path),
                                          "--url", "http://o2.test"])
    assert result.exit_code == 1, result.output
    assert "no panel query could run" in result.output and "401" in result.output
    assert len(searches) == 1, searches
