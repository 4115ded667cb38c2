"""The ``destination`` kind: what o2kit knows about it, as tables (see ``o2kit.kinds``)."""

from __future__ import annotations

import copy
from typing import Any

from o2kit.kinds.spec import (
    DESTINATION_MARKER_KEY,
    DESTINATION_MARKER_VALUE,
    LEGACY_MARKER,
    NO_MARKER,
    Default,
    KindSpec,
    Marker,
    Ref,
    Rewrite,
    _drop_if,
    _token_marker,
    _trim,
)
from o2kit.model import Resource

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
    order=30,
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


