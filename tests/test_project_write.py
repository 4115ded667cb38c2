"""write_rendered: one stable JSON file per resource, stale files of earlier runs removed, files
o2kit did not write left alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from o2kit.errors import UserError
from o2kit.model import Resource, SourceRef
from o2kit.project.loader import RENDER_MANIFEST, load_project, rendered_path, write_rendered

DATA = Path(__file__).parent / "data_render"


def _resource(kind: str, key: tuple[str, ...], body: dict[str, object]) -> Resource:
    return Resource(kind, key, body, SourceRef("x.yaml", 1))


def test_writes_sorted_json_per_resource(tmp_path: Path) -> None:
    project = load_project(DATA / "base")
    written = write_rendered(project.resources, tmp_path / "out")
    rel = sorted(p.relative_to(tmp_path / "out").as_posix() for p in written)
    assert rel == [
        "alerts/team/too_many_calls.json",
        "dashboards/team/main.json",
        "destinations/team_hook.json",
        "folders/alerts/team.json",
        "folders/dashboards/team.json",
        "templates/team_text.json",
    ]
    text = (tmp_path / "out/destinations/team_hook.json").read_text()
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    assert "${env:TEAM_HOOK}" in text  # the placeholder, never a secret


def test_removes_only_its_own_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    a = _resource("alert", ("F", "a"), {"name": "a"})
    b = _resource("alert", ("F", "b"), {"name": "b"})
    write_rendered([a, b], out)
    (out / "alerts/f/mine.json").write_text("{}")  # not written by o2kit
    (out / "notes.txt").write_text("keep")
    written = write_rendered([a], out)
    assert [p.relative_to(out).as_posix() for p in written] == ["alerts/f/a.json"]
    assert not (out / "alerts/f/b.json").exists()
    assert (out / "alerts/f/mine.json").exists() and (out / "notes.txt").exists()
    assert (out / RENDER_MANIFEST).read_text() == "alerts/f/a.json\n"
    write_rendered([], out)
    assert not (out / "alerts/f/a.json").exists() and (out / "alerts/f/mine.json").exists()


def test_unchanged_files_are_not_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _resource("template", ("t",), {"name": "t", "body": "x"})
    [path] = write_rendered([res], out)
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp - 10_000_000_000, stamp - 10_000_000_000))
    write_rendered([res], out)
    assert path.stat().st_mtime_ns == stamp - 10_000_000_000


def test_slug_collisions_get_distinct_files(tmp_path: Path) -> None:
    one = _resource("dashboard", ("F", "Cost / model"), {"title": "Cost / model"})
    two = _resource("dashboard", ("F", "Cost: model"), {"title": "Cost: model"})
    assert rendered_path(one) == rendered_path(two)
    written = write_rendered([one, two], tmp_path / "out")
    assert len({p.name for p in written}) == 2
    bodies = sorted(json.loads(p.read_text())["title"] for p in written)
    assert bodies == ["Cost / model", "Cost: model"]


def test_refuses_to_write_into_the_project(tmp_path: Path) -> None:
    (tmp_path / "o2kit.yaml").write_text("org: x\n")
    with pytest.raises(UserError, match="it is a project directory"):
        write_rendered([], tmp_path)
