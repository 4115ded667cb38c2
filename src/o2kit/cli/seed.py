"""``o2kit seed``: send synthetic Bedrock traffic to an OpenObserve through its Firehose route."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer

from o2kit.aws.seed import MAX_MINUTES
from o2kit.cli import flags as _flags

MAX_RPM = 5000.0  # requests per minute of synthetic traffic: 1.5 M calls over 299 minutes


def seed_command(
    url: Annotated[str | None, typer.Option("--url", help="OpenObserve URL [env OPENOBSERVE_URL]")
                   ] = None,
    org: Annotated[str | None, typer.Option(
        "--org", help="Org [env OPENOBSERVE_ORG, o2kit.yaml]")] = None,
    minutes: Annotated[int, typer.Option(
        "--minutes", callback=_flags.in_range(
            1, MAX_MINUTES, why=" (OpenObserve drops rows older than 5 h)"),
        help="Minutes of traffic ending now (1-299: the server drops rows older than 5 h)."
    )] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic traffic.")] = 1,
    rpm: Annotated[float, typer.Option(
        "--rpm", callback=_flags.in_range(0, MAX_RPM, above=True),
        help="Mean Bedrock requests per minute, all models together (more than 0, at most "
             "5000).")] = 40.0,
    throttle_burst: Annotated[bool, typer.Option(
        "--throttle-burst", help="Add a burst of throttled calls two thirds into the window.")
    ] = False,
    spend_spike: Annotated[bool, typer.Option(
        "--spend-spike", help="Add a spend spike (more, bigger calls on one model) halfway.")
    ] = False,
    access_key_user: Annotated[str | None, typer.Option(
        "--access-key-user", help="User of the Firehose access key [env OPENOBSERVE_USER]")
    ] = None,
    access_key_secret_env: Annotated[str, typer.Option(
        "--access-key-secret-env",
        help="Environment variable holding the access key's secret (an ingestion token or the "
             "password); never pass a secret on the command line.")
    ] = "OPENOBSERVE_PASSWORD",
    ca_bundle: Annotated[str | None, typer.Option(
        "--ca-bundle", help="CA bundle file [env OPENOBSERVE_CA_BUNDLE]")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Do not verify TLS certificates (never by default).")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", callback=_flags.check_timeout,
        help="Seconds per request (more than 0, at most 3600).")] = 30.0,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", callback=_flags.check_concurrency,
        help="Requests in flight at once (1-64).")] = 4,
) -> None:
    """Send synthetic Bedrock traffic (invocation logs and metric-stream data) to OpenObserve.

    The traffic covers the last --minutes and goes to the streams named in o2kit.yaml, through
    POST /aws/{org}/{stream}/_kinesis_firehose exactly as AWS Kinesis Firehose would send it,
    so the dashboards show data before real traffic arrives. The access key is
    base64("user:secret"), by default from OPENOBSERVE_USER and OPENOBSERVE_PASSWORD.
    Do not seed a server whose streams hold real data you report on.

    Example: o2kit seed --url http://localhost:5080 --minutes 120 --throttle-burst
    """
    from o2kit.cli import base

    def body() -> None:
        from o2kit.aws import seed as seeding
        from o2kit.errors import ApiError, ConfigError
        from o2kit.project.config import load_config
        from o2kit.sync.client import OpenObserveClient

        seeding.check_minutes(minutes)
        config = load_config(base._state.project, base._state.env).config
        settings = base._settings(url, org, ca_bundle, insecure, timeout, concurrency,
                                  config.org)
        user = access_key_user or settings.user
        secret = os.environ.get(access_key_secret_env)
        if not secret:
            raise ConfigError(
                f"no Firehose access key secret: {access_key_secret_env} is not set",
                remedy=f"export {access_key_secret_env} (an ingestion token or the password)")
        from o2kit.redact import Secret

        # Held as Secrets (and so masked in every output); only the client reads the raw key.
        access_key = Secret(seeding.firehose_access_key(user, Secret(secret).get_secret_value()))
        options = seeding.SeedOptions(
            minutes=minutes, seed=seed, requests_per_minute=rpm,
            throttle_burst=throttle_burst, spend_spike=spend_spike,
            metrics_layout=str(getattr(config.streams, "metrics_layout", "flattened")),
            percentiles=tuple(config.streams.metric_percentiles))
        traffic, log_bodies, metric_bodies = seeding.build_traffic(
            options, end_ms=int(time.time() * 1000))
        with OpenObserveClient(settings, transport=base._TRANSPORT) as client:
            summary = seeding.send_traffic(
                client, traffic, log_bodies, metric_bodies,
                logs_stream=config.streams.invocation_logs,
                metrics_stream=config.streams.metrics, access_key=access_key)
        base._say(
            f"Sent {summary.rows} rows in {summary.requests} requests to org {settings.org}: "
            f"{summary.log_rows} to {config.streams.invocation_logs}, "
            f"{summary.metric_rows} to {config.streams.metrics} ({minutes} minutes, "
            f"seed {seed})")
        for model, calls in seeding.per_model_table(summary.invocations):
            base._say(f"  {model}: {calls} invocations")
        if summary.failed_requests:
            first = summary.errors[0] if summary.errors else ""
            raise ApiError(
                f"{summary.failed_requests} of {summary.requests + summary.failed_requests} "
                f"Firehose requests failed; first: {first}",
                remedy="check the access key and the URL; rows of failed requests were not "
                       "written (running seed again also resends the others)")

    base._run(body)


def register(app: typer.Typer) -> None:
    app.command(name="seed")(seed_command)
