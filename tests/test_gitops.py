"""scripts/gitops.sh end to end: the real script in bash, the installed o2kit, the fake
OpenObserve served on loopback, and (for the pull-request comment) a small fake of GitHub's
issue-comments API on loopback. Nothing leaves the machine; the venv is not reinstalled
(O2KIT_SKIP_INSTALL=1 with this interpreter's bin directory first on PATH).

Also checks that the GitHub workflow parses and calls the script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from _fake_github import GitHubApiHandler, serve
from shipped_project import copy_shipped_project

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve
from o2kit.sync.report import MARKDOWN_MARKER

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gitops.sh"
WORKFLOW = REPO / ".github" / "workflows" / "o2kit.yml"
# Without alert-tests/: `o2kit test` takes seconds, so only the tests about that step copy it.
WEBHOOK = "https://hooks.slack.example.com/services/T000/B000/SECRETSECRET"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _project(root: Path, envs: dict[str, str] | None) -> Path:
    copy_shipped_project(root, envs=False)
    if envs is not None:
        (root / "envs").mkdir()
        for env, text in envs.items():
            (root / "envs" / f"{env}.yaml").write_text(text, encoding="utf-8")
    return root


STAGING = (REPO / "envs" / "staging.yaml").read_text(encoding="utf-8")


@pytest.fixture()
def fake() -> Iterator[tuple[FakeOpenObserve, str]]:
    server = FakeOpenObserve(seed=11)
    # Not org "default": OpenObserve shows the default org's alert templates in every org and
    # refuses to create one with the same name elsewhere (src/core/src/alerts/templates.rs), so
    # the same project cannot be applied to "default" and to another org on one server.
    for org in ("prod", "staging"):
        server.add_org(org)
        server.add_stream(org, "bedrock_metrics")
        server.add_stream(org, "bedrock_logs")
    with server.serve() as running:
        yield server, running.url


class Gitops:
    """Runs ``bash scripts/gitops.sh`` with a CI-like environment (no GitHub token)."""

    def __init__(self, project: Path, url: str, tmp: Path) -> None:
        self.project = project
        self.out = tmp / "out"
        self.summary = tmp / "summary.md"
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("OPENOBSERVE_", "O2KIT_", "GITHUB_"))}
        self.env: dict[str, str] = {
            **keep,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "O2KIT_SKIP_INSTALL": "1",
            "O2KIT_PROJECT": str(project),
            "O2KIT_OUT": str(self.out),
            "OPENOBSERVE_URL": url,
            "OPENOBSERVE_USER": DEFAULT_USER,
            "OPENOBSERVE_PASSWORD": DEFAULT_PASSWORD,
            "SLACK_WEBHOOK_URL": WEBHOOK,
            "GITHUB_STEP_SUMMARY": str(self.summary),
        }

    def __call__(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        self.summary.write_text("", encoding="utf-8")  # a fresh job summary per run
        return subprocess.run(["bash", str(SCRIPT), *args], env={**self.env, **extra},
                              capture_output=True, text=True, timeout=120, check=False)

    def summary_text(self) -> str:
        return self.summary.read_text(encoding="utf-8")


def _ok(result: subprocess.CompletedProcess[str], code: int = 0) -> None:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def _plan_counts(markdown: str) -> list[int]:
    """The create counts of each plan's summary line in a Markdown document."""
    return [int(line.split("Plan: ")[1].split()[0])
            for line in markdown.splitlines() if "Plan: " in line]


@pytest.fixture()
def two_envs(tmp_path: Path, fake: tuple[FakeOpenObserve, str]) -> Gitops:
    project = _project(tmp_path / "repo", {"prod": "org: prod\n", "staging": STAGING})
    return Gitops(project, fake[1], tmp_path)


