"""The CloudFormation template `o2kit aws` writes: its content, not just that it parses.

Expected values (URLs, actions, namespaces) are written out by hand here, not computed with the
module's own helpers, so a wrong helper fails these tests.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from o2kit.aws import cfn as awscfn
from o2kit.errors import ConfigError, ValidationFailed
from o2kit.project.config import Config, load_config


def _config(**aws: Any) -> Config:
    settings: dict[str, Any] = {"openobserve_url": "https://o2.example.com/o2"}
    settings.update(aws)
    return Config.model_validate({"org": "acme", "aws": settings})


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _http(stream: dict[str, Any]) -> dict[str, Any]:
    return stream["Properties"]["HttpEndpointDestinationConfiguration"]


def _stream_for(template: dict[str, Any], url_stream: str) -> tuple[str, dict[str, Any]]:
    matches = [
        (k, v) for k, v in _resources(template, "AWS::KinesisFirehose::DeliveryStream").items()
        if _http(v)["EndpointConfiguration"]["Url"].split("/")[-2] == url_stream
    ]
    assert len(matches) == 1, f"one Firehose stream for {url_stream}: {matches}"
    return matches[0]


# --- Firehose ----------------------------------------------------------------------------------


def test_one_firehose_per_stream_posting_to_openobserve_firehose_route() -> None:
    template = awscfn.build_template(_config(), "us-east-1")
    urls = sorted(
        _http(s)["EndpointConfiguration"]["Url"]
        for s in _resources(template, "AWS::KinesisFirehose::DeliveryStream").values()
    )
    assert urls == [
        "https://o2.example.com/o2/aws/acme/bedrock_logs/_kinesis_firehose",
        "https://o2.example.com/o2/aws/acme/bedrock_metrics/_kinesis_firehose",
    ]


def test_stream_names_come_from_config() -> None:
    config = Config.model_validate({
        "org": "team-a",
        "streams": {"metrics": "m1", "invocation_logs": "l1"},
        "aws": {"openobserve_url": "https://logs.corp.net/"},
    })
    template = awscfn.build_template(config, "eu-west-1")
    urls = sorted(
        _http(s)["EndpointConfiguration"]["Url"]
        for s in _resources(template, "AWS::KinesisFirehose::DeliveryStream").values()
    )
    assert urls == [
        "https://logs.corp.net/aws/team-a/l1/_kinesis_firehose",
        "https://logs.corp.net/aws/team-a/m1/_kinesis_firehose",
    ]


def test_delivery_settings_gzip_failed_only_backup_retry_and_buffering() -> None:
    config = _config(firehose={"buffer_size_mb": 4, "buffer_interval_seconds": 120,
                               "retry_seconds": 900})
    template = awscfn.build_template(config, "us-east-1")
    streams = _resources(template, "AWS::KinesisFirehose::DeliveryStream")
    assert len(streams) == 2
    for stream in streams.values():
        assert stream["Properties"]["DeliveryStreamType"] == "DirectPut"
        http = _http(stream)
        assert http["RequestConfiguration"]["ContentEncoding"] == "GZIP"
        assert http["S3BackupMode"] == "FailedDataOnly"
        assert http["RetryOptions"] == {"DurationInSeconds": 900}
        assert http["BufferingHints"] == {"SizeInMBs": 4, "IntervalInSeconds": 120}
        assert http["S3Configuration"]["BucketARN"] == {"Fn::GetAtt": ["BackupBucket", "Arn"]}


def test_no_record_processing_anywhere() -> None:
    """Message extraction (a Firehose processor) breaks OpenObserve's envelope handling."""
    template = awscfn.build_template(_config(extra_log_groups=[{"log_group": "/kb"}]), "us-east-1")
    keys = {key for key, _ in _walk(template)}
    assert "ProcessingConfiguration" not in keys
    assert "Processors" not in keys


@pytest.mark.parametrize("key", ["message_extraction", "processing", "decompression"])
def test_breaking_firehose_settings_are_refused_with_the_reason(key: str) -> None:
    with pytest.raises(ValueError, match=f"`{key}` is not offered"):
        _config(firehose={key: True})


