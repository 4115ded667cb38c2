"""Broken projects: each folder under tests/data_render/broken/ holds files laid over the small
project in tests/data_render/base/ and, in expected.txt, every problem o2kit must report (one per
line, exactly). Optional: env.txt (an --env name), delete.txt (base files to remove)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from o2kit.errors import ValidationFailed
from o2kit.project.loader import load_project

DATA = Path(__file__).parent / "data_render"
CASES = sorted(p for p in (DATA / "broken").iterdir() if p.is_dir())
_META = {"expected.txt", "env.txt", "delete.txt"}


def build_case(case: Path, target: Path) -> str | None:
    shutil.copytree(DATA / "base", target)
    for path in sorted(case.rglob("*")):
        if path.is_file() and path.name not in _META:
            dest = target / path.relative_to(case)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    if (case / "delete.txt").is_file():
        for rel in (case / "delete.txt").read_text().split():
            (target / rel).unlink()
    env_file = case / "env.txt"
    return env_file.read_text().strip() if env_file.is_file() else None


def test_base_project_is_valid(tmp_path: Path) -> None:
    project = load_project(DATA / "base")
    kinds = sorted({r.kind for r in project.resources})
    assert kinds == ["alert", "dashboard", "destination", "folder", "template"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_project(case: Path, tmp_path: Path) -> None:
    env = build_case(case, tmp_path / "project")
    with pytest.raises(ValidationFailed) as info:
        load_project(tmp_path / "project", env)
    expected = (case / "expected.txt").read_text(encoding="utf-8").strip()
    assert str(info.value) == expected


@pytest.mark.parametrize("where", ["title", "params"])
def test_a_lone_surrogate_is_a_located_error_not_an_internal_one(
    tmp_path: Path, where: str
) -> None:
    """``"\\udc80"`` in a double-quoted YAML scalar is no character: nothing can write it as UTF-8
    (the JSON sent to the server, the cache). It used to end as an internal error."""
    from shipped_project import copy_shipped_project

    root = copy_shipped_project(tmp_path / "repo")
    value = '"team \\udc80"'
    text = ("template: bedrock/dashboard.yaml.j2\n"
            + (f"title: {value}\n" if where == "title"
               else f"title: ok\nparams:\n  interval: 5 minute\n  description_suffix: {value}\n"))
    (root / "dashboards" / "x.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ValidationFailed) as failed:
        load_project(root)
    (problem,) = failed.value.problems
    assert (problem.file, problem.line) == ("dashboards/x.yaml", 2 if where == "title" else 5)
    assert "lone surrogate" in problem.message
