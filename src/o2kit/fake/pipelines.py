"""Realtime pipelines (``/api/{org}/pipelines``) and running them on ingest, from the OpenObserve
source (commit fbab9b80):

- routes ``src/api/http/src/handler/http/router/mod.rs``; handlers
  ``src/api/pipelines/src/request/pipeline.rs`` (create: name trimmed and lower-cased, a new
  snowflake ``pipeline_id`` unless ``?overwrite=true``, answer ``{"code":200,"message":"Pipeline
  created successfully","id","name"}``; ``PUT /pipelines`` with the id in the body; ``DELETE
  /pipelines/{id}``);
- ``src/core/src/pipeline/mod.rs``: ``save_pipeline`` (one realtime pipeline per source stream
  → 400, then ``Pipeline::validate``, then every function node's function must load),
  ``update_pipeline`` (404; a body equal to the stored one is a no-op; ``version`` mismatch →
  409; validate; ``version + 1``); errors ``src/core/src/pipeline/db.rs`` ``PipelineError``;
- ``Pipeline::validate`` and ``dfs_traversal_check`` (``src/config/src/meta/pipeline/mod.rs``):
  the checks and messages below, ``source`` derived from the first node;
- running (``src/core/src/pipeline/batch_execution.rs``): the source node hands each record to
  its children; a function node flattens first when ``after_flatten`` (and the record is not
  flat), runs the function with ``apply_vrl_fn`` — a runtime error forwards the *original*
  record — and marks the record unflattened; a condition node flattens, skips non-objects and
  forwards matches (``evaluate_condition_items``, src/core/src/alerts/mod.rs: AND before OR); a
  stream node drops non-objects, flattens and emits the record for that stream (``{field}`` in
  its name is resolved from the record; an empty or missing one drops it). With a user pipeline
  nothing else is written to the source stream (``src/core/src/logs/ingest.rs``).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import Any

from . import functions as fn
from .firehose import DEFAULT_FLATTEN_LEVEL, flatten
from .http import HttpError, Request, Response, error, json_response, ok, parse_bool, read_json
from .ingest import format_stream_name
from .state import Store

KIND = "pipeline"
_PIPELINE_NODE_TYPES = {"stream", "function", "condition", "query", "remote_stream",
                        "llm_evaluation"}


def pipelines(store: Store, org: str) -> dict[str, dict[str, Any]]:
    return {pid: p for (o, pid), p in store.objects.get(KIND, {}).items() if o == org}


def _invalid(text: str) -> HttpError:
    return error(400, f"Invalid pipeline {text}")


def _read(req: Request) -> dict[str, Any]:
    data = read_json(req)
    missing = [k for k in ("name", "nodes", "edges") if not isinstance(data, dict) or k not in data]
    if missing:
        raise HttpError(Response(422, f"Failed to deserialize the JSON body into the target "
                                      f"type: missing field `{missing[0]}`".encode(),
                                 {"content-type": "text/plain; charset=utf-8"}))
    assert isinstance(data, dict)
    for i, node in enumerate(data["nodes"]):
        if not isinstance(node, dict) or not {"id", "data", "position", "io_type"} <= set(node):
            raise HttpError(Response(422, f"Failed to deserialize the JSON body into the target "
                                          f"type: nodes[{i}]: missing field".encode(),
                                     {"content-type": "text/plain; charset=utf-8"}))
    return {
        "pipeline_id": str(data.get("pipeline_id", "")),
        "version": int(data.get("version", 0) or 0),
        "enabled": bool(data.get("enabled", True)),
        "org": req.params["org"],
        "name": str(data["name"]),
        "description": str(data.get("description", "")),
        "source": {},
        "nodes": data["nodes"],
        "edges": data["edges"],
    }


def _realtime_source(first: Mapping[str, Any]) -> dict[str, Any]:
    """The ``source`` a realtime pipeline's first (stream) node makes (``Pipeline::validate``)."""
    return {"source_type": "realtime", "org_id": first.get("org_id", ""),
            "stream_name": first.get("stream_name", ""),
            "stream_type": first.get("stream_type", "logs")}


