"""Stream creation in the fake, as ``create_stream`` in OpenObserve's src/stream/src/lib.rs."""

from __future__ import annotations

import httpx
import pytest

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve


@pytest.fixture()
def http() -> httpx.Client:
    fake = FakeOpenObserve()
    return httpx.Client(base_url="http://o2", transport=fake.transport(),
                        auth=(DEFAULT_USER, DEFAULT_PASSWORD))


def test_create_then_schema_has_fields_and_timestamp(http: httpx.Client) -> None:
    r = http.post("/api/default/streams/app", params={"type": "logs"},
                  json={"fields": [{"name": "level", "type": "Utf8"}], "settings": {}})
    assert (r.status_code, r.json()) == (200, {"code": 200, "message": "stream created"})
    schema = http.get("/api/default/streams/app/schema", params={"type": "logs"}).json()
    assert {f["name"]: f["type"] for f in schema["schema"]} == {"level": "Utf8",
                                                               "_timestamp": "Int64"}


def test_existing_stream_and_bad_type_are_400(http: httpx.Client) -> None:
    body = {"fields": [{"name": "a", "type": "Utf8"}], "settings": {}}
    assert http.post("/api/default/streams/s", json=body).status_code == 200
    again = http.post("/api/default/streams/s", json=body)
    assert (again.status_code, again.json()["message"]) == (400, "stream already exists")
    bad = http.post("/api/default/streams/t",
                    json={"fields": [{"name": "a", "type": "Text"}], "settings": {}})
    assert (bad.status_code, bad.json()["message"]) == (400, "invalid data type: Text")


def test_missing_settings_key_is_a_422_plain_text(http: httpx.Client) -> None:
    r = http.post("/api/default/streams/s", json={"fields": []})
    assert r.status_code == 422
    assert r.text.startswith("Failed to deserialize the JSON body into the target type")
