"""RenderMemo renders each distinct (template, values it reads) once and hands out copies that
are exactly what rendering again would give — documents, errors, and nothing shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from shipped_project import copy_shipped_project

from o2kit.project import render as render_module
from o2kit.project.loader import load_project
from o2kit.project.render import (
    RenderError,
    RenderMemo,
    load_template,
    make_environment,
    mark_params,
    render_document,
    template_reads,
)

HEADER = "{#- o2kit\nkind: dashboard\n-#}\n"


def _env(root: Path, files: dict[str, str]) -> Any:
    for name, text in files.items():
        path = root / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return make_environment(root / "templates")


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except RenderError as exc:
        return ("error", exc.message, exc.file, exc.line)


def _memo_and_plain(env: Any, name: str, contexts: list[dict[str, Any]]) -> tuple[list, list, int]:
    memo = RenderMemo(env)
    template = load_template(env, name)
    memoised = [_outcome(lambda c=c: memo.render(template, mark_params(c))) for c in contexts]
    plain = [_outcome(lambda c=c: render_document(env, template, mark_params(c)))
             for c in contexts]
    return memoised, plain, memo.renders


def test_same_values_render_once_and_copies_share_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path, {"x.yaml.j2": HEADER + "a: {{ {'k': [n]} | tojson }}\nb: [1]\n"})
    memo = RenderMemo(env)
    template = load_template(env, "x.yaml.j2")
    first = memo.render(template, {"n": 1, "title": mark_params("one")})
    first["a"]["k"].append("changed by the caller")
    second = memo.render(template, {"n": 1, "title": mark_params("two")})  # title is not read
    assert second == {"a": {"k": [1]}, "b": [1]}
    assert memo.renders == 1
    third = memo.render(template, {"n": 1, "title": mark_params("two")})
    assert third == second and third is not second and third["b"] is not second["b"]


def test_values_a_template_tells_apart_are_rendered_apart(tmp_path: Path) -> None:
    body = ("a: {{ (x | string) | tojson }}\nt: {{ title | tojson }}\n"
            "c: {{ d | tojson }}\n")
    env = _env(tmp_path, {"x.yaml.j2": HEADER + body})
    contexts = [
        {"x": 1, "title": "a", "d": {"p": 1, "q": 2}},
        {"x": True, "title": "a", "d": {"p": 1, "q": 2}},  # 1 == True, but prints apart
        {"x": 1.0, "title": "a", "d": {"p": 1, "q": 2}},
        {"x": -0.0, "title": "a", "d": {"p": 1, "q": 2}},
        {"x": 0.0, "title": "a", "d": {"p": 1, "q": 2}},
        {"x": 1, "title": "b", "d": {"p": 1, "q": 2}},  # title is read here
        {"x": 1, "title": "a", "d": {"q": 2, "p": 1}},  # key order is visible
        {"x": 1, "title": "a", "d": {"p": 1, "q": 2}},  # the first again: no new render
    ]
    memoised, plain, renders = _memo_and_plain(env, "x.yaml.j2", contexts)
    assert memoised == plain
    assert renders == len(contexts) - 1


def test_errors_are_replayed_as_they_were(tmp_path: Path) -> None:
    env = _env(tmp_path, {"x.yaml.j2": HEADER + "a: 1\n{% if n > 1 %}{{ missing }}{% endif %}\n"})
    memoised, plain, renders = _memo_and_plain(env, "x.yaml.j2", [{"n": 2}, {"n": 2}, {"n": 1}])
    assert memoised == plain
    assert memoised[0][0] == "error" and memoised[0] == memoised[1]
    assert renders == 2


def test_reads_follow_imports_and_give_up_on_what_cannot_be_told(tmp_path: Path) -> None:
    env = _env(tmp_path, {
        "lib.j2": "{% macro m() %}{{ from_lib }}{% endmacro %}",
        "a.yaml.j2": HEADER + '{% import "lib.j2" as l with context %}a: {{ l.m() }}\n',
        "b.yaml.j2": HEADER + "{% include name %}\n",
        "c.yaml.j2": HEADER + "a: {{ lipsum(1) | tojson }}\n",
    })
    assert template_reads(env, "a.yaml.j2") == {"from_lib"}
    assert template_reads(env, "b.yaml.j2") is None  # the included template is an expression
    assert template_reads(env, "c.yaml.j2") is None  # random words: never shared
    memo = RenderMemo(env)
    template = load_template(env, "c.yaml.j2")
    memo.render(template, {})
    memo.render(template, {})
    assert memo.renders == 2


def test_shipped_project_loads_the_same_with_and_without_the_memo(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_shipped_project(tmp_path / "project")
    (root / "dashboards" / "second.yaml").write_text(
        (root / "dashboards" / "bedrock.yaml").read_text().replace(
            "Bedrock overview", "Bedrock overview two"))
    counted = []
    original = RenderMemo.render

    def render(self: RenderMemo, template: Any, context: Any) -> Any:
        result = original(self, template, context)
        counted.append(self.renders)
        return result

    monkeypatch.setattr(RenderMemo, "render", render)
    memoised = [(r.kind, r.key, r.body) for r in load_project(root).resources]
    assert counted[-1] < len(counted)  # the second dashboard was not rendered again
    monkeypatch.setattr(render_module, "_IMPURE_GLOBALS", frozenset({"streams"}))
    plain = [(r.kind, r.key, r.body) for r in load_project(root).resources]
    assert memoised == plain
