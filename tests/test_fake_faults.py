"""Injected faults and the loopback server of the fake OpenObserve."""

from __future__ import annotations

import httpx
import pytest

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults

AUTH = (DEFAULT_USER, DEFAULT_PASSWORD)


def outcomes(seed: int, faults: Faults, n: int = 40) -> list[object]:
    fake = FakeOpenObserve(seed=seed, faults=faults)
    seen: list[object] = []
    with httpx.Client(base_url="http://o2", transport=fake.transport(), auth=AUTH) as http:
        for i in range(n):
            try:
                response = http.post("/api/v2/default/folders/dashboards",
                                     json={"name": f"f{i}", "description": ""})
                seen.append(response.status_code)
            except httpx.HTTPError as err:
                seen.append(type(err).__name__)
    return seen


def test_faults_are_reproducible_from_the_seed():
    faults = Faults(error_rate=0.2, drop_rate=0.1, lost_response_rate=0.1)
    first, again, other = outcomes(11, faults), outcomes(11, faults), outcomes(12, faults)
    assert first == again
    assert first != other
    assert {"ConnectError", "ReadTimeout", 200} <= set(first)
    assert set(first) & {429, 502, 503, 504}


def test_injected_errors_happen_before_the_handler():
    fake = FakeOpenObserve(faults=Faults(error_rate=1.0, error_statuses=(429,), retry_after_s=2))
    with httpx.Client(base_url="http://o2", transport=fake.transport(), auth=AUTH) as http:
        response = http.post("/api/v2/default/folders/dashboards",
                             json={"name": "x", "description": ""})
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert fake.folders() == [] and fake.write_count() == 0
    assert fake.request_log[-1].fault == "error"


def test_a_lost_response_still_applies_the_write():
    fake = FakeOpenObserve(faults=Faults(lost_response_rate=1.0))
    with httpx.Client(base_url="http://o2", transport=fake.transport(), auth=AUTH) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post("/api/v2/default/folders/dashboards", json={"name": "x",
                                                                  "description": ""})
        assert http.get("/api/v2/default/folders/dashboards").status_code == 200  # reads pass
    assert [f["name"] for f in fake.folders()] == ["x"]
    assert fake.write_count() == 1 and fake.request_log[0].fault == "lost"


def test_a_dropped_request_is_not_applied():
    fake = FakeOpenObserve(faults=Faults(drop_rate=1.0, drop_as="disconnect"))
    with httpx.Client(base_url="http://o2", transport=fake.transport(), auth=AUTH) as http, \
            pytest.raises(httpx.RemoteProtocolError):
        http.post("/api/v2/default/folders/dashboards", json={"name": "x", "description": ""})
    assert fake.folders() == [] and fake.request_log[0].status is None


def test_only_methods_limits_the_faults_and_faults_can_change_any_time():
    fake = FakeOpenObserve(faults=Faults(error_rate=1.0, only_methods=frozenset({"POST"})))
    with httpx.Client(base_url="http://o2", transport=fake.transport(), auth=AUTH) as http:
        assert http.get("/api/default/dashboards").status_code == 200
        assert http.post("/api/v2/default/folders/dashboards",
                         json={"name": "x", "description": ""}).status_code in (429, 502, 503,
                                                                                  504)
        fake.faults = Faults()
        assert http.post("/api/v2/default/folders/dashboards",
                         json={"name": "x", "description": ""}).status_code == 200


def test_latency_is_added_per_request():
    slept: list[float] = []
    fake = FakeOpenObserve(faults=Faults(latency_s=0.02), sleep=slept.append)
    with httpx.Client(base_url="http://o2", transport=fake.transport(), auth=AUTH) as http:
        http.get("/healthz")
        http.get("/api/default/dashboards")
    assert slept == [0.02, 0.02]


def test_rates_are_validated():
    with pytest.raises(ValueError):
        Faults(error_rate=1.5)


def test_loopback_server_serves_the_same_api():
    fake = FakeOpenObserve()
    with fake.serve() as server:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url, auth=AUTH) as http:
            created = http.post("/api/v2/default/folders/dashboards",
                                json={"name": "Infra", "description": ""})
            assert created.status_code == 200
            assert http.get("/api/v2/default/folders/dashboards").json()["list"][0]["name"] \
                == "Infra"
            assert http.get("/api/nope/dashboards").text == "Organization not found"


def test_loopback_server_drops_and_loses_responses():
    fake = FakeOpenObserve(faults=Faults(lost_response_rate=1.0))
    with fake.serve() as server, httpx.Client(base_url=server.url, auth=AUTH) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/api/v2/default/folders/dashboards", json={"name": "x",
                                                                  "description": ""})
        assert [f["name"] for f in fake.folders()] == ["x"]  # applied, answer lost
        fake.faults = Faults(drop_rate=1.0)
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/api/v2/default/folders/dashboards", json={"name": "y",
                                                                  "description": ""})
        assert [f["name"] for f in fake.folders()] == ["x"]


def test_serve_refuses_non_loopback_hosts():
    with pytest.raises(ValueError):
        FakeOpenObserve().serve(host="0.0.0.0")
