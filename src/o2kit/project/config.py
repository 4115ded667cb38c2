"""The project's configuration (``o2kit.yaml`` plus an optional ``envs/<name>.yaml`` overlay) and
the server connection settings (flags and environment only — never files in git).

Precedence for the org: ``--org`` flag > ``OPENOBSERVE_ORG`` > overlay > ``o2kit.yaml``.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from o2kit.errors import ConfigError, Problem, ValidationFailed
from o2kit.kinds import PROJECT_PATTERN
from o2kit.project.yamlsrc import LineIndex, ModelErrors, YamlError, load_yaml_file, parse_as
from o2kit.redact import Secret, redact, register_credentials

CONFIG_FILE = "o2kit.yaml"
ENVS_DIR = "envs"

# OpenObserve normalises stream names: characters outside [A-Za-z0-9_:] become "_", then lower-case
# (src/config/src/utils/schema.rs `format_stream_name`; reference bedrock-telemetry.md §1). We
# refuse names that would be rewritten, so the SQL we render names the stream that really exists.
_STREAM_NAME = re.compile(r"^[a-z0-9_:]+$")
_ENV_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _stream_name(value: str) -> str:
    if not _STREAM_NAME.fullmatch(value):
        normalised = re.sub(r"[^A-Za-z0-9_:]", "_", value).lower()
        raise ValueError(
            f"OpenObserve stores stream {value!r} as {normalised!r}; write {normalised!r}"
        )
    return value


# Column names after OpenObserve's flattening: lower-case, every other character becomes "_"
# (reference bedrock-telemetry.md §5). A name outside this set can never match a column.
_COLUMN_NAME = re.compile(r"^[a-z0-9_]+$")


def _column_name(value: str | None) -> str | None:
    if value is not None and not _COLUMN_NAME.fullmatch(value):
        normalised = re.sub(r"[^a-z0-9_]", "_", value.lower())
        raise ValueError(
            f"OpenObserve stores field {value!r} as {normalised!r}; write {normalised!r}"
        )
    return value


class ApplicationLogs(_Strict):
    """A structured application-log stream: one line per Bedrock call with its latency."""

    stream: str
    latency_field: str = "latency_ms"  # the call's latency in milliseconds
    model_field: str = "model_id"  # the Bedrock model id the call used
    # The AWS region of the call, if the log line has one; lets the dashboard's region variable
    # filter this stream too (without it, application-log panels ignore the region variable).
    region_field: str | None = None

    _check_stream = field_validator("stream")(_stream_name)
    _check_fields = field_validator("latency_field", "model_field", "region_field")(_column_name)


class Streams(_Strict):
    metrics: str = "bedrock_metrics"
    invocation_logs: str = "bedrock_logs"
    application_logs: ApplicationLogs | None = None
    metrics_layout: Literal["flattened", "special"] = Field(
        default="flattened",
        description=(
            "Which columns OpenObserve gives a CloudWatch metric-stream datapoint. "
            "'flattened': generic JSON flattening — value_count/value_sum/value_max/value_min, "
            "dimensions_modelid, timestamp (datapoint time, ms) and _timestamp = ingestion time. "
            "'special': the metric-stream special case — count/sum/max/min, metric_dimensions, "
            "_timestamp = datapoint time. Check with SELECT * FROM the stream LIMIT 1."
        ),
    )
    """Column layout of the metric stream's rows.

    ``flattened`` (default) is what OpenObserve at commit fbab9b80 stores for real CloudWatch
    lines: the special case in ``src/core/src/logs/ingest.rs`` (``deserialize_aws_record_from_vec``,
    ``AWSRecordType::KinesisFHMetrics``) is only reached when the untagged ``AWSRecordType``
    (``src/ingestion_common/src/lib.rs``) parses the line, and with serde_json's
    ``arbitrary_precision`` feature (``Cargo.toml``) a buffered float such as ``"sum":42.0``
    cannot fill the ``f32`` fields of ``KinesisFHMetricValue``; the line then falls through to
    generic flattening. ``special`` is the layout bedrock-telemetry.md §4.2 describes (a server
    built without that feature, or a fixed one). Templates pick their columns from this value.
    """

    metric_percentiles: list[str] = Field(
        default_factory=lambda: list(DEFAULT_METRIC_PERCENTILES),
        description=(
            "Percentiles the CloudWatch metric stream carries for AWS/Bedrock InvocationLatency "
            "and TimeToFirstToken (CloudWatch statistic syntax pNN or pNN.NN; at most 20). "
            "`o2kit aws` asks CloudWatch for them (AdditionalStatistics); the dashboard reads "
            "them as value_<pNN> columns (flattened layout only). [] = none."
        ),
    )
    """CloudWatch ``AdditionalStatistics`` of the metric stream (docs/research/
    openobserve-ingest-slo.md §5): one list, used by ``o2kit aws`` (what to ask CloudWatch for),
    the dashboard (which ``value_pNN`` columns to read) and the synthetic traffic (what to send).
    It lives under ``streams`` rather than ``aws`` because it describes the stream's columns, and a
    project without an ``aws:`` section (metric stream made by hand) needs it too."""

    _check = field_validator("metrics", "invocation_logs")(_stream_name)

    @field_validator("metric_percentiles")
    @classmethod
    def _percentiles(cls, value: list[str]) -> list[str]:
        return check_percentiles(value)


# CloudWatch percentile statistics: "p" and a number above 0 and at most 100, up to 10 decimal
# places (CloudWatch user guide, "CloudWatch statistics definitions"; the metric stream's JSON
# output names the extra key exactly as requested, API MetricStreamStatisticsConfiguration).
_PERCENTILE = re.compile(r"^p(\d{1,3})(\.\d{1,10})?$")
DEFAULT_METRIC_PERCENTILES: tuple[str, ...] = ("p50", "p90", "p99")
MAX_ADDITIONAL_STATISTICS = 20  # MetricStreamStatisticsConfiguration.AdditionalStatistics


def check_percentiles(value: list[str]) -> list[str]:
    """CloudWatch percentile statistics, each once, at most 20."""
    seen: dict[float, str] = {}
    for stat in value:
        match = _PERCENTILE.fullmatch(stat)
        number = float(stat[1:]) if match else -1.0
        if not match or not 0 < number <= 100:
            raise ValueError(
                f"{stat!r} is not a CloudWatch percentile: write p and a number above 0 and at "
                "most 100, e.g. p50, p99, p99.9"
            )
        if number in seen:
            raise ValueError(f"{stat!r} is the same percentile as {seen[number]!r}")
        seen[number] = stat
    if len(value) > MAX_ADDITIONAL_STATISTICS:
        raise ValueError(
            f"CloudWatch streams at most {MAX_ADDITIONAL_STATISTICS} additional statistics per "
            "metric"
        )
    return value


def percentile_column(stat: str) -> str:
    """The flattened column of percentile ``stat`` inside ``value``: ``p99.9`` → ``value_p99_9``
    (src/config/src/utils/flatten.rs ``format_key``: a byte outside [a-z0-9_] becomes ``_``)."""
    return "value_" + stat.lower().replace(".", "_")


class Folders(_Strict):
    dashboards: str = "Bedrock"
    alerts: str = "Bedrock"

    @field_validator("dashboards", "alerts")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("folder name cannot be empty")
        if value != value.strip():
            raise ValueError("folder name has leading or trailing spaces (OpenObserve trims them)")
        return value


# --- aws: the AWS side (`o2kit aws` writes one CloudFormation template per region) --------------

# Region codes such as us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4.
_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
# CloudWatch Logs log-group names (AWS::Logs::LogGroup LogGroupName).
_LOG_GROUP_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
# The retention values CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)
# A Secrets Manager secret ARN; "{region}" may stand for the region of each template.
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+|\{region\}):\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
# A KMS key ARN (a key id or a multi-Region key id); "{region}" as above.
_KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:([a-z0-9-]+|\{region\}):\d{12}:key/[A-Za-z0-9-]+$"
)
# S3 bucket names; "{region}" may stand for the region of each template.
_BUCKET_NAME = re.compile(r"^[a-z0-9{][a-z0-9.{}-]{1,61}[a-z0-9}]$")
_CFN_PARAMETER = re.compile(r"^[A-Za-z0-9]{1,255}$")
_NAME_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,29}$")

# Firehose settings that make OpenObserve reject or misread the data, with the reason; they are
# refused by name so the error says why instead of "extra inputs are not permitted".
_BREAKING_FIREHOSE_SETTINGS = {
    "message_extraction": "Firehose's CloudWatch Logs message extraction strips the envelope "
    "OpenObserve needs to make one row per log event (bedrock-telemetry.md §3.5)",
    "processing": "record processing (message extraction, decompression, Lambda) changes the "
    "records OpenObserve expects (bedrock-telemetry.md §2, §3.5)",
    "processing_configuration": "record processing changes the records OpenObserve expects",
    "decompression": "Firehose decompression of CloudWatch Logs records goes with message "
    "extraction, which breaks OpenObserve's envelope handling (bedrock-telemetry.md §3.5)",
}


def _optional_stream_name(value: str | None) -> str | None:
    return value if value is None else _stream_name(value)


def _log_group_name(value: str) -> str:
    if not _LOG_GROUP_NAME.fullmatch(value):
        raise ValueError("log group names use 1-512 of the characters A-Z a-z 0-9 . - _ / #")
    return value


class AwsAccessKey(_Strict):
    """Where Firehose gets the OpenObserve access key — never the key itself.

    The key is ``base64("<user email>:<ingestion passcode>")`` (or ``<name>:o2oi_<org token>``);
    OpenObserve reads it from the ``X-Amz-Firehose-Access-Key`` header
    (src/api/common/src/auth/validator.rs ``validator_aws``). Choose one:

    - ``parameter``: a NoEcho CloudFormation parameter of that name, given at deploy time
      (``--parameter-overrides NAME=...``). The default, as ``OpenObserveAccessKey``.
    - ``secret_arn``: a Secrets Manager secret that Firehose reads itself; the secret's value must
      be the JSON ``{"api_key": "<the base64 key>"}``. ``{region}`` in the ARN is replaced by each
      template's region (for replicated secrets).
    """

    parameter: str | None = None
    secret_arn: str | None = None
    # The customer-managed KMS key encrypting that secret, if any (Firehose then needs
    # kms:Decrypt on it). Not needed with the default aws/secretsmanager key.
    secret_kms_key_arn: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_a_literal(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError(
                "never write the access key into o2kit.yaml; set `parameter: NAME` (a NoEcho "
                "template parameter) or `secret_arn: ARN` (Secrets Manager)"
            )
        return data

    @model_validator(mode="after")
    def _one_source(self) -> AwsAccessKey:
        if self.parameter is not None and self.secret_arn is not None:
            raise ValueError("set either `parameter` or `secret_arn`, not both")
        if self.secret_kms_key_arn is not None and self.secret_arn is None:
            raise ValueError("`secret_kms_key_arn` goes with `secret_arn`")
        return self

    @field_validator("secret_kms_key_arn")
    @classmethod
    def _kms_key(cls, value: str | None) -> str | None:
        if value is not None and not _KMS_KEY_ARN.fullmatch(value):
            raise ValueError(
                "expected arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (REGION may be {region})"
            )
        return value

    @field_validator("parameter")
    @classmethod
    def _parameter(cls, value: str | None) -> str | None:
        if value is not None and not _CFN_PARAMETER.fullmatch(value):
            raise ValueError("CloudFormation parameter names are letters and digits only")
        return value

    @field_validator("secret_arn")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_ARN.fullmatch(value):
            raise ValueError(
                "expected arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME "
                "(REGION may be {region})"
            )
        return value

    @property
    def parameter_name(self) -> str | None:
        """The NoEcho parameter to declare, or None when the key comes from Secrets Manager."""
        if self.secret_arn is not None:
            return None
        return self.parameter or "OpenObserveAccessKey"


class AwsFirehose(_Strict):
    """Delivery settings shared by every Firehose stream the template creates.

    Fixed, not offered: GZIP content encoding, failed-data-only S3 backup, no record processing
    (message extraction would break ingestion; see ``_BREAKING_FIREHOSE_SETTINGS``).
    """

    buffer_size_mb: int = Field(default=1, ge=1, le=64)  # HTTP endpoint destinations: 1-64 MiB
    buffer_interval_seconds: int = Field(default=60, ge=0, le=900)
    retry_seconds: int = Field(default=300, ge=0, le=7200)  # then the batch goes to S3 backup
    error_log_retention_days: int = 14  # Firehose's own delivery-error log group

    @model_validator(mode="before")
    @classmethod
    def _refuse_breaking(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key, why in _BREAKING_FIREHOSE_SETTINGS.items():
                if key in data:
                    raise ValueError(f"`{key}` is not offered: {why}")
        return data

    @field_validator("error_log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _retention_days(value)


def _retention_days(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"CloudWatch Logs accepts {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return value


class AwsS3Backup(_Strict):
    """Where Firehose puts batches OpenObserve did not accept after ``retry_seconds``."""

    bucket: str | None = None  # an existing bucket ("{region}" allowed); None: the stack makes one
    prefix: str = "o2kit-failed/"
    expire_days: int = Field(default=30, ge=1)  # lifecycle of a bucket the stack makes

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and not _BUCKET_NAME.fullmatch(value):
            raise ValueError("S3 bucket names are 3-63 of a-z 0-9 . - (and {region})")
        return value


class AwsInvocationLogging(_Strict):
    """Bedrock model invocation logging to CloudWatch Logs, and that log group."""

    log_group: str = "/bedrock/model-invocations"
    create_log_group: bool = True  # False: the group exists already
    retention_days: int = 30
    # Set this region's Bedrock model invocation logging (one setting per account and region) to
    # the log group. False: it is configured elsewhere; only the subscription is made.
    configure_bedrock: bool = True
    # The data types Bedrock includes in the log records.
    text: bool = True
    image: bool = False
    embedding: bool = False
    video: bool = False

    _check_group = field_validator("log_group")(_log_group_name)
    _check_retention = field_validator("retention_days")(_retention_days)


class AwsExtraLogGroup(_Strict):
    """Another log group sent to OpenObserve, e.g. Bedrock Agents or Knowledge Bases logs."""

    log_group: str
    stream: str | None = None  # OpenObserve stream; default: streams.invocation_logs
    filter_pattern: str = ""  # CloudWatch Logs filter pattern; "" sends every event
    create: bool = False  # False: the group exists already (made by the service's log delivery)
    retention_days: int = 30  # only when create is true

    _check_group = field_validator("log_group")(_log_group_name)
    _check_stream = field_validator("stream")(_optional_stream_name)
    _check_retention = field_validator("retention_days")(_retention_days)


class AwsSettings(_Strict):
    """``aws:`` in ``o2kit.yaml``: what ``o2kit aws`` generates (CloudFormation, one per region)."""

    # Regions to generate for when `o2kit aws` gets no --region; empty: the top-level `regions`.
    regions: list[str] = Field(default_factory=list)
    # Public HTTPS URL of OpenObserve as Firehose reaches it (with the ZO_BASE_URI path, if any).
    # Not a secret. o2kit appends /aws/{org}/{stream}/_kinesis_firehose.
    openobserve_url: str
    name_prefix: str = "o2kit"  # prefix of the Firehose, metric-stream and filter names
    access_key: AwsAccessKey = Field(default_factory=AwsAccessKey)
    firehose: AwsFirehose = Field(default_factory=AwsFirehose)
    s3_backup: AwsS3Backup = Field(default_factory=AwsS3Backup)
    invocation_logging: AwsInvocationLogging = Field(default_factory=AwsInvocationLogging)
    extra_log_groups: list[AwsExtraLogGroup] = Field(default_factory=list)
    include_firehose_metrics: bool = True  # stream AWS/Firehose too, for delivery health
    # Stream AWS/Bedrock/Guardrails, AWS/Bedrock/Agents, AWS/Bedrock/KnowledgeBases too, for the
    # dashboard tabs of the same name (dashboard params include_guardrails, …).
    include_guardrails_metrics: bool = False
    include_agents_metrics: bool = False
    include_knowledge_bases_metrics: bool = False

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        return check_aws_regions(value)

    @field_validator("openobserve_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _firehose_base_url(value)

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _NAME_PREFIX.fullmatch(value):
            raise ValueError("use 1-30 letters, digits and '-', starting with a letter or digit")
        return value


def check_aws_regions(value: list[str]) -> list[str]:
    for region in value:
        if not _AWS_REGION.fullmatch(region):
            raise ValueError(f"{region!r} is not an AWS region code such as us-east-1")
    if len(set(value)) != len(value):
        raise ValueError("a region is listed twice")
    return value


def _firehose_base_url(value: str) -> str:
    # Firehose HTTP endpoint destinations post to HTTPS on port 443 only (reference §1).
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("Firehose only delivers to https:// URLs")
    if parts.port not in (None, 443):
        raise ValueError("Firehose only delivers to port 443")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("give the plain server URL, without query, fragment or credentials")
    path = parts.path.rstrip("/")
    if path.endswith("/_kinesis_firehose") or "/aws/" in f"{path}/":
        raise ValueError(
            "give the server URL only (plus its ZO_BASE_URI path); o2kit appends "
            "/aws/{org}/{stream}/_kinesis_firehose"
        )
    return f"https://{parts.netloc}{path}"


# --- quotas: the account's Bedrock TPM / RPM quotas (Quota tab, quota headroom alert) ----------

# Model-id prefixes as prices.yaml writes them (o2kit.project.prices: base id, geo profile or ARN).
_QUOTA_MATCH = re.compile(r"^[A-Za-z0-9._:/-]+$")


class QuotaRow(_Strict):
    """One row of ``quotas:``: the quotas of the model ids starting with ``match``, in
    ``regions`` (empty: every region). Matched like prices.yaml (o2kit.project.prices): a base id
    (``anthropic.claude-3-5-haiku``) also covers its geo profiles (``us.anthropic…``), a
    geo-prefixed row (AWS's separate cross-Region quota) wins over it, the longest match wins,
    and a row naming regions wins over one that does not. Numbers from Service Quotas (Amazon
    Bedrock: "… tokens per minute for <model>", "… requests per minute for <model>")."""

    match: str
    regions: list[str] = Field(default_factory=list)
    tpm: int | None = Field(default=None, ge=1, description="tokens per minute")
    rpm: int | None = Field(default=None, ge=1, description="requests per minute")
    note: str = ""

    @field_validator("match")
    @classmethod
    def _match(cls, value: str) -> str:
        if not _QUOTA_MATCH.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a model id prefix (letters, digits and . _ : / - only)"
            )
        if "/" in value and not value.startswith("arn:"):
            raise ValueError(f"{value!r}: only ARN patterns (arn:…) may contain '/'")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        return check_aws_regions(value)

    @model_validator(mode="after")
    def _some_quota(self) -> QuotaRow:
        if self.tpm is None and self.rpm is None:
            raise ValueError("give `tpm`, `rpm` or both")
        return self


def check_quota_rows(rows: list[QuotaRow]) -> list[QuotaRow]:
    """No two rows for one match and region: which would apply is not clear."""
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        for region in row.regions or ["*"]:
            key = (row.match, region)
            if key in seen:
                where = "every region" if region == "*" else region
                raise ValueError(
                    f"quotas[{i}] repeats quotas[{seen[key]}] ({row.match!r}, {where})"
                )
            seen[key] = i
    return rows


# --- budgets: money per month / week / day, with alert ladders and a forecast ---------------

_BUDGET_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")
_CALLER = re.compile(r"^[A-Za-z0-9:/_.+=,@-]+\*?$")


class BudgetTeamScope(_Strict):
    """Calls tagged ``requestMetadata.<team_tag> = <team>``."""

    team_tag: str = Field(default="team", min_length=1, max_length=64)
    team: str = Field(min_length=1, max_length=256)


class BudgetCallerScope(_Strict):
    """Calls whose identity ARN is ``caller``, or starts with it when it ends in ``*`` (e.g.
    ``arn:aws:sts::111122223333:assumed-role/search-app/*``: every session of that role)."""

    caller: str = Field(min_length=1, max_length=512)

    @field_validator("caller")
    @classmethod
    def _caller(cls, value: str) -> str:
        if not _CALLER.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an identity ARN or ARN prefix (letters, digits, : / _ . + = "
                ", @ - and one * at the end)"
            )
        return value


def _scope_kind(value: Any) -> str:
    """Which scope a budget's ``scope`` is, so that errors name only that one."""
    if isinstance(value, BaseModel):
        return "caller" if isinstance(value, BudgetCallerScope) else "team"
    if isinstance(value, Mapping):
        return "caller" if "caller" in value else "team"
    return "all"


class Budget(_Strict):
    """One row of ``budgets:``: ``amount`` (prices.yaml's currency) per calendar ``period``
    (UTC), for the calls in ``scope``; one alert per threshold (percent of the amount, spend of
    the period so far) and, with ``forecast``, one when the linear month-end projection exceeds
    the amount. ``destinations`` are alert destinations defined in alerts/*.yaml."""

    name: str
    amount: float = Field(gt=0, description="money per period, in prices.yaml's currency")
    period: Literal["month", "week", "day"] = "month"
    scope: Annotated[
        Annotated[Literal["all"], Tag("all")]
        | Annotated[BudgetTeamScope, Tag("team")]
        | Annotated[BudgetCallerScope, Tag("caller")],
        Discriminator(_scope_kind),
    ] = "all"
    thresholds: list[int] = Field(
        default_factory=lambda: [50, 80, 100],
        min_length=1,
        max_length=10,
        description="percent of amount; one alert each",
    )
    forecast: bool = Field(
        default=True, description="alert when the projected period-end spend exceeds amount"
    )
    destinations: list[str] = Field(min_length=1, max_length=20)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _BUDGET_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r}: a budget name is 1 to 40 lower-case letters, digits and '_' "
                "(it goes into the alert names)"
            )
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        for pct in value:
            if not 1 <= pct <= 1000:
                raise ValueError(f"threshold {pct} is not a percentage from 1 to 1000")
        if len(set(value)) != len(value):
            raise ValueError("a threshold is listed twice")
        return sorted(value)

    def alert_names(self) -> list[tuple[str, int | None]]:
        """``(alert name, threshold)`` of every alert this budget renders (None: forecast)."""
        names: list[tuple[str, int | None]] = [
            (f"budget_{self.name}_{pct}pct", pct) for pct in self.thresholds
        ]
        if self.forecast:
            names.append((f"budget_{self.name}_forecast", None))
        return names


def check_budgets(budgets: list[Budget]) -> list[Budget]:
    seen: dict[str, int] = {}
    for i, budget in enumerate(budgets):
        if budget.name in seen:
            raise ValueError(f"budgets[{i}] repeats the name of budgets[{seen[budget.name]}] "
                             f"({budget.name!r})")
        seen[budget.name] = i
    return budgets


# --- ingest: the shipped Bedrock ingest pipeline (functions/*.vrl*) ---------------------------


class PrivacyTruncate(_Strict):
    """``privacy: {truncate: N}``: keep the first N characters of each request/response body."""

    truncate: int = Field(ge=1, le=1_000_000, description="characters kept of each body")


class Ingest(_Strict):
    """``ingest:``: what the shipped Bedrock ingest functions do (functions/*.vrl.j2 see it as
    ``ingest`` in their Jinja context, and so do the dashboard and alert templates, which read
    the pipeline's typed columns when ``pipeline`` is on). Absent = the pipeline off, so an
    existing project renders exactly as before."""

    pipeline: bool = Field(
        default=False,
        description="run the shipped Bedrock functions on ingest (a realtime pipeline per "
        "stream) and read their typed columns in every panel and alert; o2kit init writes true",
    )
    privacy: Literal["keep", "drop"] | PrivacyTruncate = Field(
        default="keep",
        description="the invocation-log request/response bodies: keep, drop, or {truncate: N} "
        "characters (needs pipeline)",
    )
    prompt_hash: bool = Field(
        default=False,
        description="store prompt_sha256, the SHA-256 of the request body, to count repeated "
        "prompts (needs pipeline)",
    )

    @property
    def privacy_mode(self) -> str:
        return self.privacy if isinstance(self.privacy, str) else "truncate"

    @property
    def truncate_chars(self) -> int | None:
        return self.privacy.truncate if isinstance(self.privacy, PrivacyTruncate) else None

    def context(self) -> dict[str, Any]:
        """The ``ingest`` value templates and functions see."""
        return {"pipeline": self.pipeline, "privacy": self.privacy_mode,
                "truncate": self.truncate_chars, "prompt_hash": self.prompt_hash}


class Config(_Strict):
    """``o2kit.yaml``: what the templates are rendered for."""

    # The project's identity: written into the ownership marker of everything o2kit creates, so
    # that --prune and updates touch only this repository's objects (see README "Ownership").
    # Stable across renames of files; `o2kit init` writes one. None: no identity (legacy
    # markers; --prune refused).
    project: str | None = Field(
        default=None,
        description="stable project id written into the ownership marker of every object o2kit "
        "creates (o2kit init writes one); without it --prune is refused",
        json_schema_extra={"pattern": f"^{PROJECT_PATTERN}$"},
    )
    org: str = "default"
    folders: Folders = Field(default_factory=Folders)
    streams: Streams = Field(default_factory=Streams)
    prices: str = "prices.yaml"
    # Sync the price table to OpenObserve's LLM model prices (kind model_price, derived from
    # prices.yaml: o2kit.project.prices.model_pricing_definitions). Off by default so that an
    # existing project does not start writing them; `o2kit init` writes it on.
    prices_sync: bool = Field(
        default=False,
        description="keep OpenObserve's LLM model prices (/api/{org}/llm/models) equal to "
        "prices.yaml: one definition per row and price period (o2kit init sets it true)",
    )
    # Files named here (prices) and the project's folders (dashboards/, alerts/, templates/,
    # envs/) must resolve inside the project — `..`, absolute paths and symlinks included —
    # unless this is true (a price table shared by several repositories, say).
    allow_outside_project: bool = False
    # AWS regions whose Bedrock telemetry reaches the streams: the dashboard's region variable
    # offers them (empty: the regions found in the metric stream). Every row carries its region
    # (metric rows `region`, log rows `message_region`), so all regions may share the streams.
    regions: list[str] = Field(default_factory=list)
    # Threshold defaults that alert and dashboard files may override per file.
    defaults: dict[str, float | int | str | bool] = Field(default_factory=dict)
    # The AWS side (`o2kit aws`): Firehose, metric stream, log subscription, invocation logging.
    aws: AwsSettings | None = None
    # The account's Bedrock quotas per model-id prefix and region (Quota tab, headroom alert).
    quotas: list[QuotaRow] = Field(default_factory=list)
    # Money budgets per calendar month / week / day and scope: alert ladders and a forecast.
    budgets: list[Budget] = Field(default_factory=list)
    # The shipped Bedrock ingest pipeline: on/off, what happens to prompts and responses.
    ingest: Ingest = Field(default_factory=Ingest)

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        # A misspelt region would be a variable choice that matches no row.
        return check_aws_regions(value)

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(PROJECT_PATTERN, value):
            raise ValueError(
                "project must be 2 to 42 characters: lower-case letters, digits and '-', "
                "starting with a letter or digit (e.g. bedrock-monitoring-7f3a)"
            )
        return value

    @field_validator("quotas")
    @classmethod
    def _quotas(cls, value: list[QuotaRow]) -> list[QuotaRow]:
        return check_quota_rows(value)

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, value: list[Budget]) -> list[Budget]:
        return check_budgets(value)

    @field_validator("org")
    @classmethod
    def _org(cls, value: str) -> str:
        if not value or "/" in value or value != value.strip():
            raise ValueError("org must be a non-empty name without '/' or surrounding spaces")
        return value


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    root: Path
    env: str | None
    files: tuple[str, ...]  # the files it was read from, for messages


def _allowed_outside(data: Any) -> bool:
    """``allow_outside_project`` of the base file, read before it is validated: an overlay
    cannot grant itself the permission."""
    return isinstance(data, Mapping) and data.get("allow_outside_project") is True


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay wins; mappings merge key by key; lists and scalars are replaced whole."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _MergedIndex(LineIndex):
    """Lines for a merged document: a path set by the overlay points into the overlay file."""

    def __init__(self, base: LineIndex, overlay: LineIndex | None) -> None:
        super().__init__(base.file, dict(base.lines))
        self._base = base
        self._overlay = overlay

    def problem(self, path: Any, message: str) -> Problem:
        p = tuple(path)
        if self._overlay is not None:
            q = p
            while q:
                if q in self._overlay.lines:
                    return self._overlay.problem(p, message)
                q = q[:-1]
        return self._base.problem(p, message)


def load_config(root: Path, env: str | None = None,
                overrides: Mapping[str, Any] | None = None) -> LoadedConfig:
    """Read ``o2kit.yaml`` (and ``envs/<env>.yaml``) under ``root``; every problem at once.
    ``overrides``: settings merged over both (``o2kit demo`` turns the ingest pipeline on)."""
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {root}",
            remedy="run o2kit from the repository root, pass --project DIR, or `o2kit init DIR`",
        )
    files = [CONFIG_FILE]
    try:
        data, index = load_yaml_file(path, CONFIG_FILE)
        overlay_index = None
        if env is not None:
            if env == "all":
                raise ConfigError(
                    "--env all is only for `o2kit plan` (every environment, one summary)",
                    remedy="name one environment, e.g. --env "
                    + (list_envs(root)[0] if list_envs(root) else "staging"),
                )
            if not _ENV_NAME.fullmatch(env):
                raise ConfigError(f"--env {env!r}: use letters, digits, '_' and '-' only")
            overlay_name = f"{ENVS_DIR}/{env}.yaml"
            overlay_path = root / overlay_name
            if overlay_path.is_file() and not _allowed_outside(data):
                try:
                    project_path(root, overlay_name)
                except OutsideProject as exc:
                    raise ConfigError(str(exc)) from None
            if not overlay_path.is_file():
                known = sorted(p.stem for p in (root / ENVS_DIR).glob("*.yaml"))
                raise ConfigError(
                    f"environment {env!r} not found: no {overlay_name}",
                    remedy=f"known environments: {', '.join(known) or 'none'}",
                )
            overlay, overlay_index = load_yaml_file(overlay_path, overlay_name)
            files.append(overlay_name)
            if overlay is None:
                overlay = {}
            if not isinstance(overlay, dict):
                raise ValidationFailed([overlay_index.problem((), "must be a mapping")])
            if "allow_outside_project" in overlay:
                raise ValidationFailed([overlay_index.problem(
                    ("allow_outside_project",),
                    f"may only be set in {CONFIG_FILE}: an overlay cannot widen what the "
                    "project reads")])
            data = deep_merge(data or {}, overlay)
    except YamlError as exc:
        raise ValidationFailed([exc.problem]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed([index.problem((), "must be a mapping of settings")])
    if overrides:
        data = deep_merge(data, dict(overrides))
    try:
        config = parse_as(Config, data, _MergedIndex(index, overlay_index))
    except ModelErrors as exc:
        raise ValidationFailed(exc.problems) from exc
    return LoadedConfig(config=config, root=root, env=env, files=tuple(files))


class OutsideProject(ValueError):
    """A path that resolves outside the project root."""


def project_path(root: Path, name: str | Path, *, allow_outside: bool = False) -> Path:
    """``root / name``, refused with ``OutsideProject`` when it resolves (``..``, an absolute
    path, a symlink anywhere on the way) outside ``root`` and ``allow_outside`` is False.

    A project is often a pull request's checkout: a symlink or ``../`` there must not make o2kit
    read (and echo in errors, or send to a server) a file of the machine it runs on.
    """
    path = root / name
    if allow_outside:
        return path
    real_root = root.resolve()
    real = path.resolve()
    if not real.is_relative_to(real_root):
        raise OutsideProject(
            f"{name} leads outside the project (to {real}); set allow_outside_project: true in "
            f"{CONFIG_FILE} to allow it"
        )
    return path


def list_envs(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / ENVS_DIR).glob("*.yaml"))


@dataclass(frozen=True)
class ServerSettings:
    """How to reach OpenObserve. Built by the CLI from flags and environment variables only."""

    url: str
    org: str
    user: str
    # A ``redact.Secret`` (a plain string is wrapped): its value is registered with the
    # redaction layer, with the base64 of ``user:password`` a Basic Authorization header carries.
    password: Secret
    ca_bundle: str | None = None
    insecure: bool = False
    timeout: float = 30.0
    concurrency: int = 8
    retries: int = 4
    # The largest answer body read (decoded), in bytes; env O2KIT_MAX_RESPONSE_MB.
    max_response_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        password = self.password if isinstance(self.password, Secret) else Secret(self.password)
        object.__setattr__(self, "password", password)
        register_credentials(self.user, password)

    def __repr__(self) -> str:  # never print the secret
        return (
            f"ServerSettings(url={redact(self.url)!r}, org={self.org!r}, user={self.user!r}, "
            "password='***')"
        )


def server_settings(
    *,
    env: Mapping[str, str],
    config_org: str,
    url: str | None = None,
    org: str | None = None,
    user: str | None = None,
    password: str | None = None,
    ca_bundle: str | None = None,
    insecure: bool = False,
    timeout: float = 30.0,
    concurrency: int = 8,
) -> ServerSettings:
    """Resolve connection settings; a missing value is a ConfigError that says how to set it."""
    url = url or env.get("OPENOBSERVE_URL")
    user = user or env.get("OPENOBSERVE_USER")
    password = password or env.get("OPENOBSERVE_PASSWORD")
    org = org or env.get("OPENOBSERVE_ORG") or config_org
    missing = [
        name
        for name, value in (
            ("OPENOBSERVE_URL (or --url)", url),
            ("OPENOBSERVE_USER", user),
            ("OPENOBSERVE_PASSWORD", password),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"missing server settings: {', '.join(missing)}",
            remedy="export them in the environment (credentials are never read from files in git)",
        )
    assert url and user and password
    if not re.match(r"^https?://", url):
        # redact: a URL with a password in it (ftp://user:pw@host) is named without it.
        raise ConfigError(redact(f"server URL {url!r} must start with http:// or https://"))
    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError("--timeout must be a number of seconds above 0")
    max_mb = env.get("O2KIT_MAX_RESPONSE_MB", "").strip()
    max_response = 64
    if max_mb:
        try:
            max_response = int(max_mb)
        except ValueError:
            max_response = -1
        if not 1 <= max_response <= 4096:
            raise ConfigError(f"O2KIT_MAX_RESPONSE_MB={max_mb!r}: use a whole number of MiB "
                              "from 1 to 4096")
    return ServerSettings(
        url=url.rstrip("/"),
        org=org,
        user=user,
        password=Secret(password),
        ca_bundle=ca_bundle or env.get("OPENOBSERVE_CA_BUNDLE"),
        insecure=insecure,
        timeout=timeout,
        concurrency=concurrency,
        max_response_bytes=max_response * 1024 * 1024,
    )
