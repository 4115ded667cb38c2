"""The AWS side: CloudFormation for the telemetry pipeline, and synthetic Bedrock traffic.

``cfn`` (``o2kit aws``: Firehose, metric stream, invocation logging, IAM), ``synth`` (Firehose
request bodies shaped like real Bedrock logs and metric-stream lines), ``seed`` (sends them).

May import: ``project``, ``model``, ``errors``, ``redact``.
"""
