"""Issue 11, harm 4: overwrites that are not ours.

The real CLI against the fake OpenObserve: an alert template a person created in the UI with the
name of one in code is never overwritten without ``--adopt`` (templates carry no marker; o2kit
records the ones it owns in the server's key-value store); an alert edited in the UI after apply
read it and before apply writes it stops with "changed on the server since plan", nothing
written, unless ``--force``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from ownership_world import O2, make_repo, new_fake, plan_changes

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, Faults
from o2kit.sync import plan as planmod

HAND_MADE = '{"text": "written by hand in the UI"}'


@pytest.fixture()
def o2(monkeypatch: pytest.MonkeyPatch) -> O2:
    return O2(new_fake(), monkeypatch)


def _template_body(o2: O2, name: str) -> str:
    return next(t["body"] for t in o2.fake.templates() if t["name"] == name)


def test_a_ui_template_with_a_name_in_code_is_not_overwritten_without_adopt(
    o2: O2, tmp_path: Path
) -> None:
    ui = httpx.Client(base_url="http://o2.test", transport=o2.fake.transport(Faults()),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD))
    created = ui.post("/api/default/alerts/templates",
                      json={"name": "bedrock_slack", "body": HAND_MADE, "type": "http"})
    assert created.status_code == 200, created.text

    a = make_repo(tmp_path / "a", "team-a")
    for _ in range(2):  # the second apply is where today's "managed by reference" took it over
        result = o2(a, "apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        assert _template_body(o2, "bedrock_slack") == HAND_MADE

    plan = o2.plan_json(a)
    (template,) = plan_changes(plan, "template")
    assert template["action"] == "noop"
    assert template["reason"] == planmod.NOT_OURS_UNMARKABLE.format(kind="template")
    assert "use --adopt" in template["reason"]

    # With --adopt it becomes ours, and stays ours: the next plan is clean.
    result = o2(a, "apply", "--auto-approve", "--adopt")
    assert result.exit_code == 0, result.output
    assert _template_body(o2, "bedrock_slack") != HAND_MADE
    assert o2(a, "plan", "--detailed-exitcode").exit_code == 0


class _EditBeforeWrite:
    """A transport that lets a UI user change one alert at the last moment: on the second GET of
    that alert (apply re-reading it before writing) or on the first PUT to it, whichever comes
    first, the UI edit lands before the request is served."""

    def __init__(self, o2: O2, alert_id: str, edit: dict[str, Any]) -> None:
        self.inner = o2.fake.transport(Faults())
        self.fake, self.alert_id, self.edit = o2.fake, alert_id, edit
        self.gets, self.done = 0, False
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == f"/api/v2/default/alerts/{self.alert_id}":
            with self.lock:
                self.gets += request.method == "GET"
                trigger = not self.done and (
                    request.method == "PUT" or (request.method == "GET" and self.gets >= 2))
                if trigger:
                    self.done = True
                    status, _h, _b = self.fake.handle(
                        "PUT", path, {}, _auth_headers(), json.dumps(self.edit).encode())
                    assert status == 200
        return self.inner.handle_request(request)


def _auth_headers() -> dict[str, str]:
    basic = httpx.BasicAuth(DEFAULT_USER, DEFAULT_PASSWORD)
    request = next(basic.auth_flow(httpx.Request("GET", "http://o2.test/")))
    return {"authorization": request.headers["authorization"],
            "content-type": "application/json"}


def test_an_alert_edited_in_the_ui_between_plan_and_apply_is_not_overwritten(
    o2: O2, tmp_path: Path
) -> None:
    a = make_repo(tmp_path / "a", "team-a")
    assert o2(a, "apply", "--auto-approve").exit_code == 0
    stored = next(x for x in o2.fake.alerts() if x["name"] == "bedrock_throttling")
    alert_id = str(stored["id"])

    # Code changes the alert's description, so apply will update it...
    alerts_file = a / "alerts" / "bedrock.yaml"
    text = alerts_file.read_text(encoding="utf-8")
    assert "  bedrock_throttling:\n" in text
    alerts_file.write_text(text.replace(
        "  bedrock_throttling:\n", "  bedrock_throttling:\n    description: changed in git\n", 1),
        encoding="utf-8")
    # ...and a UI user raises its threshold while apply runs.
    ui_edit = {k: v for k, v in stored.items() if k != "folder_id"}
    ui_edit["trigger_condition"] = {**stored["trigger_condition"], "threshold": 999}
    o2.transport = _EditBeforeWrite(o2, alert_id, ui_edit)

    result = o2(a, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert "changed on the server since plan" in result.output
    after = next(x for x in o2.fake.alerts() if x["id"] == alert_id)
    assert after["trigger_condition"]["threshold"] == 999  # the UI edit survived
    assert after.get("description", "") != "changed in git"

    # --force overwrites it, knowingly.
    o2.transport = None
    result = o2(a, "apply", "--auto-approve", "--force")
    assert result.exit_code == 0, result.output
    after = next(x for x in o2.fake.alerts() if x["id"] == alert_id)
    assert after["description"] == "changed in git"
    assert after["trigger_condition"]["threshold"] != 999


def test_an_owned_template_is_updated_without_writing_its_record_again(
    o2: O2, tmp_path: Path
) -> None:
    a = make_repo(tmp_path / "a", "team-a")
    o2.fake.request_log.clear()
    assert o2(a, "apply", "--auto-approve").exit_code == 0
    first = [(r.method, r.path) for r in o2.fake.request_log if "/kv/" in r.path]
    assert ("POST" in {m for m, _p in first}), first  # created: its record is written

    alerts = a / "alerts" / "bedrock.yaml"
    text = alerts.read_text(encoding="utf-8")
    edited = text.replace("*{alert_name}*", "*{alert_name}* (edited)", 1)
    assert edited != text
    alerts.write_text(edited, encoding="utf-8")
    o2.fake.request_log.clear()
    result = o2(a, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    writes = [(r.method, r.path) for r in o2.fake.request_log if r.method != "GET"]
    assert any("/alerts/templates/" in path for _m, path in writes), writes  # it was updated
    assert not [w for w in writes if "/kv/" in w[1]], writes  # and its record left as it was
    assert "(edited)" in _template_body(o2, "bedrock_slack")
    assert o2(a, "plan", "--detailed-exitcode").exit_code == 0
