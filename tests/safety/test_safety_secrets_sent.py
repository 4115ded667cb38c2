"""Harm 2 of issue 11, "secrets sent": text from a server is data, never a reference.

Someone who can edit an alert template in the OpenObserve UI writes ``${env:OPENOBSERVE_PASSWORD}``
into its body. ``o2kit export`` must not copy that into the repository as a reference, and the
next ``apply --adopt`` (in CI, with the admin password in its environment) must send the literal
text back — never the password. The same for a dashboard and an alert that carry such text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from _secrets_harness import O2, basic, copy_project
from hypothesis import given
from hypothesis import strategies as st

from o2kit.fake import FakeOpenObserve, Faults

CI_USER = "ci-bot@example.com"
CI_PASSWORD = "S3NT1NEL-admin-password-2b7e"
HOOK = "https://hooks.example.com/services/S3NT1NEL-hook-5151"
LURE = "leak: ${env:OPENOBSERVE_PASSWORD} / ${env:SAFETY_OTHER} / $${env:HOME}"
SQL = ('SELECT histogram(_timestamp) AS "x_axis_1", count(_timestamp) AS "y_axis_1" '
       'FROM "bedrock_logs" GROUP BY x_axis_1 ORDER BY x_axis_1 ASC')


@pytest.fixture()
def fake() -> FakeOpenObserve:
    server = FakeOpenObserve(seed=5)
    server.add_stream("default", "bedrock_logs")
    server.add_stream("default", "bedrock_metrics")
    server.add_user(CI_USER, CI_PASSWORD, orgs=["default"])
    return server


@pytest.fixture()
def o2(tmp_path: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch,
       caplog: pytest.LogCaptureFixture) -> O2:
    root = tmp_path / "repo"
    root.mkdir()
    copy_project(tmp_path / "shipped")
    for name in ("o2kit.yaml", "prices.yaml"):
        (root / name).write_text((tmp_path / "shipped" / name).read_text())
    # no budgets: their alerts need the shipped templates and bedrock_slack, not here
    _cfg = (root / "o2kit.yaml").read_text(encoding="utf-8")
    (root / "o2kit.yaml").write_text(_cfg.split("\nbudgets:")[0] + "\n", encoding="utf-8")
    o2 = O2(root, fake, monkeypatch, caplog)
    monkeypatch.setenv("OPENOBSERVE_USER", CI_USER)
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", CI_PASSWORD)
    monkeypatch.setenv("SAFETY_OTHER", "S3NT1NEL-other-ci-variable")
    return o2


def _ui(fake: FakeOpenObserve) -> httpx.Client:
    return httpx.Client(base_url="http://o2.test", transport=fake.transport(Faults()),
                        auth=(CI_USER, CI_PASSWORD))


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _ui_edits_alerting(fake: FakeOpenObserve, description: str = "calls spike") -> None:
    ui = _ui(fake)
    _ok(ui.post("/api/default/alerts/templates", json={
        "name": "ops_body", "type": "http", "body": '{"text": "{alert_name} ' + LURE + '"}'}))
    _ok(ui.post("/api/default/alerts/destinations", json={
        "name": "ops_hook", "type": "http", "url": HOOK, "method": "post",
        "template": "ops_body"}))
    folder = _ok(ui.post("/api/v2/default/folders/alerts", json={"name": "Ops",
                                                                 "description": ""}))
    _ok(ui.post("/api/v2/default/alerts", params={"folder": folder["folderId"]}, json={
        "name": "many_calls", "stream_type": "logs", "stream_name": "bedrock_logs",
        "is_real_time": False, "enabled": True, "description": description,
        "query_condition": {"type": "sql", "sql":
                            'SELECT count(_timestamp) AS calls FROM "bedrock_logs" '
                            "HAVING count(_timestamp) > 100"},
        "trigger_condition": {"period": 10, "operator": ">=", "threshold": 1, "frequency": 5,
                              "silence": 30},
        "destinations": ["ops_hook"], "row_template": "{calls} calls",
    }))


def _ui_edits_a_dashboard(fake: FakeOpenObserve) -> None:
    ui = _ui(fake)
    folder = _ok(ui.post("/api/v2/default/folders/dashboards", json={"name": "Imported",
                                                                     "description": ""}))
    panel = {
        "id": "calls", "type": "line", "title": LURE, "description": "", "queryType": "sql",
        "config": {"show_legends": True, "legends_position": None, "decimals": 0},
        "queries": [{"query": SQL, "vrlFunctionQuery": None, "customQuery": True,
                     "fields": {"stream": "bedrock_logs", "stream_type": "logs",
                                "x": [{"label": "Time", "alias": "x_axis_1", "type": "custom",
                                       "color": None}],
                                "y": [{"label": "Calls", "alias": "y_axis_1", "type": "custom",
                                       "color": None}],
                                "z": [], "filter": {"filterType": "group",
                                                    "logicalOperator": "AND", "conditions": []}},
                     "config": {"promql_legend": ""}}],
        "layout": {"x": 0, "y": 0, "w": 96, "h": 18, "i": 1},
    }
    _ok(ui.post("/api/default/dashboards", params={"folder": folder["folderId"]}, json={
        "version": 8, "title": "Calls", "description": LURE,
        "tabs": [{"tabId": "main", "name": "Main", "panels": [panel]}]}))


def _files(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(root.rglob("*"))
                     if p.is_file() and p.suffix in (".json", ".yaml"))


def _server_text(fake: FakeOpenObserve) -> str:
    return json.dumps([fake.templates(), fake.destinations(), fake.alerts(), fake.dashboards()],
                      ensure_ascii=False)


def _no_reference_in_files(root: Path) -> None:
    text = _files(root)
    # Every ${env:OPENOBSERVE_PASSWORD} written is the escaped, literal form.
    unescaped = [m.start() for m in re.finditer(r"\$\{env:(OPENOBSERVE_PASSWORD|SAFETY_OTHER)",
                                                text) if text[m.start() - 1] != "$"]
    assert unescaped == [], text


def test_a_reference_in_a_server_template_body_is_sent_back_as_text(o2: O2) -> None:
    _ui_edits_alerting(o2.fake)
    exported = o2("export", "--folder", "Ops")
    assert exported.exit_code == 0, exported.everything
    o2.mp.setenv("O2KIT_OPS_HOOK_URL", HOOK)
    applied = o2("apply", "--adopt", "--auto-approve")
    assert applied.exit_code == 0, applied.everything

    server = _server_text(o2.fake)
    for secret in (CI_PASSWORD, basic(CI_USER, CI_PASSWORD), "S3NT1NEL-other-ci-variable"):
        assert secret not in server
    body = next(t["body"] for t in o2.fake.templates() if t["name"] == "ops_body")
    assert LURE in body  # the literal text, as the UI user wrote it
    _no_reference_in_files(o2.project)
    assert o2("plan", "--detailed-exitcode").exit_code == 0
    assert o2.outputs.leaks([CI_PASSWORD, "S3NT1NEL-other-ci-variable", HOOK]) == []


def test_references_in_a_server_dashboard_and_alert_are_adopted_as_text(o2: O2) -> None:
    """Dashboards and alerts may not use ${env:} (validate refuses it): their exported text must
    plan and adopt unchanged, not stop at validate."""
    _ui_edits_a_dashboard(o2.fake)
    _ui_edits_alerting(o2.fake, description=LURE)
    exported = o2("export", "--all")
    assert exported.exit_code == 0, exported.everything
    _no_reference_in_files(o2.project)
    o2.mp.setenv("O2KIT_OPS_HOOK_URL", HOOK)
    assert o2("validate").exit_code == 0, o2.outputs.runs[-1].everything
    plan = o2("plan", "--adopt", "--json")
    assert plan.exit_code == 0, plan.everything
    assert all(c["fields"] == [] for c in json.loads(plan.stdout)["changes"])
    applied = o2("apply", "--adopt", "--auto-approve")
    assert applied.exit_code == 0, applied.everything
    stored = o2.fake.dashboards()[0]["data"]
    assert LURE in stored["description"] and stored["tabs"][0]["panels"][0]["title"] == LURE
    alert = next(a for a in o2.fake.alerts() if a["name"] == "many_calls")
    assert alert["description"] == LURE
    assert CI_PASSWORD not in _server_text(o2.fake)
    assert o2("plan", "--detailed-exitcode").exit_code == 0


text_with_refs = st.lists(
    st.sampled_from(["${env:", "$", "$$", "{", "}", "env", ":", "X", "ENV", " ", "a", "${",
                     "${env:X}", "$${env:X}", "${ env :X}"]),
    max_size=12,
).map("".join)


@given(text_with_refs)
def test_escape_then_resolve_gives_back_the_text_and_resolves_nothing(text: str) -> None:
    from o2kit.project.envrefs import (
        escape_env_refs,
        find_env_refs,
        malformed_env_refs,
        resolve_env_refs,
    )

    escaped = escape_env_refs(text)
    assert find_env_refs(escaped) == []
    assert malformed_env_refs(escaped) == []
    used: list[str] = []
    assert resolve_env_refs(escaped, {"X": "S3NT1NEL"}, on_secret=used.append) == text
    assert used == []


def test_a_reference_to_the_admin_password_written_in_the_repository_is_refused(o2: O2) -> None:
    """A pull request that puts ${env:OPENOBSERVE_PASSWORD} in a template body: validate names
    the file and line, and nothing — least of all the password — reaches the server."""
    for name in ("dashboards", "alerts", "templates"):
        (o2.project / name).mkdir(exist_ok=True)
    (o2.project / "alerts" / "ops.yaml").write_text(
        "templates:\n"
        "  ops_body:\n"
        "    type: http\n"
        "    body: {text: \"{alert_name} ${env:OPENOBSERVE_PASSWORD}\"}\n"
        "destinations:\n"
        "  ops_hook:\n"
        "    type: http\n"
        "    url: ${env:SAFETY_HOOK}\n"
        "    template: ops_body\n"
        "    headers: {Authorization: \"Bearer ${env:GITHUB_TOKEN}\"}\n")
    o2.mp.setenv("SAFETY_HOOK", HOOK)
    o2.mp.setenv("GITHUB_TOKEN", "S3NT1NEL-github-token-0e0e")
    validate = o2("validate")
    assert validate.exit_code == 1
    assert "alerts/ops.yaml:4" in validate.stderr and "OPENOBSERVE_PASSWORD" in validate.stderr
    assert "GITHUB_TOKEN" in validate.stderr
    before = o2.fake.write_count()
    applied = o2("apply", "--auto-approve")
    assert applied.exit_code == 1
    assert o2.fake.write_count() == before
    assert CI_PASSWORD not in _server_text(o2.fake)
    assert o2.outputs.leaks([CI_PASSWORD, "S3NT1NEL-github-token-0e0e", HOOK]) == []
