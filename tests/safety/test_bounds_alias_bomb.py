"""Harm 6 of issue 11: a 2.7 KB YAML alias bomb took 50 s and 3.4 GB. It is refused at the parser's
events now, naming the file and line. The CLI runs in a child process with a 1 GB address-space
limit and a generous time-out, so today's main fails this test instead of eating the machine;
speed and memory figures are printed by bench/bench_bounds.py, not asserted here."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from bounds_helpers import alias_bomb, copy_project
from shipped_project import REPO

from o2kit.project.yamlsrc import MAX_ALIAS_EXPANSION, YamlError, load_yaml

MEMORY_CAP = 1024 * 1024 * 1024


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _o2kit(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "o2kit", "--project", str(project), *args],
        capture_output=True, text=True, env=env, timeout=120, preexec_fn=_limit_memory,
        check=False)


def test_the_bomb_is_small() -> None:
    assert len(alias_bomb()) < 2800


def test_the_loader_refuses_the_bomb_naming_file_and_line() -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml(alias_bomb(), "alerts/bomb.yaml")
    message = str(caught.value)
    assert message.startswith("alerts/bomb.yaml:")
    assert f"more than {MAX_ALIAS_EXPANSION:,} values" in message
    assert caught.value.limit


@pytest.mark.parametrize("place", ["alerts/bomb.yaml", "dashboards/bomb.yaml", "o2kit.yaml",
                                   "prices.yaml"])
def test_validate_refuses_the_bomb_wherever_it_is(tmp_path: Path, place: str) -> None:
    project = copy_project(tmp_path / "repo")
    target = project / place
    if target.exists():  # keep the real content valid YAML around the bomb
        target.write_text(alias_bomb() + target.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        target.write_text(alias_bomb(), encoding="utf-8")
    result = _o2kit(project, "validate")
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"{place}:" in result.stderr and "alias bomb" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr


def test_a_template_rendering_a_bomb_is_refused(tmp_path: Path) -> None:
    """Rendered output is parsed with the same limits: a template is repository text too."""
    project = copy_project(tmp_path / "repo")
    (project / "templates" / "bomb.yaml.j2").write_text(
        "{#- o2kit\nkind: dashboard\nparams: {}\n-#}\n" + alias_bomb(), encoding="utf-8")
    (project / "dashboards" / "bomb.yaml").write_text(
        "template: bomb.yaml.j2\ntitle: Bomb\n", encoding="utf-8")
    result = _o2kit(project, "validate")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "templates/bomb.yaml.j2" in result.stderr and "alias bomb" in result.stderr, (
        result.stderr[-2000:])
