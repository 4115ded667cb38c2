"""Firehose bodies decoded into OpenObserve rows (o2kit.fake.firehose).

Bodies are built here the way CloudWatch Logs / Metric Streams and Firehose build them (gzip'd
envelope, base64), with timestamps relative to a fixed "now" passed to the decoder.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from o2kit.fake.firehose import (
    FirehoseError,
    check_access_key,
    decode_content_encoding,
    decode_firehose_body,
    f32_rounded,
    firehose_response,
    flatten,
    format_key,
    handle_request,
    rust_lines,
)

NOW_MS = 1_787_221_005_000
NOW_US = NOW_MS * 1000
EVENT_MS = NOW_MS - 102_583  # 1787220902417, the §3.6 example row

BEDROCK_RECORD: dict[str, Any] = {
    "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
    "timestamp": "2026-08-20T10:15:02Z", "accountId": "111122223333",
    "identity": {"arn": "arn:aws:sts::111122223333:assumed-role/app-role/session-1"},
    "region": "us-east-1", "inferenceRegion": "us-east-2",
    "requestId": "7f3c0c1e-0000-4d2a-9a5e-3b1e2f9c0abc", "operation": "Converse",
    "modelId": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "input": {"inputContentType": "application/json",
              "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "hi"}]}],
                                "inferenceConfig": {"maxTokens": 256, "temperature": 0.5}},
              "inputTokenCount": 812, "cacheReadInputTokenCount": 0,
              "cacheWriteInputTokenCount": 0},
    "output": {"outputContentType": "application/json",
               "outputBodyJson": {"output": {"message": {"role": "assistant",
                                                         "content": [{"text": "hello"}]}},
                                  "stopReason": "end_turn", "metrics": {"latencyMs": 1432},
                                  "usage": {"inputTokens": 812, "outputTokens": 95,
                                            "totalTokens": 907}},
               "outputTokenCount": 95},
    "requestMetadata": {"team": "search", "cost-center": "cc-42"},
}


def body(records: list[bytes], request_id: str = "fh-req-1", ts: int | None = NOW_MS) -> bytes:
    doc: dict[str, Any] = {"requestId": request_id,
                           "records": [{"data": base64.b64encode(r).decode()} for r in records]}
    if ts is not None:
        doc["timestamp"] = ts
    return json.dumps(doc).encode()


def envelope(messages: list[str], *, ts: int | None = EVENT_MS, kind: str = "DATA_MESSAGE",
             filters: list[str] | None = None) -> bytes:
    events: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        event: dict[str, Any] = {"id": f"3841273501234{i}", "message": message}
        if ts is not None:
            event["timestamp"] = ts
        events.append(event)
    env = {"messageType": kind, "owner": "111122223333", "logGroup": "/bedrock/invocations",
           "logStream": "aws/bedrock/modelinvocations",
           "subscriptionFilters": ["to-o2"] if filters is None else filters,
           "logEvents": events}
    return gzip.compress(json.dumps(env).encode())


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def metric_line(name: str, value: dict[str, Any] | str, *, ts: int = NOW_MS - 165_000,
                dims: Any = None) -> str:
    dims = {"ModelId": "anthropic.claude-3-haiku-20240307-v1:0"} if dims is None else dims
    value_text = value if isinstance(value, str) else compact(value)
    return ('{"metric_stream_name":"bedrock-ms","account_id":"111122223333",'
            '"region":"us-east-1","namespace":"AWS/Bedrock",'
            f'"metric_name":"{name}","dimensions":{compact(dims)},"timestamp":{ts},'
            f'"value":{value_text},"unit":"Count"}}')


def decode(b: bytes, **kw: Any) -> list[dict[str, Any]]:
    return decode_firehose_body(b, now_us=NOW_US, **kw)


# --- invocation logs --------------------------------------------------------------------------


def test_log_event_row_matches_reference_example_column_by_column() -> None:
    # the producer wrote 0.50: number text survives into the JSON-text column
    text = compact(BEDROCK_RECORD).replace('"temperature":0.5', '"temperature":0.50')
    assert '"temperature":0.50' in text
    rows = decode(body([envelope([text])]))
    assert len(rows) == 1
    row = rows[0]
    expected = {
        "_timestamp": 1787220902417000, "timestamp": 1787220902417, "id": "38412735012340",
        "requestid": "fh-req-1", "messagetype": "DATA_MESSAGE", "owner": "111122223333",
        "loggroup": "/bedrock/invocations", "logstream": "aws/bedrock/modelinvocations",
        "subscriptionfilters": '["to-o2"]',
        "message_schematype": "ModelInvocationLog", "message_schemaversion": "1.0",
        "message_timestamp": "2026-08-20T10:15:02Z", "message_accountid": "111122223333",
        "message_identity_arn": "arn:aws:sts::111122223333:assumed-role/app-role/session-1",
        "message_region": "us-east-1", "message_inferenceregion": "us-east-2",
        "message_requestid": "7f3c0c1e-0000-4d2a-9a5e-3b1e2f9c0abc",
        "message_operation": "Converse",
        "message_modelid": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "message_input_inputcontenttype": "application/json",
        # depth 3 → JSON text; insertion order kept (serde_json preserve_order is on through
        # feature unification: Cargo.lock lists indexmap under serde_json); 0.50 keeps its text
        "message_input_inputbodyjson":
            '{"messages":[{"role":"user","content":[{"text":"hi"}]}],'
            '"inferenceConfig":{"maxTokens":256,"temperature":0.50}}',
        "message_input_inputtokencount": 812,
        "message_input_cachereadinputtokencount": 0,
        "message_input_cachewriteinputtokencount": 0,
        "message_output_outputcontenttype": "application/json",
        "message_output_outputbodyjson":
            '{"output":{"message":{"role":"assistant","content":[{"text":"hello"}]}},'
            '"stopReason":"end_turn","metrics":{"latencyMs":1432},'
            '"usage":{"inputTokens":812,"outputTokens":95,"totalTokens":907}}',
        "message_output_outputtokencount": 95,
        "message_requestmetadata_team": "search",
        "message_requestmetadata_cost_center": "cc-42",
    }
    assert row == expected


def test_requestid_column_is_the_firehose_request_id_for_every_event() -> None:
    rows = decode(body([envelope([compact(BEDROCK_RECORD)] * 3)], request_id="abc-123"))
    assert [r["requestid"] for r in rows] == ["abc-123"] * 3
    assert {r["message_requestid"] for r in rows} == {BEDROCK_RECORD["requestId"]}


def test_control_message_becomes_a_row_with_plain_message() -> None:
    text = "CWL CONTROL MESSAGE: Checking health of destination Firehose."
    rows = decode(body([envelope([text], kind="CONTROL_MESSAGE", filters=[])]))
    assert len(rows) == 1
    row = rows[0]
    assert row["message"] == text
    assert row["messagetype"] == "CONTROL_MESSAGE"
    assert "subscriptionfilters" not in row  # an empty array makes no column
    assert not any(k.startswith("message_") for k in row)


def test_event_text_is_parsed_only_when_braced_exactly() -> None:
    padded = " " + compact({"a": 1})
    broken = "{not json}"
    rows = decode(body([envelope([padded, broken, compact({"A-b": {"c": 2}})])]))
    assert rows[0]["message"] == padded
    assert rows[1]["message"] == broken
    assert rows[2]["message_a_b_c"] == 2


def test_event_without_timestamp_gets_ingestion_time() -> None:
    rows = decode(body([envelope([compact({"k": "v"})], ts=None)]))
    assert rows[0]["_timestamp"] == NOW_US
    assert "timestamp" not in rows[0]


def test_old_and_far_future_rows_are_dropped_but_request_succeeds() -> None:
    old = NOW_MS - 5 * 3600 * 1000 - 1
    edge = NOW_MS - 5 * 3600 * 1000
    future = NOW_MS + 24 * 3600 * 1000 + 1
    records = [envelope(["old"], ts=old), envelope(["edge"], ts=edge),
               envelope(["future"], ts=future)]
    rows = decode(body(records))
    assert [r["message"] for r in rows] == ["edge"]
    assert decode(body(records), allowed_upto_hours=6)[0]["message"] == "old"


# --- metric streams ---------------------------------------------------------------------------


def test_metric_line_with_float_literals_is_a_generic_row_under_arbitrary_precision() -> None:
    line = metric_line("Invocations", '{"max":1.0,"min":1.0,"sum":42.0,"count":42.0}')
    rows = decode(body([(line + "\n").encode()]))
    assert rows == [{
        "metric_stream_name": "bedrock-ms", "account_id": "111122223333",
        "region": "us-east-1", "namespace": "AWS/Bedrock", "metric_name": "Invocations",
        "dimensions_modelid": "anthropic.claude-3-haiku-20240307-v1:0",
        "timestamp": NOW_MS - 165_000,
        "value_max": 1.0, "value_min": 1.0, "value_sum": 42.0, "value_count": 42.0,
        "unit": "Count", "_timestamp": NOW_US,  # ingestion time: no `_timestamp` in the line
    }]


def test_metric_line_special_case_hoists_values_with_f32_precision() -> None:
    dims = {"ModelId": "anthropic.claude-3-haiku-20240307-v1:0", "Other": 5}
    line = metric_line("InvocationLatency",
                       {"max": 4210, "min": 388, "sum": 16777217, "count": 42, "p99": 4000},
                       dims=dims)
    rows = decode(body([line.encode()]))
    assert rows == [{
        "metric_stream_name": "bedrock-ms", "account_id": "111122223333",
        "region": "us-east-1", "namespace": "AWS/Bedrock", "metric_name": "InvocationLatency",
        "unit": "Count", "count": 42.0, "sum": 16777216.0, "max": 4210.0, "min": 388.0,
        "metric_dimensions":
            'ModelId=["anthropic.claude-3-haiku-20240307-v1:0"], Other=[5]',
        "_timestamp": (NOW_MS - 165_000) * 1000,
    }]


def test_without_arbitrary_precision_float_literals_take_the_special_case() -> None:
    line = metric_line("InvocationLatency",
                       '{"max":4210.0,"min":388.0,"sum":51234.567,"count":42.0}')
    (row,) = decode(body([line.encode()]), arbitrary_precision=False)
    assert row["sum"] == 51234.566  # shortest f32 text, read back as f64
    assert row["sum"] != 51234.567
    assert row["count"] == 42.0
    assert row["metric_dimensions"] == 'ModelId=["anthropic.claude-3-haiku-20240307-v1:0"]'
    assert "value_sum" not in row and "dimensions_modelid" not in row


def test_metric_without_dimensions_gives_empty_string() -> None:
    line = metric_line("Invocations", {"max": 1, "min": 1, "sum": 3, "count": 3}, dims={})
    (row,) = decode(body([line.encode()]))
    assert row["metric_dimensions"] == ""


def test_several_lines_per_record_and_crlf() -> None:
    lines = [metric_line(n, {"max": 1, "min": 1, "sum": 2, "count": 2})
             for n in ("Invocations", "InvocationThrottles")]
    rows = decode(body([("\r\n".join(lines) + "\r\n").encode()]))
    assert [r["metric_name"] for r in rows] == ["Invocations", "InvocationThrottles"]


def test_f32_rounding() -> None:
    assert f32_rounded(16777217.0) == 16777216.0
    assert f32_rounded(16777216.0) == 16777216.0
    assert f32_rounded(0.1) == 0.1
    assert f32_rounded(1e39) is None


# --- whole-batch failures ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    "not base64!",
    "aGk",            # missing padding
    "aGl=",           # non-canonical trailing bits
    "aGk=\n",         # whitespace
])
def test_bad_base64_fails_whole_batch(bad: str) -> None:
    good = base64.b64encode(envelope(["fine"])).decode()
    doc = {"requestId": "r-1", "timestamp": NOW_MS, "records": [{"data": good}, {"data": bad}]}
    with pytest.raises(FirehoseError) as info:
        decode(json.dumps(doc).encode())
    assert info.value.status == 400
    assert isinstance(info.value.body, dict)
    assert info.value.body["requestId"] == "r-1"
    assert info.value.body["timestamp"] == NOW_MS
    assert "base64 decode error" in info.value.body["errorMessage"]


@pytest.mark.parametrize("payload", [
    b'{"a":1}\nnot json\n',
    b'{"a":1}\n\n{"b":2}\n',   # an empty line in the middle is a JSON error too
    b"\xff\xfe{}",             # not UTF-8
    b'{"a":NaN}',
])
def test_undecodable_record_fails_whole_batch(payload: bytes) -> None:
    with pytest.raises(FirehoseError) as info:
        decode(body([envelope(["fine"]), payload]))
    assert info.value.status == 400


def test_metric_with_non_object_dimensions_fails_batch() -> None:
    line = metric_line("Invocations", {"max": 1, "min": 1, "sum": 1, "count": 1}, dims=["x"])
    with pytest.raises(FirehoseError):
        decode(body([line.encode()]))


def test_generic_non_object_line_is_skipped_not_failed() -> None:
    rows = decode(body([b'42\n{"Level":"INFO"}\n']))
    assert rows == [{"level": "INFO", "_timestamp": NOW_US}]


def test_request_shape_errors() -> None:
    with pytest.raises(FirehoseError) as info:
        decode(b"{nope")
    assert info.value.status == 400 and isinstance(info.value.body, str)
    with pytest.raises(FirehoseError) as info:
        decode(b'{"records": []}')
    assert info.value.status == 422
    with pytest.raises(FirehoseError) as info:
        decode(b'{"requestId": "x", "timestamp": 1.5, "records": []}')
    assert info.value.status == 422
    with pytest.raises(FirehoseError) as info:
        decode(b'{"requestId": "x", "requestId": "y", "records": []}')
    assert info.value.status == 422
    assert decode(b'{"requestId": "x", "records": [], "extra": 1}') == []


def test_response_shape() -> None:
    assert firehose_response("abc", 123) == {"requestId": "abc", "timestamp": 123}


def test_raw_json_that_is_valid_protobuf_yields_no_rows() -> None:
    # After skipping "{", the bytes `"!` + 33 bytes are one unknown length-delimited protobuf
    # field (tag 0x22 = field 4, wire type 2; length 0x21 = 33), so prost decodes the record as
    # an empty ExportMetricsServiceRequest and OpenObserve writes nothing for it.
    line = '{"!' + "x" * 29 + '":1}'
    assert len(line.encode()) == 1 + 2 + 33
    assert decode(body([line.encode()])) == []
    # one byte more and the wire format runs short: the record is read as JSON
    longer = line[:-1] + " }"
    assert decode(body([longer.encode()])) == [{"_" + "x" * 29: 1, "_timestamp": NOW_US}]


# --- flattening -------------------------------------------------------------------------------


def test_flatten_rules() -> None:
    record = {"A.b": {"C-d": {"e": {"f": 1}}, "arr": [1, {"x": None}], "empty": [],
                      "none": None, "obj": {}}, "Top": "v"}
    assert flatten(record, 3) == {"a_b_c_d_e": '{"f":1}', "a_b_arr": '[1,{"x":null}]',
                                  "top": "v"}
    assert flatten(record, 0) == {"a_b_c_d_e_f": 1, "a_b_arr": '[1,{"x":null}]', "top": "v"}
    assert flatten(record, 1) == {"a_b": '{"C-d":{"e":{"f":1}},"arr":[1,{"x":null}],'
                                         '"empty":[],"none":null,"obj":{}}', "top": "v"}


def test_flatten_shortcut_keeps_nulls_and_collisions_overwrite() -> None:
    assert flatten({"A": None, "b": 1}) == {"a": None, "b": 1}
    assert flatten({"a-b": 1, "a_b": 2, "x": [1]}) == {"a_b": 2, "x": "[1]"}


def test_format_key() -> None:
    assert format_key("cost-center") == "cost_center"
    assert format_key("a.-b") == "a__b"
    assert format_key("Ünïcode Key") == "ünïcode_key"
    assert format_key("snake_ok_1") == "snake_ok_1"


def test_rust_lines() -> None:
    assert rust_lines("a\nb\n") == ["a", "b"]
    assert rust_lines("a\r\n\nb") == ["a", "", "b"]
    assert rust_lines("") == []


# --- access key -------------------------------------------------------------------------------


def key(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_access_key() -> None:
    users = {"root@example.com": "passcode123"}
    assert check_access_key(key("root@example.com:passcode123"), users)
    assert not check_access_key(key("root@example.com:wrong"), users)
    assert not check_access_key(key("other@example.com:passcode123"), users)
    assert not check_access_key(None, users)
    assert not check_access_key("%%%", users)
    assert not check_access_key(key("root@example.com"), users)
    # only the text up to the next ':' is the secret
    assert not check_access_key(key("a@b.c:pa:ss"), {"a@b.c": "pa:ss"})
    assert check_access_key(key("a@b.c:pa:ss"), {"a@b.c": "pa"})
    assert check_access_key(key("anyone:o2oi_tok"), {}, org_tokens={"o2oi_tok"})
    assert not check_access_key(key("anyone:o2oi_other"), {}, org_tokens={"o2oi_tok"})
    both = {"u@x.io": ("passcode", "Login#pass1")}
    assert check_access_key(key("u@x.io:Login#pass1"), both)
    assert not check_access_key(key("u@x.io:"), {"u@x.io": ("",)})  # empty never valid


def test_content_encoding() -> None:
    payload = body([envelope(["x"])])
    assert decode_content_encoding(gzip.compress(payload), "gzip") == payload
    assert decode_content_encoding(payload, None) == payload
    with pytest.raises(FirehoseError) as info:
        decode_content_encoding(payload, "gzip")
    assert info.value.status == 400
    with pytest.raises(FirehoseError) as info:
        decode_content_encoding(payload, "compress")
    assert info.value.status == 415


def _len_delimited(field: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([(field << 3) | 2, len(payload)]) + payload


def test_otlp_records() -> None:
    # ExportMetricsServiceRequest{resource_metrics: [ResourceMetrics{schema_url: "x"}]},
    # behind a one-byte varint length prefix as CloudWatch's OTel 1.0 output has.
    no_resource = _len_delimited(1, _len_delimited(3, b"x"))
    assert decode(body([bytes([len(no_resource)]) + no_resource])) == []  # skipped: no resource
    resource = _len_delimited(1, _len_delimited(1, b""))
    with pytest.raises(FirehoseError) as info:
        decode(body([bytes([len(resource)]) + resource]))
    assert info.value.status == 501  # a limit of the fake, not a server answer
    # a known field with the wrong wire type is not protobuf: read as text → not UTF-8 → 400
    wrong = bytes([2, 0x08 | 1]) + b"\xff" * 8
    with pytest.raises(FirehoseError) as info:
        decode(body([wrong]))
    assert info.value.status == 400


def test_handle_request_layers_in_server_order() -> None:
    users = {"root@example.com": "passcode123"}
    auth = {"X-Amz-Firehose-Access-Key": key("root@example.com:passcode123"),
            "Content-Type": "application/json"}
    payload = body([envelope(["hello"])], request_id="rq-9")
    ok = handle_request(gzip.compress(payload), {**auth, "Content-Encoding": "gzip"},
                        now_us=NOW_US, users=users)
    assert ok.status == 200
    assert ok.body == {"requestId": "rq-9", "timestamp": NOW_MS}
    assert [r["message"] for r in ok.rows] == ["hello"]
    no_ts = handle_request(body([envelope(["x"])], ts=None), auth, now_us=NOW_US, users=users)
    assert no_ts.body == {"requestId": "fh-req-1", "timestamp": NOW_MS}
    bad_auth = handle_request(b"junk", {"Content-Type": "application/json"}, now_us=NOW_US,
                              users=users)
    assert (bad_auth.status, bad_auth.body) == (401, "Unauthorized Access")
    assert handle_request(payload, {**auth, "Content-Encoding": "compress"}, now_us=NOW_US,
                          users=users).status == 415
    assert handle_request(payload, {**auth, "Content-Type": "text/plain"}, now_us=NOW_US,
                          users=users).status == 415
    bad = handle_request(body([b"nope"]), auth, now_us=NOW_US, users=users)
    assert bad.status == 400 and bad.rows == []
    assert isinstance(bad.body, dict) and bad.body["requestId"] == "fh-req-1"
