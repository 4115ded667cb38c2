"""The ``slo`` kind (OpenObserve's native SLOs, ``/api/{org}/slos``) and its burn-rate alerts:
files, validation in the server's order, plan/apply/prune against the fake OpenObserve, ownership,
export; the shipped Bedrock SLOs' SQL against the synthetic traffic (ground truth computed in
Python from the generator's calls)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from o2_harness import O2 as Harness
from o2_harness import bedrock_fake
from shipped_project import REPO, copy_shipped_project

from o2kit.errors import ValidationFailed
from o2kit.fake import DEFAULT_USER, FakeOpenObserve
from o2kit.kinds import SPECS
from o2kit.kinds.slo import slo_id
from o2kit.project.loader import load_project
from o2kit.validate.rules import validate_resources


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = copy_shipped_project(tmp_path / "repo")
    if not (root / "slos").exists():
        shutil.copytree(REPO / "slos", root / "slos")
    return root


@pytest.fixture()
def fake() -> FakeOpenObserve:
    return bedrock_fake(11)


class O2(Harness):
    def plan(self, *args: str) -> dict[str, Any]:
        return self.plan_json(*args)


@pytest.fixture()
def o2(project: Path, fake: FakeOpenObserve, monkeypatch: pytest.MonkeyPatch) -> O2:
    return O2(project, fake, monkeypatch)


def _slos(o2: O2) -> dict[str, dict[str, Any]]:
    with o2.http() as ui:
        answer = ui.get("/api/default/slos")
        assert answer.status_code == 200, answer.text
        return {s["name"]: s for s in answer.json()["list"]}


def _slo_alerts(o2: O2) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in o2.fake.alerts()
            if a["query_condition"].get("type") == "slo"}


def _changes(plan: dict[str, Any], kind: str) -> Counter[str]:
    return Counter(c["action"] for c in plan["changes"] if c["kind"] == kind)


# ---- round trip ------------------------------------------------------------------------------


def test_plan_apply_plan_creates_the_slos_and_their_burn_rate_alerts_then_is_clean(o2: O2) -> None:
    plan = o2.plan()
    assert _changes(plan, "slo") == {"create": 2}
    result = o2("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    slos = _slos(o2)
    assert sorted(slos) == ["bedrock_availability", "bedrock_latency"]
    availability = slos["bedrock_availability"]
    # o2kit's own id, the project marker in the description, enabled, the server's fields.
    assert availability["id"] == slo_id("default", "bedrock_availability")
    assert "o2kit:bedrock-monitoring:" in availability["description"]
    assert availability["enabled"] is True and availability["definition_generation"] == 1
    assert availability["owner"] == DEFAULT_USER
    alerts = _slo_alerts(o2)
    assert sorted(alerts) == ["bedrock_availability_fast_burn", "bedrock_availability_slow_burn",
                              "bedrock_latency_fast_burn", "bedrock_latency_slow_burn"]
    fast = alerts["bedrock_availability_fast_burn"]["query_condition"]["slo_condition"]
    assert fast["slo_id"] == availability["id"]
    assert (fast["long_window_secs"], fast["short_window_secs"], fast["critical"]) == (
        3600, 300, 14.4)

    again = o2("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output  # in sync: the SLOs and their alerts read back equal


def test_a_ui_edit_of_the_target_is_one_field_of_drift_and_apply_restores_it(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    slo = _slos(o2)["bedrock_latency"]
    with o2.http() as ui:
        edited = {k: v for k, v in slo.items() if k != "status"}
        edited["target"] = 95
        assert ui.put(f"/api/default/slos/{slo['id']}", json=edited).status_code == 200
    plan = o2.plan()
    updates = [c for c in plan["changes"] if c["action"] == "update"]
    assert [(c["kind"], c["key"]) for c in updates] == [("slo", ["bedrock_latency"])]
    assert [f["path"] for f in updates[0]["fields"]] == ["target"]
    assert o2("apply", "--auto-approve").exit_code == 0
    assert _slos(o2)["bedrock_latency"]["target"] == 99


def test_prune_deletes_only_our_slo_and_the_server_takes_its_alerts_along(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    slos_file = o2.project / "slos" / "bedrock.yaml.j2"
    text = slos_file.read_text()
    head, _latency = text.split("\n# Latency:", 1)
    slos_file.write_text(head + "\n")
    # Another project's SLO and a hand-made one stay.
    with o2.http() as ui:
        theirs = {"name": "theirs", "description": "Managed by o2kit from git — changes made "
                  "here will be overwritten. [o2kit:team-b:0123456789ab]",
                  "sli_type": "count", "config": {"source": {"mode": "single_query", "query": {
                      "stream": "bedrock_logs", "stream_type": "logs", "good_expr": "a = 1"}}},
                  "window_secs": 604800, "slice_interval_secs": 60, "target": 99,
                  "enabled": True}
        assert ui.post("/api/default/slos", json=theirs).json()["code"] == 200
        hand = {**theirs, "name": "hand_made", "description": "made in the UI"}
        assert ui.post("/api/default/slos", json=hand).json()["code"] == 200
    plan = o2.plan("--prune")
    deletes = sorted((c["kind"], tuple(c["key"])) for c in plan["changes"]
                     if c["action"] == "delete")
    assert deletes == [("alert", ("Bedrock", "bedrock_latency_fast_burn")),
                       ("alert", ("Bedrock", "bedrock_latency_slow_burn")),
                       ("slo", ("bedrock_latency",))]
    result = o2("apply", "--auto-approve", "--prune", "--force")
    assert result.exit_code == 0, result.output
    assert sorted(_slos(o2)) == ["bedrock_availability", "hand_made", "theirs"]
    assert sorted(_slo_alerts(o2)) == ["bedrock_availability_fast_burn",
                                       "bedrock_availability_slow_burn"]
    assert o2("plan", "--detailed-exitcode", "--prune").exit_code == 0


def test_prune_keeps_an_slo_that_an_alert_we_do_not_own_still_points_at(o2: O2) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    latency = _slos(o2)["bedrock_latency"]
    # A UI user adds their own burn-rate alert on our SLO (no o2kit marker).
    with o2.http() as ui:
        body = {"name": "my_page", "stream_type": "logs", "stream_name": "",
                "is_real_time": False, "destinations": ["bedrock_slack"], "enabled": True,
                "query_condition": {"type": "slo", "slo_condition": {
                    "slo_id": latency["id"], "kind": "error_budget", "operator": ">=",
                    "critical": 50}},
                "trigger_condition": {"period": 0, "frequency": 5, "silence": 0,
                                      "threshold": 0, "operator": "="}}
        answer = ui.post("/api/v2/default/alerts", json=body)
        assert answer.status_code == 200, answer.text
    slos_file = o2.project / "slos" / "bedrock.yaml.j2"
    slos_file.write_text(slos_file.read_text().split("\n# Latency:", 1)[0] + "\n")
    plan = o2.plan("--prune")
    kept = [c for c in plan["changes"] if c["kind"] == "slo" and c["key"] == ["bedrock_latency"]]
    assert [c["action"] for c in kept] == ["noop"]
    assert "still used" in kept[0]["reason"]
    assert o2("apply", "--auto-approve", "--prune", "--force").exit_code == 0
    assert "bedrock_latency" in _slos(o2) and "my_page" in _slo_alerts(o2)


def test_an_slo_of_another_project_with_our_name_is_never_overwritten(o2: O2) -> None:
    with o2.http() as ui:
        theirs = {"name": "bedrock_latency", "description": "Managed by o2kit from git — changes "
                  "made here will be overwritten. [o2kit:team-b:0123456789ab]",
                  "sli_type": "count", "config": {"source": {"mode": "single_query", "query": {
                      "stream": "bedrock_logs", "stream_type": "logs", "good_expr": "a = 1"}}},
                  "window_secs": 604800, "slice_interval_secs": 60, "target": 90}
        assert ui.post("/api/default/slos", json=theirs).json()["code"] == 200
    plan = o2.plan()
    mine = [c for c in plan["changes"] if c["kind"] == "slo" and c["key"] == ["bedrock_latency"]]
    assert [c["action"] for c in mine] == ["noop"] and "team-b" in mine[0]["reason"]
    o2("apply", "--auto-approve")
    assert _slos(o2)["bedrock_latency"]["target"] == 90


def test_export_writes_an_slo_file_that_loads_back_to_the_same_slo(
        o2: O2, tmp_path: Path) -> None:
    assert o2("apply", "--auto-approve").exit_code == 0
    live = _slos(o2)["bedrock_availability"]
    files = SPECS["slo"].export_files(live)
    assert files is not None and [p for p, _ in files] == ["slos/bedrock_availability.yaml"]
    root = copy_shipped_project(tmp_path / "exported")
    shutil.rmtree(root / "slos", ignore_errors=True)
    (root / "slos").mkdir()
    (root / "slos" / "bedrock_availability.yaml").write_text(files[0][1])
    loaded = [r for r in load_project(root).resources if r.kind == "slo"]
    spec = SPECS["slo"]
    assert [r.key for r in loaded] == [("bedrock_availability",)]
    assert spec.normalize(loaded[0].body) == spec.normalize(live)


# ---- bad files -------------------------------------------------------------------------------


def _write(project: Path, text: str) -> None:
    shutil.rmtree(project / "slos")
    (project / "slos").mkdir()
    (project / "slos" / "bad.yaml").write_text(text)


GOOD_SLI = """  sli:
    stream: bedrock_logs
    scope: "message_schematype = 'ModelInvocationLog'"
    good: "message_errorcode IS NULL"
