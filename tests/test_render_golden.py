"""Golden files: the rendered JSON of the shipped project (o2kit.yaml, dashboards/, alerts/,
templates/, prices.yaml at the repository root) and of tests/data_render/applogs (the shipped
templates with every option on), both in the default ``metrics_layout: flattened``, plus the
shipped project in ``metrics_layout: special`` (shipped_special). Review a diff here like a diff
of the dashboards themselves.

Regenerate with:  O2KIT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render_golden.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from o2kit.project.loader import RENDER_MANIFEST, load_project, write_rendered

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
DATA = Path(__file__).parent / "data_render"
SHIPPED = ("o2kit.yaml", "prices.yaml", "dashboards", "alerts", "templates", "envs")


def shipped_project(target: Path) -> Path:
    for name in SHIPPED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / name)
    return target


def with_metrics_layout(root: Path, layout: str) -> Path:
    """Set ``streams.metrics_layout`` in the project's o2kit.yaml (replacing the shipped line, or
    adding it under ``streams:``)."""
    config = root / "o2kit.yaml"
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.lstrip().startswith("metrics_layout:")]
    at = kept.index("streams:\n") + 1
    kept.insert(at, f"  metrics_layout: {layout}\n")
    config.write_text("".join(kept), encoding="utf-8")
    return root


def shipped_special_project(target: Path) -> Path:
    """The shipped project for a server that special-cases metric-stream lines (§4.2 layout)."""
    return with_metrics_layout(shipped_project(target), "special")


def applogs_project(target: Path) -> Path:
    shutil.copytree(DATA / "applogs", target)
    shutil.copytree(REPO / "templates", target / "templates")
    shutil.copyfile(REPO / "prices.yaml", target / "prices.yaml")
    return target


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*.json"))
    }


@pytest.mark.parametrize(
    ("name", "build", "env"),
    [
        ("shipped", shipped_project, None),
        ("shipped_special", shipped_special_project, None),
        ("applogs", applogs_project, None),
    ],
)
def test_rendered_json_matches_golden(name: str, build, env: str | None, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = load_project(build(tmp_path / "project"), env)
    out = tmp_path / "out"
    write_rendered(project.resources, out)
    golden = GOLDEN / name
    if os.environ.get("O2KIT_UPDATE_GOLDEN") == "1":
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(out, golden, ignore=shutil.ignore_patterns(RENDER_MANIFEST))
    assert _files(out) == _files(golden), (
        f"rendered output differs from tests/golden/{name}; if the change is intended, "
        "regenerate with O2KIT_UPDATE_GOLDEN=1"
    )


def test_staging_overlay_changes_alert_thresholds(tmp_path: Path) -> None:
    root = shipped_project(tmp_path / "project")
    default = {r.key[1]: r.body for r in load_project(root).of("alert")}
    staging = {r.key[1]: r.body for r in load_project(root, "staging").of("alert")}
    sql = "query_condition"
    assert default["bedrock_token_budget"][sql]["sql"].endswith("HAVING SUM(cost) > 250")
    assert staging["bedrock_token_budget"][sql]["sql"].endswith("HAVING SUM(cost) > 25")
    assert default["bedrock_throttling"][sql]["sql"].endswith("WHERE throttles > 10")
    assert staging["bedrock_throttling"][sql]["sql"].endswith("WHERE throttles > 3")


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    first = load_project(shipped_project(tmp_path / "a"))
    second = load_project(shipped_project(tmp_path / "b"))
    write_rendered(first.resources, tmp_path / "out1")
    write_rendered(second.resources, tmp_path / "out2")
    assert _files(tmp_path / "out1") == _files(tmp_path / "out2")
    assert [r.body for r in first.resources] == [r.body for r in second.resources]