def test_deploy_goes_on_after_a_failed_env_and_fails_at_the_end(
        tmp_path: Path, fake: tuple[FakeOpenObserve, str]) -> None:
    server, url = fake
    # "aaa" sorts first: its failure must not stop "staging". Its org does not exist (404).
    project = _project(tmp_path / "repo", {"aaa": "org: ghost\n", "staging": STAGING})
    run = Gitops(project, url, tmp_path)

    result = run("deploy")
    _ok(result, 1)
    assert server.dashboards("staging") and server.alerts("staging")
    assert "Organization not found" in (run.out / "apply-aaa.log").read_text(encoding="utf-8")
    assert "1 environment(s) applied, 1 failed: aaa" in result.stdout
    assert "| aaa | ✗ failed |" in run.summary_text()



def test_pr_reports_an_invalid_env_and_checks_the_others(
        tmp_path: Path, fake: tuple[FakeOpenObserve, str]) -> None:
    project = _project(tmp_path / "repo", {"bad": "streams:\n  metrics: Bedrock-Metrics\n",
                                           "staging": STAGING})
    run = Gitops(project, fake[1], tmp_path)
    result = run("pr", O2KIT_OFFLINE="1")
    _ok(result, 1)
    assert "envs/bad.yaml:2" in result.stderr
    summary = run.summary_text()
    assert "| bad | ✗ failed |" in summary and "| staging | ✓ |" in summary


def test_offline_pr_validates_without_a_server(tmp_path: Path) -> None:
    project = _project(tmp_path / "repo", {"staging": STAGING})
    run = Gitops(project, "http://127.0.0.1:9", tmp_path)  # nothing listens there
    result = run("pr", O2KIT_OFFLINE="1", OPENOBSERVE_PASSWORD="")
    _ok(result)
    summary = run.summary_text()
    assert "| staging | ✓ |" in summary and "skipped (offline)" in summary
    assert "Plan: " not in summary and "comment" not in result.stdout


def test_per_env_credentials_win(tmp_path: Path, fake: tuple[FakeOpenObserve, str]) -> None:
    server, url = fake
    project = _project(tmp_path / "repo", {"staging": STAGING})
    run = Gitops(project, url, tmp_path)
    wrong = run("deploy", OPENOBSERVE_PASSWORD="wrong")
    _ok(wrong, 1)
    assert not server.dashboards("staging")
    right = run("deploy", OPENOBSERVE_PASSWORD="wrong",
                OPENOBSERVE_PASSWORD_STAGING=DEFAULT_PASSWORD)
    _ok(right)
    assert server.dashboards("staging")


def test_a_global_org_is_refused_with_several_envs(two_envs: Gitops,
                                                   fake: tuple[FakeOpenObserve, str]) -> None:
    result = two_envs("deploy", OPENOBSERVE_ORG="prod")
    _ok(result, 1)
    assert "OPENOBSERVE_ORG" in result.stdout + result.stderr
    assert fake[0].write_count() == 0


def test_environment_lists(tmp_path: Path) -> None:
    two = Gitops(_project(tmp_path / "two", {"staging": "", "prod": ""}), "http://x", tmp_path)
    assert two("envs").stdout.split() == ["prod", "staging"]
    assert two("envs", O2KIT_ENVS="staging, prod").stdout.split() == ["staging", "prod"]
    assert two("envs", O2KIT_ENVS="all").stdout.split() == ["prod", "staging"]
    base = Gitops(_project(tmp_path / "base", None), "http://x", tmp_path)
    assert base("envs").stdout.split() == ["-"]


def test_usage_error(two_envs: Gitops) -> None:
    result = two_envs("frobnicate")
    assert result.returncode == 64 and "deploy" in result.stderr


def test_the_shipped_alert_tests_run_once_with_the_base_config(two_envs: Gitops) -> None:
    """The real `o2kit test` on the shipped alert-tests/, once, although the staging overlay
    changes the thresholds those tests were written for."""
    has_command = subprocess.run([str(BIN / "o2kit"), "test", "--help"], capture_output=True,
                                 check=False).returncode == 0
    if (REPO / "alert-tests").is_dir():
        shutil.copytree(REPO / "alert-tests", two_envs.project / "alert-tests")
    result = two_envs("pr", O2KIT_OFFLINE="1")
    summary = two_envs.summary_text()
    if not has_command:
        assert "no 'test' command" in result.stdout
        assert "skipped (this o2kit has no test command)" in summary
        return
    _ok(result)
    assert result.stdout.count("test (o2kit.yaml)") == 1
    assert "Alert tests (`o2kit test`, o2kit.yaml): ✓ passed" in summary


