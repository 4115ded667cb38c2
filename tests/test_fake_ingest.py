"""The fake OpenObserve's Firehose route: rows stored per stream with OpenObserve's schema rules.

Bodies come from o2kit.aws.synth (whose ground truth is computed while generating, not from rows);
requests go through the real client mounted on the fake's transport.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import httpx
import pytest

from o2kit.aws.synth import Scenario, firehose_bodies, generate
from o2kit.errors import ApiError, AuthError
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve
from o2kit.fake.ingest import format_stream_name, infer_schema, merge_schema
from o2kit.project.config import ServerSettings
from o2kit.sync.client import OpenObserveClient

KEY = base64.b64encode(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}".encode()).decode()


def client_for(fake: FakeOpenObserve, org: str = "default") -> OpenObserveClient:
    settings = ServerSettings(url="http://o2", org=org, user=DEFAULT_USER,
                              password=DEFAULT_PASSWORD, retries=0)
    return OpenObserveClient(settings, transport=fake.transport())


def body_of(lines: list[Any], *, gzip_it: bool = False) -> bytes:
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    if gzip_it:
        data = gzip.compress(data)
    return json.dumps({"requestId": "r-1", "timestamp": 1,
                       "records": [{"data": base64.b64encode(data).decode()}]}).encode()


# --- pure rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "stored"), [
    ("bedrock_logs", "bedrock_logs"),
    ("Bedrock-Metrics", "bedrock_metrics"),
    ("a..b--c", "a_b_c"),  # a run of other characters is one underscore
    ("ns:x_1", "ns:x_1"),
    ("Ünïcode", "_n_code"),
])
def test_stream_names_are_formatted_as_the_server_does(name: str, stored: str) -> None:
    assert format_stream_name(name) == stored


def test_batch_inference_widens_conflicts_and_sorts_fields() -> None:
    rows = [{"b": 1, "a": True, "c": 1, "d": "x", "_timestamp": 5, "n": None},
            {"b": 2.5, "a": 7, "c": "y", "d": 3}]
    assert list(infer_schema(rows).items()) == [
        ("_timestamp", "Int64"), ("a", "Int64"), ("b", "Float64"), ("c", "Utf8"), ("d", "Utf8")]


@pytest.mark.parametrize(("stored", "incoming", "kept", "cast"), [
    ("Int64", "Float64", "Float64", None),  # widening: the stream's type changes
    ("Int64", "Utf8", "Utf8", None),
    ("Boolean", "Int64", "Int64", None),
    ("Utf8", "Int64", "Utf8", "Utf8"),  # not widening: the values are cast to the stored type
    ("Float64", "Boolean", "Float64", "Float64"),
    ("Float64", "Int64", "Float64", "Float64"),
])
def test_schema_merge_widens_or_casts(stored: str, incoming: str, kept: str,
                                      cast: str | None) -> None:
    merge = merge_schema({"_timestamp": "Int64", "v": stored}, {"v": incoming, "new": "Utf8"})
    assert merge.fields == {"_timestamp": "Int64", "new": "Utf8", "v": kept}
    assert merge.casts == ({"v": cast} if cast else {})


# --- through HTTP ----------------------------------------------------------------------------


@pytest.fixture()
def fake() -> FakeOpenObserve:
    return FakeOpenObserve()


def test_synthetic_traffic_lands_in_both_streams_with_exact_counts(fake: FakeOpenObserve) -> None:
    traffic = generate(Scenario(minutes=15), end_ms=int(time.time() * 1000), seed=5)
    logs, metrics = firehose_bodies(traffic, max_records=4)
    with client_for(fake) as client:
        for body in logs:
            assert client.post_firehose("bedrock_logs", body, access_key=KEY)["requestId"]
        for body in metrics:
            client.post_firehose("Bedrock-Metrics", body, access_key=KEY)
        listed = {s["name"]: s for s in client.list_streams()}
        schema = client.stream_schema("bedrock_logs")
    events = len(traffic.log_records) + len(traffic.control_messages)
    assert listed["bedrock_logs"]["stats"]["doc_num"] == events
    assert listed["bedrock_metrics"]["stats"]["doc_num"] == len(traffic.datapoints)
    assert "Bedrock-Metrics" not in listed
    rows = fake.rows("default", "bedrock_logs")
    stamps = [r["_timestamp"] for r in rows]
    assert listed["bedrock_logs"]["stats"]["doc_time_min"] == min(stamps)
    assert listed["bedrock_logs"]["stats"]["doc_time_max"] == max(stamps)
    assert schema is not None
    types = {f["name"]: f["type"] for f in schema["schema"]}
    assert types["_timestamp"] == "Int64"
    assert types["message_input_inputtokencount"] == "Int64"
    assert types["message_modelid"] == "Utf8"
    names = [f["name"] for f in schema["schema"]]
    assert names == sorted(names)  # fix_schema / merge sort the fields by name
    per_model: dict[str, int] = {}
    for row in rows:
        if row.get("message_schematype") == "ModelInvocationLog":
            per_model[row["message_modelid"]] = per_model.get(row["message_modelid"], 0) + 1
    assert per_model == {m: t.logged for m, t in traffic.truth.items()}


def test_one_bad_record_fails_the_batch_and_nothing_is_stored(fake: FakeOpenObserve) -> None:
    good = base64.b64encode(b'{"a": 1}\n').decode()
    bad = "not base64!"
    body = json.dumps({"requestId": "r-9", "timestamp": 1,
                       "records": [{"data": good}, {"data": bad}]}).encode()
    with client_for(fake) as client, pytest.raises(ApiError) as caught:
        client.post_firehose("app", body, access_key=KEY)
    assert caught.value.status == 400
    assert fake.rows("default", "app") == []
    with client_for(fake) as client:
        assert all(s["name"] != "app" for s in client.list_streams())


def test_wrong_access_key_is_401_and_basic_auth_is_not_enough(fake: FakeOpenObserve) -> None:
    body = body_of([{"a": 1}])
    wrong = base64.b64encode(f"{DEFAULT_USER}:nope".encode()).decode()
    with client_for(fake) as client, pytest.raises(AuthError) as caught:
        client.post_firehose("app", body, access_key=wrong)
    assert caught.value.status == 401
    with httpx.Client(base_url="http://o2", transport=fake.transport(),
                      auth=(DEFAULT_USER, DEFAULT_PASSWORD)) as http:
        answer = http.post("/aws/default/app/_kinesis_firehose", content=body,
                           headers={"content-type": "application/json"})
    assert answer.status_code == 401
    assert answer.text == "Unauthorized Access"
    assert fake.rows("default", "app") == []


def test_org_users_may_only_ingest_into_their_org(fake: FakeOpenObserve) -> None:
    fake.add_org("team")
    fake.add_user("dev@example.com", "devpass", orgs=["team"])
    key = base64.b64encode(b"dev@example.com:devpass").decode()
    with client_for(fake, "team") as client:
        client.post_firehose("app", body_of([{"a": 1}]), access_key=key)
    with client_for(fake, "default") as client, pytest.raises(AuthError):
        client.post_firehose("app", body_of([{"a": 1}]), access_key=key)
    assert len(fake.rows("team", "app")) == 1
    assert fake.rows("default", "app") == []


def test_rows_outside_the_ingest_window_are_dropped_with_200(fake: FakeOpenObserve) -> None:
    old = generate(Scenario(minutes=3), end_ms=int(time.time() * 1000) - 6 * 3600 * 1000,
                   seed=2)
    logs, _ = firehose_bodies(old)
    with client_for(fake) as client:
        for body in logs:
            client.post_firehose("bedrock_logs", body, access_key=KEY)
    assert fake.rows("default", "bedrock_logs") == []


def test_type_conflicts_across_requests_follow_the_stored_schema(fake: FakeOpenObserve) -> None:
    now_us = int(time.time() * 1_000_000)
    with client_for(fake) as client:
        client.post_firehose("mixed", body_of([{"_timestamp": now_us, "code": "E1",
                                                "n": 1, "flag": True}]), access_key=KEY)
        # code: Utf8 stays Utf8 and 42 is stored as "42"; n: Int64 widens to Float64;
        # flag: Boolean widens to Utf8.
        client.post_firehose("mixed", body_of([{"_timestamp": now_us, "code": 42, "n": 2.5,
                                                "flag": "maybe"}]), access_key=KEY)
        schema = client.stream_schema("mixed")
    assert schema is not None
    assert {f["name"]: f["type"] for f in schema["schema"]} == {
        "_timestamp": "Int64", "code": "Utf8", "flag": "Utf8", "n": "Float64"}
    assert [r["code"] for r in fake.rows("default", "mixed")] == ["E1", "42"]
