"""The ``template`` kind: what o2kit knows about it, as tables (see ``o2kit.kinds``)."""

from __future__ import annotations

from typing import Any

from o2kit.kinds.spec import Default, KindSpec, Rewrite, _trim, _without
from o2kit.model import Resource

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
    order=20,
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


