"""The o2kit CLI run against the fake OpenObserve, as the end-to-end tests of every kind use it.

``O2`` runs the real CLI with the environment a user would export, the fake mounted as the
client's transport (no patching of o2kit's logic); ``bedrock_fake`` is a fake whose Bedrock streams
have data. Importable from any test folder (``pythonpath = ["tests"]`` in pyproject.toml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults

WEBHOOK = "https://hooks.slack.example.com/services/T000/B000/SECRETSECRET"


def bedrock_fake(seed: int) -> FakeOpenObserve:
    """A fake server where Bedrock data has arrived: the streams the alerts query exist."""
    server = FakeOpenObserve(seed=seed)
    server.add_stream("default", "bedrock_metrics")
    server.add_stream("default", "bedrock_logs")
    return server


class O2:
    """Runs the o2kit CLI against the fake, with the environment a user would export."""

    def __init__(self, project: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch):
        self.project = project
        self.fake = fake
        self.faults: Faults | None = None
        self._mp = monkeypatch
        monkeypatch.setenv("OPENOBSERVE_URL", "http://o2.test")
        monkeypatch.setenv("OPENOBSERVE_USER", DEFAULT_USER)
        monkeypatch.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
        monkeypatch.setenv("SLACK_WEBHOOK_URL", WEBHOOK)
        monkeypatch.delenv("OPENOBSERVE_ORG", raising=False)
        monkeypatch.setenv("CI", "true")

    def __call__(self, *args: str) -> Any:
        self._mp.setattr(cli_base, "_TRANSPORT", self.fake.transport(self.faults))
        return CliRunner().invoke(cli.app, ["--project", str(self.project), *args])

    def plan_json(self, *args: str) -> dict[str, Any]:
        result = self("plan", "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def http(self) -> httpx.Client:
        """A second client, as a UI user editing the server would be."""
        return httpx.Client(base_url="http://o2.test", transport=self.fake.transport(Faults()),
                            auth=(DEFAULT_USER, DEFAULT_PASSWORD))


def post_traffic(fake: FakeOpenObserve, traffic: Any) -> None:
    """Deliver synthetic Bedrock traffic (``aws.synth.generate``) to ``fake`` as Kinesis Data
    Firehose would: the invocation logs and the metric stream, through o2kit's client."""
    import base64

    from o2kit.aws.synth import firehose_bodies
    from o2kit.project.config import ServerSettings
    from o2kit.sync.client import OpenObserveClient

    key = base64.b64encode(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}".encode()).decode()
    settings = ServerSettings(url="http://o2", org="default", user=DEFAULT_USER,
                              password=DEFAULT_PASSWORD, retries=0)
    logs, metrics = firehose_bodies(traffic, max_records=50)
    with OpenObserveClient(settings, transport=fake.transport()) as client:
        for body in logs:
            client.post_firehose("bedrock_logs", body, access_key=key)
        for body in metrics:
            client.post_firehose("bedrock_metrics", body, access_key=key)
