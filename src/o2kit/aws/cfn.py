"""The AWS side as code: ``o2kit.yaml`` → one CloudFormation template per region.

The template makes everything between Bedrock and OpenObserve (bedrock-telemetry.md §1)::

    Bedrock invocation logging ─► log group ─► subscription filter ─┐
    (extra log groups: Agents, Knowledge Bases ─► subscription) ────┤
                                                                    ├─► Firehose ─► OpenObserve
    AWS/Bedrock (+ AWS/Firehose) ─► metric stream (JSON) ───────────┘
                                               (/aws/{org}/{stream}/_kinesis_firehose)

One Firehose delivery stream per OpenObserve stream. Settings that break ingestion are not
offered: no record processing (message extraction, §3.5), JSON metric output only (§4), HTTPS on
port 443 (checked in ``config``). The access key is a NoEcho parameter or a Secrets Manager secret
Firehose reads itself; it never appears in the template.

Bedrock model invocation logging has no CloudFormation resource type (none in cfn-lint's resource
specification; aws-cdk issue #31478), so it is set by a custom resource: a small inline Lambda that
calls ``bedrock:PutModelInvocationLoggingConfiguration`` on create/update and
``DeleteModelInvocationLoggingConfiguration`` on delete.

Pure: config in, template dict (and its text) out; no files, no network, no clock.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import yaml

from o2kit.errors import ConfigError
from o2kit.project.config import AwsSettings, Config

Template = dict[str, Any]
Format = Literal["yaml", "json"]

# The log stream Bedrock writes invocation records to, inside the configured log group.
BEDROCK_LOG_STREAM = "aws/bedrock/modelinvocations"
METRIC_NAMESPACES = ("AWS/Bedrock",)
FIREHOSE_NAMESPACE = "AWS/Firehose"
# More of Bedrock, each streamed when o2kit.yaml asks for it (aws.include_*_metrics), for the
# dashboard's Guardrails, Agents and Knowledge bases tabs (Bedrock user guide: "Monitor Amazon
# Bedrock Guardrails using CloudWatch metrics", "Monitor Amazon Bedrock Agents using CloudWatch
# Metrics", "Observability for managed knowledge bases").
GUARDRAILS_NAMESPACE = "AWS/Bedrock/Guardrails"
AGENTS_NAMESPACE = "AWS/Bedrock/Agents"
KNOWLEDGE_BASES_NAMESPACE = "AWS/Bedrock/KnowledgeBases"
# Only these two calls put data into a Firehose stream; subscription filters and metric streams
# use nothing else.
FIREHOSE_PUT_ACTIONS = ("firehose:PutRecord", "firehose:PutRecordBatch")
# Account-level Bedrock calls with no resource type in IAM, so their Resource must be "*"
# (scoped to the stack's region by a condition instead).
BEDROCK_LOGGING_ACTIONS = (
    "bedrock:PutModelInvocationLoggingConfiguration",
    "bedrock:DeleteModelInvocationLoggingConfiguration",
)
LAMBDA_RUNTIME = "python3.13"
CUSTOM_LOGGING_TYPE = "Custom::BedrockModelInvocationLogging"
_HTTP_ENDPOINT_NAME = "OpenObserve"


def firehose_endpoint_url(base_url: str, org: str, stream: str) -> str:
    """OpenObserve's Firehose route for one stream.

    Route ``/{org_id}/{stream_name}/_kinesis_firehose`` under ``/aws`` (src/api/http/src/handler/
    http/router/mod.rs ``other_service_routes``), after the ``ZO_BASE_URI`` path in ``base_url``.
    """
    org_part, stream_part = quote(org, safe=""), quote(stream, safe=":")
    return f"{base_url.rstrip('/')}/aws/{org_part}/{stream_part}/_kinesis_firehose"


def aws_settings(config: Config) -> AwsSettings:
    """The ``aws:`` section, or a ConfigError showing the smallest one that works."""
    if config.aws is None:
        raise ConfigError(
            "o2kit.yaml has no `aws:` section",
            remedy="add `aws: {openobserve_url: https://o2.example.com, regions: [us-east-1]}`",
        )
    return config.aws


def default_regions(config: Config) -> list[str]:
    """Regions to generate for without --region: ``aws.regions``, else the top-level ``regions``."""
    aws = aws_settings(config)
    return list(aws.regions or config.regions)


# --- names -------------------------------------------------------------------------------------


def _logical_id(*words: str) -> str:
    """CamelCase logical id from words such as stream names (logical ids are alphanumeric)."""
    parts: list[str] = []
    for word in words:
        parts.extend(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", word) if p)
    return "".join(parts)


def _resource_name(prefix: str, stream: str) -> str:
    # Firehose stream names allow [a-zA-Z0-9_.-]; ':' (allowed in OpenObserve streams) is not.
    return f"{prefix}-{re.sub(r'[^A-Za-z0-9_.-]', '-', stream)}"


def _log_group(name: str, retention_days: int) -> dict[str, Any]:
    # Deleted with the stack, said explicitly: the records live on in OpenObserve, and a retained
    # group would make the next deploy of the same name fail ("already exists").
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": name, "RetentionInDays": retention_days},
    }


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _service_trust(service: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    """A trust policy for one AWS service.

    A confused-deputy condition only where the service documents the key it sends: a condition
    on a key the service does not send makes the role unusable and the deploy fails.
    """
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def _policy(name: str, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "PolicyName": name,
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        }
    ]


def _allow(actions: list[str] | tuple[str, ...], resources: list[Any], **extra: Any) -> dict:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": resources}
    statement.update(extra)
    return statement


# --- the plan of destinations ------------------------------------------------------------------


@dataclass(frozen=True)
class _Destination:
    """One Firehose delivery stream, for one OpenObserve stream."""

    stream: str
    logical_id: str
    name: str


@dataclass(frozen=True)
class _Subscription:
    logical_id: str
    log_group: Any  # a name, or a Ref to the log group the template makes
    destination: _Destination
    filter_pattern: str


def _destinations(config: Config, aws: AwsSettings) -> dict[str, _Destination]:
    streams = [config.streams.invocation_logs, config.streams.metrics]
    streams += [g.stream or config.streams.invocation_logs for g in aws.extra_log_groups]
    out: dict[str, _Destination] = {}
    used: set[str] = set()
    firehose_name_limit = 64  # DeliveryStreamName
    for stream in streams:
        if stream in out:
            continue
        logical = _logical_id(stream, "DeliveryStream")
        if logical in used:  # e.g. a_b and a__b: keep logical ids unique and stable
            logical = _logical_id(stream, f"DeliveryStream{len(out)}")
        used.add(logical)
        name = _resource_name(aws.name_prefix, stream)
        if len(name) > firehose_name_limit:
            raise ConfigError(
                f"Firehose stream name {name!r} is longer than {firehose_name_limit} characters",
                remedy="shorten aws.name_prefix or the OpenObserve stream name",
            )
        out[stream] = _Destination(stream, logical, name)
    return out


# --- the template ------------------------------------------------------------------------------


def build_template(config: Config, region: str) -> Template:
    """The CloudFormation template for one region, as a dict (insertion order is output order)."""
    aws = aws_settings(config)
    access = aws.access_key
    logging_cfg = aws.invocation_logging
    destinations = _destinations(config, aws)
    parameters: dict[str, Any] = {}
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}

    param = access.parameter_name
    if param is not None:
        parameters[param] = {
            "Type": "String",
            "NoEcho": True,
            "MinLength": 4,
            # base64 of "user:passcode" (src/api/common/src/auth/validator.rs decodes it)
            "AllowedPattern": "^[A-Za-z0-9+/]+={0,2}$",
            "Description": "OpenObserve Firehose access key: base64 of '<email>:<ingestion "
            "passcode>' (or '<name>:o2oi_<org ingestion token>')",
        }
    secret_arn = access.secret_arn.replace("{region}", region) if access.secret_arn else None

    # --- invocation log group and Bedrock's logging configuration ------------------------------
    if logging_cfg.create_log_group:
        resources["InvocationLogGroup"] = _log_group(
            logging_cfg.log_group, logging_cfg.retention_days
        )
        invocation_group: Any = _ref("InvocationLogGroup")
    else:
        invocation_group = logging_cfg.log_group
    if logging_cfg.configure_bedrock:
        resources.update(_bedrock_logging_resources(aws, invocation_group))

    # --- S3 backup for batches OpenObserve refused ---------------------------------------------
    if aws.s3_backup.bucket is None:
        resources["BackupBucket"] = _backup_bucket(aws)
        bucket_arn: Any = _arn("BackupBucket")
        bucket_objects: Any = _sub("${BackupBucket.Arn}/*")
        outputs["BackupBucket"] = {"Value": _ref("BackupBucket")}
    else:
        bucket = aws.s3_backup.bucket.replace("{region}", region)
        bucket_arn = _sub(f"arn:${{AWS::Partition}}:s3:::{bucket}")
        bucket_objects = _sub(f"arn:${{AWS::Partition}}:s3:::{bucket}/*")

    # --- Firehose: its error log, its role, one delivery stream per OpenObserve stream ----------
    firehose_group = f"/aws/kinesisfirehose/{aws.name_prefix}"
    resources["FirehoseLogGroup"] = _log_group(
        firehose_group, aws.firehose.error_log_retention_days
    )
    for dest in destinations.values():
        for suffix in ("Http", "Backup"):
            resources[f"{dest.logical_id}{suffix}LogStream"] = {
                "Type": "AWS::Logs::LogStream",
                "Properties": {
                    "LogGroupName": _ref("FirehoseLogGroup"),
                    "LogStreamName": f"{dest.name}-{suffix.lower()}",
                },
            }
    firehose_statements = [
        # What Firehose needs to write a failed batch to S3 (Firehose developer guide,
        # "Grant Firehose access to an Amazon S3 destination").
        _allow(["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
               [bucket_arn]),
        _allow(["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"], [bucket_objects]),
        _allow(["logs:PutLogEvents"], [_sub(
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
            f"{firehose_group}:log-stream:*"
        )]),
    ]
    if secret_arn is not None:
        firehose_statements.append(_allow(["secretsmanager:GetSecretValue"], [secret_arn]))
    if access.secret_kms_key_arn is not None:
        # Only to decrypt that secret, through Secrets Manager.
        firehose_statements.append(_allow(
            ["kms:Decrypt"], [access.secret_kms_key_arn.replace("{region}", region)],
            Condition={"StringEquals": {"kms:ViaService": _sub(
                "secretsmanager.${AWS::Region}.amazonaws.com"
            )}},
        ))
    resources["FirehoseRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "Firehose: back up failed batches to S3, log delivery errors",
            "AssumeRolePolicyDocument": _service_trust(
                "firehose.amazonaws.com",
                {"StringEquals": {"sts:ExternalId": _ref("AWS::AccountId")}},
            ),
            "Policies": _policy("firehose-delivery", firehose_statements),
        },
    }
    for dest in destinations.values():
        resources[dest.logical_id] = _delivery_stream(config, aws, dest, bucket_arn, secret_arn,
                                                      firehose_group, param)
        outputs[dest.logical_id] = {
            "Description": f"Firehose stream delivering to OpenObserve stream {dest.stream}",
            "Value": _arn(dest.logical_id),
        }

    # --- log subscriptions ----------------------------------------------------------------------
    subscriptions = [
        _Subscription("InvocationLogsSubscription", invocation_group,
                      destinations[config.streams.invocation_logs], "")
    ]
    for index, extra in enumerate(aws.extra_log_groups, start=1):
        group: Any = extra.log_group
        if extra.create:
            group_id = f"ExtraLogGroup{index}"
            resources[group_id] = _log_group(extra.log_group, extra.retention_days)
            group = _ref(group_id)
        dest = destinations[extra.stream or config.streams.invocation_logs]
        subscriptions.append(
            _Subscription(f"ExtraLogGroup{index}Subscription", group, dest, extra.filter_pattern)
        )
    subscribed = sorted({s.destination.logical_id for s in subscriptions})
    resources["SubscriptionRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "CloudWatch Logs: put subscribed log events into Firehose",
            "AssumeRolePolicyDocument": _service_trust(
                "logs.amazonaws.com",
                {"StringLike": {"aws:SourceArn": _sub(
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"
                )}},
            ),
            "Policies": _policy(
                "put-into-firehose",
                [_allow(FIREHOSE_PUT_ACTIONS, [_arn(logical) for logical in subscribed])],
            ),
        },
    }
    for sub in subscriptions:
        resources[sub.logical_id] = {
            "Type": "AWS::Logs::SubscriptionFilter",
            "Properties": {
                "FilterName": f"{aws.name_prefix}-to-openobserve",
                "LogGroupName": sub.log_group,
                "FilterPattern": sub.filter_pattern,
                "DestinationArn": _arn(sub.destination.logical_id),
                "RoleArn": _arn("SubscriptionRole"),
            },
        }

    # --- metric stream -------------------------------------------------------------------------
    metrics_dest = destinations[config.streams.metrics]
    namespaces = list(METRIC_NAMESPACES)
    if aws.include_firehose_metrics:
        namespaces.append(FIREHOSE_NAMESPACE)
    for wanted, namespace in ((aws.include_guardrails_metrics, GUARDRAILS_NAMESPACE),
                              (aws.include_agents_metrics, AGENTS_NAMESPACE),
                              (aws.include_knowledge_bases_metrics, KNOWLEDGE_BASES_NAMESPACE)):
        if wanted:
            namespaces.append(namespace)
    resources["MetricStreamRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "CloudWatch metric stream: put metric updates into Firehose",
            # CloudWatch documents no condition key for this principal
            # (CloudWatch-metric-streams-trustpolicy); iam:PassRole guards who can attach it.
            "AssumeRolePolicyDocument": _service_trust("streams.metrics.cloudwatch.amazonaws.com"),
            "Policies": _policy(
                "put-into-firehose",
                [_allow(FIREHOSE_PUT_ACTIONS, [_arn(metrics_dest.logical_id)])],
            ),
        },
    }
    resources["MetricStream"] = {
        "Type": "AWS::CloudWatch::MetricStream",
        "Properties": {
            "Name": f"{aws.name_prefix}-bedrock",
            "FirehoseArn": _arn(metrics_dest.logical_id),
            "RoleArn": _arn("MetricStreamRole"),
            # JSON only: OpenObserve reads one JSON datum per line; OpenTelemetry output is not
            # offered (only the first message of a record is decoded, §4.2).
            "OutputFormat": "json",
            "IncludeFilters": [{"Namespace": ns} for ns in namespaces],
        },
    }
    statistics = _statistics_configurations(config)
    if statistics:
        resources["MetricStream"]["Properties"]["StatisticsConfigurations"] = statistics
    outputs["MetricStream"] = {"Value": _arn("MetricStream")}
    outputs["InvocationLogGroup"] = {"Value": logging_cfg.log_group}

    template: Template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"o2kit: Bedrock telemetry to OpenObserve org {config.org} ({region}). "
            "Generated by `o2kit aws`; edit o2kit.yaml, not this file."
        ),
    }
    if parameters:
        template["Parameters"] = parameters
    template["Resources"] = resources
    template["Outputs"] = outputs
    return template


# The AWS/Bedrock metrics whose distribution matters per request: CloudWatch streams their
# percentiles when asked (streams.metric_percentiles).
PERCENTILE_METRICS = ("InvocationLatency", "TimeToFirstToken")


def _statistics_configurations(config: Config) -> list[dict[str, Any]]:
    """``StatisticsConfigurations`` asking CloudWatch for ``streams.metric_percentiles`` of
    InvocationLatency and TimeToFirstToken (API MetricStreamStatisticsConfiguration: at most 20
    statistics, checked in ``config``). In JSON output each arrives as an extra key of the
    datum's ``value`` named as requested ("p99"); OpenObserve's generic flattening keeps it as
    ``value_p99`` (src/config/src/utils/flatten.rs), while its metric-stream special case keeps
    only count/sum/max/min (``KinesisFHMetricValue``, src/ingestion_common/src/lib.rs). So in
    the ``special`` layout nothing is asked for: the statistics would be billed and dropped."""
    percentiles = list(config.streams.metric_percentiles)
    if not percentiles or config.streams.metrics_layout != "flattened":
        return []
    return [{
        "AdditionalStatistics": percentiles,
        "IncludeMetrics": [{"Namespace": "AWS/Bedrock", "MetricName": name}
                           for name in PERCENTILE_METRICS],
    }]


def _delivery_stream(
    config: Config,
    aws: AwsSettings,
    dest: _Destination,
    bucket_arn: Any,
    secret_arn: str | None,
    firehose_group: str,
    param: str | None,
) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "Url": firehose_endpoint_url(aws.openobserve_url, config.org, dest.stream),
        "Name": _HTTP_ENDPOINT_NAME,
    }
    destination: dict[str, Any] = {"EndpointConfiguration": endpoint}
    if param is not None:
        endpoint["AccessKey"] = _ref(param)
    else:
        destination["SecretsManagerConfiguration"] = {
            "Enabled": True,
            "SecretARN": secret_arn,
            "RoleARN": _arn("FirehoseRole"),
        }
    destination.update({
        # OpenObserve decompresses the body (RequestDecompressionLayer on the AWS routes).
        "RequestConfiguration": {"ContentEncoding": "GZIP"},
        "BufferingHints": {
            "SizeInMBs": aws.firehose.buffer_size_mb,
            "IntervalInSeconds": aws.firehose.buffer_interval_seconds,
        },
        "RetryOptions": {"DurationInSeconds": aws.firehose.retry_seconds},
        "RoleARN": _arn("FirehoseRole"),
        "CloudWatchLoggingOptions": {
            "Enabled": True,
            "LogGroupName": firehose_group,
            "LogStreamName": _ref(f"{dest.logical_id}HttpLogStream"),
        },
        "S3BackupMode": "FailedDataOnly",
        "S3Configuration": {
            "BucketARN": bucket_arn,
            "RoleARN": _arn("FirehoseRole"),
            "Prefix": f"{aws.s3_backup.prefix}{dest.stream}/",
            "ErrorOutputPrefix": f"{aws.s3_backup.prefix}{dest.stream}-errors/",
            "CompressionFormat": "GZIP",
            "CloudWatchLoggingOptions": {
                "Enabled": True,
                "LogGroupName": firehose_group,
                "LogStreamName": _ref(f"{dest.logical_id}BackupLogStream"),
            },
        },
    })
    return {
        "Type": "AWS::KinesisFirehose::DeliveryStream",
        "Properties": {
            "DeliveryStreamName": dest.name,
            "DeliveryStreamType": "DirectPut",
            "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
            "HttpEndpointDestinationConfiguration": destination,
        },
    }


def _backup_bucket(aws: AwsSettings) -> dict[str, Any]:
    return {
        "Type": "AWS::S3::Bucket",
        # Kept when the stack goes: it may hold the only copy of data OpenObserve refused.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ]},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": [{
                "Id": "expire-failed-batches",
                "Status": "Enabled",
                "ExpirationInDays": aws.s3_backup.expire_days,
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }]},
        },
    }


# The custom resource's handler. Standard library + the boto3 that Lambda's Python runtime ships.
# The physical id is constant, so an update never makes CloudFormation "delete the old one" (which
# would switch logging off); a failed create reports another id, so its rollback deletes nothing
# that existed before.
_LOGGING_HANDLER = '''\
import json
import time
import urllib.request

import boto3

PHYSICAL_ID = "bedrock-model-invocation-logging"


def respond(event, status, reason, physical_id):
    body = json.dumps({
        "Status": status,
        "Reason": reason[:900],
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
    }).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    urllib.request.urlopen(request, timeout=30)


def put_with_retry(bedrock, config):
    # A role made seconds ago may not be usable yet (IAM is eventually consistent).
    for attempt in range(6):
        try:
            return bedrock.put_model_invocation_logging_configuration(loggingConfig=config)
        except bedrock.exceptions.ValidationException:
            if attempt == 5:
                raise
            time.sleep(15)


def handler(event, context):
    props = event["ResourceProperties"]
    bedrock = boto3.client("bedrock")
    try:
        if event["RequestType"] == "Delete":
            if event.get("PhysicalResourceId") == PHYSICAL_ID:
                bedrock.delete_model_invocation_logging_configuration()
        else:
            config = {
                "cloudWatchConfig": {
                    "logGroupName": props["LogGroupName"],
                    "roleArn": props["RoleArn"],
                },
                "textDataDeliveryEnabled": props["Text"] == "true",
                "imageDataDeliveryEnabled": props["Image"] == "true",
                "embeddingDataDeliveryEnabled": props["Embedding"] == "true",
            }
            if props["Video"] == "true":  # newer field; older SDKs reject it even when false
                config["videoDataDeliveryEnabled"] = True
            put_with_retry(bedrock, config)
        respond(event, "SUCCESS", "ok", PHYSICAL_ID)
    except Exception as exc:  # report every failure to CloudFormation instead of hanging it
        failed_id = event.get("PhysicalResourceId") or "create-failed"
        respond(event, "FAILED", f"{type(exc).__name__}: {exc}", failed_id)
'''


def _bedrock_logging_resources(aws: AwsSettings, log_group: Any) -> dict[str, Any]:
    settings = aws.invocation_logging
    group_name = _sub("${InvocationLogGroup}") if not isinstance(log_group, str) else log_group
    group_arn_prefix = (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        + ("${InvocationLogGroup}" if not isinstance(log_group, str) else settings.log_group)
    )
    function_log_group = f"/aws/lambda/{aws.name_prefix}-bedrock-invocation-logging"
    return {
        # Assumed by Bedrock to write invocation records (Bedrock user guide, "Model invocation
        # logging": CloudWatch Logs destination role).
        "BedrockLoggingRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "Bedrock: write model invocation logs to CloudWatch Logs",
                "AssumeRolePolicyDocument": _service_trust(
                    "bedrock.amazonaws.com",
                    {
                        "StringEquals": {"aws:SourceAccount": _ref("AWS::AccountId")},
                        "ArnLike": {"aws:SourceArn": _sub(
                            "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:*"
                        )},
                    },
                ),
                "Policies": _policy(
                    "write-invocation-logs",
                    [_allow(["logs:CreateLogStream", "logs:PutLogEvents"], [
                        _sub(f"{group_arn_prefix}:log-stream:{BEDROCK_LOG_STREAM}")
                    ])],
                ),
            },
        },
        "BedrockLoggingFunctionLogGroup": _log_group(function_log_group, 14),
        "BedrockLoggingFunctionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "Custom resource: set Bedrock model invocation logging",
                # An execution role: only who may iam:PassRole it can attach it to a function.
                "AssumeRolePolicyDocument": _service_trust("lambda.amazonaws.com"),
                "Policies": _policy("set-bedrock-invocation-logging", [
                    # These calls have no resource type in IAM: Resource must be "*"; the
                    # condition keeps them to this stack's region.
                    _allow(
                        BEDROCK_LOGGING_ACTIONS, ["*"],
                        Condition={"StringEquals": {"aws:RequestedRegion": _ref("AWS::Region")}},
                    ),
                    _allow(
                        ["iam:PassRole"], [_arn("BedrockLoggingRole")],
                        Condition={
                            "StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}
                        },
                    ),
                    _allow(["logs:CreateLogStream", "logs:PutLogEvents"], [_sub(
                        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                        f"{function_log_group}:log-stream:*"
                    )]),
                ]),
            },
        },
        "BedrockLoggingFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Description": "o2kit: set Bedrock model invocation logging (custom resource)",
                "Runtime": LAMBDA_RUNTIME,
                "Handler": "index.handler",
                "Timeout": 120,
                "MemorySize": 128,
                "Role": _arn("BedrockLoggingFunctionRole"),
                "LoggingConfig": {"LogGroup": _ref("BedrockLoggingFunctionLogGroup")},
                "Code": {"ZipFile": _LOGGING_HANDLER},
            },
        },
        "BedrockInvocationLogging": {
            "Type": CUSTOM_LOGGING_TYPE,
            "Properties": {
                "ServiceToken": _arn("BedrockLoggingFunction"),
                "LogGroupName": group_name,
                "RoleArn": _arn("BedrockLoggingRole"),
                "Text": _flag(settings.text),
                "Image": _flag(settings.image),
                "Embedding": _flag(settings.embedding),
                "Video": _flag(settings.video),
            },
        },
    }


def _flag(value: bool) -> str:
    # Custom resource properties reach the handler as strings anyway; say so in the template.
    return "true" if value else "false"


# --- text --------------------------------------------------------------------------------------


class _TemplateDumper(yaml.SafeDumper):
    """Block style for multi-line strings (the inline handler stays readable); no anchors or
    aliases (CloudFormation rejects them, cfn-lint W1101)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_TemplateDumper.add_representer(str, _str_representer)


