"""Harm 1 of issue 11, "secrets printed": the real CLI against the fake OpenObserve, with sentinel
secret values in every place a secret lives, and a grep of every output for them — stdout,
stderr, ``--json``, ``--markdown``, ``--debug``, log records, error messages and tracebacks.

- a ``${env:…}`` secret inside an alert template's body and a destination's headers and URL,
  while the object differs from the server (old and new values on both sides of the diff);
- a server that echoes the request (Authorization header, the request body with the webhook URL,
  the Firehose access key) in its error body;
- a URL with an embedded password, rejected (by o2kit, and by the server).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from _secrets_harness import O2, EchoingServer, basic, copy_project

from o2kit.fake import FakeOpenObserve

CI_USER = "ci-bot@example.com"
CI_PASSWORD = "S3NT1NEL-password-4f1c"
TOKEN_OLD, TOKEN_NEW = "S3NT1NEL-body-token-old-91ab", "S3NT1NEL-body-token-new-77cd"
KEY_OLD, KEY_NEW = "S3NT1NEL-header-key-old-5e2f", "S3NT1NEL-header-key-new-0b9a"
HOOK_OLD = "https://hooks.example.com/services/S3NT1NEL-hook-old-3c3c"
HOOK_NEW = "https://hooks.example.com/services/S3NT1NEL-hook-new-8d8d"
ALL = [CI_PASSWORD, basic(CI_USER, CI_PASSWORD), TOKEN_OLD, TOKEN_NEW, KEY_OLD, KEY_NEW,
       HOOK_OLD, HOOK_NEW, "S3NT1NEL"]

ALERTS = """\
templates:
  bedrock_slack:
    type: http
    body:
      text: "*{alert_name}* fired\\n{rows}\\ntoken=${env:SAFETY_BODY_TOKEN}"
destinations:
  bedrock_slack:
    type: http
    url: ${env:SLACK_WEBHOOK_URL}
    method: post
    template: bedrock_slack
    headers:
      X-Api-Key: ${env:SAFETY_HEADER_KEY}
alerts:
  bedrock_throttling:
    template: bedrock/throttling.yaml.j2
    destinations: [bedrock_slack]
    params: {period_minutes: 10, threshold: 10}
