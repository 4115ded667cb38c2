"""Price periods and tiers (issue 12 item 4): last month's calls are priced at last month's prices
and long requests at their tier's prices — in Python and in the rendered SQL alike.

The ground truth is computed here, call by call, from each stored row's own ``_timestamp`` and
token counts with ``PriceTable.cost_at``; never copied from the queries' output.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from o2_harness import post_traffic
from shipped_project import copy_shipped_project

from o2kit.errors import ValidationFailed
from o2kit.project.loader import load_project
from o2kit.project.prices import day_start_us, parse_prices
from o2kit.project.yamlsrc import ModelErrors, load_yaml

BOUNDARY = date(2027, 1, 15)
NOW_MS = day_start_us(BOUNDARY) // 1000 + 30 * 60_000 + 123  # 30 min into the new period


def _table(models: list[dict[str, Any]]) -> str:
    doc = {"currency": "USD", "effective_date": "2026-08-01", "checked_on": "2026-08-21",
           "source": "test", "models": models}
    return yaml.safe_dump(doc, sort_keys=False)


def test_a_period_replaces_the_prices_from_its_day_and_keeps_unwritten_multipliers() -> None:
    text = _table([{
        "match": "anthropic.claude-3-5-haiku", "input_per_1k": 0.001, "output_per_1k": 0.005,
        "cache_read_multiplier": 0.1,
        "tiers": [{"above_input_tokens": 1000, "input_per_1k": 0.002, "output_per_1k": 0.01}],
        "periods": [{"from": "2027-01-15", "input_per_1k": 0.0008, "output_per_1k": 0.004},
                    {"from": "2027-03-01", "input_per_1k": 0.0007, "output_per_1k": 0.0035,
                     "tiers": []}],
    }])
    table = parse_prices(*load_yaml(text, "prices.yaml"))
    model = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

    def at(day: str, *tokens: int) -> Decimal | None:
        when = datetime.fromisoformat(day).replace(tzinfo=UTC)
        return table.cost_at(model, when, *tokens)

    # Before the first period's day: the row's own prices (and its tier above 1000 input tokens;
    # cache tokens count as input for the tier, as in OpenObserve's build_pricing_usage).
    assert at("2027-01-14T23:59:59", 1000, 1000, 0, 0) == Decimal("0.006")
    assert at("2027-01-14T23:59:59", 900, 1000, 101, 0) == (
        900 * Decimal("0.002") + 1000 * Decimal("0.01") + 101 * Decimal("0.0002")) / 1000
    # From 2027-01-15 00:00 UTC: the period's prices, the multiplier and tier carried over
    # (the tier's prices are the tier's own).
    assert at("2027-01-15T00:00:00", 1000, 1000, 0, 0) == Decimal("0.0048")
    assert at("2027-01-15T00:00:00", 0, 0, 1000, 0) == Decimal("0.00008")  # 0.0008 × 0.1
    assert at("2027-02-01T00:00:00", 1001, 0, 0, 0) == Decimal("0.002002")
    # A period with `tiers: []` drops the tiers.
    assert at("2027-03-01T00:00:00", 5000, 0, 0, 0) == Decimal("0.0035")
    assert table.cost_at("meta.llama3-8b", datetime.now(UTC), 1, 1, 1, 1) is None


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"periods": [{"from": "2027-02-01", "input_per_1k": 1, "output_per_1k": 1},
                      {"from": "2027-01-01", "input_per_1k": 1, "output_per_1k": 1}]},
         "prices.yaml:13: models[0].periods[1].from: 2027-01-01 must be after the previous "
         "period's 2027-02-01 (periods are listed oldest first)"),
        ({"tiers": [{"above_input_tokens": 10, "input_per_1k": 1, "output_per_1k": 1},
                    {"above_input_tokens": 10, "input_per_1k": 2, "output_per_1k": 2}]},
         "prices.yaml:13: models[0].tiers[1].above_input_tokens: tiers[0] already starts above "
         "10 input tokens"),
        ({"tiers": [{"above_input_tokens": 0, "input_per_1k": 1, "output_per_1k": 1}]},
         "prices.yaml:10: models[0].tiers[0].above_input_tokens: Input should be greater than 0"),
        ({"periods": [{"from": "soon", "input_per_1k": 1, "output_per_1k": 1}]},
         "prices.yaml:10: models[0].periods[0].from: "
         "Input should be a valid date or datetime, input is too short"),
    ],
)
def test_bad_periods_and_tiers_name_file_line_and_field(row: dict[str, Any],
                                                         expected: str) -> None:
    text = _table([{"match": "a.b", "input_per_1k": 1, "output_per_1k": 1, **row}])
    with pytest.raises(ModelErrors) as info:
        parse_prices(*load_yaml(text, "prices.yaml"))
    assert "\n".join(str(p) for p in info.value.problems) == expected


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from o2kit.aws import synth
    from o2kit.query import check

    root = copy_shipped_project(tmp_path_factory.mktemp("periods"))
    project = load_project(root)
    scenario = synth.Scenario(minutes=60, requests_per_minute=60)
    rows, _traffic = check.synthetic_rows(project.config.config, now_ms=NOW_MS, seed=5,
                                          scenario=scenario)
    logs = [r for r in rows[project.config.config.streams.invocation_logs]
            if r.get("message_schematype") == "ModelInvocationLog"]

    def context_input(r: dict[str, Any]) -> int:
        return sum(int(r.get(k) or 0) for k in (
            "message_input_inputtokencount", "message_input_cachereadinputtokencount",
            "message_input_cachewriteinputtokencount"))

    # A tier threshold from the data itself, so that calls land on both sides of it.
    inputs = sorted(context_input(r) for r in logs)
    threshold = inputs[len(inputs) // 2]
    data = yaml.safe_load((root / "prices.yaml").read_text(encoding="utf-8"))
    for row in data["models"]:
        row["tiers"] = [{"above_input_tokens": threshold,
                         "input_per_1k": row["input_per_1k"] * 2,
                         "output_per_1k": row["output_per_1k"] * 1.5}]
        row["periods"] = [{"from": BOUNDARY.isoformat(),
                           "input_per_1k": row["input_per_1k"] * 3,
                           "output_per_1k": row["output_per_1k"] * 3}]
    (root / "prices.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    project = load_project(root)
    table = project.prices
    assert table is not None and table.period_starts == [BOUNDARY]
    runner = check.local_runner(rows)
    panels = {q.label.split(" › ")[-1]: q for q in check.queries(project.resources)}

    def run(title_start: str) -> list[dict[str, Any]]:
        (query,) = [q for t, q in panels.items() if t.startswith(title_start)]
        return runner(query.sql, (NOW_MS - 61 * 60_000) * 1000, NOW_MS * 1000 + 1)

    expected: dict[str, Decimal | None] = {}
    sides: dict[str, set[tuple[bool, bool]]] = defaultdict(set)
    naive = 0.0
    for r in logs:
        model = r["message_modelid"]
        when = datetime.fromtimestamp(r["_timestamp"] / 1e6, UTC)
        cost = table.cost_at(model, when, int(r.get("message_input_inputtokencount") or 0),
                             int(r.get("message_output_outputtokencount") or 0),
                             int(r.get("message_input_cachereadinputtokencount") or 0),
                             int(r.get("message_input_cachewriteinputtokencount") or 0))
        sides["all"].add((when.date() >= BOUNDARY, context_input(r) > threshold))
        row_price = table.price_for(model)
        if row_price is not None:
            naive += float(row_price.cost(
                int(r.get("message_input_inputtokencount") or 0),
                int(r.get("message_output_outputtokencount") or 0),
                int(r.get("message_input_cachereadinputtokencount") or 0),
                int(r.get("message_input_cachewriteinputtokencount") or 0)))
        before = expected.get(model, Decimal(0))
        expected[model] = None if cost is None else (before or Decimal(0)) + cost
    return {"run": run, "expected": expected, "sides": sides["all"], "naive": naive}


def test_rows_in_two_periods_and_two_tiers_are_each_priced_at_their_own_prices(
    world: dict[str, Any],
) -> None:
    # Calls before and after the boundary, below and above the tier threshold.
    assert world["sides"] == {(False, False), (False, True), (True, False), (True, True)}
    expected = world["expected"]
    rows = world["run"]("Token cost per model")
    assert {r["model_id"] for r in rows} == set(expected)
    priced = 0
    for row in rows:
        want = expected[row["model_id"]]
        if want is None:
            assert row["cost"] is None  # unpriced: never 0
            continue
        assert row["cost"] == pytest.approx(float(want), rel=1e-9), row["model_id"]
        priced += 1
    assert priced >= 3
    total = sum(float(v) for v in expected.values() if v is not None)
    (overall,) = world["run"]("Total token cost")
    assert overall["total_cost"] == pytest.approx(total, rel=1e-9)
    # Priced at the row's own prices only (no period, no tier) the total would differ.
    assert overall["total_cost"] != pytest.approx(world["naive"], rel=1e-3)


def test_the_cost_over_time_chart_sums_to_the_same_total(world: dict[str, Any]) -> None:
    rows = world["run"]("Token cost over time per model")
    total = sum(float(v) for v in world["expected"].values() if v is not None)
    assert sum(r["cost"] or 0 for r in rows) == pytest.approx(total, rel=1e-9)


def test_a_table_without_periods_or_tiers_renders_the_sql_it_did_before(tmp_path: Path) -> None:
    # The golden files (tests/golden) hold the SQL of the shipped table byte for byte; this
    # checks the switch: no grouping columns unless the table has periods or tiers.
    import json

    root = copy_shipped_project(tmp_path)
    project = load_project(root)
    assert project.prices is not None and not project.prices.period_starts
    rendered = json.dumps([r.body for r in project.resources])
    assert "price_from" not in rendered and "tier_floor" not in rendered
    text = (root / "prices.yaml").read_text(encoding="utf-8").replace(
        "{match: amazon.nova-micro-v1, input_per_1k: 0.000035, output_per_1k: 0.00014, "
        "cache_read_multiplier: 0.25}",
        "{match: amazon.nova-micro-v1, input_per_1k: 0.000035, output_per_1k: 0.00014, "
        "cache_read_multiplier: 0.25, tiers: [{above_input_tokens: 1000, input_per_1k: 1, "
        "output_per_1k: 1}]}")
    (root / "prices.yaml").write_text(text, encoding="utf-8")
    rendered = json.dumps([r.body for r in load_project(root).resources])
    assert "tier_floor" in rendered and "price_from" not in rendered


def test_a_bad_period_in_the_project_is_a_validation_error(tmp_path: Path) -> None:
    root = copy_shipped_project(tmp_path)
    text = (root / "prices.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  - {match: amazon.nova-micro-v1, input_per_1k: 0.000035, output_per_1k: 0.00014, "
        "cache_read_multiplier: 0.25}",
        "  - {match: amazon.nova-micro-v1, input_per_1k: 0.000035, output_per_1k: 0.00014, "
        "cache_read_multiplier: 0.25, periods: [{from: 2027-02-01, input_per_1k: 1, "
        "output_per_1k: 1}, {from: 2027-01-01, input_per_1k: 1, output_per_1k: 1}]}")
    (root / "prices.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ValidationFailed) as failed:
        load_project(root)
    assert [(p.file, p.field) for p in failed.value.problems] == [
        ("prices.yaml", "models[20].periods[1].from")]


def test_check_against_a_server_names_rows_that_price_nothing_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row that matches no model in the data is a warning at its line and field; so are the
    models seen that no row prices. Found by `o2kit check --remote` (validate has no data)."""
    import time

    from typer.testing import CliRunner

    from o2kit.aws.synth import Scenario, generate
    from o2kit.cli import app as cli
    from o2kit.cli import base as cli_base
    from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, Faults
    from o2kit.query.engine import QueryEngine

    root = copy_shipped_project(tmp_path)
    text = (root / "prices.yaml").read_text(encoding="utf-8")
    # A model the traffic never calls, and the removal of a row the traffic needs.
    text = text.replace("models:\n", "models:\n  - {match: acme.unused-model-v1, "
                        "input_per_1k: 1, output_per_1k: 1}\n", 1)
    (root / "prices.yaml").write_text(text, encoding="utf-8")
    now_ms = int(time.time() * 1000)
    traffic = generate(Scenario(minutes=10, requests_per_minute=20.0), end_ms=now_ms, seed=3)
    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    post_traffic(fake, traffic)
    monkeypatch.setenv("OPENOBSERVE_URL", "http://o2.test")
    monkeypatch.setenv("OPENOBSERVE_USER", DEFAULT_USER)
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.setattr(cli_base, "_TRANSPORT", fake.transport(Faults()))
    result = CliRunner().invoke(cli.app, ["--project", str(root), "check", "--remote",
                                          "--minutes", "30"])
    table = parse_prices(*load_yaml(text, "prices.yaml"))
    used = {table.price_for(m).match for m in traffic.truth if table.price_for(m) is not None}
    line = text.splitlines().index("  - {match: acme.unused-model-v1, input_per_1k: 1, "
                                   "output_per_1k: 1}") + 1
    assert (f"prices.yaml:{line}: warning: models[0].match: 'acme.unused-model-v1' prices none "
            f"of the {len(traffic.truth)} model ids") in result.output
    warned = result.output.count(": warning: models[")
    assert warned == len(table.models) - len(used)
    unpriced = sorted(m for m in traffic.truth if table.price_for(m) is None)
    if unpriced:
        assert f"no row prices {unpriced[0]}" in result.output


def test_the_price_table_panel_lists_periods_and_tiers() -> None:
    text = _table([{"match": "a.b", "input_per_1k": 1, "output_per_1k": 2,
                    "tiers": [{"above_input_tokens": 200000, "input_per_1k": 2,
                               "output_per_1k": 3}],
                    "periods": [{"from": "2026-06-01", "input_per_1k": 0.5,
                                 "output_per_1k": 1}]}])
    from o2kit.project.prices import TemplatePrices

    markdown = TemplatePrices(parse_prices(*load_yaml(text, "prices.yaml"))).table_markdown()
    assert markdown.splitlines()[-3:] == [
        "- `a.b` (before 2026-06-01), calls above 200000 input tokens: 2 / 3",
        "- `a.b` from 2026-06-01: 0.5 / 1",
        "- `a.b` (from 2026-06-01), calls above 200000 input tokens: 2 / 3",
    ]