def test_existing_backup_bucket_is_referenced_per_region() -> None:
    template = awscfn.build_template(_config(s3_backup={"bucket": "o2-failed-{region}"}),
                                     "eu-central-1")
    assert not _resources(template, "AWS::S3::Bucket")
    stream = next(iter(_resources(template, "AWS::KinesisFirehose::DeliveryStream").values()))
    assert _http(stream)["S3Configuration"]["BucketARN"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::o2-failed-eu-central-1"
    }


def test_created_backup_bucket_is_private_encrypted_expiring_and_kept() -> None:
    template = awscfn.build_template(_config(s3_backup={"expire_days": 7}), "us-east-1")
    bucket = template["Resources"]["BackupBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    props = bucket["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 7


# --- access key --------------------------------------------------------------------------------


def test_access_key_is_a_noecho_parameter_by_default() -> None:
    template = awscfn.build_template(_config(), "us-east-1")
    assert template["Parameters"]["OpenObserveAccessKey"]["NoEcho"] is True
    for stream in _resources(template, "AWS::KinesisFirehose::DeliveryStream").values():
        endpoint = _http(stream)["EndpointConfiguration"]
        assert endpoint["AccessKey"] == {"Ref": "OpenObserveAccessKey"}
        assert "SecretsManagerConfiguration" not in _http(stream)


def test_access_key_from_secrets_manager_per_region() -> None:
    arn = "arn:aws:secretsmanager:{region}:111122223333:secret:o2-firehose-AbCdEf"
    template = awscfn.build_template(_config(access_key={"secret_arn": arn}), "ap-south-1")
    expected = "arn:aws:secretsmanager:ap-south-1:111122223333:secret:o2-firehose-AbCdEf"
    assert "Parameters" not in template
    for stream in _resources(template, "AWS::KinesisFirehose::DeliveryStream").values():
        http = _http(stream)
        assert "AccessKey" not in http["EndpointConfiguration"]
        assert http["SecretsManagerConfiguration"]["Enabled"] is True
        assert http["SecretsManagerConfiguration"]["SecretARN"] == expected
    reads = [s for s in _statements(template["Resources"]["FirehoseRole"])
             if "secretsmanager:GetSecretValue" in s["Action"]]
    assert reads == [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                      "Resource": [expected]}]


def test_customer_managed_key_of_the_secret_is_usable_only_through_secrets_manager() -> None:
    access = {"secret_arn": "arn:aws:secretsmanager:{region}:111122223333:secret:o2",
              "secret_kms_key_arn": "arn:aws:kms:{region}:111122223333:key/mrk-1234abcd"}
    template = awscfn.build_template(_config(access_key=access), "eu-west-1")
    (decrypt,) = [s for s in _statements(template["Resources"]["FirehoseRole"])
                  if s["Action"] == ["kms:Decrypt"]]
    assert decrypt["Resource"] == ["arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd"]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": {
        "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}}
    plain = awscfn.build_template(_config(access_key={"secret_arn": access["secret_arn"]}),
                                  "eu-west-1")
    actions = [a for s in _statements(plain["Resources"]["FirehoseRole"]) for a in s["Action"]]
    assert "kms:Decrypt" not in actions


def test_too_long_firehose_names_are_refused_before_deploy() -> None:
    config = Config.model_validate({
        "streams": {"invocation_logs": "bedrock_invocation_logs_of_the_platform_team_in_prod"},
        "aws": {"openobserve_url": "https://o2.example.com",
                "name_prefix": "platform-observability"},
    })
    with pytest.raises(ConfigError, match="longer than 64"):
        awscfn.build_template(config, "us-east-1")


