"""VRL functions (``/api/{org}/functions``), from the OpenObserve source (commit fbab9b80):

- routes ``src/api/http/src/handler/http/router/mod.rs``; handlers
  ``src/api/pipelines/src/request/functions/mod.rs`` (trim name and source); logic
  ``src/core/src/functions.rs``; model ``Transform`` in ``src/config/src/meta/function.rs``;
- create: 400 ``Function name cannot be empty`` / ``Function body cannot be empty`` /
  ``Function already exist`` / the compiler's text / ``Invalid transform type. Use 0 for VRL or 1
  for JS.``; appends ``" \\n ."`` to a VRL source not ending in ``.``; ``numArgs`` counted from
  ``params``; answers ``{"code":200,"message":"Function saved successfully"}``;
- update ``PUT /functions/{name}``: 404 ``Function not found``; a body equal to the stored one
  (name, function, params) is answered with the function itself; ``"transType": null`` makes the
  handler panic (``trans_type.unwrap()``): no answer here either (500, empty); stores under the
  *body* name;
- ``GET /functions/{name}`` lists the pipelines that use it (``{"list":[{id,name}]}``);
- delete: 404, 409 ``Warning: Function '<name>' has <N> pipeline dependencies. Please remove
  these pipelines first: [{"id":…,"name":…}]``; ``{"code":200,"message":"Function deleted"}``;
- ``POST /functions/test`` (``test_run_vrl_function``): snake_case ``{function, events,
  trans_type}``; results ``{"message", "event"}`` per event, the output flattened
  (``config::utils::flatten::flatten``), a runtime error keeps the input event.

VRL is compiled and run with the ``vrl-python`` binding (module ``vrl_python``) when it is
installed — the fake imports nothing of o2kit; without it every source compiles and a function
run leaves the event unchanged.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from .firehose import flatten
from .http import HttpError, Request, Response, empty, error, json_response, message, ok, read_json
from .state import Store

KIND = "function"
SUFFIX = " \n ."
_ENV_BAN = "get_env_var"


@lru_cache(maxsize=1)
def _runtime() -> Any:
    try:
        from vrl_python import VRLRuntime  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return VRLRuntime(timezone="UTC")


def vrl_available() -> bool:
    return _runtime() is not None


def compile_problem(source: str) -> str | None:
    """The server's refusal of a VRL source, or None (``compile_vrl_function``,
    src/transform/src/lib.rs: the ``get_env_var`` ban, then the compiler)."""
    if _ENV_BAN in source:
        return "get_env_var is not supported"
    runtime = _runtime()
    if runtime is None:
        return None
    try:
        runtime.compile(source)
    except ValueError as exc:
        return str(exc)
    return None


def run(source: str, event: Any) -> tuple[Any, str | None]:
    """``apply_vrl_fn``: the program's result, or the original event and the error."""
    runtime = _runtime()
    if runtime is None:
        return event, None
    try:
        result = runtime.execute(source, event)
    except (RuntimeError, ValueError) as exc:
        return event, f"vrl runtime error: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    return result.runtime_result, None


def functions(store: Store, org: str) -> dict[str, dict[str, Any]]:
    return {name: body for (o, name), body in store.objects.get(KIND, {}).items() if o == org}


def _body(req: Request) -> dict[str, Any]:
    data = read_json(req)
    if not isinstance(data, dict) or not isinstance(data.get("function"), str):
        raise HttpError(Response(422, b"Failed to deserialize the JSON body into the target "
                                      b"type: missing field `function`",
                                 {"content-type": "text/plain; charset=utf-8"}))
    trans = data.get("transType", 0)
    params = data.get("params", "")
    return {"function": data["function"].strip(), "name": str(data.get("name", "")).strip(),
            "params": params if isinstance(params, str) else "", "transType": trans}


