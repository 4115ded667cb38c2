"""Harm 7 of issue 11: `Retry-After: 60` was obeyed four times in silence. A server's wait is now
capped at 30 s (client.RETRY_AFTER_CAP) and every wait of a second or more is shown ("waiting
30 s: server said 429 …"); one command retries at most MAX_TOTAL_RETRIES times and waits at most
MAX_TOTAL_RETRY_WAIT seconds in all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from bounds_helpers import copy_project, run, server_env

from o2kit.errors import ApiError
from o2kit.fake import FakeOpenObserve, Faults
from o2kit.project.config import ServerSettings
from o2kit.sync import client as client_module
from o2kit.sync.client import OpenObserveClient


def test_retry_after_is_capped_and_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOpenObserve(seed=1)
    server_env(monkeypatch, fake)
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    from o2kit.cli import base as cli_base

    monkeypatch.setattr(cli_base, "_TRANSPORT", fake.transport(
        Faults(error_rate=1.0, error_statuses=(429,), retry_after_s=60)))
    result = run(copy_project(tmp_path / "repo"), "plan")
    assert result.exit_code == 1, result.output
    assert waits and all(w == client_module.RETRY_AFTER_CAP == 30.0 for w in waits), waits
    assert "waiting 30 s: server said 429, Retry-After 60 s capped at 30 s" in result.output, (
        result.output)
    assert result.output.count("waiting 30 s") == len(waits)


def test_one_command_stops_retrying_when_its_budget_is_spent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOpenObserve(seed=1)
    settings = ServerSettings(url="http://o2.test", org="default", user="admin@example.com",
                              password="x", retries=4)
    waits: list[float] = []
    client = OpenObserveClient(settings, sleep=waits.append, random=lambda: 1.0,
                               transport=fake.transport(Faults(error_rate=1.0,
                                                               error_statuses=(503,))))
    for _ in range(40):
        with pytest.raises(ApiError):
            client.list_folders("dashboards")
    assert len(waits) == client_module.MAX_TOTAL_RETRIES
    assert sum(waits) <= client_module.MAX_TOTAL_RETRY_WAIT
    assert client.request_count == 40 + client_module.MAX_TOTAL_RETRIES