"""


def test_a_bad_file_names_file_line_and_field(project: Path) -> None:
    _write(project, "ok:\n" + GOOD_SLI + "  target: 99\n"
           "broken:\n  sli: {stream: bedrock_logs, good: 'a = 1'}\n  window: 1 week\n"
           "  target: 99\n  colour: red\n")
    with pytest.raises(ValidationFailed) as failed:
        load_project(project)
    got = sorted((p.file, p.line, p.field) for p in failed.value.problems)
    assert got == [("slos/bad.yaml", 9, "broken.window"), ("slos/bad.yaml", 11, "broken.colour")]


@pytest.mark.parametrize(("body", "field", "message"), [
    ("  target: 100\n", "target", "strictly below 100"),
    ("  target: 99.9999\n", "target", "more than 3 decimal places"),
    ("  target: 99\n  window: 14d\n", "window_secs", "supported rolling windows"),
    ("  target: 99\n  slice: 2m\n", "slice_interval_secs", "must be 60 or 300"),
    ("  target: 99\n  group_by: [message_modelid]\n", "slice_interval_secs",
     "pinned to 300s slices"),
])
def test_the_servers_rules_are_checked_offline(project: Path, body: str, field: str,
                                               message: str) -> None:
    _write(project, "s:\n" + GOOD_SLI + body)
    loaded = load_project(project)
    problems = [p for p in validate_resources(loaded.resources, loaded.config.config)
                if p.file == "slos/bad.yaml"]
    assert [(p.line, p.field) for p in problems] == [(1, field)]
    assert message in problems[0].message


@pytest.mark.parametrize(("good", "message"), [
    ("message_errorcode", "must be exactly one boolean expression"),
    ("json_get_int(x, 'a') > 1", "uses function `json_get_int`, which is not allowed"),
    ("a IN (SELECT b FROM c)", "must not contain a subquery"),
    ("a = 1; DROP TABLE x", "must not contain a statement separator"),
    ("starts_with(message_modelid, 'x')", "must be exactly one boolean expression"),
])
def test_query_safety_of_a_predicate_as_the_server_checks_it(project: Path, good: str,
                                                              message: str) -> None:
    _write(project, f's:\n  sli:\n    stream: bedrock_logs\n    good: "{good}"\n  target: 99\n')
    loaded = load_project(project)
    problems = [p for p in validate_resources(loaded.resources, loaded.config.config)
                if p.file == "slos/bad.yaml"]
    assert [p.field for p in problems] == ["config.source.query.good_expr"]
    assert message in problems[0].message


def test_a_predicate_on_an_undocumented_column_is_caught_by_the_sql_checks(project: Path) -> None:
    _write(project, 's:\n  sli:\n    stream: bedrock_logs\n    good: "message_errcode IS NULL"\n'
           "  target: 99\n")
    loaded = load_project(project)
    problems = [p for p in validate_resources(loaded.resources, loaded.config.config)
                if p.file == "slos/bad.yaml"]
    assert problems and "message_errcode" in problems[0].message


@pytest.mark.parametrize(("alert", "message"), [
    ("{burn_rate: 300, destinations: [bedrock_slack]}", "exceeds the maximum 100"),
    ("{long_window: 30m, burn_rate: 2, destinations: [bedrock_slack]}",
     "between 1 and 48 hours"),
    ("{long_window: 1h, short_window: 2h, burn_rate: 2, destinations: [bedrock_slack]}",
     "must not exceed the long window"),
    ("{burn_rate: 2, warning: 3, destinations: [bedrock_slack]}", "must be lower than critical"),
    ("{burn_rate: 2, destinations: [nowhere]}", "destination 'nowhere' is not defined"),
])
def test_burn_rate_alert_rules(project: Path, alert: str, message: str) -> None:
    _write(project, "s:\n" + GOOD_SLI + f"  target: 99\n  alerts:\n    s_burn: {alert}\n")
    with pytest.raises(ValidationFailed) as failed:
        load_project(project)
    assert [(p.file, p.line) for p in failed.value.problems] == [("slos/bad.yaml", 8)]
    assert message in failed.value.problems[0].message


# ---- the shipped SLIs on the synthetic traffic -------------------------------------------------


def _slice_counts(rows: list[dict[str, Any]], value: str = "zo_slo_value",
                  good: str | None = None) -> dict[int, tuple[int, int]]:
    """{slice start in epoch minutes: (good, total)} from the SLI query's rows."""
    import datetime as dt

    out: dict[int, tuple[int, int]] = {}
    for row in rows:
        start = dt.datetime.fromisoformat(str(row["slice_start"])).replace(tzinfo=dt.UTC)
        minute = int(start.timestamp()) // 60
        out[minute] = (int(row[good]) if good else 0, int(row[value]))
    return out


