"""``o2kit init DIR`` (o2kit.cli.scaffold): a new repository that validates, with the CI workflow,
the
JSON Schemas and the editor wiring, and never an overwritten file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from o2kit.cli import app as cli
from o2kit.cli import export as cli_export
from o2kit.cli import scaffold
from o2kit.cli import schema_files as jsonschema
from o2kit.errors import UserError

if not any(c.name == "init" for c in cli.app.registered_commands):
    cli_export.register(cli.app)

REPO = Path(__file__).resolve().parents[1]


def _source(tmp_path: Path) -> Path:
    """A small starter source in the shape of o2kit's repository."""
    src = tmp_path / "src-repo"
    (src / "templates" / "lib").mkdir(parents=True)
    (src / "templates" / "lib" / "x.j2").write_text("{# lib #}\n")
    (src / "templates" / "__pycache__").mkdir()
    (src / "templates" / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    (src / "o2kit.yaml").write_text("org: default\n")
    (src / "prices.yaml").write_text("currency: USD\n")
    (src / ".github" / "workflows").mkdir(parents=True)
    (src / ".github" / "workflows" / "o2kit.yml").write_text(
        "on: push\n# cache-dependency-path: pyproject.toml\n")
    return src


def test_init_copies_starter_files_and_adds_schemas(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = scaffold.init_project(target, source=_source(tmp_path))
    rels = {str(p.relative_to(target)) for p in result.written}
    assert {"o2kit.yaml", "prices.yaml", "templates/lib/x.j2", ".github/workflows/o2kit.yml",
            "scripts/_venv.sh", ".vscode/settings.json", ".gitignore", "README.md"} <= rels
    assert not any("__pycache__" in r for r in rels)
    assert {f"schemas/{jsonschema.schema_file_name(n)}" for n in jsonschema.FILE_PATTERNS} <= rels
    workflow = (target / ".github/workflows/o2kit.yml").read_text()
    assert "cache-dependency-path: scripts/_venv.sh" in workflow and "pyproject" not in workflow
    assert os.access(target / "scripts/_venv.sh", os.X_OK)
    # gitops.sh is missing in this source: said so, not invented
    assert any("scripts/gitops.sh" in n for n in result.notes)
    settings = json.loads((target / ".vscode/settings.json").read_text())
    assert settings == jsonschema.vscode_settings()


def test_init_refuses_non_empty_dir_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "o2kit.yaml").write_text("org: mine\n")
    source = _source(tmp_path)
    with pytest.raises(UserError, match="not empty"):
        scaffold.init_project(target, source=source)
    result = scaffold.init_project(target, source=source, force=True)
    assert (target / "o2kit.yaml").read_text() == "org: mine\n"
    assert target / "o2kit.yaml" in result.kept


def test_init_without_starter_source_writes_a_minimal_valid_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scaffold, "starter_root", lambda: None)
    target = tmp_path / "bare"
    result = scaffold.init_project(target)
    assert result.notes and "workflow" in result.notes[0]
    runner = CliRunner()
    check = runner.invoke(cli.app, ["--project", str(target), "validate"])
    assert check.exit_code == 0, check.output


def test_init_from_this_checkout_validates(tmp_path: Path) -> None:
    """The real thing: `o2kit init` run from the source checkout gives a repository whose shipped
    project validates, with the repository's own workflow (if it has one by now)."""
    assert scaffold.starter_root() == REPO
    runner = CliRunner()
    target = tmp_path / "cfg"
    made = runner.invoke(cli.app, ["init", str(target)])
    assert made.exit_code == 0, made.output
    for rel in ("dashboards/bedrock.yaml", "alerts/bedrock.yaml", "templates/lib/bedrock.j2"):
        assert (target / rel).read_bytes() == (REPO / rel).read_bytes()
    for rel in (".github/workflows/o2kit.yml", "scripts/gitops.sh"):
        assert (target / rel).is_file() == (REPO / rel).is_file()
    check = runner.invoke(cli.app, ["--project", str(target), "validate"])
    assert check.exit_code == 0, check.output
    again = runner.invoke(cli.app, ["init", str(target)])
    assert again.exit_code == 1 and "not empty" in again.output


def test_init_writes_a_project_id_of_its_own(tmp_path: Path) -> None:
    from o2kit.project.config import load_config

    ids = []
    for name in ("My Team", "my-team"):
        scaffold.init_project(tmp_path / name)
        config = load_config(tmp_path / name).config
        assert config.project is not None and config.project.startswith("my-team-")
        ids.append(config.project)
    assert ids[0] != ids[1]  # a random suffix: two repositories named alike still differ
    text = (tmp_path / "my-team" / "o2kit.yaml").read_text(encoding="utf-8")
    assert text.count("project:") == 1


def test_init_minimal_project_has_a_project_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scaffold, "starter_root", lambda: None)
    scaffold.init_project(tmp_path / "x")
    from o2kit.project.config import load_config

    assert load_config(tmp_path / "x").config.project
