"""The HTTP client against scripted in-memory answers (``httpx.MockTransport``).

What is checked: how requests are built (auth, prefix, encoding, bodies, routes), the retry
policy (which failures are retried, the delays asked of the injected ``sleep``), the mapping of
error answers to messages and error classes, bounded concurrency and the counters. No real
sleeping and no network: ``sleep`` and ``random`` are injected and the transport is in memory.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import certifi
import httpx
import pytest

from o2kit.errors import ApiError, AuthError, ConfigError, Conflict, NotFound, TransportError
from o2kit.project.config import ServerSettings
from o2kit.sync.client import OpenObserveClient, retry_after_seconds, tls_verify

PASSWORD = "s3cret-Pa55word"
USER = "ops@example.com"

Step = httpx.Response | type[Exception] | Exception

ENVELOPE = {"v8": {"title": "t"}, "version": 8, "hash": "1290", "updatedAt": 0}
ALERT_ID = "2l9ZxvS3fgTbV3M4b1BfJzk3Ldz"


def make_settings(**overrides: Any) -> ServerSettings:
    values: dict[str, Any] = {
        "url": "https://o2.example.com/observe",
        "org": "default",
        "user": USER,
        "password": PASSWORD,
        "retries": 3,
        "concurrency": 4,
    }
    values.update(overrides)
    return ServerSettings(**values)


@dataclass
class Harness:
    """A client whose server answers from a script; records requests and requested delays."""

    steps: Sequence[Step]
    settings: ServerSettings = field(default_factory=make_settings)
    jitter: float = 1.0
    requests: list[httpx.Request] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = OpenObserveClient(
            self.settings,
            transport=httpx.MockTransport(self._answer),
            sleep=self.delays.append,
            random=lambda: self.jitter,
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        # The last step repeats, so "always 503" is a one-step script.
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, type) and issubclass(step, httpx.TransportError):
            raise step(f"scripted {step.__name__}", request=request)
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, httpx.Response)
        return step


def ok(data: Any = None, **kwargs: Any) -> httpx.Response:
    if data is None:
        data = {"code": 200, "message": "ok"}
    return httpx.Response(200, json=data, **kwargs)


def envelope(status: int, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"code": status, "message": message, **extra})


# -- how requests are built ---------------------------------------------------------------------


def test_basic_auth_header_and_json_body() -> None:
    h = Harness([ok({"folderId": "7395551234567890123", "name": "Bedrock", "description": ""})])
    folder = h.client.create_folder("dashboards", {"name": "Bedrock", "description": ""})
    assert folder["folderId"] == "7395551234567890123"
    (request,) = h.requests
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"name": "Bedrock", "description": ""}


WRITES: list[Callable[[OpenObserveClient], dict[str, Any]]] = [
    lambda c: c.create_dashboard("default", {"title": "t"}),
    lambda c: c.update_dashboard("5", "default", "77", {"title": "t"}),
]


@pytest.mark.parametrize("write", WRITES, ids=["create", "update"])
def test_a_written_dashboard_comes_back_in_outline_and_a_wrong_answer_is_still_named(
    write: Callable[[OpenObserveClient], dict[str, Any]]
) -> None:
    """Apply needs the written dashboard's id and hash, not the ~250 KB of panels it sent."""
    panel = {"id": "p1", "type": "line", "queries": [{"query": "SELECT 1", "fields": {"x": []}}]}
    inner = {"dashboardId": "7395551234567890123", "title": "t", "description": "d",
             "tabs": [{"tabId": "default", "name": "Default", "panels": [panel, panel]}],
             "variables": {"list": [{"name": "v"}]}}
    answer = {"v1": None, "v8": inner, "version": 8, "hash": "1290", "updatedAt": 7}
    h = Harness([ok(answer)])
    got = write(h.client)
    tab = {"tabId": "default", "name": "Default", "panels": [{}, {}]}
    assert got == {**answer, "v8": {**inner, "tabs": [tab]}}

    for wrong in ([answer], {"v8": inner}, {"v8": {"tabs": "x"}, "version": 8}):
        h = Harness([ok(wrong)])
        with pytest.raises(ApiError) as caught:
            write(h.client)
        assert "expected a dashboard envelope with a hash" in caught.value.message
        assert caught.value.ambiguous  # a 2xx to a write: it may have happened
    h = Harness([httpx.Response(200, text="<html>proxy</html>")])
    with pytest.raises(ApiError, match="the answer is not JSON"):
        write(h.client)


