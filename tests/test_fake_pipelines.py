"""The fake OpenObserve's functions and pipelines API and its realtime-pipeline ingest path, with
raw request bodies as the UI sends them (nothing of o2kit.kinds): the behaviour is the server's
(src/core/src/functions.rs, src/core/src/pipeline/mod.rs, src/config/src/meta/pipeline/mod.rs,
src/core/src/pipeline/batch_execution.rs)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve

NOW = 1_764_331_200.0
KEY = base64.b64encode(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}".encode()).decode()


@pytest.fixture()
def http() -> Any:
    fake = FakeOpenObserve(clock=lambda: NOW)
    with httpx.Client(base_url="http://o2", transport=fake.transport(),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD)) as client:
        client.fake = fake  # type: ignore[attr-defined]
        yield client


def _stream(name: str) -> dict[str, Any]:
    return {"node_type": "stream", "org_id": "default", "stream_name": name,
            "stream_type": "logs"}


def _pipeline(name: str, source: str, steps: list[dict[str, Any]],
              extra_edges: list[tuple[str, str]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    nodes = [{"id": "s", "data": _stream(source), "position": {"x": 0, "y": 0},
              "io_type": "input"}]
    edges = []
    for i, data in enumerate(steps):
        nodes.append({"id": f"n{i}", "data": data, "position": {"x": 0, "y": 1},
                      "io_type": "output" if data["node_type"] == "stream" else "default"})
    for i in range(len(steps)):
        prev = "s" if i == 0 else f"n{i - 1}"
        if steps[i].get("node_type") != "stream" or i == 0 or \
                steps[i - 1].get("node_type") != "stream":
            edges.append({"id": f"e{prev}-n{i}", "source": prev, "target": f"n{i}"})
    edges += [{"id": f"e{a}-{b}", "source": a, "target": b} for a, b in extra_edges]
    return {"name": name, "description": "", "nodes": nodes, "edges": edges}


def _function(http: httpx.Client, name: str, source: str) -> httpx.Response:
    return http.post("/api/default/functions", json={"name": name, "function": source,
                                                     "params": "row", "transType": 0})


def _ingest(http: httpx.Client, stream: str, lines: list[Any]) -> httpx.Response:
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    body = {"requestId": "r", "timestamp": 1,
            "records": [{"data": base64.b64encode(data).decode()}]}
    return http.post(f"/aws/default/{stream}/_kinesis_firehose", json=body,
                     headers={"X-Amz-Firehose-Access-Key": KEY})


def test_function_api_as_the_server_answers(http: httpx.Client) -> None:
    assert _function(http, "f", ".a = 1").json() == {"code": 200,
                                                      "message": "Function saved successfully"}
    assert _function(http, "f", ".a = 1").json()["message"] == "Function already exist"
    listed = http.get("/api/default/functions").json()["list"]
    assert listed == [{"function": ".a = 1 \n .", "name": "f", "params": "row", "numArgs": 1,
                       "transType": 0}]
    # PUT with the stored text is answered with the function itself.
    same = http.put("/api/default/functions/f", json=listed[0])
    assert same.json()["function"] == ".a = 1 \n ."
    assert http.put("/api/default/functions/g", json=listed[0]).status_code == 404
    assert http.put("/api/default/functions/f",
                    json={**listed[0], "transType": None}).status_code == 500
    assert http.post("/api/default/functions",
                     json={"name": "e", "function": "get_env_var(\"X\")"}).json()["message"] \
        == "get_env_var is not supported"


def test_pipeline_validation_and_versions(http: httpx.Client) -> None:
    pytest.importorskip("vrl_python")
    assert _function(http, "tag", ".tag = 1").status_code == 200
    missing = http.post("/api/default/pipelines", json=_pipeline(
        "p", "app", [{"node_type": "function", "name": "nope"}, _stream("app")]))
    assert missing.status_code == 400
    assert missing.json()["message"].startswith("Invalid pipeline Failed to load function 'nope'")
    cyclic = _pipeline("c", "app", [{"node_type": "function", "name": "tag"},
                                    {"node_type": "function", "name": "tag"}, _stream("app")],
                       extra_edges=[("n1", "n0")])
    answer = http.post("/api/default/pipelines", json=cyclic)
    assert answer.json()["message"] == "Invalid pipeline Cyclical pipeline detected."
    good = _pipeline("My Pipe", "app", [{"node_type": "function", "name": "tag"}, _stream("app")])
    created = http.post("/api/default/pipelines", json=good).json()
    assert created["message"] == "Pipeline created successfully" and created["name"] == "my pipe"
    again = http.post("/api/default/pipelines", json=good)
    assert again.json()["message"] == "A realtime pipeline with same source stream already exists"
    stored = http.get(f"/api/default/pipelines/{created['id']}").json()
    assert stored["version"] == 0 and stored["source"]["stream_name"] == "app"
    changed = {**stored, "description": "x"}
    assert http.put("/api/default/pipelines", json=changed).status_code == 200
    assert http.put("/api/default/pipelines", json={**changed, "description": "y"}).status_code \
        == 409  # version 0 is stale now
    in_use = http.delete("/api/default/functions/tag")
    assert in_use.status_code == 409
    assert f'[{{"id":"{created["id"]}","name":"my pipe"}}]' in in_use.json()["message"]
    assert http.delete(f"/api/default/pipelines/{created['id']}").status_code == 200
    assert http.delete("/api/default/functions/tag").json()["message"] == "Function deleted"


def test_ingest_runs_the_streams_pipeline(http: httpx.Client) -> None:
    pytest.importorskip("vrl_python")
    source = ('if .fail == true { abort }\n'
              'if .drop == true { . = null } else {\n'
              '  ._timestamp = .at\n  .seen = true\n}')
    assert _function(http, "shape", source).status_code == 200
    route = {"node_type": "condition", "version": 2, "conditions": {
        "filterType": "group", "logicalOperator": "AND", "conditions": [
            {"filterType": "condition", "column": "level", "operator": "=", "value": "error",
             "logicalOperator": "AND"}]}}
    body = _pipeline("p", "app", [{"node_type": "function", "name": "shape"}])
    # function → condition → "errors"; function → "app"
    body["nodes"] += [
        {"id": "c", "data": route, "position": {"x": 0, "y": 0}, "io_type": "default"},
        {"id": "err", "data": _stream("errors"), "position": {"x": 0, "y": 0},
         "io_type": "output"},
        {"id": "out", "data": _stream("app"), "position": {"x": 0, "y": 0}, "io_type": "output"}]
    body["edges"] += [{"id": "1", "source": "n0", "target": "c"},
                      {"id": "2", "source": "c", "target": "err"},
                      {"id": "3", "source": "n0", "target": "out"}]
    assert http.post("/api/default/pipelines", json=body).status_code == 200
    at_ms = int(NOW * 1000) - 120_000
    lines = [{"id": 1, "at": at_ms, "level": "info", "nested": {"k": "v"}},
             {"id": 2, "at": at_ms, "level": "error"},
             {"id": 3, "drop": True},
             {"id": 4, "fail": True}]
    assert _ingest(http, "app", lines).status_code == 200
    fake = http.fake  # type: ignore[attr-defined]
    app = {r["id"]: r for r in fake.rows("default", "app")}
    # _timestamp from the function; nested objects flattened after the pipeline.
    assert app[1]["_timestamp"] == at_ms * 1000 and app[1]["seen"] is True
    assert app[1]["nested_k"] == "v"
    assert 3 not in app  # `. = null` drops the record
    # A runtime error forwards the original record (stamped at arrival).
    assert app[4]["fail"] is True and "seen" not in app[4]
    assert app[4]["_timestamp"] == int(NOW * 1_000_000)
    errors = fake.rows("default", "errors")
    assert [r["id"] for r in errors] == [2]
    # Without a pipeline another stream is stored as decoded.
    assert _ingest(http, "plain", [{"id": 9}]).status_code == 200
    assert "seen" not in fake.rows("default", "plain")[0]
    # A disabled pipeline does not run.
    (pid,) = [p["pipeline_id"] for p in http.get("/api/default/pipelines").json()["list"]]
    assert http.put(f"/api/default/pipelines/{pid}/enable?value=false").status_code == 200
    assert _ingest(http, "app", [{"id": 5, "at": at_ms}]).status_code == 200
    assert "seen" not in {r["id"]: r for r in fake.rows("default", "app")}[5]