def _validate(store: Store, org: str, p: dict[str, Any]) -> None:
    """``Pipeline::validate`` then ``validate_no_javascript_functions`` / function loading."""
    if not p["name"]:
        raise _invalid("Please provide non-empty name for the pipeline")
    nodes, edges = p["nodes"], p["edges"]
    if not nodes:
        raise _invalid("Empty pipeline. Please add Source/Destination nodes, or any applicable "
                       "Transform Nodes")
    if not edges:
        raise _invalid("Please connect all Nodes to complete pipeline creation")
    data = {str(n["id"]): n.get("data") or {} for n in nodes}
    for n in nodes:
        if (n.get("data") or {}).get("node_type") not in _PIPELINE_NODE_TYPES:
            raise _invalid(f"Node {n['id']} is not a pipeline compatible node")
    first = nodes[0].get("data") or {}
    if first.get("node_type") != "stream":
        raise _invalid("Source must be either a StreamNode or QueryNode")
    p["source"] = _realtime_source(first)
    for n in nodes:
        d = n.get("data") or {}
        if d.get("node_type") == "condition":
            group = d.get("conditions") or {}
            if not (group.get("conditions") if isinstance(group, dict) else group):
                raise _invalid("ConditionNode must have non-empty conditions")
    if len(edges) < len(nodes) - 1:
        raise _invalid(f"Insufficient number of edges to connect all nodes. Need at least "
                       f"{len(nodes) - 1} for {len(nodes)} nodes, but got {len(edges)}.")
    graph: dict[str, list[str]] = {}
    for i, e in enumerate(edges):
        for end in ("source", "target"):
            if str(e.get(end)) not in data:
                raise _invalid(f"Edge #{i}'s {end} node not found in nodes list")
        graph.setdefault(str(e["source"]), []).append(str(e["target"]))

    def dfs(node: str, flattened: bool, visited: set[str]) -> None:
        if node in visited:
            raise _invalid("Cyclical pipeline detected.")
        visited.add(node)
        if node not in graph:
            if data[node].get("node_type") not in ("stream", "remote_stream"):
                raise _invalid("All terminal nodes must be stream nodes or destination nodes")
            visited.discard(node)
            return
        for child in graph[node]:
            d = data[child]
            if d.get("node_type") == "function":
                if flattened and not d.get("after_flatten", False):
                    raise _invalid("After Flatten must be checked if a previous FunctionNode "
                                   "already checked it in the same branch.")
                flattened = flattened or bool(d.get("after_flatten", False))
            dfs(child, flattened, visited)
        visited.discard(node)

    dfs(str(nodes[0]["id"]), False, set())
    known = fn.functions(store, org)
    for d in data.values():
        if d.get("node_type") == "function":
            name = str(d.get("name", ""))
            if name not in known:
                raise _invalid(f"Failed to load function '{name}': Function not found")
            if known[name].get("transType") == 1:
                raise _invalid("JavaScript functions cannot be used in pipelines. JS functions "
                               "are only supported for query-time transformations.")


def _source_taken(store: Store, org: str, p: dict[str, Any], except_id: str = "") -> bool:
    return any(other["source"] == p["source"] and pid != except_id
               for pid, other in pipelines(store, org).items())


def _public(p: dict[str, Any]) -> dict[str, Any]:
    """The response model (src/api/pipelines/src/models/pipelines.rs): no ``kind``, plus
    ``paused_at``."""
    return {**p, "paused_at": None}


def list_pipelines(store: Store, req: Request) -> Response:
    items = sorted(pipelines(store, req.params["org"]).values(), key=lambda p: p["pipeline_id"])
    return json_response({"list": [_public(p) for p in items]})


def get_pipeline(store: Store, req: Request) -> Response:
    p = pipelines(store, req.params["org"]).get(req.params["pipeline_id"])
    if p is None:
        raise error(404, f"Pipeline with ID {req.params['pipeline_id']} not found.")
    return json_response(_public(p))


