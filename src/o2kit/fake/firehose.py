"""Kinesis Data Firehose ingestion, decoded the way OpenObserve decodes it.

Pure functions for the fake server's ``POST /aws/{org}/{stream}/_kinesis_firehose`` route: the
clock is passed in, nothing is stored here. Behaviour is reimplemented from the OpenObserve source
(commit fbab9b80), never from o2kit's own expectations:

* request shape, response shape, status codes — ``src/api/ingest/src/request/logs/ingest.rs``
  (``handle_kinesis_request``), ``src/ingestion_common/src/lib.rs`` (``KinesisFHRequest``,
  ``KinesisFHLogData``, ``KinesisFHMetricData``, ``KinesisFHIngestionResponse``,
  ``AWSRecordType``);
* record decoding — ``src/core/src/logs/ingest.rs`` (``IngestionData::KinesisFH`` iterator,
  ``decode_and_decompress_to_vec``, ``deserialize_aws_record_from_vec``, ``handle_timestamp``,
  ``finalize_and_buffer_record``);
* flattening — ``src/config/src/utils/flatten.rs``;
  timestamps — ``src/config/src/utils/time.rs``;
  base64 — ``src/config/src/utils/base64.rs``; access key — ``src/api/common/src/auth/
  validator.rs`` (``validator_aws``, ``validate_credentials``).

What a request goes through:

1. The body is read as ``{"requestId": str, "timestamp": int|null, "records": [{"data": str}]}``
   (axum ``Json``: bad JSON → 400 text, wrong shape → 422 text).
2. Each record: strict standard base64 (padding and canonical trailing bits required), then one
   gzip member is inflated; if that fails the raw bytes are used.
3. The bytes are tried as an OpenTelemetry ``ExportMetricsServiceRequest`` (after skipping what
   looks like a varint length prefix). Plain JSON text occasionally *is* valid protobuf wire
   format; such a record then yields no rows at all (see :func:`_looks_like_otlp_metrics`).
4. Otherwise the bytes must be UTF-8 and each line (Rust ``str::lines``: split on ``\\n``, one
   trailing ``\\r`` dropped, an empty line is an error) must be JSON. A line is tried as a
   CloudWatch Logs envelope, then as a metric-stream datum, then taken as generic JSON.
5. Any failure in 2–4 fails the whole request: 400, nothing written.
6. Each row is flattened, gets ``_timestamp`` in microseconds, and is dropped silently when it is
   older than ``allowed_upto_hours`` or more than ``allowed_in_future_hours`` ahead.

:func:`handle_request` runs the whole route (encoding, access key, content type, body) and
returns status, answer and rows; :func:`decode_firehose_body` is the body-to-rows part.

``arbitrary_precision``: OpenObserve builds serde_json with that feature (``/work/oo/Cargo.toml``).
Parsing the untagged ``AWSRecordType`` buffers the line, and a buffered *non-integer* number
becomes a map that no ``f32``/``i64`` field accepts — the same defect the source pins in
``src/api/management/src/models/alerts/requests.rs``
(``test_plain_option_f64_behind_flatten_still_cannot_read_a_float``). So a metric-stream line is
only special-cased when ``count``/``sum``/``max``/``min`` and ``timestamp`` are integer literals;
CloudWatch writes ``"sum":42.0``, which makes the line a *generic* row (``value_sum``,
``dimensions_modelid``, ``timestamp`` columns, ``_timestamp`` = ingestion time). The AWS
sample in the source's own ``test_deserialize_from_str_metrics`` (``src/core/src/logs/
ingest.rs``) has ``"sum":3.0``; that test only checks ``account_id``, which the generic row
has too, so it passes either way. Pass
``arbitrary_precision=False`` to get the special case for float literals too (what the reference
document describes).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
import struct
import unicodedata
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ACCESS_KEY_HEADER = "X-Amz-Firehose-Access-Key"
ORG_INGESTION_TOKEN_PREFIX = "o2oi_"  # src/infra/src/table/org_ingestion_tokens.rs
TIMESTAMP_COL = "_timestamp"
DEFAULT_FLATTEN_LEVEL = 3  # ZO_INGEST_FLATTEN_LEVEL
DEFAULT_ALLOWED_UPTO_HOURS = 5  # ZO_INGEST_ALLOWED_UPTO
DEFAULT_ALLOWED_IN_FUTURE_HOURS = 24  # ZO_INGEST_ALLOWED_IN_FUTURE
UNAUTHORIZED_BODY = "Unauthorized Access"
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="openobserve"'}

_I64_MIN, _I64_MAX, _U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
# 1971-01-01T00:00:00Z in s / ms / µs / ns: the magnitude thresholds of
# parse_i64_to_timestamp_micros (src/config/src/utils/time.rs, BASE_TIME).
_BASE_S = 31_536_000
_BASE_MS, _BASE_US, _BASE_NS = _BASE_S * 1000, _BASE_S * 10**6, _BASE_S * 10**9


class FirehoseError(Exception):
    """A request the server refuses; ``body`` is its answer (a dict → JSON, a str → text)."""

    def __init__(self, status: int, message: str, body: dict[str, Any] | str | None = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body: dict[str, Any] | str = message if body is None else body


# --- JSON with serde_json's number handling -------------------------------------------------


class JsonFloat(float):
    """A non-integer JSON number that remembers its text (serde_json ``arbitrary_precision``
    keeps number text verbatim, so bodies re-serialised as JSON text keep ``1.50`` or ``1e3``)."""

    text: str

    def __new__(cls, text: str) -> JsonFloat:
        obj = super().__new__(cls, float(text))
        obj.text = text
        return obj


class _JsonObject(dict[str, Any]):
    """A JSON object that knows which keys appeared more than once (serde derive rejects a
    duplicated known field; ``Value`` keeps the last value at the first position, as dict)."""

    duplicates: frozenset[str] = frozenset()


class _InvalidJson(ValueError):
    pass


def _object_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    seen: set[str] = set()
    dupes: set[str] = set()
    for key, value in pairs:
        if key in seen:
            dupes.add(key)
        seen.add(key)
        obj[key] = value
    if dupes:
        obj.duplicates = frozenset(dupes)
    return obj


def _parse_int(text: str) -> int | JsonFloat:
    value = int(text)
    # Integers outside i64/u64 are kept as text by arbitrary_precision (a "string number").
    return value if _I64_MIN <= value <= _U64_MAX else JsonFloat(text)


def _reject_constant(token: str) -> Any:
    raise _InvalidJson(f"expected value ({token})")


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_json_text(text: str) -> Any:
    """Parse like ``serde_json::from_str``: no NaN/Infinity, no lone surrogate escapes.

    Raises ``ValueError``. Error texts approximate serde_json's, they are not identical.
    """
    try:
        value = json.loads(text, object_pairs_hook=_object_pairs, parse_float=JsonFloat,
                           parse_int=_parse_int, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _InvalidJson(f"{exc.msg.lower()} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _InvalidJson("recursion limit exceeded") from None
    # Decoded UTF-8 holds no surrogates; only a \\uD800-\\uDFFF escape can bring one in.
    if _SURROGATE_ESCAPE.search(text) and _has_surrogate(value):
        raise _InvalidJson("lone leading surrogate in hex escape")
    return value


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_SURROGATE.search(value))
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


_quote: Callable[[str], str] = json.encoder.encode_basestring


def to_json_text(value: Any) -> str:
    """Compact JSON as serde_json's ``Value::to_string`` writes it: parsed numbers keep their
    text, non-ASCII stays raw, only ``"``, ``\\`` and control characters are escaped."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, JsonFloat):
        return value.text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ryu_text(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json_text(str(k))}:{to_json_text(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json_text(v) for v in value) + "]"
    raise TypeError(f"not JSON: {type(value).__name__}")


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of a positive float and ``k`` with value = 0.DIGITS × 10**k."""
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, frac = mantissa.partition(".")
    joined = whole + frac
    stripped = joined.lstrip("0")
    point = len(whole) + (int(exponent) if exponent else 0) - (len(joined) - len(stripped))
    return stripped.rstrip("0") or "0", point


def _format_shortest(digits: str, point: int, negative: bool) -> str:
    """The ryu/zmij layout (serde_json's float writer) for given shortest digits."""
    sign = "-" if negative else ""
    n = len(digits)
    if 0 <= point <= 16 and n <= point:
        return f"{sign}{digits}{'0' * (point - n)}.0"
    if 0 < point <= 16:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -5 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    body = digits[0] + ("." + digits[1:] if n > 1 else "")
    return f"{sign}{body}e{point - 1}"


def ryu_text(value: float) -> str:
    """How serde_json prints a finite ``f64``."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    digits, point = _shortest_digits(abs(value))
    return _format_shortest(digits, point, value < 0)


def _int_to_f32(value: int) -> float:
    """``value as f32`` for an integer: round to 24 significant bits, ties to even, without
    passing through ``f64`` first (which could round twice)."""
    magnitude = abs(value)
    shift = magnitude.bit_length() - 24
    if shift > 0:
        quotient, remainder = divmod(magnitude, 1 << shift)
        half = 1 << (shift - 1)
        if remainder > half or (remainder == half and quotient & 1):
            quotient += 1
        magnitude = quotient << shift
    return float(-magnitude if value < 0 else magnitude)


def f32_rounded(value: float) -> float | None:
    """An ``f32`` field's value as OpenObserve stores it, or None when it is not finite.

    serde casts the number to ``f32`` (round to nearest), and serde_json with
    ``arbitrary_precision`` turns the ``f32`` into the *shortest* decimal text that reads back
    as that ``f32`` (``Number::from_f32``); the column is that text read as a Float64. So
    ``16777217`` → ``16777216.0`` and ``0.1`` → ``0.1`` (not 0.10000000149011612).
    """
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return None  # `as f32` gives ±inf, and Value::from(inf) is null
    if not math.isfinite(single):
        return None
    if single == 0:
        return single
    for precision in range(1, 10):
        candidate = float(f"{single:.{precision - 1}e}")
        if struct.unpack("<f", struct.pack("<f", candidate))[0] == single:
            return candidate
    return single  # pragma: no cover - 9 significant digits always round-trip an f32


# --- flattening (src/config/src/utils/flatten.rs) --------------------------------------------


def _key_is_formatted(key: str) -> bool:
    return all(_is_lower(c) or _is_numeric(c) or c == "_" for c in key)


def _is_lower(c: str) -> bool:
    return c.islower()


def _is_numeric(c: str) -> bool:
    # Rust's char::is_numeric: general categories Nd, Nl, No.
    return unicodedata.category(c) in ("Nd", "Nl", "No")


_ASCII_FORMATTED = re.compile(r"[a-z0-9_]*")
_ASCII_OTHER = re.compile(r"[^a-z0-9_]")


@functools.lru_cache(maxsize=8192)
def format_key(key: str) -> str:
    """A column name as ``format_key`` makes it: ASCII letters lowercased, every other ASCII
    character outside ``[a-z0-9_]`` → ``_``; with non-ASCII characters, each character is kept
    when lowercase or numeric, lowercased when uppercase, else ``_``. No collapsing."""
    if key.isascii():
        if _ASCII_FORMATTED.fullmatch(key):
            return key
        return _ASCII_OTHER.sub("_", key.lower())
    if _key_is_formatted(key):
        return key
    out = []
    for c in key:
        if _is_lower(c) or _is_numeric(c):
            out.append(c)
        elif c.isupper():
            out.append(c.lower()[0])
        else:
            out.append("_")
    return "".join(out)


def flatten(obj: Mapping[str, Any], level: int = DEFAULT_FLATTEN_LEVEL) -> dict[str, Any]:
    """Flatten one record into columns, as ``flatten_with_level`` does.

    * nested keys join with ``_`` (root keys unprefixed), each key goes through :func:`format_key`;
    * a non-empty array anywhere becomes its JSON text; an object at depth ≥ ``level`` (root is
      depth 0; ``level`` 0 means unlimited) becomes its JSON text;
    * empty objects/arrays and ``null`` give no column — *except* on the shortcut for a record
      with no nested value at all, which only formats keys and keeps ``null`` values;
    * a later key that formats to the same name overwrites the earlier value.
    """
    if not isinstance(obj, Mapping):
        raise ValueError("flatten value must be an object")
    if not any(isinstance(v, Mapping | list) for v in obj.values()):
        return {format_key(k): v for k, v in obj.items()}
    flat: dict[str, Any] = {}
    _flatten_object(obj, "", level, 0, flat)
    return flat


def _flatten_value(value: Any, key: str, level: int, depth: int, flat: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        _flatten_object(value, key, level, depth, flat)
    elif isinstance(value, list):
        if value:
            flat[key] = to_json_text(value)
    elif value is not None:
        flat[key] = value


def _flatten_object(obj: Mapping[str, Any], key: str, level: int, depth: int,
                    flat: dict[str, Any]) -> None:
    if not obj:
        return
    if level > 0 and depth >= level:
        flat[key] = to_json_text(obj)
        return
    for child_key, child in obj.items():
        name = format_key(child_key)
        _flatten_value(child, f"{key}_{name}" if depth > 0 else name, level, depth + 1, flat)


# --- timestamps (src/core/src/logs/ingest.rs handle_timestamp; src/config/src/utils/time.rs) --


def to_micros(value: int, now_us: int) -> int:
    """``parse_i64_to_timestamp_micros``: guess the unit from the magnitude; 0 means now."""
    if value == 0:
        return now_us
    if value > _BASE_NS:
        return value // 1000  # positive here, so floor division is Rust's truncation
    if value > _BASE_US:
        return value
    if value > _BASE_MS:
        return value * 1000
    return value * 1_000_000


def _saturating_i64(value: float) -> int:
    if math.isnan(value):
        return 0
    if value >= 2**63:
        return _I64_MAX
    if value < -(2**63):
        return _I64_MIN
    return int(value)  # truncation, as Rust's `as i64`


def _string_to_micros(text: str, now_us: int) -> int:
    """``parse_str_to_timestamp_micros``, for the formats a Firehose line plausibly carries:
    an integer, a float, or an ISO 8601 / RFC 3339 date-time (naive means UTC)."""
    stripped = text
    if re.fullmatch(r"[+-]?\d+", stripped):
        number = int(stripped)
        if _I64_MIN <= number <= _I64_MAX:
            return to_micros(number, now_us)
    try:
        as_float = float(stripped)
    except ValueError:
        as_float = None
    if as_float is not None and math.isfinite(as_float):
        micros = to_micros(_saturating_i64(as_float), now_us)
        return micros
    candidate = stripped.strip('"').replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError("invalid time format [string]") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def resolve_timestamp(row: dict[str, Any], now_us: int) -> int:
    """The row's ``_timestamp`` in µs, written back into the row; ``ValueError`` if unreadable."""
    raw = row.get(TIMESTAMP_COL)
    if raw is None:
        micros, valid = now_us, False
    elif isinstance(raw, bool):
        raise ValueError("Invalid time format [type]")
    elif isinstance(raw, float):
        micros, valid = to_micros(_saturating_i64(float(raw)), now_us), False
    elif isinstance(raw, int):
        micros = to_micros(raw, now_us)
        valid = micros == raw
    elif isinstance(raw, str):
        micros, valid = _string_to_micros(raw, now_us), False
    else:
        raise ValueError("Invalid time format [type]")
    if not valid:
        row[TIMESTAMP_COL] = micros
    return micros


# --- the request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FirehoseRequest:
    request_id: str
    timestamp: int | None  # epoch ms as Firehose sends it; None when absent or null
    records: tuple[str, ...]  # base64 text of each record


def decode_content_encoding(body: bytes, content_encoding: str | None) -> bytes:
    """The HTTP body after the route's decompression layers (``other_service_routes`` in
    ``src/api/http/src/handler/http/router/mod.rs``; ``decompression.rs``).

    tower-http's ``RequestDecompressionLayer`` inflates ``gzip`` and ``deflate`` (also ``br`` and
    ``zstd`` on the server; the fake, stdlib-only, answers those with 415 and says so); any other
    encoding is refused with 415. ``snappy`` is let through *undecoded* by
    ``preprocess_encoding_middleware``, so the JSON extractor then fails with 400.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", "snappy", ""):
        return body
    try:
        if encoding == "gzip":
            return gzip_member_or_error(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (zlib.error, EOFError) as exc:
        raise FirehoseError(400, f"Failed to buffer the request body: {exc}") from None
    if encoding in ("br", "zstd"):
        raise FirehoseError(415, f"content encoding {encoding} is not supported by the fake "
                                 f"(OpenObserve accepts it)", "")
    raise FirehoseError(415, f"unsupported content encoding {encoding}", "")


def gzip_member_or_error(raw: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    out = inflater.decompress(raw)
    if not inflater.eof:
        raise EOFError("unexpected end of gzip stream")
    return out


def parse_request(body: bytes) -> FirehoseRequest:
    """Read the body like axum's ``Json<KinesisFHRequest>`` extractor (unknown keys ignored)."""
    try:
        value = parse_json_text(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        message = f"Failed to parse the request body as JSON: {exc}"
        raise FirehoseError(400, message) from None

    def shape_error(detail: str) -> FirehoseError:
        return FirehoseError(422, f"Failed to deserialize the JSON body into the target type: "
                                  f"{detail}")

    if not isinstance(value, dict):
        raise shape_error("invalid type: expected struct KinesisFHRequest")
    if isinstance(value, _JsonObject) and value.duplicates & {"records", "requestId",
                                                               "timestamp"}:
        raise shape_error(f"duplicate field `{sorted(value.duplicates)[0]}`")
    for field_name in ("records", "requestId"):
        if field_name not in value:
            raise shape_error(f"missing field `{field_name}`")
    request_id = value["requestId"]
    if not isinstance(request_id, str):
        raise shape_error("requestId: invalid type: expected a string")
    timestamp = value.get("timestamp")
    if timestamp is not None and not _is_int_in(timestamp, _I64_MIN, _I64_MAX):
        raise shape_error("timestamp: invalid type: expected i64")
    raw_records = value["records"]
    if not isinstance(raw_records, list):
        raise shape_error("records: invalid type: expected a sequence")
    records = []
    for index, record in enumerate(raw_records):
        if not isinstance(record, dict) or "data" not in record:
            raise shape_error(f"records[{index}]: missing field `data`")
        if not isinstance(record["data"], str):
            raise shape_error(f"records[{index}].data: invalid type: expected a string")
        records.append(record["data"])
    return FirehoseRequest(request_id, timestamp, tuple(records))


def _is_int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool | JsonFloat) \
        and low <= value <= high


def firehose_response(request_id: str, timestamp_ms: int) -> dict[str, Any]:
    """The 200 answer: ``requestId`` echoed and the request's ``timestamp`` (or now, in ms)."""
    return {"requestId": request_id, "timestamp": timestamp_ms}


def firehose_error_body(request_id: str, timestamp_ms: int, message: str) -> dict[str, Any]:
    """The 400 (or 503) answer: the same shape plus ``errorMessage``."""
    return {"requestId": request_id, "errorMessage": message, "timestamp": timestamp_ms}


def decode_firehose_body(
    body: bytes,
    *,
    now_us: int,
    allowed_upto_hours: int = DEFAULT_ALLOWED_UPTO_HOURS,
    allowed_in_future_hours: int = DEFAULT_ALLOWED_IN_FUTURE_HOURS,
    flatten_level: int = DEFAULT_FLATTEN_LEVEL,
    arbitrary_precision: bool = True,
) -> list[dict[str, Any]]:
    """Rows OpenObserve would write for one Firehose request body, or :class:`FirehoseError`.

    One bad record (base64, UTF-8, JSON, a metric datum whose ``dimensions`` is not an object)
    fails the whole batch with 400 and no rows. Rows outside the ingest window, and generic
    lines that are not JSON objects, are dropped while the request still succeeds.
    ``now_us`` is the server clock in epoch microseconds.
    """
    values = decode_firehose_values(body, now_us=now_us,
                                    arbitrary_precision=arbitrary_precision)
    return finalize_rows(values, now_us=now_us, allowed_upto_hours=allowed_upto_hours,
                         allowed_in_future_hours=allowed_in_future_hours,
                         flatten_level=flatten_level)


def decode_firehose_values(body: bytes, *, now_us: int,
                           arbitrary_precision: bool = True) -> list[Any]:
    """The unflattened items of one Firehose request body (what a realtime pipeline receives,
    src/core/src/logs/ingest.rs buffers them before flattening when the stream has one), or
    :class:`FirehoseError`."""
    request = parse_request(body)
    # handle_kinesis_request answers with the body's timestamp, else now in ms; the ingest
    # iterator's own fallback is now in µs, but it only reaches the log, not the answer.
    answer_ts = request.timestamp if request.timestamp is not None else now_us // 1000
    values: list[Any] = []
    for data in request.records:
        try:
            values.extend(decode_record(data, request.request_id,
                                        arbitrary_precision=arbitrary_precision))
        except UnsupportedRecord as exc:
            raise FirehoseError(501, str(exc)) from None
        except _RecordError as exc:
            # ingest() wraps the iterator error: Error::IngestionError(format!("Failed
            # processing: {e:?}")), displayed as "Error# ..."; the handler maps it to 400.
            inner = (f'KinesisFHIngestionResponse {{ request_id: {json.dumps(request.request_id)}'
                     f', error_message: Some({json.dumps(exc.message)}), timestamp: '
                     f'{request.timestamp if request.timestamp is not None else now_us} }}')
            message = f"Error# Failed processing: AWSError({inner})"
            raise FirehoseError(400, message,
                                firehose_error_body(request.request_id, answer_ts,
                                                    message)) from None
    return values


def finalize_rows(values: list[Any], *, now_us: int,
                  allowed_upto_hours: int = DEFAULT_ALLOWED_UPTO_HOURS,
                  allowed_in_future_hours: int = DEFAULT_ALLOWED_IN_FUTURE_HOURS,
                  flatten_level: int = DEFAULT_FLATTEN_LEVEL) -> list[dict[str, Any]]:
    """:func:`finalize_row` over items (the decoded ones, or a pipeline's output: the server's
    ``handle_timestamp`` runs after the pipeline)."""
    min_ts = now_us - allowed_upto_hours * 3600 * 1_000_000
    max_ts = now_us + allowed_in_future_hours * 3600 * 1_000_000
    rows = []
    for value in values:
        row = finalize_row(value, now_us=now_us, min_ts=min_ts, max_ts=max_ts,
                           flatten_level=flatten_level)
        if row is not None:
            rows.append(row)
    return rows


def finalize_row(value: Any, *, now_us: int, min_ts: int, max_ts: int,
                 flatten_level: int) -> dict[str, Any] | None:
    """Flatten one event and resolve its time (``finalize_and_buffer_record``); None when the
    server skips it (not an object, unreadable or out-of-window ``_timestamp``)."""
    try:
        row = flatten(value, flatten_level)
        micros = resolve_timestamp(row, now_us)
    except ValueError:
        return None
    if micros < min_ts or micros > max_ts:
        return None
    return {k: _plain(v) for k, v in row.items()}


def _plain(value: Any) -> Any:
    # Columns hold plain Python values; JsonFloat only matters while text is re-serialised.
    return float(value) if isinstance(value, JsonFloat) else value


class UnsupportedRecord(Exception):
    """A record the real server would decode but this fake does not model (answered 501)."""


class _RecordError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def b64decode_strict(text: str) -> bytes:
    """``base64::engine::general_purpose::STANDARD``: standard alphabet, canonical padding,
    no whitespace, zero trailing bits."""
    if len(text) % 4 == 1:
        raise ValueError("Invalid input length.")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        bad = next((i for i, c in enumerate(text)
                    if not (c.isascii() and (c.isalnum() or c in "+/="))), None)
        if bad is not None:
            raise ValueError(f"Invalid symbol {ord(text[bad])}, offset {bad}.") from None
        raise ValueError("Invalid padding") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("Invalid last symbol or padding")
    return raw


def gunzip_or_raw(raw: bytes) -> bytes:
    """One gzip member inflated (trailing bytes ignored, like flate2's ``GzDecoder``); the input
    itself when it is not a complete, valid gzip member."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw)
    except zlib.error:
        return raw
    return out if inflater.eof else raw


def decode_record(data: str, request_id: str, *, arbitrary_precision: bool = True) -> list[Any]:
    """The events (unflattened) one record yields; ``_RecordError`` fails the batch."""
    try:
        raw = b64decode_strict(data)
    except ValueError as exc:
        raise _RecordError(f"base64 decode error: {exc}") from None
    payload = gunzip_or_raw(raw)
    if _looks_like_otlp_metrics(payload):
        # The source would now build rows from the OTLP message. Plain JSON that happens to
        # be valid wire format carries no resource_metrics and so yields no rows; a genuine
        # OTLP record is beyond this fake.
        if _otlp_has_resources(payload):
            raise UnsupportedRecord("OpenTelemetry 1.0 metric records with a resource are not "
                                    "supported by the fake")
        return []
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _RecordError(f"invalid utf-8 sequence from index {exc.start}") from None
    events: list[Any] = []
    for line in rust_lines(text):
        try:
            value = parse_json_text(line)
        except ValueError as exc:
            raise _RecordError(str(exc)) from None
        envelope = _as_log_envelope(value)
        if envelope is not None:
            events.extend(_log_event_rows(envelope, request_id))
            continue
        datum = _as_metric_datum(value, arbitrary_precision)
        if datum is not None:
            events.append(_metric_row(value, datum))
            continue
        events.append(value)
    return events


def rust_lines(text: str) -> list[str]:
    """``str::lines``: split on ``\\n``, drop one trailing ``\\r`` per line and a final empty
    piece. An empty line in the middle stays (and then fails JSON parsing)."""
    if not text:
        return []
    pieces = text.split("\n")
    if pieces[-1] == "":
        pieces.pop()
    return [p[:-1] if p.endswith("\r") else p for p in pieces]


# --- AWSRecordType: which serde variant a line deserialises into ------------------------------


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _typed_int(v: Any, low: int, high: int) -> bool:
    """An integer field read from a buffered (``Content``) value: only integer literals."""
    return isinstance(v, int) and not isinstance(v, bool | JsonFloat) and low <= v <= high


def _typed_float(v: Any, arbitrary_precision: bool) -> bool:
    """An ``f32`` field read from a buffered value: integers always; a non-integer literal only
    without ``arbitrary_precision`` (with it the buffered number is a map)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, JsonFloat):
        return not arbitrary_precision and math.isfinite(float(v))
    return isinstance(v, int)


def _fields_ok(obj: Any, checks: Mapping[str, Callable[[Any], bool]],
               optional: Collection[str] = ()) -> bool:
    if not isinstance(obj, dict):
        return False
    if isinstance(obj, _JsonObject) and obj.duplicates & set(checks):
        return False  # serde derive: "duplicate field"
    for name, check in checks.items():
        if name not in obj:
            if name in optional:
                continue
            return False
        if name in optional and obj[name] is None:
            continue
        if not check(obj[name]):
            return False
    return True


def _as_log_envelope(value: Any) -> dict[str, Any] | None:
    """``KinesisFHLogData``: all six keys, typed; unknown keys ignored."""
    event_checks: dict[str, Callable[[Any], bool]] = {
        "message": lambda v: True,
        "id": _is_str,
        "timestamp": lambda v: _typed_int(v, _I64_MIN, _I64_MAX),
    }

    def events_ok(events: Any) -> bool:
        return isinstance(events, list) and all(
            _fields_ok(e, event_checks, optional=("timestamp",)) for e in events)

    checks: dict[str, Callable[[Any], bool]] = {
        "logEvents": events_ok, "logGroup": _is_str, "logStream": _is_str,
        "messageType": _is_str, "owner": _is_str,
        "subscriptionFilters": lambda v: isinstance(v, list) and all(map(_is_str, v)),
    }
    return value if _fields_ok(value, checks) else None


def _log_event_rows(envelope: dict[str, Any], request_id: str) -> list[dict[str, Any]]:
    """One row per log event: the event, the envelope's fields, the Firehose request id, and the
    event text parsed as JSON when it starts with ``{`` and ends with ``}``."""
    rows = []
    for event in envelope["logEvents"]:
        message = event["message"]
        if not isinstance(message, str):
            # `event.message.as_str().unwrap()` panics on a non-string message.
            raise _RecordError("panic: log event message is not a string")
        parsed: Any = message
        if message.startswith("{") and message.endswith("}"):
            try:
                parsed = parse_json_text(message)
            except ValueError:
                parsed = message
        rows.append({
            "message": parsed,
            "id": event["id"],
            "timestamp": event.get("timestamp"),
            "requestId": request_id,
            "messageType": envelope["messageType"],
            "owner": envelope["owner"],
            "logGroup": envelope["logGroup"],
            "logStream": envelope["logStream"],
            "subscriptionFilters": list(envelope["subscriptionFilters"]),
            TIMESTAMP_COL: event.get("timestamp"),
        })
    return rows


_METRIC_VALUE_KEYS = ("count", "sum", "max", "min")


def _as_metric_datum(value: Any, arbitrary_precision: bool) -> dict[str, Any] | None:
    """``KinesisFHMetricData`` (tried after the log envelope): the typed fields, or None."""
    def value_ok(v: Any) -> bool:
        return _fields_ok(v, {k: (lambda x: _typed_float(x, arbitrary_precision))
                              for k in _METRIC_VALUE_KEYS})

    checks: dict[str, Callable[[Any], bool]] = {
        "metric_stream_name": _is_str, "account_id": _is_str, "region": _is_str,
        "namespace": _is_str, "metric_name": _is_str, "dimensions": lambda v: True,
        "timestamp": lambda v: _typed_int(v, _I64_MIN, _I64_MAX), "value": value_ok,
        "unit": _is_str,
    }
    return value if _fields_ok(value, checks) else None


def _metric_row(line: dict[str, Any], datum: dict[str, Any]) -> dict[str, Any]:
    """The special metric-stream row: only the struct's fields survive, ``value`` is hoisted
    with ``f32`` precision, dimensions become one ``Name=[json]`` string."""
    dimensions = datum["dimensions"]
    if not isinstance(dimensions, dict):
        raise _RecordError("CloudWatch metrics dimensions parsing failed")
    row: dict[str, Any] = {k: datum[k] for k in
                           ("metric_stream_name", "account_id", "region", "namespace",
                            "metric_name", "unit")}
    for key in _METRIC_VALUE_KEYS:
        number = datum["value"][key]
        row[key] = f32_rounded(_int_to_f32(number) if isinstance(number, int)
                               and not isinstance(number, JsonFloat) else float(number))
    row["metric_dimensions"] = ", ".join(f"{k}=[{to_json_text(v)}]"
                                         for k, v in dimensions.items())
    row[TIMESTAMP_COL] = datum["timestamp"]
    return row


# --- the OpenTelemetry attempt: would prost decode these bytes? --------------------------------
#
# deserialize_aws_record_from_vec first skips bytes up to and including the first one below
# 0x80 (a guessed varint length prefix) and decodes the rest as ExportMetricsServiceRequest.
# JSON text starts with "{" (0x7b), so the attempt starts at the second byte and treats the
# text as protobuf wire format; it usually fails within a few bytes, but not always. The schema
# below (opentelemetry-proto 0.32, metrics v1) lets us judge nested messages as prost would:
# known fields must have their wire type (repeated scalars may be packed), strings must be
# UTF-8, unknown fields are skipped, groups must close, nothing may run past the end.

_MSG, _STR, _BYTES, _VARINT, _F64, _F32 = "msg", "str", "bytes", "varint", "fixed64", "fixed32"
_OTLP: dict[str, dict[int, tuple[str, str | None, bool]]] = {
    # field number → (kind, message name, repeated)
    "Request": {1: (_MSG, "ResourceMetrics", True)},
    "ResourceMetrics": {1: (_MSG, "Resource", False), 2: (_MSG, "ScopeMetrics", True),
                        3: (_STR, None, False)},
    "Resource": {1: (_MSG, "KeyValue", True), 2: (_VARINT, None, False),
                 3: (_MSG, "EntityRef", True)},
    "EntityRef": {1: (_STR, None, False), 2: (_STR, None, False), 3: (_STR, None, True),
                  4: (_STR, None, True)},
    "KeyValue": {1: (_STR, None, False), 2: (_MSG, "AnyValue", False)},
    "AnyValue": {1: (_STR, None, False), 2: (_VARINT, None, False), 3: (_VARINT, None, False),
                 4: (_F64, None, False), 5: (_MSG, "ArrayValue", False),
                 6: (_MSG, "KeyValueList", False), 7: (_BYTES, None, False)},
    "ArrayValue": {1: (_MSG, "AnyValue", True)},
    "KeyValueList": {1: (_MSG, "KeyValue", True)},
    "ScopeMetrics": {1: (_MSG, "Scope", False), 2: (_MSG, "Metric", True),
                     3: (_STR, None, False)},
    "Scope": {1: (_STR, None, False), 2: (_STR, None, False), 3: (_MSG, "KeyValue", True),
              4: (_VARINT, None, False)},
    "Metric": {1: (_STR, None, False), 2: (_STR, None, False), 3: (_STR, None, False),
               5: (_MSG, "Gauge", False), 7: (_MSG, "Sum", False),
               9: (_MSG, "Histogram", False), 10: (_MSG, "ExpHistogram", False),
               11: (_MSG, "Summary", False), 12: (_MSG, "KeyValue", True)},
    "Gauge": {1: (_MSG, "NumberDataPoint", True)},
    "Sum": {1: (_MSG, "NumberDataPoint", True), 2: (_VARINT, None, False),
            3: (_VARINT, None, False)},
    "Histogram": {1: (_MSG, "HistogramDataPoint", True), 2: (_VARINT, None, False)},
    "ExpHistogram": {1: (_MSG, "ExpHistogramDataPoint", True), 2: (_VARINT, None, False)},
    "Summary": {1: (_MSG, "SummaryDataPoint", True)},
    "NumberDataPoint": {7: (_MSG, "KeyValue", True), 2: (_F64, None, False),
                        3: (_F64, None, False), 4: (_F64, None, False), 6: (_F64, None, False),
                        5: (_MSG, "Exemplar", True), 8: (_VARINT, None, False)},
    "HistogramDataPoint": {9: (_MSG, "KeyValue", True), 2: (_F64, None, False),
                           3: (_F64, None, False), 4: (_F64, None, False),
                           5: (_F64, None, False), 6: (_F64, None, True),
                           7: (_F64, None, True), 8: (_MSG, "Exemplar", True),
                           10: (_VARINT, None, False), 11: (_F64, None, False),
                           12: (_F64, None, False)},
    "ExpHistogramDataPoint": {1: (_MSG, "KeyValue", True), 2: (_F64, None, False),
                              3: (_F64, None, False), 4: (_F64, None, False),
                              5: (_F64, None, False), 6: (_VARINT, None, False),
                              7: (_F64, None, False), 8: (_MSG, "Buckets", False),
                              9: (_MSG, "Buckets", False), 10: (_VARINT, None, False),
                              11: (_MSG, "Exemplar", True), 12: (_F64, None, False),
                              13: (_F64, None, False), 14: (_F64, None, False)},
    "Buckets": {1: (_VARINT, None, False), 2: (_VARINT, None, True)},
    "SummaryDataPoint": {7: (_MSG, "KeyValue", True), 2: (_F64, None, False),
                         3: (_F64, None, False), 4: (_F64, None, False), 5: (_F64, None, False),
                         6: (_MSG, "ValueAtQuantile", True), 8: (_VARINT, None, False)},
    "ValueAtQuantile": {1: (_F64, None, False), 2: (_F64, None, False)},
    "Exemplar": {7: (_MSG, "KeyValue", True), 2: (_F64, None, False), 3: (_F64, None, False),
                 6: (_F64, None, False), 4: (_BYTES, None, False), 5: (_BYTES, None, False)},
}
_WIRE = {_VARINT: 0, _F64: 1, _STR: 2, _BYTES: 2, _MSG: 2, _F32: 5}


class _WireError(Exception):
    pass


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if pos >= end:
            raise _WireError("buffer underflow")
        byte = buf[pos]
        pos += 1
        if i == 9 and byte > 1:
            raise _WireError("invalid varint")
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, pos
    raise _WireError("invalid varint")  # pragma: no cover - loop returns or raises


def _skip(buf: bytes, pos: int, end: int, wire: int, field: int, depth: int) -> int:
    if wire == 0:
        return _varint(buf, pos, end)[1]
    if wire == 1:
        pos += 8
    elif wire == 5:
        pos += 4
    elif wire == 2:
        length, pos = _varint(buf, pos, end)
        pos += length
    elif wire == 3:
        if depth > 100:
            raise _WireError("recursion limit reached")
        while True:
            key, pos = _varint(buf, pos, end)
            inner_wire, inner_field = key & 7, key >> 3
            if inner_wire > 5 or key > 0xFFFFFFFF or inner_field == 0:
                raise _WireError("invalid key")
            if inner_wire == 4:
                if inner_field != field:
                    raise _WireError("unexpected end group tag")
                return pos
            pos = _skip(buf, pos, end, inner_wire, inner_field, depth + 1)
    else:
        raise _WireError("unexpected end group tag")
    if pos > end:
        raise _WireError("buffer underflow")
    return pos


def _check_message(buf: bytes, pos: int, end: int, name: str,
                   depth: int) -> list[tuple[int, int, int]]:
    """Validate one message; returns ``(field, start, stop)`` of its direct submessages."""
    if depth > 100:
        raise _WireError("recursion limit reached")
    schema = _OTLP[name]
    subs: list[tuple[int, int, int]] = []
    while pos < end:
        key, pos = _varint(buf, pos, end)
        wire, field = key & 7, key >> 3
        if key > 0xFFFFFFFF or wire > 5:
            raise _WireError("invalid key")
        if field == 0:
            raise _WireError("invalid tag value: 0")
        spec = schema.get(field)
        if spec is None:
            pos = _skip(buf, pos, end, wire, field, depth)
            continue
        kind, sub, repeated = spec
        expected = _WIRE[kind]
        if repeated and wire == 2 and kind in (_VARINT, _F64, _F32):
            length, pos = _varint(buf, pos, end)
            stop = pos + length
            if stop > end:
                raise _WireError("buffer underflow")
            if kind == _F64 and length % 8:
                raise _WireError("invalid packed length")
            if kind == _VARINT:
                while pos < stop:
                    _, pos = _varint(buf, pos, stop)
            pos = stop
            continue
        if wire != expected:
            raise _WireError("invalid wire type")
        if wire == 2:
            length, pos = _varint(buf, pos, end)
            stop = pos + length
            if stop > end:
                raise _WireError("buffer underflow")
            if kind == _STR:
                try:
                    buf[pos:stop].decode("utf-8")
                except UnicodeDecodeError:
                    raise _WireError("invalid string value: data is not UTF-8 encoded") from None
            elif kind == _MSG:
                assert sub is not None
                _check_message(buf, pos, stop, sub, depth + 1)
                subs.append((field, pos, stop))
            pos = stop
        else:
            pos = _skip(buf, pos, end, wire, field, depth)
    if pos != end:
        raise _WireError("buffer underflow")
    return subs


def _otlp_body(payload: bytes) -> bytes | None:
    for index, byte in enumerate(payload):
        if byte < 0x80:  # get_size_of_var_int_header
            return payload[index + 1:]
    return None


def _looks_like_otlp_metrics(payload: bytes) -> bool:
    """Would ``ExportMetricsServiceRequest::decode`` accept the bytes after the "header"?"""
    body = _otlp_body(payload)
    if body is None:
        return False
    try:
        _check_message(body, 0, len(body), "Request", 0)
    except _WireError:
        return False
    return True


def _otlp_has_resources(payload: bytes) -> bool:
    """Whether any ResourceMetrics carries a resource (the source skips those without one,
    ``construct_values_from_open_telemetry_v1_metric``)."""
    body = _otlp_body(payload)
    assert body is not None
    for field, start, stop in _check_message(body, 0, len(body), "Request", 0):
        if field == 1 and any(f == 1 for f, _, _ in
                              _check_message(body, start, stop, "ResourceMetrics", 1)):
            return True
    return False


# --- access key (src/api/common/src/auth/validator.rs validator_aws) --------------------------


def check_access_key(header_value: str | None, users: Mapping[str, str | Collection[str]], *,
                     org_tokens: Collection[str] = ()) -> bool:
    """Whether ``X-Amz-Firehose-Access-Key`` authenticates the request.

    The header is strict base64 of UTF-8 ``"<user>:<secret>"``; only the text between the first
    and second ``:`` is the secret (so a secret containing ``:`` never matches). ``users`` maps
    each member's email (of the org in the path) to the secret(s) it may use: its ingestion
    passcode (``user.token``) and, since ``validate_credentials`` falls through to the password
    check, its login password too; ``org_tokens`` holds
    the org's enabled ``o2oi_`` ingestion tokens, which work with any user name.
    A header without ``:`` makes the server panic (``creds[1]``); here it is simply refused.
    Refusal is HTTP 401 with body :data:`UNAUTHORIZED_BODY` and :data:`UNAUTHORIZED_HEADERS`.
    """
    if header_value is None:
        return False
    try:
        creds = b64decode_strict(header_value).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    parts = creds.split(":")
    if len(parts) < 2:
        return False
    user, secret = parts[0], parts[1]
    if secret.startswith(ORG_INGESTION_TOKEN_PREFIX) and secret in org_tokens:
        return True
    if not secret:
        return False  # an empty password on an ingestion route is never valid
    accepted = users.get(user)
    if accepted is None:
        return False
    return secret == accepted if isinstance(accepted, str) else secret in accepted


# --- the whole route, for mounting -------------------------------------------------------------


@dataclass(frozen=True)
class FirehoseResult:
    status: int
    body: dict[str, Any] | str  # dict → JSON response, str → text/plain
    headers: dict[str, str]
    rows: list[dict[str, Any]]  # what to write into the stream (empty unless 200)
    # With a realtime pipeline: (stream_type, stream) -> rows, instead of ``rows``.
    routed: dict[tuple[str, str], list[dict[str, Any]]] | None = None


def handle_request(body: bytes, headers: Mapping[str, str], *, now_us: int,
                   users: Mapping[str, str | Collection[str]],
                   org_tokens: Collection[str] = (),
                   route: Callable[[list[Any]], dict[tuple[str, str], list[Any]]] | None = None,
                   **decode_options: Any) -> FirehoseResult:
    """``POST /aws/{org}/{stream}/_kinesis_firehose`` end to end, in the order the server's layers
    run (``other_service_routes``): Content-Encoding (415 for an unknown one), the access key
    (401), reading and decompressing the body (400), the JSON content type (415), the body
    (400/422), then :func:`decode_firehose_body`. ``users``/``org_tokens`` are those of the org
    in the path; ``decode_options`` go to :func:`decode_firehose_body`. ``route``: the stream's
    realtime pipeline — it gets the unflattened items and says which items go to which stream;
    each is then flattened and timed (``handle_timestamp`` runs after the pipeline).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    encoding = lowered.get("content-encoding")
    if encoding is not None and encoding.strip().lower() not in (
            "identity", "snappy", "", "gzip", "deflate", "br", "zstd"):
        return FirehoseResult(415, "", {}, [])
    if not check_access_key(lowered.get(ACCESS_KEY_HEADER.lower()), users,
                            org_tokens=org_tokens):
        return FirehoseResult(401, UNAUTHORIZED_BODY, dict(UNAUTHORIZED_HEADERS), [])
    try:
        plain = decode_content_encoding(body, encoding)
        if not _is_json_content_type(lowered.get("content-type")):
            raise FirehoseError(415, "Expected request with `Content-Type: application/json`")
        routed: dict[tuple[str, str], list[dict[str, Any]]] | None = None
        if route is None:
            rows = decode_firehose_body(plain, now_us=now_us, **decode_options)
        else:
            rows = []
            precision = decode_options.get("arbitrary_precision", True)
            finalize = {k: v for k, v in decode_options.items() if k != "arbitrary_precision"}
            values = decode_firehose_values(plain, now_us=now_us, arbitrary_precision=precision)
            routed = {dest: finalize_rows(items, now_us=now_us, **finalize)
                      for dest, items in route(values).items()}
    except FirehoseError as exc:
        return FirehoseResult(exc.status, exc.body, {}, [])
    request = parse_request(plain)
    answer_ts = request.timestamp if request.timestamp is not None else now_us // 1000
    return FirehoseResult(200, firehose_response(request.request_id, answer_ts), {}, rows,
                          routed)


def _is_json_content_type(value: str | None) -> bool:
    """axum's ``json_content_type``: ``application/json`` or any ``application/*+json``."""
    if value is None:
        return False
    mime = value.split(";", 1)[0].strip().lower()
    kind, _, subtype = mime.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))
