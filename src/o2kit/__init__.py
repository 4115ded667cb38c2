"""o2kit: OpenObserve dashboards and alerts as code, built first for AWS Bedrock monitoring."""

__version__ = "0.1.0"