def test_a_literal_access_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "o2kit.yaml").write_text(
        "org: acme\naws:\n  openobserve_url: https://o2.example.com\n"
        "  access_key: cm9vdEBleGFtcGxlLmNvbTpzZWNyZXQ=\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as failure:
        load_config(tmp_path)
    (problem,) = failure.value.problems
    assert problem.line == 4
    assert "never write the access key" in problem.message
    assert "cm9vdEBleGFtcGxlLmNvbTpzZWNyZXQ=" not in problem.message


def test_parameter_and_secret_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        _config(access_key={"parameter": "Key", "secret_arn":
                            "arn:aws:secretsmanager:us-east-1:111122223333:secret:x"})


# --- subscriptions and metric stream -----------------------------------------------------------


def test_subscription_filter_feeds_the_logs_firehose_with_a_role_for_that_stream_only() -> None:
    template = awscfn.build_template(_config(), "us-east-1")
    logs_id, _ = _stream_for(template, "bedrock_logs")
    (sub,) = _resources(template, "AWS::Logs::SubscriptionFilter").values()
    props = sub["Properties"]
    assert props["LogGroupName"] == {"Ref": "InvocationLogGroup"}
    assert props["FilterPattern"] == ""
    assert props["DestinationArn"] == {"Fn::GetAtt": [logs_id, "Arn"]}
    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    role = template["Resources"][role_id]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "logs.amazonaws.com"}]
    assert _statements(role) == [{
        "Effect": "Allow",
        "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
        "Resource": [{"Fn::GetAtt": [logs_id, "Arn"]}],
    }]


def test_metric_stream_is_json_with_bedrock_and_firehose_namespaces() -> None:
    template = awscfn.build_template(_config(), "us-east-1")
    metrics_id, _ = _stream_for(template, "bedrock_metrics")
    (stream,) = _resources(template, "AWS::CloudWatch::MetricStream").values()
    props = stream["Properties"]
    assert props["OutputFormat"] == "json"
    assert props["IncludeFilters"] == [{"Namespace": "AWS/Bedrock"}, {"Namespace": "AWS/Firehose"}]
    # the default percentiles (streams.metric_percentiles) of latency and time to first token
    assert props["StatisticsConfigurations"] == [{
        "AdditionalStatistics": ["p50", "p90", "p99"],
        "IncludeMetrics": [
            {"Namespace": "AWS/Bedrock", "MetricName": "InvocationLatency"},
            {"Namespace": "AWS/Bedrock", "MetricName": "TimeToFirstToken"},
        ],
    }]
    assert props["FirehoseArn"] == {"Fn::GetAtt": [metrics_id, "Arn"]}
    role = template["Resources"][props["RoleArn"]["Fn::GetAtt"][0]]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [
        {"Service": "streams.metrics.cloudwatch.amazonaws.com"}
    ]
    assert _statements(role) == [{
        "Effect": "Allow",
        "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
        "Resource": [{"Fn::GetAtt": [metrics_id, "Arn"]}],
    }]


def _metric_stream_props(streams: dict[str, Any]) -> dict[str, Any]:
    config = Config.model_validate({"org": "acme", "streams": streams,
                                    "aws": {"openobserve_url": "https://o2.example.com"}})
    template = awscfn.build_template(config, "us-east-1")
    (stream,) = _resources(template, "AWS::CloudWatch::MetricStream").values()
    return dict(stream["Properties"])


def test_metric_stream_percentiles_follow_the_config() -> None:
    props = _metric_stream_props({"metric_percentiles": ["p95", "p99.9"]})
    (entry,) = props["StatisticsConfigurations"]
    assert entry["AdditionalStatistics"] == ["p95", "p99.9"]
    assert {m["MetricName"] for m in entry["IncludeMetrics"]} == {
        "InvocationLatency", "TimeToFirstToken"}
    # none asked for: no statistics configuration at all (CloudFormation refuses an empty list)
    assert "StatisticsConfigurations" not in _metric_stream_props({"metric_percentiles": []})


def test_no_percentiles_are_billed_for_the_special_layout() -> None:
    # OpenObserve's metric-stream special case keeps only count/sum/max/min: percentiles would be
    # paid for and dropped.
    props = _metric_stream_props({"metrics_layout": "special"})
    assert "StatisticsConfigurations" not in props


@pytest.mark.parametrize("bad", [["p0"], ["p101"], ["P99"], ["tm90"], ["p99", "p99.0"],
                                 ["p9x"], ["p99."], [f"p{n}" for n in range(1, 22)]])
