"""The ``function`` and ``pipeline`` kinds end to end against the fake OpenObserve (whose
functions and pipelines API is written from the server source, src/o2kit/fake/functions.py and
pipelines.py): plan → apply → plan is clean, prune of this project's objects only, another
project's left alone, deletes in dependency order, the server's refusal quoted, and bad files
named by file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from shipped_project import copy_shipped_project

from o2kit import kinds
from o2kit.errors import ValidationFailed
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults
from o2kit.model import Resource
from o2kit.project.config import server_settings
from o2kit.project.loader import load_project
from o2kit.sync.client import OpenObserveClient
from o2kit.sync.plan import build_plan
from o2kit.sync.remote import apply_plan, fetch_live
from o2kit.validate.rules import validate_resources

FUNCTION = kinds.SPECS["function"]
PIPELINE = kinds.SPECS["pipeline"]


def _client(fake: FakeOpenObserve) -> OpenObserveClient:
    settings = server_settings(env={"OPENOBSERVE_URL": "http://o2.test",
                                    "OPENOBSERVE_USER": DEFAULT_USER,
                                    "OPENOBSERVE_PASSWORD": DEFAULT_PASSWORD},
                               config_org="default")
    return OpenObserveClient(settings, transport=fake.transport(Faults()))


def _function(name: str, source: str) -> Resource:
    return Resource("function", (name,), {"name": name, "function": source, "params": "row",
                                          "transType": 0})


def _pipeline(name: str, function: str | None, stream: str = "bedrock_logs",
              description: str = "") -> Resource:
    steps: list[dict[str, Any]] = [{"function": function}] if function else []
    body = kinds.pipeline.pipeline_body(  # type: ignore[attr-defined]
        {"name": name, "source": stream, "steps": steps or [{"stream": stream}],
         "description": description}, ("pipelines", 0),
        {"streams": {"metrics": "bedrock_metrics", "invocation_logs": "bedrock_logs"}})
    return Resource("pipeline", (name,), body)


def _changes(plan: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    return sorted((c.action, c.kind, c.key) for c in plan.changes if c.action != "noop")


def _ingest_kinds(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r.kind in ("function", "pipeline")]


def test_normalize_reads_the_servers_stored_source_as_written() -> None:
    live = {"function": ".a = 1 \n .", "name": "f", "params": "row", "numArgs": 1,
            "transType": 0}
    desired = {"function": "  .a = 1\n", "name": "f", "params": "row", "transType": 0}
    assert FUNCTION.normalize(live) == FUNCTION.normalize(desired)
    assert FUNCTION.normalize(FUNCTION.normalize(live)) == FUNCTION.normalize(live)
    changed = {**desired, "function": ".a = 2"}
    assert FUNCTION.normalize(live) != FUNCTION.normalize(changed)


def test_functions_and_pipelines_round_trip_and_prune_in_dependency_order() -> None:
    fake = FakeOpenObserve(seed=5)
    desired = [_function("tag_rows", ".tagged = true"),
               _pipeline("logs_tagged", "tag_rows")]
    with _client(fake) as client:
        plan = build_plan(desired, fetch_live(client, desired=desired).resources,
                          project="team-a")
        assert _changes(plan) == [("create", "function", ("tag_rows",)),
                                  ("create", "pipeline", ("logs_tagged",))]
        result = apply_plan(client, plan)
        assert result.ok, [o.message for o in result.outcomes]
        stored = fake._store.objects["function"][("default", "tag_rows")]
        assert stored["function"] == ".tagged = true \n ."  # the server's suffix
        (pipeline,) = fake._store.objects["pipeline"].values()
        assert "o2kit:team-a:" in pipeline["description"]
        assert pipeline["source"]["stream_name"] == "bedrock_logs"
        assert {n["data"].get("org_id") for n in pipeline["nodes"]
                if n["data"]["node_type"] == "stream"} == {"default"}
        # In sync: a second plan has nothing to do.
        live = fetch_live(client, desired=desired).resources
        assert not build_plan(desired, live, project="team-a").has_changes
        # A changed function is an update (PUT under its name); the pipeline keeps its id.
        desired[0] = _function("tag_rows", ".tagged = 2")
        plan = build_plan(desired, fetch_live(client, desired=desired).resources,
                          project="team-a")
        assert _changes(plan) == [("update", "function", ("tag_rows",))]
        assert apply_plan(client, plan).ok
        assert fake._store.objects["function"][("default", "tag_rows")]["function"].startswith(
            ".tagged = 2")
        # Pipeline change: PUT on the collection with the stored version.
        desired[1] = _pipeline("logs_tagged", "tag_rows", description="now described")
        plan = build_plan(desired, fetch_live(client, desired=desired).resources,
                          project="team-a")
        assert _changes(plan) == [("update", "pipeline", ("logs_tagged",))]
        assert apply_plan(client, plan).ok
        (pipeline,) = fake._store.objects["pipeline"].values()
        assert pipeline["version"] == 1 and pipeline["description"].startswith("now described")
        # Prune: the pipeline is deleted before the function it uses (the server refuses the
        # other order).
        plan = build_plan([], fetch_live(client, desired=[]).resources, project="team-a",
                          prune=True)
        assert _changes(plan) == [("delete", "function", ("tag_rows",)),
                                  ("delete", "pipeline", ("logs_tagged",))]
        result = apply_plan(client, plan)
        assert result.ok, [o.message for o in result.outcomes]
        assert [o.change.kind for o in result.outcomes] == ["pipeline", "function"]
        assert not fake._store.objects["function"] and not fake._store.objects["pipeline"]


def test_another_projects_function_and_pipeline_are_left_alone() -> None:
    fake = FakeOpenObserve(seed=6)
    theirs = [_function("their_fn", ".x = 1"), _pipeline("their_pipe", "their_fn")]
    with _client(fake) as client:
        plan = build_plan(theirs, fetch_live(client, desired=theirs).resources,
                          project="team-b")
        assert apply_plan(client, plan).ok
        plan = build_plan([], fetch_live(client, desired=[]).resources, project="team-a",
                          prune=True)
        assert not [c for c in plan.changes if c.action == "delete"]
        # Same names in this project: not overwritten without --adopt.
        mine = [_function("their_fn", ".x = 2"),
                _pipeline("their_pipe", "their_fn", description="b")]
        plan = build_plan(mine, fetch_live(client, desired=mine).resources, project="team-a")
        assert not [c for c in plan.changes if c.action in ("update", "delete")]


def test_a_function_in_use_is_refused_and_the_server_names_the_pipelines() -> None:
    fake = FakeOpenObserve(seed=7)
    desired = [_function("shared_fn", ".x = 1"), _pipeline("uses_it", "shared_fn")]
    with _client(fake) as client:
        assert apply_plan(client, build_plan(desired, fetch_live(client, desired=desired)
                                             .resources, project="team-a")).ok
        plan = build_plan([], fetch_live(client, desired=[]).resources, project="team-a",
                          prune=True)
        assert _changes(plan) == [("delete", "function", ("shared_fn",)),
                                  ("delete", "pipeline", ("uses_it",))]
        # Between plan and apply someone else's pipeline starts using the function: the server
        # refuses the delete and its message names the pipelines that hold it.
        other = _pipeline("someone_else", "shared_fn", stream="bedrock_metrics")
        assert apply_plan(client, build_plan([other], fetch_live(client, desired=[other])
                                             .resources, project="team-z")).ok
        result = apply_plan(client, plan)
        (outcome,) = [o for o in result.outcomes if o.change.kind == "function"]
        assert outcome.status == "failed"
        assert "409" in outcome.message and "someone_else" in outcome.message
        # Planned again, the function is kept with the reason (still used by a pipeline).
        plan = build_plan([], fetch_live(client, desired=[]).resources, project="team-a",
                          prune=True)
        (kept,) = [c for c in plan.changes if c.kind == "function"]
        assert kept.action == "noop" and "used" in (kept.reason or "")


def test_a_pipeline_is_not_applied_when_its_function_failed() -> None:
    fake = FakeOpenObserve(seed=8)
    desired = [_function("broken", "get_env_var(\"X\")"), _pipeline("needs_it", "broken")]
    with _client(fake) as client:
        result = apply_plan(client, build_plan(desired, fetch_live(client, desired=desired)
                                               .resources, project="team-a"))
        statuses = {o.change.kind: (o.status, o.message) for o in result.outcomes}
        assert statuses["function"][0] == "failed"
        assert "get_env_var is not supported" in statuses["function"][1]
        assert statuses["pipeline"] == ("skipped", 'not attempted: function "broken" failed')
        assert not fake._store.objects.get("pipeline")


def _project(tmp_path: Path, pipelines: str, functions: dict[str, str]) -> Path:
    root = copy_shipped_project(tmp_path)
    shutil.rmtree(root / "functions", ignore_errors=True)
    (root / "functions").mkdir()
    for name, text in functions.items():
        (root / "functions" / name).write_text(text)
    shutil.rmtree(root / "pipelines", ignore_errors=True)
    (root / "pipelines").mkdir()
    (root / "pipelines" / "main.yaml").write_text(pipelines)
    return root


def test_bad_pipeline_files_are_named_by_file_line_and_field(tmp_path: Path) -> None:
    text = """pipelines:
  - name: good
    source: bedrock_logs
    steps:
      - function: tag
  - name: Upper
    source: nowhere
    steps:
      - function: tag
  - name: looped
    source: bedrock_logs
    nodes:
      a: {function: tag}
      b: {function: tag}
      out: {stream: bedrock_logs}
    edges: [[source, a], [a, b], [b, a], [b, out]]