def test_a_sent_body_is_freed_when_the_call_returns_without_the_collector() -> None:
    """apply slows the cyclic collector down; a request (with the ~250 KB body it carried) must
    not wait for it: at 1,000 creates ~400 bodies were held at once."""
    import gc
    import weakref

    sent: list[weakref.ref[httpx.Request]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(weakref.ref(request))
        return httpx.Response(200, json=ENVELOPE)

    client = OpenObserveClient(make_settings(), transport=httpx.MockTransport(answer))
    enabled = gc.isenabled()
    gc.disable()
    try:
        client.create_dashboard("default", {"title": "t", "panels": ["x" * 100_000]})
        client.get_dashboard("7395551234567890123")
        assert len(sent) == 2 and [ref() for ref in sent] == [None, None]
    finally:
        if enabled:
            gc.enable()
        client.close()


def test_get_and_delete_carry_no_body_or_content_type() -> None:
    h = Harness([ok({"list": []})])
    h.client.list_folders("alerts")
    h.client.delete_alert("2abcdefghijklmnopqrstuvwxyz")
    for request in h.requests:
        assert request.content == b""
        assert "Content-Type" not in request.headers


@pytest.mark.parametrize(
    ("url", "expected_path"),
    [
        ("https://o2.example.com", "/api/v2/default/folders/dashboards"),
        ("https://o2.example.com/", "/api/v2/default/folders/dashboards"),
        ("https://o2.example.com/observe", "/observe/api/v2/default/folders/dashboards"),
        ("https://o2.example.com/observe/", "/observe/api/v2/default/folders/dashboards"),
        ("http://10.0.0.5:5080/a/b", "/a/b/api/v2/default/folders/dashboards"),
    ],
)
def test_base_url_path_prefix(url: str, expected_path: str) -> None:
    h = Harness([ok({"list": []})], settings=make_settings(url=url))
    h.client.list_folders("dashboards")
    assert h.requests[0].url.raw_path.decode() == expected_path
    assert h.requests[0].url.host == httpx.URL(url).host


def test_healthz_lives_under_the_prefix_too() -> None:
    # Non-router and router nodes both nest /healthz under ZO_BASE_URI
    # (src/api/http/src/handler/http/router/mod.rs `create_app_router`).
    h = Harness([ok({"status": "ok"})])
    assert h.client.healthz() is True
    assert h.requests[0].url.raw_path == b"/observe/healthz"


def test_path_segments_and_query_values_are_percent_encoded() -> None:
    h = Harness([ok(), ok(ENVELOPE)], settings=make_settings(org="team a"))
    h.client.delete_template("my tmpl/x%?#")
    h.client.update_dashboard("123", "folder 1&2", "42", {"title": "t"})
    assert (
        h.requests[0].url.raw_path
        == b"/observe/api/team%20a/alerts/templates/my%20tmpl%2Fx%25%3F%23"
    )
    put = h.requests[1]
    assert put.url.raw_path.split(b"?")[0] == b"/observe/api/team%20a/dashboards/123"
    assert dict(put.url.params) == {"folder": "folder 1&2", "hash": "42"}


# fmt: off
ROUTES: list[tuple[Callable[[OpenObserveClient], Any], Any, str, str, dict[str, str], Any]] = [
    # (call, answer, method, path, query, what the call returns)
    (lambda c: c.list_folders("dashboards"), {"list": [{"folderId": "1"}]},
     "GET", "/api/v2/default/folders/dashboards", {}, [{"folderId": "1"}]),
    (lambda c: c.update_folder("alerts", "9", {"name": "n", "description": ""}), {},
     "PUT", "/api/v2/default/folders/alerts/9", {}, None),
    (lambda c: c.delete_folder("dashboards", "9"), {},
     "DELETE", "/api/v2/default/folders/dashboards/9", {}, None),
    (lambda c: c.list_dashboards("9"), {"dashboards": [{"dashboard_id": "5", "hash": "1"}]},
     "GET", "/api/default/dashboards", {"folder": "9"}, [{"dashboard_id": "5", "hash": "1"}]),
    (lambda c: c.get_dashboard("5"), ENVELOPE,
     "GET", "/api/default/dashboards/5", {}, ENVELOPE),
    (lambda c: c.create_dashboard("9", {"title": "t"}), ENVELOPE,
     "POST", "/api/default/dashboards", {"folder": "9"}, ENVELOPE),
    (lambda c: c.update_dashboard("5", "9", "77", {"title": "t"}), ENVELOPE,
     "PUT", "/api/default/dashboards/5", {"folder": "9", "hash": "77"}, ENVELOPE),
    (lambda c: c.delete_dashboard("5"), {},
     "DELETE", "/api/default/dashboards/5", {}, None),
    (lambda c: c.list_alerts(), {"list": [{"alert_id": ALERT_ID}]},
     "GET", "/api/v2/default/alerts", {}, [{"alert_id": ALERT_ID}]),
    (lambda c: c.list_alerts("9"), {"list": []},
     "GET", "/api/v2/default/alerts", {"folder": "9"}, []),
    (lambda c: c.get_alert(ALERT_ID), {"name": "a"},
     "GET", f"/api/v2/default/alerts/{ALERT_ID}", {}, {"name": "a"}),
    (lambda c: c.create_alert("9", {"name": "a"}),
     {"code": 200, "message": "Alert saved", "id": ALERT_ID, "name": "a"},
     "POST", "/api/v2/default/alerts", {"folder": "9"}, ALERT_ID),
    (lambda c: c.update_alert(ALERT_ID, {"name": "a"}), {},
     "PUT", f"/api/v2/default/alerts/{ALERT_ID}", {}, None),
    (lambda c: c.delete_alert(ALERT_ID), {},
     "DELETE", f"/api/v2/default/alerts/{ALERT_ID}", {}, None),
    (lambda c: c.list_destinations(), [{"name": "ops"}],
     "GET", "/api/default/alerts/destinations", {"module": "alert"}, [{"name": "ops"}]),
    (lambda c: c.create_destination({"name": "ops"}), {},
     "POST", "/api/default/alerts/destinations", {}, None),
    (lambda c: c.update_destination("ops", {"name": "ops"}), {},
     "PUT", "/api/default/alerts/destinations/ops", {}, None),
    (lambda c: c.delete_destination("ops"), {},
     "DELETE", "/api/default/alerts/destinations/ops", {}, None),
    (lambda c: c.list_templates(), [{"name": "t"}],
     "GET", "/api/default/alerts/templates", {}, [{"name": "t"}]),
    (lambda c: c.create_template({"name": "t"}), {},
     "POST", "/api/default/alerts/templates", {}, None),
    (lambda c: c.update_template("t", {"name": "t"}), {},
     "PUT", "/api/default/alerts/templates/t", {}, None),
    (lambda c: c.delete_template("t"), {},
     "DELETE", "/api/default/alerts/templates/t", {}, None),
    (lambda c: c.list_streams("metrics"), {"list": [{"name": "m"}], "total": 1},
     "GET", "/api/default/streams", {"type": "metrics"}, [{"name": "m"}]),
    (lambda c: c.stream_schema("bedrock_logs"), {"name": "bedrock_logs", "schema": []},
     "GET", "/api/default/streams/bedrock_logs/schema", {"type": "logs"},
     {"name": "bedrock_logs", "schema": []}),
]
# fmt: on


@pytest.mark.parametrize(("call", "answer", "method", "path", "params", "expected"), ROUTES)
def test_endpoint_routes_and_answers(
    call: Callable[[OpenObserveClient], Any],
    answer: Any,
    method: str,
    path: str,
    params: dict[str, str],
    expected: Any,
) -> None:
    h = Harness([ok(answer)], settings=make_settings(url="https://o2.example.com"))
    assert call(h.client) == expected
    (request,) = h.requests
    assert request.method == method
    assert request.url.path == path
    assert dict(request.url.params) == params


def test_unknown_folder_type_is_a_programming_error() -> None:
    h = Harness([ok({"list": []})])
    with pytest.raises(ValueError, match="folder type"):
        h.client.list_folders("dashboard")
    assert h.requests == []


# -- retries: which, and how long to wait ---------------------------------------------------------


def test_get_retries_with_exponential_backoff_and_full_jitter() -> None:
    h = Harness(
        [httpx.Response(503), httpx.Response(502), httpx.Response(504), ok({"list": []})],
        jitter=0.5,
    )
    assert h.client.list_folders("dashboards") == []
    # ceiling 0.5 s doubling per retry, times random() = 0.5
    assert h.delays == [0.25, 0.5, 1.0]
    assert h.client.request_count == 4


def test_backoff_ceiling_is_capped_and_retries_are_bounded() -> None:
    h = Harness([httpx.Response(503)], settings=make_settings(retries=6), jitter=1.0)
    with pytest.raises(ApiError) as info:
        h.client.list_alerts()
    assert h.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert len(h.requests) == 7
    assert info.value.status == 503
    assert info.value.attempts == 7  # type: ignore[attr-defined]
    assert info.value.ambiguous is False  # type: ignore[attr-defined]
    assert "(after 7 attempts)" in info.value.message


def test_retries_zero_means_one_attempt() -> None:
    h = Harness([httpx.Response(503)], settings=make_settings(retries=0))
    with pytest.raises(ApiError):
        h.client.get_alert(ALERT_ID)
    assert len(h.requests) == 1
    assert h.delays == []


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
        httpx.ReadError,
    ],
)
def test_get_retries_connection_failures(failure: type[Exception]) -> None:
    h = Harness([failure, failure, ok({"list": []})], jitter=1.0)
    assert h.client.list_streams() == []
    assert h.delays == [0.5, 1.0]