def test_percentiles_must_be_cloudwatch_percentiles(bad: list[str]) -> None:
    with pytest.raises(ValueError, match="percentile|at most 20"):
        Config.model_validate({"streams": {"metric_percentiles": bad}})


def test_firehose_metrics_can_be_left_out() -> None:
    template = awscfn.build_template(_config(include_firehose_metrics=False), "us-east-1")
    (stream,) = _resources(template, "AWS::CloudWatch::MetricStream").values()
    assert stream["Properties"]["IncludeFilters"] == [{"Namespace": "AWS/Bedrock"}]


def test_guardrails_agents_and_knowledge_bases_namespaces_only_when_asked() -> None:
    (stream,) = _resources(awscfn.build_template(_config(), "us-east-1"),
                           "AWS::CloudWatch::MetricStream").values()
    assert stream["Properties"]["IncludeFilters"] == [{"Namespace": "AWS/Bedrock"},
                                                      {"Namespace": "AWS/Firehose"}]
    template = awscfn.build_template(_config(include_guardrails_metrics=True,
                                             include_agents_metrics=True,
                                             include_knowledge_bases_metrics=True), "us-east-1")
    (stream,) = _resources(template, "AWS::CloudWatch::MetricStream").values()
    assert stream["Properties"]["IncludeFilters"] == [
        {"Namespace": "AWS/Bedrock"}, {"Namespace": "AWS/Firehose"},
        {"Namespace": "AWS/Bedrock/Guardrails"}, {"Namespace": "AWS/Bedrock/Agents"},
        {"Namespace": "AWS/Bedrock/KnowledgeBases"}]
    template = awscfn.build_template(_config(include_guardrails_metrics=True), "us-east-1")
    (stream,) = _resources(template, "AWS::CloudWatch::MetricStream").values()
    assert {"Namespace": "AWS/Bedrock/Guardrails"} in stream["Properties"]["IncludeFilters"]
    assert {"Namespace": "AWS/Bedrock/Agents"} not in stream["Properties"]["IncludeFilters"]


def test_extra_log_groups_get_subscriptions_and_their_own_stream() -> None:
    config = _config(extra_log_groups=[
        {"log_group": "/aws/vendedlogs/bedrock/agents", "stream": "bedrock_agents"},
        {"log_group": "/bedrock/knowledge-bases", "create": True, "filter_pattern": "ERROR"},
    ])
    template = awscfn.build_template(config, "us-east-1")
    logs_id, _ = _stream_for(template, "bedrock_logs")
    agents_id, _ = _stream_for(template, "bedrock_agents")
    metrics_id, _ = _stream_for(template, "bedrock_metrics")
    subs = {
        json.dumps(s["Properties"]["LogGroupName"]): s["Properties"]
        for s in _resources(template, "AWS::Logs::SubscriptionFilter").values()
    }
    assert len(subs) == 3
    agents = subs['"/aws/vendedlogs/bedrock/agents"']
    assert agents["DestinationArn"] == {"Fn::GetAtt": [agents_id, "Arn"]}
    (kb_group_id,) = [k for k, v in _resources(template, "AWS::Logs::LogGroup").items()
                      if v["Properties"]["LogGroupName"] == "/bedrock/knowledge-bases"]
    kb = subs[json.dumps({"Ref": kb_group_id})]
    assert kb["DestinationArn"] == {"Fn::GetAtt": [logs_id, "Arn"]}
    assert kb["FilterPattern"] == "ERROR"
    # One role for the subscriptions: the two log streams' Firehoses, never the metrics one.
    (role,) = {json.dumps(s["RoleArn"]) for s in subs.values()}
    statements = _statements(template["Resources"][json.loads(role)["Fn::GetAtt"][0]])
    resources = [r["Fn::GetAtt"][0] for s in statements for r in s["Resource"]]
    assert sorted(resources) == sorted([logs_id, agents_id])
    assert metrics_id not in resources


# --- Bedrock invocation logging ----------------------------------------------------------------


