"""Budgets (o2kit.yaml `budgets:`): bad rows are refused with file and line, every budget renders
one alert per threshold and a forecast alert (o2kit test proves each fires and stays silent in
alert-tests/budget_*.yaml), and the forecast alert's numbers on the local engine match the linear
projection computed here in plain Python from the generator's calls, priced by hand (never from
the alert SQL or o2kit's price table)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("datafusion")

from test_render_golden import shipped_project  # noqa: E402

from o2kit.aws import synth  # noqa: E402
from o2kit.errors import ValidationFailed  # noqa: E402
from o2kit.project.config import load_config  # noqa: E402
from o2kit.project.loader import load_project  # noqa: E402
from o2kit.query import check
from o2kit.query.engine import QueryEngine  # noqa: E402

DEST = "destinations: [bedrock_slack]"


@pytest.mark.parametrize("bad, field, says", [
    ("[{name: a, amount: 10, period: fortnight, " + DEST + "}]", "budgets[0].period",
     "'month', 'week' or 'day'"),
    ("[{name: a, amount: 0, " + DEST + "}]", "budgets[0].amount", "greater than 0"),
    ("[{name: a, amount: 10, thresholds: [50, 0], " + DEST + "}]", "budgets[0].thresholds",
     "threshold 0 is not a percentage"),
    ("[{name: a, amount: 10, thresholds: [50, 50], " + DEST + "}]", "budgets[0].thresholds",
     "listed twice"),
    ("[{name: A-b, amount: 10, " + DEST + "}]", "budgets[0].name", "lower-case"),
    ("[{name: a, amount: 10}]", "budgets[0].destinations", "required"),
    ("[{name: a, amount: 10, scope: {caller: 'arn:aws:iam::1:*/x'}, " + DEST + "}]",
     "budgets[0].scope", "one * at the end"),
    ("[{name: a, amount: 10, scope: {team_tag: team}, " + DEST + "}]",
     "budgets[0].scope.team.team", "required"),
    ("[{name: a, amount: 1, " + DEST + "}, {name: a, amount: 2, " + DEST + "}]", "budgets",
     "repeats the name of budgets[0]"),
])
def test_bad_budgets_name_file_line_and_field(tmp_path: Path, bad: str, field: str,
                                               says: str) -> None:
    (tmp_path / "o2kit.yaml").write_text(f"org: default\nbudgets: {bad}\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_config(tmp_path)
    problems = caught.value.problems
    assert any(p.file == "o2kit.yaml" and p.line == 2 and p.field.startswith(field)
               and says in p.message for p in problems), problems


def _with_budgets(root: Path, budgets: list[dict[str, Any]]) -> Path:
    config = yaml.safe_load((root / "o2kit.yaml").read_text(encoding="utf-8"))
    config["budgets"] = budgets
    (root / "o2kit.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root


def _alerts(root: Path) -> dict[str, dict[str, Any]]:
    return {r.key[1]: r.body for r in load_project(root).resources if r.kind == "alert"}


def test_each_budget_renders_a_ladder_and_a_forecast(tmp_path: Path) -> None:
    root = _with_budgets(shipped_project(tmp_path / "p"), [
        {"name": "all", "amount": 100, "destinations": ["bedrock_slack"]},
        {"name": "ops", "amount": 7, "period": "week", "thresholds": [90, 25],
         "forecast": False, "scope": {"caller": "arn:aws:sts::1:assumed-role/ops/*"},
         "destinations": ["bedrock_slack"]},
        {"name": "cc", "amount": 3, "period": "day", "scope": {"team_tag": "cost-center",
                                                               "team": "o'brien"},
         "destinations": ["bedrock_slack"]},
    ])
    alerts = _alerts(root)
    budget_alerts = sorted(n for n in alerts if n.startswith("budget_"))
    assert budget_alerts == ["budget_all_100pct", "budget_all_50pct", "budget_all_80pct",
                             "budget_all_forecast", "budget_cc_100pct", "budget_cc_50pct",
                             "budget_cc_80pct", "budget_cc_forecast", "budget_ops_25pct",
                             "budget_ops_90pct"]
    assert "bedrock_token_budget" in alerts  # the rolling-window alert stays
    periods = {n: alerts[n]["trigger_condition"]["period"] for n in budget_alerts}
    assert periods["budget_all_50pct"] == 31 * 1440 and periods["budget_ops_25pct"] == 7 * 1440
    assert periods["budget_cc_forecast"] == 1440
    sql = {n: alerts[n]["query_condition"]["sql"] for n in budget_alerts}
    assert "WHERE spend >= 6.3" in sql["budget_ops_90pct"]
    assert "starts_with(message_identity_arn, 'arn:aws:sts::1:assumed-role/ops/')" in \
        sql["budget_ops_90pct"]
    assert "date_trunc('week', now())" in sql["budget_ops_90pct"]
    assert "\"message_requestmetadata_cost_center\" = 'o''brien'" in sql["budget_cc_50pct"]
    assert "requestmetadata" not in sql["budget_all_80pct"]
    assert alerts["budget_all_80pct"]["destinations"] == ["bedrock_slack"]


def test_a_budget_naming_an_unknown_destination_points_at_its_line(tmp_path: Path) -> None:
    root = _with_budgets(shipped_project(tmp_path / "p"), [
        {"name": "all", "amount": 100, "destinations": ["bedrock_slack"]},
        {"name": "x", "amount": 100, "destinations": ["pagerduty"]},
    ])
    with pytest.raises(ValidationFailed) as caught:
        load_project(root)
    text = (root / "o2kit.yaml").read_text(encoding="utf-8").splitlines()
    line = next(i for i, t in enumerate(text, 1) if "name: x" in t)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("o2kit.yaml", line)
    assert "destination 'pagerduty' is not defined" in problem.message


def test_now_is_the_end_of_the_searched_range() -> None:
    engine = QueryEngine()
    engine.register_rows("t", [{"_timestamp": 5, "x": 1}])
    end = int(dt.datetime(2026, 2, 10, 6, tzinfo=dt.UTC).timestamp() * 1_000_000)
    (hit,) = engine.query("SELECT to_unixtime(date_trunc('month', now())) AS m, "
                          "to_unixtime(now()) AS n FROM t", start_time=0, end_time=end)
    assert hit["m"] == dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp()
    assert hit["n"] == end // 1_000_000
    # the text 'now()' in a string is not a call
    (hit,) = engine.query("SELECT 'now()' AS s FROM t", start_time=0, end_time=end)
    assert hit["s"] == "now()"


# --- the forecast against the generator's calls -------------------------------------------------

# USD per 1,000 tokens (input, output) of the generator's models, copied by hand from the AWS
# price list as prices.yaml states it (effective 2026-08-01).
PRICES = {
    "us.anthropic.claude-3-5-haiku-20241022-v1:0": (0.0008, 0.004),
    "anthropic.claude-3-haiku-20240307-v1:0": (0.00025, 0.00125),
    "amazon.nova-lite-v1:0": (0.00006, 0.00024),
    "meta.llama3-1-70b-instruct-v1:0": (0.00072, 0.00072),
}
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _spend(traffic: synth.Traffic, team: str | None = None) -> float:
    total = 0.0
    for record in traffic.log_records:
        if team is not None and (record.get("requestMetadata") or {}).get("team") != team:
            continue
        price_in, price_out = PRICES[record["modelId"]]
        total += record["input"]["inputTokenCount"] / 1000 * price_in
        total += (record.get("output") or {}).get("outputTokenCount", 0) / 1000 * price_out
    return total


def _forecast(spend: float, amount: float) -> tuple[float, float, str]:
    start = dt.datetime(NOW.year, NOW.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(NOW.year + NOW.month // 12, NOW.month % 12 + 1, 1, tzinfo=dt.UTC)
    elapsed = (NOW - start) / (end - start)
    crossing = start + (NOW - start) * (amount / spend)
    return 100 * elapsed, spend / elapsed, crossing.strftime("%Y-%m-%d")


@pytest.mark.parametrize("team", [None, "search"])
def test_forecast_alert_against_the_calls(tmp_path: Path, team: str | None) -> None:
    now_ms = int(NOW.timestamp() * 1000)
    scenario = synth.Scenario(minutes=60, requests_per_minute=10, spend_spike=synth.SpendSpike(
        start_minute=20, minutes=10, extra_per_minute=10, token_multiplier=300.0))
    root = shipped_project(tmp_path / "p")
    config = load_config(root).config
    rows, traffic = check.synthetic_rows(config, now_ms=now_ms, seed=5, scenario=scenario)
    spend = _spend(traffic, team)
    assert spend > 1  # the spike makes real money
    elapsed_pct, forecast, _ = _forecast(spend, 1.0)
    scope = {"scope": {"team": team}} if team else {}
    # one budget the projection passes, one it stays under
    over, under = round(forecast * 0.9, 2), round(forecast * 1.1, 2)
    _with_budgets(root, [
        {"name": "over", "amount": over, "destinations": ["bedrock_slack"], **scope},
        {"name": "under", "amount": under, "destinations": ["bedrock_slack"], **scope},
    ])
    alerts = _alerts(root)
    runner = check.local_runner(rows)

    def run(name: str) -> list[dict[str, Any]]:
        body = alerts[name]
        end_us = now_ms * 1000
        start_us = end_us - body["trigger_condition"]["period"] * 60_000_000
        return runner(body["query_condition"]["sql"], start_us, end_us)

    (hit,) = run("budget_over_forecast")
    assert hit["spend"] == pytest.approx(spend, rel=1e-9)
    assert hit["elapsed_pct"] == pytest.approx(elapsed_pct, rel=1e-9)
    assert hit["forecast"] == pytest.approx(forecast, rel=1e-9)
    assert hit["forecast_pct"] == pytest.approx(100 * forecast / over, rel=1e-9)
    assert hit["crossing_date"] == _forecast(spend, over)[2]
    assert run("budget_under_forecast") == []
    # the ladder: 50 % of `under` is passed exactly when spend >= under / 2
    for pct in (50, 80, 100):
        fired = run(f"budget_under_{pct}pct")
        assert bool(fired) == (spend >= under * pct / 100), pct
        if fired:
            assert fired[0]["spend"] == pytest.approx(spend, rel=1e-9)


def test_budgets_tab_against_the_calls(tmp_path: Path) -> None:
    now_ms = int(NOW.timestamp() * 1000)
    scenario = synth.Scenario(minutes=60, requests_per_minute=10, spend_spike=synth.SpendSpike(
        start_minute=20, minutes=10, extra_per_minute=10, token_multiplier=300.0))
    root = shipped_project(tmp_path / "p")
    rows, traffic = check.synthetic_rows(load_config(root).config, now_ms=now_ms, seed=5,
                                         scenario=scenario)
    spend_all, spend_chat = _spend(traffic), _spend(traffic, "chat")
    forecast_all = _forecast(spend_all, 1.0)[1]
    amount_all = round(forecast_all * 0.75, 2)  # projected over
    amount_chat = round(_forecast(spend_chat, 1.0)[1] * 2, 2)  # projected under
    _with_budgets(root, [
        {"name": "all", "amount": amount_all, "destinations": ["bedrock_slack"]},
        {"name": "chat", "amount": amount_chat, "scope": {"team": "chat"},
         "destinations": ["bedrock_slack"]},
    ])
    project = load_project(root)
    (query,) = [q for q in check.queries(project.resources) if q.label.endswith(
        "Budgets: spend so far and period-end forecast (linear) (USD)")]
    hits = {h["budget"]: h for h in check.local_runner(rows)(
        query.sql, now_ms * 1000 - 31 * 86_400_000_000, now_ms * 1000)}
    assert set(hits) == {"all", "chat"}
    for name, spend, amount in (("all", spend_all, amount_all),
                                ("chat", spend_chat, amount_chat)):
        elapsed_pct, forecast, crossing = _forecast(spend, amount)
        hit = hits[name]
        assert hit["spend"] == pytest.approx(spend, rel=1e-9)
        assert hit["spent_pct"] == pytest.approx(100 * spend / amount, rel=1e-9)
        assert hit["elapsed_pct"] == pytest.approx(elapsed_pct, rel=1e-9)
        assert hit["forecast"] == pytest.approx(forecast, rel=1e-9)
        assert hit["crossing_date"] == (crossing if forecast > amount else "not at this rate")
    assert hits["all"]["crossing_date"].startswith("20")
    assert hits["chat"]["scope"] == "calls tagged requestMetadata.team = chat"


def test_without_budgets_the_tab_says_how_to_add_them(tmp_path: Path) -> None:
    root = _with_budgets(shipped_project(tmp_path / "p"), [])
    (dashboard,) = [r.body for r in load_project(root).resources if r.kind == "dashboard"]
    (tab,) = [t for t in dashboard["tabs"] if t["tabId"] == "budgets"]
    (panel,) = tab["panels"]
    assert panel["type"] == "html" or panel["type"] == "markdown", panel["type"]
    assert "No budgets configured" in json.dumps(panel)


def _budget_view(root: Path, cache: Any) -> Any:
    """What loading reports of the budget alerts: each one's body and where it points, or the
    problems."""
    try:
        project = load_project(root, cache=cache)
    except ValidationFailed as exc:
        return [(p.file, p.line, p.field, p.message) for p in exc.problems]
    return {r.key: (r.body, r.source) for r in project.resources
            if r.kind == "alert" and r.key[1].startswith("budget_")}


def test_budget_alerts_are_replayed_from_the_cache_until_an_input_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from o2kit.project import loader
    from o2kit.project.cache import Cache

    root = _with_budgets(shipped_project(tmp_path / "p"), [
        {"name": "all", "amount": 100, "destinations": ["bedrock_slack"]},
        {"name": "ops", "amount": 7, "period": "week", "thresholds": [90],
         "destinations": ["bedrock_slack"]},
    ])
    directory = tmp_path / "cache"
    reference = _budget_view(root, None)
    assert len(reference) == 6
    assert _budget_view(root, Cache(directory)) == reference

    renders = []
    real = loader._Loader._budget_alerts
    monkeypatch.setattr(loader._Loader, "_budget_alerts",
                        lambda self, record: renders.append(1) or real(self, record))
    warm = Cache(directory)
    assert _budget_view(root, warm) == reference
    assert renders == [] and warm.misses == 0  # replayed, not rendered again

    # Another amount (o2kit.yaml is a shared input): rendered again, as a run without a cache.
    _with_budgets(root, [{"name": "all", "amount": 200, "destinations": ["bedrock_slack"]},
                         {"name": "ops", "amount": 7, "period": "week", "thresholds": [90],
                          "destinations": ["pagerduty"]}])
    changed = _budget_view(root, None)
    assert isinstance(changed, list) and "pagerduty" in str(changed)  # the problem, its line
    renders.clear()
    assert _budget_view(root, Cache(directory)) == changed
    assert renders == [1]
    assert _budget_view(root, Cache(directory)) == changed  # the problem replayed too
    assert renders == [1]
