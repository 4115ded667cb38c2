"""Shared machinery of the kinds: table rows, path walking, canonical values, ownership
markers. Pure: no I/O."""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from o2kit.model import Resource

MARKER_TEXT = "Managed by o2kit from git — changes made here will be overwritten."
"""Ownership marker line in a dashboard's or folder's description."""
MARKER_SEPARATOR = "\n\n"
ALERT_MARKER_TAG = "managed-by:o2kit"
DESTINATION_MARKER_KEY = "managed-by"
DESTINATION_MARKER_VALUE = "o2kit"

# Project identity (see "Ownership per project" in the module docstring). A token
# ``o2kit:<project>:<key digest>`` names the project and the object's own key; it is lower-case
# and made of letters, digits, ``-`` and ``:`` only, so it survives every place it is stored
# (alert tags are trimmed and lower-cased and must match ``[letter][alnum _-./:]*``,
# src/config/src/meta/alerts/tags.rs).
PROJECT_PATTERN = r"[a-z0-9][a-z0-9-]{1,40}"
TOKEN_PREFIX = "o2kit:"
_TOKEN_RE = re.compile(rf"o2kit:({PROJECT_PATTERN}):([0-9a-f]{{12}})")
_DESCRIPTION_MARKER_RE = re.compile(
    rf"(?:{re.escape(MARKER_SEPARATOR)})?{re.escape(MARKER_TEXT)}(?: \[{_TOKEN_RE.pattern}\])?"
)
# The KV key prefix under which ownership of templates and e-mail/SNS destinations (kinds with
# no field for a marker) is recorded: ``o2kit.<project>.<kind>.<hex of the key>``.
KV_PREFIX = "o2kit."

# System templates visible in every org (src/config/src/prebuilt_loader.rs
# ``is_prebuilt_template_name`` + config/prebuilt-destinations.json: ids and endpoint types;
# src/core/src/alerts/notifications/default_template.rs ``DEFAULT_CONTENT_TEMPLATE_NAME``).
SYSTEM_TEMPLATE_NAMES: frozenset[str] = frozenset(
    {
        f"prebuilt_{t}"
        for t in (
            "slack",
            "msteams",
            "teams",
            "pagerduty",
            "discord",
            "webhook",
            "opsgenie",
            "servicenow",
            "email",
        )
    }
    | {"o2_default_content"}
)
# Key parts that are also body fields (the others, folder type and folder name, are not).
BODY_KEY_FIELDS = frozenset({"name", "title"})
DEFAULT_FOLDER_ID = "default"  # src/config/src/meta/folder.rs DEFAULT_FOLDER


Ref = tuple[str, tuple[str, ...]]
"""A reference to another object: (kind, key)."""

ExportAll = Callable[[list[dict[str, Any]]], tuple[list[tuple[str, str]], list[str]]]
"""Live bodies of one kind → the files that export them together, and why some were left out."""


class _Drop:
    """Returned by a rewrite to remove the key."""

    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()


# ---------------------------------------------------------------------------------------------
# Paths in tables: ``a.b`` keys, ``[]`` any list element, ``*`` any object key.


@functools.cache
def _steps(pattern: str) -> tuple[str, ...]:
    if not pattern:
        return ()
    steps: list[str] = []
    for part in pattern.split("."):
        lists = 0
        while part.endswith("[]"):
            part, lists = part[:-2], lists + 1
        if part:
            steps.append(part)
        steps.extend(["[]"] * lists)
    return tuple(steps)


def _walk(obj: Any, steps: Sequence[str]) -> list[Any]:
    """Every value reached by following ``steps`` from ``obj`` (breadth first, no recursion)."""
    level = [obj]
    for step in steps:
        found: list[Any] = []
        if step == "[]":
            for value in level:
                if type(value) is list:
                    found.extend(value)
        elif step == "*":
            for value in level:
                if type(value) is dict:
                    found.extend(value.values())
        else:
            for value in level:
                if type(value) is dict and step in value:
                    found.append(value[step])
        if not found:
            return found
        level = found
    return level