def dump_template(template: Template, fmt: Format = "yaml") -> str:
    """The template as text: same input, same bytes. Intrinsics in their long form (``Fn::Sub``)
    so the YAML needs no custom tags."""
    if fmt == "json":
        return json.dumps(template, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        text = yaml.dump(template, Dumper=_TemplateDumper, sort_keys=False,
                         default_flow_style=False, allow_unicode=True, width=100)
        return str(text)
    raise ValueError(f"unknown format {fmt!r}")


def template_filename(region: str, fmt: Format = "yaml") -> str:
    return f"o2kit-aws-{region}.{fmt}"


def stack_name(aws: AwsSettings) -> str:
    return f"{aws.name_prefix}-bedrock-telemetry"


def deploy_command(config: Config, region: str, template_path: str) -> str:
    """The one command that deploys a region's template."""
    aws = aws_settings(config)
    parts = [
        "aws cloudformation deploy",
        f"--region {region}",
        f"--template-file {template_path}",
        f"--stack-name {stack_name(aws)}",
        "--capabilities CAPABILITY_NAMED_IAM",
    ]
    param = aws.access_key.parameter_name
    if param is not None:
        parts.append(f'--parameter-overrides {param}="$O2_FIREHOSE_ACCESS_KEY"')
    return " ".join(parts)
