"""Shared set-up of the ownership safety tests (issue 11, harms 3-5): copies of the shipped
project with their own ``project:`` id, the real CLI run in-process against the fake OpenObserve
(mounted as the client's transport), and a UI user editing the server over plain HTTP.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from shipped_project import copy_shipped_project
from typer.testing import CliRunner

from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults

WEBHOOK = "https://hooks.slack.example.com/services/T000/B000/OWNERSHIPTEST"


def make_repo(root: Path, project: str | None, *, folder: str = "Bedrock") -> Path:
    """A copy of the shipped project whose o2kit.yaml names ``project`` (None: no project line)
    and puts dashboards and alerts in ``folder``."""
    root.mkdir(parents=True)
    copy_shipped_project(root)
    set_project(root, project)
    set_folder(root, folder)
    return root


def set_project(root: Path, project: str | None) -> None:
    config = root / "o2kit.yaml"
    text = re.sub(r"^project:.*\n", "", config.read_text(encoding="utf-8"), flags=re.MULTILINE)
    if project is not None:
        text = f"project: {project}\n" + text
    config.write_text(text, encoding="utf-8")


def set_folder(root: Path, folder: str) -> None:
    config = root / "o2kit.yaml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"^(  (?:dashboards|alerts):) \S+$", rf"\1 {folder}", text, flags=re.MULTILINE)
    config.write_text(text, encoding="utf-8")


def new_fake() -> FakeOpenObserve:
    fake = FakeOpenObserve(seed=11)
    fake.add_stream("default", "bedrock_metrics")
    fake.add_stream("default", "bedrock_logs")
    return fake


class O2:
    """The o2kit CLI, in-process, against the fake, with the environment a user would export."""

    def __init__(self, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fake = fake
        self.transport: Any = None
        self._mp = monkeypatch
        monkeypatch.setenv("OPENOBSERVE_URL", "http://o2.test")
        monkeypatch.setenv("OPENOBSERVE_USER", DEFAULT_USER)
        monkeypatch.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
        monkeypatch.setenv("SLACK_WEBHOOK_URL", WEBHOOK)
        monkeypatch.delenv("OPENOBSERVE_ORG", raising=False)
        monkeypatch.setenv("CI", "true")

    def __call__(self, root: Path, *args: str) -> Any:
        self._mp.setattr(cli_base, "_TRANSPORT", self.transport or self.fake.transport(Faults()))
        return CliRunner().invoke(cli.app, ["--project", str(root), *args])

    def plan_json(self, root: Path, *args: str) -> dict[str, Any]:
        result = self(root, "plan", "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


class UiUser:
    """Someone clicking in the OpenObserve UI: plain HTTP to the fake."""

    def __init__(self, fake: FakeOpenObserve) -> None:
        self.http = httpx.Client(base_url="http://o2.test", transport=fake.transport(Faults()),
                                 auth=(DEFAULT_USER, DEFAULT_PASSWORD))

    def ok(self, response: httpx.Response) -> Any:
        assert 200 <= response.status_code < 300, response.text
        return response.json() if response.content else None

    def folder_id(self, folder_type: str, name: str) -> str:
        data = self.ok(self.http.get(f"/api/v2/default/folders/{folder_type}"))
        return next(str(f["folderId"]) for f in data["list"] if f["name"] == name)

    def dashboards(self, folder: str) -> list[dict[str, Any]]:
        folder_id = self.folder_id("dashboards", folder)
        data = self.ok(self.http.get("/api/default/dashboards", params={"folder": folder_id}))
        return [d["v8"] for d in data["dashboards"]]

    def copy_dashboard(self, folder: str, title: str, new_title: str) -> str:
        """What the UI's "duplicate" does: the same body (description included) under a new
        title, POSTed as a new dashboard."""
        source = next(d for d in self.dashboards(folder) if d["title"] == title)
        body = {k: v for k, v in source.items() if k not in ("dashboardId", "owner", "created")}
        body["title"] = new_title
        folder_id = self.folder_id("dashboards", folder)
        created = self.ok(self.http.post("/api/default/dashboards", params={"folder": folder_id},
                                         json=body))
        return str(created["v8"]["dashboardId"])


def plan_changes(plan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in plan["changes"] if c["kind"] == kind]