def _prepared(body: dict[str, Any]) -> dict[str, Any]:
    """Suffix, compile, numArgs (save_function / update_function); raises 400."""
    trans = body["transType"] if body["transType"] is not None else 0
    if trans not in (0, 1):
        raise error(400, "Invalid transform type. Use 0 for VRL or 1 for JS.")
    source = body["function"]
    if trans == 0 and not source.endswith("."):
        source = f"{source}{SUFFIX}"
    if trans == 0:
        problem = compile_problem(source)
        if problem:
            raise error(400, problem)
    params = [p.strip() for p in body["params"].split(",") if p.strip()]
    return {"function": source, "name": body["name"], "params": body["params"],
            "numArgs": len(params), "transType": trans}


def _check_names(body: dict[str, Any]) -> None:
    if not body["name"]:
        raise error(400, "Function name cannot be empty")
    if not body["function"]:
        raise error(400, "Function body cannot be empty")


def list_functions(store: Store, req: Request) -> Response:
    items = sorted(functions(store, req.params["org"]).values(), key=lambda f: f["name"])
    return json_response({"list": items})


def create_function(store: Store, req: Request) -> Response:
    org, body = req.params["org"], _body(req)
    _check_names(body)
    if body["name"] in functions(store, org):
        raise error(400, "Function already exist")
    store.objects.setdefault(KIND, {})[(org, body["name"])] = _prepared(body)
    return ok("Function saved successfully")


def update_function(store: Store, req: Request) -> Response:
    org, name = req.params["org"], req.params["name"].strip()
    body = _body(req)
    _check_names(body)
    existing = functions(store, org).get(name)
    if existing is None:
        raise error(404, "Function not found")
    if body["transType"] is None:
        return empty(500)  # trans_type.unwrap() panics the handler
    same = all(existing[k] == body[k] for k in ("name", "function", "params"))
    if same:
        return json_response(existing)
    store.objects.setdefault(KIND, {})[(org, body["name"])] = _prepared(body)
    return ok("Function saved successfully")


def dependencies(store: Store, org: str, name: str) -> list[dict[str, str]]:
    """Pipelines of ``org`` with a function node naming ``name`` (``get_dependencies``)."""
    out = []
    for (o, _pid), p in sorted(store.objects.get("pipeline", {}).items()):
        if o != org:
            continue
        if any((n.get("data") or {}).get("node_type") == "function"
               and (n.get("data") or {}).get("name") == name for n in p.get("nodes", [])):
            out.append({"id": p["pipeline_id"], "name": p["name"]})
    return out


def get_dependencies(store: Store, req: Request) -> Response:
    return json_response({"list": dependencies(store, req.params["org"], req.params["name"])})


def delete_function(store: Store, req: Request) -> Response:
    org, name = req.params["org"], req.params["name"]
    if name not in functions(store, org):
        return message(404, "Function not found")
    used = dependencies(store, org, name)
    if used:
        text = json.dumps(used, separators=(",", ":"))
        return message(409, f"Warning: Function '{name}' has {len(used)} pipeline dependencies. "
                            f"Please remove these pipelines first: {text}")
    del store.objects[KIND][(org, name)]
    return ok("Function deleted")


def test_function(store: Store, req: Request) -> Response:
    data = read_json(req)
    if not isinstance(data, dict) or not isinstance(data.get("function"), str) \
            or not isinstance(data.get("events"), list):
        raise HttpError(Response(422, b"Failed to deserialize the JSON body into the target "
                                      b"type: missing field",
                                 {"content-type": "text/plain; charset=utf-8"}))
    source = data["function"]
    if data.get("trans_type") not in (0, None):
        raise error(400, "JavaScript functions are not modelled by the fake")
    if not source.endswith("."):
        source = f"{source}{SUFFIX}"
    problem = compile_problem(source)
    if problem:
        raise error(400, problem)
    results = []
    for event in data["events"]:
        output, failure = run(source, event)
        if failure:
            results.append({"message": f'{req.params["org"]}/[""] {failure}', "event": event})
        elif isinstance(output, dict):
            results.append({"message": "", "event": flatten(output, 0)})
        else:
            results.append({"message": "", "event": ""})
    return json_response({"results": results})


ROUTES = [
    ("{org}/functions", {"GET": list_functions, "POST": create_function}),
    ("{org}/functions/{name}", {"GET": get_dependencies, "PUT": update_function,
                                "DELETE": delete_function}),
    ("{org}/functions/test", {"POST": test_function}),
]