@pytest.mark.parametrize("limit_ms", [10000, 1500])
def test_the_shipped_slis_count_what_the_generator_made(tmp_path: Path, limit_ms: int) -> None:
    pytest.importorskip("datafusion")
    from o2kit.aws import synth
    from o2kit.query import check
    from o2kit.validate.slosafety import sli_queries

    root = copy_shipped_project(tmp_path / "p")
    text = (REPO / "slos" / "bedrock.yaml.j2").read_text()
    (root / "slos").mkdir(exist_ok=True)
    (root / "slos" / "bedrock.yaml.j2").write_text(
        text.replace("latency_limit_ms = 10000", f"latency_limit_ms = {limit_ms}"))
    project = load_project(root)
    assert not [p for p in validate_resources(project.resources, project.config.config)
                if p.is_error]
    slos = {r.key[0]: r.body for r in project.resources if r.kind == "slo"}
    now_ms = 1_787_223_600_000  # 2026-08-20T11:00:00Z
    scenario = synth.Scenario(minutes=60, requests_per_minute=30, log_throttles=True,
                              throttle_rate=0.05, client_error_rate=0.03, server_error_rate=0.02)
    rows, traffic = check.synthetic_rows(project.config.config, now_ms=now_ms, seed=3,
                                         scenario=scenario)
    run = check.local_runner(rows)
    start_us, end_us = (now_ms - 3_600_000) * 1000, now_ms * 1000

    # Ground truth from the calls: per one-minute slice of the call's time.
    logged = [i for i in traffic.invocations if i.record is not None]
    want_availability: dict[int, list[int]] = {}
    want_latency: dict[int, list[int]] = {}
    for call in logged:
        minute = call.time_ms // 60_000
        cell = want_availability.setdefault(minute, [0, 0])
        cell[0] += call.error_code is None
        cell[1] += 1
        if call.outcome == "success" and call.operation == "Converse":
            assert call.latency_ms is not None
            lat = want_latency.setdefault(minute, [0, 0])
            lat[0] += call.latency_ms < limit_ms
            lat[1] += 1
    assert any(c.error_code == "ThrottlingException" for c in logged)

    (count_sql,) = sli_queries(slos["bedrock_availability"]).values()
    got = _slice_counts(run(count_sql, start_us, end_us), good="zo_slo_good")
    assert got == {m: tuple(v) for m, v in want_availability.items()}
    good_total = sum(g for g, _ in got.values()), sum(t for _, t in got.values())
    assert 0 < good_total[0] < good_total[1]

    queries = sli_queries(slos["bedrock_latency"])
    good = _slice_counts(run(queries["good"], start_us, end_us))
    total = _slice_counts(run(queries["total"], start_us, end_us))
    assert {m: (good[m][1], total[m][1]) for m in total} == {
        m: tuple(v) for m, v in want_latency.items()}
    if limit_ms == 1500:  # a limit the generator's latencies cross often
        assert sum(v[0] for v in want_latency.values()) < sum(v[1] for v in want_latency.values())


