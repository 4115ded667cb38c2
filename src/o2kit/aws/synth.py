"""Synthetic AWS Bedrock traffic, emitted as real Kinesis Firehose payloads.

For tests, benchmarks and the local demo: a seeded generator of Bedrock model invocations
(several models, an inference-profile id among them, a Converse/ConverseStream/InvokeModel mix,
log-normal latencies, token counts, 4xx/5xx errors, throttles, an optional throttling burst and
spend spike), turned into what AWS would deliver to OpenObserve's
``POST /aws/{org}/{stream}/_kinesis_firehose``:

* invocation logs — Bedrock ``ModelInvocationLog`` records as CloudWatch Logs events, wrapped in
  ``DATA_MESSAGE`` envelopes (plus an occasional ``CONTROL_MESSAGE``), gzip'd, base64'd;
* metrics — one CloudWatch Metric Stream JSON datum per model, minute and metric, newline
  separated, base64'd.

Pure: randomness comes from ``random.Random(seed)``, time from ``end_ms``; no I/O. The exact
ground truth is kept next to the payloads (:class:`ModelTruth`, :attr:`Traffic.invocations`) so
tests can compute expected values independently of any query.

Modelling decisions (the shapes follow ``bedrock-telemetry.md`` §3–§4; what AWS does where the
reference says "verify" is a choice, listed here):

* A throttled call is rejected before invocation: it counts only in ``InvocationThrottles``, not
  in ``Invocations`` nor the error metrics, and by default it is **not** in the invocation log
  (§3.4 leaves this unconfirmed; ``Scenario.log_throttles=True`` logs it with
  ``errorCode = ThrottlingException``, still outside ``Invocations``).
* ``Invocations`` counts every accepted call, failed ones included (the newer AWS wording).
  Client and server errors carry an ``errorCode`` from §6.2's lists, ``inputTokenCount`` 0 and no
  ``output``; they have no latency and no tokens in the metrics.
* ``InvocationLatency``, ``InputTokenCount`` and ``OutputTokenCount`` datapoints cover the
  successful calls of that minute exactly (count/sum/min/max of the logged values). Error
  metrics have one sample per accepted call (value 0 or 1); ``InvocationThrottles`` one per
  accepted or throttled call.
* A call belongs to the minute of its log event timestamp (the request time); the datum's
  ``timestamp`` is that minute's start.
* Per-request latency is readable from the log only for ``Converse`` (``outputBodyJson.metrics.
  latencyMs``, an object). ``ConverseStream`` bodies are event arrays whose ``metadata`` event
  carries ``metrics.latencyMs``; ``InvokeModel`` bodies carry no latency.
* Metric values are written the way CloudWatch writes them, as floats (``"sum":42.0``).
* ``EstimatedTPMQuotaUsage`` (what the calls of that minute took from the model's
  tokens-per-minute quota) has one sample per successful call: input tokens + cache-write tokens
  (none here) + output tokens × ``ModelProfile.output_burndown`` (AWS's announcement of the
  metric: "including cache write tokens and output burndown multipliers").
* ``InvocationLatency`` and ``TimeToFirstToken`` datapoints carry the percentiles of
  ``Scenario.percentiles`` (default p50, p90, p99, as ``o2kit aws`` asks CloudWatch for them) as
  extra keys of ``value`` named as requested (``"p99"``, ``"p99.9"``; CloudWatch metric stream
  JSON output, docs/research/openobserve-ingest-slo.md §5.1): the percentile of that minute's
  per-request values of that model, linear interpolation between the closest ranks
  (:func:`percentile`; CloudWatch does not publish its exact estimator).

Pipeline health (all off by default, so a seed's traffic and payloads are unchanged):

* ``Scenario.firehose_metrics`` adds the ``AWS/Firehose`` datapoints a metric stream carries when
  it includes that namespace (``aws.include_firehose_metrics``): per minute and delivery stream
  (dimension ``DeliveryStreamName``, names in ``Scenario.delivery_streams``) one delivery
  attempt, ``DeliveryToHttpEndpoint.Success`` (sum 1 of count 1; 0 while delivery fails) and
  ``DeliveryToHttpEndpoint.Records``; while delivery fails, the failed batch goes to the S3
  backup: ``DeliveryToS3.Success`` and ``DeliveryToS3.Records``.
* ``Scenario.log_delivery_metrics`` adds Bedrock's own log-delivery metrics (namespace
  ``AWS/Bedrock``, no dimensions): ``ModelInvocationLogsCloudWatchDeliverySuccess`` per minute
  with logged calls, and ``ModelInvocationLogsCloudWatchDeliveryFailure`` only in minutes when
  delivery failed.
* ``delivery_failure`` (a Firehose delivery stream cannot reach OpenObserve),
  ``log_delivery_failure`` (Bedrock cannot write to CloudWatch Logs) and ``silence`` (records
  lost with no failure metric, e.g. a deleted subscription filter) drop that stream's records
  for their minutes; the ground truth (``Traffic.invocations``, ``truth``) still has the calls.
  Randomness is never drawn for these, so they do not shift the rest of the traffic.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import random
import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CLIENT_ERROR_CODES = ("ValidationException", "AccessDeniedException",
                      "ResourceNotFoundException", "ServiceQuotaExceededException")
SERVER_ERROR_CODES = ("InternalServerException", "ServiceUnavailableException",
                      "ModelTimeoutException", "ModelErrorException")
THROTTLE_CODE = "ThrottlingException"
METRIC_NAMES = ("Invocations", "InvocationLatency", "InvocationClientErrors",
                "InvocationServerErrors", "InvocationThrottles", "InputTokenCount",
                "OutputTokenCount", "TimeToFirstToken", "EstimatedTPMQuotaUsage")
METRIC_UNITS = {"InvocationLatency": "Milliseconds", "TimeToFirstToken": "Milliseconds"}
# Metrics whose datapoints carry Scenario.percentiles (awscfn.PERCENTILE_METRICS asks for them).
PERCENTILE_METRICS = ("InvocationLatency", "TimeToFirstToken")
DEFAULT_PERCENTILES = ("p50", "p90", "p99")
STREAMING_OPERATIONS = ("ConverseStream", "InvokeModelWithResponseStream")
# Time to first token as a share of the whole call's latency (bedrock-telemetry.md §4.3: the
# metric exists for streaming APIs only). Deterministic, so seeds keep their traffic.
FIRST_TOKEN_SHARE = 0.3
CONTROL_TEXT = "CWL CONTROL MESSAGE: Checking health of destination Firehose."
MINUTE_MS = 60_000
# Prompt-cache token metrics of AWS/Bedrock (per ModelId), sent when Scenario.prompt_caching is on.
CACHE_METRIC_NAMES = ("CacheReadInputTokenCount", "CacheWriteInputTokenCount")
GUARDRAILS_NAMESPACE = "AWS/Bedrock/Guardrails"
GUARDRAIL_POLICY_TYPES = ("ContentPolicy", "TopicPolicy", "WordPolicy",
                          "SensitiveInformationPolicy", "ContextualGroundingPolicy")
AGENTS_NAMESPACE = "AWS/Bedrock/Agents"
KNOWLEDGE_BASES_NAMESPACE = "AWS/Bedrock/KnowledgeBases"
KB_OPERATIONS = ("Retrieve", "RetrieveAndGenerate")


@dataclass(frozen=True)
class ModelProfile:
    """How one model behaves: share of traffic, latency and token distributions."""

    model_id: str
    weight: float = 1.0
    latency_median_ms: float = 1200.0
    latency_sigma: float = 0.5  # of the log-normal
    input_tokens_median: int = 800
    output_tokens_median: int = 150
    max_tokens: int = 1024
    # Quota tokens per output token (Bedrock user guide, "How tokens are counted in Amazon
    # Bedrock": e.g. 5 for Claude Sonnet 4 and Opus 4, 1 for most others), for
    # EstimatedTPMQuotaUsage.
    output_burndown: float = 1.0
    # Prompt caching (Scenario.prompt_caching): tokens of the cached prompt prefix of a caching
    # call; 0 = the model is called without cache points.
    cache_prefix_tokens: int = 0
    operations: tuple[tuple[str, float], ...] = (
        ("Converse", 0.5), ("ConverseStream", 0.2), ("InvokeModel", 0.3))

    @property
    def provider(self) -> str:
        base = self.model_id.split("/")[-1]
        parts = base.split(".")
        return parts[1] if parts[0] in ("us", "eu", "apac", "global") else parts[0]

    @property
    def is_profile(self) -> bool:
        return self.model_id.split(".")[0] in ("us", "eu", "apac", "global")


DEFAULT_MODELS: tuple[ModelProfile, ...] = (
    ModelProfile("us.anthropic.claude-3-5-haiku-20241022-v1:0", weight=3.0,
                 latency_median_ms=1400.0, latency_sigma=0.45, input_tokens_median=900,
                 output_tokens_median=180, cache_prefix_tokens=2048),
    ModelProfile("anthropic.claude-3-haiku-20240307-v1:0", weight=2.0,
                 latency_median_ms=800.0, latency_sigma=0.4, input_tokens_median=600,
                 output_tokens_median=120, cache_prefix_tokens=1024),
    ModelProfile("amazon.nova-lite-v1:0", weight=2.0, latency_median_ms=600.0,
                 latency_sigma=0.35, input_tokens_median=500, output_tokens_median=100,
                 cache_prefix_tokens=1536,
                 operations=(("Converse", 0.7), ("InvokeModel", 0.3))),
    ModelProfile("meta.llama3-1-70b-instruct-v1:0", weight=1.0, latency_median_ms=2500.0,
                 latency_sigma=0.6, input_tokens_median=1200, output_tokens_median=300,
                 operations=(("InvokeModel", 0.6), ("Converse", 0.4))),
)


@dataclass(frozen=True)
class ThrottleBurst:
    """Extra throttled calls per minute for ``minutes`` minutes from ``start_minute``."""

    start_minute: int
    minutes: int
    extra_per_minute: int
    model_id: str | None = None  # None: the first model


@dataclass(frozen=True)
class SpendSpike:
    """More and bigger calls on one model: extra successful calls per minute, and token counts
    multiplied, for ``minutes`` minutes from ``start_minute``."""

    start_minute: int
    minutes: int
    extra_per_minute: int = 0
    token_multiplier: float = 10.0
    model_id: str | None = None  # None: the first model


@dataclass(frozen=True)
class ErrorBurst:
    """Extra calls per minute that fail with a server error (5xx), for ``minutes`` minutes from
    ``start_minute``."""

    start_minute: int
    minutes: int
    extra_per_minute: int
    model_id: str | None = None  # None: the first model


@dataclass(frozen=True)
class Window:
    """Minutes ``[start_minute, start_minute + minutes)`` of a scenario."""

    start_minute: int
    minutes: int

    def covers(self, minute: int) -> bool:
        return self.start_minute <= minute < self.start_minute + self.minutes


@dataclass(frozen=True)
class DeliveryFailure(Window):
    """A Firehose delivery stream fails to deliver to OpenObserve (``stream`` is ``"logs"`` or
    ``"metrics"``): its records go to the S3 backup instead."""

    stream: str = "logs"


@dataclass(frozen=True)
class Silence(Window):
    """No records of ``stream`` (``"logs"`` or ``"metrics"``) reach OpenObserve, and no metric
    says why."""

    stream: str = "logs"


# Guardrails, agent aliases and knowledge bases of `o2kit seed` / `demo` / `check` / `preview`.
DEMO_GUARDRAILS = ("arn:aws:bedrock:us-east-1:111122223333:guardrail/gr1safety0a1",
                   "arn:aws:bedrock:us-east-1:111122223333:guardrail/gr2pii00000b")
DEMO_AGENTS = ("arn:aws:bedrock:us-east-1:111122223333:agent-alias/AGENT00001/ALIAS00001",
               "arn:aws:bedrock:us-east-1:111122223333:agent-alias/AGENT00002/ALIAS00002")
DEMO_KNOWLEDGE_BASES = ("KB00000001", "KB00000002")
PIPELINE_STREAMS = ("logs", "metrics")
FIREHOSE_METRIC_NAMES = ("DeliveryToHttpEndpoint.Success", "DeliveryToHttpEndpoint.Records",
                         "DeliveryToS3.Success", "DeliveryToS3.Records")
LOG_DELIVERY_SUCCESS = "ModelInvocationLogsCloudWatchDeliverySuccess"
LOG_DELIVERY_FAILURE = "ModelInvocationLogsCloudWatchDeliveryFailure"


@dataclass(frozen=True)
class Scenario:
    models: tuple[ModelProfile, ...] = DEFAULT_MODELS
    minutes: int = 30
    requests_per_minute: float = 40.0  # mean over all models (Poisson per model and minute)
    client_error_rate: float = 0.03
    server_error_rate: float = 0.01
    throttle_rate: float = 0.02
    throttle_burst: ThrottleBurst | None = None
    spend_spike: SpendSpike | None = None
    log_throttles: bool = False
    control_message_every_minutes: int = 10  # 0: never
    account_id: str = "111122223333"
    region: str = "us-east-1"
    metric_stream_name: str = "bedrock-ms"
    identities: tuple[str, ...] = (
        "arn:aws:sts::111122223333:assumed-role/search-app/session-1",
        "arn:aws:sts::111122223333:assumed-role/chat-app/session-7",
        "arn:aws:iam::111122223333:user/batch-runner",
    )
    tags: tuple[tuple[str, str], ...] = (
        ("search", "cc-42"), ("chat", "cc-17"), ("platform", "cc-01"))
    untagged_share: float = 0.1  # calls without requestMetadata
    # CloudWatch percentiles in the InvocationLatency / TimeToFirstToken datapoints (config
    # streams.metric_percentiles); () = none. Computed, never drawn: the traffic is the same.
    percentiles: tuple[str, ...] = DEFAULT_PERCENTILES
    # Pipeline health (module docstring); all off by default.
    firehose_metrics: bool = False
    log_delivery_metrics: bool = False
    delivery_streams: tuple[tuple[str, str], ...] = (
        ("logs", "o2kit-bedrock-logs"), ("metrics", "o2kit-bedrock-metrics"))
    delivery_failure: DeliveryFailure | None = None
    log_delivery_failure: Window | None = None
    silence: Silence | None = None
    server_error_burst: ErrorBurst | None = None
    # Prompt caching, Guardrails, Agents and Knowledge Bases (module docstring); all off by
    # default, and drawn from their own random streams, so the Bedrock calls stay the same.
    prompt_caching: bool = False
    cache_hit_share: float = 0.6  # caching calls whose prefix is read from the cache
    cache_write_share: float = 0.25  # caching calls that write it (the rest: no cache point)
    guardrails: tuple[str, ...] = ()  # guardrail ARNs (version "1"); () = no Guardrails data
    guardrail_evaluations_per_minute: float = 12.0  # per guardrail
    guardrail_intervention_rate: float = 0.08
    guardrail_burst: Window | None = None  # minutes in which most evaluations intervene
    agents: tuple[str, ...] = ()  # agent alias ARNs; () = no Agents data
    agent_invocations_per_minute: float = 4.0  # per agent alias
    knowledge_bases: tuple[str, ...] = ()  # knowledge base ids; () = no Knowledge Bases data
    kb_requests_per_minute: float = 6.0  # per knowledge base

    def __post_init__(self) -> None:
        for event in (self.delivery_failure, self.silence):
            if event is not None and event.stream not in PIPELINE_STREAMS:
                raise ValueError(f"stream must be one of {PIPELINE_STREAMS}, not {event.stream!r}")

    def lost(self, stream: str, minute: int, *, bedrock: bool = True) -> bool:
        """True when ``stream``'s records of ``minute`` never reach OpenObserve. ``bedrock=False``
        leaves out Bedrock's own log-delivery failure (CloudWatch's control messages still
        flow then)."""
        events: list[Window | None] = [
            e for e in (self.delivery_failure, self.silence)
            if e is not None and e.stream == stream]
        if stream == "logs" and bedrock:
            events.append(self.log_delivery_failure)
        return any(e is not None and e.covers(minute) for e in events)


def feature_settings() -> dict[str, Any]:
    """Scenario settings that turn on prompt caching and the demo's guardrails, agents and
    knowledge bases (what ``seed``, ``demo``, ``check`` and ``preview`` send)."""
    return {"prompt_caching": True, "guardrails": DEMO_GUARDRAILS, "agents": DEMO_AGENTS,
            "knowledge_bases": DEMO_KNOWLEDGE_BASES}


@dataclass
class Invocation:
    """One call, as it happened (ground truth)."""

    time_ms: int
    minute: int  # index into the scenario's minutes
    model_id: str
    operation: str
    outcome: str  # "success" | "client_error" | "server_error" | "throttled"
    error_code: str | None
    latency_ms: int | None
    input_tokens: int
    output_tokens: int
    request_id: str
    record: dict[str, Any] | None  # the Bedrock log record, None when not logged
    cache_read_tokens: int = 0  # prompt-cache tokens (not part of input_tokens)
    cache_write_tokens: int = 0


@dataclass
class GuardrailEvaluation:
    """One ApplyGuardrail evaluation (ground truth of the AWS/Bedrock/Guardrails metrics)."""

    minute: int
    guardrail_arn: str
    version: str
    source: str  # "Input" | "Output"
    intervened: bool
    policies: tuple[str, ...]  # the policy types that intervened
    text_units: int
    latency_ms: int


@dataclass
class AgentInvocation:
    """One InvokeAgent request (ground truth of the AWS/Bedrock/Agents metrics)."""

    minute: int
    agent_alias_arn: str
    operation: str
    model_id: str
    outcome: str  # "success" | "client_error" | "server_error" | "throttled"
    total_time_ms: int | None
    ttft_ms: int | None  # streaming requests only
    model_latencies: list[int]  # one per model call the agent made
    input_tokens: int
    output_tokens: int


@dataclass
class KnowledgeBaseRequest:
    """One knowledge-base request (ground truth of the AWS/Bedrock/KnowledgeBases metrics)."""

    minute: int
    knowledge_base_id: str
    operation: str
    outcome: str  # "success" | "client_error" | "server_error" | "throttled"


@dataclass
class ModelTruth:
    invocations: int = 0  # accepted calls (what the Invocations metric counts)
    client_errors: int = 0
    server_errors: int = 0
    throttles: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latencies: list[int] = field(default_factory=list)  # every successful call
    converse_latencies: list[int] = field(default_factory=list)  # readable from Converse logs
    logged: int = 0  # ModelInvocationLog records


@dataclass
class Traffic:
    scenario: Scenario
    seed: int
    start_ms: int  # start of the first minute
    end_ms: int  # end of the last minute
    invocations: list[Invocation]
    datapoints: list[dict[str, Any]]  # metric-stream JSON objects
    control_messages: list[int]  # timestamps (ms) of CONTROL_MESSAGE envelopes
    truth: dict[str, ModelTruth]
    guardrail_evaluations: list[GuardrailEvaluation] = field(default_factory=list)
    agent_invocations: list[AgentInvocation] = field(default_factory=list)
    kb_requests: list[KnowledgeBaseRequest] = field(default_factory=list)

    @property
    def log_records(self) -> list[dict[str, Any]]:
        return [i.record for i in self.invocations if i.record is not None]


# --- generation -------------------------------------------------------------------------------


def generate(scenario: Scenario, *, end_ms: int, seed: int) -> Traffic:
    """Traffic for ``scenario.minutes`` whole minutes ending at ``end_ms`` (rounded down to a
    minute)."""
    if not scenario.models:
        raise ValueError("a scenario needs at least one model")
    rng = random.Random(seed)
    end = end_ms - end_ms % MINUTE_MS
    start = end - scenario.minutes * MINUTE_MS
    total_weight = sum(m.weight for m in scenario.models)
    invocations: list[Invocation] = []
    for minute in range(scenario.minutes):
        minute_start = start + minute * MINUTE_MS
        for model in scenario.models:
            mean = scenario.requests_per_minute * model.weight / total_weight
            calls = _poisson(rng, mean)
            extra_ok = _extra(scenario.spend_spike, minute, model, scenario)
            extra_throttled = _extra(scenario.throttle_burst, minute, model, scenario)
            extra_failed = _extra(scenario.server_error_burst, minute, model, scenario)
            multiplier = (scenario.spend_spike.token_multiplier
                          if _active(scenario.spend_spike, minute, model, scenario) and
                          scenario.spend_spike is not None else 1.0)
            kinds = (["random"] * calls + ["success"] * extra_ok +
                     ["throttled"] * extra_throttled + ["server_error"] * extra_failed)
            for kind in kinds:
                time_ms = minute_start + rng.randrange(MINUTE_MS)
                invocations.append(_invocation(rng, scenario, model, minute, time_ms, kind,
                                               multiplier))
    invocations.sort(key=lambda i: (i.time_ms, i.request_id))
    truth = _truth(scenario, invocations)
    datapoints = _datapoints(scenario, invocations, start)
    controls = []
    if scenario.control_message_every_minutes > 0:
        for minute in range(0, scenario.minutes, scenario.control_message_every_minutes):
            controls.append(start + minute * MINUTE_MS + rng.randrange(MINUTE_MS))
    evaluations = _guardrail_evaluations(scenario, seed)
    agents = _agent_invocations(scenario, seed)
    kb_requests = _kb_requests(scenario, seed)
    datapoints.extend(_feature_datapoints(scenario, evaluations, agents, kb_requests, start))
    datapoints.sort(key=lambda p: p["timestamp"])  # stable
    return Traffic(scenario, seed, start, end, invocations, datapoints, controls, truth,
                   evaluations, agents, kb_requests)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


_Burst = ThrottleBurst | SpendSpike | ErrorBurst


def _target(event: _Burst | None, scenario: Scenario) -> str | None:
    if event is None:
        return None
    return event.model_id or scenario.models[0].model_id


def _active(event: _Burst | None, minute: int, model: ModelProfile,
            scenario: Scenario) -> bool:
    return (event is not None and _target(event, scenario) == model.model_id
            and event.start_minute <= minute < event.start_minute + event.minutes)


def _extra(event: _Burst | None, minute: int, model: ModelProfile,
           scenario: Scenario) -> int:
    if event is None or not _active(event, minute, model, scenario):
        return 0
    return event.extra_per_minute


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    names = [n for n, _ in weighted]
    return rng.choices(names, weights=[w for _, w in weighted])[0]


def _tokens(rng: random.Random, median: int, multiplier: float = 1.0) -> int:
    return max(1, round(rng.lognormvariate(math.log(median), 0.6) * multiplier))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _invocation(rng: random.Random, scenario: Scenario, model: ModelProfile, minute: int,
                time_ms: int, kind: str, multiplier: float) -> Invocation:
    operation = _pick(rng, model.operations)
    if kind == "random":
        roll = rng.random()
        if roll < scenario.throttle_rate:
            kind = "throttled"
        elif roll < scenario.throttle_rate + scenario.client_error_rate:
            kind = "client_error"
        elif roll < scenario.throttle_rate + scenario.client_error_rate + \
                scenario.server_error_rate:
            kind = "server_error"
        else:
            kind = "success"
    error_code = {"client_error": lambda: rng.choice(CLIENT_ERROR_CODES),
                  "server_error": lambda: rng.choice(SERVER_ERROR_CODES),
                  "throttled": lambda: THROTTLE_CODE}.get(kind, lambda: None)()
    prompt_tokens = _tokens(rng, model.input_tokens_median, multiplier)
    latency = input_tokens = output_tokens = 0
    if kind == "success":
        input_tokens = prompt_tokens
        output_tokens = min(_tokens(rng, model.output_tokens_median, multiplier),
                            max(model.max_tokens, round(model.max_tokens * multiplier)))
        latency = max(50, round(rng.lognormvariate(math.log(model.latency_median_ms),
                                                   model.latency_sigma)))
    request_id = _uuid(rng)
    cache_read = cache_write = 0
    if kind == "success" and scenario.prompt_caching and model.cache_prefix_tokens:
        # Its own random stream per call: caching never shifts the rest of the traffic.
        roll = random.Random(f"cache-{request_id}").random()
        if roll < scenario.cache_hit_share:
            cache_read = model.cache_prefix_tokens
        elif roll < scenario.cache_hit_share + scenario.cache_write_share:
            cache_write = model.cache_prefix_tokens
    identity = rng.choice(scenario.identities)
    tags = None if rng.random() < scenario.untagged_share else rng.choice(scenario.tags)
    inference_region = rng.choice(("us-east-1", "us-east-2", "us-west-2")) \
        if model.is_profile else None
    invocation = Invocation(time_ms, minute, model.model_id, operation, kind, error_code,
                            latency if kind == "success" else None, input_tokens,
                            output_tokens, request_id, None, cache_read, cache_write)
    if kind != "throttled" or scenario.log_throttles:
        invocation.record = _log_record(rng, scenario, model, invocation, identity, tags,
                                        inference_region, prompt_tokens)
    return invocation


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_PROMPTS = ("Summarise the incident report in three bullet points.",
            "Translate the product description to German.",
            "Classify this support ticket: 'my invoice is wrong'.",
            "Write a SQL query counting orders per day.")


def _log_record(rng: random.Random, scenario: Scenario, model: ModelProfile,
                call: Invocation, identity: str, tags: tuple[str, str] | None,
                inference_region: str | None, prompt_tokens: int) -> dict[str, Any]:
    prompt = rng.choice(_PROMPTS)
    record: dict[str, Any] = {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
        "timestamp": _rfc3339(call.time_ms), "accountId": scenario.account_id,
        "identity": {"arn": identity}, "region": scenario.region,
    }
    if inference_region is not None:
        record["inferenceRegion"] = inference_region
    record.update({"requestId": call.request_id, "operation": call.operation,
                   "modelId": call.model_id})
    if call.error_code is not None:
        record["errorCode"] = call.error_code
    record["input"] = {
        "inputContentType": "application/json",
        "inputBodyJson": _input_body(model, call.operation, prompt),
        "inputTokenCount": call.input_tokens,
        "cacheReadInputTokenCount": call.cache_read_tokens,
        "cacheWriteInputTokenCount": call.cache_write_tokens,
    }
    if call.outcome == "success":
        record["output"] = {
            "outputContentType": "application/json",
            "outputBodyJson": _output_body(model, call),
            "outputTokenCount": call.output_tokens,
        }
    if tags is not None:
        record["requestMetadata"] = {"team": tags[0], "cost-center": tags[1]}
    return record


def _input_body(model: ModelProfile, operation: str, prompt: str) -> dict[str, Any]:
    if operation in ("Converse", "ConverseStream"):
        return {"messages": [{"role": "user", "content": [{"text": prompt}]}],
                "inferenceConfig": {"maxTokens": model.max_tokens, "temperature": 0.5}}
    if model.provider == "anthropic":
        return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": model.max_tokens,
                "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]}
    if model.provider == "amazon":
        return {"schemaVersion": "messages-v1",
                "messages": [{"role": "user", "content": [{"text": prompt}]}],
                "inferenceConfig": {"maxTokens": model.max_tokens}}
    return {"prompt": f"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n{prompt}",
            "max_gen_len": model.max_tokens, "temperature": 0.5}


def _output_body(model: ModelProfile, call: Invocation) -> Any:
    text = "Here is the answer."
    usage: dict[str, int] = {"inputTokens": call.input_tokens, "outputTokens": call.output_tokens,
                             "totalTokens": call.input_tokens + call.output_tokens}
    if call.cache_read_tokens or call.cache_write_tokens:  # Converse TokenUsage
        usage["cacheReadInputTokens"] = call.cache_read_tokens
        usage["cacheWriteInputTokens"] = call.cache_write_tokens
    if call.operation == "Converse":
        return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn", "usage": usage,
                "metrics": {"latencyMs": call.latency_ms}}
    if call.operation == "ConverseStream":
        return [{"messageStart": {"role": "assistant"}},
                {"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}},
                {"contentBlockStop": {"contentBlockIndex": 0}},
                {"messageStop": {"stopReason": "end_turn"}},
                {"metadata": {"usage": usage, "metrics": {"latencyMs": call.latency_ms}}}]
    if model.provider == "anthropic":
        return {"id": "msg_" + call.request_id.replace("-", "")[:24], "type": "message",
                "role": "assistant", "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": call.input_tokens,
                          "output_tokens": call.output_tokens}}
    if model.provider == "amazon":
        return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn", "usage": usage}
    return {"generation": text, "prompt_token_count": call.input_tokens,
            "generation_token_count": call.output_tokens, "stop_reason": "stop"}


def _truth(scenario: Scenario, invocations: Iterable[Invocation]) -> dict[str, ModelTruth]:
    truth = {m.model_id: ModelTruth() for m in scenario.models}
    for call in invocations:
        t = truth[call.model_id]
        if call.record is not None:
            t.logged += 1
        if call.outcome == "throttled":
            t.throttles += 1
            continue
        t.invocations += 1
        if call.outcome == "client_error":
            t.client_errors += 1
        elif call.outcome == "server_error":
            t.server_errors += 1
        else:
            assert call.latency_ms is not None
            t.input_tokens += call.input_tokens
            t.output_tokens += call.output_tokens
            t.latencies.append(call.latency_ms)
            if call.operation == "Converse":
                t.converse_latencies.append(call.latency_ms)
    return truth


def _stat(values: Sequence[float], percentiles: Sequence[str] = ()) -> dict[str, float]:
    stat = {"max": float(max(values)), "min": float(min(values)), "sum": float(sum(values)),
            "count": float(len(values))}
    for name in percentiles:
        stat[name] = percentile(values, float(name[1:]))
    return stat


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``: linear interpolation between the closest
    ranks (numpy's default, ``statistics.quantiles(method="inclusive")``)."""
    ordered = sorted(float(v) for v in values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _datapoints(scenario: Scenario, invocations: Iterable[Invocation],
                start: int) -> list[dict[str, Any]]:
    by_key: dict[tuple[int, str], list[Invocation]] = defaultdict(list)
    for call in invocations:
        by_key[(call.minute, call.model_id)].append(call)
    order = {m.model_id: i for i, m in enumerate(scenario.models)}
    profiles = {m.model_id: m for m in scenario.models}
    points: list[dict[str, Any]] = []
    for (minute, model_id) in sorted(by_key, key=lambda k: (k[0], order[k[1]])):
        calls = by_key[(minute, model_id)]
        accepted = [c for c in calls if c.outcome != "throttled"]
        ok = [c for c in accepted if c.outcome == "success"]
        samples: dict[str, list[float]] = {}
        if accepted:
            samples["Invocations"] = [1.0] * len(accepted)
            samples["InvocationClientErrors"] = [float(c.outcome == "client_error")
                                                 for c in accepted]
            samples["InvocationServerErrors"] = [float(c.outcome == "server_error")
                                                 for c in accepted]
        samples["InvocationThrottles"] = [float(c.outcome == "throttled") for c in calls]
        if ok:
            samples["InvocationLatency"] = [float(c.latency_ms or 0) for c in ok]
            samples["InputTokenCount"] = [float(c.input_tokens) for c in ok]
            samples["OutputTokenCount"] = [float(c.output_tokens) for c in ok]
            burndown = profiles[model_id].output_burndown
            samples["EstimatedTPMQuotaUsage"] = [
                float(c.input_tokens + c.cache_write_tokens + c.output_tokens * burndown)
                for c in ok]
            if scenario.prompt_caching and profiles[model_id].cache_prefix_tokens:
                samples["CacheReadInputTokenCount"] = [float(c.cache_read_tokens) for c in ok]
                samples["CacheWriteInputTokenCount"] = [float(c.cache_write_tokens) for c in ok]
            streamed = [c for c in ok if c.operation in STREAMING_OPERATIONS]
            if streamed:
                samples["TimeToFirstToken"] = [round((c.latency_ms or 0) * FIRST_TOKEN_SHARE)
                                               for c in streamed]
        for name in METRIC_NAMES + CACHE_METRIC_NAMES:
            if name not in samples:
                continue
            points.append({
                "metric_stream_name": scenario.metric_stream_name,
                "account_id": scenario.account_id, "region": scenario.region,
                "namespace": "AWS/Bedrock", "metric_name": name,
                "dimensions": {"ModelId": model_id},
                "timestamp": start + minute * MINUTE_MS,
                "value": _stat(samples[name], scenario.percentiles
                               if name in PERCENTILE_METRICS else ()),
                "unit": METRIC_UNITS.get(name, "Count"),
            })
    points.extend(_pipeline_datapoints(scenario, invocations, start))
    points.sort(key=lambda p: p["timestamp"])  # stable: per-model points keep their order
    return points


def _datum(scenario: Scenario, namespace: str, name: str, dimensions: dict[str, str],
           timestamp: int, values: Sequence[float]) -> dict[str, Any]:
    return {"metric_stream_name": scenario.metric_stream_name,
            "account_id": scenario.account_id, "region": scenario.region,
            "namespace": namespace, "metric_name": name, "dimensions": dimensions,
            "timestamp": timestamp, "value": _stat(values), "unit": "Count"}


def _pipeline_datapoints(scenario: Scenario, invocations: Iterable[Invocation],
                         start: int) -> list[dict[str, Any]]:
    """AWS/Firehose and Bedrock log-delivery datapoints (module docstring); none by default."""
    if not (scenario.firehose_metrics or scenario.log_delivery_metrics):
        return []
    logged: dict[int, int] = defaultdict(int)
    for call in invocations:
        if call.record is not None:
            logged[call.minute] += 1
    points = []
    for minute in range(scenario.minutes):
        timestamp = start + minute * MINUTE_MS
        if scenario.firehose_metrics:
            for stream, name in scenario.delivery_streams:
                failed = (scenario.delivery_failure is not None
                          and scenario.delivery_failure.stream == stream
                          and scenario.delivery_failure.covers(minute))
                records = float(max(1, logged[minute]) if stream == "logs" else
                                len(METRIC_NAMES))
                dims = {"DeliveryStreamName": name}
                points.append(_datum(scenario, "AWS/Firehose", "DeliveryToHttpEndpoint.Success",
                                     dims, timestamp, [0.0 if failed else 1.0]))
                points.append(_datum(scenario, "AWS/Firehose", "DeliveryToHttpEndpoint.Records",
                                     dims, timestamp, [0.0 if failed else records]))
                if failed:
                    points.append(_datum(scenario, "AWS/Firehose", "DeliveryToS3.Success",
                                         dims, timestamp, [1.0]))
                    points.append(_datum(scenario, "AWS/Firehose", "DeliveryToS3.Records",
                                         dims, timestamp, [records]))
        if scenario.log_delivery_metrics and logged[minute]:
            failed_logs = (scenario.log_delivery_failure is not None
                           and scenario.log_delivery_failure.covers(minute))
            count = float(logged[minute])
            points.append(_datum(scenario, "AWS/Bedrock", LOG_DELIVERY_SUCCESS, {}, timestamp,
                                 [0.0 if failed_logs else count]))
            if failed_logs:
                points.append(_datum(scenario, "AWS/Bedrock", LOG_DELIVERY_FAILURE, {},
                                     timestamp, [count]))
    return points


# --- Guardrails, Agents, Knowledge Bases ----------------------------------------------------


def _guardrail_evaluations(scenario: Scenario, seed: int) -> list[GuardrailEvaluation]:
    """ApplyGuardrail evaluations per minute and guardrail (Poisson), 70 % on the input, 30 % on
    the output; an intervention names one policy type, sometimes two."""
    if not scenario.guardrails:
        return []
    rng = random.Random(f"guardrails-{seed}")
    out = []
    for minute in range(scenario.minutes):
        burst = scenario.guardrail_burst is not None and scenario.guardrail_burst.covers(minute)
        rate = 0.6 if burst else scenario.guardrail_intervention_rate
        for arn in scenario.guardrails:
            for _ in range(_poisson(rng, scenario.guardrail_evaluations_per_minute)):
                source = "Input" if rng.random() < 0.7 else "Output"
                intervened = rng.random() < rate
                policies: tuple[str, ...] = ()
                if intervened:
                    count = 2 if rng.random() < 0.2 else 1
                    policies = tuple(sorted(rng.sample(GUARDRAIL_POLICY_TYPES, count)))
                out.append(GuardrailEvaluation(
                    minute, arn, "1", source, intervened, policies,
                    text_units=rng.randint(1, 5),
                    latency_ms=max(20, round(rng.lognormvariate(math.log(180), 0.4)))))
    return out


def _outcome(rng: random.Random) -> str:
    """An agent or knowledge-base request's outcome: 2 % throttled, 3 % client errors, 1 % server
    errors, the rest successes."""
    roll = rng.random()
    return ("throttled" if roll < 0.02 else "client_error" if roll < 0.05
            else "server_error" if roll < 0.06 else "success")


def _agent_invocations(scenario: Scenario, seed: int) -> list[AgentInvocation]:
    """InvokeAgent requests per minute and agent alias (Poisson). Each alias orchestrates with
    one model (the scenario's models in turn); a successful request makes 1-4 model calls;
    half are streamed (TTFT = 40 % of the total time)."""
    if not scenario.agents:
        return []
    rng = random.Random(f"agents-{seed}")
    out = []
    for minute in range(scenario.minutes):
        for index, alias in enumerate(scenario.agents):
            model = scenario.models[index % len(scenario.models)].model_id
            for _ in range(_poisson(rng, scenario.agent_invocations_per_minute)):
                outcome = _outcome(rng)
                streamed = rng.random() < 0.5
                if outcome != "success":
                    out.append(AgentInvocation(minute, alias, "InvokeAgent", model, outcome,
                                               None, None, [], 0, 0))
                    continue
                calls = rng.randint(1, 4)
                latencies = [max(50, round(rng.lognormvariate(math.log(900), 0.4)))
                             for _ in range(calls)]
                input_tokens = sum(_tokens(rng, 1500) for _ in range(calls))
                output_tokens = sum(_tokens(rng, 200) for _ in range(calls))
                total = sum(latencies) + rng.randint(200, 800)  # orchestration, tools
                out.append(AgentInvocation(minute, alias, "InvokeAgent", model, outcome, total,
                                           round(total * 0.4) if streamed else None,
                                           latencies, input_tokens, output_tokens))
    return out


def _kb_requests(scenario: Scenario, seed: int) -> list[KnowledgeBaseRequest]:
    """Knowledge-base requests per minute and knowledge base (Poisson), Retrieve or
    RetrieveAndGenerate, with a few errors and throttles."""
    if not scenario.knowledge_bases:
        return []
    rng = random.Random(f"knowledge-bases-{seed}")
    out = []
    for minute in range(scenario.minutes):
        for kb in scenario.knowledge_bases:
            for _ in range(_poisson(rng, scenario.kb_requests_per_minute)):
                operation = KB_OPERATIONS[0] if rng.random() < 0.6 else KB_OPERATIONS[1]
                out.append(KnowledgeBaseRequest(minute, kb, operation, _outcome(rng)))
    return out


def _feature_datapoints(scenario: Scenario, evaluations: Sequence[GuardrailEvaluation],
                        agents: Sequence[AgentInvocation],
                        kb_requests: Sequence[KnowledgeBaseRequest],
                        start: int) -> list[dict[str, Any]]:
    """The AWS/Bedrock/Guardrails, AWS/Bedrock/Agents and AWS/Bedrock/KnowledgeBases datapoints
    of the events, one per minute, metric and dimension set, as CloudWatch aggregates them.

    Dimension sets (Bedrock user guide, "Monitor Amazon Bedrock Guardrails using CloudWatch
    metrics" / "… Agents using CloudWatch Metrics" / "Observability for managed knowledge
    bases"): Guardrails per {Operation, GuardrailArn, GuardrailVersion}, and that with
    GuardrailContentSource or with GuardrailPolicyType (InvocationsIntervened: one sample per
    evaluation, 1 when that policy intervened); Agents per {Operation} and {Operation, ModelId};
    Knowledge Bases per {Operation}, ClientErrors / ServerErrors / Throttles only in minutes
    where they happened."""
    series: dict[tuple[int, str, str, tuple[tuple[str, str], ...]], list[float]] = {}

    def add(minute: int, namespace: str, name: str, dims: dict[str, str], value: float) -> None:
        series.setdefault((minute, namespace, name, tuple(dims.items())), []).append(value)

    for e in evaluations:
        base = {"Operation": "ApplyGuardrail", "GuardrailArn": e.guardrail_arn,
                "GuardrailVersion": e.version}
        ns = GUARDRAILS_NAMESPACE
        add(e.minute, ns, "Invocations", base, 1.0)
        add(e.minute, ns, "InvocationsIntervened", base, float(e.intervened))
        add(e.minute, ns, "TextUnitCount", base, float(e.text_units))
        add(e.minute, ns, "InvocationLatency", base, float(e.latency_ms))
        by_source = {**base, "GuardrailContentSource": e.source}
        add(e.minute, ns, "Invocations", by_source, 1.0)
        add(e.minute, ns, "InvocationsIntervened", by_source, float(e.intervened))
        for policy in GUARDRAIL_POLICY_TYPES:
            add(e.minute, ns, "InvocationsIntervened", {**base, "GuardrailPolicyType": policy},
                float(policy in e.policies))
    for a in agents:
        op = {"Operation": a.operation}
        per_model = {**op, "ModelId": a.model_id}
        ns = AGENTS_NAMESPACE
        if a.outcome == "throttled":
            add(a.minute, ns, "InvocationThrottles", op, 1.0)
            continue
        add(a.minute, ns, "InvocationCount", op, 1.0)
        add(a.minute, ns, "InvocationClientErrors", op, float(a.outcome == "client_error"))
        add(a.minute, ns, "InvocationServerErrors", op, float(a.outcome == "server_error"))
        if a.outcome != "success" or a.total_time_ms is None:
            continue
        for dims in (op, per_model):
            add(a.minute, ns, "TotalTime", dims, float(a.total_time_ms))
            add(a.minute, ns, "ModelInvocationCount", dims, float(len(a.model_latencies)))
            add(a.minute, ns, "InputTokenCount", dims, float(a.input_tokens))
            add(a.minute, ns, "OutputTokenCount", dims, float(a.output_tokens))
            for latency in a.model_latencies:
                add(a.minute, ns, "ModelLatency", dims, float(latency))
        if a.ttft_ms is not None:
            add(a.minute, ns, "TTFT", op, float(a.ttft_ms))
    for r in kb_requests:
        op = {"Operation": r.operation}
        ns = KNOWLEDGE_BASES_NAMESPACE
        add(r.minute, ns, "Invocations", op, 1.0)
        name = {"client_error": "ClientErrors", "server_error": "ServerErrors",
                "throttled": "Throttles"}.get(r.outcome)
        if name:
            add(r.minute, ns, name, op, 1.0)
    units = {"InvocationLatency": "Milliseconds", "TotalTime": "Milliseconds",
             "TTFT": "Milliseconds", "ModelLatency": "Milliseconds"}
    points = []
    for (minute, namespace, name, dim_items), values in series.items():
        points.append({"metric_stream_name": scenario.metric_stream_name,
                       "account_id": scenario.account_id, "region": scenario.region,
                       "namespace": namespace, "metric_name": name, "dimensions": dict(dim_items),
                       "timestamp": start + minute * MINUTE_MS, "value": _stat(values),
                       "unit": units.get(name, "Count")})
    return points


# --- Firehose payloads ------------------------------------------------------------------------


def firehose_bodies(traffic: Traffic, *, log_group: str = "/bedrock/invocations",
                    max_records: int = 500, events_per_envelope: int = 50,
                    integer_metric_values: bool = False,
                    max_metric_records: int | None = None) -> tuple[list[bytes], list[bytes]]:
    """``(log-stream request bodies, metric-stream request bodies)``, each a complete Firehose
    HTTP endpoint request body (``{"requestId", "timestamp", "records": [{"data"}]}``).

    Log records: one gzip'd CloudWatch Logs envelope per record, at most
    ``events_per_envelope`` events, events of one envelope from one minute. Metric records:
    one record per minute holding that minute's datapoints as newline-terminated JSON lines.
    ``integer_metric_values`` writes ``"sum":42`` instead of CloudWatch's ``"sum":42.0`` (which
    OpenObserve reads through its metric-stream special case; see ``o2kit.fake.firehose``).
    ``max_metric_records`` (default ``max_records``) caps the metric bodies alone. Request ids
    and event ids derive from the traffic's seed; the body ``timestamp`` is the traffic's end.
    """
    rng = random.Random(f"firehose-{traffic.seed}")
    scenario = traffic.scenario
    by_minute: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for call in traffic.invocations:
        if call.record is not None:
            by_minute[call.minute].append(
                (call.time_ms, json.dumps(call.record, separators=(",", ":"))))
    log_records: list[bytes] = []
    controls = {(ts - traffic.start_ms) // MINUTE_MS: ts for ts in traffic.control_messages}
    for minute in range(scenario.minutes):
        if scenario.lost("logs", minute, bedrock=False):
            continue
        if minute in controls:
            log_records.append(_envelope(
                "CONTROL_MESSAGE", "CloudwatchLogs", "", "", [],
                [{"id": "", "timestamp": controls[minute], "message": CONTROL_TEXT}]))
        events = [] if scenario.lost("logs", minute) else by_minute.get(minute, [])
        for offset in range(0, len(events), events_per_envelope):
            chunk = events[offset:offset + events_per_envelope]
            log_records.append(_envelope(
                "DATA_MESSAGE", scenario.account_id, log_group, "aws/bedrock/modelinvocations",
                ["to-o2"], [{"id": _event_id(rng), "timestamp": ts, "message": text}
                            for ts, text in chunk]))
    points_by_minute: dict[int, list[str]] = defaultdict(list)
    for point in traffic.datapoints:
        minute = (point["timestamp"] - traffic.start_ms) // MINUTE_MS
        if integer_metric_values:
            point = {**point, "value": {k: int(v) for k, v in point["value"].items()}}
        points_by_minute[minute].append(json.dumps(point, separators=(",", ":")) + "\n")
    metric_records = ["".join(points_by_minute[m]).encode() for m in sorted(points_by_minute)
                      if not scenario.lost("metrics", m)]
    return (_requests(rng, log_records, max_records, traffic.end_ms),
            _requests(rng, metric_records,
                      max_records if max_metric_records is None else max_metric_records,
                      traffic.end_ms))


def _event_id(rng: random.Random) -> str:
    return str(rng.randrange(10**55, 10**56))


def _envelope(kind: str, owner: str, group: str, stream: str, filters: list[str],
              events: list[dict[str, Any]]) -> bytes:
    doc = {"messageType": kind, "owner": owner, "logGroup": group, "logStream": stream,
           "subscriptionFilters": filters, "logEvents": events}
    return gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), mtime=0)


def _requests(rng: random.Random, records: list[bytes], max_records: int,
              timestamp_ms: int) -> list[bytes]:
    bodies = []
    for offset in range(0, len(records), max_records):
        chunk = records[offset:offset + max_records]
        bodies.append(json.dumps({
            "requestId": _uuid(rng), "timestamp": timestamp_ms,
            "records": [{"data": base64.b64encode(r).decode("ascii")} for r in chunk],
        }).encode())
    return bodies


def record_minute_end_ms(data: str) -> int:
    """End (ms) of the minute a Firehose record covers: a record of ``o2kit.aws.synth`` holds one
    minute of log events (a gzip'd CloudWatch Logs envelope) or of metric datapoints."""
    raw = base64.b64decode(data)
    try:
        envelope = json.loads(gzip.decompress(raw))
        times = [int(e["timestamp"]) for e in envelope.get("logEvents") or []]
    except (OSError, EOFError, zlib.error, ValueError):
        times = [int(json.loads(line)["timestamp"]) for line in raw.decode().splitlines() if line]
    latest = max(times)
    return latest - latest % 60_000 + 60_000
