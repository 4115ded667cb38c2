"""Quotas and headroom (o2kit.yaml `quotas:`): matching in Python and SQL agree, bad rows are
refused with file and line, the generator's EstimatedTPMQuotaUsage is what the calls took, and
the Quota tab's numbers on the local engine match ground truth computed here from the calls and
quotas written out by hand (never from the panel SQL), in both metric layouts."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("datafusion")

from test_render_golden import shipped_project, with_metrics_layout  # noqa: E402

from o2kit.aws import synth  # noqa: E402
from o2kit.errors import ValidationFailed  # noqa: E402
from o2kit.project.config import Config, QuotaRow, load_config  # noqa: E402
from o2kit.project.loader import load_project  # noqa: E402
from o2kit.project.quotas import quota_for, sql_quota_case  # noqa: E402
from o2kit.query import check
from o2kit.query.engine import QueryEngine  # noqa: E402

HAIKU_PROFILE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
LLAMA = "meta.llama3-1-70b-instruct-v1:0"
ROWS = [
    QuotaRow(match="anthropic.claude-3-5-haiku", tpm=1000, rpm=10),  # base: covers us.… too
    QuotaRow(match="us.anthropic.claude-3-5-haiku", tpm=2000),  # cross-Region: wins for tpm
    QuotaRow(match="anthropic.claude", regions=["eu-west-1"], tpm=3000, rpm=30),
    QuotaRow(match="anthropic.claude", tpm=4000),
    QuotaRow(match="arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/",
             tpm=5000),
]


def test_python_and_sql_pick_the_same_quota() -> None:
    cases = [(m, r) for m in (HAIKU_PROFILE, "anthropic.claude-3-5-haiku-20241022-v1:0",
                              "eu.anthropic.claude-3-5-haiku-20241022-v1:0", HAIKU, NOVA,
                              "arn:aws:bedrock:us-east-1:111122223333:"
                              "application-inference-profile/abc123")
             for r in ("us-east-1", "eu-west-1")]
    # by hand, for the rule as documented
    assert quota_for(ROWS, HAIKU_PROFILE, "us-east-1", "tpm") == 2000
    assert quota_for(ROWS, HAIKU_PROFILE, "us-east-1", "rpm") == 10  # the geo row has no rpm
    assert quota_for(ROWS, "eu.anthropic.claude-3-5-haiku-20241022-v1:0", "us-east-1",
                     "tpm") == 1000
    assert quota_for(ROWS, HAIKU, "eu-west-1", "tpm") == 3000
    assert quota_for(ROWS, HAIKU, "us-east-1", "tpm") == 4000
    assert quota_for(ROWS, HAIKU, "us-east-1", "rpm") is None
    assert quota_for(ROWS, NOVA, "us-east-1", "tpm") is None
    engine = QueryEngine()
    engine.register_rows("t", [{"_timestamp": 1, "model_id": m, "region": r} for m, r in cases])
    for field in ("tpm", "rpm"):
        sql = (f"SELECT model_id, region, {sql_quota_case(ROWS, field)} AS quota FROM ("
               "SELECT model_id, region, regexp_replace(model_id, '^.*/', '') AS model_noarn, "
               "regexp_replace(regexp_replace(model_id, '^.*/', ''), "
               "'^(us-gov|us|eu|apac|jp|au|ca|global)[.]', '') AS model_base FROM t) x")
        got = {(h["model_id"], h["region"]): h.get("quota")
               for h in engine.query(sql, start_time=0, end_time=10)}
        assert got == {(m, r): quota_for(ROWS, m, r, field) for m, r in cases}, field
    assert sql_quota_case([QuotaRow(match="x", rpm=1)], "tpm") == "CAST(NULL AS DOUBLE)"


@pytest.mark.parametrize("bad, says", [
    ("[{match: amazon.nova, regions: [us-east-1]}]", "give `tpm`, `rpm` or both"),
    ("[{match: amazon.nova, tpm: 0}]", "greater than or equal to 1"),
    ("[{match: amazon.nova, regions: [useast1], tpm: 5}]", "not an AWS region code"),
    ("[{match: 'amazon nova', tpm: 5}]", "not a model id prefix"),
    ("[{match: amazon.nova, tpm: 5}, {match: amazon.nova, rpm: 5}]", "repeats quotas[0]"),
])
def test_bad_quota_rows_name_file_and_line(tmp_path: Path, bad: str, says: str) -> None:
    (tmp_path / "o2kit.yaml").write_text(f"org: default\nquotas: {bad}\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_config(tmp_path)
    (problem,) = caught.value.problems
    assert problem.file == "o2kit.yaml" and problem.line == 2 and says in problem.message
    assert Config().quotas == []


def test_generator_quota_usage_is_what_the_calls_took() -> None:
    models = tuple(m if m.model_id != HAIKU else
                   synth.ModelProfile(m.model_id, weight=m.weight, output_burndown=5.0)
                   for m in synth.DEFAULT_MODELS)
    traffic = synth.generate(synth.Scenario(minutes=15, models=models), end_ms=1_800_000_000_000,
                             seed=3)
    taken: dict[tuple[int, str], float] = defaultdict(float)
    for call in traffic.invocations:
        if call.outcome == "success":
            burndown = 5 if call.model_id == HAIKU else 1
            taken[(call.minute, call.model_id)] += call.input_tokens + burndown * call.output_tokens
    points = {((p["timestamp"] - traffic.start_ms) // 60_000, p["dimensions"]["ModelId"]):
              p["value"]["sum"] for p in traffic.datapoints
              if p["metric_name"] == "EstimatedTPMQuotaUsage"}
    assert points == pytest.approx(dict(taken)) and len(points) > 15


# --- the Quota tab -----------------------------------------------------------------------------

QUOTAS = [
    {"match": "us.anthropic.claude-3-5-haiku", "tpm": 40000, "rpm": 40},
    {"match": "anthropic.claude-3-haiku", "regions": ["eu-west-1"], "tpm": 1, "rpm": 1},
    {"match": "amazon.nova-lite", "tpm": 50000},
]
# the quotas above, by hand, for us-east-1 (the generator's region)
TPM = {HAIKU_PROFILE: 40000.0, NOVA: 50000.0}
RPM = {HAIKU_PROFILE: 40.0}
NOW_MS = 1_800_000_000_000 + 17_000


@pytest.fixture(scope="module", params=["flattened", "special"])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = with_metrics_layout(shipped_project(tmp_path_factory.mktemp("q") / "p"),
                               request.param)
    config = yaml.safe_load((root / "o2kit.yaml").read_text(encoding="utf-8"))
    config["quotas"] = QUOTAS
    (root / "o2kit.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    project = load_project(root)
    scenario = synth.Scenario(minutes=30, spend_spike=synth.SpendSpike(
        start_minute=10, minutes=2, extra_per_minute=5, token_multiplier=5.0))
    rows, traffic = check.synthetic_rows(project.config.config, now_ms=NOW_MS, seed=9,
                                         scenario=scenario)
    runner = check.local_runner(rows)
    panels = {q.label.split(" › ")[-1]: q for q in check.queries(project.resources)}

    def run(title: str) -> list[dict[str, Any]]:
        return runner(panels[title].sql, traffic.start_ms * 1000, NOW_MS * 1000 + 1)

    return {"traffic": traffic, "run": run, "panels": panels}


def _per_minute(traffic: synth.Traffic) -> tuple[dict[str, dict[int, float]],
                                                  dict[str, dict[int, int]], dict[str, int]]:
    tokens: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    calls: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    throttles: dict[str, int] = defaultdict(int)
    for call in traffic.invocations:
        if call.outcome == "throttled":
            throttles[call.model_id] += 1
            continue
        calls[call.model_id][call.minute] += 1  # Invocations: every accepted call
        if call.outcome == "success":
            tokens[call.model_id][call.minute] += call.input_tokens + call.output_tokens
    return tokens, calls, throttles


def test_quota_table_peak_minute_against_the_calls(world: dict[str, Any]) -> None:
    tokens, calls, throttles = _per_minute(world["traffic"])
    rows = {r["model_id"]: r for r in world["run"]("Quota use per model and region — peak minute")}
    assert set(rows) == set(tokens)
    for model, row in rows.items():
        peak_tpm = max(tokens[model].values())
        peak_rpm = max(calls[model].values())
        assert row["region"] == "us-east-1"
        assert row["peak_tpm"] == pytest.approx(peak_tpm)
        assert row["peak_rpm"] == peak_rpm
        assert row["throttles"] == throttles[model]
        assert row.get("tpm_quota") == TPM.get(model)  # claude-3-haiku: only an eu-west-1 quota
        assert row.get("rpm_quota") == RPM.get(model)
        if model in TPM:
            assert row["peak_tpm_pct"] == pytest.approx(100 * peak_tpm / TPM[model])
        else:
            assert "peak_tpm_pct" not in row
    # the spend spike took the haiku profile over its (small) TPM quota
    assert rows[HAIKU_PROFILE]["peak_tpm_pct"] > 100


def test_quota_share_over_time_against_the_calls(world: dict[str, Any]) -> None:
    tokens, _, _ = _per_minute(world["traffic"])
    hits = world["run"]("Tokens per minute, peak minute per bucket (% of TPM quota)")
    got = {h["model_id"] for h in hits if "pct_of_quota" in h}
    assert got == set(TPM)
    for model in TPM:
        highest = max(h["pct_of_quota"] for h in hits if h["model_id"] == model)
        assert highest == pytest.approx(100 * max(tokens[model].values()) / TPM[model])


def test_without_quotas_the_tab_says_how_to_add_them(tmp_path: Path) -> None:
    root = shipped_project(tmp_path / "p")
    config = yaml.safe_load((root / "o2kit.yaml").read_text(encoding="utf-8"))
    config.pop("quotas", None)
    (root / "o2kit.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    project = load_project(root)
    body = next(r.body for r in project.resources if r.kind == "dashboard")
    tab = next(t for t in body["tabs"] if t["tabId"] == "quota")
    titles = [p["title"] for p in tab["panels"]]
    assert "Quota use per model and region — peak minute" not in titles
    assert "Estimated TPM quota usage — peak minute per bucket" in titles
    (note,) = [p for p in tab["panels"] if p["type"] == "markdown"]
    assert "No quotas configured" in note["markdownContent"]
    alert = next(r.body for r in project.resources if r.kind == "alert"
                 and r.key[-1] == "bedrock_quota_headroom")
    assert "CAST(NULL AS DOUBLE)" in alert["query_condition"]["sql"]
    assert "cannot fire" in alert["description"]


def _caller(arn: str) -> str:
    # an assumed role's session name is cut off, as on the Attribution tab
    if ":assumed-role/" in arn:
        return "/".join(arn.split("/")[:2])
    return arn


def test_max_tokens_reserved_vs_used_per_caller(world: dict[str, Any]) -> None:
    traffic = world["traffic"]
    max_tokens = {m.model_id: m.max_tokens for m in traffic.scenario.models}
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for call in traffic.invocations:
        if call.outcome != "success" or call.record is None:
            continue
        row = expected[_caller(call.record["identity"]["arn"])]
        row[0] += 1
        row[1] += max_tokens[call.model_id]  # every synthetic request body sets it
        row[2] += call.output_tokens
    hits = world["run"]("Output tokens reserved by maxTokens vs used, per caller — invocation logs")
    got = {h["caller"]: [h["calls"], h["max_tokens"], h["output_tokens"]] for h in hits}
    assert got == dict(expected)
    for hit in hits:
        assert hit["calls_with_max_tokens"] == hit["calls"]
        assert hit["used_pct"] == pytest.approx(100 * hit["output_tokens"] / hit["max_tokens"])