def test_get_gives_up_with_transport_error_naming_the_resource() -> None:
    h = Harness([httpx.ConnectError], settings=make_settings(retries=2))
    with pytest.raises(TransportError) as info:
        h.client.list_dashboards("9", resource='dashboards in folder "Bedrock"')
    assert info.value.message.startswith(
        'GET /observe/api/default/dashboards (dashboards in folder "Bedrock"): could not connect'
    )
    assert info.value.ambiguous is False  # type: ignore[attr-defined]
    assert info.value.attempts == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "0"}, 0.0),
        (
            {
                "Retry-After": "Wed, 21 Oct 2026 07:28:12 GMT",
                "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
            12.0,
        ),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past: go now
        ({"Retry-After": "3600"}, 30.0),  # capped (client.RETRY_AFTER_CAP)
    ],
)
def test_retry_after_is_honoured_on_429(headers: dict[str, str], expected: float) -> None:
    h = Harness([httpx.Response(429, headers=headers), ok({"list": []})], jitter=0.123)
    h.client.list_folders("alerts")
    assert h.delays == [expected]


def test_retry_after_is_honoured_on_503_but_not_on_502() -> None:
    h = Harness(
        [
            httpx.Response(503, headers={"Retry-After": "3"}),
            httpx.Response(502, headers={"Retry-After": "3"}),
            ok([]),
        ],
        jitter=1.0,
    )
    h.client.list_templates()
    assert h.delays == [3.0, 1.0]  # the 502's Retry-After is ignored: backoff for retry 2


