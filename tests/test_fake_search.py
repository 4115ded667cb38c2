"""``POST /api/{org}/_search`` on the fake: SQL over ingested Firehose rows.

Expected numbers come from the synthetic traffic's ground truth (o2kit.aws.synth), never from the
rows the fake stored; the SQL follows the dashboards' patterns (bedrock-telemetry §6).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from o2kit.aws.synth import Scenario, Traffic, firehose_bodies, generate
from o2kit.errors import ApiError
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve
from o2kit.project.config import ServerSettings
from o2kit.query.engine import QueryEngine
from o2kit.sync.client import OpenObserveClient

KEY = base64.b64encode(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}".encode()).decode()
NOW_MS = int(time.time() * 1000)
START_US = (NOW_MS - 3600_000) * 1000
# metric rows are stamped with the ingestion time (generic rows), after NOW_MS
END_US = (NOW_MS + 3600_000) * 1000


def client_for(fake: FakeOpenObserve) -> OpenObserveClient:
    settings = ServerSettings(url="http://o2", org="default", user=DEFAULT_USER,
                              password=DEFAULT_PASSWORD, retries=0)
    return OpenObserveClient(settings, transport=fake.transport())


def raw_search(fake: FakeOpenObserve, query: dict[str, Any], **params: str) -> httpx.Response:
    with httpx.Client(base_url="http://o2", transport=fake.transport(),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD)) as http:
        return http.post("/api/default/_search", params=params, json={"query": query})


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return generate(Scenario(minutes=20, requests_per_minute=30.0), end_ms=NOW_MS, seed=7)


@pytest.fixture(scope="module")
def fake(traffic: Traffic) -> FakeOpenObserve:
    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    logs, metrics = firehose_bodies(traffic, max_records=5)
    with client_for(fake) as client:
        for body in logs:
            client.post_firehose("bedrock_logs", body, access_key=KEY)
        for body in metrics:
            client.post_firehose("bedrock_metrics", body, access_key=KEY)
    return fake


def test_log_counts_and_tokens_per_model_equal_the_ground_truth(fake: FakeOpenObserve,
                                                                traffic: Traffic) -> None:
    sql = ('SELECT message_modelid AS model_id, COUNT(*) AS invocations, '
           'COUNT(message_errorcode) AS errors, '
           'SUM(message_input_inputtokencount) AS input_tokens, '
           'SUM(message_output_outputtokencount) AS output_tokens '
           'FROM "bedrock_logs" WHERE message_schematype = \'ModelInvocationLog\' '
           'GROUP BY model_id ORDER BY model_id')
    with client_for(fake) as client:
        answer = client.search(sql, START_US, END_US)
    got = {h["model_id"]: h for h in answer["hits"]}
    assert set(got) == set(traffic.truth)
    for model, truth in traffic.truth.items():
        assert got[model]["invocations"] == truth.invocations
        assert got[model]["errors"] == truth.client_errors + truth.server_errors
        assert got[model]["input_tokens"] == truth.input_tokens
        assert got[model]["output_tokens"] == truth.output_tokens
    assert answer["total"] == len(answer["hits"]) == len(traffic.truth)
    assert answer["scan_records"] == len(traffic.log_records) + len(traffic.control_messages)
    for key in ("took", "took_detail", "from", "size", "cached_ratio", "scan_size",
                "idx_scan_size", "is_partial", "result_cache_ratio", "trace_id"):
        assert key in answer


def test_metric_sums_per_model_equal_the_ground_truth(fake: FakeOpenObserve,
                                                      traffic: Traffic) -> None:
    # CloudWatch's float values make generic rows on OpenObserve fbab9b80 (see fake/firehose.py)
    sql = ("SELECT dimensions_modelid AS model_id, "
           "SUM(value_sum) FILTER (WHERE metric_name = 'Invocations') AS invocations, "
           "SUM(value_sum) FILTER (WHERE metric_name = 'InvocationThrottles') AS throttles, "
           "SUM(value_sum) FILTER (WHERE metric_name = 'InputTokenCount') AS input_tokens "
           'FROM "bedrock_metrics" GROUP BY model_id')
    with client_for(fake) as client:
        hits = client.search(sql, START_US, END_US)["hits"]
    got = {h["model_id"]: h for h in hits}
    for model, truth in traffic.truth.items():
        assert got[model]["invocations"] == truth.invocations
        assert got[model]["throttles"] == truth.throttles
        assert got[model]["input_tokens"] == truth.input_tokens


def test_time_range_narrows_the_rows(fake: FakeOpenObserve, traffic: Traffic) -> None:
    start_ms = traffic.start_ms + 5 * 60_000
    end_ms = start_ms + 7 * 60_000
    expected = sum(1 for call in traffic.invocations if call.record is not None
                   and start_ms <= call.time_ms < end_ms)
    with client_for(fake) as client:
        hits = client.search('SELECT COUNT(*) AS n FROM "bedrock_logs" '
                             "WHERE message_schematype = 'ModelInvocationLog'",
                             start_ms * 1000, end_ms * 1000)["hits"]
    assert hits == [{"n": expected}]


def test_from_and_size_page_the_newest_rows_first(fake: FakeOpenObserve) -> None:
    stamps = sorted((r["_timestamp"] for r in fake.rows("default", "bedrock_logs")),
                    reverse=True)
    with client_for(fake) as client:
        page = client.search('SELECT _timestamp FROM "bedrock_logs"', START_US, END_US,
                             from_=3, size=4)
        limited = client.search('SELECT _timestamp FROM "bedrock_logs" ORDER BY _timestamp '
                                "LIMIT 2", START_US, END_US, from_=0, size=5)
    assert [h["_timestamp"] for h in page["hits"]] == stamps[3:7]
    assert (page["from"], page["size"], page["total"]) == (3, 4, 4)
    # a LIMIT in the SQL wins over size
    assert [h["_timestamp"] for h in limited["hits"]] == sorted(stamps)[:2]


def test_default_size_is_the_server_default_limit(fake: FakeOpenObserve) -> None:
    answer = raw_search(fake, {"sql": 'SELECT _timestamp FROM "bedrock_logs"',
                               "start_time": START_US, "end_time": END_US})
    assert answer.status_code == 200
    assert answer.json()["size"] == 1000
    assert answer.json()["total"] == min(1000, len(fake.rows("default", "bedrock_logs")))


@pytest.mark.parametrize(("sql", "code", "message"), [
    ("SELEC * FROM x", 20001, "Search SQL not valid"),
    ('SELECT * FROM "nope"', 20002, "Search stream not found: nope"),
    ('SELECT message_modelidd FROM "bedrock_logs"', 20004, "unknown field 'message_modelidd'"),
    ('SELECT no_such_fn(message_modelid) FROM "bedrock_logs"', 20005,
     "unknown function 'no_such_fn'"),
    ('SELECT message_modelid + 1 FROM "bedrock_logs"', 20008, "Search SQL execute error"),
])
def test_errors_carry_openobserve_codes(fake: FakeOpenObserve, sql: str, code: int,
                                        message: str) -> None:
    answer = raw_search(fake, {"sql": sql, "start_time": START_US, "end_time": END_US})
    assert answer.status_code == 400
    assert answer.headers["x-error-message"] == str(code)
    body = answer.json()
    assert (body["code"], body["message"]) == (code, message)
    if code in (20001, 20008):
        assert body["error_detail"]
    if code == 20004:
        assert body["suggestions"][0] == "message_modelid"
        assert "error_detail" not in body


def test_client_search_error_names_the_problem(fake: FakeOpenObserve) -> None:
    with client_for(fake) as client, pytest.raises(ApiError) as caught:
        client.search("SELEC 1", START_US, END_US)
    assert caught.value.status == 400
    assert "Search SQL not valid" in caught.value.message


def test_missing_time_range_is_a_422(fake: FakeOpenObserve) -> None:
    answer = raw_search(fake, {"sql": 'SELECT * FROM "bedrock_logs"'})
    assert answer.status_code == 422
    assert "start_time" in answer.text


def test_base64_encoded_sql_is_decoded() -> None:
    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    fake.add_stream("default", "app")
    sql = 'SELECT COUNT(*) AS n FROM "app"'
    encoded = base64.b64encode(sql.encode()).decode().replace("+", "-").replace(
        "/", "_").replace("=", ".")
    with httpx.Client(base_url="http://o2", transport=fake.transport(),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD)) as http:
        answer = http.post("/api/default/_search", json={
            "query": {"sql": encoded, "start_time": 0, "end_time": END_US},
            "encoding": "base64"})
    assert answer.status_code == 200
    assert answer.json()["hits"] == [{"n": 0}]


def test_new_rows_are_seen_by_the_next_search() -> None:
    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    now_us = NOW_MS * 1000

    def post(lines: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(x) + "\n" for x in lines).encode()
        body = json.dumps({"requestId": "r", "timestamp": 1, "records": [
            {"data": base64.b64encode(data).decode()}]}).encode()
        with client_for(fake) as client:
            client.post_firehose("app", body, access_key=KEY)

    def values() -> list[Any]:
        with client_for(fake) as client:
            hits = client.search('SELECT flag FROM "app" ORDER BY n', 0, END_US)["hits"]
        return [h.get("flag") for h in hits]

    post([{"_timestamp": now_us, "n": 1, "flag": True}])
    assert values() == [True]
    # Boolean widens to Utf8: the old row now reads as text
    post([{"_timestamp": now_us, "n": 2, "flag": "maybe"}])
    assert values() == ["true", "maybe"]


def test_without_an_engine_search_answers_501() -> None:
    fake = FakeOpenObserve()
    fake.add_stream("default", "app")
    answer = raw_search(fake, {"sql": 'SELECT * FROM "app"', "start_time": 0, "end_time": 1})
    assert answer.status_code == 501
    assert answer.json()["message"] == "search not available in this fake"
