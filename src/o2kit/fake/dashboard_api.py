"""Dashboards API: ``/api/{org}/dashboards...`` and the one-dashboard move route.

Handlers: ``/work/oo/src/api/management/src/request/dashboards/mod.rs``; service rules:
``src/core/src/dashboards/mod.rs`` (``create_dashboard``, ``update_dashboard``, ``put``,
``move_dashboard``); storage and list order: ``src/infra/src/table/dashboards.rs``; error texts:
``src/core/src/http.rs`` (``impl From<DashboardError> for Response``).
"""

from __future__ import annotations

import re
from typing import Any

from .dashboards import LATEST_VERSION, dashboard_hash, envelope, parse_body
from .http import (
    Request,
    Response,
    end_position,
    error,
    json_response,
    ok,
    parse_u64,
    read_json,
    shape_error,
)
from .serde import Field, SerdeError, Str, Struct, Vec
from .state import DEFAULT_FOLDER, Dashboard, Store

HASH_MISSING = "Request to update existing dashboard with missing or invalid hash value. BUG"
HASH_STALE = (
    "Conflict: Failed to save due to concurrent changes. Please refresh the page after "
    "backing up your work to avoid losing changes."
)
NOT_FOUND = "Dashboard not found"

BULK_BODY = Struct("BulkDeleteRequest", [Field("ids", Vec(Str()))])
MOVE_ONE_BODY = Struct("MoveDashboardRequestBody", [Field("from", Str()), Field("to", Str())])
MOVE_MANY_BODY = Struct(
    "MoveDashboardsRequestBody", [Field("dashboard_ids", Vec(Str())), Field("dst_folder_id", Str())]
)


def _folder_param(req: Request) -> str:
    # common/src/utils/http.rs get_folder: absent -> "default"; present-but-empty stays ""
    return req.query_map().get("folder", DEFAULT_FOLDER)


def _in_org(store: Store, org: str, dashboard_id: str) -> Dashboard | None:
    dash = store.dashboards.get(dashboard_id)
    return dash if dash is not None and dash.org == org else None


def _read_dashboard_body(store: Store, req: Request) -> tuple[int, dict[str, Any], int]:
    raw = read_json(req, numbers="value")
    try:
        return parse_body(raw, store.now_rfc3339)
    except SerdeError as err:
        # DashboardRequestBody re-raises inner errors with serde::de::Error::custom, so the
        # field path is lost and serde_json appends the position of the end of the object.
        raise shape_error(SerdeError(err.message), end_position(req.body)) from None


def _fill_owner(inner: dict[str, Any], user: str) -> None:
    # request/dashboards/mod.rs set_dashboard_owner_if_empty
    if not inner.get("owner"):
        inner["owner"] = user


def _title(inner: dict[str, Any]) -> str:
    # core/src/dashboards/mod.rs put(): trimmed, empty -> 500 "Dashboard should have title"
    title = str(inner.get("title") or "").strip()
    if not title:
        raise error(500, "Dashboard should have title")
    return title


def _store_shape(version: int, inner: dict[str, Any], dashboard_id: str, title: str) -> None:
    """What reading the row back produces (table/dashboards.rs TryFrom<Model>): the id, title,
    owner, role, description columns are put back into the object, and ``version`` is the
    column value (so a v8 body that omitted ``version`` reads back with 8)."""
    inner["dashboardId"] = dashboard_id
    inner["title"] = title
    if version != 1:
        inner["version"] = version


def create_dashboard(store: Store, req: Request) -> Response:
    org = req.params["org"]
    version, inner, updated_at = _read_dashboard_body(store, req)
    folder_id = _folder_param(req)
    _fill_owner(inner, req.user)
    if store.folder(org, "dashboards", folder_id) is None:
        if folder_id != DEFAULT_FOLDER:
            raise error(404, "Folder not found")
        store.ensure_default_folder(org, "dashboards")  # created even if the title check fails
    dashboard_id = store.snowflake()  # any client-sent dashboardId is discarded
    title = _title(inner)
    _store_shape(version, inner, dashboard_id, title)
    dash = Dashboard(dashboard_id, org, folder_id, version, inner, updated_at, store.next_seq(),
                     dashboard_hash(version, inner, updated_at))
    store.dashboards[dashboard_id] = dash
    return json_response(envelope(version, inner, updated_at, dash.hash))


def get_dashboard(store: Store, req: Request) -> Response:
    dash = _in_org(store, req.params["org"], req.params["dashboard_id"])
    if dash is None:
        raise error(404, NOT_FOUND)
    return json_response(envelope(dash.version, dash.inner, dash.updated_at, dash.hash))


def update_dashboard(store: Store, req: Request) -> Response:
    org, dashboard_id = req.params["org"], req.params["dashboard_id"]
    version, inner, updated_at = _read_dashboard_body(store, req)  # the Json extractor runs first
    dash = _in_org(store, org, dashboard_id)
    if dash is None:
        raise error(404, NOT_FOUND)
    query = req.query_map()
    _fill_owner(inner, req.user)
    if dash.folder_id != _folder_param(req):  # get_from_folder: must name the current folder
        raise error(404, NOT_FOUND)
    sent = query.get("hash")
    parsed = _parse_u64(sent) if sent is not None else None
    if parsed is None:
        raise error(500, HASH_MISSING)
    if str(parsed) != dash.hash:
        raise error(409, HASH_STALE)
    title = _title(inner)
    _store_shape(version, inner, dashboard_id, title)
    # A full replace: nothing of the old object survives; `created` was defaulted to now and
    # `updatedAt` is whatever the body said (0 when absent) — no server-side stamp.
    dash.version, dash.inner, dash.updated_at = version, inner, updated_at
    dash.hash = dashboard_hash(version, inner, updated_at)
    return json_response(envelope(version, inner, updated_at, dash.hash))


