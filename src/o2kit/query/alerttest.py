"""Alert unit tests (``o2kit test``): evaluate an alert on given rows the way OpenObserve's
scheduler would, and compare the outcome with what a test file expects.

In the spirit of Prometheus's ``promtool test rules``: small YAML files under ``alert-tests/``
give input rows (or a synthetic-traffic scenario), an evaluation time and the expected outcome.
The alert is the project's own, rendered with the project's configuration (``--env`` included),
so a test breaks when a template or a threshold change breaks the alert.

Test-file format (the pydantic models below are the reference)::

    alert: bedrock_throttling          # the alert's name in the project (alerts/*.yaml)
    folder: Bedrock                    # optional; only when two folders hold that name
    tests:
      - name: a burst on one model fires
        at: "2026-11-28T12:00:00Z"     # when the scheduler runs the alert (the window's end)
        metrics_layout: special        # optional; run only when o2kit.yaml uses this layout
        ingest_pipeline: false         # optional; run only when o2kit.yaml's ingest.pipeline is
                                       # this (hand-written rows name raw or typed columns)
        input:                         # rows by stream, columns as OpenObserve stores them
          bedrock_metrics:
            - {minutes_ago: 3, metric_name: InvocationThrottles, sum: 25, ...}
            # each row: `minutes_ago` (before `at`) or `_timestamp` (µs or RFC 3339)
        scenario:                      # and/or synthetic Bedrock traffic (o2kit.aws.synth)
          generator: bedrock
          minutes: 30                  # traffic for the 30 minutes before `at`
          seed: 1
          throttle_burst: {start_minute: 25, minutes: 5, extra_per_minute: 20}
        expect:
          fires: true
          rows:                        # optional: exactly these rows, in any order; each row
            - {model_id: "...", throttles: {gt: 10}}   # lists the columns it checks; a number
                                       # matches within `tolerance`; {gt, ge, lt, le} bound it
          messages: ["...: 25 throttled requests"]     # optional: the row_template lines
          tolerance: 1.0e-6            # optional relative tolerance for numbers

Scenario rows go through the Firehose decoder of the fake server (``o2kit.fake.firehose``), so
they are stored exactly as OpenObserve would store them, in the metric layout the project's
``streams.metrics_layout`` names. Each minute of traffic is delivered
``delivery_delay_seconds`` after the minute ends (default 60); what has not arrived by ``at`` is
not there yet, and with the flattened layout ``_timestamp`` *is* that arrival time.

Evaluation semantics, from the OpenObserve source (commit fbab9b80; paths under ``src/``):

* The scheduler evaluates an alert at its trigger's ``next_run_at`` T over ``[T - period, T)``:
  ``core/src/alerts/scheduler/handlers.rs`` (``handle_alert_triggers``: ``final_end_time`` and
  ``start_time = final_end_time - period``), passed as the search's ``start_time``/``end_time``
  in ``core/src/alerts/mod.rs`` (``evaluate_scheduled``); the search keeps
  ``start_time <= _timestamp < end_time`` (``search/src/datafusion/table_provider/helpers.rs``).
  A row exactly at T - period is in, a row at T is out.
* With ``align_time`` (the default) and a minutes frequency, T is always on a frequency boundary
  of the hour, second 0, in the alert's timezone (``config/src/meta/alerts/mod.rs``
  ``TriggerCondition::align_time``); a late run keeps that T (``get_skipped_timestamps``). So an
  ``at`` off the boundary is refused: OpenObserve never evaluates the alert then.
  ``tolerance_in_secs`` only delays *when* the next run happens (it is added to ``next_run_at``
  before alignment), never the window of a run; without ``align_time`` a late run's window ends
  at the processing time — ``at`` is that time.
* ``sql`` alerts: the rows the SQL returns are counted and compared with
  ``trigger_condition.operator``/``threshold`` (``config/src/meta/alerts/level.rs`` ``compare``,
  ``evaluate_level``). The search fetches ``max(threshold sentinel, 100)`` rows or counts with
  ``COUNT(*)`` first (``required_search_size``, ``evaluation_strategy``), so the decision uses the
  exact count and the notification gets at most 100 rows (``PAYLOAD_SAMPLE_ROWS``).
* ``custom`` alerts: the SQL is generated from ``conditions`` and ``aggregation``
  (``core/src/alerts/mod.rs`` ``build_sql``, ``build_expr``, ``build_having_expr``,
  ``ConditionGroup::to_sql``). Without aggregation every matching row counts as above. With it,
  ``SELECT <group_by>, <FUNC>("<having.column>") AS alert_agg_value, ... GROUP BY ... HAVING
  "alert_agg_value" <op> <value>``; then each returned group whose value meets ``having`` counts,
  and the *number of groups* is compared with ``trigger_condition`` (``config/src/meta/alerts/
  aggregation_level.rs`` ``evaluate_aggregation_alert``).
* The rows reach the notification: ``{rows}`` is the ``row_template`` filled per row
  (``core/src/alerts/alert.rs`` ``process_row_template``, ``notifications/custom.rs``
  ``process_variable_replace``); ``messages`` are those lines.

Refused, with the reason: PromQL, SLO and real-time alerts, VRL functions, multi-time
ranges, multi-alerts, warning thresholds, and a search event type that bypasses the threshold.
Silence between runs and deduplication are not modelled: each test is one evaluation.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from o2kit.errors import Problem
from o2kit.project.yamlsrc import LineIndex, ModelErrors, YamlError, load_yaml_file, parse_as

if TYPE_CHECKING:
    # The file models load without the 'local' extra (``o2kit schema`` and ``init`` use them);
    # evaluating a test imports pyarrow (o2kit.query.engine), as the functions below do.
    import pyarrow as pa

TIMESTAMP = "_timestamp"
MINUTE_US = 60_000_000
# config/src/meta/alerts/level.rs PAYLOAD_SAMPLE_ROWS and the floor of required_search_size.
PAYLOAD_ROWS = 100
OPERATORS = ("=", "!=", ">", ">=", "<", "<=")
# The two CloudWatch metric-stream layouts of o2kit.project.config.Streams.metrics_layout.
LAYOUTS = ("flattened", "special")


# =============================================================================================
# The test-file model
# =============================================================================================


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _scalar_row(row: dict[str, Any]) -> dict[str, Any]:
    for key, value in row.items():
        if not _is_scalar(value):
            raise ValueError(f"column {key!r}: a stored value is a string, number, boolean or "
                             "null (nested objects are flattened into columns on ingest)")
    return row


class Bound(_Strict):
    """A number that only has to lie within bounds (for values a generator decides)."""

    gt: StrictInt | StrictFloat | None = None
    ge: StrictInt | StrictFloat | None = None
    lt: StrictInt | StrictFloat | None = None
    le: StrictInt | StrictFloat | None = None

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return ((self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge)
                and (self.lt is None or value < self.lt) and (self.le is None or value <= self.le))

    def text(self) -> str:
        parts = [f"{k}: {v}" for k, v in (("gt", self.gt), ("ge", self.ge), ("lt", self.lt),
                                           ("le", self.le)) if v is not None]
        return "{" + ", ".join(parts) + "}"


_BOUND_KEYS = ("gt", "ge", "lt", "le")


def _expected_row(row: dict[str, Any]) -> dict[str, Any]:
    """Each value: a scalar, or bounds ``{gt, ge, lt, le}`` (numbers) made into a ``Bound``."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(_BOUND_KEYS))
            bad = [k for k in _BOUND_KEYS if k in value and (
                isinstance(value[k], bool) or not isinstance(value[k], int | float))]
            if unknown or bad or not value:
                raise ValueError(f"column {key!r}: bounds are a mapping of gt, ge, lt, le to "
                                 "numbers" + (f" (not {', '.join(unknown)})" if unknown else ""))
            out[key] = Bound(**value)
        elif _is_scalar(value):
            out[key] = value
        else:
            raise ValueError(f"column {key!r}: expect a string, number, boolean, null or "
                             "bounds {gt, ge, lt, le}")
    return out


