"""The fake OpenObserve's dashboards and folders, through a real httpx client.

Expected values come from the OpenObserve source (cited per test), not from o2kit.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve

NOW = 1767607200.5  # 2026-01-05T10:00:00.5Z


def make_client(fake: FakeOpenObserve, user: str = DEFAULT_USER,
                password: str = DEFAULT_PASSWORD) -> httpx.Client:
    return httpx.Client(base_url="http://o2.test", transport=fake.transport(),
                        auth=(user, password))


@pytest.fixture
def fake() -> FakeOpenObserve:
    return FakeOpenObserve(seed=7, clock=lambda: NOW)


@pytest.fixture
def http(fake: FakeOpenObserve) -> httpx.Client:
    with make_client(fake) as client:
        yield client


def panel(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": "Panel_ID1", "type": "line", "title": "Errors", "description": "",
        "config": {"show_legends": True, "decimals": 0, "unit": "numbers", "no_such_key": 1},
        "queryType": "sql",
        "queries": [{
            "query": "SELECT 1", "customQuery": True,
            "fields": {"stream": "app_logs", "stream_type": "logs",
                       "x": [{"label": "Time", "alias": "x_axis_1", "type": "custom"}],
                       "y": [{"label": "Errors", "alias": "y_axis_1", "color": "#e53935",
                              "extra": "dropped"}],
                       "filter": {"filterType": "group", "logicalOperator": "AND",
                                  "conditions": []}},
            "config": {"promql_legend": "", "limit": 10},
        }],
        "layout": {"x": 0, "y": 0, "w": 96, "h": 18, "i": 1},
    }
    body.update(overrides)
    return body


def v8(title: str = "Checkout", **overrides: Any) -> dict[str, Any]:
    body = {"version": 8, "title": title, "description": "d",
            "tabs": [{"tabId": "main", "name": "Main", "panels": [panel()]}],
            "unknownTopLevel": {"a": 1}}
    body.update(overrides)
    return body


def create(http: httpx.Client, body: dict[str, Any], folder: str | None = None) -> dict:
    params = {"folder": folder} if folder is not None else {}
    response = http.post("/api/default/dashboards", params=params, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def new_folder(http: httpx.Client, name: str) -> str:
    response = http.post("/api/v2/default/folders/dashboards",
                         json={"name": name, "description": ""})
    assert response.status_code == 200, response.text
    return response.json()["folderId"]


# --- create / get: normalisation (config/src/meta/dashboards/v8/mod.rs) -----------------------

def test_create_returns_the_envelope_with_only_the_matching_version_key(http):
    body = create(http, v8())
    assert [body[f"v{n}"] for n in range(1, 8)] == [None] * 7
    assert body["version"] == 8 and body["updatedAt"] == 0
    assert body["hash"].isdigit() and 0 <= int(body["hash"]) < 2**64


def test_round_trip_normalises_like_the_v8_model(http):
    created = create(http, v8())
    got = http.get(f"/api/default/dashboards/{created['v8']['dashboardId']}").json()
    inner = got["v8"]
    assert "unknownTopLevel" not in inner  # unknown keys dropped
    config = inner["tabs"][0]["panels"][0]["config"]
    assert config["decimals"] == 0.0 and isinstance(config["decimals"], float)  # f64
    assert "no_such_key" not in config
    assert config["legends_position"] is None  # null-out Option
    assert config["base_map"] is None and config["map_view"] is None
    assert "legends_type" not in config  # omitted Option
    query = inner["tabs"][0]["panels"][0]["queries"][0]
    assert query["vrlFunctionQuery"] is None
    assert isinstance(query["config"]["limit"], float)
    assert query["fields"]["z"] == []  # #[serde(default)]
    x_axis, y_axis = query["fields"]["x"][0], query["fields"]["y"][0]
    assert x_axis["color"] is None and "extra" not in y_axis
    assert "promql_labels" not in query["fields"]  # empty Vec skipped
    # server-owned fields
    assert inner["dashboardId"] == created["v8"]["dashboardId"]
    assert inner["owner"] == DEFAULT_USER and inner["role"] == ""
    assert inner["created"] == "2026-01-05T10:00:00.500Z"
    assert inner["version"] == 8
    assert got["hash"] == created["hash"]


def test_client_dashboard_id_is_discarded_and_owner_kept(http):
    body = create(http, v8(dashboardId="mine", owner="someone@example.com"))
    assert body["v8"]["dashboardId"] != "mine" and body["v8"]["dashboardId"].isdigit()
    assert body["v8"]["owner"] == "someone@example.com"


def test_ids_are_increasing_snowflakes(http):
    ids = [int(create(http, v8(f"t{i}"))["v8"]["dashboardId"]) for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert int(NOW * 1000) == ids[0] >> 22  # milliseconds in the top bits (config/src/ider.rs)


def test_created_offset_is_kept_and_zero_offset_printed_as_z(http):
    assert create(http, v8(created="2026-01-05T12:00:00+02:00"))["v8"]["created"] \
        == "2026-01-05T12:00:00+02:00"
    assert create(http, v8(created="2026-01-05T10:00:00+00:00"))["v8"]["created"] \
        == "2026-01-05T10:00:00Z"


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda b: b["tabs"][0]["panels"][0].pop("queries"), "missing field `queries`"),
    (lambda b: b["tabs"][0].pop("tabId"), "missing field `tabId`"),
    (lambda b: b["tabs"][0]["panels"][0]["layout"].update(x=1.5),
     "invalid type: floating point `1.5`, expected i64"),
    (lambda b: b["tabs"][0]["panels"][0]["config"].update(decimals="2"), "expected f64"),
    (lambda b: b.update(version=9), "unsupported version: 9"),
    (lambda b: b.update(title=None), "invalid type: null, expected a string"),
    (lambda b: b["tabs"][0]["panels"][0]["queries"][0]["fields"].update(stream_type="log"),
     "unknown variant `log`"),
])
def test_wrong_shapes_are_422_plain_text(http, mutate, needle):
    body = v8()
    mutate(body)
    response = http.post("/api/default/dashboards", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("Failed to deserialize the JSON body into the target type: ")
    assert needle in response.text


def test_a_float_rust_would_print_differently_is_refused_by_f64_fields(http):
    # arbitrary_precision: "2.50" reaches the f64 field as a map (serde.py module docstring)
    raw = ('{"version":8,"title":"t","tabs":[{"tabId":"a","name":"A","panels":[{"id":"p",'
           '"type":"line","title":"t","description":"","config":{"show_legends":true,'
           '"decimals":2.50},"queries":[]}]}]}')
    response = http.post("/api/default/dashboards", content=raw,
                         headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "invalid type: map, expected f64" in response.text
    ok = http.post("/api/default/dashboards", content=raw.replace("2.50", "2.5"),
                   headers={"content-type": "application/json"})
    assert ok.status_code == 200


def test_malformed_json_is_400_and_missing_content_type_415(http):
    bad = http.post("/api/default/dashboards", content=b"{",
                    headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.text.startswith("Failed to parse the request body as JSON: ")
    untyped = http.post("/api/default/dashboards", content=b"{}")
    assert untyped.status_code == 415
    assert untyped.text == "Expected request with `Content-Type: application/json`"


def test_missing_title_is_500_but_the_default_folder_is_already_created(http, fake):
    response = http.post("/api/default/dashboards", json=v8(title="   "))
    assert response.status_code == 500
    assert response.json() == {"code": 500, "message": "Dashboard should have title"}
    assert fake.folders() == [{"folderId": "default", "name": "default",
                               "description": "default"}]
    assert fake.dashboards() == []


def test_title_is_trimmed(http):
    assert create(http, v8(title="  Spaced  "))["v8"]["title"] == "Spaced"


def test_create_in_unknown_folder_is_404_and_default_folder_is_lazy(http, fake):
    assert fake.folders() == []
    response = http.post("/api/default/dashboards", params={"folder": "nope"}, json=v8())
    assert (response.status_code, response.json()["message"]) == (404, "Folder not found")
    create(http, v8())
    assert [f["folderId"] for f in fake.folders()] == ["default"]


def test_legacy_versions_are_stored_at_their_version(http):
    body = create(http, {"version": 5, "title": "old", "description": "", "tabs": []})
    assert body["version"] == 5 and body["v5"]["title"] == "old" and body["v8"] is None
    missing = http.post("/api/default/dashboards", json={"version": 2, "title": "x"})
    assert missing.status_code == 422 and "missing field `description`" in missing.text


# --- update and the hash lock (core/src/dashboards/mod.rs put) ---------------------------------

def test_hash_is_stable_for_identical_content_and_changes_with_content(http, fake):
    created = create(http, v8())
    dashboard_id = created["v8"]["dashboardId"]
    same = copy.deepcopy(created["v8"])
    again = http.put(f"/api/default/dashboards/{dashboard_id}",
                     params={"folder": "default", "hash": created["hash"]}, json=same)
    assert again.status_code == 200 and again.json()["hash"] == created["hash"]
    changed = copy.deepcopy(created["v8"])
    changed["description"] = "new"
    updated = http.put(f"/api/default/dashboards/{dashboard_id}",
                       params={"folder": "default", "hash": created["hash"]}, json=changed)
    assert updated.status_code == 200
    assert updated.json()["hash"] != created["hash"]
    assert fake.dashboards()[0]["hash"] == updated.json()["hash"]


def test_stale_hash_is_409_and_changes_nothing(http, fake):
    created = create(http, v8())
    dashboard_id = created["v8"]["dashboardId"]
    first = copy.deepcopy(created["v8"])
    first["description"] = "first"
    assert http.put(f"/api/default/dashboards/{dashboard_id}",
                    params={"folder": "default", "hash": created["hash"]},
                    json=first).status_code == 200
    before = fake.dashboards()
    second = copy.deepcopy(created["v8"])
    second["description"] = "second"
    stale = http.put(f"/api/default/dashboards/{dashboard_id}",
                     params={"folder": "default", "hash": created["hash"]}, json=second)
    assert stale.status_code == 409
    assert stale.json()["message"].startswith("Conflict: Failed to save due to concurrent changes")
    assert fake.dashboards() == before


@pytest.mark.parametrize("params", [{"folder": "default"}, {"folder": "default", "hash": "abc"},
                                    {"folder": "default", "hash": "-1"}])
def test_missing_or_invalid_hash_is_500(http, params):
    created = create(http, v8())
    response = http.put(f"/api/default/dashboards/{created['v8']['dashboardId']}",
                        params=params, json=created["v8"])
    assert response.status_code == 500
    assert response.json()["message"] == ("Request to update existing dashboard with missing or "
                                           "invalid hash value. BUG")


def test_update_must_name_the_current_folder(http):
    folder_id = new_folder(http, "Infra")
    created = create(http, v8(), folder=folder_id)
    path = f"/api/default/dashboards/{created['v8']['dashboardId']}"
    wrong = http.put(path, params={"hash": created["hash"]}, json=created["v8"])  # -> default
    assert (wrong.status_code, wrong.json()["message"]) == (404, "Dashboard not found")
    right = http.put(path, params={"folder": folder_id, "hash": created["hash"]},
                     json=created["v8"])
    assert right.status_code == 200


def test_update_is_a_full_replace_with_owner_and_created_reset(http):
    created = create(http, v8(owner="a@example.com", created="2020-01-01T00:00:00Z"))
    body = {"version": 8, "title": "Bare", "updatedAt": 42}
    response = http.put(f"/api/default/dashboards/{created['v8']['dashboardId']}",
                        params={"hash": created["hash"]}, json=body)
    inner = response.json()["v8"]
    assert inner["tabs"] == [] and inner["description"] == ""
    assert inner["owner"] == DEFAULT_USER
    assert inner["created"] == "2026-01-05T10:00:00.500Z"
    assert response.json()["updatedAt"] == 42


def test_unknown_dashboard_is_404(http):
    for method in ("GET", "DELETE"):
        response = http.request(method, "/api/default/dashboards/123")
        assert response.json() == {"code": 404, "message": "Dashboard not found"}


# --- list (models/dashboards.rs ListDashboardsQuery, table/dashboards.rs list_models) ---------

def test_list_without_params_shows_only_the_default_folder(http):
    folder_id = new_folder(http, "Infra")
    create(http, v8("in default"))
    create(http, v8("in infra"), folder=folder_id)
    titles = [d["title"] for d in http.get("/api/default/dashboards").json()["dashboards"]]
    assert titles == ["in default"]
    in_folder = http.get("/api/default/dashboards", params={"folder": folder_id}).json()
    assert [d["title"] for d in in_folder["dashboards"]] == ["in infra"]


def test_list_items_carry_folder_hash_and_the_full_body(http):
    folder_id = new_folder(http, "Infra")
    created = create(http, v8("Net"), folder=folder_id)
    item = http.get("/api/default/dashboards", params={"folder": folder_id}).json()[
        "dashboards"][0]
    assert item["folder_id"] == folder_id and item["folder_name"] == "Infra"
    assert item["hash"] == created["hash"]
    assert item["dashboard_id"] == created["v8"]["dashboardId"]
    assert item["v8"] == created["v8"]  # deprecated keys still carry the whole object
    assert item["created"] == created["v8"]["created"]


def test_title_search_spans_folders_case_insensitively_and_sorts_by_title(http):
    folder_id = new_folder(http, "Infra")
    create(http, v8("beta Errors"), folder=folder_id)
    create(http, v8("Alpha errors"))
    create(http, v8("other"))
    found = http.get("/api/default/dashboards", params={"title": "ERRORS"}).json()
    assert [d["title"] for d in found["dashboards"]] == ["Alpha errors", "beta Errors"]
    paged = http.get("/api/default/dashboards", params={"title": "errors", "pageSize": 1}).json()
    assert [d["title"] for d in paged["dashboards"]] == ["Alpha errors"]
    wildcard = http.get("/api/default/dashboards", params={"title": "a_pha"}).json()
    assert [d["title"] for d in wildcard["dashboards"]] == ["Alpha errors"]


def test_page_size_is_ignored_without_a_title(http):
    for i in range(3):
        create(http, v8(f"d{i}"))
    listed = http.get("/api/default/dashboards", params={"pageSize": 1}).json()
    assert len(listed["dashboards"]) == 3


# --- move and delete ---------------------------------------------------------------------------

def test_move_keeps_the_hash_and_needs_an_existing_folder(http, fake):
    folder_id = new_folder(http, "Infra")
    created = create(http, v8())
    path = f"/api/default/folders/dashboards/{created['v8']['dashboardId']}"
    missing = http.put(path, json={"from": "default", "to": "nope"})
    assert (missing.status_code, missing.json()["message"]) == (404, "Folder not found")
    moved = http.put(path, json={"from": "ignored", "to": folder_id})
    assert moved.json() == {"code": 200, "message": "Dashboard moved"}
    assert fake.dashboards()[0]["folder_id"] == folder_id
    assert fake.dashboards()[0]["hash"] == created["hash"]


def test_delete_and_bulk_delete(http, fake):
    a = create(http, v8("a"))["v8"]["dashboardId"]
    b = create(http, v8("b"))["v8"]["dashboardId"]
    assert http.delete(f"/api/default/dashboards/{a}").json() == {
        "code": 200, "message": "Dashboard deleted"}
    partial = http.request("DELETE", "/api/default/dashboards/bulk", json={"ids": [b, "999"]})
    assert partial.status_code == 404 and len(fake.dashboards()) == 1
    done = http.request("DELETE", "/api/default/dashboards/bulk", json={"ids": [b]})
    assert done.json() == {"successful": [b], "unsuccessful": [], "err": None}
    assert fake.dashboards() == []


def test_static_routes_win_over_parameters(http):
    # /dashboards/bulk only answers DELETE: a GET is 405, not "dashboard bulk not found"
    response = http.get("/api/default/dashboards/bulk")
    assert response.status_code == 405 and response.content == b""


# --- folders (db/src/folders.rs, request/folders.rs) -----------------------------------------

def test_folder_create_trims_and_refuses_empty_and_duplicate_names(http):
    created = http.post("/api/v2/default/folders/dashboards",
                        json={"name": "  Infra ", "description": "x"}).json()
    assert created["name"] == "Infra" and created["folderId"].isdigit()
    empty = http.post("/api/v2/default/folders/dashboards", json={"name": "  ",
                                                                  "description": ""})
    assert empty.json() == {"code": 400, "message": "Folder name cannot be empty"}
    dup = http.post("/api/v2/default/folders/dashboards", json={"name": "Infra",
                                                                "description": ""})
    assert dup.json() == {"code": 400,
                          "message": "Folder with this name already exists in this organization"}
    other_case = http.post("/api/v2/default/folders/dashboards",
                           json={"name": "infra", "description": ""})
    assert other_case.status_code == 200  # names are case-sensitive
    alerts_type = http.post("/api/v2/default/folders/alerts",
                            json={"name": "Infra", "description": ""})
    assert alerts_type.status_code == 200  # unique per type


def test_folder_body_keys_are_required(http):
    response = http.post("/api/v2/default/folders/dashboards", json={"name": "x"})
    assert response.status_code == 422 and "missing field `description`" in response.text


def test_folder_update_rules(http, fake):
    a = new_folder(http, "A")
    new_folder(http, "B")
    path = f"/api/v2/default/folders/dashboards/{a}"
    clash = http.put(path, json={"name": "B", "description": ""})
    assert clash.json()["message"] == "Folder with this name already exists in this organization"
    untrimmed = http.put(path, json={"folderId": "ignored", "name": " A2 ", "description": "d"})
    assert untrimmed.json() == {"code": 200, "message": "Folder updated"}
    assert http.get(path).json() == {"folderId": a, "name": " A2 ", "description": "d"}
    default = http.put("/api/v2/default/folders/dashboards/default",
                       json={"name": "x", "description": ""})
    assert default.json() == {"code": 400, "message": "Can't update default folder"}
    upsert = http.put("/api/v2/default/folders/dashboards/777", json={"name": "New",
                                                                      "description": ""})
    assert upsert.status_code == 200
    assert {"folderId": "777", "name": "New", "description": ""} in fake.folders()


def test_folder_delete_rules(http):
    folder_id = new_folder(http, "Busy")
    create(http, v8(), folder=folder_id)
    busy = http.delete(f"/api/v2/default/folders/dashboards/{folder_id}")
    assert busy.json() == {
        "code": 400,
        "message": "Folder contains dashboards, please move/delete dashboards from folder"}
    missing = http.delete("/api/v2/default/folders/dashboards/nope")
    assert missing.json() == {"code": 404, "message": "Folder not found"}
    empty_id = new_folder(http, "Empty")
    assert http.delete(f"/api/v2/default/folders/dashboards/{empty_id}").json()["message"] \
        == "Folder deleted"


def test_folder_list_get_by_name_and_bad_type(http):
    first, second = new_folder(http, "One"), new_folder(http, "Two")
    listed = http.get("/api/v2/default/folders/dashboards").json()["list"]
    assert [f["folderId"] for f in listed] == [first, second]  # creation order
    assert http.get("/api/v2/default/folders/dashboards/name/Two").json()["folderId"] == second
    bad = http.get("/api/v2/default/folders/widgets")
    assert bad.status_code == 400 and bad.text.startswith("Invalid URL: unknown variant")
