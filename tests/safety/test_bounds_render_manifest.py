"""Harm 8 of issue 11: `render` trusted its own manifest in the output folder — an absolute path
listed there was deleted. The manifest is untrusted now: only entries of the shape render writes,
inside the output folder and not through a symlink, are deleted; the rest are ignored with a
warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from bounds_helpers import copy_project, run

from o2kit.project.loader import RENDER_MANIFEST


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "repo")


def test_an_absolute_path_in_the_manifest_is_not_deleted(project: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("{}", encoding="utf-8")
    out = tmp_path / "out"
    assert run(project, "render", "--out", str(out)).exit_code == 0
    manifest = out / RENDER_MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8") + f"{victim}\n", encoding="utf-8")
    result = run(project, "render", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert victim.exists()
    assert "ignored" in result.output and "victim.json" in result.output, result.output


@pytest.mark.parametrize("entry", ["../victim.json", "dashboards/../../victim.json",
                                   "notes/victim.json", "dashboards/x/victim.txt"])
def test_entries_render_would_not_write_are_ignored(
        project: Path, tmp_path: Path, entry: str) -> None:
    out = tmp_path / "out"
    assert run(project, "render", "--out", str(out)).exit_code == 0
    victim = (out / entry).resolve()
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_text("{}", encoding="utf-8")
    (out / RENDER_MANIFEST).write_text(entry + "\n", encoding="utf-8")
    result = run(project, "render", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert victim.exists(), entry


def test_a_manifest_entry_through_a_symlink_is_ignored(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "bedrock").mkdir(parents=True)
    victim = elsewhere / "bedrock" / "old.json"
    victim.write_text("{}", encoding="utf-8")
    out = tmp_path / "out"
    assert run(project, "render", "--out", str(out)).exit_code == 0
    (out / "alerts" / "linked").symlink_to(elsewhere / "bedrock")
    (out / RENDER_MANIFEST).write_text("alerts/linked/old.json\n", encoding="utf-8")
    result = run(project, "render", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert victim.exists()
    assert "symlink" in result.output


def test_files_render_wrote_and_no_longer_writes_are_still_removed(
        project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(project, "render", "--out", str(out)).exit_code == 0
    stale = out / "dashboards" / "bedrock" / "gone.json"
    stale.write_text("{}", encoding="utf-8")
    manifest = out / RENDER_MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8") + "dashboards/bedrock/gone.json\n",
                        encoding="utf-8")
    assert run(project, "render", "--out", str(out)).exit_code == 0
    assert not stale.exists()
