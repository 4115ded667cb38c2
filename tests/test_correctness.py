"""Known-answer tests: the shipped dashboard's numbers on generated Bedrock traffic, against the
exact values computed here from the generator's ground truth (never from the queries).

Traffic goes the whole way a user's would: synthetic calls → real Firehose request bodies →
OpenObserve's decoding rules (o2kit.fake.firehose) → the DataFusion engine with OpenObserve's
functions → the rendered panel SQL.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from o2kit.aws import synth
from o2kit.project.loader import load_project
from o2kit.query import check

REPO = Path(__file__).resolve().parents[1]
NOW_MS = 1_800_000_000_000 + 37_123  # any instant; not minute-aligned on purpose


def exact_percentile(values: list[int], p: float) -> float:
    """Linear interpolation between closest ranks (``percentile_cont``)."""
    ordered = sorted(values)
    rank = p * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    project = load_project(REPO)
    # Enough calls that a p99 is a property of the distribution, not of two neighbouring samples
    # (t-digest, like any estimator, is only "within 1 %" where the tail is populated).
    scenario = synth.Scenario(minutes=60, requests_per_minute=200)
    rows, traffic = check.synthetic_rows(project.config.config, now_ms=NOW_MS, seed=11,
                                         scenario=scenario)
    runner = check.local_runner(rows)
    panels = {q.label.split(" › ")[-1]: q for q in check.queries(project.resources)}

    def run(title_start: str) -> list[dict[str, Any]]:
        (query,) = [q for t, q in panels.items() if t.startswith(title_start)]
        return runner(query.sql, traffic.start_ms * 1000, NOW_MS * 1000 + 1)

    return {"traffic": traffic, "run": run, "prices": project.prices}


def test_per_request_percentiles_within_one_percent(world: dict[str, Any]) -> None:
    truth = world["traffic"].truth
    rows = world["run"]("Latency p50 / p90 / p99 per model — per-request")
    by_model = {r["model_id"]: r for r in rows}
    assert set(by_model) == {m for m, t in truth.items() if t.converse_latencies}
    for model, row in by_model.items():
        samples = truth[model].converse_latencies
        assert row["samples"] == len(samples)
        for p, column in ((0.5, "p50_ms"), (0.9, "p90_ms"), (0.99, "p99_ms")):
            expected = exact_percentile(samples, p)
            assert row[column] == pytest.approx(expected, rel=0.01), (model, column)


def test_invocation_error_and_throttle_counts_are_exact(world: dict[str, Any]) -> None:
    truth = world["traffic"].truth
    rows = world["run"]("Invocations per model (total)")
    assert len(rows) == len(truth)
    for row in rows:
        t = truth[row["model_id"]]
        assert (row["invocations"], row["client_errors"], row["server_errors"],
                row["throttles"]) == (t.invocations, t.client_errors, t.server_errors,
                                      t.throttles)


def test_token_sums_and_cost_are_exact(world: dict[str, Any]) -> None:
    truth = world["traffic"].truth
    prices = world["prices"]
    rows = world["run"]("Token cost per model")
    assert {r["model_id"] for r in rows} == set(truth)
    total = 0.0
    for row in rows:
        t = truth[row["model_id"]]
        assert (row["input_tokens"], row["output_tokens"]) == (t.input_tokens, t.output_tokens)
        price = prices.price_for(row["model_id"])
        if price is None:
            assert row.get("cost") is None  # unpriced: never costed at zero
            continue
        expected = (t.input_tokens * float(price.input_per_1k)
                    + t.output_tokens * float(price.output_per_1k)) / 1000
        assert row["cost"] == pytest.approx(expected, rel=1e-9)
        total += expected
    (overall,) = world["run"]("Total token cost")
    assert overall["total_cost"] == pytest.approx(total, rel=1e-9)
