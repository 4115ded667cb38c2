"""What o2kit knows about each OpenObserve resource kind — one module per kind, as tables.

``spec`` holds the shared machinery (``KindSpec``, table rows, canonical values, markers);
``folder``, ``template``, ``destination``, ``dashboard`` and ``alert`` one kind each;
``dashboard_upgrade`` brings v1–v7 dashboards to v8 as the UI does. May import: ``model``,
``errors``, ``redact``. This package exports the registry ``SPECS`` and the helpers below.

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

import importlib
import pkgutil
from typing import Any

from o2kit.kinds.alert import (
    _ALERT_CORE,
    _ALERT_META,
    _ALERT_MODEL,
    _ALERT_TABLE,
    _QC,
    _TC,
    _V2_CONDITION_KEYS,
    _V2_GROUP_KEYS,
    ALERT,
    ALERT_SERVER_OWNED,
    _alert_conditions,
    _alert_is_managed,
    _alert_marker,
    _alert_payload,
    _alert_references,
    _alert_stamp,
    _alert_strip_marker,
    _context_attributes,
    _deduplication,
    _is_marker_tag,
    _normalize_tags,
    _o2_b64decode,
    _o2_b64encode,
    _rename_alias,
    _trigger_condition,
    _v1_conditions,
    _v2_item,
    _vrl_function,
    is_managed_alert_item,
)
from o2kit.kinds.dashboard import (
    _CONFIG,
    _PANELS,
    _QUERIES,
    _V8,
    _VARS,
    DASHBOARD,
    DASHBOARD_SERVER_OWNED,
    _dashboard_payload,
    _dashboard_prepare,
    _dashboard_strip_marker,
    _override_config_item,
)
from o2kit.kinds.destination import (
    _DEST_CORE,
    _DEST_KEPT,
    _DEST_MODEL,
    DESTINATION,
    _dest_emails,
    _dest_is_managed,
    _dest_keep_type_fields,
    _dest_marker,
    _dest_payload,
    _dest_prebuilt_template,
    _dest_references,
    _dest_stamp,
    _dest_strip_marker,
    _dest_type,
)
from o2kit.kinds.folder import (
    _FOLDER_SRC,
    FOLDER,
    _folder_payload,
    _folder_strip_marker,
)
from o2kit.kinds.spec import (
    _DESCRIPTION_MARKER_RE,
    _TOKEN_RE,
    ALERT_MARKER_TAG,
    BODY_KEY_FIELDS,
    DEFAULT_FOLDER_ID,
    DESTINATION_MARKER_KEY,
    DESTINATION_MARKER_VALUE,
    DROP,
    KV_PREFIX,
    LEGACY_MARKER,
    MARKER_SEPARATOR,
    MARKER_TEXT,
    NO_MARKER,
    PROJECT_PATTERN,
    SYSTEM_TEMPLATE_NAMES,
    TOKEN_PREFIX,
    Default,
    KindSpec,
    Marker,
    Parsed,
    Ref,
    RestApi,
    Rewrite,
    SourceFiles,
    SourceProblem,
    _description_marker,
    _Drop,
    _drop_if,
    _fill_default,
    _sorted_list,
    _stamp_description,
    _steps,
    _strip_description_marker,
    _token_marker,
    _transform_at,
    _trim,
    _walk,
    _with_description_marker,
    _without,
    canonical,
    canonical_json,
    identity_token,
    key_digest,
    kv_key,
    parse_kv_key,
    path_matches,
)
from o2kit.kinds.template import (
    _TEMPLATE_MODEL,
    TEMPLATE,
    TEMPLATE_SERVER_OWNED,
    _template_payload,
    _template_title,
)
from o2kit.model import KINDS


def _discovered() -> list[KindSpec]:
    """The ``SPEC`` of every other module of this package: a new kind is one module that defines
    ``SPEC = KindSpec(...)`` (with ``api`` and ``files``), registered by being there."""
    found: list[KindSpec] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, KindSpec):
            found.append(spec)
    return found


_ALL = (FOLDER, TEMPLATE, DESTINATION, DASHBOARD, ALERT, *_discovered())
SPECS: dict[str, KindSpec] = {s.kind: s for s in sorted(_ALL, key=lambda s: s.order)}
"""Every kind, in apply (dependency) order: creates and updates run in this order, deletes in
reverse. The built-in kinds are ``model.KINDS``."""
APPLY_ORDER: tuple[str, ...] = tuple(SPECS)
assert len(SPECS) == len(_ALL), "two kind modules define the same kind"
assert tuple(k for k in APPLY_ORDER if k in KINDS) == KINDS


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

__all__ = [
    "ALERT",
    "ALERT_MARKER_TAG",
    "ALERT_SERVER_OWNED",
    "APPLY_ORDER",
    "BODY_KEY_FIELDS",
    "DASHBOARD",
    "DASHBOARD_SERVER_OWNED",
    "DEFAULT_FOLDER_ID",
    "DESTINATION",
    "DESTINATION_MARKER_KEY",
    "DESTINATION_MARKER_VALUE",
    "DROP",
    "Default",
    "FOLDER",
    "KV_PREFIX",
    "KindSpec",
    "Parsed",
    "RestApi",
    "SourceFiles",
    "SourceProblem",
    "LEGACY_MARKER",
    "MARKER_SEPARATOR",
    "MARKER_TEXT",
    "Marker",
    "NO_MARKER",
    "PROJECT_PATTERN",
    "Ref",
    "Rewrite",
    "SPECS",
    "SYSTEM_TEMPLATE_NAMES",
    "TEMPLATE",
    "TEMPLATE_SERVER_OWNED",
    "TOKEN_PREFIX",
    "_ALERT_CORE",
    "_ALERT_META",
    "_ALERT_MODEL",
    "_ALERT_TABLE",
    "_CONFIG",
    "_DESCRIPTION_MARKER_RE",
    "_DEST_CORE",
    "_DEST_KEPT",
    "_DEST_MODEL",
    "_Drop",
    "_FOLDER_SRC",
    "_PANELS",
    "_QC",
    "_QUERIES",
    "_TC",
    "_TEMPLATE_MODEL",
    "_TOKEN_RE",
    "_V2_CONDITION_KEYS",
    "_V2_GROUP_KEYS",
    "_V8",
    "_VARS",
    "_alert_conditions",
    "_alert_is_managed",
    "_alert_marker",
    "_alert_payload",
    "_alert_references",
    "_alert_stamp",
    "_alert_strip_marker",
    "_context_attributes",
    "_dashboard_payload",
    "_dashboard_prepare",
    "_dashboard_strip_marker",
    "_deduplication",
    "_description_marker",
    "_dest_emails",
    "_dest_is_managed",
    "_dest_keep_type_fields",
    "_dest_marker",
    "_dest_payload",
    "_dest_prebuilt_template",
    "_dest_references",
    "_dest_stamp",
    "_dest_strip_marker",
    "_dest_type",
    "_drop_if",
    "_fill_default",
    "_folder_payload",
    "_folder_strip_marker",
    "_is_marker_tag",
    "_normalize_tags",
    "_o2_b64decode",
    "_o2_b64encode",
    "_override_config_item",
    "_rename_alias",
    "_sorted_list",
    "_stamp_description",
    "_steps",
    "_strip_description_marker",
    "_template_payload",
    "_template_title",
    "_token_marker",
    "_transform_at",
    "_trigger_condition",
    "_trim",
    "_v1_conditions",
    "_v2_item",
    "_vrl_function",
    "_walk",
    "_with_description_marker",
    "_without",
    "canonical",
    "canonical_json",
    "identity_token",
    "is_builtin_key",
    "is_managed_alert_item",
    "is_system",
    "key_digest",
    "kv_key",
    "parse_kv_key",
    "path_matches",
]
