"""The columns each configured stream is documented to have, so ``o2kit validate`` can catch a
misspelt column before OpenObserve answers "No field named …" at query time.

A stream plays one *role* (see ``o2kit.yaml`` ``streams:``):

- ``invocation_logs`` – Bedrock model-invocation logs arriving as CloudWatch Logs envelopes through
  Firehose (reference bedrock-telemetry.md §3.2 envelope columns and §3.3 ``message_*`` columns,
  plus the ``message_requestmetadata_<key>`` family for caller tags);
- ``metrics`` – the CloudWatch metric stream ``AWS/Bedrock`` in JSON output. Its columns depend on
  ``streams.metrics_layout`` (see ``o2kit.project.config.Streams``): ``flattened`` — what
  OpenObserve
  fbab9b80 stores for CloudWatch's float values, plain JSON flattening (``value_*``,
  ``dimensions_*``, ``timestamp``) — or ``special`` — the metric-stream special case of
  reference §4.2 (``count``/``sum``/``max``/``min``, ``metric_dimensions``). The same stream
  carries ``AWS/Firehose`` datapoints when the metric stream includes that namespace (dimension
  ``DeliveryStreamName``: flattened ``dimensions_deliverystreamname``, special
  ``metric_dimensions`` = ``DeliveryStreamName=["…"]``) and Bedrock's log-delivery metrics
  (``ModelInvocationLogs*Delivery*``, no dimensions: flattened, no ``dimensions_*`` value;
  special, ``metric_dimensions`` = ``''``);
- ``application_logs`` – the user's own structured logs; we only know the fields the
  configuration names (``latency_field``, ``model_field``, any other ``*_field``) and
  ``_timestamp``. Deliberately conservative: any
  other column is reported, because we cannot know it exists.

Every OpenObserve stream has ``_timestamp``. Column names are stored lower-case with
``[^a-z0-9_]`` replaced by ``_`` (reference §5), so a documented column never needs quoting
except the metric columns that collide with SQL function names (``"sum"``, ``"count"``…).

Pure: built from the configuration only.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from o2kit.project.config import Config

TIMESTAMP = "_timestamp"

ROLE_METRICS = "metrics"
ROLE_INVOCATION_LOGS = "invocation_logs"
ROLE_APPLICATION_LOGS = "application_logs"
ROLES: tuple[str, ...] = (ROLE_METRICS, ROLE_INVOCATION_LOGS, ROLE_APPLICATION_LOGS)
ROLE_LABELS: Mapping[str, str] = {
    ROLE_METRICS: "Bedrock metric stream",
    ROLE_INVOCATION_LOGS: "Bedrock invocation logs",
    ROLE_APPLICATION_LOGS: "application logs",
}

# OpenObserve stream type of every role: both Firehose streams and application logs are *logs*
# streams (bedrock-telemetry.md §1: "Both are OpenObserve logs streams").
STREAM_TYPE_OF_ROLE: Mapping[str, str] = {
    ROLE_METRICS: "logs",
    ROLE_INVOCATION_LOGS: "logs",
    ROLE_APPLICATION_LOGS: "logs",
}

# bedrock-telemetry.md §3.2: the row built from the CloudWatch Logs envelope and event.
_ENVELOPE_COLUMNS = (
    TIMESTAMP,
    "timestamp",
    "id",
    "requestid",
    "messagetype",
    "owner",
    "loggroup",
    "logstream",
    "subscriptionfilters",
    "message",  # only for events whose text is not a JSON object (CONTROL messages)
)

# bedrock-telemetry.md §3.3: the Bedrock record, flattened under ``message_`` (flatten level 3).
_BEDROCK_RECORD_COLUMNS = (
    "message_schematype",
    "message_schemaversion",
    "message_timestamp",
    "message_accountid",
    "message_identity_arn",
    "message_region",
    "message_inferenceregion",
    "message_requestid",
    "message_operation",
    "message_modelid",
    "message_errorcode",
    "message_input_inputtokencount",
    "message_input_cachereadinputtokencount",
    "message_input_cachewriteinputtokencount",
    "message_input_inputcontenttype",
    "message_input_inputbodyjson",
    "message_output_outputtokencount",
    "message_output_outputcontenttype",
    "message_output_outputbodyjson",
    "message_input_inputbodys3path",
    "message_output_outputbodys3path",
    "message_performanceconfig_latency",
)

INVOCATION_LOG_COLUMNS: frozenset[str] = frozenset(_ENVELOPE_COLUMNS + _BEDROCK_RECORD_COLUMNS)

# ``requestMetadata.<key>`` → ``message_requestmetadata_<key>`` with the key normalised
# (bedrock-telemetry.md §3.3 and §5), so any normalised key is a documented column.
REQUEST_METADATA_PREFIX = "message_requestmetadata_"
_NORMALISED_KEY = re.compile(r"[a-z0-9_]+")

# Columns of a metric-stream datapoint in both layouts (the datum's own string fields).
_METRIC_COMMON_COLUMNS = (
    TIMESTAMP,
    "metric_stream_name",
    "account_id",
    "region",
    "namespace",
    "metric_name",
    "unit",
)

# bedrock-telemetry.md §4.2, layout ``special``: the statistics hoisted out of ``value`` (no
# ``value_`` prefix), dimensions joined into one ``metric_dimensions`` string, no ``timestamp``
# column (it became ``_timestamp``). No percentile columns: the special case keeps only these four
# statistics of ``value`` (``KinesisFHMetricValue``, src/ingestion_common/src/lib.rs) and drops
# CloudWatch's AdditionalStatistics (``p99`` …), which the flattened layout keeps as ``value_p99``.
METRIC_STREAM_COLUMNS: frozenset[str] = frozenset(
    _METRIC_COMMON_COLUMNS + ("count", "sum", "max", "min", "metric_dimensions")
)

# Layout ``flattened``: the datum is a generic JSON row (src/core/src/logs/ingest.rs
# ``deserialize_aws_record_from_vec``, the fall-through arm; flattening §5): ``value.sum`` →
# ``value_sum`` …, ``dimensions.ModelId`` → ``dimensions_modelid`` (one column per dimension),
# ``timestamp`` kept as the datapoint time in ms, ``_timestamp`` = ingestion time.
METRIC_STREAM_FLATTENED_COLUMNS: frozenset[str] = frozenset(
    _METRIC_COMMON_COLUMNS
    + ("timestamp", "value_count", "value_sum", "value_max", "value_min", "dimensions_modelid")
    # AWS/Firehose datapoints (delivery health) in the same metric stream
    + ("dimensions_deliverystreamname",)
)
# Any other dimension (``dimensions_<name>``) or extra statistic in ``value`` (a percentile such
# as ``p99`` → ``value_p99``, if the metric stream is configured with one) is a column too.
METRIC_STREAM_FLATTENED_PREFIXES: tuple[str, ...] = ("dimensions_", "value_")

# What a column of one layout is called in the other, for "did you mean" messages: a query
# written for the wrong layout is the likeliest reason for an unknown metric column.
_FLATTENED_NAME_OF: Mapping[str, str] = {
    "sum": "value_sum",
    "count": "value_count",
    "max": "value_max",
    "min": "value_min",
    "metric_dimensions": "dimensions_modelid",
}
_SPECIAL_NAME_OF: Mapping[str, str] = {v: k for k, v in _FLATTENED_NAME_OF.items()} | {
    "timestamp": TIMESTAMP,
    "dimensions_deliverystreamname": "metric_dimensions",
}


# --- the shipped ingest pipeline (o2kit.yaml ``ingest.pipeline: true``) -------------------------
# functions/bedrock_invocation_logs.vrl.j2 and functions/bedrock_metric_stream.vrl write these
# typed columns (README "Ingest pipeline" lists them with the same words; a test keeps the two
# in step). The server flattens the function's result at the destination node
# (src/core/src/pipeline/batch_execution.rs, DestinationNode: flatten_with_level), so nested
# objects become ``<key>_<subkey>`` columns, names normalised as in §5.

PIPELINE_INVOCATION_LOG_COLUMNS: Mapping[str, str] = {
    TIMESTAMP: "the CloudWatch Logs event time (the request time)",
    "schema_type": "schemaType (ModelInvocationLog)",
    "model_id": "modelId (a model id, an inference-profile id or ARN)",
    "region": "region of the call",
    "inference_region": "inferenceRegion (cross-Region inference profiles)",
    "operation": "operation (Converse, ConverseStream, InvokeModel, …)",
    "request_id": "requestId",
    "account_id": "accountId",
    "caller": "identity.arn of the caller",
    "error_code": "errorCode of a failed call",
    "performance_latency": "performanceConfig.latency (standard or optimized inference)",
    "input_tokens": "input.inputTokenCount",
    "output_tokens": "output.outputTokenCount",
    "cache_read_tokens": "input.cacheReadInputTokenCount",
    "cache_write_tokens": "input.cacheWriteInputTokenCount",
    "latency_ms": "metrics.latencyMs of a Converse response, or of a ConverseStream response's "
                  "metadata event",
    "max_tokens": "the request's output-token limit (inferenceConfig.maxTokens, max_tokens or "
                  "max_gen_len)",
    "request_metadata_<key>": "one column per requestMetadata key (key lower-cased, other "
                              "characters than [a-z0-9_] as _)",
    "input_body": "the request body as JSON text; ingest.privacy: keep (whole), {truncate: N} "
                  "(first N characters), drop (no column)",
    "output_body": "the response body as JSON text, like input_body",
    "prompt_sha256": "SHA-256 of the request body as canonical JSON (keys sorted), with "
                     "ingest.prompt_hash: true",
    "input_body_s3_path": "input.inputBodyS3Path (bodies Bedrock wrote to S3)",
    "output_body_s3_path": "output.outputBodyS3Path",
}
PIPELINE_REQUEST_METADATA_PREFIX = "request_metadata_"

PIPELINE_METRIC_COLUMNS: Mapping[str, str] = {
    TIMESTAMP: "the datapoint's minute (CloudWatch timestamp), not the Firehose arrival time",
    "metric_stream_name": "the metric stream",
    "account_id": "account of the datapoint",
    "region": "region of the datapoint",
    "namespace": "AWS/Bedrock (or AWS/Firehose)",
    "metric_name": "Invocations, InvocationLatency, …",
    "unit": "Count, Milliseconds, …",
    "value_count": "statistic count",
    "value_sum": "statistic sum",
    "value_min": "statistic min",
    "value_max": "statistic max",
    "value_<statistic>": "each AdditionalStatistic (value_p50, value_p90, value_p99, p99.9 as "
                         "value_p99_9); flattened server layout only (the special case drops "
                         "them before any pipeline)",
    "dimensions_<name>": "one column per CloudWatch dimension (dimensions_modelid, "
                         "dimensions_deliverystreamname)",
}


def _concrete(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n for n in names if "<" not in n)


# A control message the function passes through keeps the envelope's columns.
_PIPELINE_LOG_COLUMNS = _concrete(PIPELINE_INVOCATION_LOG_COLUMNS) | frozenset(_ENVELOPE_COLUMNS)
_PIPELINE_METRIC_COLUMNS = _concrete(PIPELINE_METRIC_COLUMNS) | {
    "dimensions_modelid", "dimensions_deliverystreamname"}


# A raw invocation-log column → the pipeline's typed column (suggestions only).
_TYPED_NAME_OF: Mapping[str, str] = {
    "message_modelid": "model_id", "message_region": "region", "message_operation": "operation",
    "message_schematype": "schema_type", "message_errorcode": "error_code",
    "message_identity_arn": "caller", "message_input_inputtokencount": "input_tokens",
    "message_output_outputtokencount": "output_tokens",
    "message_input_cachereadinputtokencount": "cache_read_tokens",
    "message_input_cachewriteinputtokencount": "cache_write_tokens",
    "message_input_inputbodyjson": "input_body", "message_output_outputbodyjson": "output_body",
    "message_requestid": "request_id", "message_accountid": "account_id",
    "message_inferenceregion": "inference_region", "timestamp": TIMESTAMP,
}


def metric_stream_columns(layout: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """``(columns, column-name prefixes)`` of a metric-stream row in ``layout``."""
    if layout == "flattened":
        return METRIC_STREAM_FLATTENED_COLUMNS, METRIC_STREAM_FLATTENED_PREFIXES
    if layout == "special":
        return METRIC_STREAM_COLUMNS, ()
    raise ValueError(f"unknown metrics layout {layout!r}")


@dataclass(frozen=True)
class StreamColumns:
    """What we know about one configured stream."""

    stream: str
    roles: tuple[str, ...]
    columns: frozenset[str]
    prefixes: tuple[str, ...] = field(default=())
    # Known names of the *other* metrics layout → this layout's name (suggestions only).
    renamed: Mapping[str, str] = field(default_factory=dict)

    @property
    def stream_type(self) -> str:
        return STREAM_TYPE_OF_ROLE[self.roles[0]]

    def documents(self, column: str) -> bool:
        """True if ``column`` (exact, case-sensitive as stored) is documented for this stream."""
        if column in self.columns:
            return True
        for prefix in self.prefixes:
            rest = column[len(prefix) :] if column.startswith(prefix) else ""
            if rest and _NORMALISED_KEY.fullmatch(rest):
                return True
        return False

    def suggest(self, column: str) -> str | None:
        """The closest documented column, for "did you mean" messages."""
        candidates = sorted(self.columns) + [f"{p}<key>" for p in self.prefixes]
        lowered = column.lower()
        if lowered in self.renamed:
            return self.renamed[lowered]
        if lowered != column and self.documents(lowered):
            return lowered
        matches = difflib.get_close_matches(lowered, candidates, n=1, cutoff=0.6)
        return matches[0] if matches else None

    def describe(self) -> str:
        return " and ".join(ROLE_LABELS[r] for r in self.roles)


def _columns_of_role(role: str, config: Config) -> tuple[frozenset[str], tuple[str, ...]]:
    pipeline = config.ingest.pipeline
    if role == ROLE_METRICS:
        if pipeline:
            return _PIPELINE_METRIC_COLUMNS, METRIC_STREAM_FLATTENED_PREFIXES
        return metric_stream_columns(config.streams.metrics_layout)
    if role == ROLE_INVOCATION_LOGS:
        if pipeline:
            return _PIPELINE_LOG_COLUMNS, (PIPELINE_REQUEST_METADATA_PREFIX,)
        return INVOCATION_LOG_COLUMNS, (REQUEST_METADATA_PREFIX,)
    app = config.streams.application_logs
    assert app is not None
    # Every ``*_field`` setting names a column (latency_field, model_field, and any added later).
    named = {
        value
        for key, value in app.model_dump().items()
        if key.endswith("_field") and isinstance(value, str) and value
    }
    return frozenset({TIMESTAMP} | named), ()


def _role_pairs(config: Config) -> list[tuple[str, str]]:
    pairs = [
        (config.streams.metrics, ROLE_METRICS),
        (config.streams.invocation_logs, ROLE_INVOCATION_LOGS),
    ]
    if config.streams.application_logs is not None:
        pairs.append((config.streams.application_logs.stream, ROLE_APPLICATION_LOGS))
    return pairs


def catalogue(config: Config) -> dict[str, StreamColumns]:
    """Every configured stream (by name) with its documented columns.

    Two roles configured on one stream name (unusual, but not refused by the configuration)
    merge their columns: a column documented for either role is accepted.
    """
    merged: dict[str, StreamColumns] = {}
    for stream, role in _role_pairs(config):
        columns, prefixes = _columns_of_role(role, config)
        renamed: Mapping[str, str] = {}
        if role == ROLE_METRICS:
            renamed = (
                _FLATTENED_NAME_OF
                if config.streams.metrics_layout == "flattened" or config.ingest.pipeline
                else _SPECIAL_NAME_OF
            )
        elif role == ROLE_INVOCATION_LOGS and config.ingest.pipeline:
            renamed = _TYPED_NAME_OF
        known = merged.get(stream)
        if known is None:
            merged[stream] = StreamColumns(stream, (role,), columns, prefixes, renamed)
        else:
            merged[stream] = StreamColumns(
                stream,
                known.roles + (role,),
                known.columns | columns,
                known.prefixes + tuple(p for p in prefixes if p not in known.prefixes),
                {**known.renamed, **renamed},
            )
    return merged


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``name`` (difflib), or None."""
    matches = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.6)
    return matches[0] if matches else None


