"""What o2kit knows about each OpenObserve resource kind — in one place per kind, as tables.

For every kind in ``model.KINDS`` there is one ``KindSpec`` in ``SPECS``:

- its o2kit key (never a server id), its apply ``order``;
- ``server_owned``: fields the server fills or keeps itself, ignored when comparing;
- ``rewrites``: what the server does to a value on save (trim, lower-case, ``0`` → ``1``…), one row
  per quirk, each citing the OpenObserve file it was read from (commit fbab9b80);
- ``defaults``: what an absent key reads back as, one row per key;
- ``order_insensitive``: lists whose order means nothing (sorted before comparing);
- ``secret_paths``: values never shown in a plan (``*`` = any key);
- its ownership marker, and the ``payload`` it sends.

``normalize(body)`` is applied to BOTH the desired body and the live body before diffing, so that
desired-as-written equals what the server will return. On top of the tables it always: drops keys
whose value is ``null`` (every OpenObserve field involved is a serde ``Option``, for which absent
and ``null`` are the same ``None``), turns integral floats into ints (dashboard ``f64`` fields come
back as ``2.0`` for ``2``), and removes o2kit's ownership marker. It is idempotent.
A new server field or quirk is one row in a table below.

Ownership markers (o2kit never updates or deletes an object that does not carry one, unless the
user adopts it with ``--adopt``):

- dashboards and folders: a line in ``description`` (``MARKER_TEXT``), readable in the UI. The
  server stores the description verbatim (``src/infra/src/table/dashboards.rs`` ``put``,
  ``src/db/src/folders.rs``);
- alerts: the tag ``managed-by:o2kit`` (tags are lower-cased and kept,
  ``src/config/src/meta/alerts/tags.rs``); list items carry tags, so managed alerts are found
  without reading every alert (``is_managed_alert_item``);
- HTTP destinations: ``metadata["managed-by"] = "o2kit"``. ``metadata`` round-trips for the http
  type only (``src/api/management/src/models/destinations.rs``: the email and sns variants keep
  no metadata). Metadata keys become template variables (``{managed-by}``,
  ``src/core/src/alerts/notifications/custom.rs``), which no template uses by accident;
- templates, e-mail and SNS destinations have no field that survives a round trip and is not
  part of the notification itself (a template's ``body`` *is* the message). They are therefore
  **managed by reference**: such an object counts as o2kit's when at least one o2kit-managed
  live object uses it (a destination's ``template``, an alert's ``template`` or
  ``destinations``) and no unmanaged live object does (``plan.managed_set``). Limits: one that
  nothing managed uses yet (e.g. created by o2kit but not referenced) is seen as unmanaged and
  needs ``--adopt`` to be updated, and is never pruned; alerts fetched only as list items (without
  their destinations) cannot veto. The server itself refuses to delete a template or destination
  that is still in use (409/400), which bounds the damage of a wrong guess to none.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from o2kit import upgrade
from o2kit.model import KINDS, Resource

APPLY_ORDER: tuple[str, ...] = KINDS
"""Kinds in the order apply creates/updates them; deletes run in reverse."""

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


def _fill_default(obj: Any, pattern: str, default: Any) -> None:
    *head, last = _steps(pattern)
    for container in _walk(obj, head):
        if isinstance(container, dict) and last not in container:
            container[last] = copy.deepcopy(default)


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
    if isinstance(value, dict):  # any Mapping subclass becomes a plain dict (``_walk`` needs it)
        return {str(k): canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if type(value) is float and value.is_integer():
        return int(value)
    return value


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
        ``title``) filled in when the file left them out."""
        body = dict(desired.body)
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

    def is_secret(self, tokens: Sequence[str | int]) -> bool:
        return any(path_matches(tokens, p) for p in self.secret_paths)


