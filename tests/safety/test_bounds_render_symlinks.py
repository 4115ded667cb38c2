"""Harm 8 of issue 11: `render` wrote through symlinks inside its output folder, so a link there
(a committed one, say) made it overwrite files anywhere. A link in render's way is now replaced —
the link removed, never the file it points to — and nothing is written outside the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from bounds_helpers import copy_project, run

from o2kit.project.loader import RENDER_MANIFEST


@pytest.fixture()
def rendered(tmp_path: Path) -> tuple[Path, Path]:
    project = copy_project(tmp_path / "repo")
    out = tmp_path / "out"
    assert run(project, "render", "--out", str(out)).exit_code == 0
    return project, out


def test_a_symlinked_file_is_replaced_not_written_through(
        rendered: tuple[Path, Path], tmp_path: Path) -> None:
    project, out = rendered
    target = next((out / "dashboards").rglob("*.json"))
    expected = target.read_text(encoding="utf-8")
    precious = tmp_path / "precious.txt"
    precious.write_text("do not touch", encoding="utf-8")
    target.unlink()
    target.symlink_to(precious)
    result = run(project, "render", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert precious.read_text(encoding="utf-8") == "do not touch"
    assert not target.is_symlink() and target.read_text(encoding="utf-8") == expected
    assert "symlink" in result.output


def test_a_symlinked_folder_is_replaced_not_written_through(
        rendered: tuple[Path, Path], tmp_path: Path) -> None:
    project, out = rendered
    folder = next(p for p in (out / "alerts").iterdir() if p.is_dir())
    names = sorted(p.name for p in folder.iterdir())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for p in list(folder.iterdir()):
        p.unlink()
    folder.rmdir()
    folder.symlink_to(elsewhere, target_is_directory=True)
    result = run(project, "render", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert list(elsewhere.iterdir()) == []
    assert folder.is_dir() and not folder.is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == names


def test_a_symlinked_manifest_is_not_written_through(
        rendered: tuple[Path, Path], tmp_path: Path) -> None:
    project, out = rendered
    precious = tmp_path / "precious.txt"
    precious.write_text("do not touch", encoding="utf-8")
    manifest = out / RENDER_MANIFEST
    manifest.unlink()
    manifest.symlink_to(precious)
    assert run(project, "render", "--out", str(out)).exit_code == 0
    assert precious.read_text(encoding="utf-8") == "do not touch"
    assert not manifest.is_symlink()


def test_preview_does_not_write_through_a_symlink(tmp_path: Path) -> None:
    """The same rule for `preview`'s pictures, index and manifest."""
    pytest.importorskip("matplotlib")
    project = copy_project(tmp_path / "repo")
    out = tmp_path / "pictures"
    assert run(project, "preview", "--out", str(out), "--minutes", "10",
               "--single").exit_code == 0
    picture = next(out.rglob("*.png"))
    precious = tmp_path / "precious.txt"
    precious.write_text("do not touch", encoding="utf-8")
    for path in (picture, out / "index.html"):
        path.unlink()
        path.symlink_to(precious)
    result = run(project, "preview", "--out", str(out), "--minutes", "10", "--single")
    assert result.exit_code == 0, result.output
    assert precious.read_text(encoding="utf-8") == "do not touch"
    assert not picture.is_symlink() and picture.read_bytes().startswith(b"\x89PNG")
