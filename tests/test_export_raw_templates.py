"""Raw OpenObserve JSON as a template (``template: x.json``, o2kit.project.loader), the pure parts
of
o2kit.sync.export, and the plan-side hook that compares an older live dashboard as its v8 upgrade
(kinds ``_prepare``, remote ``_live_dashboard``)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from o2kit import kinds
from o2kit.errors import ValidationFailed
from o2kit.kinds.dashboard_upgrade import upgrade_dashboard
from o2kit.project.loader import load_project
from o2kit.sync import export, remote

REPO = Path(__file__).resolve().parents[1]


def _v5_dashboard(title: str = "Legacy") -> dict[str, Any]:
    item = {"label": "N", "alias": "y_axis_1", "column": "_timestamp", "color": None,
            "aggregationFunction": "count"}
    return {
        "version": 5, "title": title, "description": "", "dashboardId": "123", "owner": "a@b",
        "created": "2026-01-01T00:00:00Z", "role": "",
        "tabs": [{"tabId": "t", "name": "T", "panels": [{
            "id": "p", "type": "metric", "title": "Calls", "description": "",
            "config": {"show_legends": False},
            "queries": [{"query": 'SELECT count(_timestamp) AS "y_axis_1" FROM "bedrock_logs"',
                         "customQuery": False,
                         "fields": {"stream": "bedrock_logs", "stream_type": "logs", "x": [],
                                    "y": [item], "filter": {"filterType": "group",
                                                            "logicalOperator": "AND",
                                                            "conditions": []}},
                         "config": {"promql_legend": ""}}],
            "layout": {"x": 0, "y": 0, "w": 12, "h": 5, "i": 1}}]}],
    }


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("o2kit.yaml", "prices.yaml"):
        shutil.copy(REPO / name, root / name)
    # no budgets: their alerts need the shipped templates and bedrock_slack, not here
    _cfg = (root / "o2kit.yaml").read_text(encoding="utf-8")
    (root / "o2kit.yaml").write_text(_cfg.split("\nbudgets:")[0] + "\n", encoding="utf-8")
    (root / "dashboards").mkdir()
    (root / "templates" / "exported").mkdir(parents=True)
    return root


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_raw_json_dashboard_is_used_as_is_upgraded_and_without_server_keys(project: Path) -> None:
    _write(project, "templates/exported/legacy.json", json.dumps(_v5_dashboard()))
    _write(project, "dashboards/legacy.yaml",
           "template: exported/legacy.json\ntitle: Legacy\nfolder: Old\n")
    (resource,) = load_project(project).of("dashboard")
    assert resource.key == ("Old", "Legacy")
    expected = upgrade_dashboard(_v5_dashboard())
    for key in ("dashboardId", "owner", "created", "role"):
        expected.pop(key)
    assert resource.body == expected
    # layout.i is not renumbered and no panel id is invented (finish_dashboard is not run)
    assert resource.body["tabs"][0]["panels"][0]["layout"] == {
        "x": 0, "y": 0, "w": 48, "h": 10, "i": 1}


def test_ui_export_list_of_one_dashboard_is_accepted(project: Path) -> None:
    _write(project, "templates/exported/ui.json", json.dumps([_v5_dashboard("UI")]))
    _write(project, "dashboards/ui.yaml", "template: exported/ui.json\ntitle: UI\n")
    (resource,) = load_project(project).of("dashboard")
    assert resource.body["version"] == 8 and resource.body["title"] == "UI"


def _problems(root: Path) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        load_project(root)
    return [str(p) for p in info.value.problems]


def test_raw_json_problems_name_file_and_line(project: Path) -> None:
    _write(project, "templates/exported/bad.json", '{\n  "title": "Bad",\n  oops\n}')
    _write(project, "dashboards/bad.yaml", "template: exported/bad.json\ntitle: Bad\n")
    _write(project, "dashboards/params.yaml",
           "template: exported/bad.json\ntitle: P\nparams: {interval: 5 minute}\n")
    _write(project, "dashboards/missing.yaml", "template: exported/none.json\ntitle: M\n")
    problems = _problems(project)
    assert any(p.startswith("templates/exported/bad.json:3:") and "invalid JSON" in p
               for p in problems), problems
    assert any(p.startswith("dashboards/params.yaml:3:") and "takes no params" in p
               for p in problems), problems
    assert any(p.startswith("dashboards/missing.yaml:1:") and "not found" in p
               for p in problems), problems


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_raw_json_cannot_leave_templates_by_symlink(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps(_v5_dashboard("S")))
    (project / "templates" / "exported" / "link.json").symlink_to(outside)
    _write(project, "dashboards/s.yaml", "template: exported/link.json\ntitle: S\n")
    assert any("leads outside templates/" in p for p in _problems(project))


def test_raw_json_title_must_match_the_file(project: Path) -> None:
    _write(project, "templates/exported/legacy.json", json.dumps(_v5_dashboard()))
    _write(project, "dashboards/legacy.yaml", "template: exported/legacy.json\ntitle: Other\n")
    assert any("the title comes from this file" in p for p in _problems(project))


# --- the plan side ------------------------------------------------------------------------------


def test_live_older_dashboard_normalizes_like_its_upgrade() -> None:
    spec = kinds.SPECS["dashboard"]
    live = _v5_dashboard()
    assert spec.normalize(live) == spec.normalize(upgrade_dashboard(live))
    # and differs from a naive comparison of the v5 body (the layout is on another grid)
    naive = {**live, "version": 8}
    assert spec.normalize(live) != spec.normalize(naive)


def test_live_v1_list_item_gets_its_version_from_the_envelope() -> None:
    v1_body = {"title": "One", "description": "", "panels": [], "layouts": []}
    resource = remote._live_dashboard(
        {"version": 1, "v1": v1_body, "dashboard_id": "9", "hash": "1"}, "F", "f1"
    )
    assert resource.body["version"] == 1 and "version" not in v1_body
    assert resource.key == ("F", "One")


def test_desired_body_without_version_is_not_upgraded() -> None:
    spec = kinds.SPECS["dashboard"]
    body = {"title": "x", "tabs": []}
    assert spec.normalize(body) == spec.normalize({**body, "version": 8})


# --- export, pure parts ------------------------------------------------------------------------


def test_clean_dashboard_strips_server_fields_and_marker() -> None:
    body = _v5_dashboard()
    body["description"] = f"Payments{kinds.MARKER_SEPARATOR}{kinds.MARKER_TEXT}"
    cleaned, version = export.clean_dashboard({"version": 5, "v5": body, "hash": "1"})
    assert version == 5 and cleaned["version"] == 8
    assert cleaned["description"] == "Payments"
    assert not {"dashboardId", "owner", "created", "role", "hash"} & cleaned.keys()


def test_clean_alert_moves_file_keys_out_and_drops_marker_tag() -> None:
    body = {"id": "2abc", "name": "a", "owner": "x@y", "enabled": True, "destinations": ["d"],
            "tags": ["team:x", kinds.ALERT_MARKER_TAG], "stream_name": "s",
            "last_triggered_at": 5, "folder_name": "F"}
    assert export.clean_alert(body) == {"tags": ["team:x"], "stream_name": "s"}


def test_destination_secrets_become_env_placeholders() -> None:
    objects = export.ServerObjects(
        alerts=[{"name": "a", "folder_name": "Ops", "destinations": ["pager"], "enabled": False}],
        destinations=[{"name": "pager", "type": "http", "url": "https://x.example.com/k/TOKEN",
                       "method": "post", "skip_tls_verify": False,
                       "headers": {"X-Api-Key": "KEY123"}, "template": "prebuilt_pagerduty",
                       "destination_type_name": "pagerduty", "emails": [],
                       "metadata": {"managed-by": "o2kit", "team": "sre"}}],
    )
    result = export.build_export(objects, export.ProjectKeys())
    text = "".join(f.text for f in result.files)
    assert "TOKEN" not in text and "KEY123" not in text
    assert "${env:O2KIT_PAGER_URL}" in text and "${env:O2KIT_PAGER_HEADER_X_API_KEY}" in text
    assert set(result.env_vars) == {"O2KIT_PAGER_URL", "O2KIT_PAGER_HEADER_X_API_KEY"}
    assert "x.example.com" in result.env_vars["O2KIT_PAGER_URL"]
    assert "managed-by" not in text and "team: sre" in text
    # a prebuilt template is referenced, not exported
    assert "templates:" not in text and "template: prebuilt_pagerduty" in text


def test_destinations_and_templates_defined_in_code_are_only_referenced() -> None:
    objects = export.ServerObjects(
        alerts=[{"name": "a", "folder_name": "Ops", "destinations": ["slack"]}],
        destinations=[{"name": "slack", "type": "http", "url": "https://h.example.com/x",
                       "template": "body"}],
        templates=[{"name": "body", "type": "http", "body": "{alert_name}"}],
    )
    keys = export.ProjectKeys(destinations=frozenset({"slack"}))
    (json_file, yaml_file) = export.build_export(objects, keys).files
    assert "destinations:\n  - slack" in yaml_file.text or "- slack" in yaml_file.text
    assert "url:" not in yaml_file.text and "templates:" not in yaml_file.text


def test_same_title_in_two_folders_gets_folder_prefixed_files() -> None:
    items = [{"version": 8, "v8": {"version": 8, "title": "Home", "tabs": []}, "folder_name": f}
             for f in ("A", "B")]
    result = export.build_export(export.ServerObjects(dashboards=items), export.ProjectKeys())
    yaml_paths = sorted(str(f.path) for f in result.files if f.path.suffix == ".yaml")
    assert yaml_paths == ["dashboards/a-home.yaml", "dashboards/b-home.yaml"]


def test_existing_keys_reads_yaml_without_rendering(tmp_path: Path) -> None:
    _write(tmp_path, "o2kit.yaml", "folders: {dashboards: Dash, alerts: Al}\n")
    _write(tmp_path, "dashboards/a.yaml", "template: x.j2\ntitle: A\n")
    _write(tmp_path, "dashboards/b.yaml", "template: x.j2\ntitle: B\nfolder: Other\n")
    _write(tmp_path, "alerts/x.yaml",
           "alerts: {one: {}}\ndestinations: {d: {}}\ntemplates: {t: {}}\n")
    keys = export.existing_keys(tmp_path)
    assert keys.dashboards == {("Dash", "A"), ("Other", "B")}
    assert keys.alerts == {("Al", "one")}
    assert keys.destinations == {"d"} and keys.templates == {"t"}


def test_raw_resources_say_where_they_come_from(project: Path) -> None:
    from o2kit.project.loader import RAW_JSON_META

    _write(project, "templates/exported/legacy.json", json.dumps(_v5_dashboard()))
    _write(project, "dashboards/legacy.yaml", "template: exported/legacy.json\ntitle: Legacy\n")
    (resource,) = load_project(project).of("dashboard")
    assert resource.meta == {RAW_JSON_META: "exported/legacy.json"}
    shipped = load_project(REPO)
    assert all(RAW_JSON_META not in r.meta for r in shipped.resources)


def test_a_dashboard_the_ui_cannot_upgrade_is_skipped_not_fatal() -> None:
    broken = {"version": 2, "title": "Broken", "panels": [{"id": "p", "queries": []}]}  # no layout
    fine = {"version": 8, "title": "Fine", "tabs": []}
    items = [{"version": 2, "v2": broken, "folder_name": "F"},
             {"version": 8, "v8": fine, "folder_name": "F"}]
    result = export.build_export(export.ServerObjects(dashboards=items), export.ProjectKeys())
    assert [str(f.path) for f in result.files if f.path.suffix == ".yaml"] == [
        "dashboards/fine.yaml"]
    assert any("Broken" in s and "layout" in s for s in result.not_exported), result.not_exported


@pytest.mark.parametrize(
    "body",
    ['{\n  "text": "{alert_name} fired"\n}', "line one  \nline two\n", "tab\tand\n trailing \n"],
)
def test_template_bodies_round_trip_through_the_alerts_file(body: str) -> None:
    import yaml

    objects = export.ServerObjects(
        alerts=[{"name": "a", "folder_name": "Ops", "destinations": ["d"]}],
        destinations=[{"name": "d", "type": "email", "emails": ["x@example.com"],
                       "template": "t"}],
        templates=[{"name": "t", "type": "http", "body": body, "kind": "custom"}],
    )
    (yaml_file,) = [f for f in export.build_export(objects, export.ProjectKeys()).files
                    if f.path.suffix == ".yaml"]
    doc = yaml.safe_load(yaml_file.text)
    assert doc["templates"]["t"]["body"] == body
    assert doc["destinations"]["d"] == {"type": "email", "emails": ["x@example.com"],
                                        "template": "t"}