def create_pipeline(store: Store, req: Request) -> Response:
    org = req.params["org"]
    p = _read(req)
    p["name"] = p["name"].strip().lower()
    overwrite = parse_bool("overwrite", req.query_map()["overwrite"]) \
        if "overwrite" in req.query_map() else False
    if not overwrite:
        p["pipeline_id"] = store.snowflake()
    if not p["pipeline_id"]:
        raise _invalid("Missing pipeline ID")
    # save_pipeline checks the source before validate(); the source of the body is the first
    # node's (validate derives it), so derive it here for the check.
    first = (p["nodes"][0].get("data") or {}) if p["nodes"] else {}
    if first.get("node_type") == "stream" and _source_taken(
            store, org, {"source": _realtime_source(first)}):
        raise error(400, "A realtime pipeline with same source stream already exists")
    _validate(store, org, p)
    store.objects.setdefault(KIND, {})[(org, p["pipeline_id"])] = p
    return ok("Pipeline created successfully", id=p["pipeline_id"], name=p["name"])


def _comparable(p: dict[str, Any]) -> dict[str, Any]:
    nodes = [{k: v for k, v in n.items() if k != "style"} for n in p["nodes"]]
    return {**{k: v for k, v in p.items() if k != "source"}, "nodes": nodes}


def update_pipeline(store: Store, req: Request) -> Response:
    org = req.params["org"]
    p = _read(req)
    existing = pipelines(store, org).get(p["pipeline_id"])
    if existing is None:
        raise error(404, f"Pipeline with ID {p['pipeline_id']} not found.")
    if _comparable(existing) == _comparable(p):
        return ok("Pipeline updated successfully")
    if existing["version"] != p["version"]:
        raise error(409, f"Pipeline with ID {p['pipeline_id']} modified by someone else. "
                         "Please refresh.")
    _validate(store, org, p)
    if existing["source"] != p["source"] and _source_taken(store, org, p, p["pipeline_id"]):
        raise error(400, "A realtime pipeline with same source stream already exists")
    p["version"] += 1
    store.objects[KIND][(org, p["pipeline_id"])] = p
    return ok("Pipeline updated successfully")


def delete_pipeline(store: Store, req: Request) -> Response:
    org, pid = req.params["org"], req.params["pipeline_id"]
    if pid not in pipelines(store, org):
        raise error(404, f"Pipeline with ID {pid} not found.")
    del store.objects[KIND][(org, pid)]
    return ok("Pipeline deleted successfully")


def enable_pipeline(store: Store, req: Request) -> Response:
    org, pid = req.params["org"], req.params["pipeline_id"]
    p = pipelines(store, org).get(pid)
    if p is None:
        raise error(404, f"Pipeline with ID {pid} not found.")
    raw = req.query_map().get("value", "")
    p["enabled"] = raw == "true"
    return ok(f"Pipeline successfully {'enabled' if p['enabled'] else 'disabled'}")


ROUTES = [
    ("{org}/pipelines", {"GET": list_pipelines, "POST": create_pipeline,
                         "PUT": update_pipeline}),
    ("{org}/pipelines/{pipeline_id}", {"GET": get_pipeline, "DELETE": delete_pipeline}),
    ("{org}/pipelines/{pipeline_id}/enable", {"PUT": enable_pipeline}),
]


# ---------------------------------------------------------------------------------------------
# running a realtime pipeline on ingest


def realtime_pipeline(store: Store, org: str, stream: str,
                      stream_type: str = "logs") -> dict[str, Any] | None:
    """The enabled realtime pipeline whose source is ``(org, stream, stream_type)``
    (src/core/src/logs/ingest.rs fetches the executable pipeline of the stream)."""
    for p in pipelines(store, org).values():
        src = p.get("source") or {}
        if (p.get("enabled", True) and src.get("source_type") == "realtime"
                and format_stream_name(str(src.get("stream_name", ""))) == stream
                and src.get("stream_type", "logs") == stream_type
                and src.get("org_id") in (org, "")):
            return p
    return None


_SCALARS = (str, int, bool, type(None))