def test_bedrock_logging_is_a_custom_resource_with_the_configured_data_types() -> None:
    config = _config(invocation_logging={"log_group": "/org/bedrock", "text": True,
                                         "image": True, "embedding": False})
    template = awscfn.build_template(config, "us-east-1")
    (custom,) = _resources(template, "Custom::BedrockModelInvocationLogging").values()
    props = custom["Properties"]
    function = props["ServiceToken"]["Fn::GetAtt"][0]
    assert template["Resources"][function]["Type"] == "AWS::Lambda::Function"
    assert props["LogGroupName"] == {"Fn::Sub": "${InvocationLogGroup}"}
    assert template["Resources"]["InvocationLogGroup"]["Properties"]["LogGroupName"] == (
        "/org/bedrock"
    )
    assert (props["Text"], props["Image"], props["Embedding"], props["Video"]) == (
        "true", "true", "false", "false"
    )
    # The role Bedrock assumes may write only its own log stream of that group.
    bedrock_role = template["Resources"][props["RoleArn"]["Fn::GetAtt"][0]]
    trust = bedrock_role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "bedrock.amazonaws.com"}]
    (statement,) = _statements(bedrock_role)
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == [{"Fn::Sub": (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        "${InvocationLogGroup}:log-stream:aws/bedrock/modelinvocations"
    )}]


def test_logging_function_may_only_set_logging_and_pass_the_bedrock_role() -> None:
    template = awscfn.build_template(_config(), "us-east-1")
    role = template["Resources"]["BedrockLoggingFunctionRole"]
    actions = sorted(a for s in _statements(role) for a in s["Action"])
    assert actions == [
        "bedrock:DeleteModelInvocationLoggingConfiguration",
        "bedrock:PutModelInvocationLoggingConfiguration",
        "iam:PassRole",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ]
    (pass_role,) = [s for s in _statements(role) if s["Action"] == ["iam:PassRole"]]
    assert pass_role["Resource"] == [{"Fn::GetAtt": ["BedrockLoggingRole", "Arn"]}]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}
    }


def test_existing_log_group_and_logging_configured_elsewhere() -> None:
    config = _config(invocation_logging={"log_group": "/existing/group", "create_log_group": False,
                                         "configure_bedrock": False})
    template = awscfn.build_template(config, "us-east-1")
    assert not _resources(template, "Custom::BedrockModelInvocationLogging")
    assert not _resources(template, "AWS::Lambda::Function")
    assert "InvocationLogGroup" not in template["Resources"]
    (sub,) = _resources(template, "AWS::Logs::SubscriptionFilter").values()
    assert sub["Properties"]["LogGroupName"] == "/existing/group"
    actions = {a for r in _resources(template, "AWS::IAM::Role").values()
               for s in _statements(r) for a in s["Action"]}
    assert not any(a.startswith("bedrock:") for a in actions)


# --- IAM least privilege -----------------------------------------------------------------------


# The confused-deputy conditions each service documents for its role's trust policy (and only
# those: a condition on a key the service does not send would make the role unusable).
_DOCUMENTED_TRUST_CONDITIONS: dict[str, Any] = {
    "bedrock.amazonaws.com": {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": {
            "Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:*"
        }},
    },
    "firehose.amazonaws.com": {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}},
    "logs.amazonaws.com": {"StringLike": {"aws:SourceArn": {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"
    }}},
    "streams.metrics.cloudwatch.amazonaws.com": None,
    "lambda.amazonaws.com": None,
}


