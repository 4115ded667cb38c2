"""Harm 7 of issue 11, output half: control characters and ANSI escapes from server strings and
titles never reach a terminal, and Markdown in a title cannot break out of the pull-request
comment (its table, its ``<details>`` blocks, its ``<!-- o2kit-plan -->`` marker).

The real CLI against the fake OpenObserve; titles written by a UI user on the server and by a
user in the repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from _secrets_harness import O2, EchoingServer, copy_project

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults

# OSC (set the window title), clear screen, colour, an 8-bit CSI, BEL, backspace, and a bidi
# override that makes a terminal show text reversed.
HOSTILE = "Evil\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b1m\x08\x07\u202etxet"
FOREIGN = ("\x1b", "\x07", "\x9b", "\x08", "\u202e")
MARKDOWN = "Evil | </details> <!-- o2kit-plan --> [x](https://e.example) **b** `c` <img src=x>"


@pytest.fixture()
def fake() -> FakeOpenObserve:
    server = FakeOpenObserve(seed=13)
    server.add_stream("default", "bedrock_metrics")
    server.add_stream("default", "bedrock_logs")
    return server


@pytest.fixture()
def o2(tmp_path: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch,
       caplog: pytest.LogCaptureFixture) -> O2:
    o2 = O2(copy_project(tmp_path / "repo"), fake, monkeypatch, caplog)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.example.com/services/T/B/x")
    return o2


def _ui_dashboard(fake: FakeOpenObserve, folder_name: str, title: str) -> None:
    ui = httpx.Client(base_url="http://o2.test", transport=fake.transport(Faults()),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD))
    folders = ui.get("/api/v2/default/folders/dashboards").json()["list"]
    folder = next((f for f in folders if f["name"] == folder_name), None)
    if folder is None:
        folder = ui.post("/api/v2/default/folders/dashboards",
                         json={"name": folder_name, "description": ""}).json()
    made = ui.post("/api/default/dashboards", params={"folder": folder["folderId"]},
                   json={"version": 8, "title": title, "description": title,
                         "tabs": [{"tabId": "main", "name": title, "panels": []}]})
    assert made.status_code == 200, made.text


def _foreign(text: str) -> list[str]:
    return [c for c in FOREIGN if c in text]


def test_escape_sequences_from_server_titles_and_errors_never_reach_the_terminal(o2: O2) -> None:
    applied = o2("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.everything
    _ui_dashboard(o2.fake, "Bedrock", HOSTILE)  # next to ours: listed as unmanaged
    _ui_dashboard(o2.fake, "Imported", HOSTILE)

    verbose = o2("-v", "plan")  # -v lists the unchanged objects by name
    assert verbose.exit_code == 0, verbose.everything
    assert "Evil" in verbose.stdout
    o2("plan", "--markdown")
    o2("--debug", "plan", "--json")
    dry = o2("export", "--folder", "Imported", "--dry-run")
    assert dry.exit_code == 0, dry.everything
    # A server error whose message carries escape sequences.
    o2.transport_wrapper = lambda inner: EchoingServer(
        inner, lambda r: r.url.path.endswith("/alerts/templates"), extra=HOSTILE + ": ")
    failed = o2("plan")
    assert failed.exit_code == 1 and "Evil" in failed.stderr

    for run in o2.outputs.runs:
        assert _foreign(run.stdout) == [] and _foreign(run.stderr) == [], (run.args, run.stdout,
                                                                           run.stderr)


def test_escape_sequences_in_a_title_written_in_the_repository_are_stripped(o2: O2) -> None:
    dashboard = o2.project / "dashboards" / "bedrock.yaml"
    text = dashboard.read_text()
    title = 'title: "Bedrock \\e[2J\\e]0;x\\a overview"'  # YAML escapes: ESC, BEL
    text = re.sub(r"^title: .*$", lambda _m: title, text, flags=re.M)
    dashboard.write_text(text)
    runs = [o2("plan"), o2("-v", "apply", "--auto-approve")]
    assert runs[0].exit_code == 0, runs[0].everything
    for run in runs:
        assert "Bedrock" in run.stdout + run.stderr
        assert _foreign(run.stdout) == [] and _foreign(run.stderr) == [], run


def _cells(row: str) -> list[str]:
    """Cells of a GitHub table row: split on pipes that are not backslash-escaped."""
    return re.split(r"(?<!\\)\|", row.strip())[1:-1]


def test_markdown_in_titles_cannot_break_out_of_the_pull_request_comment(o2: O2) -> None:
    # A user-written title (a new dashboard) and a server title (an unmanaged one is adopted).
    (o2.project / "dashboards" / "evil.yaml").write_text(
        (o2.project / "dashboards" / "bedrock.yaml").read_text().replace(
            "title: Bedrock overview", "title: " + json.dumps(MARKDOWN)))
    md_run = o2("plan", "--markdown")
    assert md_run.exit_code == 0, md_run.everything
    md = md_run.stdout

    assert md.count("<!-- o2kit-plan -->") == 1 and md.startswith("<!-- o2kit-plan -->")
    assert md.count("<details>") == md.count("</details>") == md.count("<summary>")
    assert "<img" not in md and "[x](" not in md and "**b**" not in md
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert rows and all(len(_cells(row)) == 5 for row in rows), rows
    evil = [row for row in rows if "Evil" in row]
    assert len(evil) == 1, rows
    # Every line outside fenced code is our own markup or escaped text.
    in_fence = False
    for line in md.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if not in_fence and "Evil" in line:
            assert "</details>" not in line and "<!--" not in line, line

    # The same through --env all (one comment for every environment).
    (o2.project / "envs").mkdir(exist_ok=True)
    (o2.project / "envs" / "prod.yaml").write_text("org: default\n")
    every = o2("--env", "all", "plan", "--markdown").stdout
    assert every.count("<!-- o2kit-plan -->") == 1
    assert every.count("<details>") == every.count("</details>")
