"""The fake OpenObserve's transport conventions: auth, error shapes, routing, streams, health.

Expected shapes from ``core/src/auth.rs`` (JSON 401 without credentials),
``api/common/src/auth/validator.rs`` (plain-text 401 / 404), ``common/src/meta/http.rs`` and
``api/management/src/request/stream/mod.rs``.
"""

from __future__ import annotations

import httpx
import pytest

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve


@pytest.fixture
def fake() -> FakeOpenObserve:
    fake = FakeOpenObserve(orgs=["default", "team"])
    fake.add_user("dev@example.com", "devpass", orgs=["team"])
    fake.add_stream("default", "app_logs", fields={"_timestamp": "Int64", "level": "Utf8"})
    fake.add_stream("default", "cpu", "metrics", fields={"_timestamp": "Int64", "value": "Float64"})
    return fake


def client(fake: FakeOpenObserve, auth: tuple[str, str] | None = (DEFAULT_USER,
                                                                    DEFAULT_PASSWORD)):
    return httpx.Client(base_url="http://o2.test", transport=fake.transport(), auth=auth)


def test_no_credentials_is_a_json_401_even_for_unknown_paths(fake):
    with client(fake, auth=None) as http:
        for path in ("/api/default/dashboards", "/api/default/no/such/route"):
            response = http.get(path)
            assert response.status_code == 401
            assert response.json() == {"code": 401, "message": "Unauthorized Access"}


def test_bad_credentials_are_plain_text_with_a_challenge(fake):
    with client(fake, auth=(DEFAULT_USER, "wrong")) as http:
        response = http.get("/api/default/dashboards")
    assert response.status_code == 401 and response.text == "Unauthorized Access"
    assert response.headers["www-authenticate"] == 'Bearer realm="openobserve"'


def test_bearer_tokens_are_not_supported(fake):
    with client(fake, auth=None) as http:
        response = http.get("/api/default/dashboards", headers={"Authorization": "Bearer abc"})
    assert (response.status_code, response.text) == (401, "Not Supported")


def test_non_members_are_401_and_unknown_orgs_404(fake):
    with client(fake, auth=("dev@example.com", "devpass")) as http:
        assert http.get("/api/team/dashboards").status_code == 200
        assert http.get("/api/default/dashboards").status_code == 401
    with client(fake) as http:
        missing = http.get("/api/nope/dashboards")
        assert (missing.status_code, missing.text) == (404, "Organization not found")
        v2 = http.get("/api/v2/nope/alerts")
        assert (v2.status_code, v2.text) == (404, "Organization not found")


def test_unknown_path_is_an_empty_404_and_wrong_method_an_empty_405(fake):
    with client(fake) as http:
        unknown = http.get("/api/default/no_such_thing/here")
        assert (unknown.status_code, unknown.content) == (404, b"")
        wrong = http.patch("/api/default/dashboards")
        assert (wrong.status_code, wrong.content) == (405, b"")
        legacy = http.get("/api/default/folders")  # v1 folder routes are gone
        assert legacy.status_code == 404


def test_healthz_and_config_need_no_credentials(fake):
    with client(fake, auth=None) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.head("/healthz").status_code == 200
        config = http.get("/config").json()
        assert config["timestamp_column"] == "_timestamp"
        assert config["build_type"] == "opensource"


def test_base_uri_prefix(fake):
    prefixed = FakeOpenObserve(base_uri="/observe")
    with httpx.Client(base_url="http://o2/observe", transport=prefixed.transport(),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD)) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/api/default/dashboards").status_code == 200
    with client(prefixed) as http:
        assert http.get("/healthz").status_code == 404


def test_handle_is_usable_without_httpx(fake):
    import base64

    token = base64.b64encode(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}".encode()).decode()
    status, headers, body = fake.handle("GET", "/api/default/streams", {"type": "logs"},
                                        {"Authorization": f"Basic {token}"}, b"")
    assert status == 200 and headers["content-type"] == "application/json"
    assert b'"app_logs"' in body


def test_stream_list_and_schema(fake):
    with client(fake) as http:
        logs = http.get("/api/default/streams", params={"type": "logs"}).json()
        assert logs["total"] == 1 and [s["name"] for s in logs["list"]] == ["app_logs"]
        assert logs["list"][0]["stream_type"] == "logs" and logs["list"][0]["schema"] == []
        every = http.get("/api/default/streams").json()
        assert sorted(s["name"] for s in every["list"]) == ["app_logs", "cpu"]
        schema = http.get("/api/default/streams/app_logs/schema", params={"type": "logs"}).json()
        assert schema["schema"] == [{"name": "_timestamp", "type": "Int64"},
                                    {"name": "level", "type": "Utf8"}]
        assert schema["total_fields"] == 2 and schema["settings"]["max_query_range"] == 0
        wrong_type = http.get("/api/default/streams/app_logs/schema", params={"type": "metrics"})
        assert wrong_type.json() == {"code": 404, "message": "stream not found"}
        bad = http.get("/api/default/streams", params={"fetchSchema": "yes"})
        assert bad.status_code == 400


def test_request_log_counts_requests_and_writes(fake):
    with client(fake) as http:
        http.get("/api/default/dashboards")
        http.post("/api/v2/default/folders/dashboards", json={"name": "x", "description": ""})
        http.post("/api/v2/default/folders/dashboards", json={"name": "x", "description": ""})
    assert [(r.method, r.status) for r in fake.request_log] == [
        ("GET", 200), ("POST", 200), ("POST", 400)]
    assert fake.write_count() == 1
