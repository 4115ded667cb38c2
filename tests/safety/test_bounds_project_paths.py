"""Harm 6 of issue 11: `prices:` could point outside the project, so a pull request could make
o2kit read (and echo in its errors, or render into dashboards) any file of the CI machine. Paths
in the configuration and the project's files must now resolve inside the project — `..`,
absolute paths and symlinks included — unless o2kit.yaml says `allow_outside_project: true`."""

from __future__ import annotations

from pathlib import Path

import pytest
from bounds_helpers import assert_one_clean_error, copy_project, run
from shipped_project import REPO

SECRET = "s3cr3t-from-outside"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "repo")


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A valid price table outside the project, holding a marker we must never see."""
    path = tmp_path / "elsewhere" / "prices.yaml"
    path.parent.mkdir()
    path.write_text((REPO / "prices.yaml").read_text(encoding="utf-8")
                    + f"# {SECRET}\n", encoding="utf-8")
    return path


def _set_prices(project: Path, value: str, *extra: str) -> None:
    config = project / "o2kit.yaml"
    lines = [f"prices: {value}" if line.startswith("prices:") else line
             for line in config.read_text(encoding="utf-8").splitlines()]
    config.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_prices_outside_the_project_are_refused(project: Path, outside: Path, how: str) -> None:
    if how == "dotdot":
        _set_prices(project, "../elsewhere/prices.yaml")
    elif how == "absolute":
        _set_prices(project, str(outside))
    else:
        (project / "prices.yaml").unlink()
        (project / "prices.yaml").symlink_to(outside)
    result = run(project, "validate")
    assert_one_clean_error(result)
    assert "o2kit.yaml:" in result.output and "prices: " in result.output, result.output
    assert "leads outside the project" in result.output
    assert "allow_outside_project" in result.output


def test_the_opt_in_allows_it(project: Path, outside: Path) -> None:
    _set_prices(project, "../elsewhere/prices.yaml", "allow_outside_project: true")
    result = run(project, "validate")
    assert result.exit_code == 0, result.output


def test_an_overlay_cannot_grant_itself_the_opt_in(project: Path, outside: Path) -> None:
    (project / "envs" / "staging.yaml").write_text(
        "allow_outside_project: true\nprices: ../elsewhere/prices.yaml\n", encoding="utf-8")
    result = run(project, "--env", "staging", "validate")
    assert result.exit_code == 1, result.output
    assert "envs/staging.yaml:1: allow_outside_project: may only be set in o2kit.yaml" in (
        result.output)


def test_a_symlinked_dashboard_file_is_not_read(project: Path, tmp_path: Path) -> None:
    secret = tmp_path / "credentials"
    secret.write_text(f"aws_secret_access_key: {SECRET}\n", encoding="utf-8")
    (project / "dashboards" / "evil.yaml").symlink_to(secret)
    result = run(project, "validate")
    assert_one_clean_error(result)
    assert "dashboards/evil.yaml:1:" in result.output and "outside the project" in result.output
    assert SECRET not in result.output


def test_a_symlinked_templates_folder_is_refused(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "templates-elsewhere"
    (project / "templates").rename(elsewhere)
    (project / "templates").symlink_to(elsewhere)
    result = run(project, "validate")
    assert_one_clean_error(result)
    assert "templates:1:" in result.output and "outside the project" in result.output
