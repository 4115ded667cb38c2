"""The generic plumbing of a kind described as data (``kinds.RestApi`` + ``kinds.SourceFiles``):
a new kind is one module defining ``SPEC``, and the client, the live state, the plan, apply and
the loader need no code of their own for it.

The kind here is a toy — ``widget``, a REST collection of named objects with a description
(which carries the ownership marker) — served by a small in-test server; the kinds that ship
(functions, pipelines …) are tested against the fake OpenObserve in their own files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from shipped_project import copy_shipped_project

from o2kit import kinds
from o2kit.kinds.spec import (
    MARKER_TEXT,
    KindSpec,
    Parsed,
    RestApi,
    SourceFiles,
    SourceProblem,
    _description_marker,
    _stamp_description,
    _strip_description_marker,
    _transform_at,
    _with_description_marker,
)
from o2kit.model import Resource
from o2kit.project.config import server_settings
from o2kit.project.loader import load_project
from o2kit.sync.client import OpenObserveClient
from o2kit.sync.plan import build_plan
from o2kit.sync.remote import apply_plan, fetch_live
from o2kit.validate.rules import validate_resources


def _payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    return {
        "name": desired.key[0],
        "size": desired.body.get("size", 1),
        "description": _with_description_marker(desired.body.get("description", "")),
    }


def _parse(rel: str, data: Any, context: dict[str, Any]) -> list[Parsed | SourceProblem]:
    if not isinstance(data, dict):
        return [SourceProblem(1, "", "expected a mapping of widget names")]
    out: list[Parsed | SourceProblem] = []
    for line, (name, body) in enumerate(data.items(), start=1):
        if not isinstance(body, dict):
            out.append(SourceProblem(line, str(name), "expected a mapping"))
        else:
            out.append(Parsed((str(name),), {"name": str(name), **body}, line))
    return out


def _check(resource: Resource) -> list[tuple[tuple[str | int, ...], str]]:
    size = resource.body.get("size", 1)
    return [] if isinstance(size, int) and size > 0 else [(("size",), "must be a positive int")]


WIDGET = KindSpec(
    kind="widget",
    order=45,
    key_fields=("name",),
    server_owned=("id",),
    defaults=(),
    rewrites=(),
    order_insensitive=(),
    secret_paths=(),
    marker="description line",
    _is_managed=lambda b: MARKER_TEXT in str(b.get("description") or ""),
    _strip_marker=lambda b: _transform_at(b, "description", _strip_description_marker),
    _payload=_payload,
    _marker_of=_description_marker,
    _stamp=_stamp_description,
    api=RestApi("widgets", id_field="id", items_key="list"),
    files=SourceFiles("widgets", (".yaml",), _parse),
    _live_key=lambda body: (str(body.get("name", "")),),
    _check=_check,
)


@pytest.fixture()
def widget_kind(monkeypatch: pytest.MonkeyPatch) -> KindSpec:
    specs = dict(kinds.SPECS)
    specs["widget"] = WIDGET
    ordered = dict(sorted(specs.items(), key=lambda kv: kv[1].order))
    monkeypatch.setattr(kinds, "SPECS", ordered)
    monkeypatch.setattr(kinds, "APPLY_ORDER", tuple(ordered))
    return WIDGET


class WidgetServer:
    """``/api/{org}/widgets``: list ``{"list": [...]}``, POST (server-assigned ``id``),
    GET/PUT/DELETE ``/widgets/{id}``; names are unique (409)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str]] = []
        self.next_id = 1

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.log.append((request.method, path))
        if path == "/api/default/kv":
            return httpx.Response(200, json=[])
        if path.startswith("/api/default/kv/"):
            return httpx.Response(200, text="OK")
        others = [s.api.collection for s in kinds.SPECS.values()
                  if s.api is not None and s.kind != "widget"]
        if any(path.startswith(f"/api/default/{c}") for c in others):
            # The other kinds described as data (functions, pipelines …): an older server
            # without those APIs holds none of them.
            return httpx.Response(404, json={"code": 404, "message": "Not Found"})
        if not path.startswith("/api/default/widgets"):
            empty: Any = {"list": []} if "folders" in path else []
            if path.endswith(("/alerts", "/slos")):
                empty = {"list": []}
            return httpx.Response(200, json=empty)
        rest = path.removeprefix("/api/default/widgets").strip("/")
        if request.method == "GET" and not rest:
            return httpx.Response(200, json={"list": list(self.items.values())})
        if request.method == "POST" and not rest:
            body = json.loads(request.content)
            if any(i["name"] == body["name"] for i in self.items.values()):
                return httpx.Response(409, json={"code": 409, "message": "exists"})
            item = {**body, "id": f"w{self.next_id}"}
            self.next_id += 1
            self.items[item["id"]] = item
            return httpx.Response(200, json={"id": item["id"]})
        if rest not in self.items:
            return httpx.Response(404, json={"code": 404, "message": "not found"})
        if request.method == "GET":
            return httpx.Response(200, json=self.items[rest])
        if request.method == "PUT":
            self.items[rest] = {**json.loads(request.content), "id": rest}
            return httpx.Response(200, json={"code": 200})
        if request.method == "DELETE":
            del self.items[rest]
            return httpx.Response(200, json={"code": 200})
        return httpx.Response(405)


