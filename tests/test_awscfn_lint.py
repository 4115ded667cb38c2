"""`o2kit aws` output passes cfn-lint (run in-process) with no errors and no warnings.

Covers a one-region and a two-region project through the real command, both formats, and the
configuration variants (Secrets Manager key, existing bucket and log group, extra log groups).
A broken template must fail the same check, so the check can fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint
from typer.testing import CliRunner

from o2kit.aws import cfn as awscfn
from o2kit.cli import app as cli
from o2kit.cli import aws as cli_aws
from o2kit.project.config import Config

cli_aws.register(cli.app)

ONE_REGION = """\
org: acme
aws:
  openobserve_url: https://o2.example.com
"""

TWO_REGIONS = """\
org: acme
streams: {metrics: bedrock_metrics, invocation_logs: bedrock_logs}
aws:
  regions: [us-east-1, eu-west-1]
  openobserve_url: https://o2.example.com/base
  access_key:
    secret_arn: "arn:aws:secretsmanager:{region}:111122223333:secret:o2-AbCdEf"
    secret_kms_key_arn: "arn:aws:kms:{region}:111122223333:key/mrk-0123456789abcdef"
  s3_backup: {bucket: "acme-firehose-failed-{region}"}
  firehose: {buffer_size_mb: 5, buffer_interval_seconds: 300, retry_seconds: 3600}
  invocation_logging: {log_group: /acme/bedrock, retention_days: 90, image: true}
  extra_log_groups:
    - {log_group: /aws/vendedlogs/bedrock/agents, stream: bedrock_agents}
    - {log_group: /acme/knowledge-bases, create: true, filter_pattern: "{ $.level = \\"ERROR\\" }"}
  include_firehose_metrics: false
"""


def _problems(text: str, region: str) -> list[str]:
    matches = lint(text, config=ManualArgs(regions=[region]))
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches]


def _run(project: Path, *args: str) -> list[Path]:
    result = CliRunner().invoke(cli.app, ["--project", str(project), "aws", *args])
    assert result.exit_code == 0, result.output
    files = sorted((project / "out").iterdir())
    for path in files:  # each file comes with the one command that deploys it
        region = path.stem.removeprefix("o2kit-aws-")
        assert (f"aws cloudformation deploy --region {region} --template-file {path} "
                "--stack-name o2kit-bedrock-telemetry --capabilities CAPABILITY_NAMED_IAM"
                ) in result.output
    return files


@pytest.mark.parametrize("fmt", ["yaml"])  # JSON: test_variants_lint_clean
def test_one_region_from_the_command_lints_clean(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "o2kit.yaml").write_text(ONE_REGION, encoding="utf-8")
    files = _run(tmp_path, "--region", "us-east-1", "--out", "out", "--format", fmt)
    assert [f.name for f in files] == [f"o2kit-aws-us-east-1.{fmt}"]
    text = files[0].read_text(encoding="utf-8")
    assert _problems(text, "us-east-1") == []
    loaded = yaml.safe_load(text) if fmt == "yaml" else json.loads(text)
    assert "MetricStream" in loaded["Resources"]


def test_two_regions_from_config_lint_clean(tmp_path: Path) -> None:
    (tmp_path / "o2kit.yaml").write_text(TWO_REGIONS, encoding="utf-8")
    files = _run(tmp_path, "--out", "out")
    assert [f.name for f in files] == ["o2kit-aws-eu-west-1.yaml", "o2kit-aws-us-east-1.yaml"]
    for path, region in zip(files, ["eu-west-1", "us-east-1"], strict=True):
        text = path.read_text(encoding="utf-8")
        assert _problems(text, region) == [], path.name
        assert f"secretsmanager:{region}:" in text
        assert "{region}" not in text


def test_variants_lint_clean() -> None:
    config = Config.model_validate({"streams": {"metric_percentiles": ["p50", "p99.9"]}, "aws": {
        "openobserve_url": "https://o2.example.com",
        "invocation_logging": {"create_log_group": False, "configure_bedrock": False},
        "access_key": {"parameter": "O2Key"},
    }})
    text = awscfn.dump_template(awscfn.build_template(config, "ap-southeast-2"), "json")
    assert _problems(text, "ap-southeast-2") == []


def test_the_check_catches_a_broken_template() -> None:
    config = Config.model_validate({"aws": {"openobserve_url": "https://o2.example.com"}})
    template = awscfn.build_template(config, "us-east-1")
    stream = template["Resources"]["BedrockLogsDeliveryStream"]["Properties"]
    del stream["HttpEndpointDestinationConfiguration"]["S3Configuration"]
    stream["HttpEndpointDestinationConfiguration"]["S3BackupMode"] = "Sometimes"
    problems = _problems(awscfn.dump_template(template, "yaml"), "us-east-1")
    assert any(p.startswith("E") and "S3Configuration" in p for p in problems), problems
    assert any(p.startswith("E") and "Sometimes" in p for p in problems), problems


def test_command_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "o2kit.yaml").write_text(ONE_REGION, encoding="utf-8")
    result = CliRunner().invoke(
        cli.app, ["--project", str(tmp_path), "aws", "--region", "useast1", "--out", "out"]
    )
    assert result.exit_code == 1
    assert "not an AWS region code" in result.output
    assert not (tmp_path / "out").exists()
    (tmp_path / "o2kit.yaml").write_text("org: acme\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli.app, ["--project", str(tmp_path), "aws", "--region", "us-east-1", "--out", "out"]
    )
    assert result.exit_code == 1
    assert "no `aws:` section" in result.output
