"""The plan/apply scenarios users judge o2kit by, end to end: the real CLI, the real client, the
fake OpenObserve mounted as the client's transport (no patching), and the shipped Bedrock project.

State is asserted on the fake server (what it stores, which writes it saw), not on call counts of
mocks.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from o2_harness import O2, WEBHOOK, bedrock_fake
from shipped_project import copy_shipped_project

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the shipped project, so a test may edit it."""
    return copy_shipped_project(tmp_path / "repo")


@pytest.fixture()
def fake() -> FakeOpenObserve:
    return bedrock_fake(7)


@pytest.fixture()
def o2(project: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch) -> O2:
    return O2(project, fake, monkeypatch)


def _actions(plan: dict[str, Any]) -> Counter[str]:
    return Counter(c["action"] for c in plan["changes"])


def _stored_counts(fake: FakeOpenObserve) -> dict[str, int]:
    return {
        "dashboards": len(fake.dashboards()),
        "alerts": len(fake.alerts()),
        "destinations": len(fake.destinations()),
        "templates": len(fake.templates()),
    }


def test_empty_server_apply_creates_everything(o2: O2) -> None:
    plan = o2.plan_json()
    creates = _actions(plan)["create"]
    assert creates > 0 and _actions(plan)["update"] == 0

    result = o2("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    counts = _stored_counts(o2.fake)
    assert counts["dashboards"] >= 1 and counts["alerts"] >= 2
    assert counts["destinations"] >= 1 and counts["templates"] >= 1
    # The webhook secret reached the server, and never the output.
    assert any(d.get("url") == WEBHOOK for d in o2.fake.destinations())
    assert "SECRETSECRET" not in result.output


def test_apply_twice_second_plan_is_empty_and_second_apply_writes_nothing(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    result = o2("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output  # 0 = no changes

    writes_before = o2.fake.write_count()
    again = o2("apply", "--auto-approve")
    assert again.exit_code == 0, again.output
    assert o2.fake.write_count() == writes_before


def test_plan_detailed_exitcode_is_2_when_changes_exist(o2: O2) -> None:
    result = o2("plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output


def test_ui_edit_shows_exactly_that_field(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    stored = o2.fake.dashboards()[0]
    dashboard_id = stored["dashboard_id"]
    with o2.http() as ui:
        current = ui.get(f"/api/default/dashboards/{dashboard_id}").json()
        inner = current["v8"]
        old_title = inner["tabs"][0]["panels"][0]["title"]
        inner["tabs"][0]["panels"][0]["title"] = "Renamed in the UI"
        response = ui.put(
            f"/api/default/dashboards/{dashboard_id}",
            params={"folder": stored["folder_id"], "hash": current["hash"]},
            json=inner,
        )
        assert response.status_code == 200, response.text

    plan = o2.plan_json()
    updates = [c for c in plan["changes"] if c["action"] == "update"]
    assert len(updates) == 1, updates
    fields = updates[0]["fields"]
    assert [f["path"] for f in fields] == ["tabs[0].panels[0].title"], fields
    assert fields[0]["old"] == "Renamed in the UI" and fields[0]["new"] == old_title


def test_stale_hash_is_a_conflict_and_nothing_is_overwritten(o2: O2) -> None:
    from o2kit.project.config import server_settings
    from o2kit.project.loader import load_project
    from o2kit.sync.client import OpenObserveClient
    from o2kit.sync.plan import build_plan
    from o2kit.sync.remote import apply_plan, fetch_live

    assert o2("apply", "--auto-approve").exit_code == 0
    # Change the code, and plan against the server.
    dashboard_yaml = o2.project / "dashboards" / "bedrock.yaml"
    dashboard_yaml.write_text(
        dashboard_yaml.read_text().replace("description: AWS Bedrock",
                                           "description: Changed in git. AWS Bedrock")
    )
    project = load_project(o2.project)
    from o2kit.project import envrefs

    desired = [r.__class__(kind=r.kind, key=r.key, source=r.source,
                           body=envrefs.resolve_env_refs(r.body, {"SLACK_WEBHOOK_URL": WEBHOOK}))
               for r in project.resources]
    settings = server_settings(env={"OPENOBSERVE_URL": "http://o2.test",
                                    "OPENOBSERVE_USER": DEFAULT_USER,
                                    "OPENOBSERVE_PASSWORD": DEFAULT_PASSWORD},
                               config_org="default")
    client = OpenObserveClient(settings, transport=o2.fake.transport(Faults()))
    live = fetch_live(client, desired=desired, stream_types={"logs"})
    plan = build_plan(desired, live.resources, existing_streams=live.existing_streams,
                      project=project.config.config.project)
    assert [c.kind for c in plan.changes if c.action == "update"] == ["dashboard"]

    # Someone edits the dashboard in the UI after the plan was made.
    stored = o2.fake.dashboards()[0]
    with o2.http() as ui:
        current = ui.get(f"/api/default/dashboards/{stored['dashboard_id']}").json()
        current["v8"]["tabs"][0]["name"] = "Edited by a human"  # same title: same key
        assert ui.put(f"/api/default/dashboards/{stored['dashboard_id']}",
                      params={"folder": stored["folder_id"], "hash": current["hash"]},
                      json=current["v8"]).status_code == 200

    result = apply_plan(client, plan)
    assert not result.ok
    (failed,) = result.failed
    assert failed.change.kind == "dashboard"
    assert "changed on the server since plan" in failed.message
    # The human's edit survived.
    after = o2.fake.dashboards()[0]["data"]
    assert after["tabs"][0]["name"] == "Edited by a human"
    assert "Changed in git" not in after.get("description", "")


def test_stale_checksum_refuses_before_writing_anything(o2: O2) -> None:
    """Through the CLI: a server edit after review changes the checksum; apply refuses, exit 1."""
    assert o2("apply", "--auto-approve").exit_code == 0
    plan = o2.plan_json()
    checksum = plan["checksum"]
    with o2.http() as ui:
        stored = o2.fake.dashboards()[0]
        current = ui.get(f"/api/default/dashboards/{stored['dashboard_id']}").json()
        current["v8"]["tabs"][0]["name"] = "Edited by a human"
        ui.put(f"/api/default/dashboards/{stored['dashboard_id']}",
               params={"folder": stored["folder_id"], "hash": current["hash"]}, json=current["v8"])
    writes = o2.fake.write_count()
    result = o2("apply", "--auto-approve", "--checksum", checksum)
    assert result.exit_code == 1
    assert "plan changed" in result.output
    assert o2.fake.write_count() == writes


def _create_unmanaged_dashboard(o2: O2, title: str) -> str:
    folder_id = next(f["folderId"] for f in o2.fake.folders() if f["name"] == "Bedrock")
    body = {"version": 8, "title": title, "description": "made by hand", "tabs": [
        {"tabId": "t", "name": "T", "panels": []}]}
    with o2.http() as ui:
        response = ui.post("/api/default/dashboards", params={"folder": folder_id}, json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["v8"]["dashboardId"])


def test_prune_deletes_only_managed_objects(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    handmade = _create_unmanaged_dashboard(o2, "Hand made")
    (o2.project / "dashboards" / "bedrock.yaml").unlink()

    without_prune = o2.plan_json()
    assert _actions(without_prune)["delete"] == 0

    refused = o2("apply", "--auto-approve", "--prune")
    assert refused.exit_code == 1 and "--force" in refused.output  # 1 of 1 managed = 100 %
    assert len(o2.fake.dashboards()) == 2

    result = o2("apply", "--auto-approve", "--prune", "--force")
    assert result.exit_code == 0, result.output
    assert [d["dashboard_id"] for d in o2.fake.dashboards()] == [handmade]


def test_unmanaged_dashboard_with_the_same_title_is_never_touched(o2: O2) -> None:
    # A folder and a same-titled dashboard made by hand before o2kit ever ran.
    with o2.http() as ui:
        folder = ui.post("/api/v2/default/folders/dashboards",
                         json={"name": "Bedrock", "description": ""}).json()
        body = {"version": 8, "title": "Bedrock overview", "description": "hand made",
                "tabs": [{"tabId": "t", "name": "T", "panels": []}]}
        ui.post("/api/default/dashboards", params={"folder": folder["folderId"]}, json=body)
    before = o2.fake.dashboards()
    result = o2("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    after = o2.fake.dashboards()
    assert after == before  # not updated, and no second dashboard with that title
    plan = o2.plan_json()
    dashboard = next(c for c in plan["changes"] if c["kind"] == "dashboard")
    assert dashboard["action"] == "noop" and "--adopt" in dashboard["reason"]


def test_lost_responses_make_no_duplicates_after_a_rerun(o2: O2) -> None:
    o2.faults = Faults(lost_response_rate=0.5, only_methods=frozenset({"POST"}))
    o2("apply", "--auto-approve")  # may report failures; must not duplicate
    o2.faults = None
    result = o2("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert o2("plan", "--detailed-exitcode").exit_code == 0
    titles = Counter(d["data"]["title"] for d in o2.fake.dashboards())
    names = Counter(a["name"] for a in o2.fake.alerts())
    assert all(n == 1 for n in titles.values()), titles
    assert all(n == 1 for n in names.values()), names
    assert sum(1 for r in o2.fake.request_log if r.fault == "lost") > 0


def test_thirty_percent_faults_converge_with_nothing_lost(o2: O2) -> None:
    o2.faults = Faults(error_rate=0.1, drop_rate=0.1, lost_response_rate=0.1,
                       drop_as="disconnect")
    codes = []
    for _ in range(8):
        codes.append(o2("apply", "--auto-approve").exit_code)
        if codes[-1] == 0:
            break
    assert codes[-1] == 0, codes
    injected = Counter(r.fault for r in o2.fake.request_log if r.fault)
    # The faults really happened (else this test would prove nothing) ...
    assert sum(injected.values()) >= 5 and len(injected) >= 2, (injected, len(o2.fake.request_log))
    o2.faults = None
    assert o2("plan", "--detailed-exitcode").exit_code == 0
    # ... and nothing was lost or duplicated.
    assert len(o2.fake.dashboards()) == 1
    names = Counter(a["name"] for a in o2.fake.alerts())
    in_code = [c for c in o2.plan_json()["changes"] if c["kind"] == "alert"]
    assert set(names.values()) == {1} and len(names) == len(in_code)


def test_invalid_input_sends_not_a_single_request(o2: O2) -> None:
    (o2.project / "dashboards" / "bedrock.yaml").write_text("template: [unclosed\n")
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = o2(*command)
        assert result.exit_code == 1
        assert "dashboards/bedrock.yaml:1" in result.output
    assert o2.fake.request_log == []


def test_alert_on_missing_stream_is_announced_not_applied(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeOpenObserve(seed=3)
    fake.add_stream("default", "bedrock_logs")  # bedrock_metrics has no data yet
    o2 = O2(project, fake, monkeypatch)
    plan = o2.plan_json()
    assert any("bedrock_metrics" in w for w in plan["warnings"]), plan["warnings"]
    result = o2("apply", "--auto-approve")
    assert result.exit_code == 1  # the alerts that need the stream were not applied
    assert fake.dashboards()  # everything else was
    assert "bedrock_metrics" in result.output


def test_create_streams_lets_alerts_on_streams_without_data_apply(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeOpenObserve(seed=5)
    fake.add_stream("default", "bedrock_logs")  # no metric data yet
    o2 = O2(project, fake, monkeypatch)
    result = o2("apply", "--auto-approve", "--create-streams")
    assert result.exit_code == 0, result.output
    with o2.http() as http:
        schema = http.get("/api/default/streams/bedrock_metrics/schema",
                          params={"type": "logs"}).json()
    fields = {f["name"]: f["type"] for f in schema["schema"]}
    # The columns the alerts read, typed as Firehose ingestion would type them.
    # (o2kit.yaml metrics_layout: flattened — the statistics are value_* columns)
    assert fields["value_sum"] == "Float64" and fields["metric_name"] == "Utf8"
    assert fields["dimensions_modelid"] == "Utf8"
    assert fields["_timestamp"] == "Int64"
    alert_streams = {a["stream_name"] for a in fake.alerts()}
    assert "bedrock_metrics" in alert_streams
    assert o2("plan", "--detailed-exitcode").exit_code == 0


def test_template_name_taken_by_org_default_is_refused_before_any_write(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenObserve lists org default's templates in every org and refuses a same-named one
    elsewhere (src/core/src/alerts/templates.rs): plan says so instead of apply failing."""
    fake = FakeOpenObserve(seed=9, orgs=("default", "prod"))
    fake.add_stream("prod", "bedrock_metrics")
    fake.add_stream("prod", "bedrock_logs")
    o2 = O2(project, fake, monkeypatch)
    with o2.http() as ui:
        r = ui.post("/api/default/alerts/templates",
                    json={"name": "bedrock_slack", "type": "http", "body": '{"t": 1}'})
        assert r.status_code == 200, r.text
    writes = fake.write_count()
    result = o2("plan", "--org", "prod")
    assert result.exit_code == 1
    assert 'already exists in org "default"' in result.output and "bedrock_slack" in result.output
    assert fake.write_count() == writes
