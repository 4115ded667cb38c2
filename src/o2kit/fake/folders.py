"""Folders, v2 API: ``/api/v2/{org}/folders/{type}[/{id}|/name/{name}]``.

Rules from ``/work/oo/src/db/src/folders.rs`` (``save_folder``, ``update_folder``,
``delete_folder``), messages from ``src/api/management/src/request/folders.rs``
(``folder_error_response``), shapes from ``src/api/management/src/models/folders.rs``.
"""

from __future__ import annotations

from .http import (
    HttpError,
    Request,
    Response,
    error,
    json_response,
    ok,
    plain,
    read_json,
    shape_error,
)
from .serde import Field, SerdeError, Str, Struct
from .state import DEFAULT_FOLDER, FOLDER_TYPES, Folder, Store

# CreateFolderRequestBody: both keys required. UpdateFolderRequestBody(Folder): folderId defaults.
CREATE_BODY = Struct("CreateFolderRequestBody", [Field("name", Str()), Field("description", Str())])
UPDATE_BODY = Struct(
    "Folder",
    [Field("folderId", Str(), default=""), Field("name", Str()), Field("description", Str())],
)

# FolderError -> response (request/folders.rs). Note the handler's wording differs from the
# error's own Display ("Folder contains dashboards. Please ..."); the handler's text is sent.
NOT_EMPTY = {
    "dashboards": "Folder contains dashboards, please move/delete dashboards from folder",
    "alerts": "Folder contains alerts, please move/delete alerts from folder",
    "reports": "Folder contains reports, please move/delete reports from folder",
    "synthetics": "Folder contains synthetics, please move/delete synthetics from folder",
}
NAME_TAKEN = "Folder with this name already exists in this organization"


def folder_type(req: Request) -> str:
    """``Path<FolderType>``: an unknown type is a path rejection (400 plain text)."""
    value = req.params["folder_type"]
    if value not in FOLDER_TYPES:
        names = ", ".join(f"`{t}`" for t in FOLDER_TYPES)
        raise HttpError(
            plain(400, f"Invalid URL: unknown variant `{value}`, expected one of {names}")
        )
    return value


def _by_name(store: Store, org: str, ftype: str, name: str) -> Folder | None:
    # table::folders::get_by_name: exact, case-sensitive match on the name column
    return next((f for f in store.folder_map(org, ftype).values() if f.name == name), None)


def list_folders(store: Store, req: Request) -> Response:
    ftype = folder_type(req)
    folders = store.folder_map(req.params["org"], ftype).values()  # creation order (KSUID pk)
    return json_response({"list": [f.to_json() for f in folders]})


def create_folder(store: Store, req: Request) -> Response:
    ftype = folder_type(req)
    raw = read_json(req)
    try:
        body = CREATE_BODY.de(raw)
    except SerdeError as err:
        raise shape_error(err) from None
    name = body["name"].strip()  # save_folder trims; update_folder does not
    if not name:
        raise error(400, "Folder name cannot be empty")
    org = req.params["org"]
    if _by_name(store, org, ftype, name) is not None:
        raise error(400, NAME_TAKEN)
    folder = Folder(store.snowflake(), name, body["description"])
    store.folder_map(org, ftype)[folder.folder_id] = folder
    return json_response(folder.to_json())


def get_folder(store: Store, req: Request) -> Response:
    ftype = folder_type(req)
    folder = store.folder(req.params["org"], ftype, req.params["folder_id"])
    if folder is None:
        raise error(404, "Folder not found")
    return json_response(folder.to_json())


def get_folder_by_name(store: Store, req: Request) -> Response:
    ftype = folder_type(req)
    folder = _by_name(store, req.params["org"], ftype, req.params["name"])
    if folder is None:
        raise error(404, "Folder not found")
    return json_response(folder.to_json())


def update_folder(store: Store, req: Request) -> Response:
    ftype = folder_type(req)
    raw = read_json(req)
    try:
        body = UPDATE_BODY.de(raw)
    except SerdeError as err:
        raise shape_error(err) from None
    org, folder_id = req.params["org"], req.params["folder_id"]
    if folder_id == DEFAULT_FOLDER:
        raise error(400, "Can't update default folder")
    # No trim and no empty check here; the body's folderId is ignored; an unknown id is created
    # (table::folders::put is an upsert keyed by folder_id).
    clash = _by_name(store, org, ftype, body["name"])
    if clash is not None and clash.folder_id != folder_id:
        raise error(400, NAME_TAKEN)
    folders = store.folder_map(org, ftype)
    if folder_id in folders:
        folders[folder_id].name = body["name"]
        folders[folder_id].description = body["description"]
    else:
        folders[folder_id] = Folder(folder_id, body["name"], body["description"])
    return ok("Folder updated")


def delete_folder(store: Store, req: Request) -> Response:
    ftype = folder_type(req)
    org, folder_id = req.params["org"], req.params["folder_id"]
    # Contents are checked before existence (db/src/folders.rs delete_folder).
    if ftype == "dashboards" and any(
        d.org == org and d.folder_id == folder_id for d in store.dashboards.values()
    ):
        raise error(400, NOT_EMPTY["dashboards"])
    if ftype == "alerts" and any(
        a.org == org and a.folder_id == folder_id for a in store.alerts.values()
    ):
        raise error(400, NOT_EMPTY["alerts"])
    folders = store.folder_map(org, ftype)
    if folder_id not in folders:
        raise error(404, "Folder not found")
    del folders[folder_id]
    return ok("Folder deleted")
