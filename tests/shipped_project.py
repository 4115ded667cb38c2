"""The shipped project as test data: a copy a test may edit, made one way for every test file.

Importable from any test folder (``pythonpath = ["tests"]`` in pyproject.toml)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What a team's repository holds (README "The repository a team edits"), alert tests aside.
PROJECT_FILES = ("o2kit.yaml", "prices.yaml", "dashboards", "alerts", "templates", "envs",
                 "slos")


def copy_shipped_project(root: Path, *, envs: bool = True) -> Path:
    """Copy the shipped project to ``root`` (created if missing); without ``envs/`` when
    ``envs`` is False. Returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        if name == "envs" and not envs:
            continue
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        elif src.exists():
            shutil.copy(src, root / name)
    return root