"""


@pytest.fixture()
def fake() -> FakeOpenObserve:
    server = FakeOpenObserve(seed=11)
    server.add_stream("default", "bedrock_metrics")
    server.add_stream("default", "bedrock_logs")
    server.add_user(CI_USER, CI_PASSWORD, orgs=["default"])
    return server


@pytest.fixture()
def o2(tmp_path: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch,
       caplog: pytest.LogCaptureFixture) -> O2:
    root = copy_project(tmp_path / "repo")
    for extra in (root / "alerts").glob("*.yaml"):
        extra.unlink()
    (root / "alerts" / "bedrock.yaml").write_text(ALERTS)
    o2 = O2(root, fake, monkeypatch, caplog)
    monkeypatch.setenv("OPENOBSERVE_USER", CI_USER)
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", CI_PASSWORD)
    return o2


def _use(o2: O2, token: str, key: str, hook: str) -> None:
    o2.mp.setenv("SAFETY_BODY_TOKEN", token)
    o2.mp.setenv("SAFETY_HEADER_KEY", key)
    o2.mp.setenv("SLACK_WEBHOOK_URL", hook)


def test_env_secrets_in_a_changed_template_body_and_destination_never_print(o2: O2) -> None:
    _use(o2, TOKEN_OLD, KEY_OLD, HOOK_OLD)
    first = o2("apply", "--auto-approve")
    assert first.exit_code == 0, first.everything
    stored = json.dumps(o2.fake.templates()) + json.dumps(o2.fake.destinations())
    assert TOKEN_OLD in stored and KEY_OLD in stored  # the server did receive them

    _use(o2, TOKEN_NEW, KEY_NEW, HOOK_NEW)  # every secret rotated: both objects now differ
    text = o2("plan")
    as_json = o2("plan", "--json")
    markdown = o2("plan", "--markdown")
    o2("-v", "--debug", "plan", "--detailed-exitcode")
    applied = o2("-v", "--debug", "apply", "--auto-approve")
    assert text.exit_code == 0 and applied.exit_code == 0, applied.everything

    assert o2.outputs.leaks(ALL) == []
    # Masked, yet the plan still says that they changed and where.
    assert "(sensitive value changed)" in text.stdout
    assert 'template "bedrock_slack"' in text.stdout
    assert 'destination "bedrock_slack"' in text.stdout
    doc = json.loads(as_json.stdout)
    fields = {(c["kind"], f["path"]): f for c in doc["changes"] for f in c["fields"]}
    assert fields[("template", "body")]["sensitive"] is True
    assert fields[("template", "body")]["new"] == "(sensitive)"
    assert fields[("destination", "headers.X-Api-Key")]["sensitive"] is True
    assert "(sensitive value changed)" in markdown.stdout


def test_a_server_echoing_the_request_in_its_error_is_masked(o2: O2) -> None:
    """Authorization (Basic user:password), the body with the webhook URL and header, echoed."""
    _use(o2, TOKEN_NEW, KEY_NEW, HOOK_NEW)

    def writes_of_destinations(request: httpx.Request) -> bool:
        return "/alerts/destinations" in request.url.path and request.method in ("POST", "PUT")

    for as_json in (True, False):
        o2.transport_wrapper = lambda inner, j=as_json: EchoingServer(  # type: ignore[misc]
            inner, writes_of_destinations, as_json=j)
        failed = o2("apply", "--auto-approve")
        debug = o2("--debug", "-v", "apply", "--auto-approve")
        assert failed.exit_code == 1 and debug.exit_code == 1
        assert "400" in failed.stderr  # the error itself is reported
    # A read answered with the echo fails the plan: the message still names the request.
    o2.transport_wrapper = lambda inner: EchoingServer(
        inner, lambda r: r.url.path.endswith("/alerts/templates"))
    plan = o2("plan")
    assert plan.exit_code == 1 and "/alerts/templates" in plan.stderr
    assert o2.outputs.leaks(ALL) == []


def test_the_firehose_access_key_echoed_by_the_server_is_masked(o2: O2) -> None:
    o2.mp.setenv("SAFETY_INGEST_SECRET", "S3NT1NEL-ingest-secret-6a6a")
    o2.transport_wrapper = lambda inner: EchoingServer(
        inner, lambda r: r.url.path.endswith("/_kinesis_firehose"), as_json=False)
    run = o2("seed", "--minutes", "2", "--access-key-secret-env", "SAFETY_INGEST_SECRET")
    assert run.exit_code == 1, run.everything
    secrets = [*ALL, "S3NT1NEL-ingest-secret-6a6a", basic(CI_USER, "S3NT1NEL-ingest-secret-6a6a")]
    assert o2.outputs.leaks(secrets) == []


@pytest.mark.parametrize("url", [
    "ftp://admin:S3NT1NEL-url-password@o2.test",
    "https://admin:S3NT1NEL-url-password@o2 .test/",
    "o2.test://admin:S3NT1NEL-url-password@o2.test",
])
def test_a_rejected_server_url_is_named_without_its_password(o2: O2, url: str) -> None:
    _use(o2, TOKEN_NEW, KEY_NEW, HOOK_NEW)
    for args in (("plan", "--url", url), ("--debug", "plan", "--url", url)):
        run = o2(*args)
        assert run.exit_code == 1, run.everything
        assert "URL" in run.stderr or "url" in run.stderr
    o2.mp.setenv("OPENOBSERVE_URL", url)
    o2("apply", "--auto-approve")
    assert o2.outputs.leaks(["S3NT1NEL-url-password"]) == []


def test_a_webhook_url_with_a_password_rejected_by_the_server_is_masked(o2: O2) -> None:
    """The server refuses the destination and says why, URL included."""
    hook = "https://alerts:S3NT1NEL-hook-password@hooks.example.com/x"
    _use(o2, TOKEN_NEW, KEY_NEW, hook)
    o2.transport_wrapper = lambda inner: EchoingServer(
        inner, lambda r: "/alerts/destinations" in r.url.path and r.method == "POST",
        extra=f"refused URL {hook}: ")
    run = o2("apply", "--auto-approve")
    assert run.exit_code == 1
    assert o2.outputs.leaks([*ALL, "S3NT1NEL-hook-password", hook]) == []


def test_a_debug_traceback_is_formatted_then_masked(
        o2: O2, monkeypatch: pytest.MonkeyPatch) -> None:
    """An o2kit bug whose exception carries a secret (its text and a local variable)."""
    from o2kit.sync import remote

    _use(o2, TOKEN_NEW, KEY_NEW, HOOK_NEW)

    def broken(client: object, **_kw: object) -> None:
        secret_in_a_local = f"{CI_PASSWORD} {HOOK_NEW}"
        raise RuntimeError(f"unexpected state near {secret_in_a_local}")

    monkeypatch.setattr(remote, "fetch_live", broken)
    debug = o2("--debug", "plan")
    plain = o2("plan")
    assert debug.exit_code == 1 and plain.exit_code == 1
    assert "Traceback" in debug.stderr and "RuntimeError" in debug.stderr
    assert "Internal error" in plain.stderr
    assert o2.outputs.leaks(ALL) == []


def test_a_real_process_masks_its_debug_log_and_errors(
        o2: O2, fake: FakeOpenObserve, tmp_path: Path) -> None:
    """``python -m o2kit`` with the real standard streams and logging set-up, against the fake
    served on loopback: --debug HTTP logs, -v, and an error naming a URL with a password."""
    import os
    import subprocess
    import sys

    server = fake.serve()
    try:
        env = {**os.environ, "OPENOBSERVE_URL": server.url, "OPENOBSERVE_USER": CI_USER,
               "OPENOBSERVE_PASSWORD": CI_PASSWORD, "SAFETY_BODY_TOKEN": TOKEN_NEW,
               "SAFETY_HEADER_KEY": KEY_NEW, "SLACK_WEBHOOK_URL": HOOK_NEW, "CI": "true"}
        outputs = []
        for args in (["--debug", "-v", "apply", "--auto-approve"],
                     ["--debug", "plan", "--markdown"],
                     ["plan", "--url", "ftp://admin:S3NT1NEL-url-password@o2.test"]):
            done = subprocess.run([sys.executable, "-m", "o2kit", "-C", str(o2.project), *args],
                                  env=env, capture_output=True, text=True, timeout=120,
                                  check=False)
            outputs.append(done.stdout + done.stderr)
        assert "DEBUG" in outputs[0] and "Apply:" in outputs[0], outputs[0]
        assert "URL" in outputs[2]
    finally:
        server.stop()
    for text in outputs:
        for secret in [*ALL, "S3NT1NEL-url-password"]:
            assert secret not in text, (secret, text)