InputRow = Annotated[dict[str, Any], AfterValidator(_scalar_row)]
ExpectedRow = Annotated[dict[str, Any], AfterValidator(_expected_row)]
Expected = Any  # a scalar or a Bound (see _expected_row)


class Expect(_Strict):
    fires: StrictBool
    rows: list[ExpectedRow] | None = None
    messages: list[StrictStr] | None = None
    tolerance: Annotated[float, Field(ge=0)] = 1e-6


class ThrottleBurstSpec(_Strict):
    start_minute: Annotated[int, Field(ge=0)]
    minutes: Annotated[int, Field(ge=1)]
    extra_per_minute: Annotated[int, Field(ge=0)]
    model_id: str | None = None


class SpendSpikeSpec(_Strict):
    start_minute: Annotated[int, Field(ge=0)]
    minutes: Annotated[int, Field(ge=1)]
    extra_per_minute: Annotated[int, Field(ge=0)] = 0
    token_multiplier: Annotated[float, Field(gt=0)] = 10.0
    model_id: str | None = None


class WindowSpec(_Strict):
    """Minutes ``[start_minute, start_minute + minutes)`` of the scenario."""

    start_minute: Annotated[int, Field(ge=0)]
    minutes: Annotated[int, Field(ge=1)]


class StreamWindowSpec(WindowSpec):
    """A window in which one pipeline (``logs`` or ``metrics``) loses its records."""

    stream: Literal["logs", "metrics"] = "logs"


class ScenarioSpec(_Strict):
    """Synthetic Bedrock traffic (``o2kit.aws.synth.Scenario``); minutes count from its start.

    Pipeline-health options (``o2kit.aws.synth`` module docstring), all off by default:
    ``firehose_metrics`` and ``log_delivery_metrics`` add the AWS/Firehose and Bedrock
    log-delivery datapoints to the metric stream; ``delivery_failure`` (Firehose cannot deliver
    that stream; S3 backup), ``log_delivery_failure`` (Bedrock cannot write its logs) and
    ``silence`` (records lost without a trace) drop a stream's records for their minutes.
    """

    generator: Literal["bedrock"]
    minutes: Annotated[int, Field(ge=1, le=2880)]
    seed: int = 1
    ends_minutes_ago: Annotated[int, Field(ge=0)] = 0
    delivery_delay_seconds: Annotated[int, Field(ge=0)] = 60
    requests_per_minute: Annotated[float, Field(ge=0)] = 40.0
    client_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.03
    server_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.01
    throttle_rate: Annotated[float, Field(ge=0, le=1)] = 0.02
    throttle_burst: ThrottleBurstSpec | None = None
    spend_spike: SpendSpikeSpec | None = None
    firehose_metrics: bool = False
    log_delivery_metrics: bool = False
    delivery_failure: StreamWindowSpec | None = None
    log_delivery_failure: WindowSpec | None = None
    silence: StreamWindowSpec | None = None

    @model_validator(mode="after")
    def _events_inside(self) -> ScenarioSpec:
        for name in ("throttle_burst", "spend_spike", "delivery_failure", "log_delivery_failure",
                     "silence"):
            event = getattr(self, name)
            if event is not None and event.start_minute + event.minutes > self.minutes:
                raise ValueError(f"{name} ends after the traffic's {self.minutes} minutes")
        return self


class TestCase(_Strict):
    __test__ = False  # not a pytest class

    name: Annotated[str, Field(min_length=1)]
    at: AwareDatetime
    metrics_layout: Literal["flattened", "special"] | None = None
    # Hand-written invocation-log rows name the raw columns (false) or the ingest pipeline's
    # typed ones (true); None: either (scenarios go through the functions when it is on).
    ingest_pipeline: StrictBool | None = None
    input: dict[str, list[InputRow]] = Field(default_factory=dict)
    scenario: ScenarioSpec | None = None
    expect: Expect

    @model_validator(mode="after")
    def _some_input(self) -> TestCase:
        if not self.input and self.scenario is None:
            raise ValueError("give input rows, a scenario, or both")
        return self


