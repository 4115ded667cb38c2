"""The fake OpenObserve's alerts (v2), through a real httpx client.

Expected statuses and messages come from ``core/src/alerts/alert.rs`` (prepare_alert),
``core/src/http.rs`` and ``api/management/src/request/alerts/mod.rs`` of the OpenObserve source.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import httpx
import pytest

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve

NOW = 1767607237.0  # second 37 of the minute: the cron rewrite uses it


@pytest.fixture
def fake() -> FakeOpenObserve:
    fake = FakeOpenObserve(seed=3, clock=lambda: NOW)
    fake.add_stream("default", "app_logs", fields={"_timestamp": "Int64", "level": "Utf8"})
    return fake


@pytest.fixture
def http(fake: FakeOpenObserve) -> httpx.Client:
    with httpx.Client(base_url="http://o2.test", transport=fake.transport(),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD)) as client:
        assert client.post("/api/default/alerts/destinations",
                           json={"name": "ops", "url": "https://hooks.example.com/o2",
                                 "template": "prebuilt_webhook"}).status_code == 200
        yield client


def alert(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "high_errors", "stream_type": "logs", "stream_name": "app_logs",
        "destinations": ["ops"], "enabled": True,
        "query_condition": {"type": "custom", "conditions": {
            "version": 2, "conditions": {"filterType": "group", "logicalOperator": "AND",
                                         "conditions": [{"filterType": "condition",
                                                         "column": "level", "operator": "=",
                                                         "value": "error",
                                                         "logicalOperator": "AND"}]}}},
        "trigger_condition": {"period": 10, "operator": ">=", "threshold": 1, "frequency": 5,
                              "silence": 30},
    }
    body.update(overrides)
    return body


def create(http: httpx.Client, body: dict[str, Any], folder: str | None = None) -> str:
    params = {"folder": folder} if folder else {}
    response = http.post("/api/v2/default/alerts", params=params, json=body)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def get(http: httpx.Client, alert_id: str) -> dict[str, Any]:
    response = http.get(f"/api/v2/default/alerts/{alert_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_create_answers_with_a_ksuid_and_the_name(http):
    response = http.post("/api/v2/default/alerts", json=alert())
    body = response.json()
    assert body["code"] == 200 and body["message"] == "Alert saved"
    assert body["name"] == "high_errors"
    assert len(body["id"]) == 27 and body["id"].isalnum()


def test_get_returns_the_stored_alert_without_folder(http):
    stored = get(http, create(http, alert()))
    assert "folder_id" not in stored and stored["org_id"] == "default"
    assert stored["stream_name"] == "app_logs" and stored["owner"] == DEFAULT_USER
    assert stored["last_edited_by"] == DEFAULT_USER
    assert stored["last_triggered_at"] is None and "updated_at" not in stored
    assert stored["trigger_condition"] == {
        "period": 10, "operator": ">=", "threshold": 1, "frequency": 5, "cron": "",
        "frequency_type": "minutes", "silence": 30, "tolerance_in_secs": None,
        "align_time": True}
    assert stored["query_condition"]["conditions"]["version"] == 2
    assert "template" not in stored and "deduplication" not in stored


def test_rewrites_on_save(http):
    body = alert(name="  padded  ", row_template="  {host}  ", tags=[" Prod ", "prod", "Env:EU"],
                 enabled=None, description="")
    del body["enabled"]
    body["trigger_condition"]["frequency"] = 0
    body["trigger_condition"]["cron"] = "0 0 * * * *"  # not a cron alert: emptied
    body["query_condition"] = {"type": "custom", "conditions": [
        {"column": "level", "operator": "=", "value": "error"}]}
    stored = get(http, create(http, body))
    assert stored["name"] == "padded" and stored["row_template"] == "{host}"
    assert stored["tags"] == ["prod", "env:eu"]
    assert stored["enabled"] is False  # default false
    assert stored["trigger_condition"]["frequency"] == 1  # 0 -> 60 s -> 1 min
    assert stored["trigger_condition"]["cron"] == ""
    assert stored["query_condition"]["conditions"] == {"and": [
        {"column": "level", "operator": "=", "value": "error", "ignore_case": False}]}


def test_frequency_is_stored_in_seconds_and_returned_in_minutes(http, fake):
    stored = get(http, create(http, alert()))
    assert stored["trigger_condition"]["frequency"] == 5
    listed = http.get("/api/v2/default/alerts").json()["list"][0]
    assert listed["trigger_condition"]["frequency"] == 5


def test_cron_leading_star_gets_the_current_second(http):
    body = alert()
    body["trigger_condition"].update(frequency_type="cron", cron="* */10 * * * *")
    stored = get(http, create(http, body))
    assert stored["trigger_condition"]["cron"] == "37 */10 * * * *"
    broken = alert()
    broken["trigger_condition"].update(frequency_type="cron", cron="*/5 * * * * *")
    response = http.post("/api/v2/default/alerts", json=broken)  # "*/5" -> "37 /5 ..."
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid expression")


def test_vrl_is_terminated_and_empty_vrl_dropped(http):
    program = base64.b64encode(b"  .x = 1  ").decode()
    body = alert()
    body["query_condition"]["vrl_function"] = program
    stored = get(http, create(http, body))
    decoded = stored["query_condition"]["vrl_function"].replace("-", "+").replace(
        "_", "/").replace(".", "=")
    assert base64.b64decode(decoded) == b".x = 1\n."
    body["query_condition"]["vrl_function"] = base64.b64encode(b" . ").decode()
    assert get(http, create(http, body))["query_condition"]["vrl_function"] is None
    body["query_condition"]["vrl_function"] = "!!!"
    bad = http.post("/api/v2/default/alerts", json=body)
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("Error decoding vrl function for alert: ")


def test_deduplication_disappears_when_disabled(http):
    off = get(http, create(http, alert(deduplication={"enabled": False,
                                                      "fingerprint_fields": ["host"]})))
    assert "deduplication" not in off
    on = get(http, create(http, alert(deduplication={"enabled": True,
                                                     "time_window_minutes": "15"})))
    assert on["deduplication"] == {"enabled": True, "time_window_minutes": 15}


def test_every_key_has_a_default(http):
    minimal = {"name": "m", "stream_name": "app_logs", "destinations": ["ops"]}
    stored = get(http, create(http, minimal))
    assert stored["stream_type"] == "logs" and stored["is_real_time"] is False
    assert stored["query_condition"]["type"] == "custom"
    # an absent trigger_condition is TriggerCondition::default(): align_time false
    assert stored["trigger_condition"]["align_time"] is False
    assert stored["trigger_condition"]["frequency"] == 1


@pytest.mark.parametrize(("change", "status", "text"), [
    (dict(name="has space"), 400,
     "Alert name cannot contain ':', '#', '?', '&', '%', quotes and space characters"),
    (dict(name="a:b"), 400,
     "Alert name cannot contain ':', '#', '?', '&', '%', quotes and space characters"),
    (dict(name=""), 400, "Alert name is required"),
    (dict(stream_name=""), 400, "Alert name is required"),
    (dict(name="a/b"), 400, "Alert name cannot contain '/'"),
    (dict(destinations=[]), 400, "Alert destination or workflows is required"),
    (dict(destinations=["nope"]), 404, "Alert destination nope not found"),
    (dict(template="nope"), 404, "Alert template nope not found"),
    (dict(stream_name="missing"), 404, "Stream missing not found"),
    (dict(stream_type="metrics"), 404, "Stream app_logs not found"),
    (dict(tags=["1abc"]), 400, "Invalid tag: tag `1abc` must start with a letter"),
    (dict(is_real_time=True, query_condition={"type": "sql", "sql": "SELECT 1"}), 400,
     "Realtime alert should use Custom query type"),
    (dict(query_condition={"type": "sql"}), 400, "Alert with SQL mode should have a query"),
    (dict(query_condition={"type": "sql", "sql": "select  * from app_logs"}), 400,
     "Alert with SQL can not contain SELECT * in the SQL query"),
    (dict(query_condition={"type": "promql", "promql": "up"}), 400,
     "Alert with PromQL mode should have a query"),
])
def test_validation_table(http, fake, change, status, text):
    response = http.post("/api/v2/default/alerts", json=alert(**change))
    assert (response.status_code, response.json()) == (status, {"code": status, "message": text})
    assert fake.alerts() == []


def test_unparsable_sql_is_a_500(http):
    response = http.post("/api/v2/default/alerts", json=alert(
        query_condition={"type": "sql", "sql": "SELECT count( FROM"}))
    assert response.status_code == 500
    assert response.json()["message"].startswith("Error resolving stream names in SQL query: ")


def test_period_beyond_max_query_range(http, fake):
    fake.add_stream("default", "short", fields={"_timestamp": "Int64"}, max_query_range=1)
    body = alert(stream_name="short")
    body["trigger_condition"]["period"] = 61
    response = http.post("/api/v2/default/alerts", json=body)
    assert response.json() == {"code": 400, "message": (
        'Alert period is greater than max query range of 1 hours for stream "short"')}


def test_create_in_folder_and_list_items(http, fake):
    folder = http.post("/api/v2/default/folders/alerts",
                       json={"name": "Payments", "description": ""}).json()["folderId"]
    missing = http.post("/api/v2/default/alerts", params={"folder": "nope"}, json=alert())
    assert missing.json() == {"code": 404,
                              "message": "Error creating alert in folder that cannot be found"}
    create(http, alert(name="b_alert", priority=2, tags=["prod"]), folder=folder)
    create(http, alert(name="a_alert"))
    listed = http.get("/api/v2/default/alerts").json()["list"]
    assert [i["name"] for i in listed] == ["a_alert", "b_alert"]  # all folders, name order
    item = listed[1]
    assert (item["folder_id"], item["folder_name"]) == (folder, "Payments")
    assert item["priority"] == 2 and item["tags"] == ["prod"]
    assert "stream_name" not in item and "stream_type" not in item
    assert "destinations" not in item and item["alert_type"] == "scheduled"
    assert item["description"] is None
    only = http.get("/api/v2/default/alerts", params={"folder": folder}).json()["list"]
    assert [i["name"] for i in only] == ["b_alert"]
    deps = http.get("/api/v2/default/alerts", params={"include_dependencies": "true"}).json()
    assert deps["list"][0]["destinations"] == ["ops"]


def test_update_keeps_owner_and_stream(http, fake):
    fake.add_stream("default", "other_logs", fields={"_timestamp": "Int64"})
    alert_id = create(http, alert(owner="first@example.com"))
    body = alert(owner="second@example.com", stream_name="other_logs", description="changed")
    response = http.put(f"/api/v2/default/alerts/{alert_id}", json=body)
    assert response.json() == {"code": 200, "message": "Alert Updated"}
    stored = get(http, alert_id)
    assert stored["owner"] == "first@example.com"
    assert stored["stream_name"] == "app_logs"  # validated, not persisted
    assert stored["description"] == "changed"


def test_update_still_validates_the_new_stream(http):
    alert_id = create(http, alert())
    response = http.put(f"/api/v2/default/alerts/{alert_id}", json=alert(stream_name="nope"))
    assert response.json() == {"code": 404, "message": "Stream nope not found"}


def test_unknown_and_malformed_ids(http):
    unknown = "2fxHTFsB8cPtzVEqRAsVWCvqEWX"
    for method in ("GET", "DELETE"):
        response = http.request(method, f"/api/v2/default/alerts/{unknown}")
        assert response.json() == {"code": 404, "message": f"alert {unknown} not found"}
    put = http.put(f"/api/v2/default/alerts/{unknown}", json=alert())
    assert put.json() == {"code": 404, "message": f"alert {unknown} not found"}
    bad = http.get("/api/v2/default/alerts/not-a-ksuid")
    assert bad.json() == {"code": 404, "message": "invalid alert id not-a-ksuid"}


def test_create_with_the_id_of_an_existing_alert_is_409(http):
    alert_id = create(http, alert())
    response = http.post("/api/v2/default/alerts", json=alert(id=alert_id))
    assert response.json() == {"code": 409, "message": "Alert already exists"}


def test_contains_as_trigger_operator_fails_on_write(http, fake):
    body = alert()
    body["trigger_condition"]["operator"] = "Contains"
    response = http.post("/api/v2/default/alerts", json=body)
    assert response.status_code == 500 and fake.alerts() == []


def test_wrong_shapes_are_422(http):
    bare_group = alert(query_condition={"type": "custom", "conditions": {
        "filterType": "group", "logicalOperator": "AND", "conditions": []}})
    response = http.post("/api/v2/default/alerts", json=bare_group)
    assert response.status_code == 422
    assert "Failed to parse V1 conditions" in response.text
    float_period = copy.deepcopy(alert())
    float_period["trigger_condition"]["period"] = 10.5
    response = http.post("/api/v2/default/alerts", json=float_period)
    assert response.status_code == 422 and "expected i64" in response.text
    bad_priority = http.post("/api/v2/default/alerts", json=alert(priority=9))
    assert bad_priority.status_code == 422
    assert "invalid alert priority `9`: expected P1 through P5" in bad_priority.text


def test_enable_move_and_delete(http, fake):
    alert_id = create(http, alert(enabled=False))
    enabled = http.patch(f"/api/v2/default/alerts/{alert_id}/enable", params={"value": "true"})
    assert enabled.json() == {"enabled": True} and get(http, alert_id)["enabled"] is True
    folder = http.post("/api/v2/default/folders/alerts",
                       json={"name": "F", "description": ""}).json()["folderId"]
    moved = http.patch("/api/v2/default/alerts/move",
                       json={"alert_ids": [alert_id], "dst_folder_id": folder})
    assert moved.json() == {"code": 200, "message": "Alert moved"}
    assert fake.alerts()[0]["folder_id"] == folder
    busy = http.delete(f"/api/v2/default/folders/alerts/{folder}")
    assert busy.json()["message"] == "Folder contains alerts, please move/delete alerts from folder"
    assert http.delete(f"/api/v2/default/alerts/{alert_id}").json() == {
        "code": 200, "message": "Alert deleted"}
    assert fake.alerts() == []