def test_the_shipped_slis_through_the_ingest_pipeline_count_what_the_generator_made(
        tmp_path: Path) -> None:
    """With `ingest.pipeline` on, both SLIs are single queries on the typed columns, and the
    latency SLI reads ConverseStream calls too (their latency is in the stream's metadata
    event)."""
    pytest.importorskip("datafusion")
    pytest.importorskip("vrl_python")
    from o2kit.aws import synth
    from o2kit.query import check, functiontest
    from o2kit.validate.slosafety import sli_queries

    root = copy_shipped_project(tmp_path / "p")
    shutil.rmtree(root / "slos", ignore_errors=True)
    shutil.copytree(REPO / "slos", root / "slos")
    shutil.copytree(REPO / "functions", root / "functions")
    config_file = root / "o2kit.yaml"
    config_file.write_text(config_file.read_text() + "\ningest:\n  pipeline: true\n")
    project = load_project(root)
    assert not [p for p in validate_resources(project.resources, project.config.config)
                if p.is_error]
    slos = {r.key[0]: r.body for r in project.resources if r.kind == "slo"}
    assert {b["config"]["source"]["mode"] for b in slos.values()} == {"single_query"}
    now_ms = 1_787_223_600_000
    scenario = synth.Scenario(minutes=30, requests_per_minute=30, log_throttles=True,
                              throttle_rate=0.05, client_error_rate=0.03, server_error_rate=0.02)
    config = project.config.config
    rows, traffic = check.synthetic_rows(config, now_ms=now_ms, seed=4, scenario=scenario,
                                         functions=functiontest.pipeline_functions(root, config))
    run = check.local_runner(rows)
    start_us, end_us = (now_ms - 1_800_000) * 1000, now_ms * 1000
    logged = [i for i in traffic.invocations if i.record is not None]
    availability: dict[int, list[int]] = {}
    latency: dict[int, list[int]] = {}
    for call in logged:
        minute = call.time_ms // 60_000
        cell = availability.setdefault(minute, [0, 0])
        cell[0] += call.error_code is None
        cell[1] += 1
        if call.outcome == "success" and call.operation in ("Converse", "ConverseStream"):
            assert call.latency_ms is not None
            lat = latency.setdefault(minute, [0, 0])
            lat[0] += call.latency_ms < 10000
            lat[1] += 1
    assert any(c.operation == "ConverseStream" for c in logged)
    for name, want in (("bedrock_availability", availability), ("bedrock_latency", latency)):
        (sql,) = sli_queries(slos[name]).values()
        got = _slice_counts(run(sql, start_us, end_us), good="zo_slo_good")
        assert got == {m: tuple(v) for m, v in want.items()}, name