class TestFile(_Strict):
    __test__ = False

    alert: Annotated[str, Field(min_length=1)]
    folder: str | None = None
    tests: Annotated[list[TestCase], Field(min_length=1)]


class TestFileError(ValueError):
    """A test file that cannot be read; ``problems`` say file:line: field: message."""

    __test__ = False

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _raw_problems(data: Any, index: LineIndex) -> list[Problem]:
    """Rows without exactly one usable time and repeated test names, found on the raw data so
    that they are reported together with the model's problems."""
    problems = []
    tests = data.get("tests") if isinstance(data, dict) else None
    names: set[str] = set()
    for i, case in enumerate(tests if isinstance(tests, list) else []):
        name = case.get("name") if isinstance(case, dict) else None
        if isinstance(name, str) and name in names:
            problems.append(index.problem(("tests", i, "name"),
                                          f"test name {name!r} is used twice"))
        if isinstance(name, str):
            names.add(name)
        streams = case.get("input") if isinstance(case, dict) else None
        for stream, rows in (streams.items() if isinstance(streams, dict) else ()):
            for j, row in enumerate(rows if isinstance(rows, list) else []):
                if not isinstance(row, dict):
                    continue
                try:
                    _row_time(row, 0)
                except ValueError as exc:
                    problems.append(index.problem(("tests", i, "input", stream, j), str(exc)))
    return problems


def parse_test_file(data: Any, index: LineIndex) -> TestFile:
    """Validate one test file's data (``TestFileError`` lists every problem with its line)."""
    problems = _raw_problems(data, index)
    try:
        parsed = parse_as(TestFile, data, index)
    except ModelErrors as exc:
        raise TestFileError(sorted([*problems, *exc.problems])) from exc
    if problems:
        raise TestFileError(sorted(problems))
    return parsed


def load_test_file(path: Path, display: str) -> tuple[TestFile, LineIndex]:
    """Read and validate a test file (``TestFileError`` on bad YAML or content)."""
    try:
        data, index = load_yaml_file(path, display)
    except YamlError as exc:
        raise TestFileError([exc.problem]) from exc
    return parse_test_file(data, index), index


# =============================================================================================
# Time
# =============================================================================================


