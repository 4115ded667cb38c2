"""The Caching, Guardrails, Agents and Knowledge bases tabs against ground truth computed here in
plain Python from the generator's events (its calls, guardrail evaluations, agent requests and
knowledge-base requests), never from a panel's SQL or o2kit's price table: the prices below are
copied by hand from prices.yaml's rows for the generator's models. Each panel runs on the local
engine over the rows OpenObserve would store, in both metric layouts."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("datafusion")

from test_render_golden import shipped_project, with_metrics_layout  # noqa: E402

from o2kit.aws import synth  # noqa: E402
from o2kit.project.loader import load_project  # noqa: E402
from o2kit.query import check  # noqa: E402

NOW_MS = 1_800_000_000_000 + 23_000
MINUTES = 30
SEED = 4

# USD per 1,000 tokens: (input, cache-read multiplier, cache-write multiplier), from prices.yaml.
PRICES = {
    "us.anthropic.claude-3-5-haiku-20241022-v1:0": (0.0008, 0.10, 1.25),
    "anthropic.claude-3-haiku-20240307-v1:0": (0.00025, 0.10, 1.25),
    "amazon.nova-lite-v1:0": (0.00006, 0.25, 1.0),
    "meta.llama3-1-70b-instruct-v1:0": (0.00072, 1.0, 1.0),
}


@pytest.fixture(scope="module", params=["flattened", "special"])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = with_metrics_layout(shipped_project(tmp_path_factory.mktemp("t") / "p"),
                               request.param)
    project = load_project(root)
    scenario = synth.Scenario(minutes=MINUTES, **synth.feature_settings())
    rows, traffic = check.synthetic_rows(project.config.config, now_ms=NOW_MS, seed=SEED,
                                         scenario=scenario)
    runner = check.local_runner(rows)
    panels = {q.label.split(" › ")[-1]: q for q in check.queries(project.resources)}

    def run(title: str) -> list[dict[str, Any]]:
        return runner(panels[title].sql, traffic.start_ms * 1000, NOW_MS * 1000 + 1)

    return {"traffic": traffic, "run": run, "panels": panels, "layout": request.param}


# --- caching -----------------------------------------------------------------------------------


def _cache_truth(traffic: synth.Traffic, key: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for call in traffic.invocations:
        record = call.record
        if record is None:
            continue
        if key == "model":
            group = call.model_id
        else:  # callers folded as on the Attribution tab: assumed-role sessions into the role
            arn = record["identity"]["arn"]
            group = "/".join(arn.split("/")[:2]) if ":assumed-role/" in arn else arn
        price, read_x, write_x = PRICES[call.model_id]
        t = out[group]
        t["input"] += record["input"]["inputTokenCount"]
        t["read"] += call.cache_read_tokens
        t["write"] += call.cache_write_tokens
        t["saved"] += (call.cache_read_tokens * price * (1 - read_x)
                       - call.cache_write_tokens * price * (write_x - 1)) / 1000
    return out


def test_the_generator_caches_only_where_asked() -> None:
    plain = synth.generate(synth.Scenario(minutes=10), end_ms=NOW_MS, seed=SEED)
    cached = synth.generate(synth.Scenario(minutes=10, prompt_caching=True), end_ms=NOW_MS,
                            seed=SEED)
    # the same calls: caching draws from its own random stream
    assert [(c.request_id, c.input_tokens, c.output_tokens) for c in plain.invocations] == \
        [(c.request_id, c.input_tokens, c.output_tokens) for c in cached.invocations]
    assert not any(c.cache_read_tokens or c.cache_write_tokens for c in plain.invocations)
    reads = [c for c in cached.invocations if c.cache_read_tokens]
    assert reads and all(c.outcome == "success" for c in reads)
    assert not any(c.cache_read_tokens for c in cached.invocations
                   if c.model_id.startswith("meta."))
    record = reads[0].record
    assert record is not None and record["input"]["cacheReadInputTokenCount"] > 0


def test_caching_per_model_against_the_calls(world: dict[str, Any]) -> None:
    truth = _cache_truth(world["traffic"], "model")
    rows = {r["model_id"]: r for r in world["run"]("Prompt caching per model (USD)")}
    assert set(rows) == set(truth)
    assert any(t["read"] for t in truth.values()) and any(t["write"] for t in truth.values())
    for model, t in truth.items():
        row = rows[model]
        assert row["input_tokens"] == t["input"]
        assert row["cache_read_tokens"] == t["read"]
        assert row["cache_write_tokens"] == t["write"]
        assert row["hit_rate_pct"] == pytest.approx(100 * t["read"] / (t["input"] + t["read"]))
        assert row["saved"] == pytest.approx(t["saved"], rel=1e-9, abs=1e-12)
    # totals
    (hit,) = world["run"]("Prompt-cache hit rate")
    read = sum(t["read"] for t in truth.values())
    assert hit["hit_rate_pct"] == pytest.approx(
        100 * read / (read + sum(t["input"] for t in truth.values())))
    (saved,) = world["run"]("Saved by prompt caching (USD)")
    assert saved["saved"] == pytest.approx(sum(t["saved"] for t in truth.values()), rel=1e-9)
    assert saved["saved"] > 0
    (reads,) = world["run"]("Cache read tokens")
    assert reads["cache_read_tokens"] == read


def test_caching_per_caller_against_the_calls(world: dict[str, Any]) -> None:
    truth = _cache_truth(world["traffic"], "caller")
    rows = {r["caller"]: r for r in world["run"]("Prompt caching per caller (USD)")}
    assert set(rows) == set(truth) == {
        "arn:aws:sts::111122223333:assumed-role/search-app",
        "arn:aws:sts::111122223333:assumed-role/chat-app",
        "arn:aws:iam::111122223333:user/batch-runner"}
    for caller, t in truth.items():
        assert rows[caller]["cache_read_tokens"] == t["read"]
        assert rows[caller]["hit_rate_pct"] == pytest.approx(
            100 * t["read"] / (t["input"] + t["read"]))
        assert rows[caller]["saved"] == pytest.approx(t["saved"], rel=1e-9)


def test_cache_metrics_from_the_metric_stream_match_the_calls(world: dict[str, Any]) -> None:
    read: dict[str, int] = defaultdict(int)
    write: dict[str, int] = defaultdict(int)
    for call in world["traffic"].invocations:
        read[call.model_id] += call.cache_read_tokens
        write[call.model_id] += call.cache_write_tokens
    got_read: dict[str, float] = defaultdict(float)
    got_write: dict[str, float] = defaultdict(float)
    for row in world["run"]("Cache read and write tokens per model — metric stream"):
        got_read[row["model_id"]] += row["cache_read_tokens"]
        got_write[row["model_id"]] += row["cache_write_tokens"]
    cached_models = {m for m, v in read.items() if v}
    assert set(got_read) == cached_models  # llama is called without cache points: no datapoints
    for model in cached_models:
        assert got_read[model] == read[model] and got_write[model] == write[model]


# --- guardrails --------------------------------------------------------------------------------


def test_guardrails_per_guardrail_policy_and_source(world: dict[str, Any]) -> None:
    evaluations = world["traffic"].guardrail_evaluations
    per_guardrail: dict[str, list[synth.GuardrailEvaluation]] = defaultdict(list)
    for e in evaluations:
        per_guardrail[e.guardrail_arn].append(e)
    rows = {r["guardrail"]: r for r in world["run"](
        "Guardrail evaluations and interventions per guardrail")}
    assert set(rows) == set(synth.DEMO_GUARDRAILS)
    for arn, evs in per_guardrail.items():
        intervened = sum(e.intervened for e in evs)
        assert intervened > 0
        assert rows[arn]["version"] == "1"
        assert rows[arn]["evaluations"] == len(evs)
        assert rows[arn]["interventions"] == intervened
        assert rows[arn]["intervention_rate_pct"] == pytest.approx(100 * intervened / len(evs))
        assert rows[arn]["text_units"] == sum(e.text_units for e in evs)
        assert rows[arn]["mean_latency_ms"] == pytest.approx(
            sum(e.latency_ms for e in evs) / len(evs))
    by_policy = {(r["guardrail"], r["policy_type"]): r for r in world["run"](
        "Interventions by guardrail and policy type")}
    for arn, evs in per_guardrail.items():
        for policy in synth.GUARDRAIL_POLICY_TYPES:
            count = sum(policy in e.policies for e in evs)
            row = by_policy[(arn, policy)]
            assert row["interventions"] == count, (arn, policy)
            assert row["share_of_evaluations_pct"] == pytest.approx(100 * count / len(evs))
    by_source = {(r["guardrail"], r["source"]): r for r in world["run"](
        "Interventions on prompts (input) and answers (output)")}
    for arn, evs in per_guardrail.items():
        for source in ("Input", "Output"):
            chosen = [e for e in evs if e.source == source]
            assert by_source[(arn, source)]["evaluations"] == len(chosen)
            assert by_source[(arn, source)]["interventions"] == sum(e.intervened for e in chosen)
    over_time: dict[str, float] = defaultdict(float)
    for row in world["run"]("Interventions per policy type over time"):
        over_time[row["policy_type"]] += row["interventions"]
    for policy in synth.GUARDRAIL_POLICY_TYPES:
        assert over_time[policy] == sum(policy in e.policies for e in evaluations)


# --- agents ------------------------------------------------------------------------------------


def test_agents_per_operation_and_model(world: dict[str, Any]) -> None:
    requests = world["traffic"].agent_invocations
    ok = [a for a in requests if a.outcome == "success"]
    (row,) = world["run"]("Agent requests per operation")
    assert row["operation"] == "InvokeAgent"
    assert row["requests"] == sum(a.outcome != "throttled" for a in requests)
    assert row["client_errors"] == sum(a.outcome == "client_error" for a in requests)
    assert row["server_errors"] == sum(a.outcome == "server_error" for a in requests)
    assert row["throttles"] == sum(a.outcome == "throttled" for a in requests)
    assert row["mean_total_ms"] == pytest.approx(
        sum(a.total_time_ms or 0 for a in ok) / len(ok))
    assert row["max_total_ms"] == max(a.total_time_ms or 0 for a in ok)
    streamed = [a.ttft_ms for a in ok if a.ttft_ms is not None]
    assert row["mean_ttft_ms"] == pytest.approx(sum(streamed) / len(streamed))
    calls = [lat for a in ok for lat in a.model_latencies]
    assert row["model_calls_per_request"] == pytest.approx(len(calls) / len(ok))
    assert row["mean_model_latency_ms"] == pytest.approx(sum(calls) / len(calls))
    per_model = {r["model_id"]: r for r in world["run"]("Agent model calls and tokens per model")}
    models = {a.model_id for a in ok}
    assert set(per_model) == models and len(models) == len(synth.DEMO_AGENTS)
    for model in models:
        mine = [a for a in ok if a.model_id == model]
        assert per_model[model]["model_calls"] == sum(len(a.model_latencies) for a in mine)
        assert per_model[model]["input_tokens"] == sum(a.input_tokens for a in mine)
        assert per_model[model]["output_tokens"] == sum(a.output_tokens for a in mine)


# --- knowledge bases ---------------------------------------------------------------------------


def test_knowledge_bases_per_operation(world: dict[str, Any]) -> None:
    requests = world["traffic"].kb_requests
    rows = {r["operation"]: r for r in world["run"]("Knowledge-base requests per operation")}
    assert set(rows) == set(synth.KB_OPERATIONS)
    for operation in synth.KB_OPERATIONS:
        mine = [r for r in requests if r.operation == operation]
        failed = sum(r.outcome != "success" for r in mine)
        row = rows[operation]
        assert row["requests"] == len(mine)
        assert row["client_errors"] == sum(r.outcome == "client_error" for r in mine)
        assert row["server_errors"] == sum(r.outcome == "server_error" for r in mine)
        assert row["throttles"] == sum(r.outcome == "throttled" for r in mine)
        assert row["failed_pct"] == pytest.approx(100 * failed / len(mine))


# --- gating ------------------------------------------------------------------------------------


def _tabs(root: Path, params: dict[str, Any]) -> list[str]:
    text = (root / "dashboards" / "bedrock.yaml").read_text(encoding="utf-8")
    head = text.split("\n  include_guardrails:")[0]
    extra = "".join(f"\n  {k}: {str(v).lower()}" for k, v in params.items())
    (root / "dashboards" / "bedrock.yaml").write_text(head + extra + "\n", encoding="utf-8")
    (dashboard,) = [r.body for r in load_project(root).resources if r.kind == "dashboard"]
    return [t["tabId"] for t in dashboard["tabs"]]


def test_the_new_tabs_come_last_and_only_when_enabled(tmp_path: Path) -> None:
    root = shipped_project(tmp_path / "p")
    tabs = _tabs(root, {"include_guardrails": True, "include_agents": True,
                        "include_knowledge_bases": True})
    assert tabs[-4:] == ["caching", "guardrails", "agents", "knowledge_bases"]
    # the template's defaults: caching on, the others off
    assert _tabs(root, {})[-2:] == ["pipeline", "caching"]
    assert "caching" not in _tabs(root, {"include_cache_tokens": False})
    assert "caching" not in _tabs(root, {"include_caching": False})
