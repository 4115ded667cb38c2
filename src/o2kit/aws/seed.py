"""Seed an OpenObserve (real or fake) with synthetic Bedrock traffic, through its Firehose route.

``o2kit seed`` uses this so that a user sees the dashboards filled before real traffic arrives:
:func:`build_traffic` generates ``minutes`` of traffic ending now (``o2kit.aws.synth``), and
:func:`send_traffic` POSTs the Firehose request bodies — invocation logs to the invocation-log
stream, metric-stream lines to the metrics stream — exactly as AWS Kinesis Firehose would, with
the ``X-Amz-Firehose-Access-Key`` header (:func:`firehose_access_key`).

Limits that come from the server, not from o2kit:

* OpenObserve drops rows older than ``ZO_INGEST_ALLOWED_UPTO`` (5 hours by default) while still
  answering 200 (``src/core/src/logs/ingest.rs``), so :func:`check_minutes` refuses windows that
  would start before it (:data:`MAX_MINUTES`).
* Metric values: CloudWatch writes ``"sum":42.0``; OpenObserve (fbab9b80) then stores the line
  with generic flattening (config ``streams.metrics_layout: flattened``). For the ``special``
  layout the values are sent as integers so the server's metric-stream case applies — the rows
  then have the columns the templates were rendered for, whichever layout the project uses.
* Firehose batches are not deduplicated by the server; a request whose answer was lost is not
  resent (see ``OpenObserveClient.post_firehose``) and is reported as failed.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from o2kit.errors import ConfigError, O2kitError

if TYPE_CHECKING:  # the generator loads when traffic is built: `o2kit --help` imports MAX_MINUTES
    from o2kit.aws import synth
    from o2kit.redact import Secret

log = logging.getLogger(__name__)

INGEST_ALLOWED_UPTO_HOURS = 5  # ZO_INGEST_ALLOWED_UPTO default (src/config/src/config.rs)
# The traffic starts at a whole minute before now, so the longest window that stays inside the
# ingest window is one minute short of it.
MAX_MINUTES = INGEST_ALLOWED_UPTO_HOURS * 60 - 1


class FirehoseSender(Protocol):
    """What seeding needs from the client (``OpenObserveClient`` has it)."""

    def post_firehose(self, stream: str, body: bytes, *, access_key: str | Secret,
                      resource: str = "") -> dict[str, Any]: ...


@dataclass(frozen=True)
class SeedOptions:
    minutes: int = 60
    seed: int = 1
    requests_per_minute: float = 40.0
    throttle_burst: bool = False
    spend_spike: bool = False
    incident: bool = False  # the closing incident that fires every shipped alert (incident_for)
    metrics_layout: str = "flattened"  # config streams.metrics_layout
    # config streams.metric_percentiles: the CloudWatch percentiles the metric stream carries
    percentiles: tuple[str, ...] = field(default_factory=lambda: _synth().DEFAULT_PERCENTILES)


@dataclass
class SeedSummary:
    requests: int = 0  # Firehose requests answered 200
    failed_requests: int = 0
    log_rows: int = 0  # log events in the accepted requests (one row each on the server)
    metric_rows: int = 0  # metric-stream datapoints in the accepted requests
    invocations: dict[str, int] = field(default_factory=dict)  # generated accepted calls/model
    errors: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.log_rows + self.metric_rows


def check_minutes(minutes: int) -> None:
    """Refuse a window the server would partly drop (or an empty one)."""
    if minutes < 1:
        raise ConfigError("--minutes must be at least 1")
    if minutes > MAX_MINUTES:
        raise ConfigError(
            f"--minutes {minutes} reaches past OpenObserve's ingest window: the server silently "
            f"drops rows older than {INGEST_ALLOWED_UPTO_HOURS} h (ZO_INGEST_ALLOWED_UPTO)",
            remedy=f"use --minutes {MAX_MINUTES} or less",
        )


def firehose_access_key(user: str, secret: str) -> str:
    """The ``X-Amz-Firehose-Access-Key`` value: base64 of ``user:secret`` (``validator_aws``).

    Only the text between the first and second ``:`` is read as the secret, so a secret that
    contains ``:`` can never authenticate; say so instead of sending requests that will fail.
    """
    if ":" in user or ":" in secret:
        raise ConfigError(
            "the Firehose access key cannot carry a ':' in the user or the secret "
            "(OpenObserve splits the key at every ':')",
            remedy="use an ingestion token or a user whose password has no ':'",
        )
    return base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def _synth() -> Any:
    from o2kit.aws import synth

    return synth


def scenario_for(options: SeedOptions) -> synth.Scenario:
    """The synthetic scenario: optional throttling burst two thirds in, spend spike halfway, or
    the closing incident (:func:`incident_for`, which replaces both)."""
    from o2kit.aws import synth

    minutes = options.minutes
    burst = spike = None
    if options.throttle_burst:
        burst = synth.ThrottleBurst(start_minute=(minutes * 2) // 3,
                                    minutes=max(1, min(5, minutes // 6)), extra_per_minute=30)
    if options.spend_spike:
        spike = synth.SpendSpike(start_minute=minutes // 2, minutes=max(1, min(5, minutes // 6)),
                                 extra_per_minute=5, token_multiplier=10.0)
    incident = incident_for(minutes) if options.incident else {}
    # The metric stream `o2kit aws` sets up carries AWS/Firehose too, and Bedrock sends its
    # log-delivery metrics: seed them (healthy) so the Pipeline health panels have data. Prompt
    # caching, guardrails, agents and knowledge bases fill the tabs of the same names.
    settings: dict[str, Any] = {"throttle_burst": burst, "spend_spike": spike,
                                **synth.feature_settings(), **incident}
    return synth.Scenario(minutes=minutes, requests_per_minute=options.requests_per_minute,
                          firehose_metrics=True, log_delivery_metrics=True,
                          percentiles=tuple(options.percentiles), **settings)


# The closing incident of `o2kit demo` (and `o2kit seed --incident`): minutes of ordinary
# traffic, then INCIDENT_MINUTES in which every shipped alert has cause to fire.
INCIDENT_MINUTES = 30
LOG_OUTAGE_MINUTES = 16  # > defaults.freshness_minutes (15): the freshness alert's whole period


def incident_start(minutes: int) -> int:
    """The minute the incident starts: INCIDENT_MINUTES before the end, or halfway through a
    shorter run."""
    return minutes - min(INCIDENT_MINUTES, minutes // 2)


def incident_for(minutes: int) -> dict[str, Any]:
    """Scenario settings of the closing incident, from :func:`incident_start` to the end:

    * a runaway caller on the first model (20 extra calls a minute, 15,000 × the tokens) — the
      token-budget, budget threshold and forecast alerts (month-to-date spend far past the
      example budgets) and, from its metrics, the quota-headroom alert;
    * failing calls on the third model throughout (10 server errors a minute) — the
      server-error alert and, from the logged failures before the outage, a fast burn of the
      availability SLO's error budget; in the last 8 minutes a throttling burst on the first
      model (30 a minute) — the throttling alert;
    * the invocation-log Firehose failing for the last LOG_OUTAGE_MINUTES (records to the S3
      backup, no log rows) — the Firehose-delivery and pipeline-freshness alerts; Bedrock failing
      to write its logs in the last 3 minutes — the log-delivery alert;
    * guardrails intervening in most evaluations.

    With fewer than 2 × LOG_OUTAGE_MINUTES + 8 minutes (40) not every alert fires: the spike's
    logs need minutes before the outage. Seeded budgets fire only with the shipped example
    amounts or smaller; the forecast alerts only after 5 % of the period (not on the 1st)."""
    from o2kit.aws import synth

    start = incident_start(minutes)
    length = minutes - start
    tail = min(8, length)
    outage = min(LOG_OUTAGE_MINUTES, max(1, length // 2))
    models = synth.DEFAULT_MODELS
    return {
        "spend_spike": synth.SpendSpike(start_minute=start, minutes=length, extra_per_minute=20,
                                        token_multiplier=15000.0),
        "throttle_burst": synth.ThrottleBurst(start_minute=minutes - tail, minutes=tail,
                                              extra_per_minute=30),
        "server_error_burst": synth.ErrorBurst(start_minute=start, minutes=length,
                                               extra_per_minute=10,
                                               model_id=models[2].model_id),
        "delivery_failure": synth.DeliveryFailure(start_minute=minutes - outage, minutes=outage,
                                                  stream="logs"),
        "log_delivery_failure": synth.Window(start_minute=minutes - min(3, outage),
                                             minutes=min(3, outage)),
        "guardrail_burst": synth.Window(start_minute=start, minutes=length),
    }


def build_traffic(options: SeedOptions, *, end_ms: int, metric_minutes_per_request: int = 500,
                  ) -> tuple[synth.Traffic, list[bytes], list[bytes]]:
    """The traffic and its Firehose bodies ``(log bodies, metric bodies)``; each metric body
    holds at most ``metric_minutes_per_request`` minutes (one record per minute)."""
    from o2kit.aws import synth

    check_minutes(options.minutes)
    traffic = synth.generate(scenario_for(options), end_ms=end_ms, seed=options.seed)
    logs, metrics = synth.firehose_bodies(
        traffic, integer_metric_values=options.metrics_layout == "special",
        max_metric_records=metric_minutes_per_request)
    return traffic, logs, metrics


# Firehose delivers a minute's metric datapoints about one buffer interval after the minute
# (o2kit aws: 60 s), the delay o2kit.query.check gives synthetic rows too.
DELIVERY_DELAY_MS = 60_000


def metric_arrival_ms(body: bytes, *, now_ms: int) -> int:
    """When Firehose would deliver a one-minute metric body: the end of its minute plus the
    buffer interval, never later than now."""
    from o2kit.aws import synth

    record = json.loads(body)["records"][0]["data"]
    return min(now_ms, synth.record_minute_end_ms(record) + DELIVERY_DELAY_MS)


def send_traffic(client: FirehoseSender, traffic: synth.Traffic, log_bodies: list[bytes],
                 metric_bodies: list[bytes], *, logs_stream: str, metrics_stream: str,
                 access_key: str | Secret) -> SeedSummary:
    """POST every body; a failed request is recorded (and logged), the others still go.

    Row counts cover the accepted requests only; they are what the server stores provided its
    clock agrees with ours (rows outside its ingest window are dropped without an error).
    ``invocations`` is the generated ground truth per model (accepted calls, what the
    ``Invocations`` metric counts), to compare with the dashboards.
    """
    jobs = ([(logs_stream, b, _events_in(b)) for b in log_bodies]
            + [(metrics_stream, b, _datapoints_in(b)) for b in metric_bodies])

    def post(job: tuple[str, bytes, int]) -> dict[str, Any]:
        stream, body, _ = job
        return client.post_firehose(stream, body, access_key=access_key,
                                    resource=f'Firehose batch for stream "{stream}"')

    mapper = getattr(client, "map", None)
    results: list[Any] = mapper(post, jobs) if callable(mapper) else [_try(post, j) for j in jobs]
    summary = SeedSummary(invocations={m: t.invocations for m, t in traffic.truth.items()})
    for (stream, _, rows), result in zip(jobs, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, O2kitError):
                raise result  # a bug, not a server answer
            summary.failed_requests += 1
            summary.errors.append(str(result))
            log.warning("seed: %s", result)
        else:
            summary.requests += 1
            if stream == logs_stream:
                summary.log_rows += rows
            else:
                summary.metric_rows += rows
    return summary


def _try(fn: Any, job: Any) -> Any:
    try:
        return fn(job)
    except Exception as exc:
        return exc


def _records(body: bytes) -> list[bytes]:
    return [base64.b64decode(r["data"]) for r in json.loads(body)["records"]]


def _events_in(body: bytes) -> int:
    """Log events in one invocation-log body: the rows the server writes for it."""
    return sum(len(json.loads(gzip.decompress(r)).get("logEvents", [])) for r in _records(body))


def _datapoints_in(body: bytes) -> int:
    """Metric-stream lines in one metrics body: one row each."""
    return sum(r.count(b"\n") for r in _records(body))


def per_model_table(invocations: Mapping[str, int]) -> list[tuple[str, int]]:
    """Models by invocations, most first."""
    return sorted(invocations.items(), key=lambda kv: (-kv[1], kv[0]))
