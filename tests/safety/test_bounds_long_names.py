"""Harm 6 of issue 11: a 300-character file name or path component ended in a traceback (or an
"Internal error"). Each is now one clear line naming the path, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from bounds_helpers import assert_one_clean_error, copy_project, run

LONG = "x" * 300


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "repo")


@pytest.mark.parametrize("args", [
    ("render", "--out", LONG),
    ("render", "--out", f"build/{LONG}/rendered"),
    ("test", f"{LONG}.yaml"),
    ("schema", "--out", LONG),
    ("aws", "--out", LONG),
    ("init", LONG),
], ids=["render-out", "render-out-component", "test-file", "schema-out", "aws-out", "init"])
def test_long_names_on_the_command_line(project: Path, args: tuple[str, ...]) -> None:
    with (project / "o2kit.yaml").open("a", encoding="utf-8") as config:
        config.write("aws: {openobserve_url: https://o2.example.com, regions: [us-east-1]}\n")
    result = run(project, *args)
    assert_one_clean_error(result)
    assert "File name too long" in result.output or "not found" in result.output, result.output


def test_a_long_project_directory(tmp_path: Path) -> None:
    result = run(tmp_path / LONG, "validate")
    assert_one_clean_error(result)


def test_a_long_price_table_name_is_a_problem_in_o2kit_yaml(project: Path) -> None:
    config = project / "o2kit.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        "\n".join(f"prices: {LONG}.yaml" if line.startswith("prices:") else line
                  for line in text.splitlines()) + "\n", encoding="utf-8")
    result = run(project, "validate")
    assert_one_clean_error(result)
    assert "o2kit.yaml:" in result.output and "prices:" in result.output, result.output


def test_a_long_template_name_is_a_problem_in_its_file(project: Path) -> None:
    (project / "dashboards" / "long.yaml").write_text(
        f"template: {LONG}/x.json\ntitle: Long\n", encoding="utf-8")
    result = run(project, "validate")
    assert_one_clean_error(result)
    assert "dashboards/long.yaml:1: template:" in result.output, result.output
