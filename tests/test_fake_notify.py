"""The fake OpenObserve's alert destinations and templates.

Expected values from ``core/src/alerts/{destinations,templates}.rs``,
``db/src/alerts/{destinations,templates}.rs`` and ``api/management/src/models/destinations.rs``.
"""

from __future__ import annotations

import httpx
import pytest

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve

SYSTEM = ["o2_default_content", "prebuilt_discord", "prebuilt_email", "prebuilt_msteams",
          "prebuilt_opsgenie", "prebuilt_pagerduty", "prebuilt_servicenow", "prebuilt_slack",
          "prebuilt_webhook"]


@pytest.fixture
def fake() -> FakeOpenObserve:
    fake = FakeOpenObserve(seed=5, orgs=["default", "team"])
    fake.add_stream("team", "app_logs")
    return fake


@pytest.fixture
def http(fake: FakeOpenObserve) -> httpx.Client:
    with httpx.Client(base_url="http://o2.test", transport=fake.transport(),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD)) as client:
        yield client


def destination(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {"name": "ops_webhook", "url": "https://hooks.example.com/o2",
                               "method": "post", "template": "mine"}
    body.update(overrides)
    return body


def add_template(http: httpx.Client, name: str = "mine", org: str = "team") -> None:
    response = http.post(f"/api/{org}/alerts/templates",
                         json={"name": name, "body": '{"text": "{alert_name}"}'})
    assert response.status_code == 200, response.text


# --- destinations -------------------------------------------------------------------------------

def test_destination_round_trip_has_the_always_present_keys(http):
    add_template(http)
    saved = http.post("/api/team/alerts/destinations", json=destination(headers={"X": "1"}))
    assert saved.json()["message"] == "Destination saved" and saved.json()["name"] == "ops_webhook"
    got = http.get("/api/team/alerts/destinations/ops_webhook").json()
    assert got == {"name": "ops_webhook", "url": "https://hooks.example.com/o2", "method": "post",
                   "skip_tls_verify": False, "headers": {"X": "1"}, "template": "mine",
                   "emails": [], "type": "http", "metadata": {}}
    listed = http.get("/api/team/alerts/destinations", params={"module": "alert"}).json()
    assert listed == [got]


@pytest.mark.parametrize(("body", "status", "text"), [
    (destination(name="  "), 400, "Destination name cannot be empty"),
    (destination(name="a b"), 400,
     "Destination name cannot contain ':', '#', '?', '&', '%', '/', quotes and space characters"),
    (destination(name="a/b"), 400,
     "Destination name cannot contain ':', '#', '?', '&', '%', '/', quotes and space characters"),
    (destination(url=""), 400, "HTTP destination must have a url"),
    (destination(url="ftp://example.com/x"), 400, "Destination URL blocked by SSRF guard: "
     "Unsupported URL scheme: ftp. Only HTTP and HTTPS are allowed."),
    (destination(url="http://localhost:8080/x"), 400, "Destination URL blocked by SSRF guard: "
     "Access to localhost is not allowed for security reasons"),
    (destination(url="http://10.1.2.3/x"), 400, "Destination URL blocked by SSRF guard: Access "
     "to private IP address 10.1.2.3 is not allowed for security reasons. This prevents "
     "Server-Side Request Forgery (SSRF) attacks."),
    (destination(type="sns"), 400, "SNS destination must have Topic ARN and Region"),
    (destination(type="email", emails=["root@example.com"]), 400,
     "Email destination must have SMTP configured"),
    (destination(destination_type_name="carrier_pigeon", template=None), 400,
     "Prebuilt template not found for type: carrier_pigeon"),
])
def test_destination_validation(http, body, status, text):
    response = http.post("/api/team/alerts/destinations", json=body)
    assert (response.status_code, response.json()) == (status, {"code": status, "message": text})


def test_duplicate_destination_is_400_and_update_of_unknown_404(http):
    add_template(http)
    assert http.post("/api/team/alerts/destinations", json=destination()).status_code == 200
    dup = http.post("/api/team/alerts/destinations", json=destination())
    assert dup.json() == {"code": 400, "message": "Destination with the same name already exists"}
    unknown = http.put("/api/team/alerts/destinations/nope", json=destination())
    assert unknown.json() == {"code": 404, "message": "Destination not found"}
    renamed = http.put("/api/team/alerts/destinations/ops_webhook",
                       json=destination(name="ignored", url="https://other.example.com/"))
    assert renamed.json() == {"code": 200, "message": "Destination updated"}
    got = http.get("/api/team/alerts/destinations/ops_webhook").json()
    assert got["url"] == "https://other.example.com/"  # the path name wins


def test_prebuilt_kind_attaches_its_template(http):
    body = destination(template=None, destination_type_name="slack")
    assert http.post("/api/team/alerts/destinations", json=body).status_code == 200
    got = http.get("/api/team/alerts/destinations/ops_webhook").json()
    assert got["template"] == "prebuilt_slack" and got["destination_type_name"] == "slack"


def test_email_destination_needs_smtp_and_org_members():
    fake = FakeOpenObserve(smtp_enabled=True)
    fake.add_user("member@example.com", "pw", orgs=["default"])
    with httpx.Client(base_url="http://o2", transport=fake.transport(),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD)) as http:
        stranger = http.post("/api/default/alerts/destinations", json={
            "name": "mail", "type": "email", "emails": ["x@example.com"]})
        assert stranger.json()["message"] == "Email destination recipients must be part of " \
                                             "this org"
        ok = http.post("/api/default/alerts/destinations", json={
            "name": "mail", "type": "email", "emails": [" Member@Example.com "]})
        assert ok.status_code == 200
        got = http.get("/api/default/alerts/destinations/mail").json()
        assert got["emails"] == ["member@example.com"] and got["type"] == "email"
        assert got["url"] == "" and got["metadata"] == {}


