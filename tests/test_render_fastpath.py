"""The render fast path gives exactly what parsing the whole rendered text gives.

``render_document`` puts a ``{{ x | tojson }}`` that stands alone as a YAML value in place as the
object the C encoder wrote, and parses only the rest (o2kit.project.render, "The fast path"). Each
case here is rendered twice — as shipped, and with both shortcuts turned off (the C encoder and the
skeleton parse), which is the exact path: the whole text through ``_json`` and PyYAML — and the
two results (document, or error message, file and line) must be equal.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from shipped_project import copy_shipped_project

from o2kit.model import Resource
from o2kit.project import render as render_module
from o2kit.project.loader import load_project
from o2kit.project.render import (
    RenderError,
    load_template,
    make_environment,
    mark_params,
    render_document,
)
from o2kit.project.yamlsrc import MAX_DEPTH

HEADER = "{#- o2kit\nkind: dashboard\n-#}\n"


class Spy:
    """Counts how often the skeleton parse produced the document."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fast = 0
        original = render_module._parse_skeleton

        def parse(*args: Any) -> Any:
            data = original(*args)
            self.fast += data is not render_module._NO_DATA
            return data

        monkeypatch.setattr(render_module, "_parse_skeleton", parse)


def _render(root: Path, body: str, context: dict[str, Any]) -> Any:
    templates = root / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (templates / "x.yaml.j2").write_text(HEADER + body, encoding="utf-8")
    env = make_environment(templates)
    try:
        return ("ok", render_document(env, load_template(env, "x.yaml.j2"), context))
    except RenderError as exc:
        return ("error", exc.message, exc.file, exc.line)
    except Exception as exc:  # e.g. libyaml cannot encode a lone surrogate: the same both ways
        return ("raised", type(exc).__name__, str(exc))


def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str,
         context: Callable[[], dict[str, Any]]) -> tuple[Any, Any, int]:
    """(fast result, exact result, renders the skeleton parse answered); each run gets a context
    of its own from ``context``."""
    spy = Spy(monkeypatch)
    fast = _render(tmp_path / "fast", body, context())
    with monkeypatch.context() as patch:
        patch.setattr(render_module, "_parse_skeleton", lambda *a: render_module._NO_DATA)
        patch.setattr(render_module, "_fast_json", lambda value: None)
        exact = _render(tmp_path / "exact", body, context())
    return fast, exact, spy.fast


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


PANEL = {"title": "t", "queries": [{"query": "SELECT 1", "n": 1.5, "m": None, "b": True}]}

CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    # (id, template body, context, whether the skeleton parse may answer)
    ("list of objects", "tabs:\n  - {{ v | tojson }}\n  - {{ v | tojson }}\n", {"v": PANEL}, True),
    ("parameters", "a: {{ v | tojson }}\n", {"v": mark_params({"k": ["x", "y"]})}, True),
    ("scalar value", "a: {{ v | tojson }}\n", {"v": "it's: #not a comment"}, True),
    ("in a flow list", "a: [{{ v | tojson }}, {{ w | tojson }}]\n", {"v": 1, "w": "x"}, True),
    ("single-quoted", "a: '{{ v | tojson }}'\n", {"v": "x"}, False),
    ("double-quoted", 'a: "{{ v | tojson }}"\n', {"v": 5}, False),
    ("a key", "{{ v | tojson }}: 1\n", {"v": "k"}, False),
    ("a comment", "# {{ v | tojson }}\na: 1\n", {"v": "x"}, False),
    ("a block scalar", "a: |\n  {{ v | tojson }}\n", {"v": {"k": 1}}, False),
    ("inside a longer scalar", "a: x {{ v | tojson }}\n", {"v": 1}, False),
    ("captured by set", "{% set s %}{{ v | tojson }}{% endset %}a: {{ s }}\n", {"v": [1, 2]},
     False),
    ("anchor and alias", "a: &x {{ v | tojson }}\nb: *x\n", {"v": {"k": [1]}}, False),
    ("explicit tag", "a: !!str {{ v | tojson }}\n", {"v": 12}, False),
    ("the marker in the template", "a: __o2kit_tojson_0__\nb: {{ v | tojson }}\n", {"v": 1},
     False),
    ("used as text", "a: {{ (v | tojson) | length }}\nb: {{ (v | tojson) ~ '' }}\n",
     {"v": {"k": "v"}}, False),
    ("duplicate key beside it", "a: {{ v | tojson }}\na: 2\n", {"v": 1}, False),
    ("not YAML beside it", "a: {{ v | tojson }}\n b: [\n", {"v": 1}, False),
    ("integer key", "a: {{ {1: 'x'} | tojson }}\n", {}, False),
    ("boolean key", "a: {{ v | tojson }}\n", {"v": {True: 1}}, False),
    ("nan", "a: {{ v | tojson }}\n", {"v": math.nan}, False),
    ("exponent floats", "a: {{ v | tojson }}\n", {"v": [1e-05, 1e16, 2.5e-300]}, True),
    ("negative zero", "a: {{ v | tojson }}\n", {"v": [-0.0, 0.0, -0.05]}, True),
    ("decimal", "a: {{ v | tojson }}\n", {"v": [Decimal("0.10"), Decimal("3")]}, True),
    ("tuple", "a: {{ v | tojson }}\n", {"v": ("x", ("y",))}, True),
    ("characters YAML refuses", "a: {{ v | tojson }}\n", {"v": "x\ufffey"}, False),
    ("a lone surrogate", "a: {{ v | tojson }}\n", {"v": "x\ud800"}, False),
    ("escaped characters", "a: {{ v | tojson }}\n",
     {"v": "\t\n\r\x00\x1b\x7f\x85\u2028\u2029\ufeff\\\"é😀"}, True),
    ("a long key", "a: {{ v | tojson }}\n", {"v": {"k" * 1500: 1}}, True),
    ("a key just under YAML's limit", "a: {{ v | tojson }}\n", {"v": {"k" * 1020: 1}}, True),
    ("deep at the limit", "a:\n  b: {{ v | tojson }}\n", {"v": nested(MAX_DEPTH - 2)}, True),
    ("deep over the limit", "a:\n  b: {{ v | tojson }}\n", {"v": nested(MAX_DEPTH - 1)}, False),
    ("brackets in strings", "a: {{ v | tojson }}\n", {"v": {"s": "[[[{{{" * 40, "t": "]}"}},
     True),
    ("a circular list", "a: {{ v | tojson }}\n", {"v": "circular"}, False),
    ("generator", "a: {{ v | tojson }}\n", {"v": "generator"}, False),
]


@pytest.mark.parametrize(("body", "context", "may_be_fast"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_fast_path_equals_exact_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str,
                                     context: dict[str, Any], may_be_fast: bool) -> None:
    def make() -> dict[str, Any]:
        if context.get("v") == "circular":
            loop: list[Any] = []
            loop.append(loop)
            return {"v": loop}
        if context.get("v") == "generator":
            return {"v": (i for i in range(3))}
        return copy.deepcopy(context)

    fast, exact, answered = both(tmp_path, monkeypatch, body, make)
    assert fast == exact
    if not may_be_fast:
        assert answered == 0


def test_simple_documents_take_the_fast_path(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fast, exact, answered = both(tmp_path, monkeypatch, CASES[0][1], lambda: dict(CASES[0][2]))
    assert fast == exact
    assert answered == 1


def test_a_value_printed_twice_is_two_objects(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    body = "{% set j = v | tojson %}a: {{ j }}\nb: {{ j }}\n"
    fast, exact, _ = both(tmp_path, monkeypatch, body, lambda: {"v": {"k": [1]}})
    assert fast == exact
    assert fast[1]["a"] is not fast[1]["b"]
    assert fast[1]["a"]["k"] is not fast[1]["b"]["k"]


def test_a_value_changed_after_tojson_keeps_its_text(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    body = "{% set j = v | tojson %}{% set _ = v.update({'b': 2}) %}a: {{ j }}\n"
    fast, exact, _ = both(tmp_path, monkeypatch, body, lambda: {"v": {"a": 1}})
    assert fast == exact == ("ok", {"a": {"a": 1}})


def _resources(project_root: Path) -> list[tuple[Any, ...]]:
    def row(r: Resource) -> tuple[Any, ...]:
        return (r.kind, r.key, r.body, r.meta, r.source)

    return [row(r) for r in load_project(project_root).resources]


def test_shipped_project_loads_the_same_both_ways(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_shipped_project(tmp_path / "project")
    spy = Spy(monkeypatch)
    fast = _resources(root)
    assert spy.fast >= 10  # the dashboard and the alerts went through the skeleton parse
    with monkeypatch.context() as patch:
        patch.setattr(render_module, "_parse_skeleton", lambda *a: render_module._NO_DATA)
        patch.setattr(render_module, "_fast_json", lambda value: None)
        exact = _resources(root)
    assert fast == exact
