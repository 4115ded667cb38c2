"""Cost attribution: the token-budget alert scoped to one team (a requestMetadata tag), tested with
`o2kit test` firing and staying quiet, and how the tag becomes a column and a literal."""

from __future__ import annotations

from pathlib import Path

import yaml
from test_alerttest_cli import project_with_tests, run

from o2kit.project.loader import load_project

HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def _with_team_budget(root: Path, params: dict[str, object]) -> Path:
    path = root / "alerts" / "bedrock.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["alerts"]["bedrock_token_budget_search"] = {
        "template": "bedrock/token-budget.yaml.j2", "destinations": ["bedrock_slack"],
        "params": params}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return root


def _row(minutes_ago: int, output_tokens: int, **tags: str) -> str:
    extra = "".join(f", message_requestmetadata_{k}: {v}" for k, v in tags.items())
    return (f"        - {{minutes_ago: {minutes_ago}, message_schematype: ModelInvocationLog, "
            f"message_modelid: \"{HAIKU}\", message_input_inputtokencount: 0, "
            f"message_output_outputtokencount: {output_tokens}, "
            f"message_input_cachereadinputtokencount: 0, "
            f"message_input_cachewriteinputtokencount: 0{extra}}}\n")


def _sql(root: Path, name: str) -> str:
    alert = next(r for r in load_project(root).resources
                 if r.kind == "alert" and r.key[1] == name)
    return str(alert.body["query_condition"]["sql"])


def test_a_budget_scoped_to_one_team(tmp_path: Path) -> None:
    root = _with_team_budget(project_with_tests(tmp_path / "p"), {"team": "search", "budget": 50})
    for path in list((root / "alert-tests").iterdir()):
        path.unlink()
    # 15M output tokens of haiku = 60 USD (0.004 / 1k)
    (root / "alert-tests" / "team.yaml").write_text(
        "alert: bedrock_token_budget_search\ntests:\n"
        "  - name: the search team's 60 USD fires\n    at: \"2026-11-28T12:00:00Z\"\n"
        "    input:\n      bedrock_logs:\n" + _row(30, 15_000_000, team="search")
        + _row(30, 5_000_000, team="chat")
        + "    expect:\n      fires: true\n      rows: [{spend: 60}]\n      messages:\n"
        "        - \"Spend for requestMetadata.team = search 60 USD > budget 50 USD over 1440 min;"
        " tokens of unpriced models: 0\"\n"
        "  - name: other teams' and untagged spend does not count\n"
        "    at: \"2026-11-28T12:00:00Z\"\n    input:\n      bedrock_logs:\n"
        + _row(30, 10_000_000, team="search") + _row(30, 50_000_000, team="chat")
        + _row(30, 50_000_000)
        + "    expect:\n      fires: false\n",
        encoding="utf-8")
    code, output = run("-C", str(root), "test")
    assert code == 0, output
    assert output.count("PASS") == 2


def test_the_team_tag_becomes_a_quoted_column_and_the_team_a_literal(tmp_path: Path) -> None:
    root = _with_team_budget(project_with_tests(tmp_path / "p"),
                             {"team": "o'brien", "team_tag": "cost-center"})
    sql = _sql(root, "bedrock_token_budget_search")
    assert "\"message_requestmetadata_cost_center\" = 'o''brien'" in sql
    # the unscoped budget renders as before: no tag filter
    assert "requestmetadata" not in _sql(root, "bedrock_token_budget")
    code, output = run("-C", str(root), "validate")
    assert code == 0, output


def test_the_dashboard_attribution_tags_are_a_parameter(tmp_path: Path) -> None:
    root = project_with_tests(tmp_path / "p")
    path = root / "dashboards" / "bedrock.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["params"]["attribution_tags"] = ["Project", "cost-center"]
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    body = next(r.body for r in load_project(root).resources if r.kind == "dashboard")
    tab = next(t for t in body["tabs"] if t["name"] == "Attribution")
    sqls = [p["queries"][0]["query"] for p in tab["panels"]]
    assert sum('"message_requestmetadata_project"' in s for s in sqls) == 2  # table and bars
    assert sum('"message_requestmetadata_cost_center"' in s for s in sqls) == 1
    doc["params"]["attribution_tags"] = []
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    body = next(r.body for r in load_project(root).resources if r.kind == "dashboard")
    tab = next(t for t in body["tabs"] if t["name"] == "Attribution")
    assert [p["title"] for p in tab["panels"]] == ["Token cost per caller (USD)"]