def _without(body: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for path in fields:
        _transform_at(out, path, lambda _v: DROP)
    return out


# ---------------------------------------------------------------------------------------------
# folder — key (folder_type, name); body {"folderId", "name", "description"}

_FOLDER_SRC = "src/db/src/folders.rs"


def _folder_strip_marker(body: dict[str, Any]) -> None:
    _transform_at(body, "description", _strip_description_marker)


def _folder_payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    # Both keys are required in POST and PUT bodies (src/api/management/src/models/folders.rs).
    out = {
        "name": str(desired.body.get("name", desired.key[-1])),
        "description": _with_description_marker(desired.body.get("description", "")),
    }
    if live is not None and live.server_id:
        out["folderId"] = live.server_id  # ignored by the server (path wins), kept for clarity
    return out


FOLDER = KindSpec(
    kind="folder",
    order=KINDS.index("folder"),
    key_fields=("folder_type", "name"),
    server_owned=("folderId",),
    defaults=(Default("description", "", "src/config/src/meta/folder.rs"),),
    rewrites=(Rewrite("name", _trim, "name trimmed on create", _FOLDER_SRC),),
    order_insensitive=(),
    secret_paths=(),
    marker=f"description line {MARKER_TEXT!r}",
    _is_managed=lambda b: MARKER_TEXT in str(b.get("description") or ""),
    _strip_marker=_folder_strip_marker,
    _payload=_folder_payload,
    _marker_of=_description_marker,
    _stamp=_stamp_description,
)


# ---------------------------------------------------------------------------------------------
# template — key (name,); body {"name","type","title","kind","body","isDefault","isPrebuilt"}

_TEMPLATE_MODEL = "src/api/management/src/models/destinations.rs"


def _template_title(body: dict[str, Any]) -> dict[str, Any]:
    # Only the email variant stores a title; http/sns read back title "" (models/destinations.rs
    # From<meta_dest::Template>).
    if body.get("type", "http") != "email":
        body.pop("title", None)
    return body


def _template_payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    out = _without(desired.body, TEMPLATE_SERVER_OWNED)
    out.setdefault("name", desired.key[0])
    # An update without ``kind`` keeps the stored kind (sticky-kind rule,
    # src/core/src/alerts/templates.rs resolve_kind): always send it so code wins.
    out.setdefault("kind", "custom")
    return out


TEMPLATE_SERVER_OWNED = ("isDefault", "isPrebuilt")
TEMPLATE = KindSpec(
    kind="template",
    order=KINDS.index("template"),
    key_fields=("name",),
    server_owned=TEMPLATE_SERVER_OWNED,
    defaults=(
        Default("type", "http", _TEMPLATE_MODEL),
        Default("kind", "custom", "src/config/src/meta/destinations.rs TemplateKind"),
        Default("title", "", _TEMPLATE_MODEL),
        Default("body", "", _TEMPLATE_MODEL),
    ),
    rewrites=(
        Rewrite("name", _trim, "name trimmed", "src/core/src/alerts/templates.rs save"),
        Rewrite("", _template_title, "title kept for email templates only", _TEMPLATE_MODEL),
    ),
    order_insensitive=(),
    secret_paths=(),
    marker="none (managed by reference, see module docstring)",
    _is_managed=lambda b: False,
    _strip_marker=lambda b: None,
    _payload=_template_payload,
    _can_mark=lambda b: False,
)


# ---------------------------------------------------------------------------------------------
# destination — key (name,); body = alert destination object

_DEST_MODEL = "src/api/management/src/models/destinations.rs"
_DEST_CORE = "src/core/src/alerts/destinations.rs"
# Keys each destination type keeps (models/destinations.rs Destination::into / From<meta>); the
# others are dropped on save and read back as their defaults.
_DEST_KEPT: dict[str, frozenset[str]] = {
    "http": frozenset(
        {
            "name",
            "type",
            "url",
            "method",
            "skip_tls_verify",
            "headers",
            "template",
            "output_format",
            "destination_type_name",
            "metadata",
            "action_id",
        }
    ),
    "email": frozenset({"name", "type", "emails", "template"}),
    "sns": frozenset({"name", "type", "template", "sns_topic_arn", "aws_region"}),
}


def _dest_type(body: dict[str, Any]) -> str:
    return str(body.get("type") or "http")


def _dest_keep_type_fields(body: dict[str, Any]) -> dict[str, Any]:
    kept = _DEST_KEPT.get(_dest_type(body))
    if kept is not None:
        for key in [k for k in body if k not in kept]:
            del body[key]
    return body


def _dest_prebuilt_template(body: dict[str, Any]) -> dict[str, Any]:
    # A prebuilt http destination without a template gets ``prebuilt_<kind>`` attached
    # (core/src/alerts/destinations.rs save → ensure_prebuilt_template); "custom" is exempt.
    kind = body.get("destination_type_name")
    if _dest_type(body) == "http" and kind and kind != "custom" and not body.get("template"):
        body["template"] = f"prebuilt_{kind}"
    return body


def _dest_emails(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [e.strip().lower() if isinstance(e, str) else e for e in value]


def _dest_is_managed(body: dict[str, Any]) -> bool:
    return _dest_marker(body).state != "none"


def _dest_marker(body: dict[str, Any]) -> Marker:
    metadata = body.get("metadata")
    value = metadata.get(DESTINATION_MARKER_KEY) if isinstance(metadata, dict) else None
    if value == DESTINATION_MARKER_VALUE:
        return LEGACY_MARKER
    return _token_marker(value) or NO_MARKER


def _dest_strip_marker(body: dict[str, Any]) -> None:
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and _dest_marker(body).state != "none":
        del metadata[DESTINATION_MARKER_KEY]


def _dest_stamp(body: dict[str, Any], token: str) -> None:
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        metadata[DESTINATION_MARKER_KEY] = token


def _dest_payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    out = copy.deepcopy(desired.body)
    out.setdefault("name", desired.key[0])
    if _dest_type(out) == "http":
        metadata = dict(out.get("metadata") or {})
        metadata[DESTINATION_MARKER_KEY] = DESTINATION_MARKER_VALUE
        out["metadata"] = metadata
    return out


def _dest_references(key: tuple[str, ...], body: dict[str, Any]) -> list[Ref]:
    template = body.get("template")
    return [("template", (str(template),))] if template else []


DESTINATION = KindSpec(
    kind="destination",
    order=KINDS.index("destination"),
    key_fields=("name",),
    server_owned=("id",),
    defaults=(
        Default("type", "http", _DEST_MODEL),
        Default("url", "", _DEST_MODEL),
        Default("method", "post", "src/config/src/meta/destinations.rs HTTPType"),
        Default("skip_tls_verify", False, _DEST_MODEL),
        Default("emails", [], _DEST_MODEL),
        Default("metadata", {}, _DEST_MODEL),
    ),
    rewrites=(
        Rewrite("name", _trim, "name trimmed", _DEST_CORE + " save"),
        Rewrite("type", lambda v: v or "http", "empty type means http", _DEST_MODEL),
        Rewrite(
            "",
            _dest_keep_type_fields,
            "fields of other destination types are not stored",
            _DEST_MODEL,
        ),
        Rewrite(
            "template",
            _drop_if(""),
            "empty template is no template",
            _DEST_MODEL + " Destination::into",
        ),
        Rewrite("headers", _drop_if({}), "no headers reads back as absent", _DEST_MODEL),
        Rewrite("emails", _dest_emails, "recipients trimmed and lower-cased", _DEST_CORE + " save"),
        Rewrite(
            "",
            _dest_prebuilt_template,
            "prebuilt type implies a server template",
            _DEST_CORE + " save",
        ),
    ),
    order_insensitive=("emails",),
    # Webhook URLs (Slack, Teams, PagerDuty) embed tokens; headers carry API keys.
    secret_paths=("url", "headers.*"),
    marker=f'metadata["{DESTINATION_MARKER_KEY}"] = "{DESTINATION_MARKER_VALUE}" (http only)',
    _is_managed=_dest_is_managed,
    _strip_marker=_dest_strip_marker,
    _payload=_dest_payload,
    _marker_of=_dest_marker,
    _stamp=_dest_stamp,
    _can_mark=lambda b: _dest_type(b) == "http",
    _references=_dest_references,
)


# ---------------------------------------------------------------------------------------------
# dashboard — key (folder_name, title); body = the inner v8 object

_V8 = "src/config/src/meta/dashboards/v8/mod.rs"
DASHBOARD_SERVER_OWNED = ("dashboardId", "owner", "created", "role", "version", "updatedAt", "hash")


def _dashboard_strip_marker(body: dict[str, Any]) -> None:
    _transform_at(body, "description", _strip_description_marker)


def _dashboard_payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    out = _without(desired.body, DASHBOARD_SERVER_OWNED)
    out["version"] = 8
    out["description"] = _with_description_marker(out.get("description", ""))
    if live is not None:
        # PUT is a full replace: without these the server resets owner to the caller and
        # ``created`` to now (src/api/management/src/request/dashboards/mod.rs,
        # src/config/src/meta/dashboards/mod.rs datetime_now); dashboardId comes from the path.
        for key in ("dashboardId", "owner", "created"):
            if live.body.get(key):
                out[key] = live.body[key]
        if "dashboardId" not in out and live.server_id:
            out["dashboardId"] = live.server_id
    return out


def _dashboard_prepare(body: dict[str, Any]) -> dict[str, Any]:
    # OpenObserve stores a dashboard at the version it was sent and never upgrades it (reference
    # §3.5); the web UI upgrades v1..v7 to v8 on every load (web/src/utils/dashboard/
    # convertDashboardSchemaVersion.ts) and o2kit writes v8. Compare an older live body as the v8
    # the UI would make of it, so a dashboard exported (and upgraded) by ``o2kit export`` is in
    # sync with the unchanged original. Only an explicit integer version 1..7 is upgraded: a
    # missing version means v8 to the server (remote.py fills in the envelope's version for live
    # v1 bodies, which have no version key).
    version = body.get("version")
    if type(version) is not int or not 1 <= version < upgrade.CURRENT_VERSION:
        return body
    try:
        return upgrade.upgrade_dashboard(body)
    except upgrade.UpgradeError:
        return body  # the UI could not open it either; compare it as it is


def _override_config_item(item: Any) -> Any:
    # The unique_value_color variant defaults autoColor to false (v8 Config::UniqueValueColor).
    if isinstance(item, dict) and item.get("type") == "unique_value_color":
        item.setdefault("autoColor", False)
    return item


_PANELS = "tabs[].panels[]"
_QUERIES = f"{_PANELS}.queries[]"
_CONFIG = f"{_PANELS}.config"
_VARS = "variables.list[]"

DASHBOARD = KindSpec(
    kind="dashboard",
    order=KINDS.index("dashboard"),
    key_fields=("folder_name", "title"),
    server_owned=DASHBOARD_SERVER_OWNED,
    defaults=(
        Default("description", "", _V8 + " Dashboard (serde default)"),
        Default("tabs", [], _V8 + " Dashboard.tabs"),
        Default("tabs[].panels", [], _V8 + " Tab.panels"),
        Default(f"{_PANELS}.queryType", "", _V8 + " Panel.query_type"),
        Default(f"{_PANELS}.layout.x", 0, _V8 + " Layout (serde default)"),
        Default(f"{_PANELS}.layout.y", 0, _V8 + " Layout"),
        Default(f"{_PANELS}.layout.w", 0, _V8 + " Layout"),
        Default(f"{_PANELS}.layout.h", 0, _V8 + " Layout"),
        Default(f"{_PANELS}.layout.i", 0, _V8 + " Layout"),
        Default(f"{_QUERIES}.fields.z", [], _V8 + " PanelFields.z"),
        Default(f"{_QUERIES}.fields.promql_labels", [], _V8 + " PanelFields (omitted when empty)"),
        Default(f"{_QUERIES}.fields.promql_operations", [], _V8 + " PanelFields"),
        Default(f"{_CONFIG}.sparkline.enabled", False, _V8 + " Sparkline"),
        Default(f"{_CONFIG}.trellis.num_of_columns", 0, _V8 + " Trellis"),
        Default(f"{_CONFIG}.map_view.zoom", 0, _V8 + " MapView"),
        Default(f"{_CONFIG}.map_view.lat", 0, _V8 + " MapView"),
        Default(f"{_CONFIG}.map_view.lng", 0, _V8 + " MapView"),
        Default(f"{_CONFIG}.map_symbol_style.size", "", _V8 + " MapSymbolStyle"),
        Default(f"{_CONFIG}.map_symbol_style.size_fixed", 0, _V8 + " MapSymbolStyle"),
        Default(f"{_CONFIG}.map_symbol_style.size_by_value.min", 0, _V8 + " SizeByValue"),
        Default(f"{_CONFIG}.map_symbol_style.size_by_value.max", 0, _V8 + " SizeByValue"),
        Default(f"{_CONFIG}.override_config[].field.matchBy", "", _V8 + " Field"),
        Default(f"{_CONFIG}.override_config[].field.value", "", _V8 + " Field"),
        Default(
            f"{_CONFIG}.override_config[].config[].rules[].operator", "", _V8 + " ConditionalRule"
        ),
        Default(
            f"{_CONFIG}.override_config[].config[].rules[].threshold", 0, _V8 + " ConditionalRule"
        ),
        Default(f"{_CONFIG}.panel_time_range.type", "", _V8 + " DateTimeOptions"),
        Default("defaultDatetimeDuration.type", "", _V8 + " DateTimeOptions"),
        Default("variables.list", [], _V8 + " Variables.list"),
        Default(f"{_VARS}.type", "", _V8 + " VariableList (serde default)"),
        Default(f"{_VARS}.name", "", _V8 + " VariableList"),
        Default(f"{_VARS}.label", "", _V8 + " VariableList"),
        Default(f"{_VARS}.query_data.stream_type", "logs", _V8 + " QueryData / StreamType"),
        Default(f"{_VARS}.query_data.stream", "", _V8 + " QueryData"),
        Default(f"{_VARS}.query_data.field", "", _V8 + " QueryData"),
        Default(f"{_VARS}.query_data.filter[].value", "", _V8 + " Filters"),
        Default(f"{_VARS}.options[].label", "", _V8 + " CustomFieldsOption"),
        Default(f"{_VARS}.options[].value", "", _V8 + " CustomFieldsOption"),
    ),
    rewrites=(
        Rewrite("title", _trim, "title trimmed", "src/core/src/dashboards/mod.rs put"),
        Rewrite(
            f"{_CONFIG}.override_config[].config[]",
            _override_config_item,
            "unique_value_color autoColor defaults to false",
            _V8 + " Config",
        ),
    ),
    order_insensitive=(),
    secret_paths=(),
    marker=f"description line {MARKER_TEXT!r}",
    _is_managed=lambda b: MARKER_TEXT in str(b.get("description") or ""),
    _strip_marker=_dashboard_strip_marker,
    _payload=_dashboard_payload,
    _marker_of=_description_marker,
    _stamp=_stamp_description,
    _references=lambda key, body: [("folder", ("dashboards", key[0]))],
    _prepare=_dashboard_prepare,
)


# ---------------------------------------------------------------------------------------------
# alert — key (folder_name, name); body = GET /api/v2/{org}/alerts/{id} object

_ALERT_MODEL = "src/api/management/src/models/alerts/mod.rs"
_ALERT_CORE = "src/core/src/alerts/alert.rs prepare_alert"
_ALERT_TABLE = "src/infra/src/table/alerts/mod.rs"
_ALERT_META = "src/config/src/meta/alerts/mod.rs"
ALERT_SERVER_OWNED = (
    "id",
    "org_id",
    "owner",
    "last_edited_by",
    "updated_at",
    "last_triggered_at",
    "last_satisfied_at",
    "scheduler_job_present",
)


def _normalize_tags(value: Any) -> Any:
    # Trimmed, empties dropped, lower-cased, de-duplicated (src/config/src/meta/alerts/tags.rs
    # normalize_tags); sorted here because their order carries no meaning.
    if not isinstance(value, list):
        return value
    tags = {t.strip().lower() for t in value if isinstance(t, str) and t.strip()}
    return sorted(tags)


def _context_attributes(value: Any) -> Any:
    # Keys trimmed, empty keys dropped (prepare_alert); {} reads back like absent.
    if not isinstance(value, dict):
        return value
    out = {k.strip(): v for k, v in value.items() if k.strip()}
    return out or DROP


def _v1_conditions(node: Any) -> Any:
    # A bare array (LegacyConditions) is stored and returned as {"and": [...]}, at any depth
    # (src/config/src/meta/alerts/mod.rs ConditionList, serialize_legacy_conditions); a leaf's
    # ``ignore_case`` defaults to false (Condition).
    if isinstance(node, list):
        return {"and": [_v1_conditions(n) for n in node]}
    if not isinstance(node, dict):
        return node
    for op in ("and", "or"):
        if op in node and isinstance(node[op], list):
            return {op: [_v1_conditions(n) for n in node[op]]}
    if "not" in node:
        return {"not": _v1_conditions(node["not"])}
    leaf = {k: node[k] for k in ("column", "operator", "value", "ignore_case") if k in node}
    leaf.setdefault("ignore_case", False)
    return leaf


_V2_CONDITION_KEYS = ("filterType", "column", "operator", "value", "ignore_case", "logicalOperator")
_V2_GROUP_KEYS = ("filterType", "logicalOperator", "conditions")


def _v2_item(node: Any) -> Any:
    # Unknown keys (e.g. the UI's "type": "condition") are not stored (ConditionItem /
    # ConditionGroup in src/config/src/meta/alerts/mod.rs).
    if not isinstance(node, dict):
        return node
    if node.get("filterType") == "group":
        out = {k: node[k] for k in _V2_GROUP_KEYS if k in node}
        if isinstance(out.get("conditions"), list):
            out["conditions"] = [_v2_item(n) for n in out["conditions"]]
        return out
    return {k: node[k] for k in _V2_CONDITION_KEYS if k in node}


def _alert_conditions(value: Any) -> Any:
    if isinstance(value, dict) and value.get("version") == 2:
        return {"version": 2, "conditions": _v2_item(value.get("conditions"))}
    return _v1_conditions(value)


def _o2_b64decode(text: str) -> str:
    # src/config/src/utils/base64.rs decode_url: '-' '_' '.' stand for '+' '/' '='.
    raw = text.replace("-", "+").replace("_", "/").replace(".", "=")
    return base64.b64decode(raw, validate=True).decode("utf-8")


def _o2_b64encode(text: str) -> str:
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return encoded.replace("+", "-").replace("/", "_").replace("=", ".")


def _vrl_function(value: Any) -> Any:
    # prepare_alert: decode, trim; empty or "." → not stored; otherwise a program not ending in
    # "." gets "\n." appended. Compared here in one canonical encoding.
    if not isinstance(value, str):
        return value
    try:
        program = _o2_b64decode(value).strip()
    except (binascii.Error, ValueError):
        return value  # the server would refuse it (400); show it as written
    if program in ("", "."):
        return DROP
    if not program.endswith("."):
        program += "\n."
    return _o2_b64encode(program)


def _trigger_condition(tc: Any) -> Any:
    if not isinstance(tc, dict):
        return tc
    if tc.get("frequency_type", "minutes") == "cron":
        cron = str(tc.get("cron", "")).strip()
        # A leading "*" seconds field is replaced by the current second (update_cron_expression);
        # o2kit sends "0" instead (see payload), so both sides read "0".
        if cron.startswith("*"):
            cron = "0 " + cron[1:].strip()
        tc["cron"] = cron
    else:
        tc["cron"] = ""  # non-cron alerts lose any cron
        if tc.get("frequency", 0) == 0:
            tc["frequency"] = 1  # 0 → max(60 s, ZO_ALERT_SCHEDULE_INTERVAL=10 s), read back /60
    return tc


def _deduplication(value: Any) -> Any:
    # Only an enabled configuration is read back (src/infra/src/table/alerts/mod.rs: dedup_enabled).
    if not isinstance(value, dict) or not value.get("enabled"):
        return DROP
    return value


def _alert_marker(body: dict[str, Any]) -> Marker:
    tags = body.get("tags") or []
    if not isinstance(tags, list):
        return NO_MARKER
    for t in tags:
        found = _token_marker(t)
        if found is not None:
            return found
    if any(isinstance(t, str) and t.strip().lower() == ALERT_MARKER_TAG for t in tags):
        return LEGACY_MARKER
    return NO_MARKER


def _alert_is_managed(body: dict[str, Any]) -> bool:
    return _alert_marker(body).state != "none"


def _is_marker_tag(tag: Any) -> bool:
    return isinstance(tag, str) and (
        tag.strip().lower() == ALERT_MARKER_TAG or _token_marker(tag) is not None
    )


def _alert_stamp(body: dict[str, Any], token: str) -> None:
    body["tags"] = [*(body.get("tags") or []), token]


def is_managed_alert_item(item: dict[str, Any]) -> bool:
    """True when an alert *list item* (``GET /api/v2/{org}/alerts``) carries an o2kit marker
    (of any project)."""
    return _alert_is_managed(item)


def _alert_strip_marker(body: dict[str, Any]) -> None:
    tags = body.get("tags")
    if isinstance(tags, list):
        body["tags"] = [t for t in tags if not _is_marker_tag(t)]


def _alert_payload(desired: Resource, live: Resource | None) -> dict[str, Any]:
    out = _without(desired.body, ALERT_SERVER_OWNED)
    out.setdefault("name", desired.key[-1])
    tags = [t for t in (out.get("tags") or []) if not _is_marker_tag(t)]
    out["tags"] = [*tags, ALERT_MARKER_TAG]
    tc = out.get("trigger_condition")
    if isinstance(tc, dict) and tc.get("frequency_type") == "cron":
        cron = str(tc.get("cron", "")).strip()
        if cron.startswith("*"):
            # Otherwise the server stores the second of the request: a perpetual diff.
            tc["cron"] = "0 " + cron[1:].strip()
    if live is not None and live.server_id:
        out["id"] = live.server_id  # the path id wins; carried so the body is self-describing
    return out


def _alert_references(key: tuple[str, ...], body: dict[str, Any]) -> list[Ref]:
    refs: list[Ref] = [("folder", ("alerts", key[0]))]
    for name in body.get("destinations") or body.get("alert_destinations") or []:
        refs.append(("destination", (str(name),)))
    if body.get("template"):
        refs.append(("template", (str(body["template"]),)))
    return refs


def _rename_alias(body: dict[str, Any]) -> dict[str, Any]:
    if "alert_destinations" in body:
        value = body.pop("alert_destinations")
        body.setdefault("destinations", value)
    return body


_QC = "query_condition"
_TC = "trigger_condition"
ALERT = KindSpec(
    kind="alert",
    order=KINDS.index("alert"),
    key_fields=("folder_name", "name"),
    server_owned=ALERT_SERVER_OWNED,
    defaults=(
        # Every key of the v2 Alert has a serde default (_ALERT_MODEL Alert).
        Default("stream_type", "logs", _ALERT_MODEL + " StreamType"),
        Default("stream_name", "", _ALERT_MODEL),
        Default("is_real_time", False, _ALERT_MODEL),
        Default(_QC, {}, _ALERT_MODEL),
        Default(f"{_QC}.type", "custom", _ALERT_MODEL + " QueryType"),
        Default(f"{_QC}.promql_multi_alert", False, _ALERT_MODEL + " (omitted when false)"),
        Default(f"{_QC}.aggregation.having.ignore_case", False, _ALERT_MODEL + " Condition"),
        Default(f"{_QC}.aggregation.multi_alert", False, _ALERT_MODEL + " Aggregation"),
        Default(f"{_QC}.promql_condition.ignore_case", False, _ALERT_MODEL + " Condition"),
        Default(_TC, {}, _ALERT_MODEL),
        Default(f"{_TC}.period", 0, _ALERT_MODEL + " TriggerCondition"),
        Default(f"{_TC}.operator", "=", _ALERT_MODEL + " Operator"),
        Default(f"{_TC}.threshold", 0, _ALERT_MODEL),
        Default(f"{_TC}.frequency", 0, _ALERT_MODEL),
        Default(
            f"{_TC}.frequency_type",
            "minutes",
            _ALERT_MODEL + " (always returned; None means minutes)",
        ),
        Default(f"{_TC}.cron", "", _ALERT_MODEL),
        Default(f"{_TC}.silence", 0, _ALERT_MODEL),
        Default(f"{_TC}.align_time", True, "src/config/src/meta/alerts/mod.rs default_align_time"),
        Default("destinations", [], _ALERT_MODEL),
        Default("row_template", "", _ALERT_MODEL),
        Default("row_template_type", "String", "src/config/src/meta/alerts/alert.rs"),
        Default("description", "", _ALERT_MODEL),
        Default("enabled", False, _ALERT_MODEL),
        Default("tz_offset", 0, _ALERT_MODEL),
        Default("creates_incident", False, _ALERT_MODEL),
        Default("workflows", [], _ALERT_MODEL),
        Default("tags", [], _ALERT_MODEL + " (omitted when empty)"),
        Default(
            "deduplication.fingerprint_fields", [], "src/config/src/meta/alerts/deduplication.rs"
        ),
    ),
    rewrites=(
        Rewrite("", _rename_alias, "alert_destinations is an alias of destinations", _ALERT_MODEL),
        Rewrite("name", _trim, "name trimmed", _ALERT_CORE + " prepared_alert_name"),
        Rewrite("row_template", _trim, "row_template trimmed", _ALERT_CORE),
        Rewrite("template", _drop_if(""), "empty template stored as NULL", _ALERT_TABLE),
        Rewrite(
            "tags",
            _normalize_tags,
            "tags trimmed, lower-cased, de-duplicated",
            "src/config/src/meta/alerts/tags.rs",
        ),
        Rewrite(
            "context_attributes",
            _context_attributes,
            "keys trimmed, empty keys dropped",
            _ALERT_CORE,
        ),
        Rewrite(
            "deduplication", _deduplication, "disabled deduplication is not read back", _ALERT_TABLE
        ),
        Rewrite(
            f"{_QC}.conditions",
            _alert_conditions,
            'condition arrays become {"and": [...]}; unknown v2 keys dropped',
            _ALERT_META,
        ),
        Rewrite(f"{_QC}.sql", _drop_if(""), "empty SQL stored as NULL", _ALERT_TABLE),
        Rewrite(f"{_QC}.promql", _drop_if(""), "empty PromQL stored as NULL", _ALERT_TABLE),
        Rewrite(
            f"{_QC}.vrl_function",
            _vrl_function,
            "VRL decoded, trimmed, ends with \\n.",
            _ALERT_CORE,
        ),
        Rewrite(f"{_TC}.timezone", _drop_if(""), "empty timezone stored as NULL", _ALERT_TABLE),
        Rewrite(
            _TC,
            _trigger_condition,
            'non-cron: cron "" and frequency 0 → 1; cron: leading * seconds',
            _ALERT_CORE,
            after_defaults=True,
        ),
    ),
    order_insensitive=("destinations",),
    secret_paths=(),
    marker=f"tag {ALERT_MARKER_TAG!r}",
    _is_managed=_alert_is_managed,
    _strip_marker=_alert_strip_marker,
    _payload=_alert_payload,
    _marker_of=_alert_marker,
    _stamp=_alert_stamp,
    _references=_alert_references,
)


SPECS: dict[str, KindSpec] = {s.kind: s for s in (FOLDER, TEMPLATE, DESTINATION, DASHBOARD, ALERT)}
assert tuple(sorted(SPECS, key=lambda k: SPECS[k].order)) == KINDS


def is_system(kind: str, body: dict[str, Any], *, org: str | None = None) -> bool:
    """Objects OpenObserve owns and o2kit must never plan for.

    Folders: the built-in ``default`` folder (id ``default``; it cannot be updated, and the server
    creates it on first use). Templates: the prebuilt ``prebuilt_*`` and ``o2_default_content``
    templates every org sees; with ``org`` other than ``default``, also any template of org
    ``default`` (``isDefault: true``), which the template list shows in every org
    (src/db/src/alerts/templates.rs ``list``).
    """
    if kind == "folder":
        return str(body.get("folderId", "")) == DEFAULT_FOLDER_ID
    if kind == "template":
        if body.get("isPrebuilt") or str(body.get("name", "")) in SYSTEM_TEMPLATE_NAMES:
            return True
        return bool(org) and org != "default" and body.get("isDefault") is True
    return False


def is_builtin_key(kind: str, key: tuple[str, ...]) -> bool:
    """A desired key that names a built-in object o2kit must not create: folder ``default``."""
    return kind == "folder" and len(key) == 2 and key[1] == DEFAULT_FOLDER_ID