def to_micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_micros(micros: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def _row_time(row: Mapping[str, Any], at_us: int) -> int:
    """``_timestamp`` of a hand-written row in µs (``minutes_ago`` before ``at_us``)."""
    if ("minutes_ago" in row) == (TIMESTAMP in row):
        raise ValueError(f"give each row exactly one of minutes_ago and {TIMESTAMP}")
    if "minutes_ago" in row:
        ago = row["minutes_ago"]
        if isinstance(ago, bool) or not isinstance(ago, int | float) or ago < 0:
            raise ValueError("minutes_ago must be a number of minutes, 0 or more")
        return at_us - round(ago * MINUTE_US)
    value = row[TIMESTAMP]
    if isinstance(value, bool):
        raise ValueError(f"{TIMESTAMP} must be µs since the epoch or an RFC 3339 time")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return to_micros(moment)
    raise ValueError(f"{TIMESTAMP} must be µs since the epoch or an RFC 3339 time with a zone")


def input_rows(rows: Sequence[Mapping[str, Any]], at_us: int) -> list[dict[str, Any]]:
    """Hand-written rows with ``_timestamp`` resolved (``minutes_ago`` removed)."""
    out = []
    for row in rows:
        stored = {k: v for k, v in row.items() if k != "minutes_ago"}
        stored[TIMESTAMP] = _row_time(row, at_us)
        out.append(stored)
    return out


def _alert_zone(trigger: Mapping[str, Any], tz_offset_minutes: int, at: datetime) -> timezone:
    """The fixed offset alignment uses at ``at``: the IANA ``timezone`` if it parses, else
    ``tz_offset`` minutes (config/src/meta/alerts/mod.rs get_timezone_from_string)."""
    name = trigger.get("timezone")
    if isinstance(name, str) and name:
        try:
            offset = at.astimezone(ZoneInfo(name)).utcoffset()
            if offset is not None:
                return timezone(offset)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone(timedelta(minutes=tz_offset_minutes))


def run_time_problem(alert: Mapping[str, Any], at: datetime) -> str | None:
    """Why OpenObserve would never evaluate ``alert`` at ``at`` (None if it can).

    With ``align_time`` and a minutes frequency every run time is second 0 of a minute whose
    minute-of-hour is a multiple of the frequency in minutes (``TriggerCondition::align_time``:
    ``minute % frequency_minutes``; under a minute counts as 1). Cron schedules are not checked.
    """
    trigger = alert.get("trigger_condition") or {}
    if trigger.get("frequency_type", "minutes") != "minutes" or not trigger.get("align_time"):
        return None
    frequency = int(trigger.get("frequency") or 1)  # minutes in the request body
    local = at.astimezone(_alert_zone(trigger, int(alert.get("tz_offset") or 0), at))
    if local.minute % frequency == 0 and local.second == 0 and local.microsecond == 0:
        return None
    earlier = local.replace(second=0, microsecond=0) - timedelta(minutes=local.minute % frequency)
    later = earlier + timedelta(minutes=frequency)
    if later.hour != earlier.hour and later.minute != 0:
        later = later.replace(minute=0)  # the next hour starts a new alignment
    return (f"OpenObserve never evaluates this alert at {at.isoformat()}: with align_time and a "
            f"{frequency}-minute frequency it runs at {earlier.isoformat()} and "
            f"{later.isoformat()} (use one of them)")


def evaluation_window(alert: Mapping[str, Any], at_us: int) -> tuple[int, int]:
    """``(start, end)`` in µs of the run at ``at_us``: ``[at - period, at)``."""
    period = int((alert.get("trigger_condition") or {}).get("period") or 0)
    return at_us - period * MINUTE_US, at_us


# =============================================================================================
# SQL of an alert
# =============================================================================================


class UnsupportedAlert(ValueError):
    """An alert shape ``o2kit test`` does not evaluate (said plainly, never guessed)."""


def unsupported_reason(alert: Mapping[str, Any]) -> str | None:
    query = alert.get("query_condition") or {}
    trigger = alert.get("trigger_condition") or {}
    kind = query.get("type", "custom")
    if alert.get("is_real_time"):
        return "real-time alerts are evaluated per ingested row, not over a period"
    if kind not in ("sql", "custom"):
        return f"{kind!r} alerts are not evaluated by o2kit test (only sql and custom)"
    if query.get("vrl_function"):
        return "alerts with a VRL function are not evaluated (o2kit cannot run VRL)"
    if query.get("multi_time_range"):
        return "alerts with multi_time_range are not evaluated"
    if query.get("search_event_type") not in (None, "alerts"):
        return "a search_event_type other than alerts bypasses the threshold; not evaluated"
    if trigger.get("warning_threshold") is not None:
        return "multi-level alerts (warning_threshold) are not evaluated"
    aggregation = query.get("aggregation")
    if aggregation:
        if aggregation.get("multi_alert"):
            return "multi-alerts (aggregation.multi_alert) are not evaluated"
        if aggregation.get("warning_value") is not None:
            return "multi-level alerts (aggregation.warning_value) are not evaluated"
    if trigger.get("operator", "=") not in OPERATORS:
        return f"trigger operator {trigger.get('operator')!r} never fires (level.rs compare)"
    return None


def rust_float_text(value: float) -> str:
    """``f64`` as Rust's ``Display`` writes it: no exponent, ``25.0`` → ``25``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer():
        return ("-" if math.copysign(1.0, value) < 0 else "") + str(abs(int(value)))
    return format(Decimal(repr(value)), "f")


def _json_number(value: Any) -> float | None:
    """``Value::as_f64`` after the UI's habit of sending numbers as strings (aggregation_level.rs
    ``as_f64``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _kind(data_type: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "utf8"
    if data_type in (pa.int16(), pa.int32(), pa.int64()):
        return "int"
    if data_type in (pa.float32(), pa.float64()):
        return "float"
    if pa.types.is_boolean(data_type):
        return "bool"
    return str(data_type)


def condition_sql(column: str, operator: str, value: Any, kind: str, alias: str = "") -> str:
    """One comparison as OpenObserve writes it (core/src/alerts/mod.rs ``build_expr``).

    Like the source: string values are pasted between quotes unescaped, ``contains`` becomes
    ``str_match``, ``ignore_case`` does not reach the SQL, numbers keep their JSON text.
    """
    target = f'"{alias or column}"'
    sql_ops = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
    if kind == "utf8":
        text = value if isinstance(value, str) else json.dumps(value)
        if operator == "contains":
            return f"str_match({target}, '{text}')"
        if operator == "not_contains":
            return f"{target} NOT LIKE '%{text}%'"
        return f"{target} {sql_ops[operator]} '{text}'"
    if operator not in sql_ops:
        raise UnsupportedAlert(f"column {column} has data type {kind} and operator "
                               f"{operator!r} is not supported for it (build_expr)")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, float):
            text = rust_float_text(value)
        else:
            try:
                text = str(int(str(value)))
            except ValueError:
                raise UnsupportedAlert(f"column {column} is {kind} but value is "
                                       f"{value!r}") from None
    elif kind == "float":
        number = _json_number(value)
        if number is None:
            raise UnsupportedAlert(f"column {column} is {kind} but value is {value!r}")
        text = rust_float_text(number)
    elif kind == "bool":
        if operator not in ("=", "!="):
            raise UnsupportedAlert(f"column {column} is bool; only = and != apply")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif str(value) in ("true", "false"):
            text = str(value)
        else:
            raise UnsupportedAlert(f"column {column} is bool but value is {value!r}")
    else:
        raise UnsupportedAlert(f"column {column} has data type {kind}, which alerts do not "
                               "support (build_expr)")
    return f"{target} {sql_ops[operator]} {text}"


def _leaf_sql(leaf: Mapping[str, Any], schema: pa.Schema) -> str:
    column = leaf.get("column", "")
    if column not in schema.names:
        raise UnsupportedAlert(f"Column {column} not found")
    operator = str(leaf.get("operator", "="))
    return condition_sql(column, operator, leaf.get("value"),
                         _kind(schema.field(column).type))


def _v2_group_sql(items: Sequence[Mapping[str, Any]], schema: pa.Schema) -> str:
    """Items joined left to right by each item's own logicalOperator, relying on SQL's AND-over-OR
    precedence, the whole in parentheses (``ConditionGroup::to_sql``)."""
    if not items:
        return ""
    parts = []
    for item in items:
        if item.get("filterType") == "group":
            parts.append(_v2_group_sql(item.get("conditions") or [], schema))
        else:
            parts.append(_leaf_sql(item, schema))
    text = parts[0]
    for item, part in zip(items[1:], parts[1:], strict=True):
        text += f" {str(item.get('logicalOperator', 'AND')).upper()} {part}"
    return f"({text})"


def _v1_sql(node: Any, schema: pa.Schema) -> str:
    """The v1 tree (``ConditionList::to_sql``): and/or nodes in parentheses, ``NOT (…)``, a list
    of legacy conditions joined by AND, or a single condition."""
    if isinstance(node, list):
        return "(" + " AND ".join(_leaf_sql(c, schema) for c in node) + ")"
    if isinstance(node, Mapping):
        if "and" in node:
            return "(" + " AND ".join(_v1_sql(c, schema) for c in node["and"]) + ")"
        if "or" in node:
            return "(" + " OR ".join(_v1_sql(c, schema) for c in node["or"]) + ")"
        if "not" in node:
            return f"NOT ({_v1_sql(node['not'], schema)})"
        return _leaf_sql(node, schema)
    raise UnsupportedAlert(f"conditions of an unknown shape: {node!r}")


def _v1_count(node: Any) -> int:
    if isinstance(node, list):
        return len(node)
    if isinstance(node, Mapping):
        for key in ("and", "or"):
            if key in node:
                return sum(_v1_count(c) for c in node[key])
        if "not" in node:
            return _v1_count(node["not"])
        return 1
    return 0


def where_sql(conditions: Any, schema: pa.Schema) -> str:
    """`` WHERE …`` for custom conditions, or "" when there are none (``build_sql``)."""
    if not conditions:
        return ""
    if isinstance(conditions, Mapping) and conditions.get("version") == 2:
        group = conditions.get("conditions") or {}
        items = group.get("conditions") or []
        return f" WHERE {_v2_group_sql(items, schema)}" if items else ""
    if _v1_count(conditions) == 0:
        return ""
    return f" WHERE {_v1_sql(conditions, schema)}"


_AGG_FUNCTIONS = {"avg": "AVG({})", "max": "MAX({})", "min": "MIN({})", "sum": "SUM({})",
                  "count": "COUNT({})", "median": "MEDIAN({})"}
_PERCENTILES = {"p50": "0.5", "p75": "0.75", "p90": "0.9", "p95": "0.95", "p99": "0.99"}


def custom_sql(alert: Mapping[str, Any], schema: pa.Schema) -> str:
    """The SQL OpenObserve generates for a ``custom`` alert (core/src/alerts/mod.rs
    ``build_sql``), for a stream whose columns are ``schema``."""
    stream = alert.get("stream_name", "")
    query = alert.get("query_condition") or {}
    where = where_sql(query.get("conditions"), schema)
    aggregation = query.get("aggregation")
    if not aggregation:
        return f'SELECT * FROM "{stream}" {where}'
    having = aggregation.get("having") or {}
    column = having.get("column", "")
    if column not in schema.names:
        raise UnsupportedAlert(f"Aggregation column {column} not found on stream {stream}")
    function = str(aggregation.get("function", "")).lower()
    if function in _AGG_FUNCTIONS:
        func = _AGG_FUNCTIONS[function].format(f'"{column}"')
    elif function in _PERCENTILES:
        func = (f"approx_percentile_cont({_PERCENTILES[function]}) WITHIN GROUP "
                f'(ORDER BY "{column}")')
    else:
        raise UnsupportedAlert(f"aggregation function {function!r} is not one OpenObserve has")
    critical = _json_number(having.get("value"))
    if critical is None:
        raise UnsupportedAlert("aggregation threshold (having.value) is not numeric")
    # build_having_expr: an integral threshold stays an integer; the comparison is typed by the
    # aggregate's output (having_data_type), not the source column.
    value: int | float = int(critical) if critical.is_integer() else critical
    column_kind = _kind(schema.field(column).type)
    output_kind = {"count": "int"}.get(function, "float" if function in
                                       ("avg", "median", *_PERCENTILES) else column_kind)
    having_sql = condition_sql(column, str(having.get("operator", "=")), value, output_kind,
                               alias="alert_agg_value")
    times = (f"MIN({TIMESTAMP}) as zo_sql_min_time, MAX({TIMESTAMP}) AS zo_sql_max_time")
    group_by = aggregation.get("group_by") or []
    if group_by:
        cols = ", ".join(group_by)
        return (f"SELECT {cols}, {func} AS alert_agg_value, {times} FROM \"{stream}\"{where} "
                f"GROUP BY {cols} HAVING {having_sql}")
    return f"SELECT {func} AS alert_agg_value, {times} FROM \"{stream}\"{where} HAVING {having_sql}"


# =============================================================================================
# Evaluation
# =============================================================================================


def compare(actual: float, operator: str, threshold: float) -> bool:
    """``config/src/meta/alerts/level.rs`` ``compare``: contains/not_contains never match."""
    return {"=": actual == threshold, "!=": actual != threshold, ">": actual > threshold,
            ">=": actual >= threshold, "<": actual < threshold,
            "<=": actual <= threshold}.get(operator, False)


def required_search_size(operator: str, threshold: int) -> int:
    """Rows a count search fetches (level.rs ``sentinel`` + ``required_search_size``)."""
    if operator in (">", "=", "!=", "<="):
        size = threshold + 1
    elif operator in (">=", "<"):
        size = threshold
    else:
        size = 0
    return max(size, PAYLOAD_ROWS)


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return rust_float_text(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render_row_template(alert: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ``row_template`` line of each row (core/src/alerts/alert.rs ``process_row_template``).

    ``{column}`` takes the row's value (strings as they are, floats as Rust writes them, other
    values as JSON); a column absent from a hit (NULL) stays as written. The alert placeholders
    are filled too; ``{alert_start_time}``/``{alert_end_time}`` use UTC here, the server's local
    time zone there. ``{column:N}`` truncation is applied.
    """
    template = str(alert.get("row_template") or "")
    if not template:
        return []
    trigger = alert.get("trigger_condition") or {}
    lines = []
    for row in rows:
        text = template
        for key, value in row.items():
            text = _replace_var(text, key, _field_text(value))
        start = min((int(v) for k, v in row.items()
                     if k in (TIMESTAMP, "zo_sql_min_time") and _json_number(v) is not None),
                    default=0)
        end = max((int(v) for k, v in row.items()
                   if k in (TIMESTAMP, "zo_sql_max_time") and _json_number(v) is not None),
                  default=0)
        fixed = {
            "stream_type": str(alert.get("stream_type", "")),
            "stream_name": str(alert.get("stream_name", "")),
            "alert_name": str(alert.get("name", "")),
            "alert_type": "realtime" if alert.get("is_real_time") else "scheduled",
            "alert_period": str(trigger.get("period", "")),
            "alert_operator": str(trigger.get("operator", "")),
            "alert_threshold": str(trigger.get("threshold", "")),
            "alert_count": str(len(rows)),
            "alert_warning_threshold": str(trigger.get("warning_threshold") or ""),
            "alert_start_time": format_micros(start)[:19] if start > 0 else "N/A",
            "alert_end_time": format_micros(end)[:19] if end > 0 else "N/A",
        }
        for key, value in fixed.items():
            text = text.replace("{" + key + "}", value)
        for key, value in (alert.get("context_attributes") or {}).items():
            text = _replace_var(text, str(key), str(value))
        lines.append(text)
    return lines


def _replace_var(text: str, name: str, value: str) -> str:
    """``{name:N}`` (first N characters) then ``{name}`` (notifications/custom.rs
    ``scan_and_replace_var``); JSON escaping of custom destination bodies is not applied."""
    prefix = "{" + name + ":"
    cursor = 0
    while (start := text.find(prefix, cursor)) >= 0:
        close = text.find("}", start + len(prefix))
        if close < 0:
            break
        digits = text[start + len(prefix):close]
        length = int(digits) if digits.isdigit() else 0
        if length > 0:
            replacement = value[:length]
            text = text[:start] + replacement + text[close + 1:]
            cursor = start + len(replacement)
        else:
            cursor = close + 1
    return text.replace("{" + name + "}", value)


@dataclass
class Evaluation:
    """What one run of an alert saw and decided."""

    start_us: int
    end_us: int
    sql: str
    rows: list[dict[str, Any]]  # what the search returned (all of it)
    fires: bool
    observed: float  # rows (sql, custom) or groups meeting `having` (aggregation)
    payload: list[dict[str, Any]]  # the rows that reach the notification
    messages: list[str]
    reason: str = ""  # why it did not run (disabled)


class QueryRunner:
    """The query engine, loaded with a test's streams (a fresh engine per test)."""

    def __init__(self, streams: Mapping[str, list[dict[str, Any]]]) -> None:
        from o2kit.query.engine import QueryEngine, rows_to_table

        self.engine = QueryEngine()
        self.schemas: dict[str, pa.Schema] = {}
        for name, rows in streams.items():
            if rows:
                table = rows_to_table(rows)
                self.schemas[name] = table.schema
                self.engine.register_arrow(name, table)

    def query(self, sql: str, start_us: int, end_us: int) -> list[dict[str, Any]]:
        return self.engine.query(sql, start_time=start_us, end_time=end_us)


class EvaluationError(ValueError):
    """The alert could not be evaluated (OpenObserve would record an error run)."""


def evaluate(alert: Mapping[str, Any], runner: QueryRunner, at_us: int) -> Evaluation:
    """Run ``alert`` once at ``at_us`` with OpenObserve's trigger semantics (module docstring).

    Raises ``UnsupportedAlert`` for shapes not evaluated, ``EvaluationError`` when OpenObserve
    would fail the run (unknown stream, a query error).
    """
    from o2kit.query.engine import QueryError

    reason = unsupported_reason(alert)
    if reason:
        raise UnsupportedAlert(reason)
    start_us, end_us = evaluation_window(alert, at_us)
    if not alert.get("enabled", False):
        # handlers.rs: a disabled alert's trigger is pushed a week ahead, never evaluated.
        return Evaluation(start_us, end_us, "", [], False, 0, [], [], reason="alert is disabled")
    query = alert.get("query_condition") or {}
    trigger = alert.get("trigger_condition") or {}
    stream = str(alert.get("stream_name", ""))
    if query.get("type") == "sql":
        sql = str(query.get("sql") or "")
        if not sql.strip():
            return Evaluation(start_us, end_us, "", [], False, 0, [], [])
    else:
        if stream not in runner.schemas:
            raise EvaluationError(f'Stream "{stream}" not found in schema, skipping alert '
                                  "evaluation (give it at least one input row)")
        if query.get("conditions") is None:
            # evaluate_scheduled: a custom alert without conditions returns no data.
            return Evaluation(start_us, end_us, "", [], False, 0, [], [])
        sql = custom_sql(alert, runner.schemas[stream])
    try:
        rows = runner.query(sql, start_us, end_us)
    except QueryError as exc:
        message = str(exc)
        if exc.code == 20002:
            message += " (the stream has no rows in this test; give it at least one)"
        raise EvaluationError(message) from exc
    operator = str(trigger.get("operator", "="))
    threshold = int(trigger.get("threshold") or 0)
    # mod.rs classifies by aggregation whenever one is set, for sql alerts too (their SQL must
    # then return alert_agg_value).
    aggregation = query.get("aggregation")
    if aggregation:
        having = aggregation.get("having") or {}
        critical = _json_number(having.get("value"))
        if critical is None:
            raise UnsupportedAlert("aggregation threshold (having.value) is not numeric")
        seen = rows[:required_search_size(operator, threshold)]
        # mod.rs: r.get("alert_agg_value").as_f64() — a string aggregate is not a number.
        values = [None if isinstance(r.get("alert_agg_value"), str)
                  else _json_number(r.get("alert_agg_value")) for r in seen]
        groups = sum(1 for v in values
                     if v is not None and compare(v, str(having.get("operator", "=")), critical))
        fires = compare(groups, operator, threshold)
        observed: float = groups
        payload = seen if fires else []
    else:
        observed = len(rows)
        fires = compare(observed, operator, threshold)
        payload = rows[:PAYLOAD_ROWS] if fires else []
    return Evaluation(start_us, end_us, sql, rows, fires, observed, payload,
                      render_row_template(alert, payload) if fires else [])


# =============================================================================================
# Scenario rows
# =============================================================================================


def scenario_rows(spec: ScenarioSpec, *, at_us: int, logs_stream: str, metrics_stream: str,
                  metrics_layout: str, only: str | None = None,
                  functions: Mapping[str, str] | None = None,
                  ) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Rows per stream for a scenario ending ``spec.ends_minutes_ago`` before ``at_us``, stored as
    OpenObserve would store them; and how many records had not arrived by ``at_us``.

    Each record (one minute) is decoded with the server clock at its arrival time, so rows of the
    flattened metric layout get that arrival as ``_timestamp``, and the ingest window applies.
    The special layout needs integer metric values or a server without ``arbitrary_precision``
    (see ``o2kit.fake.firehose``); ``special`` chooses both, as ``o2kit.query.check`` does.
    ``only`` names the one stream worth decoding (the alert's, when its SQL reads no other), to
    save time. ``functions`` (stream → VRL) runs each event of that stream through the ingest
    pipeline's function first (``o2kit.query.check.pipeline_rows``).
    """
    from o2kit.aws import synth
    from o2kit.fake.firehose import decode_firehose_body
    from o2kit.query.check import pipeline_rows

    scenario = synth.Scenario(
        minutes=spec.minutes, requests_per_minute=spec.requests_per_minute,
        client_error_rate=spec.client_error_rate, server_error_rate=spec.server_error_rate,
        throttle_rate=spec.throttle_rate,
        throttle_burst=None if spec.throttle_burst is None else synth.ThrottleBurst(
            **spec.throttle_burst.model_dump()),
        spend_spike=None if spec.spend_spike is None else synth.SpendSpike(
            **spec.spend_spike.model_dump()),
        firehose_metrics=spec.firehose_metrics,
        log_delivery_metrics=spec.log_delivery_metrics,
        delivery_failure=None if spec.delivery_failure is None else synth.DeliveryFailure(
            **spec.delivery_failure.model_dump()),
        log_delivery_failure=None if spec.log_delivery_failure is None else synth.Window(
            **spec.log_delivery_failure.model_dump()),
        silence=None if spec.silence is None else synth.Silence(**spec.silence.model_dump()),
    )
    end_ms = at_us // 1000 - spec.ends_minutes_ago * 60_000
    traffic = synth.generate(scenario, end_ms=end_ms, seed=spec.seed)
    special = metrics_layout == "special"
    log_bodies, metric_bodies = synth.firehose_bodies(traffic, max_records=1,
                                                      integer_metric_values=special)
    rows: dict[str, list[dict[str, Any]]] = {logs_stream: [], metrics_stream: []}
    late = 0
    for stream, bodies in ((logs_stream, log_bodies), (metrics_stream, metric_bodies)):
        if only is not None and stream != only:
            continue
        for body in bodies:
            record = json.loads(body)["records"][0]["data"]
            arrival_us = (synth.record_minute_end_ms(record) * 1000
                          + spec.delivery_delay_seconds * 1_000_000)
            if arrival_us > at_us:
                late += 1
                continue
            source = (functions or {}).get(stream)
            if source is not None:
                rows[stream].extend(pipeline_rows(body, source, now_us=arrival_us,
                                                  arbitrary_precision=not special))
                continue
            rows[stream].extend(decode_firehose_body(body, now_us=arrival_us,
                                                     arbitrary_precision=not special))
    return rows, late


# =============================================================================================
# Expectations
# =============================================================================================


def value_matches(expected: Expected, actual: Any, tolerance: float) -> bool:
    if isinstance(expected, Bound):
        return expected.holds(actual)
    if isinstance(expected, bool) or isinstance(actual, bool) or expected is None:
        return expected == actual and type(expected) is type(actual)
    if isinstance(expected, int | float):
        if not isinstance(actual, int | float):
            return False
        return math.isclose(float(actual), float(expected), rel_tol=tolerance, abs_tol=1e-12)
    return expected == actual


def row_matches(expected: Mapping[str, Expected], actual: Mapping[str, Any],
                tolerance: float) -> bool:
    return all(value_matches(v, actual.get(k), tolerance) if k in actual
               else v is None for k, v in expected.items())


def match_rows(expected: Sequence[Mapping[str, Expected]], actual: Sequence[Mapping[str, Any]],
               tolerance: float) -> dict[int, int]:
    """Expected index → actual index for as many rows as can be paired (bipartite matching)."""
    fits = [[j for j, row in enumerate(actual) if row_matches(e, row, tolerance)]
            for e in expected]
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(expected)):
        place(i, set())
    return {i: j for j, i in owner.items()}


def _value_text(value: Any) -> str:
    if isinstance(value, Bound):
        return value.text()
    return json.dumps(value, ensure_ascii=False)


def _row_text(row: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    names = list(keys) if keys is not None else sorted(row)
    return "{" + ", ".join(f"{k}: {_value_text(row.get(k))}" for k in names) + "}"


@dataclass
class Outcome:
    passed: bool
    diff: list[str] = field(default_factory=list)


def check_expectations(expect: Expect, evaluation: Evaluation) -> Outcome:
    """Compare; on failure a unified diff of expected vs actual (matched rows shown alike)."""
    ok = expect.fires == evaluation.fires
    want = [f"fires: {json.dumps(expect.fires)}"]
    got = [f"fires: {json.dumps(evaluation.fires)}"]
    if expect.rows is not None:
        actual = evaluation.payload
        pairs = match_rows(expect.rows, actual, expect.tolerance)
        ok = ok and len(pairs) == len(expect.rows) == len(actual)
        keys = sorted({k for row in expect.rows for k in row})
        want.append("rows:")
        got.append("rows:")
        for i, row in enumerate(expect.rows):
            text = "  - " + _row_text(row, sorted(row))
            want.append(text)
            if i in pairs:
                got.append(text)
        used = set(pairs.values())
        for j, row in enumerate(actual):
            if j not in used:
                got.append("  - " + _row_text(row, keys or None))
    if expect.messages is not None:
        messages_ok = sorted(expect.messages) == sorted(evaluation.messages)
        ok = ok and messages_ok
        want.append("messages:")
        want.extend("  - " + json.dumps(m, ensure_ascii=False) for m in sorted(expect.messages))
        got.append("messages:")
        got.extend("  - " + json.dumps(m, ensure_ascii=False)
                   for m in sorted(evaluation.messages))
    if ok:
        return Outcome(True)
    diff = list(difflib.unified_diff(want, got, "expected", "actual", lineterm="", n=20))
    return Outcome(False, diff)


# =============================================================================================
# Running a file
# =============================================================================================


@dataclass
class CaseResult:
    name: str
    line: int
    status: Literal["pass", "fail", "error", "skip"]
    detail: list[str] = field(default_factory=list)
    evaluation: Evaluation | None = None


@dataclass
class FileResult:
    file: str
    alert: str
    cases: list[CaseResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(c.status in ("fail", "error") for c in self.cases)


def find_alert(alerts: Mapping[tuple[str, str], Mapping[str, Any]], name: str,
               folder: str | None) -> tuple[Mapping[str, Any] | None, str | None]:
    """The alert body by name (and folder), or why not."""
    found = [(key, body) for key, body in alerts.items()
             if key[1] == name and (folder is None or key[0] == folder)]
    if len(found) == 1:
        return found[0][1], None
    if not found:
        known = ", ".join(sorted({k[1] for k in alerts})) or "none"
        where = f" in folder {folder!r}" if folder else ""
        return None, f"no alert {name!r}{where} in the project (alerts: {known})"
    folders = ", ".join(sorted(k[0] for k, _ in found))
    return None, f"alert {name!r} is in several folders ({folders}); add `folder:`"


def run_test_file(test_file: TestFile, index: LineIndex, *,
                  alerts: Mapping[tuple[str, str], Mapping[str, Any]],
                  logs_stream: str, metrics_stream: str, metrics_layout: str,
                  functions: Mapping[str, str] | None = None) -> FileResult:
    """Run every test of a parsed file against the project's rendered ``alerts`` bodies.
    ``functions`` (stream → VRL): the project's ingest pipeline is on (``ingest.pipeline``)."""
    result = FileResult(index.file, test_file.alert)
    alert, why = find_alert(alerts, test_file.alert, test_file.folder)
    if alert is None:
        result.problems.append(index.problem(("alert",), why or "alert not found"))
        return result
    for i, case in enumerate(test_file.tests):
        line = index.line(("tests", i))
        problem = run_time_problem(alert, case.at)
        if problem:
            result.problems.append(index.problem(("tests", i, "at"), problem))
            continue
        if case.metrics_layout is not None and case.metrics_layout != metrics_layout:
            result.cases.append(CaseResult(
                case.name, line, "skip",
                [f"written for metrics_layout {case.metrics_layout}; the project uses "
                 f"{metrics_layout}"]))
            continue
        pipeline = bool(functions)
        if case.ingest_pipeline is not None and case.ingest_pipeline != pipeline:
            result.cases.append(CaseResult(
                case.name, line, "skip",
                [f"written for ingest.pipeline {str(case.ingest_pipeline).lower()}; the project "
                 f"has {str(pipeline).lower()}"]))
            continue
        result.cases.append(run_case(case, line, alert, logs_stream=logs_stream,
                                     metrics_stream=metrics_stream,
                                     metrics_layout=metrics_layout, functions=functions))
    return result


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _only_stream(alert: Mapping[str, Any]) -> str | None:
    """The alert's stream when its query reads that stream alone; None when an SQL query reads
    several (a pipeline-freshness alert compares two streams), so every stream is generated."""
    stream = str(alert.get("stream_name", ""))
    query = alert.get("query_condition") or {}
    if query.get("type") == "sql" and query.get("sql"):
        from o2kit.validate import sqlcheck

        try:
            read = sqlcheck.streams(str(query["sql"]))
        except ValueError:
            return stream
        if read - {stream}:
            return None
    return stream


def run_case(case: TestCase, line: int, alert: Mapping[str, Any], *, logs_stream: str,
             metrics_stream: str, metrics_layout: str,
             functions: Mapping[str, str] | None = None) -> CaseResult:
    at_us = to_micros(case.at)
    streams: dict[str, list[dict[str, Any]]] = {}
    notes = []
    if case.scenario is not None:
        generated, late = scenario_rows(case.scenario, at_us=at_us, logs_stream=logs_stream,
                                        metrics_stream=metrics_stream,
                                        metrics_layout=metrics_layout,
                                        only=_only_stream(alert), functions=functions)
        for stream, rows in generated.items():
            streams.setdefault(stream, []).extend(rows)
        if late:
            notes.append(f"{late} scenario record{'s' if late != 1 else ''} (a minute each) had "
                         f"not arrived by {format_micros(at_us)}")
    for stream, rows in case.input.items():
        streams.setdefault(stream, []).extend(input_rows(rows, at_us))
    try:
        runner = QueryRunner(streams)
        evaluation = evaluate(alert, runner, at_us)
    except (UnsupportedAlert, EvaluationError) as exc:
        return CaseResult(case.name, line, "error", [str(exc)])
    outcome = check_expectations(case.expect, evaluation)
    counts = ", ".join(f"{s}: {len(r)}" for s, r in sorted(streams.items()) if r) or "none"
    detail = [f"window {format_micros(evaluation.start_us)} .. {format_micros(evaluation.end_us)}"
              f" (rows given: {counts}); {_rows(len(evaluation.rows))} returned"
              + (f"; {evaluation.reason}" if evaluation.reason else "")]
    detail.extend(notes)
    detail.extend(outcome.diff)
    return CaseResult(case.name, line, "pass" if outcome.passed else "fail", detail, evaluation)
