"""Streams: ``GET /api/{org}/streams``, ``GET /api/{org}/streams/{name}/schema`` and
``POST /api/{org}/streams/{name}`` (create an empty stream with a schema).

Shapes from ``/work/oo/src/api/management/src/request/stream/mod.rs`` (``list``, ``schema``),
``src/stream/src/lib.rs`` (``stream_res``), ``src/common/src/meta/stream.rs`` (``Stream``,
``ListStream``) and ``src/config/src/meta/stream.rs`` (``StreamStats``, ``impl Serialize for
StreamSettings``). The ``type`` query parameter goes through ``StreamType::from``: lower-cased,
unknown values mean ``logs``.

Streams exist here when a test adds them (``FakeOpenObserve.add_stream``), a client creates one,
or data is ingested (``fake/ingest.py``). A stream without schema fields counts as missing, as on
the server. The stats are real counts of the ingested rows: ``doc_num``, ``doc_time_min``/``max``
(µs) and ``storage_size`` (MB; the rows' Arrow size stands in for the original size). The server
fills them from its file list a little later, the fake at once; ``file_num`` and the compressed
and index sizes stay 0.
"""

from __future__ import annotations

from typing import Any

from .http import Request, Response, error, json_response, ok, read_json, shape_error
from .serde import Field, SerdeError, Str, Struct, Value, Vec
from .state import Store, Stream

# ``StreamCreate {fields: Vec<StreamField>, settings: StreamSettings}`` (src/common/src/meta/
# stream.rs): both keys required; every StreamSettings key has a serde default
# (src/config/src/meta/stream.rs), so any object will do for ``settings``.
_CREATE_BODY = Struct("StreamCreate", [
    Field("fields", Vec(Struct("StreamField", [Field("name", Str()), Field("type", Str())]))),
    Field("settings", Value()),
])
# Arrow type names ``DataType::from_str`` accepts that a stream schema uses.
_ARROW_TYPES = {"Utf8", "LargeUtf8", "Int64", "Int32", "UInt64", "Float64", "Float32", "Boolean"}

_MB = 1024 * 1024  # stream_res divides the sizes by SIZE_IN_MB (src/stream/src/lib.rs)

STREAM_TYPES = {"logs", "metrics", "traces", "service_graph", "enrichment_tables", "file_list",
                "metadata", "index"}


def stream_type_param(raw: str | None) -> str | None:
    """``get_stream_type_from_request``: None when absent; ``StreamType::from`` otherwise."""
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered == "enrich":
        return "enrichment_tables"
    return lowered if lowered in STREAM_TYPES else "logs"


def default_settings() -> dict[str, Any]:
    """``StreamSettings::default()`` as its custom ``Serialize`` writes it."""
    return {
        "partition_keys": {}, "full_text_search_keys": [], "index_fields": [],
        "bloom_filter_fields": [], "distinct_value_fields": [], "data_retention": 0,
        "max_query_range": 0, "store_original_data": False, "approx_partition": False,
        "index_updated_at": 0, "extended_retention_days": [], "index_original_data": False,
        "index_all_values": False, "enable_distinct_fields": False,
        "enable_log_patterns_extraction": False, "is_llm_stream": False,
        "storage_type": "normal",
    }


def stream_json(stream: Stream, with_schema: bool) -> dict[str, Any]:
    schema = [{"name": k, "type": v} for k, v in stream.fields.items()] if with_schema else []
    body: dict[str, Any] = {
        "name": stream.name, "storage_type": "disk", "stream_type": stream.stream_type,
        "stats": {"created_at": stream.created_at, "doc_time_min": stream.doc_time_min,
                  "doc_time_max": stream.doc_time_max, "doc_num": len(stream.rows),
                  "file_num": 0, "storage_size": stream.stored_bytes / _MB,
                  "compressed_size": 0.0, "index_size": 0.0},
        "schema": schema, "settings": stream.settings,
    }
    if stream.stream_type == "metrics":
        body["metrics_meta"] = {"metric_type": "Empty", "metric_family_name": stream.name,
                                "help": stream.name, "unit": ""}
    body["total_fields"] = len(schema)
    return body


def list_streams(store: Store, req: Request) -> Response:
    org = req.params["org"]
    query = req.query_map()
    stream_type = stream_type_param(query.get("type"))
    fetch = query.get("fetchSchema")
    if fetch is not None and fetch.lower() not in ("true", "false"):
        raise error(400, " 'fetchSchema' query param with value 'true' or 'false' allowed")
    with_schema = fetch is not None and fetch.lower() == "true"
    found = [s for (o, t, _), s in store.streams.items()
             if o == org and s.fields and (stream_type is None or t == stream_type)]
    keyword = query.get("keyword", "").lower()
    if keyword:
        found = [s for s in found if keyword in s.name.lower()]
    total = len(found)
    offset = _int(query.get("offset"))
    limit = _int(query.get("limit"))
    if offset >= len(found):
        return json_response({"list": [], "total": total})
    found.sort(key=lambda s: s.name, reverse=query.get("asc", "true").lower() not in ("true", "1"))
    if limit > 0:
        found = found[offset:offset + limit]
    return json_response({"list": [stream_json(s, with_schema) for s in found], "total": total})


def stream_schema(store: Store, req: Request) -> Response:
    query = req.query_map()
    stream_type = stream_type_param(query.get("type")) or "logs"
    stream = store.stream(req.params["org"], stream_type, req.params["stream"])
    if stream is None or not stream.fields:
        raise error(404, "stream not found")
    body = stream_json(stream, True)
    keyword = query.get("keyword")
    if keyword:
        body["schema"] = [f for f in body["schema"] if keyword in f["name"]]
    body["total_fields"] = len(body["schema"])
    offset, limit = _int(query.get("offset")), _int(query.get("limit"))
    if offset >= len(body["schema"]):
        body["schema"] = []
    elif limit > 0:
        body["schema"] = body["schema"][offset:offset + limit]
    return json_response(body)


def _int(raw: str | None) -> int:
    return int(raw) if raw is not None and raw.isdigit() else 0


def create_stream(store: Store, req: Request) -> Response:
    """``create_stream`` (src/stream/src/lib.rs): 400 when the stream already has fields, 400 for
    an unknown data type, ``_timestamp`` Int64 added when absent, then ``stream created``."""
    org, name = req.params["org"], req.params["stream"]
    stream_type = stream_type_param(req.query_map().get("type")) or "logs"
    if stream_type in ("enrichment_tables", "index"):
        # src/api/management/src/request/stream/mod.rs `create`
        raise error(400, f"Stream type '{stream_type}' not allowed")
    try:
        body = _CREATE_BODY.de(read_json(req))
    except SerdeError as err:
        raise shape_error(err) from None
    existing = store.stream(org, stream_type, name)
    if existing is not None and existing.fields:
        raise error(400, "stream already exists")
    fields: dict[str, str] = {}
    for field in body["fields"]:
        if field["type"] not in _ARROW_TYPES:
            raise error(400, f"invalid data type: {field['type']}")
        fields[field["name"]] = field["type"]
    fields.setdefault("_timestamp", "Int64")
    settings = default_settings()
    if isinstance(body["settings"], dict):
        settings.update({k: v for k, v in body["settings"].items() if k in settings})
    store.streams[(org, stream_type, name)] = Stream(org, name, stream_type, fields, settings,
                                                     store.now_micros())
    return ok("stream created")