def _transform_at(obj: Any, pattern: str, fn: Callable[[Any], Any]) -> Any:
    """Apply ``fn`` to every value at ``pattern`` (``fn`` may return DROP). Returns ``obj``."""
    steps = _steps(pattern)
    if not steps:
        return fn(obj)
    *head, last = steps
    for container in _walk(obj, head):
        if last == "[]":
            if isinstance(container, list):
                kept = [v for v in (fn(x) for x in container) if v is not DROP]
                container[:] = kept
        elif isinstance(container, dict):
            keys = list(container) if last == "*" else ([last] if last in container else [])
            for key in keys:
                value = fn(container[key])
                if value is DROP:
                    del container[key]
                else:
                    container[key] = value
    return obj


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def _fill_default(obj: Any, pattern: str, default: Any) -> None:
    *head, last = _steps(pattern)
    for container in _walk(obj, head):
        if isinstance(container, dict) and last not in container:
            container[last] = default if type(default) in _IMMUTABLE else copy.deepcopy(default)


def path_matches(tokens: Sequence[str | int], pattern: str) -> bool:
    """True when a concrete path (``diff.parse_path`` tokens) and a table pattern overlap: the
    path is the pattern's value, inside it, or an object that contains it."""
    steps = _steps(pattern)
    for token, step in zip(tokens, steps, strict=False):
        if step == "[]":
            if not isinstance(token, int):
                return False
        elif isinstance(token, int) or (step != "*" and step != token):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Generic value helpers


def canonical(value: Any) -> Any:
    """Drop ``null`` object members, make integral floats ints, recursively (a copy)."""
    if isinstance(value, dict):  # any dict subclass becomes a plain dict (``_walk`` needs it)
        return _canonical_dict(value)
    if isinstance(value, list | tuple):
        return _canonical_list(value)
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# ``canonical`` runs over every body plan compares (~1,000 values per dashboard): the helpers
# below keep strings, ints and booleans — nearly every leaf — without a call per value, and
# recurse only into containers. Same result as the plain recursive definition above
# (test_kinds checks it on generated values).
_KEPT = frozenset({str, int, bool})


