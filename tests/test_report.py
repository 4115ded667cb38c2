"""Plan reports: golden text and Markdown, the JSON schema, secrets masked everywhere.

Golden files live in tests/golden_report/; regenerate them on purpose with
``O2KIT_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from test_kinds_samples import (
    SECRET_TOKEN,
    SECRET_URL,
    desired_alert,
    desired_dashboard,
    desired_set,
    live_alert,
    live_dashboard,
    live_set,
    res,
)

from o2kit.kinds import ALERT_MARKER_TAG, MARKER_TEXT
from o2kit.model import Plan
from o2kit.sync import report
from o2kit.sync.plan import build_plan, plan_checksum

GOLDEN = Path(__file__).parent / "golden_report"
OLD_URL = "https://hooks.example.com/services/T000/B000/0ld-w3bh00k-t0k3n"
OLD_TOKEN = "Bearer tok_old-and-also-secret"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("O2KIT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} missing: run the tests once with O2KIT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from the golden file; if the change is intended, regenerate with "
        "O2KIT_UPDATE_GOLDEN=1 and review the diff"
    )


def scenario() -> Plan:
    """A plan with every action, a secret change, a SQL line diff, warnings and no-ops."""
    desired = desired_set()
    dash = desired[4].body
    panels = dash["tabs"][0]["panels"]
    panels[1]["queries"][0]["query"] = panels[1]["queries"][0]["query"].replace(
        "WHERE panel = 'errors'", "WHERE panel = 'errors' AND level = 'error'"
    )
    tokens = json.loads(json.dumps(panels[0]))
    tokens.update({"id": "tokens", "title": "Tokens"})
    panels.insert(1, tokens)
    desired[5].body["trigger_condition"]["threshold"] = 3
    throttles = desired_alert()
    throttles.update({"name": "bedrock_throttles", "stream_name": "bedrock_metrics"})
    desired.append(
        res("alert", ("Bedrock", "bedrock_throttles"), throttles, source="alerts/bedrock.yaml")
    )
    cost = desired_dashboard()
    cost["title"] = "Bedrock cost"
    desired.append(
        res("dashboard", ("Bedrock", "Bedrock cost"), cost, source="dashboards/cost.yaml")
    )

    live = live_set()
    live[3].body["url"] = OLD_URL
    live[3].body["headers"] = {"Authorization": OLD_TOKEN}
    old_throttles = live_alert()
    old_throttles["name"] = "bedrock_throttles"
    live.append(res("alert", ("Bedrock", "bedrock_throttles"), old_throttles, server_id="A2"))
    old = live_dashboard()
    old["title"] = "Old overview"
    live.append(
        res(
            "dashboard",
            ("Bedrock", "Old overview"),
            old,
            server_id="7400000000000000009",
            meta={"hash": "42"},
        )
    )
    theirs = live_dashboard()
    theirs["description"] = "made by hand"
    live.append(res("dashboard", ("Team", "Theirs"), theirs, server_id="7400000000000000010"))
    return build_plan(
        desired, live, prune=True, org="default", env="prod", existing_streams={("logs", "bedrock")}
    )


def test_scenario_has_every_action() -> None:
    plan = scenario()
    assert report.counts(plan) == {"create": 1, "update": 3, "replace": 1, "delete": 1, "noop": 4}


def test_text_golden() -> None:
    check_golden("plan.txt", report.render_text(scenario()))


def test_text_verbose_golden() -> None:
    check_golden("plan_verbose.txt", report.render_text(scenario(), verbose_noops=True))


def test_markdown_golden() -> None:
    check_golden("plan.md", report.render_markdown(scenario()))


def test_json_golden_and_schema() -> None:
    doc = report.render_json(scenario())
    check_golden("plan.json", json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert doc["format_version"] == 1
    assert set(doc) == {
        "format_version",
        "org",
        "env",
        "project",
        "checksum",
        "has_changes",
        "summary",
        "noop_reasons",
        "warnings",
        "changes",
    }
    for change in doc["changes"]:
        assert set(change) == {
            "action",
            "kind",
            "key",
            "address",
            "server_id",
            "source",
            "reason",
            "missing_stream",
            "fields",
            "fingerprint",
        }
        for f in change["fields"]:
            assert {"path", "sensitive"} <= set(f) <= {"path", "sensitive", "old", "new"}


def test_plain_text_has_no_escape_codes_and_color_only_adds_them() -> None:
    plan = scenario()
    plain = report.render_text(plan)
    colored = report.render_text(plan, color=True)
    assert "\x1b" not in plain
    assert "\x1b[32m" in colored and "\x1b[31m" in colored
    assert ANSI.sub("", colored) == plain


@pytest.mark.parametrize(
    "secret", [SECRET_URL, SECRET_TOKEN, OLD_URL, OLD_TOKEN, "s3cr3t", "0ld-w3bh00k", "tok_old"]
)
def test_secrets_never_appear_in_any_output(secret: str) -> None:
    plan = scenario()
    outputs: list[str] = [
        report.render_text(plan),
        report.render_text(plan, color=True, verbose_noops=True),
        report.render_markdown(plan),
        json.dumps(report.render_json(plan), ensure_ascii=False),
    ]
    for out in outputs:
        assert secret not in out
    assert "(sensitive value changed)" in outputs[0]


def test_secret_whole_object_is_masked() -> None:
    desired = desired_set()
    live = live_set()
    del live[3].body["headers"]
    text = report.render_text(build_plan(desired, live))
    assert "headers: (absent) → (sensitive)" in text
    assert SECRET_TOKEN not in text


def test_sql_change_is_a_line_diff() -> None:
    text = report.render_text(scenario())
    assert "-WHERE panel = 'errors'" in text
    assert "+WHERE panel = 'errors' AND level = 'error'" in text
    assert ' FROM "bedrock"' in text  # context line


def test_markdown_can_be_found_and_fences_hold() -> None:
    md = report.render_markdown(scenario())
    assert md.startswith("<!-- o2kit-plan -->\n")
    assert md.count("<details>") == md.count("</details>")
    assert md.count("```") % 2 == 0
    assert f"`{plan_checksum(scenario())}`" in md


def test_no_changes_text() -> None:
    text = report.render_text(build_plan(desired_set(), live_set()))
    assert "No changes: the server matches the code." in text
    assert "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 6 unchanged." in text
    assert "  6 in sync" in text


def test_markdown_escapes_names() -> None:
    body: dict[str, Any] = desired_dashboard()
    body["title"] = "a|b `c`"
    plan = build_plan([res("dashboard", ("F", "a|b `c`"), body)], [])
    md = report.render_markdown(plan)
    row = next(line for line in md.splitlines() if line.startswith("| `+`"))
    assert "a\\|b" in row and row.count(" | ") >= 4


def test_marker_never_shows_as_a_change() -> None:
    text = report.render_text(scenario(), verbose_noops=True)
    assert MARKER_TEXT not in text
    assert ALERT_MARKER_TAG not in text