# Arrow types of the columns o2kit may have to declare when it creates a stream before data has
# arrived (``apply --create-streams``), as ingestion would type them: metric-stream statistics are
# Float64 in both layouts (special: bedrock-telemetry.md §4.2; flattened: CloudWatch writes them
# as JSON floats, "sum":42.0, which schema inference types Float64), token counts and the
# ``timestamp`` columns Int64 (§3.2, §3.3; the flattened metric row's ``timestamp`` is the
# datapoint time in ms), everything else text. A wrong guess would clash with the first ingested
# batch, so only these.
_FLOAT_COLUMNS = frozenset(
    {"count", "sum", "max", "min", "value_count", "value_sum", "value_max", "value_min"}
)
_INT_SUFFIXES = ("tokencount", "_timestamp", "_tokens")
# The pipeline's integer columns (functions/bedrock_invocation_logs.vrl.j2).
_INT_COLUMNS = frozenset({"latency_ms", "max_tokens"})
# A CloudWatch percentile inside ``value`` (streams.metric_percentiles), flattened: ``p99`` →
# ``value_p99``, ``p99.9`` → ``value_p99_9``; a JSON float like the other statistics.
_PERCENTILE_COLUMN = re.compile(r"value_p\d+(_\d+)?")


def column_type(name: str) -> str:
    """The Arrow type OpenObserve's ingestion gives the documented column ``name``."""
    if name in _FLOAT_COLUMNS or _PERCENTILE_COLUMN.fullmatch(name):
        return "Float64"
    if name in ("timestamp", TIMESTAMP) or name in _INT_COLUMNS or name.endswith(_INT_SUFFIXES):
        return "Int64"
    return "Utf8"