def test_unreadable_retry_after_falls_back_to_backoff() -> None:
    h = Harness([httpx.Response(429, headers={"Retry-After": "soon"}), ok([])], jitter=1.0)
    h.client.list_templates()
    assert h.delays == [0.5]


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        ("120", None, 120.0),
        ("1.5", None, 1.5),
        ("-4", None, 0.0),
        ("", None, None),
        ("Thu, 01 Jan 2026 00:01:00 GMT", "Thu, 01 Jan 2026 00:00:00 GMT", 60.0),
        ("not a date", None, None),
    ],
)
def test_retry_after_parsing(value: str, date: str | None, expected: float | None) -> None:
    headers = {"Retry-After": value} | ({"Date": date} if date else {})
    assert retry_after_seconds(httpx.Response(429, headers=headers)) == expected


# -- retries of writes: never a duplicate ---------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_post_is_not_retried_on_5xx_and_is_ambiguous(status: int) -> None:
    h = Harness([envelope(status, "upstream trouble"), ok({"id": ALERT_ID})])
    with pytest.raises(ApiError) as info:
        h.client.create_alert("9", {"name": "a"}, resource='alert "Bedrock/High latency"')
    assert len(h.requests) == 1
    assert h.delays == []
    assert info.value.status == status
    assert info.value.ambiguous is True  # type: ignore[attr-defined]
    assert info.value.attempts == 1  # type: ignore[attr-defined]
    assert "may or may not have been applied" in (info.value.remedy or "")


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteTimeout]
)
def test_post_is_not_retried_when_it_may_have_been_sent(failure: type[Exception]) -> None:
    h = Harness([failure, ok(ENVELOPE)])
    with pytest.raises(TransportError) as info:
        h.client.create_dashboard("9", {"title": "t"}, resource='dashboard "Bedrock/Overview"')
    assert len(h.requests) == 1
    assert info.value.ambiguous is True  # type: ignore[attr-defined]
    assert info.value.message.startswith(
        'POST /observe/api/default/dashboards (dashboard "Bedrock/Overview"): '
    )


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_post_is_retried_when_it_never_left(failure: type[Exception]) -> None:
    h = Harness(
        [failure, failure, ok({"code": 200, "message": "Alert saved", "id": ALERT_ID})], jitter=1.0
    )
    assert h.client.create_alert("9", {"name": "a"}) == ALERT_ID
    assert len(h.requests) == 3
    assert h.delays == [0.5, 1.0]
    assert h.client.write_count == 3


