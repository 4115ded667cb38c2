"""Shapes of alert destinations, alert templates and folders, mirroring the request DTOs
``src/api/management/src/models/destinations.rs`` (``Destination``, ``Template``) and
``src/api/management/src/models/folders.rs`` in the OpenObserve source.
Reference: openobserve-api.md §2, §6, §7.
"""

from __future__ import annotations

from typing import Any

from o2kit.validate.schemas.shapes import (
    Bool,
    Choice,
    ListOf,
    MapOf,
    Obj,
    Shape,
    Str,
    dflt,
    opt,
    req,
)

DESTINATION_TYPES = ("http", "email", "sns")  # enterprise adds "action"
HTTP_METHODS = ("post", "put", "get")
OUTPUT_FORMATS = ("json", "ndjson", "nestedevent")
# Prebuilt destination kinds (``src/config/src/prebuilt_loader.rs`` built-in config) plus the
# UI's "custom".
PREBUILT_KINDS = (
    "slack",
    "msteams",
    "pagerduty",
    "discord",
    "webhook",
    "opsgenie",
    "servicenow",
    "email",
)
DESTINATION_TYPE_NAMES = PREBUILT_KINDS + ("custom",)
TEMPLATE_TYPES = ("http", "email", "sns")
TEMPLATE_KINDS = ("custom", "content")
# Templates every org sees and nobody may create: ``prebuilt_<kind>`` and the default content
# template (``is_reserved_template_name`` in
# ``src/core/src/alerts/notifications/default_template.rs``).
SYSTEM_TEMPLATES: frozenset[str] = frozenset(
    {f"prebuilt_{kind}" for kind in PREBUILT_KINDS} | {"o2_default_content"}
)

_S = Str()


def _output_format(value: Any) -> Shape | str:
    # serde lower-case enum: unit variants as strings, struct variants as {"esbulk": {...}}.
    if isinstance(value, str):
        return Str(enum=OUTPUT_FORMATS)
    if isinstance(value, dict):
        return Obj(
            {
                "esbulk": opt(Obj({"index": req(_S)})),
                "stringseparated": opt(Obj({"separator": req(_S)})),
            }
        )
    return "expected a string or an object"


DESTINATION = Obj(
    {
        "name": dflt(_S),
        "url": dflt(_S),
        "method": dflt(Str(enum=HTTP_METHODS)),
        "skip_tls_verify": dflt(Bool()),
        "headers": opt(MapOf(_S)),
        "template": opt(_S),
        "emails": dflt(ListOf(_S)),
        "sns_topic_arn": opt(_S),
        "aws_region": opt(_S),
        "type": dflt(Str(enum=DESTINATION_TYPES)),
        "output_format": opt(Choice(_output_format, expected="a string or an object")),
        "destination_type_name": opt(Str(enum=DESTINATION_TYPE_NAMES)),
        "metadata": dflt(MapOf(_S)),
    }
)

TEMPLATE = Obj(
    {
        "name": dflt(_S),
        "body": dflt(_S),
        "isDefault": opt(Bool()),  # server-computed
        "isPrebuilt": dflt(Bool()),  # server-computed
        "type": dflt(Str(enum=TEMPLATE_TYPES)),
        "title": dflt(_S),
        "kind": opt(Str(enum=TEMPLATE_KINDS)),
    }
)

# ``POST /api/v2/{org}/folders/{type}`` requires both keys (reference §2), but o2kit always sends
# them: ``name`` comes from the resource key when absent and ``description`` carries the
# ownership marker (``kinds``), so the desired body may leave them out.
FOLDER = Obj({"name": dflt(_S), "description": dflt(_S), "folderId": dflt(_S)})
