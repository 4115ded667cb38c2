"""The ``pipeline`` kind (realtime pipelines, ``/api/{org}/pipelines``): what o2kit knows about
it, as tables (see ``o2kit.kinds``).

Files: ``pipelines/*.yaml`` (or ``.yaml.j2``), each ``pipelines: [ … ]``; one entry::

    - name: bedrock_metrics            # lower case: the server lower-cases it on create
      description: …                   # optional; o2kit adds its ownership marker line
      enabled: true                    # default true
      source: bedrock_metrics          # a configured logs stream, or {stream: NAME, type: logs}
      steps:                           # a linear pipeline, expanded to nodes + edges
        - function: bedrock_metric_stream          # or {function: NAME, after_flatten: true}
        - condition: {column: level, operator: "=", value: error}   # a list = all of them
        - stream: bedrock_metrics                  # destination; default: the source stream

or, for a graph, ``nodes: {ID: {function|condition|stream: …}}`` and ``edges: [[FROM, TO], …]``
(``source`` is the id of the source node). A destination stream must be a configured stream, or
say ``{stream: NAME, new: true}`` (the server creates it on first write).

From the OpenObserve source (commit fbab9b80; docs/research/openobserve-ingest-slo.md §2):

- model ``Pipeline`` (``src/config/src/meta/pipeline/mod.rs``, snake_case) with ``nodes``
  (``components.rs`` ``Node``: ``id``, ``data`` tagged by ``node_type``, ``position``,
  ``io_type``, ``meta``, ``style``, ``is_disabled``) and ``edges`` (``id`` ``e{source}-{target}``,
  ``source``, ``target``);
- ``pipeline_id`` assigned by the server on create (``src/api/pipelines/src/request/pipeline.rs``
  ``save_pipeline``, answered as ``id``), the name trimmed and lower-cased there; ``version`` an
  optimistic lock (PUT must send the stored one, ``src/core/src/pipeline/mod.rs``
  ``update_pipeline``); ``source`` derived from the first node on every save; ``org`` the path's;
- updates are ``PUT /pipelines`` with the id in the body; one realtime pipeline per source
  stream (400 ``A realtime pipeline with same source stream already exists``);
- ``description`` is free text: it carries o2kit's ownership marker line.

Positions, styles and node ``meta`` are the UI's drawing: not compared (an update keeps the live
positions of the nodes it keeps). ``org_id`` of stream nodes is filled by the client with the org
it talks to (``RestApi.org_paths``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from o2kit.kinds.spec import (
    MARKER_TEXT,
    Default,
    KindSpec,
    Parsed,
    Ref,
    RestApi,
    Rewrite,
    SourceFiles,
    SourceProblem,
    _description_marker,
    _stamp_description,
    _strip_description_marker,
    _transform_at,
    _trim,
    _with_description_marker,
    _without,
)
from o2kit.model import Resource

_MODEL = "src/config/src/meta/pipeline/mod.rs"
_COMPONENTS = "src/config/src/meta/pipeline/components.rs"
_HANDLER = "src/api/pipelines/src/request/pipeline.rs"
DIRECTORY = "pipelines"
SUFFIXES = (".yaml", ".yaml.j2", ".yml")
SOURCE_ID = "source"
STREAM_TYPES = ("logs", "metrics", "traces")
# Condition operators (ConditionParams: the alert operators, src/config/src/meta/alerts/mod.rs).
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "contains", "not_contains")

PIPELINE_SERVER_OWNED = (
    "pipeline_id", "version", "org", "source", "kind", "paused_at", "last_error",
    "nodes[].position", "nodes[].style", "nodes[].meta", "nodes[].data.org_id",
)


# ---------------------------------------------------------------------------------------------
# files → server JSON (pure)


class _Problems(Exception):
    def __init__(self, problems: list[SourceProblem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _field(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _configured_streams(context: Mapping[str, Any]) -> dict[str, str]:
    """Configured stream name → type, from the project's Jinja context (``streams``)."""
    streams = context.get("streams") or {}
    out: dict[str, str] = {}
    for role in ("metrics", "invocation_logs"):
        if streams.get(role):
            out[str.__str__(streams[role])] = "logs"
    app = streams.get("application_logs")
    if isinstance(app, Mapping) and app.get("stream"):
        out[str.__str__(app["stream"])] = "logs"
    return out