def test_post_is_retried_on_429_honouring_retry_after() -> None:
    h = Harness([httpx.Response(429, headers={"Retry-After": "2"}), ok()])
    h.client.create_template({"name": "t", "body": "{}"})
    assert h.delays == [2.0]
    assert len(h.requests) == 2


def test_post_that_never_left_and_then_got_4xx_is_not_ambiguous() -> None:
    h = Harness(
        [httpx.ConnectError, envelope(400, "Destination with the same name already exists")]
    )
    with pytest.raises(ApiError) as info:
        h.client.create_destination({"name": "ops"})
    assert info.value.status == 400
    assert info.value.ambiguous is False  # type: ignore[attr-defined]
    assert info.value.attempts == 2  # type: ignore[attr-defined]


def test_429_means_not_processed_so_a_later_answer_is_taken_at_its_word() -> None:
    h = Harness(
        [
            httpx.Response(429),
            envelope(404, "Destination not found"),
            httpx.Response(429),
            envelope(400, "Template with the same name already exists"),
        ]
    )
    with pytest.raises(NotFound):
        h.client.delete_destination("ops")
    with pytest.raises(ApiError) as info:
        h.client.create_template({"name": "t"})
    assert info.value.ambiguous is False  # type: ignore[attr-defined]
    assert info.value.attempts == 2  # type: ignore[attr-defined]


def test_post_connect_error_then_5xx_is_ambiguous() -> None:
    h = Harness([httpx.ConnectError, httpx.Response(502)])
    with pytest.raises(ApiError) as info:
        h.client.create_folder("alerts", {"name": "x", "description": ""})
    assert len(h.requests) == 2
    assert info.value.ambiguous is True  # type: ignore[attr-defined]


def test_delete_404_after_a_lost_answer_counts_as_done() -> None:
    h = Harness([httpx.ReadTimeout, envelope(404, "Dashboard not found")])
    assert h.client.delete_dashboard("5") is None
    assert [r.method for r in h.requests] == ["DELETE", "DELETE"]


def test_delete_404_after_a_gateway_timeout_counts_as_done() -> None:
    h = Harness([httpx.Response(504), envelope(404, "Alert destination not found")])
    h.client.delete_destination("ops")
    assert len(h.requests) == 2


def test_delete_404_at_first_attempt_is_not_found() -> None:
    h = Harness([envelope(404, "Dashboard not found")])
    with pytest.raises(NotFound) as info:
        h.client.delete_dashboard("5", resource='dashboard "Bedrock/Overview"')
    assert info.value.message == (
        'DELETE /observe/api/default/dashboards/5 (dashboard "Bedrock/Overview"): '
        "404 Dashboard not found"
    )
    assert info.value.ambiguous is False  # type: ignore[attr-defined]


def test_delete_404_after_a_connect_error_is_still_not_found() -> None:
    # The first attempt never reached the server, so the 404 is the server's honest answer.
    h = Harness([httpx.ConnectError, envelope(404, "alert x not found")])
    with pytest.raises(NotFound):
        h.client.delete_alert(ALERT_ID)


def test_put_retried_after_a_lost_answer_reports_the_servers_409_as_ambiguous() -> None:
    conflict = envelope(409, "Conflict: Failed to save due to concurrent changes.")
    h = Harness([httpx.ReadTimeout, conflict])
    with pytest.raises(Conflict) as info:
        h.client.update_dashboard("5", "9", "77", {"title": "t"}, resource='dashboard "B/O"')
    assert info.value.attempts == 2  # type: ignore[attr-defined]
    assert info.value.ambiguous is True  # type: ignore[attr-defined]
    assert info.value.status == 409