@pytest.mark.parametrize("access_key", [
    {}, {"secret_arn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:o2"}
])
def test_iam_least_privilege(access_key: dict[str, str]) -> None:
    config = _config(access_key=access_key, extra_log_groups=[{"log_group": "/kb"}])
    template = awscfn.build_template(config, "us-east-1")
    roles = _resources(template, "AWS::IAM::Role")
    assert roles
    for name, role in roles.items():
        props = role["Properties"]
        assert "ManagedPolicyArns" not in props, name
        (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
        assert set(trust["Principal"]) == {"Service"}, name
        service = trust["Principal"]["Service"]
        assert trust.get("Condition") == _DOCUMENTED_TRUST_CONDITIONS[service], name
        for statement in _statements(role):
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement and "NotResource" not in statement
            for action in statement["Action"]:
                assert "*" not in action, f"{name}: wildcard action {action}"
            if "*" in statement["Resource"]:
                # Only the account-level Bedrock calls, which have no resource type in IAM,
                # and then only in this region.
                assert sorted(statement["Action"]) == [
                    "bedrock:DeleteModelInvocationLoggingConfiguration",
                    "bedrock:PutModelInvocationLoggingConfiguration",
                ], name
                assert statement["Condition"] == {
                    "StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}
                }
            for resource in statement["Resource"]:
                text = json.dumps(resource)
                assert not text.endswith(':*"}') or "log-stream:*" in text, (name, text)


def test_roles_are_not_named_so_regions_never_collide() -> None:
    template = awscfn.build_template(_config(), "us-east-1")
    for role in _resources(template, "AWS::IAM::Role").values():
        assert "RoleName" not in role["Properties"]


# --- text, determinism, regions ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_output_is_deterministic_and_round_trips(fmt: awscfn.Format) -> None:
    config = _config(extra_log_groups=[{"log_group": "/kb", "stream": "kb_logs"}])
    first = awscfn.dump_template(awscfn.build_template(config, "us-west-2"), fmt)
    second = awscfn.dump_template(awscfn.build_template(config, "us-west-2"), fmt)
    assert first == second
    loaded = yaml.safe_load(first) if fmt == "yaml" else json.loads(first)
    assert loaded == awscfn.build_template(config, "us-west-2")
    assert "&id" not in first and "*id" not in first  # no YAML anchors/aliases (W1101)


def test_inline_handler_is_a_readable_block_and_valid_python() -> None:
    text = awscfn.dump_template(awscfn.build_template(_config(), "us-east-1"), "yaml")
    assert "ZipFile: |" in text
    code = yaml.safe_load(text)["Resources"]["BedrockLoggingFunction"]["Properties"]["Code"]
    ast.parse(code["ZipFile"])
    assert len(code["ZipFile"]) <= 4096  # CloudFormation's limit for inline Lambda code


def test_two_regions_differ_only_where_the_region_matters() -> None:
    config = _config(regions=["us-east-1", "eu-west-1"],
                     s3_backup={"bucket": "failed-{region}"})
    east, west = (awscfn.build_template(config, r) for r in ("us-east-1", "eu-west-1"))
    text_east = json.dumps(east).replace("us-east-1", "REGION")
    text_west = json.dumps(west).replace("eu-west-1", "REGION")
    assert text_east == text_west
    assert "failed-eu-west-1" in json.dumps(west)


def test_default_regions_from_aws_section_then_top_level() -> None:
    assert awscfn.default_regions(_config(regions=["eu-west-1"])) == ["eu-west-1"]
    top = Config.model_validate({"regions": ["us-west-2"],
                                 "aws": {"openobserve_url": "https://o2.example.com"}})
    assert awscfn.default_regions(top) == ["us-west-2"]


def test_missing_aws_section_says_what_to_add() -> None:
    with pytest.raises(ConfigError) as failure:
        awscfn.build_template(Config(), "us-east-1")
    assert failure.value.remedy and "openobserve_url" in failure.value.remedy


@pytest.mark.parametrize(("url", "message"), [
    ("http://o2.example.com", "https"),
    ("https://o2.example.com:5080", "port 443"),
    ("https://o2.example.com/aws/acme/bedrock_logs/_kinesis_firehose", "server URL only"),
    ("https://user:pw@o2.example.com", "credentials"),
])
def test_urls_firehose_cannot_use_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _config(openobserve_url=url)


@pytest.mark.parametrize("regions", [["us-east"], ["US-EAST-1"], ["us-east-1", "us-east-1"]])
def test_bad_regions_are_refused(regions: list[str]) -> None:
    with pytest.raises(ValueError):
        _config(regions=regions)


def test_generator_is_pure() -> None:
    tree = ast.parse(Path(awscfn.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    banned = {"os", "subprocess", "socket", "time", "httpx", "typer", "pathlib", "o2kit.cli.app"}
    assert not imported & banned