def _json_value(value: Any) -> Any:
    """Plain JSON values for the VRL binding and back (VRL timestamps → RFC 3339 text,
    ``vrl`` src/value/value/serde.rs). Exact types first: this runs on every event."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {k if type(k) is str else str(k): v if type(v) in _SCALARS else _json_value(v)
                for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _SCALARS else _json_value(v) for v in value]
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _compare(row_value: Any, operator: str, value: Any) -> bool:
    """``evaluate_condition`` (src/core/src/alerts/mod.rs) for one row value."""
    op = {"Contains": "contains", "NotContains": "not_contains"}.get(operator, operator)
    if isinstance(row_value, str):
        con = (value if isinstance(value, str) else "").strip('"')
        return {"=": row_value == con, "!=": row_value != con, ">": row_value > con,
                ">=": row_value >= con, "<": row_value < con, "<=": row_value <= con,
                "contains": con in row_value, "not_contains": con not in row_value}.get(op, False)
    if isinstance(row_value, bool):
        con_b = value if isinstance(value, bool) else str(value) == "true"
        return {"=": row_value == con_b, "!=": row_value != con_b}.get(op, False)
    if isinstance(row_value, int | float):
        try:
            con_f = float(value)
        except (TypeError, ValueError):
            con_f = 0.0
        v = float(row_value)
        return {"=": v == con_f, "!=": v != con_f, ">": v > con_f, ">=": v >= con_f,
                "<": v < con_f, "<=": v <= con_f}.get(op, False)
    if row_value is None:
        return op == "=" and value == "null"
    return False


def _evaluate(item: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    if item.get("filterType") == "group":
        return _evaluate_items(item.get("conditions") or [], row)
    column = str(item.get("column", ""))
    if column not in row:
        return False
    return _compare(row[column], str(item.get("operator", "=")), item.get("value"))


def _evaluate_items(items: list[Any], row: Mapping[str, Any]) -> bool:
    """``evaluate_condition_items``: AND binds before OR; an item's operator joins it to the
    one before."""
    if not items:
        return True
    results = [_evaluate(i, row) for i in items]
    operators = [str(i.get("logicalOperator", "AND")).upper() for i in items[1:]]
    i = 0
    while i < len(operators):
        if operators[i] == "AND":
            results[i] = results[i] and results[i + 1]
            del results[i + 1], operators[i]
        else:
            i += 1
    return any(results)


_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def run_pipeline(store: Store, org: str, p: dict[str, Any], records: list[Any],
                 stream_name: str) -> tuple[dict[tuple[str, str], list[dict[str, Any]]], int]:
    """Each record through ``p``: ``{(stream_type, stream): rows}`` for the destination nodes
    (flattened rows, before ``handle_timestamp``), and how many node errors happened."""
    nodes = {str(n["id"]): n.get("data") or {} for n in p["nodes"]}
    children: dict[str, list[str]] = {}
    for e in p["edges"]:
        children.setdefault(str(e["source"]), []).append(str(e["target"]))
    sources = {fname: body["function"] for fname, body in fn.functions(store, org).items()}
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    errors = 0
    root = str(p["nodes"][0]["id"])

    def visit(node_id: str, record: Any, flattened: bool) -> None:
        nonlocal errors
        data = nodes[node_id]
        kind = data.get("node_type")
        if node_id != root:
            if kind == "function":
                if data.get("after_flatten") and not flattened and isinstance(record, dict):
                    record = flatten(record, DEFAULT_FLATTEN_LEVEL)
                source = sources.get(str(data.get("name", "")))
                if source is not None:
                    result, failure = fn.run(source, _json_value(record))
                    if failure:
                        errors += 1  # the original record goes on (apply_vrl_fn)
                    record = _json_value(result)
                flattened = False
            elif kind == "condition":
                if not isinstance(record, dict):
                    return
                if not flattened:
                    record, flattened = flatten(record, DEFAULT_FLATTEN_LEVEL), True
                group = data.get("conditions") or {}
                items = group.get("conditions", []) if isinstance(group, dict) else []
                if not _evaluate_items(items, record):
                    return
            elif kind == "stream":
                if not isinstance(record, dict):
                    return
                if not flattened:
                    record, flattened = flatten(record, DEFAULT_FLATTEN_LEVEL), True
                if not children.get(node_id):
                    name = str(data.get("stream_name", ""))
                    if "{" in name:
                        missing = False

                        def resolve(m: re.Match[str]) -> str:
                            nonlocal missing
                            v = record.get(m.group(1))
                            missing = missing or v in (None, "")
                            return "" if v is None else str(v)

                        name = _PLACEHOLDER.sub(resolve, name)
                        if missing or not name:
                            errors += 1
                            return
                    key = (str(data.get("stream_type", "logs")), format_stream_name(name))
                    out.setdefault(key, []).append(record)
                    return
        for child in children.get(node_id, []):
            visit(child, record, flattened)

    for record in records:
        visit(root, record, False)
    return out, errors