def test_put_first_attempt_409_is_a_plain_conflict() -> None:
    h = Harness([envelope(409, "Conflict: Failed to save due to concurrent changes.")])
    with pytest.raises(Conflict) as info:
        h.client.update_dashboard("5", "9", "77", {"title": "t"})
    assert info.value.attempts == 1  # type: ignore[attr-defined]
    assert info.value.ambiguous is False  # type: ignore[attr-defined]


def test_put_is_retried_on_gateway_errors() -> None:
    h = Harness([httpx.Response(502), ok(ENVELOPE)], jitter=1.0)
    assert h.client.update_dashboard("5", "9", "77", {"title": "t"})["hash"] == "1290"
    assert h.delays == [0.5]


def test_500_is_not_retried_even_for_get() -> None:
    h = Harness([envelope(500, "Internal error")])
    with pytest.raises(ApiError):
        h.client.get_dashboard("5")
    assert len(h.requests) == 1


def test_tls_certificate_failure_is_not_retried_and_says_what_to_do() -> None:
    def untrusted(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
        except ssl.SSLError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc

    delays: list[float] = []
    client = OpenObserveClient(
        make_settings(), transport=httpx.MockTransport(untrusted), sleep=delays.append
    )
    with pytest.raises(TransportError) as info:
        client.list_templates()
    assert client.request_count == 1
    assert delays == []
    assert "OPENOBSERVE_CA_BUNDLE" in (info.value.remedy or "")
    with pytest.raises(TransportError):  # a health check does not hide it either
        client.healthz()


# -- error answers become clear messages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "cls", "tail"),
    [
        (envelope(404, "Dashboard not found"), NotFound, "404 Dashboard not found"),
        (
            envelope(400, "Search SQL not valid", error_detail="column foo not found"),
            ApiError,
            "400 Search SQL not valid: column foo not found",
        ),
        (
            httpx.Response(
                422,
                text="Failed to deserialize the JSON body into the target type: "
                "tabs[0]: missing field `tabId`\n",
            ),
            ApiError,
            "422 Failed to deserialize the JSON body into the target type: tabs[0]: missing field "
            "`tabId`",
        ),
        (httpx.Response(401, text="Unauthorized Access"), AuthError, "401 Unauthorized Access"),
        (envelope(403, "Unauthorized Access"), AuthError, "403 Unauthorized Access"),
        (
            envelope(409, "Destination is currently used by alert: x"),
            Conflict,
            "409 Destination is currently used by alert: x",
        ),
        (httpx.Response(405), ApiError, "405 Method Not Allowed"),
        (httpx.Response(404), NotFound, "404 Not Found"),
        (
            httpx.Response(400, json={"code": "child_referenced"}),
            ApiError,
            '400 {"code":"child_referenced"}',
        ),
        (
            httpx.Response(
                413,
                text="<html><head><title>413 Request Entity Too Large</title></head>"
                "<body><h1>nginx</h1></body></html>",
                headers={"Content-Type": "text/html"},
            ),
            ApiError,
            "413 413 Request Entity Too Large",
        ),
        (
            httpx.Response(302, headers={"Location": "https://sso.example.com/login"}),
            ApiError,
            "302 Found, redirected to https://sso.example.com/login",
        ),
    ],
)
def test_error_answers_map_to_classes_and_messages(
    response: httpx.Response, cls: type[ApiError], tail: str
) -> None:
    h = Harness([response])
    with pytest.raises(ApiError) as info:
        h.client.get_dashboard("5", resource='dashboard "Bedrock/Overview"')
    assert type(info.value) is cls
    assert info.value.message == (
        f'GET /observe/api/default/dashboards/5 (dashboard "Bedrock/Overview"): {tail}'
    )
    assert info.value.status == response.status_code
    assert info.value.resource == 'dashboard "Bedrock/Overview"'


def test_long_plain_text_is_trimmed_and_truncated() -> None:
    h = Harness([httpx.Response(400, text="  " + "x" * 5000 + "\n\n")])
    with pytest.raises(ApiError) as info:
        h.client.list_folders("dashboards")
    said = info.value.message.split(": 400 ", 1)[1]
    assert said.startswith("xxx") and said.endswith("…")
    assert len(said) <= 300


