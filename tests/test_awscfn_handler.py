"""The custom resource's inline Lambda handler, run here against a stand-in Bedrock client.

The handler is a string inside the template; these tests execute that very string with a fake
``boto3`` module and capture the response it PUTs to CloudFormation.
"""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest

from o2kit.aws import cfn as awscfn
from o2kit.project.config import Config


class _ValidationError(Exception):
    pass


class _FakeBedrock:
    """Records calls; ``put_failures`` validation errors come before a put succeeds."""

    class exceptions:  # noqa: N801 — mirrors boto3's client.exceptions attribute
        ValidationException = _ValidationError

    def __init__(self, put_failures: int = 0, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.put_failures = put_failures
        self.error = error

    def put_model_invocation_logging_configuration(self, loggingConfig: Any) -> dict:  # noqa: N803
        self.calls.append(("put", loggingConfig))
        if self.error is not None:
            raise self.error
        if self.put_failures:
            self.put_failures -= 1
            raise _ValidationError("role not assumable yet")
        return {}

    def delete_model_invocation_logging_configuration(self) -> dict:
        self.calls.append(("delete", None))
        return {}


def _handler(monkeypatch: pytest.MonkeyPatch, bedrock: _FakeBedrock) -> tuple[Any, list[dict]]:
    template = awscfn.build_template(
        Config.model_validate({"aws": {"openobserve_url": "https://o2.example.com",
                                       "invocation_logging": {"image": True}}}),
        "us-east-1",
    )
    code = template["Resources"]["BedrockLoggingFunction"]["Properties"]["Code"]["ZipFile"]
    fake_boto3 = types.ModuleType("boto3")
    fake_boto3.client = lambda service: bedrock if service == "bedrock" else None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "boto3", fake_boto3)
    namespace: dict[str, Any] = {}
    exec(compile(code, "index.py", "exec"), namespace)  # noqa: S102 — our own generated code
    responses: list[dict] = []

    def urlopen(request: Any, timeout: float) -> None:
        assert request.get_method() == "PUT"
        assert request.full_url == "https://cloudformation-response.example/abc"
        responses.append(json.loads(request.data))

    monkeypatch.setattr(namespace["urllib"].request, "urlopen", urlopen)
    monkeypatch.setattr(namespace["time"], "sleep", lambda seconds: None)
    props = template["Resources"]["BedrockInvocationLogging"]["Properties"]
    # What CloudFormation sends: the resolved properties (log group name, role ARN) as strings.
    resolved = dict(props, LogGroupName="/bedrock/model-invocations",
                    RoleArn="arn:aws:iam::111122223333:role/bedrock-logging")
    return (lambda request_type, physical=None: namespace["handler"](
        _event(request_type, resolved, physical), None)), responses


def _event(request_type: str, props: dict, physical: str | None) -> dict:
    event = {"RequestType": request_type, "ResponseURL": "https://cloudformation-response.example/abc",
             "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/s/1",
             "RequestId": "r-1", "LogicalResourceId": "BedrockInvocationLogging",
             "ResourceProperties": props}
    if physical is not None:
        event["PhysicalResourceId"] = physical
    return event


def test_create_sets_cloudwatch_logging_with_the_configured_data_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bedrock = _FakeBedrock()
    run, responses = _handler(monkeypatch, bedrock)
    run("Create")
    assert bedrock.calls == [("put", {
        "cloudWatchConfig": {"logGroupName": "/bedrock/model-invocations",
                             "roleArn": "arn:aws:iam::111122223333:role/bedrock-logging"},
        "textDataDeliveryEnabled": True,
        "imageDataDeliveryEnabled": True,
        "embeddingDataDeliveryEnabled": False,
    })]
    (response,) = responses
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "bedrock-model-invocation-logging"
    assert response["RequestId"] == "r-1"


def test_create_retries_while_the_new_role_is_not_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    bedrock = _FakeBedrock(put_failures=2)
    run, responses = _handler(monkeypatch, bedrock)
    run("Create")
    assert [c[0] for c in bedrock.calls] == ["put", "put", "put"]
    assert [r["Status"] for r in responses] == ["SUCCESS"]


def test_failure_is_reported_not_hung(monkeypatch: pytest.MonkeyPatch) -> None:
    bedrock = _FakeBedrock(error=RuntimeError("AccessDenied"))
    run, responses = _handler(monkeypatch, bedrock)
    run("Create")
    (response,) = responses
    assert response["Status"] == "FAILED"
    assert "AccessDenied" in response["Reason"]
    assert response["PhysicalResourceId"] == "create-failed"


def test_delete_switches_logging_off_only_when_this_stack_set_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bedrock = _FakeBedrock()
    run, responses = _handler(monkeypatch, bedrock)
    run("Delete", "create-failed")  # rollback of a failed create: leave the account alone
    assert bedrock.calls == []
    run("Delete", "bedrock-model-invocation-logging")
    assert bedrock.calls == [("delete", None)]
    assert [r["Status"] for r in responses] == ["SUCCESS", "SUCCESS"]