class _Builder:
    """One pipeline entry of a file → the server's JSON, or problems with their YAML paths."""

    def __init__(self, base: tuple[str | int, ...], context: Mapping[str, Any]) -> None:
        self.base = base
        self.streams = _configured_streams(context)
        self.problems: list[SourceProblem] = []

    def fail(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(SourceProblem(0, _field(self.base + path), message,
                                           path=self.base + path))

    def stream_node(self, spec: Any, path: tuple[str | int, ...], *, source: bool,
                    default_type: str = "logs") -> dict[str, Any] | None:
        new = False
        stream_type = default_type
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"stream", "type", "new"}
            if unknown:
                self.fail(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; a "
                                "stream is {stream: NAME, type: logs, new: true}")
            name, stream_type, new = spec.get("stream"), spec.get("type", "logs"), \
                spec.get("new", False)
        else:
            name = spec
        if not isinstance(name, str) or not name.strip():
            self.fail(path, "needs a stream name")
            return None
        if stream_type not in STREAM_TYPES:
            self.fail(path, f"stream type {stream_type!r}: use one of {', '.join(STREAM_TYPES)}")
            return None
        if source and stream_type != "logs":
            self.fail(path, "o2kit manages realtime pipelines on logs streams (the Firehose "
                            "ingest path); this source is not a logs stream")
        if new is not True and "{" not in name and name not in self.streams:
            known = ", ".join(f'"{s}"' for s in sorted(self.streams)) or "none"
            extra = "" if source else " (or write {stream: NAME, new: true} for a stream the " \
                                      "pipeline creates)"
            self.fail(path, f'unknown stream "{name}": configured streams are {known}{extra}')
        if new is True and source:
            self.fail(path, "the source stream must exist: new is for destinations")
        return {"node_type": "stream", "org_id": "", "stream_name": name,
                "stream_type": stream_type}

    def step_node(self, spec: Any, path: tuple[str | int, ...]) -> dict[str, Any] | None:
        """The ``data`` of a function, condition or stream node."""
        if not isinstance(spec, Mapping) or len(spec) < 1:
            self.fail(path, "expected one of function: NAME, condition: …, stream: NAME")
            return None
        kinds = [k for k in ("function", "condition", "stream") if k in spec]
        if len(kinds) != 1:
            self.fail(path, "expected exactly one of function, condition or stream")
            return None
        kind = kinds[0]
        if kind == "stream":
            return self.stream_node(spec if set(spec) - {"stream"} else spec["stream"], path,
                                    source=False)
        if kind == "function":
            unknown = set(spec) - {"function", "after_flatten"}
            if unknown:
                self.fail(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
            name, after = spec["function"], spec.get("after_flatten", False)
            if not isinstance(name, str) or not name.strip():
                self.fail(path + ("function",), "needs a function name")
                return None
            if not isinstance(after, bool):
                self.fail(path + ("after_flatten",), "must be true or false")
                after = False
            return {"node_type": "function", "name": name, "after_flatten": after,
                    "num_args": 0}
        if set(spec) - {"condition"}:
            self.fail(path, "a condition step holds only condition:")
        return self.condition(spec["condition"], path + ("condition",))

    def condition(self, spec: Any, path: tuple[str | int, ...]) -> dict[str, Any] | None:
        items = spec if isinstance(spec, list) else [spec]
        if not items:
            self.fail(path, "needs at least one condition (the server refuses an empty one)")
            return None
        conditions = []
        for i, item in enumerate(items):
            where = path + ((i,) if isinstance(spec, list) else ())
            if isinstance(item, Mapping) and item.get("filterType") == "group" and \
                    not isinstance(spec, list):
                return {"node_type": "condition", "version": 2, "conditions": dict(item)}
            if not isinstance(item, Mapping) or set(item) != {"column", "operator", "value"}:
                self.fail(where, "expected {column: NAME, operator: OP, value: VALUE}")
                continue
            if item["operator"] not in OPERATORS:
                self.fail(where + ("operator",), f"operator {item['operator']!r}: use one of "
                                                 f"{', '.join(OPERATORS)}")
            if not isinstance(item["column"], str) or not item["column"]:
                self.fail(where + ("column",), "needs a column name")
            conditions.append({"filterType": "condition", "column": item["column"],
                               "operator": item["operator"], "value": item["value"],
                               "logicalOperator": "AND"})
        return {"node_type": "condition", "version": 2,
                "conditions": {"filterType": "group", "logicalOperator": "AND",
                               "conditions": conditions}}


def _graph(entry: Mapping[str, Any], b: _Builder) -> tuple[list[dict[str, Any]],
                                                           list[tuple[str, str, int | None]]]:
    """``(nodes, edges)``: nodes as ``{"id", "data"}``, edges as ``(source, target, index of
    the edge in the file or None for a generated one)``."""
    source = b.stream_node(entry.get("source"), ("source",), source=True)
    nodes: list[dict[str, Any]] = []
    if source is not None:
        nodes.append({"id": SOURCE_ID, "data": source})
    edges: list[tuple[str, str, int | None]] = []
    if "steps" in entry and ("nodes" in entry or "edges" in entry):
        b.fail(("steps",), "write either steps (a linear pipeline) or nodes and edges")
        return nodes, edges
    if "steps" in entry:
        steps = entry["steps"]
        if not isinstance(steps, list) or not steps:
            b.fail(("steps",), "expected a non-empty list of steps")
            return nodes, edges
        previous = SOURCE_ID
        for i, step in enumerate(steps):
            data = b.step_node(step, ("steps", i))
            if data is None:
                continue
            node_id = str(i + 1)
            nodes.append({"id": node_id, "data": data})
            edges.append((previous, node_id, None))
            previous = node_id
        if nodes[-1]["data"]["node_type"] != "stream" and source is not None:
            # No destination named: back into the source stream (with a pipeline, only what
            # it routes there is stored, src/core/src/logs/ingest.rs).
            node_id = str(len(steps) + 1)
            nodes.append({"id": node_id, "data": {**source}})
            edges.append((previous, node_id, None))
        return nodes, edges
    spec_nodes, spec_edges = entry.get("nodes"), entry.get("edges")
    if not isinstance(spec_nodes, Mapping) or not spec_nodes:
        b.fail(("nodes",), "expected steps: [...], or nodes: {ID: {...}} with edges")
        return nodes, edges
    for node_id, spec in spec_nodes.items():
        if str(node_id) == SOURCE_ID:
            b.fail(("nodes", str(node_id)), f'"{SOURCE_ID}" is the source node\'s id')
            continue
        data = b.step_node(spec, ("nodes", str(node_id)))
        if data is not None:
            nodes.append({"id": str(node_id), "data": data})
    if not isinstance(spec_edges, list) or not spec_edges:
        b.fail(("edges",), "expected a list of [FROM, TO] pairs")
        return nodes, edges
    for i, edge in enumerate(spec_edges):
        if not (isinstance(edge, list) and len(edge) == 2
                and all(isinstance(e, str | int) for e in edge)):
            b.fail(("edges", i), "expected [FROM, TO]")
            continue
        edges.append((str(edge[0]), str(edge[1]), i))
    return nodes, edges


def _check_graph(nodes: list[dict[str, Any]], edges: list[tuple[str, str, int | None]],
                 b: _Builder) -> None:
    """What the server refuses on save (``Pipeline::validate``, src/config/src/meta/pipeline/
    mod.rs: edge ends, cycles, terminal nodes, after_flatten order) and what it accepts but
    never runs (a node the source does not reach)."""
    ids = {n["id"] for n in nodes}
    data = {n["id"]: n["data"] for n in nodes}
    children: dict[str, list[tuple[str, int | None]]] = {i: [] for i in ids}
    for src, dst, index in edges:
        where: tuple[str | int, ...] = ("edges", index) if index is not None else ("steps",)
        for end, name in ((src, "from"), (dst, "to")):
            if end not in ids:
                b.fail(where, f'{name} node "{end}" is not a node of this pipeline '
                              f"(nodes: {', '.join(sorted(ids))})")
        if src in ids and dst in ids:
            if dst == SOURCE_ID:
                b.fail(where, "nothing may flow into the source node")
            children[src].append((dst, index))
    if SOURCE_ID not in ids:
        return
    # DFS from the source: a node met again on the current path closes a cycle.
    state: dict[str, int] = {}
    reported: set[int | None] = set()

    def visit(node: str, flattened: bool) -> None:
        state[node] = 1
        for child, index in children[node]:
            if state.get(child) == 1:
                if index not in reported:
                    reported.add(index)
                    b.fail(("edges", index) if index is not None else ("steps",),
                           f'cycle: "{node}" → "{child}" leads back to a node before it (the '
                           "server refuses it: Cyclical pipeline detected)")
                continue
            child_data = data[child]
            if child_data.get("node_type") == "function":
                if flattened and not child_data.get("after_flatten"):
                    b.fail(("nodes", child) if index is not None else ("steps",),
                           "after_flatten must be true after a function that flattened the "
                           "record on the same branch (the server refuses it)")
                # Carried on to the later children too: dfs_traversal_check sets its
                # ``flattened`` in the loop over the children.
                flattened = flattened or bool(child_data.get("after_flatten"))
            if state.get(child) != 2:
                visit(child, flattened)
        state[node] = 2

    visit(SOURCE_ID, False)
    for node in sorted(ids - {SOURCE_ID}):
        if node not in state:
            b.fail(("nodes", node), f'node "{node}" is not reached from the source')
        elif not children[node] and data[node].get("node_type") != "stream":
            b.fail(("nodes", node), f'node "{node}" ends a branch: every branch must end in a '
                                    "stream (the server refuses other terminal nodes)")


def _io_type(node: dict[str, Any], leaves: set[str]) -> str:
    if node["id"] == SOURCE_ID:
        return "input"
    return "output" if node["id"] in leaves else "default"


def pipeline_body(entry: Mapping[str, Any], base: tuple[str | int, ...],
                  context: Mapping[str, Any]) -> dict[str, Any]:
    """One file entry as the server's JSON; raises ``_Problems``."""
    b = _Builder(base, context)
    unknown = set(entry) - {"name", "description", "enabled", "source", "steps", "nodes",
                            "edges"}
    for key in sorted(map(str, unknown)):
        b.fail((key,), "unknown key (a pipeline has name, description, enabled, source, and "
                       "steps or nodes + edges)")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        b.fail(("name",), "needs a name")
        name = ""
    elif name != name.strip().lower():
        b.fail(("name",), f'write "{name.strip().lower()}": the server trims and lower-cases '
                          "a pipeline's name on create")
    description = entry.get("description", "")
    if not isinstance(description, str):
        b.fail(("description",), "must be text")
        description = ""
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        b.fail(("enabled",), "must be true or false")
        enabled = True
    nodes, edges = _graph(entry, b)
    if not b.problems:
        _check_graph(nodes, edges, b)
    if b.problems:
        raise _Problems(b.problems)
    sources = {src for src, _dst, _i in edges}
    leaves = {n["id"] for n in nodes} - sources
    return {
        "name": name,
        "description": description,
        "enabled": enabled,
        "nodes": [{"id": n["id"], "data": n["data"], "io_type": _io_type(n, leaves)}
                  for n in nodes],
        "edges": [{"id": f"e{s}-{t}", "source": s, "target": t} for s, t, _i in edges],
    }


def _parse(rel: str, data: Any, context: dict[str, Any]) -> list[Parsed | SourceProblem]:
    if data is None:
        return []
    if not isinstance(data, Mapping) or set(data) - {"pipelines"}:
        return [SourceProblem(1, "", "expected pipelines: [ ... ] (README \"Pipelines\")")]
    entries = data.get("pipelines") or []
    if not isinstance(entries, list):
        return [SourceProblem(1, "pipelines", "expected a list of pipelines", path=("pipelines",))]
    out: list[Parsed | SourceProblem] = []
    for i, entry in enumerate(entries):
        base: tuple[str | int, ...] = ("pipelines", i)
        if not isinstance(entry, Mapping):
            out.append(SourceProblem(1, _field(base), "expected a mapping", path=base))
            continue
        try:
            body = pipeline_body(entry, base, context)
        except _Problems as exc:
            out.extend(exc.problems)
            continue
        out.append(Parsed((body["name"],), body, 1, path=base))
    return out


# ---------------------------------------------------------------------------------------------
# payload, marker, references, export


def _layout(nodes: list[dict[str, Any]]) -> None:
    """Positions the UI can draw: one column, top to bottom (kept from the live pipeline for
    nodes it already has)."""
    for i, node in enumerate(nodes):
        node.setdefault("position", {"x": 100.0, "y": 50.0 + 120.0 * i})


def _payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    out = _without(desired.body, ("pipeline_id", "version", "org", "source", "kind"))
    out["name"] = desired.key[0]
    out.setdefault("enabled", True)
    out["description"] = _with_description_marker(out.get("description", ""))
    out["nodes"] = [copy.deepcopy(n) for n in out.get("nodes", [])]
    if live is not None:
        out["pipeline_id"] = str(live.body.get("pipeline_id", live.server_id or ""))
        out["version"] = live.body.get("version", 0)
        positions = {str(n.get("id")): n.get("position")
                     for n in live.body.get("nodes") or [] if isinstance(n, dict)}
        for node in out["nodes"]:
            if positions.get(str(node.get("id"))):
                node["position"] = positions[str(node.get("id"))]
    _layout(out["nodes"])
    return out


def _references(key: tuple[str, ...], body: dict[str, Any]) -> list[Ref]:
    out: list[Ref] = []
    for node in body.get("nodes") or []:
        data = node.get("data") if isinstance(node, dict) else None
        if isinstance(data, dict) and data.get("node_type") == "function" and data.get("name"):
            ref: Ref = ("function", (str(data["name"]),))
            if ref not in out:
                out.append(ref)
    return out


def _export(body: dict[str, Any]) -> list[tuple[str, str]]:
    """``pipelines/<name>.yaml`` in the nodes + edges form (any pipeline the server holds)."""
    import json  # noqa: PLC0415 — only export needs it

    name = str(body.get("name", ""))
    if not name or name != name.strip().lower() or "/" in name or name.startswith("."):
        raise ValueError("its name cannot be a file name o2kit reads back; rename it in the UI")
    nodes = [n for n in body.get("nodes") or [] if isinstance(n, dict)]
    first = nodes[0] if nodes else {}
    src = first.get("data") or {}
    if src.get("node_type") != "stream":
        raise ValueError("a scheduled pipeline (its source is a query); o2kit manages realtime "
                         "pipelines only")
    ids = {str(first.get("id")): SOURCE_ID}
    spec_nodes: dict[str, Any] = {}
    for node in nodes[1:]:
        node_id = str(node.get("id"))
        ids[node_id] = node_id
        data = node.get("data") or {}
        kind = data.get("node_type")
        if kind == "function":
            step: dict[str, Any] = {"function": data.get("name", "")}
            if data.get("after_flatten"):
                step["after_flatten"] = True
        elif kind == "condition":
            step = {"condition": data.get("conditions")}
        elif kind == "stream":
            step = {"stream": data.get("stream_name", ""), "type": data.get("stream_type",
                                                                          "logs"), "new": True}
        else:
            raise ValueError(f"a {kind} node, which o2kit does not manage")
        spec_nodes[node_id] = step
    entry: dict[str, Any] = {"name": name}
    description = _strip_description_marker(body.get("description", ""))
    if description:
        entry["description"] = description
    if body.get("enabled") is False:
        entry["enabled"] = False
    entry["source"] = {"stream": src.get("stream_name", ""), "type": src.get("stream_type",
                                                                              "logs")}
    entry["nodes"] = spec_nodes
    entry["edges"] = [[ids.get(str(e.get("source")), str(e.get("source"))),
                       ids.get(str(e.get("target")), str(e.get("target")))]
                      for e in body.get("edges") or [] if isinstance(e, dict)]
    # JSON is YAML: one line per value keeps the file readable and free of YAML surprises.
    text = "# Exported by o2kit export; plan after export shows no changes.\npipelines:\n"
    text += "  - " + json.dumps(entry, ensure_ascii=False, indent=2).replace("\n", "\n    ")
    return [(f"{DIRECTORY}/{name}.yaml", text + "\n")]


def _node_defaults(data: Any) -> Any:
    """``FunctionParams`` defaults (components.rs): ``after_flatten`` false, ``num_args`` 0;
    ``StreamParams``: ``stream_type`` logs."""
    if isinstance(data, dict):
        if data.get("node_type") == "function":
            data.setdefault("after_flatten", False)
            data.setdefault("num_args", 0)
            data.setdefault("name", "")
        elif data.get("node_type") == "stream":
            data.setdefault("stream_type", "logs")
    return data


def _sorted_graph(body: Any) -> Any:
    """Nodes by id, edges by (source, target): their order means nothing to the server except
    the first node (the source), which ``io_type`` "input" marks."""
    if isinstance(body, dict):
        for key, sort_key in (("nodes", lambda n: (n.get("io_type") != "input",
                                                   str(n.get("id")))),
                              ("edges", lambda e: (str(e.get("source")), str(e.get("target"))))):
            items = body.get(key)
            if isinstance(items, list) and all(isinstance(i, dict) for i in items):
                body[key] = sorted(items, key=sort_key)
    return body


SPEC = KindSpec(
    kind="pipeline",
    order=75,  # after functions (a pipeline needs its functions; deleted before them)
    key_fields=("name",),
    server_owned=PIPELINE_SERVER_OWNED,
    defaults=(
        Default("enabled", True, f"{_MODEL} default_status"),
        Default("description", "", _MODEL),
        Default("nodes[].is_disabled", False, _COMPONENTS),
    ),
    rewrites=(
        Rewrite("name", _trim, "name trimmed (and lower-cased on create)",
                f"{_HANDLER} save_pipeline"),
        Rewrite("nodes[].data", _node_defaults, "FunctionParams/StreamParams defaults",
                _COMPONENTS),
        Rewrite("", _sorted_graph, "order of nodes after the source, and of edges, is free",
                _MODEL, after_defaults=True),
    ),
    order_insensitive=(),
    secret_paths=(),
    marker=f"description line {MARKER_TEXT!r}",
    _is_managed=lambda b: MARKER_TEXT in str(b.get("description") or ""),
    _strip_marker=lambda b: _transform_at(b, "description", _strip_description_marker),
    _payload=_payload,
    _marker_of=_description_marker,
    _stamp=_stamp_description,
    _references=_references,
    api=RestApi("pipelines", id_field="pipeline_id", items_key="list",
                update_on_collection=True, create_id_key="id",
                org_paths=("nodes[].data.org_id",)),
    files=SourceFiles(DIRECTORY, SUFFIXES, _parse),
    _live_key=lambda body: (str(body.get("name", "")),),
    _export=_export,
)