def test_message_without_resource_has_no_parentheses() -> None:
    h = Harness([envelope(404, "Folder not found")])
    with pytest.raises(NotFound) as info:
        h.client.delete_folder("dashboards", "9")
    assert (
        info.value.message
        == "DELETE /observe/api/v2/default/folders/dashboards/9: 404 Folder not found"
    )


def test_empty_404_suggests_the_path_prefix_and_missing_org_says_so() -> None:
    h = Harness([httpx.Response(404), httpx.Response(404, text="Organization not found")])
    with pytest.raises(NotFound) as first:
        h.client.list_alerts()
    with pytest.raises(NotFound) as second:
        h.client.list_alerts()
    assert "ZO_BASE_URI" in (first.value.remedy or "")
    assert "'default'" in (second.value.remedy or "")


def test_secrets_never_reach_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="o2kit.sync.client")
    echo = httpx.Response(400, text=f"bad password {PASSWORD} for {USER}")
    h = Harness([httpx.ConnectError, echo])
    with pytest.raises(ApiError) as info:
        h.client.update_template("t", {"name": "t"})
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    texts = [
        info.value.message,
        info.value.body,
        info.value.url,
        str(info.value),
        *(r.getMessage() for r in caplog.records),
    ]
    for text in texts:
        assert PASSWORD not in text
        assert token not in text
    assert "***" in info.value.message


def test_each_request_is_logged_at_debug_with_status_and_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="o2kit.sync.client")
    h = Harness([httpx.Response(503), ok([])])
    h.client.list_templates()
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(lines) == 2
    assert lines[0].startswith("GET /observe/api/default/alerts/templates -> 503 (")
    assert lines[1].startswith("GET /observe/api/default/alerts/templates -> 200 (")
    assert all(line.endswith(" ms)") for line in lines)


@pytest.mark.parametrize(
    ("response", "call"),
    [
        (
            httpx.Response(200, text="<html>login</html>", headers={"Content-Type": "text/html"}),
            lambda c: c.list_folders("dashboards"),
        ),
        (ok({"items": []}), lambda c: c.list_folders("dashboards")),
        (ok({"list": ["not an object"]}), lambda c: c.list_alerts()),
        (ok({"code": 200, "message": "Alert saved"}), lambda c: c.create_alert("9", {})),
        (ok({"v8": {}}), lambda c: c.get_dashboard("5")),
        (ok({"message": "ok"}), lambda c: c.list_destinations()),
    ],
)
def test_unexpected_success_bodies_are_api_errors(
    response: httpx.Response, call: Callable[[OpenObserveClient], Any]
) -> None:
    h = Harness([response])
    with pytest.raises(ApiError) as info:
        call(h.client)
    assert info.value.message.startswith(f"{h.requests[0].method} /observe/api/")
    # A write that answered 2xx did happen: the caller must look before writing again.
    assert info.value.ambiguous is (h.requests[0].method == "POST")  # type: ignore[attr-defined]


def test_stream_schema_is_none_when_the_stream_does_not_exist() -> None:
    h = Harness([envelope(404, "stream not found")])
    assert h.client.stream_schema("bedrock_logs", "logs") is None


@pytest.mark.parametrize(
    ("step", "healthy"),
    [
        (ok({"status": "ok"}), True),
        (httpx.Response(503), False),
        (ok({"status": "starting"}), False),
        (httpx.ConnectError, False),
        (httpx.Response(200, text="ok"), False),
    ],
)
def test_healthz(step: Step, healthy: bool) -> None:
    h = Harness([step])
    assert h.client.healthz() is healthy
    assert len(h.requests) == 1  # one attempt: a health check should answer fast


# -- concurrency and counters ---------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3])
def test_map_keeps_at_most_concurrency_requests_in_flight(concurrency: int) -> None:
    lock = threading.Lock()
    in_flight = 0
    peak = 0
    # Requests wait for `concurrency` of them to be in flight together: fewer allowed would time
    # out the barrier, more would raise the peak.
    barrier = threading.Barrier(concurrency, timeout=5)

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        barrier.wait()
        with lock:
            in_flight -= 1
        return ok({"name": request.url.path.rsplit("/", 1)[-1]})

    client = OpenObserveClient(
        make_settings(concurrency=concurrency), transport=httpx.MockTransport(handler)
    )
    ids = [f"id{i}" for i in range(concurrency * 4)]
    results = client.map(lambda i: client.get_alert(i)["name"], ids)
    assert results == ids  # input order
    assert peak == concurrency
    assert client.request_count == len(ids)