"""
    root = _project(tmp_path, text, {"tag.vrl": ".tag = 1\n"})
    with pytest.raises(ValidationFailed) as failed:
        load_project(root)
    found = [(p.file, p.line, p.field, p.message) for p in failed.value.problems]
    assert ("pipelines/main.yaml", 6, "pipelines[1].name") in [f[:3] for f in found]
    assert ("pipelines/main.yaml", 7, "pipelines[1].source") in [f[:3] for f in found]
    cycle = [f for f in found if f[2] == "pipelines[2].edges[2]"]
    assert cycle and cycle[0][1] == 16 and "cycle" in cycle[0][3]


def test_a_pipeline_naming_a_missing_function_fails_validate(tmp_path: Path) -> None:
    text = "pipelines:\n  - name: p\n    source: bedrock_logs\n    steps:\n      - function: tagg\n"
    root = _project(tmp_path, text, {"tag.vrl": ".tag = 1\n"})
    project = load_project(root)
    problems = validate_resources(_ingest_kinds(project.resources), project.config.config)
    errors = [p for p in problems if p.is_error]
    assert [(p.file, p.line, p.field) for p in errors] == [
        ("pipelines/main.yaml", 2, "nodes[1].data.name")]
    assert 'function "tagg" is not defined' in errors[0].message
    assert 'did you mean "tag"' in errors[0].message


def test_validate_compiles_vrl_and_names_the_line(tmp_path: Path) -> None:
    pytest.importorskip("vrl_python")
    root = _project(tmp_path, "pipelines: []\n",
                    {"ok.vrl": ".a = 1\n", "bad.vrl": "# comment\n.a = 1\n.b = nosuchfn(.a)\n"})
    project = load_project(root)
    problems = validate_resources(_ingest_kinds(project.resources), project.config.config)
    assert [(p.file, p.line) for p in problems if p.is_error] == [("functions/bad.vrl", 3)]
    assert "nosuchfn" in problems[0].message or "E105" in problems[0].message


def test_check_runs_each_function_through_the_servers_function_test() -> None:
    pytest.importorskip("vrl_python")
    from o2kit.query import check

    fake = FakeOpenObserve(seed=9)
    functions = {"good": ".seen = true", "broken": ".x = nosuchfn(1)",
                 "aborts": "if .bad == true { abort }\n.ok = 1"}
    samples = {"aborts": [{"bad": False}, {"bad": True}]}
    with _client(fake) as client:
        outcomes = check.function_checks(
            lambda source, events: client.test_function(source, events), functions, samples)
    by_name = {o.query.label.split('"')[1]: o for o in outcomes}
    assert by_name["good"].ok and by_name["good"].rows[0]["event"] == {"seen": True}
    assert not by_name["broken"].ok and "400" in (by_name["broken"].error or "")
    assert not by_name["aborts"].ok
    assert (by_name["aborts"].error or "").startswith("event 2:")
    # The server keeps the event unchanged on a runtime error.
    assert by_name["aborts"].rows[1]["event"] == {"bad": True}


def test_o2kit_test_runs_function_tests_with_the_alert_tests(tmp_path: Path) -> None:
    pytest.importorskip("vrl_python")
    from typer.testing import CliRunner

    from o2kit.cli import app as cli

    root = _project(tmp_path, "pipelines: []\n", {"tag.vrl": ".tag = 1\n"})
    shutil.rmtree(root / "alert-tests", ignore_errors=True)
    (root / "function-tests").mkdir()
    (root / "function-tests" / "tag.yaml").write_text(
        "function: tag\ntests:\n"
        "  - name: tags\n    events: [{a: 1}]\n    expect: [{a: 1, tag: 1}]\n"
        "  - name: wrong on purpose\n    events: [{a: 1}]\n    expect: [{a: 1, tag: 2}]\n")
    result = CliRunner().invoke(cli.app, ["--no-color", "-C", str(root), "test"])
    assert result.exit_code == 1, result.output
    assert "PASS  function-tests/tag.yaml:3: tag: tags" in result.output
    assert "FAIL  function-tests/tag.yaml:6: tag: wrong on purpose" in result.output
    assert "1 passed, 1 failed" in result.output


def test_two_pipelines_on_one_stream_fail_validate(tmp_path: Path) -> None:
    text = ("pipelines:\n  - name: a\n    source: bedrock_logs\n    steps: [{function: tag}]\n"
            "  - name: b\n    source: bedrock_logs\n    steps: [{function: tag}]\n")
    root = _project(tmp_path, text, {"tag.vrl": ".tag = 1\n"})
    project = load_project(root)
    problems = [p for p in validate_resources(_ingest_kinds(project.resources),
                                              project.config.config) if p.is_error]
    assert [(p.line, p.field) for p in problems] == [(2, "nodes[0].data.stream_name"),
                                                     (5, "nodes[0].data.stream_name")]
    assert 'pipeline "b" reads stream "bedrock_logs" too' in problems[0].message


def test_export_writes_files_that_plan_reads_back_unchanged(tmp_path: Path) -> None:
    from o2kit.sync import export

    fake = FakeOpenObserve(seed=10)
    with _client(fake) as client:
        # Made in the UI: no marker, no ownership record.
        client.create_object(FUNCTION.api, {"name": "tag_rows", "params": "row",
                                            "function": "# tags\n.tagged = true", "transType": 0})
        ui = _pipeline("tagged_logs", "tag_rows", description="made in the UI").body
        ui["nodes"] = [{**n, "position": {"x": 10.0, "y": 20.0 * i}}
                       for i, n in enumerate(ui["nodes"])]
        client.create_object(PIPELINE.api, ui)
        request = export.ExportRequest(everything=True, dashboards=False, alerts=False,
                                       rest_kinds=("function", "pipeline"))
        objects = export.read_server(client, request)
        root = _project(tmp_path, "pipelines: []\n", {})
        (root / "pipelines" / "main.yaml").unlink()
        result = export.build_export(objects, export.existing_keys(root))
        assert sorted(str(f.path) for f in result.files) == [
            "functions/tag_rows.vrl", "pipelines/tagged_logs.yaml"]
        export.write_export(result, root)
        assert (root / "functions" / "tag_rows.vrl").read_text() == "# tags\n.tagged = true\n"
        project = load_project(root)
        desired = _ingest_kinds(project.resources)
        assert sorted(r.key for r in desired) == [("tag_rows",), ("tagged_logs",)]
        plan = build_plan(desired, fetch_live(client, desired=desired).resources,
                          project="team-a")
        # Nothing differs: the objects are only not ours yet (apply --adopt takes them).
        assert not [c for c in plan.changes if c.action != "noop"]
        assert all(not c.fields for c in plan.changes if c.kind in ("function", "pipeline"))
        adopted = build_plan(desired, fetch_live(client, desired=desired).resources,
                             project="team-a", adopt=True)
        assert apply_plan(client, adopted).ok
        again = build_plan(desired, fetch_live(client, desired=desired).resources,
                           project="team-a")
        assert not again.has_changes



@pytest.mark.parametrize("edges", [[["source", "a"], ["source", "b"]],
                                   [["source", "b"], ["source", "a"]]])
def test_after_flatten_carries_on_to_later_siblings_as_the_server_checks(
    edges: list[list[str]],
) -> None:
    """``dfs_traversal_check`` keeps the flattened state of one child for the children after it:
    o2kit refuses exactly what the fake (written from that function) refuses."""
    entry = {"name": "p", "source": "bedrock_logs",
             "nodes": {"a": {"function": "f", "after_flatten": True},
                       "b": {"function": "f"}, "out": {"stream": "bedrock_logs"}},
             "edges": [*edges, ["a", "out"], ["b", "out"]]}
    parsed = PIPELINE.files.parse(  # type: ignore[union-attr]
        "pipelines/p.yaml", {"pipelines": [entry]},
        {"streams": {"invocation_logs": "bedrock_logs"}})
    refused = [p.message for p in parsed if isinstance(p, kinds.spec.SourceProblem)]
    stream = {"node_type": "stream", "org_id": "default", "stream_name": "bedrock_logs",
              "stream_type": "logs"}
    data = {"source": stream, "out": stream,
            "a": {"node_type": "function", "name": "f", "after_flatten": True},
            "b": {"node_type": "function", "name": "f", "after_flatten": False}}
    body = {"name": "p", "edges": [{"id": f"e{s}-{t}", "source": s, "target": t}
                                   for s, t in entry["edges"]],  # type: ignore[attr-defined]
            "nodes": [{"id": i, "data": d, "position": {"x": 0, "y": 0}, "io_type": "default"}
                      for i, d in data.items()]}
    with httpx.Client(base_url="http://o2.test", transport=FakeOpenObserve().transport(Faults()),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD)) as http:
        answer = http.post("/api/default/pipelines", json=body)
    server_refuses = "After Flatten must be checked" in answer.text
    assert server_refuses == (edges[0] == ["source", "a"])
    assert bool(refused) == server_refuses, refused
    assert all("after_flatten must be true" in m for m in refused)
