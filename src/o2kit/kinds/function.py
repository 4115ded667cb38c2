"""The ``function`` kind (VRL functions, ``/api/{org}/functions``): what o2kit knows about it,
as tables (see ``o2kit.kinds``).

Files: ``functions/<name>.vrl`` (or ``.vrl.j2``, rendered with the project's Jinja context): the
file *is* the VRL source and its name is the function's name, so editors highlight it and diffs
read well. Key ``(name,)``.

From the OpenObserve source (commit fbab9b80; docs/research/openobserve-ingest-slo.md §1):

- model ``Transform`` (``src/config/src/meta/function.rs``, camelCase): ``function``, ``name``,
  ``params``, ``numArgs``, ``transType`` (0 VRL, 1 JS), legacy ``streams``;
- ``save_function`` / ``update_function`` (``src/core/src/functions.rs``): the handler trims the
  source and the name (``src/api/pipelines/src/request/functions/mod.rs``), appends ``" \\n ."``
  to a VRL source that does not end with ``.``, recomputes ``numArgs`` from ``params``;
- no single GET (``GET /functions/{name}`` lists the pipelines that use it), so a function is
  re-read from the list; ``PUT /functions/{name}`` writes under the *body* name (always equal
  here) and panics on ``"transType": null`` (always sent as 0);
- no description or any field o2kit could mark: ownership is recorded in the org's key-value
  store (``_can_mark`` false; ``sync.remote`` does it for every such kind);
- ``DELETE`` is refused (409) while a pipeline uses the function, naming those pipelines; apply
  deletes pipelines first (pipelines come later in the apply order).
"""

from __future__ import annotations

import re
from typing import Any

from o2kit.kinds.spec import (
    Default,
    KindSpec,
    Parsed,
    RestApi,
    Rewrite,
    SourceFiles,
    SourceProblem,
    _trim,
    _without,
)
from o2kit.model import Resource

_FUNCTION_MODEL = "src/config/src/meta/function.rs"
_FUNCTION_CORE = "src/core/src/functions.rs"
DIRECTORY = "functions"
SUFFIXES = (".vrl", ".vrl.j2")
#: The server appends this to a VRL source that does not end with "." (``save_function``).
SERVER_SUFFIX = " \n ."
#: The UI's name rule (web/src/components/functions/AddFunction.schema.ts); the server only
#: requires a non-empty name, but any other name breaks URLs or the UI.
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FUNCTION_SERVER_OWNED = ("numArgs", "streams")


def stored_source(text: Any) -> Any:
    """The VRL source as the user wrote it, from what the server stores: trimmed, without the
    ``" \\n ."`` the server appends (``save_function``). Idempotent."""
    if not isinstance(text, str):
        return text
    out = text.strip()
    tail = SERVER_SUFFIX.lstrip()  # the stored text is trimmed (here) before the check
    if out.endswith(tail):
        # "<source> \n ." → "<source>". A source whose own last line is " ." reads the same
        # either way: the server would append exactly that to the rest.
        return out[: -len(tail)].rstrip()
    return out


def function_name(rel: str) -> str:
    """The function a file declares: its name without the directory and suffix."""
    name = rel.rsplit("/", 1)[-1]
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _parse(rel: str, data: Any, context: dict[str, Any]) -> list[Parsed | SourceProblem]:
    name = function_name(rel)
    if not NAME_RE.fullmatch(name):
        return [SourceProblem(1, "name", f"function name {name!r} (the file name) must be a "
                                         "letter or _ followed by letters, digits or _, as the "
                                         "OpenObserve UI requires")]
    text = data if isinstance(data, str) else ""
    if not text.strip():
        return [SourceProblem(1, "function", "the function is empty (the server refuses an "
                                             "empty body)")]
    return [Parsed((name,), {"name": name, "function": text, "params": "row", "transType": 0})]


def _payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    out = _without(desired.body, FUNCTION_SERVER_OWNED)
    out["name"] = desired.key[0]  # PUT writes under the body name: always the path name
    out["function"] = str(out.get("function", "")).strip()
    out.setdefault("params", "row")
    out["transType"] = 0  # null panics PUT (update_function unwraps it)
    return out


def _export(body: dict[str, Any]) -> list[tuple[str, str]]:
    name = str(body.get("name", ""))
    if not NAME_RE.fullmatch(name):
        raise ValueError("its name is not a letter or _ followed by letters, digits or _, so it "
                         "cannot be a file name o2kit reads back; rename it in the UI")
    if body.get("transType") == 1:
        raise ValueError("a JavaScript function; o2kit manages VRL functions only")
    return [(f"{DIRECTORY}/{name}.vrl", f"{stored_source(body.get('function', ''))}\n")]


def _check(resource: Resource) -> list[tuple[tuple[str | int, ...], str]]:
    params = resource.body.get("params", "row")
    if not isinstance(params, str):
        return [(("params",), "must be a comma-separated list of names")]
    return []


SPEC = KindSpec(
    kind="function",
    # After the alert kinds (nothing of theirs uses a function by name) and before pipelines,
    # which need their functions first (and are deleted before them).
    order=70,
    key_fields=("name",),
    server_owned=FUNCTION_SERVER_OWNED,
    defaults=(
        Default("params", "", _FUNCTION_MODEL),
        Default("transType", 0, f"{_FUNCTION_MODEL} default_trans_type"),
    ),
    rewrites=(
        Rewrite("name", _trim, "name trimmed", "src/api/pipelines/src/request/functions/mod.rs"),
        Rewrite("function", stored_source, 'source trimmed, " \\n ." appended to VRL',
                f"{_FUNCTION_CORE} save_function"),
    ),
    order_insensitive=(),
    secret_paths=(),
    marker="none (the key-value store records the owner)",
    _is_managed=lambda b: False,
    _strip_marker=lambda b: None,
    _payload=_payload,
    _can_mark=lambda b: False,
    api=RestApi("functions", id_field="name", items_key="list", get_one=False),
    files=SourceFiles(DIRECTORY, SUFFIXES, _parse, yaml=False),
    _check=_check,
    _export=_export,
)