def test_semaphore_bounds_requests_from_callers_own_threads() -> None:
    """The bound holds for threads the caller makes itself, not only inside ``map``."""
    changed = threading.Condition()
    in_flight = 0
    peak = 0
    gate = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with changed:
            in_flight += 1
            peak = max(peak, in_flight)
            changed.notify_all()
        gate.wait(timeout=5)
        with changed:
            in_flight -= 1
        return ok([])

    client = OpenObserveClient(make_settings(concurrency=2), transport=httpx.MockTransport(handler))
    threads = [threading.Thread(target=client.list_templates) for _ in range(6)]
    for t in threads:
        t.start()
    with changed:
        assert changed.wait_for(lambda: in_flight == 2, timeout=5)
        # Give the other four threads the chance to get in, were the bound not kept.
        changed.wait_for(lambda: in_flight > 2, timeout=0.2)
    gate.set()
    for t in threads:
        t.join(timeout=10)
    assert peak == 2
    assert client.request_count == 6


def test_map_returns_exceptions_in_place() -> None:
    h = Harness([ok({"name": "a"})])

    def work(n: int) -> int:
        if n % 2:
            raise NotFound(f"odd {n}")
        return n * 10

    results = h.client.map(work, range(5))
    assert results[0::2] == [0, 20, 40]
    assert [type(r) for r in results[1::2]] == [NotFound, NotFound]
    assert str(results[3]) == "odd 3"


def test_map_of_nothing_is_empty() -> None:
    h = Harness([ok()])
    assert h.client.map(lambda x: x, []) == []


def test_counters_count_every_attempt_and_writes_separately() -> None:
    h = Harness([httpx.Response(503), ok({"list": []}), ok(), httpx.Response(502), ok(), ok()])
    h.client.list_folders("dashboards")  # 2 attempts
    h.client.update_alert(ALERT_ID, {})  # 1
    h.client.delete_alert(ALERT_ID)  # 2 attempts (502, then ok)
    h.client.create_template({"name": "t"})  # 1
    assert h.client.request_count == 6
    assert h.client.write_count == 4
    assert [r.method for r in h.requests] == ["GET", "GET", "PUT", "DELETE", "DELETE", "POST"]


# -- TLS and URL settings -------------------------------------------------------------------------


def test_tls_verification_is_on_by_default() -> None:
    assert tls_verify(make_settings()) is True


def test_ca_bundle_builds_a_verifying_context() -> None:
    context = tls_verify(make_settings(ca_bundle=certifi.where()))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats()["x509_ca"] > 0


def test_missing_ca_bundle_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="not found"):
        tls_verify(make_settings(ca_bundle=str(tmp_path / "nope.pem")))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        tls_verify(make_settings(ca_bundle=str(bad)))


def test_insecure_disables_verification_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="o2kit.sync.client")
    assert tls_verify(make_settings(insecure=True)) is False
    assert any("verification is OFF" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "url",
    ["https://admin:pw@o2.example.com", "ftp://o2.example.com", "https://o2.example.com/?x=1"],
)
def test_bad_server_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        OpenObserveClient(make_settings(url=url), transport=httpx.MockTransport(lambda r: ok()))


def test_fair_slots_bound_the_holders_and_serve_the_waiting_in_order() -> None:
    """The client's request slots: at most n at once, and a slot freed goes to the thread that
    has waited longest, never back to the one that just released it (with a plain semaphore a
    dashboard list waited behind 1,000 alert reads)."""
    import threading
    import time

    from o2kit.sync.client import FairSlots

    slots = FairSlots(1)
    order: list[int] = []
    slots.__enter__()
    threads = []
    for i in range(4):
        t = threading.Thread(target=lambda i=i: (slots.__enter__(), order.append(i),
                                                 slots.__exit__()))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5
        while len(slots._waiting) < i + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    # The holder releases and at once asks again: it queues behind the four waiting.
    slots.__exit__()
    with slots:
        order.append(99)
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3, 99]

    two = FairSlots(2)
    inside, peak = [0], [0]
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            with two:
                with lock:
                    inside[0] += 1
                    peak[0] = max(peak[0], inside[0])
                time.sleep(0.0002)
                with lock:
                    inside[0] -= 1

    workers = [threading.Thread(target=work) for _ in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(10)
    assert peak[0] == 2 and inside[0] == 0 and two._free == 2
