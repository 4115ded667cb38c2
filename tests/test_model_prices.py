"""The ``model_price`` kind (issue 12 item 1 + 4): OpenObserve's LLM model prices derived from
``prices.yaml`` when ``o2kit.yaml`` says ``prices_sync: true`` — plan/apply/prune against the fake
OpenObserve (built from the server source), built-in and other projects' definitions left alone,
and the definitions priced as the dashboards' SQL prices (checked with OpenObserve's own selection
rule, written out here from src/db/src/model_pricing.rs, not from o2kit).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from o2_harness import O2 as Harness
from o2_harness import bedrock_fake, post_traffic
from shipped_project import copy_shipped_project
from typer.testing import CliRunner

from o2kit.cli import app as cli
from o2kit.fake import FakeOpenObserve
from o2kit.fake.model_prices import seed_definition
from o2kit.kinds.model_price import SPEC, match_of_pattern, pattern_problem
from o2kit.project.loader import load_project
from o2kit.project.prices import model_pricing_definitions, parse_prices
from o2kit.project.yamlsrc import load_yaml


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = copy_shipped_project(tmp_path / "repo")
    text = (root / "o2kit.yaml").read_text(encoding="utf-8")
    assert "prices_sync: false" in text
    (root / "o2kit.yaml").write_text(text.replace("prices_sync: false", "prices_sync: true"),
                                     encoding="utf-8")
    return root


@pytest.fixture()
def fake() -> FakeOpenObserve:
    return bedrock_fake(3)


class O2(Harness):
    def plan(self, *args: str) -> list[dict[str, Any]]:
        return [c for c in self.plan_json(*args)["changes"] if c["kind"] == "model_price"]

    def definitions(self, org: str = "default") -> list[dict[str, Any]]:
        """The org's own definitions, as the server lists them (children flattened)."""
        with self.http() as http:
            listed = http.get(f"/api/{org}/llm/models").json()
        out: list[dict[str, Any]] = []
        stack = list(listed)
        while stack:
            item = stack.pop()
            stack.extend(item.pop("children", []))
            out.append(item)
        return [d for d in out if d["source"] == "org"]


@pytest.fixture()
def o2(project: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch) -> O2:
    return O2(project, fake, monkeypatch)


def _table(root: Path) -> Any:
    return parse_prices(*load_yaml((root / "prices.yaml").read_text(encoding="utf-8"),
                                   "prices.yaml"))