def test_destination_in_use_cannot_be_deleted(http):
    add_template(http)
    http.post("/api/team/alerts/destinations", json=destination())
    created = http.post("/api/v2/team/alerts", json={
        "name": "a1", "stream_name": "app_logs", "destinations": ["ops_webhook"]})
    assert created.status_code == 200, created.text
    busy = http.delete("/api/team/alerts/destinations/ops_webhook")
    assert busy.json() == {"code": 409, "message": "Destination is currently used by alert: a1"}
    http.delete(f"/api/v2/team/alerts/{created.json()['id']}")
    assert http.delete("/api/team/alerts/destinations/ops_webhook").json()["message"] \
        == "Alert destination deleted"
    assert http.delete("/api/team/alerts/destinations/ops_webhook").json() == {
        "code": 404, "message": "Destination not found"}


def test_alert_refuses_a_pipeline_destination(http):
    assert http.post("/api/team/alerts/destinations", params={"module": "pipeline"},
                     json=destination(template=None)).status_code == 200
    response = http.post("/api/v2/team/alerts", json={
        "name": "a1", "stream_name": "app_logs", "destinations": ["ops_webhook"]})
    assert response.json() == {"code": 403, "message":
                               "Not support save destination pipeline type for alert so far"}


# --- templates ----------------------------------------------------------------------------------

def test_list_includes_the_system_templates_of_org_default(http):
    add_template(http, "a_first")
    listed = http.get("/api/team/alerts/templates").json()
    names = [t["name"] for t in listed]
    assert names == sorted(["a_first", *SYSTEM])
    mine = next(t for t in listed if t["name"] == "a_first")
    assert mine == {"name": "a_first", "body": '{"text": "{alert_name}"}', "isDefault": None,
                    "isPrebuilt": False, "type": "http", "title": "", "kind": "custom"}
    slack = next(t for t in listed if t["name"] == "prebuilt_slack")
    assert slack["isDefault"] is True and slack["isPrebuilt"] is True


@pytest.mark.parametrize(("body", "status", "text"), [
    ({"name": "t", "body": ""}, 400, "Template body cannot be empty"),
    ({"name": " ", "body": "x"}, 400, "Template name cannot be empty"),
    ({"name": "a#b", "body": "x"}, 400,
     "Template name cannot contain ':', '#', '?', '&', '%', '/', quotes and space characters"),
    ({"name": "prebuilt_slack", "body": "x"}, 400, "Template name 'prebuilt_slack' is reserved "
     "for system prebuilt templates. Pick a different name."),
    ({"name": "t", "body": "x", "type": "email"}, 400, "Email Template cannot have empty title"),
    ({"name": "t", "body": "x", "kind": "fancy"}, 400, "invalid template kind: fancy"),
])
def test_template_validation(http, body, status, text):
    response = http.post("/api/team/alerts/templates", json=body)
    assert (response.status_code, response.json()) == (status, {"code": status, "message": text})


def test_template_duplicates_updates_and_kind(http, fake):
    add_template(http, "t")
    dup = http.post("/api/team/alerts/templates", json={"name": "t", "body": "x"})
    assert dup.json() == {"code": 400, "message": "Template with the same name already exists"}
    unknown = http.put("/api/team/alerts/templates/nope", json={"body": "x"})
    assert unknown.json() == {"code": 404, "message": "Template not found"}
    http.post("/api/team/alerts/templates", json={"name": "c", "body": "{}", "kind": "content"})
    kept = http.put("/api/team/alerts/templates/c", json={"body": '{"title": "x"}'})
    assert kept.json()["message"] == "Template updated"
    assert http.get("/api/team/alerts/templates/c").json()["kind"] == "content"


def test_template_in_use_cannot_be_deleted(http):
    add_template(http, "tpl")
    http.post("/api/team/alerts/destinations", json=destination(template="tpl"))
    by_destination = http.delete("/api/team/alerts/templates/tpl")
    assert by_destination.json() == {"code": 409,
                                     "message": "Template is in use for destination ops_webhook"}
    add_template(http, "direct")
    created = http.post("/api/v2/team/alerts", json={
        "name": "a1", "stream_name": "app_logs", "destinations": ["ops_webhook"],
        "template": "direct"})
    assert created.status_code == 200, created.text
    by_alert = http.delete("/api/team/alerts/templates/direct")
    assert by_alert.json() == {"code": 400, "message": "Template is in use for alert a1"}
    assert http.delete("/api/team/alerts/templates/nope").json() == {
        "code": 404, "message": "Template not found"}


def test_non_root_users_cannot_touch_system_templates(fake):
    fake.add_user("dev@example.com", "pw", orgs=["team"])
    with httpx.Client(base_url="http://o2", transport=fake.transport(),
                      auth=("dev@example.com", "pw")) as http:
        response = http.delete("/api/team/alerts/templates/prebuilt_slack")
        assert response.status_code == 403
        assert "is a system prebuilt template" in response.json()["message"]
