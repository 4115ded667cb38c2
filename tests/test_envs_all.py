"""``--env all`` for plan (``o2kit.cli.envs.plan_all_envs``): every overlay planned with the same
flags against the fake OpenObserve, one summary, exit codes over all environments.

The expected counts come from planning each environment on its own with the real CLI
(``o2kit --env NAME plan --json``), never from numbers written into the test.
"""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.cli import envs as cli_envs
from o2kit.errors import ConfigError
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve
from o2kit.sync.report import MARKDOWN_MARKER

REPO = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("o2kit.yaml", "prices.yaml", "dashboards", "alerts", "templates", "envs")
WEBHOOK = "https://hooks.slack.example.com/services/T000/B000/SECRETSECRET"
SETTINGS: dict[str, Any] = dict(url=None, org=None, ca=None, insecure=False, timeout=10.0,
                                concurrency=4)


def _copy_project(root: Path, *, envs: dict[str, str] | None) -> Path:
    root.mkdir()
    for name in PROJECT_FILES:
        src = REPO / name
        if name == "envs":
            continue
        if src.is_dir():
            shutil.copytree(src, root / name)
        else:
            shutil.copy(src, root / name)
    if envs is not None:
        (root / "envs").mkdir()
        for env, text in envs.items():
            (root / "envs" / f"{env}.yaml").write_text(text, encoding="utf-8")
    return root


@pytest.fixture()
def fake() -> FakeOpenObserve:
    server = FakeOpenObserve(seed=3)
    # Not org "default": OpenObserve shows the default org's alert templates in every org and
    # refuses to create one with the same name elsewhere (src/core/src/alerts/templates.rs), so
    # the same project cannot be applied to "default" and to another org on one server.
    for org in ("prod", "staging"):
        server.add_org(org)
        server.add_stream(org, "bedrock_metrics")
        server.add_stream(org, "bedrock_logs")
    return server


@pytest.fixture()
def env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENOBSERVE_URL", "http://o2.test")
    monkeypatch.setenv("OPENOBSERVE_USER", DEFAULT_USER)
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", WEBHOOK)
    monkeypatch.delenv("OPENOBSERVE_ORG", raising=False)
    monkeypatch.delenv("O2KIT_ENV", raising=False)
    monkeypatch.setenv("CI", "true")


def _shipped_staging() -> str:
    return (REPO / "envs" / "staging.yaml").read_text(encoding="utf-8")


@pytest.fixture()
def two_envs(tmp_path: Path) -> Path:
    """The shipped staging overlay plus a prod one."""
    return _copy_project(tmp_path / "repo",
                         envs={"prod": "org: prod\n", "staging": _shipped_staging()})