def test_apply_creates_one_definition_per_row_and_a_second_plan_is_clean(o2: O2) -> None:
    table = _table(o2.project)
    changes = o2.plan()
    assert Counter(c["action"] for c in changes) == {"create": len(table.models)}
    result = o2("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    stored = o2.definitions()
    assert sorted(d["name"] for d in stored) == sorted(r.match for r in table.models)
    assert all("o2kit:bedrock-monitoring:" in d["description"] for d in stored)
    assert {c["action"] for c in o2.plan()} == {"noop"}


def test_a_price_change_in_prices_yaml_is_an_update_of_that_definition_only(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    path = o2.project / "prices.yaml"
    text = path.read_text(encoding="utf-8")
    old = "{match: amazon.nova-pro-v1, input_per_1k: 0.0008,"
    assert old in text
    path.write_text(text.replace(old, "{match: amazon.nova-pro-v1, input_per_1k: 0.0009,"),
                    encoding="utf-8")
    changes = [c for c in o2.plan() if c["action"] != "noop"]
    assert [(c["action"], c["key"]) for c in changes] == [("update", ["amazon.nova-pro-v1"])]
    assert o2("apply", "--auto-approve").exit_code == 0
    (nova,) = [d for d in o2.definitions() if d["name"] == "amazon.nova-pro-v1"]
    assert nova["tiers"][0]["prices"]["input"] == pytest.approx(0.0009 / 1000, rel=1e-12)
    assert {c["action"] for c in o2.plan()} == {"noop"}


def test_prune_deletes_only_this_projects_definitions(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    store = o2.fake._store
    # A built-in, a _meta one and another project's / a hand-made one in the same org.
    seed_definition(store, "_openobserve", {
        "name": "Claude 3 Haiku", "match_pattern": "(?i)claude-3-haiku",
        "tiers": [{"name": "default", "prices": {"input": 2.5e-7}}]})
    seed_definition(store, "_meta", {
        "name": "meta nova", "match_pattern": "nova", "tiers": [{"name": "d", "prices": {}}]})
    with o2.http() as http:
        made = http.post("/api/default/llm/models", json={
            "name": "by hand", "match_pattern": "^mine", "tiers": [{"name": "d", "prices": {}}],
            "description": "made in the UI"})
        assert made.status_code == 201, made.text
    path = o2.project / "prices.yaml"
    text = path.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if "match: amazon.titan-text-lite-v1" in x)
    path.write_text(text.replace(line + "\n", ""), encoding="utf-8")

    deletes = [c for c in o2.plan("--prune") if c["action"] == "delete"]
    assert [c["key"] for c in deletes] == [["amazon.titan-text-lite-v1"]]
    assert o2("apply", "--auto-approve", "--prune").exit_code == 0
    names = {d["name"] for d in o2.definitions()}
    assert "by hand" in names and "amazon.titan-text-lite-v1" not in names
    with o2.http() as http:
        listed = json.dumps(http.get("/api/default/llm/models").json())
    assert "Claude 3 Haiku" in listed and "meta nova" in listed
    assert {c["action"] for c in o2.plan("--prune")} == {"noop"}


def test_switched_off_the_project_plans_no_model_prices_and_leaves_them_alone(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    config = o2.project / "o2kit.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "prices_sync: true", "prices_sync: false"), encoding="utf-8")
    assert o2.plan() == [] or {c["action"] for c in o2.plan()} == {"noop"}
    # --prune would delete them: o2kit made them and the code no longer declares them. That is
    # the documented way to remove them; without --prune nothing is written.
    assert o2("apply", "--auto-approve").exit_code == 0
    assert len(o2.definitions()) == len(_table(o2.project).models)


def test_the_fake_validates_as_the_server_does(o2: O2) -> None:
    with o2.http() as http:
        def post(body: dict[str, Any]) -> tuple[int, str]:
            r = http.post("/api/default/llm/models", json=body)
            return r.status_code, r.json()["message"] if r.status_code != 422 else r.text

        tier = [{"name": "d", "prices": {"input": 1e-6}}]
        assert post({"name": " ", "match_pattern": "x", "tiers": tier}) == (
            400, "Model name is required")
        assert post({"name": "a", "match_pattern": "(?<=x)y", "tiers": tier})[0] == 400
        assert post({"name": "a", "match_pattern": "a(", "tiers": tier})[1].startswith(
            "Invalid regex pattern:")
        assert post({"name": "a", "match_pattern": "a", "tiers": []}) == (
            400, "At least one pricing tier is required")
        assert post({"name": "a", "match_pattern": "a", "tiers": [
            {"name": "t", "condition": {"usage_key": "input", "value": 5}, "prices": {}}]}) == (
            400, "At least one tier must have no condition (default fallback)")
        assert post({"name": "a", "match_pattern": "a", "tiers": [
            {"name": "t", "prices": {"input": -1}}]}) == (
            400, "Price for 'input' in tier 't' must be >= 0, got -1.0")
        created = http.post("/api/default/llm/models", json={
            "id": "ignored", "name": "a", "match_pattern": "a", "tiers": tier})
        assert created.status_code == 201
        body = created.json()
        assert body["id"] != "ignored" and body["source"] == "org" and body["enabled"] is True
        assert "description" not in body and "valid_from" not in body
        assert post({"name": "a", "match_pattern": "b", "tiers": tier}) == (
            400, "A model pricing definition with name 'a' already exists in this organization")
        assert http.get("/api/default/llm/models/nope").status_code == 404
        built_in = seed_definition(o2.fake._store, "_openobserve", {
            "name": "b", "match_pattern": "b", "tiers": tier})
        assert http.put(f"/api/default/llm/models/{built_in['id']}",
                        json={"name": "b", "match_pattern": "b", "tiers": tier}).status_code == 404
        assert http.get(f"/api/default/llm/models/{built_in['id']}").status_code == 200
        assert http.delete(f"/api/default/llm/models/{body['id']}").json() == {
            "code": 200, "message": "Model pricing definition deleted"}


def test_normalize_survives_the_servers_round_trip(o2: O2) -> None:
    table = _table(o2.project)
    with o2.http() as http:
        for item in model_pricing_definitions(table)[:5]:
            r = http.post("/api/default/llm/models", json=item.body)
            assert r.status_code == 201, r.text
            live = r.json()
            assert SPEC.normalize(live) == SPEC.normalize(item.body)
            assert SPEC.normalize(SPEC.normalize(live)) == SPEC.normalize(live)


# ---- OpenObserve's selection rule, as written in src/db/src/model_pricing.rs -------------------


def _openobserve_cost(definitions: list[dict[str, Any]], model: str, span_us: int,
                      usage: dict[str, int]) -> float | None:
    """find_pricing_sync_at (sorted by sort_order then name; valid_from ≤ span; greatest
    valid_from wins, ties keep the first) + select_tier (tier_usage input = input + cache tokens)
    + calculate_cost (tokens × price per usage key)."""
    entries = sorted((d for d in definitions if d.get("enabled", True)),
                     key=lambda d: (d.get("sort_order", 0), d["name"]))
    best: dict[str, Any] | None = None
    for d in entries:
        if not re.search(d["match_pattern"], model):
            continue
        vf = d.get("valid_from")
        if vf is not None and vf > span_us:
            continue
        if best is None or (vf if vf is not None else -(2**63)) > (
                best.get("valid_from") if best.get("valid_from") is not None else -(2**63)):
            best = d
    if best is None:
        return None
    context = usage["input"] + usage["cache_read_input_tokens"] + usage[
        "cache_creation_input_tokens"]
    tier = next((t for t in best["tiers"] if t.get("condition") and context > t["condition"][
        "value"]), None) or next(t for t in best["tiers"] if not t.get("condition"))
    return sum(n * tier["prices"].get(k, 0.0) for k, n in usage.items())


def test_openobserve_prices_each_model_as_the_dashboards_do_across_periods() -> None:
    text = yaml.safe_dump({
        "currency": "USD", "effective_date": "2026-01-01", "checked_on": "2026-01-01",
        "source": "test", "models": [
            # A broad row whose price changes later, and narrower rows that must keep winning.
            {"match": "anthropic.claude", "input_per_1k": 0.01, "output_per_1k": 0.02,
             "periods": [{"from": "2026-06-01", "input_per_1k": 0.005, "output_per_1k": 0.01}]},
            {"match": "anthropic.claude-sonnet-4-5", "input_per_1k": 0.0033,
             "output_per_1k": 0.0165, "cache_read_multiplier": 0.1,
             "tiers": [{"above_input_tokens": 200000, "input_per_1k": 0.0066,
                        "output_per_1k": 0.02475}]},
            {"match": "global.anthropic.claude-sonnet-4-5", "input_per_1k": 0.003,
             "output_per_1k": 0.015,
             "periods": [{"from": "2026-09-01", "input_per_1k": 0.002, "output_per_1k": 0.01}]},
            {"match": "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/",
             "input_per_1k": 0.1, "output_per_1k": 0.1},
        ]}, sort_keys=False)
    table = parse_prices(*load_yaml(text, "prices.yaml"))
    definitions = [d.body for d in model_pricing_definitions(table)]
    models = ["anthropic.claude-3-haiku-20240307-v1:0", "us.anthropic.claude-3-haiku",
              "anthropic.claude-sonnet-4-5-20250929-v1:0", "eu.anthropic.claude-sonnet-4-5-x",
              "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
              "arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-"
              "sonnet-4-5-v1:0",
              "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc",
              "xanthropic.claude", "meta.llama3-8b"]
    days = ["2026-01-15", "2026-06-01", "2026-08-31", "2026-09-01", "2027-01-01"]
    checked = 0
    for model in models:
        for day in days:
            when = datetime.fromisoformat(day).replace(tzinfo=UTC)
            for tokens in ((1000, 500, 100, 10), (250000, 10, 0, 0)):
                want = table.cost_at(model, when, *tokens)
                usage = dict(zip(("input", "output", "cache_read_input_tokens",
                                  "cache_creation_input_tokens"), tokens, strict=True))
                got = _openobserve_cost(definitions, model, int(when.timestamp() * 1e6), usage)
                if want is None:
                    assert got is None, (model, day)
                else:
                    assert got == pytest.approx(float(want), rel=1e-9), (model, day, tokens)
                checked += 1
    assert checked == len(models) * len(days) * 2
    # The narrower global row got a definition at the broad row's period start as well.
    names = {d["name"] for d in definitions}
    assert "global.anthropic.claude-sonnet-4-5 from 2026-06-01" in names


def test_patterns_are_anchored_prefixes_that_compile() -> None:
    table = _table(Path(__file__).resolve().parents[1])
    for item in model_pricing_definitions(table):
        pattern = item.body["match_pattern"]
        assert pattern.startswith("^") and pattern_problem(pattern) is None
        assert match_of_pattern(pattern) == table.models[item.row].match
    assert pattern_problem("(?=a)") is not None and pattern_problem("a" * 513) is not None


def test_loader_places_each_definition_at_its_prices_yaml_row(project: Path) -> None:
    loaded = load_project(project)
    defs = [r for r in loaded.resources if r.kind == "model_price"]
    lines = (project / "prices.yaml").read_text(encoding="utf-8").splitlines()
    for r in defs:
        assert r.source is not None and r.source.file == "prices.yaml"
        assert f"match: {r.key[0]}," in lines[r.source.line - 1]


def test_init_switches_the_sync_on_and_an_existing_project_stays_off(tmp_path: Path) -> None:
    from o2kit.cli.scaffold import init_project

    init_project(tmp_path / "new")
    config = yaml.safe_load((tmp_path / "new" / "o2kit.yaml").read_text(encoding="utf-8"))
    assert config["prices_sync"] is True
    assert any(r.kind == "model_price" for r in load_project(tmp_path / "new").resources)
    shipped = copy_shipped_project(tmp_path / "old")
    assert not any(r.kind == "model_price" for r in load_project(shipped).resources)


def test_export_writes_the_orgs_definitions_as_a_price_table_that_round_trips(o2: O2) -> None:
    text = yaml.safe_dump({
        "currency": "USD", "effective_date": "2026-01-01", "checked_on": "2026-01-01",
        "source": "test", "models": [
            {"match": "anthropic.claude", "input_per_1k": 0.01, "output_per_1k": 0.02,
             "cache_read_multiplier": 0.1, "cache_write_multiplier": 1.25,
             "periods": [{"from": "2026-06-01", "input_per_1k": 0.005, "output_per_1k": 0.01}]},
            {"match": "global.anthropic.claude-sonnet-4-5", "input_per_1k": 0.003,
             "output_per_1k": 0.015,
             "tiers": [{"above_input_tokens": 200000, "input_per_1k": 0.006,
                        "output_per_1k": 0.0225}]},
        ]}, sort_keys=False)
    table = parse_prices(*load_yaml(text, "prices.yaml"))
    made = [d.body for d in model_pricing_definitions(table)]
    with o2.http() as http:
        for body in made:  # by hand (no o2kit marker), as another tool would have made them
            assert http.post("/api/default/llm/models", json=body).status_code == 201
        http.post("/api/default/llm/models", json={
            "name": "odd", "match_pattern": "(?i)gpt-4o", "tiers": [{"name": "d", "prices": {}}]})
    seed_definition(o2.fake._store, "_openobserve", {
        "name": "builtin", "match_pattern": "^x", "tiers": [{"name": "d", "prices": {}}]})
    result = o2("export", "--kind", "model_prices", "--all")
    # One definition could not be written as a row: said, with exit code 1 (as for any kind).
    assert result.exit_code == 1, result.output
    assert "odd" in result.output and "not a model-id prefix" in result.output
    assert "merge what you want of it" in result.output
    exported = (o2.project / "prices.exported.yaml").read_text(encoding="utf-8")
    assert "builtin" not in exported
    again = parse_prices(*load_yaml(exported, "prices.exported.yaml"))
    # The same definitions come out of the exported table (names, patterns, tiers, periods).
    redone = {d.name: d.body for d in model_pricing_definitions(again)}
    for body in made:
        want = {k: v for k, v in SPEC.normalize(body).items() if k != "description"}
        got = {k: v for k, v in SPEC.normalize(redone[body["name"]]).items()
               if k != "description"}
        assert got == want, body["name"]
    assert len(redone) == len(made)


def test_demo_of_a_project_with_the_sync_on_converges(project: Path) -> None:
    table = _table(project)
    result = CliRunner().invoke(cli.app, ["--project", str(project), "demo", "--minutes", "15"])
    assert result.exit_code == 0, result.output
    created = re.search(r"2\. Plan: (\d+) to create", result.output)
    assert created and int(created.group(1)) >= len(table.models)
    assert re.search(r"plan again: Plan: 0 to create, 0 to update, 0 to replace, 0 to delete",
                     result.output)


def test_a_hand_made_definition_with_a_rows_name_is_left_alone_until_adopted(o2: O2) -> None:
    with o2.http() as ui:
        made = ui.post("/api/default/llm/models", json={
            "name": "amazon.nova-pro-v1", "match_pattern": "nova-pro", "description": "by hand",
            "tiers": [{"name": "d", "prices": {"input": 1e-3}}]})
        assert made.status_code == 201
    assert o2("apply", "--auto-approve").exit_code == 0
    (mine,) = [d for d in o2.definitions() if d["name"] == "amazon.nova-pro-v1"]
    assert mine["match_pattern"] == "nova-pro" and mine["description"] == "by hand"
    (change,) = [c for c in o2.plan() if c["key"] == ["amazon.nova-pro-v1"]]
    assert change["action"] == "noop" and "--adopt" in change["reason"]
    assert o2("apply", "--auto-approve", "--adopt").exit_code == 0
    (mine,) = [d for d in o2.definitions() if d["name"] == "amazon.nova-pro-v1"]
    assert mine["match_pattern"].startswith("^") and "o2kit:" in mine["description"]
    assert {c["action"] for c in o2.plan()} == {"noop"}


def test_a_change_made_on_the_server_is_put_back_by_the_next_apply(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    (nova,) = [d for d in o2.definitions() if d["name"] == "amazon.nova-pro-v1"]
    edited = {**nova, "tiers": [{"name": "default", "prices": {"input": 1.0}}]}
    with o2.http() as ui:
        assert ui.put(f"/api/default/llm/models/{nova['id']}", json=edited).status_code == 200
    (change,) = [c for c in o2.plan() if c["key"] == ["amazon.nova-pro-v1"]]
    assert change["action"] == "update"
    assert o2("apply", "--auto-approve").exit_code == 0
    assert {c["action"] for c in o2.plan()} == {"noop"}


def test_definitions_the_server_lists_as_children_are_still_found(o2: O2) -> None:
    # The list nests a definition under an earlier one whose regex matches its literal prefix
    # (model_pricing.rs list/derive_test_string): an ARN row's pattern is all literal.
    arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc"
    path = o2.project / "prices.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "models:\n", f"models:\n  - {{match: '{arn}', input_per_1k: 1, output_per_1k: 1}}\n", 1),
        encoding="utf-8")
    with o2.http() as ui:
        assert ui.post("/api/default/llm/models", json={
            "name": "any arn", "match_pattern": "arn", "sort_order": -1,
            "tiers": [{"name": "d", "prices": {}}]}).status_code == 201
    assert o2("apply", "--auto-approve").exit_code == 0
    with o2.http() as ui:
        listed = ui.get("/api/default/llm/models").json()
    parent = next(d for d in listed if d["name"] == "any arn")
    assert [c["name"] for c in parent.get("children", [])] == [arn]
    assert {c["action"] for c in o2.plan()} == {"noop"}


def test_check_remote_compares_openobserves_prices_with_the_table(
    project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from o2kit.aws.synth import Scenario, generate
    from o2kit.query.engine import QueryEngine

    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    now_ms = int(time.time() * 1000)
    traffic = generate(Scenario(minutes=5, requests_per_minute=20.0), end_ms=now_ms, seed=4)
    post_traffic(fake, traffic)
    o2 = O2(project, fake, monkeypatch)
    assert o2("apply", "--auto-approve").exit_code == 0
    table = _table(project)
    priced = sorted(m for m in traffic.truth if table.price_for(m) is not None)
    assert priced
    result = o2("check", "--remote", "--minutes", "30")
    assert "OpenObserve prices" not in result.output, result.output

    # Someone edits one definition in the UI: check names the row it belongs to.
    match = table.price_for(priced[0]).match
    (edited,) = [d for d in o2.definitions() if d["name"] == match]
    with o2.http() as ui:
        assert ui.put(f"/api/default/llm/models/{edited['id']}", json={
            **edited, "tiers": [{"name": "default", "prices": {"input": 1.0}}]}).status_code == 200
    result = o2("check", "--remote", "--minutes", "30")
    row = next(i for i, r in enumerate(table.models) if r.match == match)
    assert f"warning: models[{row}]: OpenObserve prices {priced[0]} at 1000 for 1000 input" in (
        result.output), result.output
    assert result.output.count("OpenObserve prices ") == sum(
        1 for m in traffic.truth if (r := table.price_for(m)) is not None and r.match == match)


def test_the_fakes_price_test_follows_openobserves_rule(o2: O2) -> None:
    text = yaml.safe_dump({
        "currency": "USD", "effective_date": "2026-01-01", "checked_on": "2026-01-01",
        "source": "test", "models": [
            {"match": "anthropic.claude", "input_per_1k": 0.01, "output_per_1k": 0.02,
             "periods": [{"from": "2026-06-01", "input_per_1k": 0.005, "output_per_1k": 0.01}]},
            {"match": "global.anthropic.claude-sonnet-4-5", "input_per_1k": 0.003,
             "output_per_1k": 0.015,
             "tiers": [{"above_input_tokens": 200000, "input_per_1k": 0.006,
                        "output_per_1k": 0.0225}]}]}, sort_keys=False)
    definitions = [d.body for d in model_pricing_definitions(parse_prices(
        *load_yaml(text, "prices.yaml")))]
    with o2.http() as http:
        for body in definitions:
            assert http.post("/api/default/llm/models", json=body).status_code == 201
        for model in ("global.anthropic.claude-sonnet-4-5-v1:0", "us.anthropic.claude-3-haiku",
                      "meta.llama"):
            for day in ("2026-01-02", "2026-07-01"):
                ts = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1e6)
                for usage in ({"input": 1000, "output": 10}, {"input": 300000, "output": 10}):
                    answer = http.post("/api/default/llm/models/test", json={
                        "model_name": model, "usage": usage, "timestamp": ts}).json()
                    full = {**usage, "cache_read_input_tokens": 0,
                            "cache_creation_input_tokens": 0}
                    want = _openobserve_cost(definitions, model, ts, full)
                    assert answer["total_cost"] == pytest.approx(want or 0.0, rel=1e-12)
                    assert (answer["matched"] is None) == (want is None)
