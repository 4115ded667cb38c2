"""The template environment: sandbox, strict undefined, a loader confined to templates/, the
parameter mark that forces quoting, manifests, helpers and the post-render layout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from o2kit.project.render import (
    GRID_COLUMNS,
    RenderError,
    TemplateValueError,
    finish_dashboard,
    load_template,
    make_environment,
    mark_params,
    panel,
    render_document,
    slug,
)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


HEADER = "{#- o2kit\nkind: dashboard\n-#}\n"


def render(tmp_path: Path, body: str, **context: Any) -> Any:
    templates = write(tmp_path / "templates", {"x.yaml.j2": HEADER + body})
    env = make_environment(templates)
    return render_document(env, load_template(env, "x.yaml.j2"), mark_params(context))


def render_error(tmp_path: Path, body: str, **context: Any) -> RenderError:
    with pytest.raises(RenderError) as info:
        render(tmp_path, body, **context)
    return info.value


def test_values_reach_yaml_through_tojson(tmp_path: Path) -> None:
    value = 'it\'s "quoted"\n: {not: yaml} # comment'
    assert render(tmp_path, "a: {{ v | tojson }}\nb: {{ 3 }}\n", v=value) == {"a": value, "b": 3}


def test_text_filter_allows_labels(tmp_path: Path) -> None:
    assert render(tmp_path, 'a: {{ ("x " ~ (v | text)) | tojson }}\n', v="EUR") == {"a": "x EUR"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a: {{ v }}\n", 'the value "it\'s" is used without a quoting filter'),
        ("a: {{ 'x' ~ v }}\n", "is used without a quoting filter"),
        ("a: {{ '%s' | format(v) }}\n", "the filter |format cannot take parameter values"),
        ('a: {{ v | replace("\'", "\'\'") }}\n', "the filter |replace cannot take"),
        ("a: {{ [v] | join(',') }}\n", "the filter |join cannot take"),
        ("a: {{ v.upper() }}\n", "string methods cannot be used on parameter values"),
        ("a: {{ none }}\n", "a NoneType is printed directly"),
        ("a: {{ 0.5 }}\n", "a float is printed directly"),
        ("a: {{ missing }}\n", "'missing' is undefined (not a parameter of this template"),
        ("a: {{ missing | sql_str }}\n", "'missing' is undefined"),
        ("a: {{ ''.__class__ }}\n", "not allowed in a template: access to attribute '__class__'"),
        ("{% for i in range(10**9) %}{% endfor %}", "Range too big"),
        ("a: {{ panel('line', 'T', v, stream='s') }}\n", "panel: sql expects an SQL expression"),
    ],
)
def test_template_mistakes_are_errors_with_location(
    tmp_path: Path, body: str, message: str
) -> None:
    error = render_error(tmp_path, body, v="it's")
    assert message in error.message
    assert error.file == "templates/x.yaml.j2"
    assert error.line == 4  # the line after the 3-line manifest


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    error = render_error(tmp_path, "a: 1\n{% if %}\n")
    assert (error.file, error.line) == ("templates/x.yaml.j2", 5)
    assert error.message.startswith("template syntax error:")


def test_error_in_imported_template_points_at_it(tmp_path: Path) -> None:
    write(
        tmp_path / "templates",
        {"lib/m.j2": "{% macro f() %}\n{{ nope | sql_str }}\n{% endmacro %}"},
    )
    error = render_error(tmp_path, '{% import "lib/m.j2" as m %}\na: {{ m.f() | tojson }}\n')
    assert (error.file, error.line) == ("templates/lib/m.j2", 2)


def test_loader_cannot_leave_templates(tmp_path: Path) -> None:
    write(tmp_path, {"secret.j2": "{#- o2kit\nkind: dashboard\n-#}\nsecret: 1\n"})
    templates = write(tmp_path / "templates", {"ok.j2": HEADER + "a: 1\n"})
    env = make_environment(templates)
    with pytest.raises(RenderError, match="not found"):
        load_template(env, "../secret.j2")
    os.symlink(tmp_path / "secret.j2", templates / "link.j2")
    with pytest.raises(RenderError, match="not found"):
        load_template(env, "link.j2")
    error = render_error(tmp_path / "again", '{% include "../secret.j2" %}')
    assert "not found" in error.message


def test_manifest_is_required_and_checked(tmp_path: Path) -> None:
    templates = write(
        tmp_path / "templates",
        {
            "none.j2": "a: 1\n",
            "bad.j2": "{#- o2kit\nkind: report\n-#}\n",
            "reserved.j2": "{#- o2kit\nkind: alert\nparams:\n  prices: {type: string}\n-#}\n",
            "yaml.j2": "{#- o2kit\nkind: [\n-#}\n",
        },
    )
    env = make_environment(templates)
    messages = {}
    for name in ("none.j2", "bad.j2", "reserved.j2", "yaml.j2"):
        with pytest.raises(RenderError) as info:
            load_template(env, name)
        messages[name] = (info.value.line, info.value.message)
    assert messages["none.j2"] == (
        1,
        "template must start with a '{#- o2kit' comment declaring kind and params",
    )
    assert messages["bad.j2"] == (2, "manifest: kind: Input should be 'dashboard' or 'alert'")
    assert messages["reserved.j2"] == (
        4,
        "manifest: params.prices: 'prices' is a reserved name in templates",
    )
    assert messages["yaml.j2"][1].startswith("manifest: invalid YAML")


def test_panel_helper_refuses_bad_arguments() -> None:
    with pytest.raises(TemplateValueError, match="unknown panel type"):
        panel("pie-chart", "T", "SELECT 1 AS a", stream="s")
    with pytest.raises(TemplateValueError, match="plain lower-case name"):
        panel("line", "T", "SELECT 1 AS a", stream="s", y=["A b"])
    with pytest.raises(TemplateValueError, match="w must be an integer from 1 to 192"):
        panel("line", "T", "SELECT 1 AS a", stream="s", w=193)
    with pytest.raises(TemplateValueError, match="title cannot be empty"):
        panel("line", " ", "SELECT 1 AS a", stream="s")


def _dashboard(*sizes: tuple[int, int], titles: list[str] | None = None) -> dict[str, Any]:
    names = titles or [f"P {i}" for i in range(len(sizes))]
    panels = [
        panel("line", name, "SELECT 1 AS a", stream="s", y=["a"], w=w, h=h)
        for name, (w, h) in zip(names, sizes, strict=True)
    ]
    return {"tabs": [{"name": "Tab One", "panels": panels}, {"name": "Two", "panels": []}]}


def test_flow_layout_wraps_rows_without_overlap() -> None:
    body = _dashboard((100, 10), (92, 5), (1, 3), (192, 8), (96, 4), (96, 9))
    assert finish_dashboard(body) == []
    layouts = [p["layout"] for p in body["tabs"][0]["panels"]]
    assert [(lay["x"], lay["y"]) for lay in layouts] == [
        (0, 0),
        (100, 0),
        (0, 10),
        (0, 13),
        (0, 21),
        (96, 21),
    ]
    assert [lay["i"] for lay in layouts] == [1, 2, 3, 4, 5, 6]
    assert all(lay["x"] + lay["w"] <= GRID_COLUMNS for lay in layouts)
    assert body["version"] == 8 and body["tabs"][0]["tabId"] == "tab_one"


def test_panel_ids_are_stable_and_unique() -> None:
    body = _dashboard((96, 8), (96, 8), (96, 8), titles=["Calls", "Calls", "Calls — p99 (ms)"])
    finish_dashboard(body)
    assert [p["id"] for p in body["tabs"][0]["panels"]] == [
        "tab_one-calls",
        "tab_one-calls-2",
        "tab_one-calls_p99_ms",
    ]
    again = _dashboard((96, 8), (96, 8), (96, 8), titles=["Calls", "Calls", "Calls — p99 (ms)"])
    finish_dashboard(again)
    assert again == body


def test_finish_dashboard_reports_shape_problems() -> None:
    assert finish_dashboard({"tabs": []}) == ["no tabs (render a list of {name, panels})"]
    assert finish_dashboard({"tabs": [{"panels": []}]}) == ["tabs[0]: each tab needs a name"]
    body = {"tabs": [{"name": "a", "panels": [{"title": "x", "layout": {"w": 3}}]}]}
    assert finish_dashboard(body) == ["tabs[0].panels[0]: layout needs w and h"]


def test_slug() -> None:
    assert slug("Errors & throttles") == "errors_throttles"
    assert slug("Überblick — p99") == "uberblick_p99"
    assert slug("—") == "x"


def test_column_units_become_override_config_as_the_ui_writes_it() -> None:
    from o2kit.project.render import panel

    body = panel("table", "t", 'SELECT 1 AS "samples"', stream="s", y={"samples": "Samples"},
                 unit="milliseconds", column_units={"samples": "numbers"})
    assert body["config"]["unit"] == "milliseconds"
    assert body["config"]["override_config"] == [
        {"field": {"matchBy": "name", "value": "samples"},
         "config": [{"type": "unit", "value": {"unit": "numbers", "customUnit": ""}}]}]


def test_parameter_types_are_shared_only_between_equal_declarations() -> None:
    """param_adapter builds each (type, bounds) once: a later declaration with other bounds or
    another type gets its own checks, never the first one's."""
    import pydantic

    from o2kit.project.render import ParamSpec, param_adapter

    narrow = ParamSpec(type="integer", min=1, max=5)
    wide = ParamSpec(type="integer", min=1, max=10)
    number = ParamSpec(type="number", min=1, max=5)
    assert param_adapter(narrow) is param_adapter(ParamSpec(type="integer", min=1, max=5))
    assert param_adapter(wide).validate_python(6) == 6
    with pytest.raises(pydantic.ValidationError, match="less than or equal to 5"):
        param_adapter(narrow).validate_python(6)
    assert param_adapter(number).validate_python(2.5) == 2.5
    with pytest.raises(pydantic.ValidationError):
        param_adapter(narrow).validate_python(2.5)