class Runner:
    def __init__(self, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fake = fake
        self.mp = monkeypatch

    def cli(self, project: Path, *args: str) -> Any:
        self.mp.setattr(cli_base, "_TRANSPORT", self.fake.transport())
        return CliRunner().invoke(cli.app, ["--project", str(project), *args])

    def plan_json(self, project: Path, env: str) -> dict[str, Any]:
        result = self.cli(project, "--env", env, "plan", "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def plan_all(self, project: Path, **flags: Any) -> int:
        """What ``o2kit --env all plan`` runs once cli.py calls plan_all_envs."""
        self.mp.setattr(cli_base, "_TRANSPORT", self.fake.transport())
        for name, value in dict(project=project, env="all", verbose=0, quiet=False,
                                color=False).items():
            self.mp.setattr(cli._state, name, value)
        return cli_envs.plan_all_envs(dict(SETTINGS), **flags)


@pytest.fixture()
def run(fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch, env_vars: None) -> Runner:
    return Runner(fake, monkeypatch)


def _row(stdout: str, env: str) -> list[str]:
    rows = [line.split() for line in stdout.splitlines() if line.split()[:1] == [env]]
    assert len(rows) == 1, stdout
    return rows[0]


# --- which environments "all" means -------------------------------------------------------------


def test_all_means_every_overlay_in_name_order(tmp_path: Path) -> None:
    root = _copy_project(tmp_path / "r", envs={"prod": "org: prod\n", "dev": "org: dev\n"})
    assert cli_envs.environments(root) == ["dev", "prod"]


def test_without_overlays_all_means_the_base_config(tmp_path: Path) -> None:
    root = _copy_project(tmp_path / "r", envs=None)
    assert cli_envs.environments(root) == [None]


def test_an_overlay_named_all_is_refused(tmp_path: Path) -> None:
    root = _copy_project(tmp_path / "r", envs={"all": "org: x\n", "prod": ""})
    with pytest.raises(ConfigError, match="reserved"):
        cli_envs.environments(root)


# --- planning every environment -----------------------------------------------------------------


def test_each_env_is_planned_and_summarised(run: Runner, two_envs: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    alone = {env: run.plan_json(two_envs, env) for env in ("prod", "staging")}
    capsys.readouterr()

    code = run.plan_all(two_envs)
    out = capsys.readouterr().out

    assert code == 0
    assert 'o2kit plan: org "prod", env "prod"' in out
    assert 'o2kit plan: org "staging", env "staging"' in out
    for env, doc in alone.items():
        s = doc["summary"]
        assert s["create"] > 0
        assert _row(out, env) == [env, doc["org"], str(s["create"]), str(s["update"]),
                                  str(s["replace"]), str(s["delete"]), str(s["noop"]),
                                  doc["checksum"]]
    assert run.fake.write_count() == 0  # planning writes nothing


def test_detailed_exitcode_is_2_while_any_env_has_changes(run: Runner, two_envs: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    assert run.plan_all(two_envs, detailed_exitcode=True) == 2
    applied = run.cli(two_envs, "--env", "staging", "apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    capsys.readouterr()

    assert run.plan_all(two_envs, detailed_exitcode=True) == 2  # prod still has creates
    out = capsys.readouterr().out
    assert _row(out, "staging")[2:7] == ["0", "0", "0", "0", _row(out, "staging")[6]]
    assert int(_row(out, "staging")[6]) > 0 and int(_row(out, "prod")[2]) > 0

    assert run.cli(two_envs, "--env", "prod", "apply", "--auto-approve").exit_code == 0
    assert run.plan_all(two_envs, detailed_exitcode=True) == 0


def test_a_failing_env_is_reported_and_the_others_still_planned(
        run: Runner, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy_project(tmp_path / "r", envs={"ghost": "org: ghost\n",
                                               "staging": _shipped_staging()})
    code = run.plan_all(root, detailed_exitcode=True)
    captured = capsys.readouterr()

    assert code == 1
    assert 'env "staging"' in captured.out
    ghost = _row(captured.out, "ghost")
    assert ghost[:3] == ["ghost", "ghost", "error:"]
    assert "not found" in " ".join(ghost).lower()
    assert "Error (ghost)" in captured.err
    assert "1 failed" in captured.out


def test_an_invalid_overlay_fails_only_that_env(run: Runner, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy_project(tmp_path / "r", envs={"bad": "streams:\n  metrics: Bedrock-Metrics\n",
                                               "staging": _shipped_staging()})
    assert run.plan_all(root) == 1
    captured = capsys.readouterr()
    assert "envs/bad.yaml:2" in captured.err  # the problem names the overlay file and line
    assert _row(captured.out, "bad")[1] == "?"
    assert _row(captured.out, "staging")[1] == "staging"


def test_markdown_is_one_comment_with_one_marker(run: Runner, two_envs: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert run.plan_all(two_envs, markdown=True) == 0
    md = capsys.readouterr().out
    assert md.startswith(MARKDOWN_MARKER)
    assert md.count(MARKDOWN_MARKER) == 1
    assert '### o2kit plan: org "prod", env "prod"' in md
    assert '### o2kit plan: org "staging", env "staging"' in md
    assert "| prod | prod |" in md and "| staging | staging |" in md
    assert "SECRETSECRET" not in md


def test_json_lists_every_env_with_its_plan_document(run: Runner, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy_project(tmp_path / "r", envs={"ghost": "org: ghost\n",
                                               "staging": _shipped_staging()})
    alone = run.plan_json(root, "staging")
    capsys.readouterr()

    assert run.plan_all(root, as_json=True) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["format_version"] == 1 and doc["ok"] is False and doc["has_changes"] is True
    by_env = {e["env"]: e for e in doc["environments"]}
    assert by_env["ghost"]["ok"] is False and by_env["ghost"]["plan"] is None
    assert "not found" in by_env["ghost"]["error"].lower()
    assert by_env["staging"]["plan"]["checksum"] == alone["checksum"]
    assert by_env["staging"]["plan"]["summary"] == alone["summary"]


def test_base_config_alone_is_planned_when_there_are_no_overlays(
        run: Runner, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy_project(tmp_path / "r", envs=None)
    assert run.plan_all(root) == 0
    out = capsys.readouterr().out
    row = _row(out, cli_envs.BASE_LABEL)
    assert row[1] == "default" and int(row[2]) > 0


def test_a_forced_org_is_refused_with_several_envs(run: Runner, two_envs: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("OPENOBSERVE_ORG", "default")
    with pytest.raises(ConfigError, match="same organisation"):
        run.plan_all(two_envs)
    single = _copy_project(tmp_path / "one", envs={"staging": _shipped_staging()})
    monkeypatch.setenv("OPENOBSERVE_ORG", "staging")
    assert run.plan_all(single) == 0  # one environment: the override is unambiguous


def test_prune_and_adopt_reach_every_env(run: Runner, two_envs: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # no budgets: their alerts would need the destination removed below
    config = (two_envs / "o2kit.yaml").read_text(encoding="utf-8")
    (two_envs / "o2kit.yaml").write_text(config.split("\nbudgets:")[0] + "\n", encoding="utf-8")
    for env in ("prod", "staging"):
        applied = run.cli(two_envs, "--env", env, "apply", "--auto-approve")
        assert applied.exit_code == 0, applied.output
    # Remove the alerts from code: only --prune turns them into deletes, in every env.
    (two_envs / "alerts" / "bedrock.yaml").write_text(
        "templates: {}\ndestinations: {}\nalerts: {}\n", encoding="utf-8")
    capsys.readouterr()
    assert run.plan_all(two_envs, detailed_exitcode=True) == 0
    capsys.readouterr()
    assert run.plan_all(two_envs, prune=True, detailed_exitcode=True) == 2
    out = capsys.readouterr().out
    assert int(_row(out, "prod")[5]) > 0 and int(_row(out, "staging")[5]) > 0


@pytest.mark.skipif("plan_all_envs" not in inspect.getsource(cli),
                    reason="cli.plan does not call cli_envs.plan_all_envs yet")
def test_cli_env_all_plan_runs_every_env(run: Runner, two_envs: Path) -> None:
    result = run.cli(two_envs, "--env", "all", "plan", "--json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)
    assert [e["env"] for e in doc["environments"]] == ["prod", "staging"]
