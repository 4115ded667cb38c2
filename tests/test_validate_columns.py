"""The column catalogue: which columns each configured stream is documented to have."""

from __future__ import annotations

from o2kit.project.columns import catalogue, column_type
from o2kit.project.config import Config


def _config(**streams: object) -> Config:
    return Config.model_validate({"streams": streams})


def test_default_streams_and_roles() -> None:
    streams = catalogue(Config())
    assert set(streams) == {"bedrock_metrics", "bedrock_logs"}
    assert streams["bedrock_metrics"].roles == ("metrics",)
    assert streams["bedrock_logs"].stream_type == "logs"


def test_metric_stream_columns_special_layout() -> None:
    metrics = catalogue(_config(metrics_layout="special"))["bedrock_metrics"]
    for column in ("_timestamp", "sum", "count", "max", "min", "metric_dimensions", "unit"):
        assert metrics.documents(column)
    # reference §4.2: no value_ prefix, no dimensions_* columns, no timestamp column
    for column in ("value_sum", "dimensions_modelid", "timestamp", "p99_0"):
        assert not metrics.documents(column)
    assert metrics.suggest("value_sum") == "sum"
    assert metrics.suggest("dimensions_modelid") == "metric_dimensions"


def test_metric_stream_columns_flattened_layout_is_the_default() -> None:
    metrics = catalogue(Config())["bedrock_metrics"]
    explicit = catalogue(_config(metrics_layout="flattened"))["bedrock_metrics"]
    assert metrics.columns == explicit.columns
    for column in ("_timestamp", "timestamp", "value_sum", "value_count", "value_max",
                   "value_min", "dimensions_modelid", "region", "metric_name", "unit",
                   "value_p99", "dimensions_other"):
        assert metrics.documents(column), column
    for column in ("sum", "count", "metric_dimensions", "value_", "value_P99"):
        assert not metrics.documents(column), column
    # a query written for the other layout is pointed at the column holding the same data
    assert metrics.suggest("sum") == "value_sum"
    assert metrics.suggest("COUNT") == "value_count"
    assert metrics.suggest("metric_dimensions") == "dimensions_modelid"


def test_column_types_of_both_layouts() -> None:
    for name in ("sum", "count", "max", "min", "value_sum", "value_count", "value_max",
                 "value_min"):
        assert column_type(name) == "Float64", name
    assert column_type("timestamp") == "Int64" and column_type("_timestamp") == "Int64"
    assert column_type("dimensions_modelid") == "Utf8"
    assert column_type("metric_dimensions") == "Utf8"


def test_invocation_log_columns_and_request_metadata_family() -> None:
    logs = catalogue(Config())["bedrock_logs"]
    for column in (
        "_timestamp",
        "messagetype",
        "message_modelid",
        "message_input_cachereadinputtokencount",
        "message_requestmetadata_team",
        "message_requestmetadata_cost_center",
    ):
        assert logs.documents(column), column
    for column in ("message_requestmetadata_", "message_requestmetadata_Cost-Center", "modelid"):
        assert not logs.documents(column), column


def test_application_logs_know_only_the_configured_fields() -> None:
    config = _config(application_logs={"stream": "app", "latency_field": "dur", "model_field": "m"})
    app = catalogue(config)["app"]
    assert app.columns == {"_timestamp", "dur", "m"}
    assert app.roles == ("application_logs",)


def test_suggestions() -> None:
    logs = catalogue(Config())["bedrock_logs"]
    assert logs.suggest("message_modelld") == "message_modelid"
    assert logs.suggest("MESSAGE_MODELID") == "message_modelid"  # a quoted upper-case name
    assert logs.suggest("zzzz") is None


def test_two_roles_on_one_stream_merge() -> None:
    merged = catalogue(_config(metrics="bedrock", invocation_logs="bedrock"))["bedrock"]
    assert merged.roles == ("metrics", "invocation_logs")
    assert merged.documents("metric_name") and merged.documents("message_modelid")
    assert merged.documents("message_requestmetadata_team")