def _client(server: WidgetServer) -> OpenObserveClient:
    settings = server_settings(env={"OPENOBSERVE_URL": "http://o2.test",
                                    "OPENOBSERVE_USER": "u@example.com",
                                    "OPENOBSERVE_PASSWORD": "pw"}, config_org="default")
    return OpenObserveClient(settings, transport=httpx.MockTransport(server))


def _widget(name: str, size: int) -> Resource:
    return Resource("widget", (name,), {"name": name, "size": size, "description": "d"})


def test_a_rest_kind_is_created_updated_and_pruned_without_code_of_its_own(
    widget_kind: KindSpec,
) -> None:
    server = WidgetServer()
    with _client(server) as client:
        desired = [_widget("a", 1), _widget("b", 2)]
        live = fetch_live(client, desired=desired)
        plan = build_plan(desired, live.resources, project="team-a")
        assert sorted((c.action, c.key) for c in plan.changes) == [
            ("create", ("a",)), ("create", ("b",))]
        assert apply_plan(client, plan).ok
        assert sorted(i["name"] for i in server.items.values()) == ["a", "b"]
        assert all("o2kit:team-a:" in i["description"] for i in server.items.values())

        # In sync: nothing to do, and the live objects carry their server ids.
        live = fetch_live(client, desired=desired)
        widgets = {r.key: r for r in live.resources if r.kind == "widget"}
        assert {r.server_id for r in widgets.values()} == {"w1", "w2"}
        assert not build_plan(desired, live.resources, project="team-a").has_changes

        # A change of one field is an update by id; a removed widget is pruned by id.
        desired = [_widget("a", 5)]
        live = fetch_live(client, desired=desired)
        plan = build_plan(desired, live.resources, project="team-a", prune=True)
        assert sorted((c.action, c.key) for c in plan.changes if c.action != "noop") == [
            ("delete", ("b",)), ("update", ("a",))]
        server.log.clear()
        assert apply_plan(client, plan).ok
        writes = [entry for entry in server.log if entry[0] in ("PUT", "DELETE")
                  and "/widgets" in entry[1]]
        assert sorted(writes) == [("DELETE", "/api/default/widgets/w2"),
                                  ("PUT", "/api/default/widgets/w1")]
        assert [i["size"] for i in server.items.values()] == [5]


def test_a_rest_kind_object_of_another_project_is_left_alone(widget_kind: KindSpec) -> None:
    server = WidgetServer()
    server.items["w9"] = {"id": "w9", "name": "theirs", "size": 1,
                          "description": _with_description_marker("x", "o2kit:team-b:0123456789ab")}
    with _client(server) as client:
        live = fetch_live(client, desired=[])
        plan = build_plan([], live.resources, project="team-a", prune=True)
        assert not [c for c in plan.changes if c.action == "delete"]
        desired = [_widget("theirs", 3)]
        plan = build_plan(desired, fetch_live(client, desired=desired).resources,
                          project="team-a")
        # Not ours: never overwritten without --adopt (the plan says so instead).
        assert not [c for c in plan.changes if c.action == "update"]


def test_a_server_without_the_api_holds_none_unless_the_project_declares_some(
    widget_kind: KindSpec,
) -> None:
    def no_widgets(request: httpx.Request) -> httpx.Response:
        if "/widgets" in request.url.path:
            return httpx.Response(404, json={"code": 404, "message": "Not Found"})
        return WidgetServer()(request)

    settings = server_settings(env={"OPENOBSERVE_URL": "http://o2.test",
                                    "OPENOBSERVE_USER": "u@example.com",
                                    "OPENOBSERVE_PASSWORD": "pw"}, config_org="default")
    with OpenObserveClient(settings, transport=httpx.MockTransport(no_widgets)) as client:
        assert not [r for r in fetch_live(client).resources if r.kind == "widget"]
        with pytest.raises(Exception, match="404|not found|Not Found"):
            fetch_live(client, desired=[_widget("a", 1)])


def test_the_loader_reads_a_kinds_files_and_validate_runs_its_rules(
    widget_kind: KindSpec, tmp_path: Path
) -> None:
    root = copy_shipped_project(tmp_path)
    (root / "widgets").mkdir()
    (root / "widgets" / "main.yaml").write_text("big:\n  size: 3\nbad:\n  size: -1\n")
    (root / "widgets" / "notes.txt").write_text("not read")
    project = load_project(root)
    widgets = [r for r in project.resources if r.kind == "widget"]
    assert [(r.key, r.source.line if r.source else 0) for r in widgets] == [
        (("bad",), 2), (("big",), 1)]
    problems = validate_resources(widgets, project.config.config)
    assert [(p.file, p.line, p.field) for p in problems] == [("widgets/main.yaml", 2, "size")]


def test_a_kinds_file_with_a_problem_names_file_line_and_field(
    widget_kind: KindSpec, tmp_path: Path
) -> None:
    from o2kit.errors import ValidationFailed

    root = copy_shipped_project(tmp_path)
    (root / "widgets").mkdir()
    (root / "widgets" / "main.yaml").write_text("ok:\n  size: 1\nbroken: 7\n")
    with pytest.raises(ValidationFailed) as failed:
        load_project(root)
    assert [(p.file, p.line, p.field) for p in failed.value.problems] == [
        ("widgets/main.yaml", 2, "broken")]
    shutil.rmtree(root / "widgets")