def test_an_adopted_slo_keeps_its_id_and_its_burn_rate_alerts_point_at_it(o2: O2) -> None:
    # Made in the UI before the repository declared it: the server chose its id.
    with o2.http() as ui:
        made = {"name": "bedrock_latency", "description": "made by hand", "sli_type": "count",
                "config": {"source": {"mode": "single_query", "query": {
                    "stream": "bedrock_logs", "stream_type": "logs", "good_expr": "a = 1"}}},
                "window_secs": 604800, "slice_interval_secs": 60, "target": 90}
        answer = ui.post("/api/default/slos", json=made).json()
    live_id = answer["id"]
    assert live_id != slo_id("default", "bedrock_latency")
    plan = o2.plan("--adopt")
    adopted = [c for c in plan["changes"] if c["kind"] == "slo"
               and c["key"] == ["bedrock_latency"]]
    assert [c["action"] for c in adopted] == ["update"]
    result = o2("apply", "--auto-approve", "--adopt")
    assert result.exit_code == 0, result.output
    latency = _slos(o2)["bedrock_latency"]
    assert latency["id"] == live_id and latency["target"] == 99
    conditions = {name: a["query_condition"]["slo_condition"]["slo_id"]
                  for name, a in _slo_alerts(o2).items()}
    assert conditions["bedrock_latency_fast_burn"] == live_id
    assert conditions["bedrock_availability_fast_burn"] == slo_id("default",
                                                                  "bedrock_availability")
    again = o2("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output


def test_a_budget_refusal_sent_inside_an_http_200_is_a_failure(o2: O2) -> None:
    # SloError::Budget is code 413, which HttpResponse::into_response sends with HTTP 200.
    o2.fake._store.objects["slo_budget"] = {("default", "max_slos"): 1}
    result = o2("apply", "--auto-approve")
    assert result.exit_code != 0
    assert "413" in result.output and "budget" in result.output
    assert len(_slos(o2)) == 1
