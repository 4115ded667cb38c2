"""``o2kit export`` for kinds described as data (``KindSpec._export``): the generic path that
functions, pipelines and later kinds use, shown with the toy ``widget`` kind of
test_kind_plumbing (the shipped kinds have their own end-to-end tests against the fake)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_kind_plumbing import WIDGET, WidgetServer, _client

from o2kit import kinds
from o2kit.kinds.spec import KindSpec, _strip_description_marker, _with_description_marker
from o2kit.sync import export


def _export_widget(body: dict[str, Any]) -> list[tuple[str, str]]:
    name = str(body["name"])
    if "/" in name:
        raise ValueError("a widget name with '/' cannot be a file name")
    doc = {name: {"size": body.get("size", 1),
                  "description": _strip_description_marker(body.get("description", ""))}}
    return [(f"widgets/{name}.yaml", yaml.safe_dump(doc)), ("../escape.txt", "x")][
        : 2 if name == "evil" else 1]


@pytest.fixture()
def exported_widgets(monkeypatch: pytest.MonkeyPatch) -> KindSpec:
    spec = dataclasses.replace(WIDGET, _export=_export_widget)
    specs = dict(kinds.SPECS)
    specs["widget"] = spec
    monkeypatch.setattr(kinds, "SPECS", dict(sorted(specs.items(), key=lambda kv: kv[1].order)))
    return spec


def _server() -> WidgetServer:
    server = WidgetServer()
    for i, (name, size) in enumerate([("big", 3), ("small", 1), ("twin", 1), ("twin", 2),
                                      ("a/b", 1), ("evil", 1), ("declared", 4)]):
        server.items[f"w{i}"] = {"id": f"w{i}", "name": name, "size": size,
                                 "description": _with_description_marker("d", None)}
    return server


def test_export_writes_the_kinds_files_and_reports_what_it_cannot(
    exported_widgets: KindSpec, tmp_path: Path
) -> None:
    (tmp_path / "widgets").mkdir()
    (tmp_path / "widgets" / "mine.yaml").write_text("declared:\n  size: 4\n")
    # Every exportable kind is read by default; this test looks at the toy kind only.
    assert "widget" in export.ExportRequest(everything=True).selected_rest_kinds()
    request = export.ExportRequest(everything=True, dashboards=False, alerts=False,
                                   rest_kinds=("widget",))
    assert request.selected_rest_kinds() == ("widget",)
    with _client(_server()) as client:
        objects = export.read_server(client, request)
    result = export.build_export(objects, export.existing_keys(tmp_path))
    assert sorted(str(f.path) for f in result.files) == [
        "widgets/big.yaml", "widgets/evil.yaml", "widgets/small.yaml"]
    big = next(f for f in result.files if f.path.name == "big.yaml")
    # The marker is not written into the file (the kind strips it).
    assert yaml.safe_load(big.text) == {"big": {"size": 3, "description": "d"}}
    assert result.skipped == ['widget "declared" (already in the project)']
    problems = "\n".join(result.not_exported)
    assert 'widget "twin": 2 widgets on the server have this name (ids w2, w3)' in problems
    assert "widget \"a/b\": a widget name with '/' cannot be a file name" in problems
    assert "unsafe file name '../escape.txt'" in problems
    written = export.write_export(result, tmp_path)
    assert all(tmp_path in p.parents for p in written)
    assert not (tmp_path.parent / "escape.txt").exists()


def test_export_selects_rest_objects_by_name_or_id_and_never_by_folder(
    exported_widgets: KindSpec,
) -> None:
    with _client(_server()) as client:
        by_title = export.read_server(client, export.ExportRequest(titles=("big",)))
        by_id = export.read_server(client, export.ExportRequest(ids=("w1",)))
        only_dashboards = export.ExportRequest(everything=True, alerts=False, rest_kinds=())
        assert only_dashboards.selected_rest_kinds() == ()
        assert not export.read_server(client, only_dashboards).rest
    assert [b["name"] for b in by_title.rest["widget"]] == ["big"]
    assert [b["name"] for b in by_id.rest["widget"]] == ["small"]


def test_a_server_text_reference_is_escaped_in_exported_files(exported_widgets: KindSpec) -> None:
    objects = export.ServerObjects(rest={"widget": [
        {"id": "w1", "name": "x", "size": 1, "description": "uses ${env:SECRET}"}]})
    (only,) = export.build_export(objects, export.ProjectKeys()).files
    assert "$${env:SECRET}" in only.text
