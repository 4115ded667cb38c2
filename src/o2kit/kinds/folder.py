"""The ``folder`` kind: what o2kit knows about it, as tables (see ``o2kit.kinds``)."""

from __future__ import annotations

from typing import Any

from o2kit.kinds.spec import (
    MARKER_TEXT,
    Default,
    KindSpec,
    Rewrite,
    _description_marker,
    _stamp_description,
    _strip_description_marker,
    _transform_at,
    _trim,
    _with_description_marker,
)
from o2kit.model import Resource

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
    order=10,
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


