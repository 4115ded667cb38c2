"""Shared harness of the secrets and output-safety tests: the real CLI (in process, through
typer's runner, or as a subprocess) against the fake OpenObserve, and a grep over every output.

Each invocation starts with an empty redaction registry, as a new o2kit process would: a test
must not pass because an earlier invocation in the same process had learnt a secret.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from shipped_project import copy_shipped_project
from typer.testing import CliRunner

from o2kit.cli import app as cli

try:
    from o2kit.cli import (
        base as cli_base,  # where the fake is mounted (o2kit.cli.app before the split)
    )
except ImportError:  # pragma: no cover
    cli_base = cli
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults


def forms(secret: str) -> list[str]:
    """A secret and the spellings it takes on the way out (URL-encoded, JSON-escaped)."""
    return sorted({secret, quote(secret, safe=""), json.dumps(secret)[1:-1]})


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def copy_project(root: Path) -> Path:
    return copy_shipped_project(root, envs=False)


def forget_secrets() -> None:
    try:
        from o2kit import redact  # type: ignore[attr-defined]
    except ImportError:  # before the redaction layer existed
        return
    redact.clear_registry()


@dataclass
class Run:
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    logs: str  # every log record's message and formatted traceback

    @property
    def everything(self) -> str:
        return "\n".join((self.stdout, self.stderr, self.logs))


@dataclass
class Outputs:
    """Everything the CLI printed or logged during a test."""

    runs: list[Run] = field(default_factory=list)

    def add(self, run: Run) -> Run:
        self.runs.append(run)
        return run

    def leaks(self, secrets: Iterable[str]) -> list[tuple[tuple[str, ...], str]]:
        found = []
        for secret in secrets:
            for form in forms(secret):
                for run in self.runs:
                    if form in run.everything:
                        found.append((run.args, form))
        return found


class O2:
    """The real CLI against the fake; ``transport_wrapper`` may wrap the fake's transport."""

    def __init__(self, project: Path, fake: FakeOpenObserve, mp: pytest.MonkeyPatch,
                 caplog: pytest.LogCaptureFixture) -> None:
        self.project, self.fake, self.mp, self.caplog = project, fake, mp, caplog
        self.outputs = Outputs()
        self.transport_wrapper: Callable[[httpx.BaseTransport], httpx.BaseTransport] | None = None
        mp.setenv("OPENOBSERVE_URL", "http://o2.test")
        mp.setenv("OPENOBSERVE_USER", DEFAULT_USER)
        mp.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
        mp.delenv("OPENOBSERVE_ORG", raising=False)
        mp.setenv("CI", "true")
        caplog.set_level(logging.DEBUG)

    def __call__(self, *args: str) -> Run:
        forget_secrets()
        transport: httpx.BaseTransport = self.fake.transport(Faults())
        if self.transport_wrapper is not None:
            transport = self.transport_wrapper(transport)
        self.mp.setattr(cli_base, "_TRANSPORT", transport)
        self.caplog.clear()
        result = CliRunner().invoke(cli.app, ["--project", str(self.project), *args])
        logs = []
        for record in self.caplog.records:
            logs.append(record.getMessage())
            if record.exc_info:
                logs.append(logging.Formatter().formatException(record.exc_info))
        logs.append(self.caplog.text)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            # An exception escaping the CLI is printed by Python's hook in a real process.
            import traceback

            logs.append("".join(traceback.format_exception(result.exception)))
        return self.outputs.add(Run(tuple(args), result.exit_code, result.stdout,
                                    result.stderr, "\n".join(logs)))

    def http(self) -> httpx.Client:
        """A UI user, editing the server directly."""
        return httpx.Client(base_url="http://o2.test", transport=self.fake.transport(Faults()),
                            auth=(DEFAULT_USER, DEFAULT_PASSWORD))


class EchoingServer(httpx.BaseTransport):
    """The fake OpenObserve behind a proxy that, for requests ``match`` selects, answers 400 with
    an error body echoing the whole request: method, URL, every header (Authorization and
    X-Amz-Firehose-Access-Key included) and the body — as some servers and gateways do."""

    def __init__(self, inner: httpx.BaseTransport, match: Callable[[httpx.Request], bool],
                 *, as_json: bool = True, extra: str = "") -> None:
        self.inner, self.match, self.as_json, self.extra = inner, match, as_json, extra

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.match(request):
            return self.inner.handle_request(request)
        body = request.read().decode("utf-8", "replace")
        headers = "; ".join(f"{k}: {v}" for k, v in request.headers.items()
                            if k.lower() in ("authorization", "x-amz-firehose-access-key"))
        # Short enough that a client cutting long bodies still shows all of it.
        echo = f"{self.extra}bad request [{headers}] body={body[:120]}"
        if self.as_json:
            return httpx.Response(400, json={"code": 400, "message": echo,
                                             "error_detail": f"request body: {body}"})
        return httpx.Response(400, text=echo)


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