def _parse_u64(text: str) -> int | None:
    # Rust `str::parse::<u64>`: optional leading '+', ASCII digits only, no overflow.
    digits = text[1:] if text.startswith("+") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    return value if value < 2**64 else None


def delete_dashboard(store: Store, req: Request) -> Response:
    dash = _in_org(store, req.params["org"], req.params["dashboard_id"])
    if dash is None:
        raise error(404, NOT_FOUND)
    del store.dashboards[dash.dashboard_id]
    return ok("Dashboard deleted")


def delete_dashboards_bulk(store: Store, req: Request) -> Response:
    org = req.params["org"]
    raw = read_json(req)
    try:
        ids = BULK_BODY.de(raw)["ids"]
    except SerdeError as err:
        raise shape_error(err) from None
    if not all(_in_org(store, org, i) is not None for i in ids):
        raise error(404, NOT_FOUND)  # all_dashboards_in_org: one unknown id fails the lot
    successful = []
    for dashboard_id in ids:
        if store.dashboards.pop(dashboard_id, None) is not None:
            successful.append(dashboard_id)
    return json_response({"successful": successful, "unsuccessful": [], "err": None})


def move_dashboard(store: Store, req: Request) -> Response:
    org, dashboard_id = req.params["org"], req.params["dashboard_id"]
    raw = read_json(req)
    try:
        body = MOVE_ONE_BODY.de(raw)  # `from` is required but ignored
    except SerdeError as err:
        raise shape_error(err) from None
    dash = _in_org(store, org, dashboard_id)
    if dash is None:
        raise error(404, NOT_FOUND)
    if store.folder(org, "dashboards", body["to"]) is None:
        raise error(404, "Folder not found")  # no lazy default folder on a move
    dash.folder_id = body["to"]  # content untouched, so the hash is unchanged
    return ok("Dashboard moved")


def move_dashboards(store: Store, req: Request) -> Response:
    org = req.params["org"]
    raw = read_json(req)
    try:
        body = MOVE_MANY_BODY.de(raw)
    except SerdeError as err:
        raise shape_error(err) from None
    ids = body["dashboard_ids"]
    if not all(_in_org(store, org, i) is not None for i in ids):
        raise error(404, NOT_FOUND)
    if store.folder(org, "dashboards", body["dst_folder_id"]) is None:
        raise error(404, "Folder not found")
    for dashboard_id in ids:
        store.dashboards[dashboard_id].folder_id = body["dst_folder_id"]
    return ok("Dashboard moved" if len(ids) == 1 else "Dashboards moved")


def _like(pattern: str) -> re.Pattern[str]:
    """SQL ``LIKE '%pattern%'`` on the lower-cased title: ``%`` and ``_`` stay wildcards."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.lower()]
    return re.compile(".*" + "".join(parts) + ".*", re.DOTALL)


def list_dashboards(store: Store, req: Request) -> Response:
    org = req.params["org"]
    query = req.query_map()
    folder = query.get("folder")
    title = query.get("title")
    page_size = parse_u64(query["pageSize"]) if "pageSize" in query else None
    # models/dashboards.rs ListDashboardsQuery::into: no folder and no title -> folder default
    if folder is None and title is None:
        folder = DEFAULT_FOLDER
    matcher = _like(title) if title else None
    rows = []
    folders = store.folder_map(org, "dashboards")
    for dash in store.dashboards.values():
        if dash.org != org or (folder is not None and dash.folder_id != folder):
            continue
        dash_title = str(dash.inner.get("title", ""))
        if matcher is not None and not matcher.fullmatch(dash_title.lower()):
            continue
        owning = folders.get(dash.folder_id)
        rows.append((dash_title, owning.name if owning else "", dash.seq, dash, owning))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))  # ORDER BY title, folders.name
    if title and page_size:  # pageSize only applies with a non-empty title: first page
        rows = rows[:page_size]
    return json_response({"dashboards": [_list_item(d, f) for *_, d, f in rows]})


def _list_item(dash: Dashboard, folder: Any) -> dict[str, Any]:
    # models/dashboards.rs ListDashboardsResponseBodyItem, in field order; v1..v8 still carry
    # the full object (deprecated).
    item: dict[str, Any] = {f"v{n}": None for n in range(1, LATEST_VERSION + 1)}
    item[f"v{dash.version}"] = dash.inner
    inner = dash.inner
    item.update(
        {
            "version": dash.version,
            "hash": dash.hash,
            "folder_id": dash.folder_id,
            "folder_name": folder.name if folder else "",
            "dashboard_id": dash.dashboard_id,
            "title": inner.get("title", ""),
            "description": inner.get("description", ""),
            "role": inner.get("role", ""),
            "owner": inner.get("owner", ""),
            "created": inner.get("created", ""),
            "updatedAt": dash.updated_at,
        }
    )
    return item
