"""Harm 6 of issue 11: deeply nested YAML (or JSON) ended in a RecursionError traceback. Now it is
a clear problem naming the file and line, in every file o2kit reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from bounds_helpers import assert_one_clean_error, copy_project, run

from o2kit.project.yamlsrc import MAX_DEPTH, YamlError, load_json, load_yaml

FLOW = "[" * 10_000
BLOCK = "root:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)) + "  " * 400 + "x: 1\n"
ALIASED = ("base: &b " + "[" * 60 + "]" * 60 + "\n"
           + "deeper: &d " + "[" * 50 + "*b" + "]" * 50 + "\n")


@pytest.mark.parametrize("text", [FLOW, FLOW + "]" * 10_000, BLOCK, "- " * 5000 + "x", ALIASED],
                         ids=["open-flow", "closed-flow", "block", "block-list", "via-alias"])
def test_the_loader_refuses_deep_yaml_with_its_line(text: str) -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml(text, "alerts/deep.yaml")
    assert str(caught.value).startswith("alerts/deep.yaml:")
    assert f"deeper than {MAX_DEPTH} levels" in str(caught.value)


def test_block_nesting_names_the_line_where_it_gets_too_deep() -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml(BLOCK, "o2kit.yaml")
    assert caught.value.problem.line == MAX_DEPTH + 1


def test_json_is_bounded_too() -> None:
    with pytest.raises(YamlError) as caught:
        load_json('{"a":\n' + "[" * 10_000 + "]" * 10_000 + "}", "templates/x.json")
    assert str(caught.value).startswith("templates/x.json:2:")
    with pytest.raises(YamlError):
        load_json("[" * 200 + "]" * 200, "templates/x.json")  # deep, yet within json's recursion


@pytest.mark.parametrize("place", ["o2kit.yaml", "dashboards/deep.yaml", "alerts/deep.yaml",
                                   "prices.yaml", "envs/staging.yaml"])
def test_validate_reports_deep_files_cleanly(tmp_path: Path, place: str) -> None:
    project = copy_project(tmp_path / "repo")
    (project / place).write_text("key: " + FLOW, encoding="utf-8")
    result = run(project, "--env", "staging", "validate")
    assert_one_clean_error(result)
    assert f"{place}:1: nested deeper than {MAX_DEPTH} levels" in result.output, result.output
    assert "RecursionError" not in result.output


def test_a_deep_raw_json_template_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "repo")
    (project / "templates" / "deep.json").write_text(
        '{"title": "x",\n "tabs": ' + "[" * 5000 + "]" * 5000 + "}", encoding="utf-8")
    (project / "dashboards" / "deep.yaml").write_text(
        "template: deep.json\ntitle: Deep\n", encoding="utf-8")
    result = run(project, "validate")
    assert_one_clean_error(result)
    assert f"templates/deep.json:2: nested deeper than {MAX_DEPTH} levels" in result.output


def test_a_template_whose_output_is_deep_is_a_problem(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "repo")
    (project / "templates" / "deep.yaml.j2").write_text(
        "{#- o2kit\nkind: dashboard\nparams: {}\n-#}\n"
        "title: x\ntabs: {% for i in range(5000) %}[{% endfor %}\n", encoding="utf-8")
    (project / "dashboards" / "deep.yaml").write_text(
        "template: deep.yaml.j2\ntitle: Deep\n", encoding="utf-8")
    result = run(project, "validate")
    assert_one_clean_error(result)
    assert "templates/deep.yaml.j2" in result.output and "nested deeper" in result.output