def _canonical_dict(value: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        t = type(v)
        if t in _KEPT:
            pass
        elif v is None:
            continue
        elif t is dict:
            v = _canonical_dict(v)
        elif t is list:
            v = _canonical_list(v)
        else:
            v = canonical(v)
        out[k if type(k) is str else str(k)] = v
    return out


def _canonical_list(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    out = []
    for v in value:
        t = type(v)
        if t in _KEPT:
            out.append(v)
        elif t is dict:
            out.append(_canonical_dict(v))
        elif t is list:
            out.append(_canonical_list(v))
        else:
            out.append(canonical(v))
    return out


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sorted_list(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(value, key=canonical_json)
    return value


def _trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _drop_if(*empties: Any) -> Callable[[Any], Any]:
    def fn(value: Any) -> Any:
        return DROP if any(value == e and type(value) is type(e) for e in empties) else value

    return fn


def _strip_description_marker(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return _DESCRIPTION_MARKER_RE.sub("", value)


# ---------------------------------------------------------------------------------------------
# Project identity


def key_digest(kind: str, key: Sequence[str]) -> str:
    """12 hex digits naming one object's o2kit key (kind + key parts). A digest, not the key
    itself: titles may hold any character and any length, tags are lower-cased."""
    raw = "\x1f".join((kind, *key)).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:12]


def identity_token(project: str, kind: str, key: Sequence[str]) -> str:
    """The marker o2kit writes: ``o2kit:<project>:<key digest>``."""
    return f"{TOKEN_PREFIX}{project}:{key_digest(kind, key)}"


def kv_key(project: str, kind: str, key: Sequence[str]) -> str:
    """The key-value store key recording that ``project`` owns this template or e-mail/SNS
    destination: ``o2kit.<project>.<kind>.<hex of the key>`` (only ``[a-z0-9.-]``, so no path
    or trimming issue, src/api/management/src/request/kv/mod.rs)."""
    return f"{KV_PREFIX}{project}.{kind}.{'/'.join(key).encode('utf-8').hex()}"


def parse_kv_key(text: str) -> tuple[str, str, tuple[str, ...]] | None:
    """``(project, kind, key)`` of a ``kv_key``, or None for any other key."""
    parts = text.split(".")
    if len(parts) != 4 or parts[0] + "." != KV_PREFIX:
        return None
    _prefix, project, kind, hexkey = parts
    if not re.fullmatch(PROJECT_PATTERN, project):
        return None
    try:
        name = bytes.fromhex(hexkey).decode("utf-8")
    except ValueError:
        return None
    return project, kind, (name,)


@dataclass(frozen=True)
class Marker:
    """What a live object's marker says: ``token`` (project + key digest), ``legacy`` (the plain
    "managed by o2kit" of o2kit before project identity) or ``none``."""

    state: str
    project: str | None = None
    digest: str | None = None


NO_MARKER = Marker("none")
LEGACY_MARKER = Marker("legacy")


def _token_marker(text: Any) -> Marker | None:
    if isinstance(text, str):
        m = _TOKEN_RE.fullmatch(text.strip().lower())
        if m:
            return Marker("token", m.group(1), m.group(2))
    return None


def _description_marker(body: dict[str, Any]) -> Marker:
    text = str(body.get("description") or "")
    for m in _DESCRIPTION_MARKER_RE.finditer(text):
        if m.group(1):
            return Marker("token", m.group(1), m.group(2))
    return LEGACY_MARKER if MARKER_TEXT in text else NO_MARKER


def _with_description_marker(description: Any, token: str | None = None) -> str:
    text = _strip_description_marker(description) if isinstance(description, str) else ""
    line = f"{MARKER_TEXT} [{token}]" if token else MARKER_TEXT
    return f"{text}{MARKER_SEPARATOR}{line}" if text.strip() else line


def _stamp_description(body: dict[str, Any], token: str) -> None:
    body["description"] = _with_description_marker(body.get("description", ""), token)


# ---------------------------------------------------------------------------------------------
# Table rows


@dataclass(frozen=True)
class Default:
    """An absent key reads back as ``value`` (filled only where the parent object exists)."""

    path: str
    value: Any
    source: str


@dataclass(frozen=True)
class Rewrite:
    """What the server does to the value(s) at ``path`` on save. ``fn`` may return DROP."""

    path: str
    fn: Callable[[Any], Any]
    why: str
    source: str
    after_defaults: bool = False


@dataclass(frozen=True)
class RestApi:
    """How a kind with a plain REST collection is reached — data, so that the client, the live
    state and apply need no code per kind (``sync.client.OpenObserveClient.list_objects`` …).

    ``collection`` is the path under ``/api/{org}/`` (``/api/v2/{org}/`` with ``version`` 2), e.g.
    ``functions`` or ``llm/models``. ``id_field`` names the body field whose value addresses one
    object (``{collection}/{id}``); ``items_key`` the key of the list in the list response (None:
    a bare JSON array). ``get_one`` False: the server has no ``GET {collection}/{id}`` and o2kit
    re-reads an object by listing. ``update_on_collection``: updates are ``PUT {collection}``
    with the id in the body, not ``PUT {collection}/{id}``. ``list_query``: fixed query
    parameters of the list request. ``nested_key``: a listed object may carry more objects under
    this key (OpenObserve's ``llm/models`` list nests shadowed definitions in ``children``); they
    are listed too, flattened. ``list_only``: only listed objects whose field has this value are
    the kind's (``source`` == ``org``: the org's own model prices, not the built-in ones).
    ``create_id_key``: the key of the create answer that holds the new object's id when it is
    not ``id_field`` (pipelines answer ``{"id": …}``).
    ``org_paths``: body paths (``nodes[].data.org_id``) that hold the org; the client writes
    its org there (where the key is present) before sending, since the pure payload does not
    know which org it is sent to."""

    collection: str
    id_field: str = "name"
    items_key: str | None = None
    get_one: bool = True
    update_on_collection: bool = False
    version: int = 1
    list_query: tuple[tuple[str, str], ...] = ()
    nested_key: str | None = None
    list_only: tuple[tuple[str, str], ...] = ()
    create_id_key: str | None = None
    org_paths: tuple[str, ...] = ()

    def listed(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The kind's objects in a list answer: nested ones flattened (without their nest),
        then filtered by ``list_only``. Pure."""
        out: list[dict[str, Any]] = []
        stack = list(reversed(items))
        while stack:
            item = stack.pop()
            if self.nested_key is not None and isinstance(item.get(self.nested_key), list):
                nested = [i for i in item[self.nested_key] if isinstance(i, dict)]
                item = {k: v for k, v in item.items() if k != self.nested_key}
                stack.extend(reversed(nested))
            if all(str(item.get(k)) == v for k, v in self.list_only):
                out.append(item)
        return out

    def with_org(self, body: dict[str, Any], org: str) -> dict[str, Any]:
        """``body`` (a copy) with ``org`` at every ``org_paths`` key it has."""
        if not self.org_paths:
            return body
        out = copy.deepcopy(body)
        for path in self.org_paths:
            _transform_at(out, path, lambda _v: org)
        return out


@dataclass(frozen=True)
class Parsed:
    """One desired object read from a project file by ``SourceFiles.parse``. ``path``: where it
    is in a YAML file (``("pipelines", 2)``); the loader then takes its line from there."""

    key: tuple[str, ...]
    body: dict[str, Any]
    line: int = 1
    # Another kind the same file declares (e.g. an SLO's burn-rate ``alert``s); None: the
    # reading kind's own.
    kind: str | None = None
    path: tuple[str | int, ...] | None = None


@dataclass(frozen=True)
class SourceProblem:
    """Why a project file of a kind could not be read: ``field`` like ``nodes[2].function``."""

    line: int
    field: str
    message: str
    path: tuple[str | int, ...] | None = None  # in a YAML file: the loader finds the line


@dataclass(frozen=True)
class SourceFiles:
    """Where a kind's desired objects live in the project: ``directory`` (relative to the project
    root) and the file ``suffixes`` read there, in name order. ``parse(rel_path, data, context)``
    turns one file's parsed content (YAML data, or the text of a non-YAML file such as ``.vrl``)
    into objects or problems; it is pure. ``yaml`` False: ``data`` is the file's text. A suffix
    ending in ``.j2`` is rendered with the project's Jinja context first; ``context`` is that
    context (config, streams, ingest …) for the parse step too, plus ``project`` (o2kit.yaml's
    identity or None), ``org_name`` (the org, a plain string), ``folders``
    (``{"dashboards": …, "alerts": …}``) and, for YAML files, ``line_of`` (a path of keys → its
    line in the file)."""

    directory: str
    suffixes: tuple[str, ...]
    parse: Callable[[str, Any, dict[str, Any]], list[Parsed | SourceProblem]]
    yaml: bool = True


@dataclass(frozen=True)
class KindSpec:
    kind: str
    order: int
    key_fields: tuple[str, ...]
    server_owned: tuple[str, ...]
    defaults: tuple[Default, ...]
    rewrites: tuple[Rewrite, ...]
    order_insensitive: tuple[str, ...]
    secret_paths: tuple[str, ...]
    marker: str
    _is_managed: Callable[[dict[str, Any]], bool]
    _strip_marker: Callable[[dict[str, Any]], None]
    _payload: Callable[[Resource, Resource | None], dict[str, Any]]
    _can_mark: Callable[[dict[str, Any]], bool] = field(default=lambda body: True)
    _references: Callable[[tuple[str, ...], dict[str, Any]], list[Ref]] = field(
        default=lambda key, body: []
    )
    # Brings an older schema of the object to the one o2kit writes, before anything else (a v5
    # dashboard read from the server is compared as the v8 the UI would make of it). Must not
    # modify its argument.
    _prepare: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda body: body)
    # Reads the marker of a live body (kinds that can carry one).
    _marker_of: Callable[[dict[str, Any]], Marker] = field(default=lambda body: NO_MARKER)
    # Writes the project identity token into a payload that already carries the plain marker.
    _stamp: Callable[[dict[str, Any], str], None] = field(default=lambda body, token: None)
    # The generic REST plumbing (see ``RestApi``); None for the built-in kinds that need code of
    # their own in the client (folders, dashboards, alerts, templates, destinations).
    api: RestApi | None = None
    # Where desired objects are read from; None for kinds the loader reads itself.
    files: SourceFiles | None = None
    # The key of a live object from its body (default: ``(body[api.id_field],)``).
    _live_key: Callable[[dict[str, Any]], tuple[str, ...]] | None = None
    # Rules beyond the JSON Schema: ``(path, message)`` per problem of a desired body. Pure.
    _check: Callable[[Resource], list[tuple[tuple[str | int, ...], str]]] = field(
        default=lambda resource: []
    )
    # Replaces server ids this body names other objects by (``("kind", ("@id", id))``
    # references), old → new; returns a new body. Default: the body unchanged.
    _rebind: Callable[[dict[str, Any], Mapping[str, str]], dict[str, Any]] = field(
        default=lambda body, ids: body
    )
    # What ``export`` writes for a live body: ``(relative path, text)`` files; None: not exported.
    _export: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None
    # Kinds whose live objects export together into one file (model prices → one prices.yaml
    # table): ``(files, reasons)`` for all selected bodies, a reason per object left out.
    _export_all: ExportAll | None = None
    # Top-level members that are most of a body's size and that nothing but the comparison reads
    # (not the key, marker, references or system check): a live object found in sync keeps its
    # digest instead of them (``sync.plan.settle_live``), so plan does not hold every body whole.
    bulky: tuple[str, ...] = ()

    def normalize(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body as OpenObserve would return it, minus server-owned fields and the marker."""
        out = canonical(self._prepare(body))
        if not isinstance(out, dict):
            raise TypeError(f"{self.kind} body must be a JSON object, not {type(body).__name__}")
        for path in self.server_owned:
            _transform_at(out, path, lambda _v: DROP)
        self._strip_marker(out)
        for rw in self.rewrites:
            if not rw.after_defaults:
                _transform_at(out, rw.path, rw.fn)
        for d in self.defaults:
            _fill_default(out, d.path, d.value)
        for rw in self.rewrites:
            if rw.after_defaults:
                _transform_at(out, rw.path, rw.fn)
        for path in self.order_insensitive:
            _transform_at(out, path, _sorted_list)
        # Rewrites and defaults produce canonical values (no nulls, no integral floats), so the
        # result needs no second ``canonical`` pass; test_kinds checks idempotence.
        return out

    def complete(self, desired: Resource) -> dict[str, Any]:
        """The desired body with the parts of its key that live in the body (``name``, dashboard
        ``title``) filled in when the file left them out. A new dict; its members are the
        desired body's (``Resource.transient_body``): read them, do not mutate them."""
        body = dict(desired.transient_body())
        for field_name, value in zip(self.key_fields, desired.key, strict=False):
            if field_name in BODY_KEY_FIELDS and not body.get(field_name):
                body[field_name] = value
        return body

    def is_managed(self, live_body: dict[str, Any]) -> bool:
        """True when the live object carries o2kit's ownership marker."""
        return self._can_mark(live_body) and self._is_managed(live_body)

    def can_mark(self, body: dict[str, Any]) -> bool:
        """False for objects with no field that can carry a marker (see module docstring)."""
        return self._can_mark(body)

    def payload(
        self, desired: Resource, live: Resource | None, project: str | None = None
    ) -> dict[str, Any]:
        """The JSON to POST (``live`` None) or PUT: desired body + marker + server identity.
        With ``project`` the marker names the project and the object's key (``identity_token``);
        without, it is the plain legacy marker."""
        out = self._payload(dataclasses.replace(desired, body=self.complete(desired)), live)
        if project and self._can_mark(out):
            self._stamp(out, identity_token(project, self.kind, desired.key))
        return out

    def marker_of(self, live_body: dict[str, Any]) -> Marker:
        """The ownership marker a live object carries (``none`` for kinds that cannot carry one)."""
        if not self._can_mark(live_body):
            return NO_MARKER
        return self._marker_of(live_body)

    def references(self, key: tuple[str, ...], body: dict[str, Any]) -> list[Ref]:
        """Objects this one uses, as (kind, key): folder, destinations, template."""
        return self._references(key, body)

    def live_key(self, body: dict[str, Any]) -> tuple[str, ...]:
        """The o2kit key of a live object of a REST kind."""
        if self._live_key is not None:
            return self._live_key(body)
        assert self.api is not None, self.kind
        return (str(body.get(self.api.id_field, "")),)

    def server_id(self, body: dict[str, Any]) -> str:
        """The value that addresses the object in the URL of a REST kind."""
        assert self.api is not None, self.kind
        return str(body.get(self.api.id_field, ""))

    def rebind(self, body: dict[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
        """``body`` with the server ids it names others by replaced (old → new)."""
        return self._rebind(body, ids)

    def check(self, resource: Resource) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems of a desired object beyond its schema (kinds that define rules)."""
        return self._check(resource)

    def export_files(self, body: dict[str, Any]) -> list[tuple[str, str]] | None:
        """Project files that declare this live object, or None when the kind is not exported."""
        return None if self._export is None else self._export(body)

    def is_secret(self, tokens: Sequence[str | int]) -> bool:
        return any(path_matches(tokens, p) for p in self.secret_paths)


def _copy_json(value: Any) -> Any:
    """A deep copy of plain JSON data (dicts, lists, scalars); anything else through
    ``copy.deepcopy``. ~4x faster than ``deepcopy`` alone on a dashboard, which apply copies
    into every payload."""
    t = type(value)
    if t is dict:
        return {k: v if type(v) in _IMMUTABLE else _copy_json(v) for k, v in value.items()}
    if t is list:
        return [v if type(v) in _IMMUTABLE else _copy_json(v) for v in value]
    if t in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


def _without(body: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = _copy_json(body)
    for path in fields:
        _transform_at(out, path, lambda _v: DROP)
    return out