def test_without_alert_tests_the_step_is_skipped(two_envs: Gitops) -> None:
    result = two_envs("pr", O2KIT_OFFLINE="1", O2KIT_ENVS="staging")
    _ok(result)
    summary = two_envs.summary_text()
    assert "Alert tests (`o2kit test`, o2kit.yaml): skipped" in summary
    assert "| staging | ✓ | skipped (offline) |" in summary


# --- the pull-request comment, against a fake GitHub API ------------------------------------


class FakeGitHub:
    """Issue comments of one pull request: list (paginated), create, update."""

    def __init__(self, repo: str, number: int, token: str) -> None:
        self.repo, self.number, self.token = repo, number, token
        self.comments: list[dict[str, Any]] = []
        self.writes: list[str] = []
        self.lock = threading.Lock()

    def add(self, body: str) -> None:
        with self.lock:
            self.comments.append({"id": 1000 + len(self.comments), "body": body})

    def handler(self) -> type[GitHubApiHandler]:
        gh = self
        base = f"/repos/{gh.repo}/issues"

        class Handler(GitHubApiHandler):
            token = gh.token

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                if not self._authorised():
                    return
                if url.path != f"{base}/{gh.number}/comments":
                    return self._reply(404, {"message": "Not Found"})
                q = parse_qs(url.query)
                per, page = int(q["per_page"][0]), int(q["page"][0])
                with gh.lock:
                    self._reply(200, gh.comments[(page - 1) * per: page * per])

            def do_POST(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                if self.path != f"{base}/{gh.number}/comments":
                    return self._reply(404, {"message": "Not Found"})
                gh.add(self._body()["body"])
                gh.writes.append("POST")
                self._reply(201, {**gh.comments[-1], "html_url": "https://github.example/c"})

            def do_PATCH(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                cid = int(self.path.rsplit("/", 1)[1])
                with gh.lock:
                    match = [c for c in gh.comments if c["id"] == cid]
                    if not self.path.startswith(f"{base}/comments/") or not match:
                        return self._reply(404, {"message": "Not Found"})
                    match[0]["body"] = self._body()["body"]
                gh.writes.append("PATCH")
                self._reply(200, match[0])

        return Handler


@pytest.fixture()
def github() -> Iterator[tuple[FakeGitHub, str]]:
    gh = FakeGitHub("acme/o11y", 7, "ghs_testtoken")
    with serve(gh.handler()) as url:
        yield gh, url


def test_pr_deploy_pr_with_one_comment_updated(two_envs: Gitops, tmp_path: Path,
                                               fake: tuple[FakeOpenObserve, str],
                                               github: tuple[FakeGitHub, str]) -> None:
    """The whole loop: a PR plans creates (job summary + one comment), the merge deploys every
    environment, the next PR run shows no changes and edits the same comment."""
    server, _url = fake
    gh, api = github
    run = two_envs
    # More than one page of other comments, one of them quoting an old plan.
    for i in range(120):
        gh.add(f"review comment {i}")
    gh.add(f"> {MARKDOWN_MARKER}\n> looks good")
    github_env = dict(GITHUB_TOKEN=gh.token, GITHUB_REPOSITORY=gh.repo, GITHUB_API_URL=api,
                      GITHUB_ACTIONS="true")

    first = run("pr", **github_env, O2KIT_PR_NUMBER=str(gh.number))
    _ok(first)
    summary = run.summary_text()
    assert summary.startswith(MARKDOWN_MARKER) and summary.count(MARKDOWN_MARKER) == 1
    assert 'o2kit plan: org "prod", env "prod"' in summary
    assert 'o2kit plan: org "staging", env "staging"' in summary
    assert "| prod | ✓ |" in summary and summary.count("| changes |") == 2
    creates = _plan_counts(summary)
    assert len(creates) == 2 and all(n > 0 for n in creates)
    assert (run.out / "plan-staging.md").read_text(encoding="utf-8").startswith(MARKDOWN_MARKER)
    assert server.write_count() == 0 and "SECRETSECRET" not in first.stdout + summary
    marked = [c for c in gh.comments if c["body"].startswith(MARKDOWN_MARKER)]
    assert gh.writes == ["POST"] and len(marked) == 1 and marked[0]["body"] == summary

    deploy = run("deploy", **github_env)
    _ok(deploy)
    for org in ("prod", "staging"):
        assert server.dashboards(org) and server.alerts(org)
    assert "2 environment(s) applied, 0 failed" in deploy.stdout
    assert "| staging | ✓ Apply:" in run.summary_text()
    assert gh.writes == ["POST"]  # deploy does not comment

    # This time the pull-request number comes from the event file GitHub writes.
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": gh.number}}), encoding="utf-8")
    again = run("pr", **github_env, GITHUB_EVENT_PATH=str(event))
    _ok(again)
    summary = run.summary_text()
    assert summary.count("No changes: the server matches the code.") == 2
    assert _plan_counts(summary) == [0, 0]
    assert "| changes |" not in summary and summary.count("| no changes |") == 2
    assert "Updated the plan comment" in again.stdout
    marked = [c for c in gh.comments if c["body"].startswith(MARKDOWN_MARKER)]
    assert gh.writes == ["POST", "PATCH"] and len(marked) == 1
    assert marked[0]["body"] == summary and len(gh.comments) == 122


def test_without_a_github_token_the_comment_is_skipped(two_envs: Gitops) -> None:
    result = two_envs("pr", O2KIT_ENVS="staging")
    _ok(result)
    assert "comment skipped" in result.stdout
    assert 'env "staging"' in two_envs.summary_text()


def test_a_failed_comment_is_a_warning_not_a_failure(two_envs: Gitops,
                                                     github: tuple[FakeGitHub, str]) -> None:
    gh, api = github
    result = two_envs("pr", O2KIT_ENVS="staging", GITHUB_TOKEN="wrong", GITHUB_REPOSITORY=gh.repo,
                      GITHUB_API_URL=api, O2KIT_PR_NUMBER="7", GITHUB_ACTIONS="true")
    _ok(result)
    assert "::warning title=o2kit::" in result.stdout and "401" in result.stderr
    assert gh.writes == []


# --- the backtest in the pull-request comment -------------------------------------------------


def test_the_comment_says_how_often_each_changed_alert_would_have_fired(
        tmp_path: Path) -> None:
    """A server with a week of history (one burst of throttles 30 minutes ago): the plan creates
    every alert, and the comment gains one backtest line per alert it changes."""
    import time

    from o2kit.fake import ingest
    from o2kit.query.engine import QueryEngine

    server = FakeOpenObserve(seed=11, query_engine_factory=QueryEngine)
    server.add_org("staging")
    now_us = int(time.time()) * 1_000_000
    # One row; windows of 10 minutes every 5 hold it twice, and the 30-minute silence after the
    # first fire skips the second: bedrock_throttling would have fired exactly once.
    ingest.write_rows(server._store, "staging", "bedrock_metrics", [{
        "_timestamp": now_us - 30 * 60_000_000, "namespace": "AWS/Bedrock",
        "metric_name": "InvocationThrottles", "dimensions_modelid": "m-a",
        "region": "us-east-1", "value_sum": 50.0, "value_count": 1}])
    ingest.write_rows(server._store, "staging", "bedrock_logs", [{
        "_timestamp": now_us - 60_000_000, "message_schematype": "ModelInvocationLog"}])
    project = _project(tmp_path / "repo", {"staging": STAGING})
    with server.serve() as running:
        run = Gitops(project, running.url, tmp_path)
        result = run("pr", O2KIT_ENVS="staging")
    _ok(result)
    summary = run.summary_text()
    assert ("**Backtest** (environment staging, server data, last 7 days, " in summary)
    assert ("| Bedrock/bedrock\\_throttling | would have fired 1 time in the last 7 days |"
            in summary)
    assert "| Bedrock/bedrock\\_server\\_errors | would have fired 0 times in the last 7 days |" \
        in summary
    assert (run.out / "backtest-staging.md").is_file()
    assert server.write_count() == 0 or all(
        r.path.endswith("/_search") for r in server.request_log if r.method != "GET")


def test_a_backtest_that_cannot_run_is_one_line(two_envs: Gitops) -> None:
    # The fake here has no search engine (its _search answers 501): the plan is unaffected.
    result = two_envs("pr", O2KIT_ENVS="staging")
    _ok(result)
    summary = two_envs.summary_text()
    lines = [line for line in summary.splitlines() if line.startswith("**Backtest**")]
    assert len(lines) == 1 and "could not run for any of the" in lines[0]
    assert "| changes |" in summary
    quiet = two_envs("pr", O2KIT_ENVS="staging", O2KIT_BACKTEST="0")
    _ok(quiet)
    assert "Backtest" not in two_envs.summary_text()


# --- the workflow ---------------------------------------------------------------------------


def _workflow() -> dict[Any, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_workflow_runs_the_script_on_pull_requests_and_on_main() -> None:
    wf = _workflow()
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    jobs = wf["jobs"]
    runs = {name: " ".join(str(s.get("run", "")) for s in job["steps"])
            for name, job in jobs.items()}
    pr_job = next(n for n, r in runs.items() if "scripts/gitops.sh pr" in r)
    deploy_job = next(n for n, r in runs.items() if "scripts/gitops.sh deploy" in r)
    assert "pull_request" in jobs[pr_job]["if"]
    assert jobs[pr_job]["permissions"]["pull-requests"] == "write"
    assert "refs/heads/main" in jobs[deploy_job]["if"]
    # Deploys are serialised, never cancelled half-way.
    assert jobs[deploy_job]["concurrency"]["cancel-in-progress"] is False
    text = WORKFLOW.read_text(encoding="utf-8")
    for secret in ("OPENOBSERVE_URL", "OPENOBSERVE_USER", "OPENOBSERVE_PASSWORD"):
        assert f"secrets.{secret}" in text
    assert "GITHUB_STEP_SUMMARY" not in text  # the script writes it; GitHub sets it


# actionlint and zizmor over every workflow: tests/test_workflows.py


def test_the_test_step_runs_once_and_its_failure_fails_the_check(
        two_envs: Gitops, tmp_path: Path) -> None:
    """With an `o2kit` whose `test` command is a stand-in (other commands pass through), the
    script runs it once, without --env, and a failing one fails the pull-request check while
    the environments are still validated."""
    shim = tmp_path / "shim"
    shim.mkdir()
    log = tmp_path / "test-calls.log"
    (shim / "o2kit").write_text(
        "#!/usr/bin/env bash\n"
        'for a in "$@"; do\n'
        '  if [ "$a" = test ]; then\n'
        '    case " $* " in *" --help "*) exit 0 ;; esac\n'
        '    echo "$*" >> "$SHIM_LOG"; exit "${SHIM_RC:-0}"\n'
        "  fi\n"
        "done\n"
        f'exec "{BIN / "o2kit"}" "$@"\n', encoding="utf-8")
    (shim / "o2kit").chmod(0o755)
    (two_envs.project / "alert-tests").mkdir(exist_ok=True)
    path = f"{shim}{os.pathsep}{two_envs.env['PATH']}"

    _ok(two_envs("pr", O2KIT_OFFLINE="1", PATH=path, SHIM_LOG=str(log)))
    calls = log.read_text(encoding="utf-8").splitlines()
    assert len(calls) == 1 and "--env" not in calls[0]
    summary = two_envs.summary_text()
    assert "Alert tests (`o2kit test`, o2kit.yaml): ✓ passed" in summary
    assert summary.count("| ✓ | skipped (offline) |") == 2

    failing = two_envs("pr", O2KIT_OFFLINE="1", O2KIT_ENVS="staging", PATH=path,
                       SHIM_LOG=str(log), SHIM_RC="1")
    _ok(failing, 1)
    summary = two_envs.summary_text()
    assert "Alert tests (`o2kit test`, o2kit.yaml): ✗ failed" in summary
    assert "| staging | ✓ | skipped (offline) |" in summary
