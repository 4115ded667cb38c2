"""Per-kind knowledge: normalisation (server rewrites, defaults), ownership markers, payloads."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from test_kinds_samples import (
    desired_alert,
    desired_dashboard,
    desired_destination,
    desired_email_destination,
    desired_folder,
    desired_template,
    live_alert,
    live_dashboard,
    live_destination,
    live_email_destination,
    live_folder,
    live_template,
    res,
)

from o2kit import kinds
from o2kit.kinds import ALERT_MARKER_TAG, MARKER_TEXT, SPECS
from o2kit.model import KINDS
from o2kit.sync.diff import diff

PAIRS = [
    ("folder", desired_folder, live_folder),
    ("template", desired_template, live_template),
    ("destination", desired_destination, live_destination),
    ("destination", desired_email_destination, live_email_destination),
    ("dashboard", desired_dashboard, live_dashboard),
    ("alert", desired_alert, live_alert),
]
PAIR_IDS = ["folder", "template", "http-destination", "email-destination", "dashboard", "alert"]


def norm(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return SPECS[kind].normalize(body)


@pytest.mark.parametrize(("kind", "desired", "live"), PAIRS, ids=PAIR_IDS)
def test_desired_equals_what_the_server_returns(kind: str, desired: Any, live: Any) -> None:
    assert diff(norm(kind, live()), norm(kind, desired())) == []


@pytest.mark.parametrize(("kind", "desired", "live"), PAIRS, ids=PAIR_IDS)
def test_normalize_is_idempotent(kind: str, desired: Any, live: Any) -> None:
    for body in (desired(), live()):
        once = norm(kind, body)
        assert norm(kind, once) == once


@pytest.mark.parametrize(("kind", "desired", "live"), PAIRS, ids=PAIR_IDS)
def test_normalize_does_not_mutate_its_input(kind: str, desired: Any, live: Any) -> None:
    body = live()
    before = copy.deepcopy(body)
    norm(kind, body)
    assert body == before


@pytest.mark.parametrize(("kind", "desired", "live"), PAIRS, ids=PAIR_IDS)
def test_payload_round_trips_to_the_desired_body(kind: str, desired: Any, live: Any) -> None:
    """What o2kit sends, once the server echoes it, compares equal to the code (marker included)."""
    want = res(kind, ("k", "k"), desired())
    have = res(kind, ("k", "k"), live(), server_id="id-1")
    for payload in (SPECS[kind].payload(want, None), SPECS[kind].payload(want, have)):
        assert norm(kind, payload) == norm(kind, desired())


@pytest.mark.parametrize(("kind", "desired", "live"), PAIRS, ids=PAIR_IDS)
def test_payload_leaves_the_desired_and_live_bodies_as_they_were(
    kind: str, desired: Any, live: Any
) -> None:
    """A payload may share members with the desired body (the dashboard's does, to spare a
    deep copy of ~250 KB), so neither making it nor marking it may change the bodies."""
    want = res(kind, ("k", "k"), desired())
    have = res(kind, ("k", "k"), live(), server_id="id-1")
    before = (copy.deepcopy(want.body), copy.deepcopy(have.body))
    for payload in (SPECS[kind].payload(want, None, "proj"),
                    SPECS[kind].payload(want, have, "proj")):
        json.dumps(payload)  # only JSON data goes out
    assert (want.body, have.body) == before


def test_every_kind_has_one_spec_in_apply_order() -> None:
    # The built-in kinds keep their order; kinds registered by their own module slot in between
    # by their ``order`` number.
    assert [k for k in SPECS if k in KINDS] == list(KINDS)
    orders = [SPECS[k].order for k in SPECS]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert tuple(SPECS) == kinds.APPLY_ORDER


def test_every_table_row_cites_the_openobserve_source() -> None:
    for spec in SPECS.values():
        for row in (*spec.defaults, *spec.rewrites):
            assert row.source.startswith("src/"), (spec.kind, row)


# --- dashboards ------------------------------------------------------------------------------


def test_dashboard_numbers_compare_numerically_and_null_equals_absent() -> None:
    a = {
        "title": "t",
        "tabs": [
            {
                "tabId": "a",
                "name": "A",
                "panels": [{"id": "p", "config": {"decimals": 2, "legends_position": None}}],
            }
        ],
    }
    b = {
        "title": "t",
        "tabs": [{"tabId": "a", "name": "A", "panels": [{"id": "p", "config": {"decimals": 2.0}}]}],
    }
    assert norm("dashboard", a) == norm("dashboard", b)


def test_dashboard_real_differences_survive_normalisation() -> None:
    live = live_dashboard()
    live["tabs"][0]["panels"][1]["config"]["decimals"] = 3.0
    changes = diff(norm("dashboard", live), norm("dashboard", desired_dashboard()))
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("tabs[0].panels[1].config.decimals", 3, 2)
    ]


def test_dashboard_server_owned_fields_and_marker_are_ignored() -> None:
    body = norm("dashboard", live_dashboard())
    for key in ("dashboardId", "owner", "created", "role", "version"):
        assert key not in body
    assert body["description"] == "Invocations, latency and errors"
    assert body["title"] == "Bedrock overview"


def test_dashboard_defaults_fill_what_the_server_materialises() -> None:
    body = norm(
        "dashboard",
        {
            "title": "t",
            "tabs": [
                {
                    "tabId": "a",
                    "name": "A",
                    "panels": [{"id": "p", "queries": [{"fields": {"x": [], "y": []}}]}],
                }
            ],
        },
    )
    panel = body["tabs"][0]["panels"][0]
    assert panel["queryType"] == ""
    assert panel["queries"][0]["fields"]["z"] == []
    assert body["description"] == ""
    assert "variables" not in body  # an optional object is not invented


def test_dashboard_payload_carries_live_identity_and_the_marker() -> None:
    want = res("dashboard", ("Bedrock", "Bedrock overview"), desired_dashboard())
    have = res("dashboard", want.key, live_dashboard(), server_id="7400000000000000001")
    put = SPECS["dashboard"].payload(want, have)
    assert put["owner"] == "ci@example.com"
    assert put["created"] == "2026-01-05T10:00:00Z"
    assert put["dashboardId"] == "7400000000000000001"
    assert put["version"] == 8
    assert put["description"] == "Invocations, latency and errors\n\n" + MARKER_TEXT
    post = SPECS["dashboard"].payload(want, None)
    assert "owner" not in post and "dashboardId" not in post and "created" not in post
    assert MARKER_TEXT in post["description"]
    assert "version" not in want.body or want.body["version"] == 8  # desired left untouched


def test_dashboard_marker_with_empty_description_and_no_duplicate_marker() -> None:
    body = desired_dashboard()
    body["description"] = ""
    assert (
        SPECS["dashboard"].payload(res("dashboard", ("f", "t"), body), None)["description"]
        == MARKER_TEXT
    )
    body["description"] = "x\n\n" + MARKER_TEXT  # e.g. copied from an export
    assert (
        SPECS["dashboard"].payload(res("dashboard", ("f", "t"), body), None)["description"]
        == "x\n\n" + MARKER_TEXT
    )


def test_dashboard_ownership() -> None:
    assert SPECS["dashboard"].is_managed(live_dashboard())
    assert not SPECS["dashboard"].is_managed(desired_dashboard())
    assert not SPECS["dashboard"].is_managed({"title": "t"})


# --- alerts ----------------------------------------------------------------------------------


def test_alert_every_key_defaulted() -> None:
    minimal = norm("alert", {"name": "a", "stream_name": "s", "destinations": ["d"]})
    assert minimal["enabled"] is False
    assert minimal["stream_type"] == "logs"
    assert minimal["trigger_condition"]["align_time"] is True
    assert minimal["trigger_condition"]["frequency_type"] == "minutes"
    assert minimal["query_condition"]["type"] == "custom"
    assert minimal["row_template_type"] == "String"
    assert minimal["tags"] == []


def test_alert_frequency_zero_reads_back_as_one_minute_and_cron_is_cleared() -> None:
    tc = norm("alert", {"trigger_condition": {"frequency": 0, "cron": "0 * * * * *"}})[
        "trigger_condition"
    ]
    assert tc["frequency"] == 1 and tc["cron"] == ""
    tc = norm("alert", {"trigger_condition": {"frequency": 5}})["trigger_condition"]
    assert tc["frequency"] == 5


def test_alert_cron_with_wildcard_seconds() -> None:
    desired = {"trigger_condition": {"frequency_type": "cron", "cron": "* */10 * * * *"}}
    # The server stores the second of the request; o2kit sends "0" so that it reads back "0".
    live = {
        "trigger_condition": {"frequency_type": "cron", "cron": "0 */10 * * * *", "frequency": 0}
    }
    assert norm("alert", desired)["trigger_condition"] == norm("alert", live)["trigger_condition"]
    payload = SPECS["alert"].payload(res("alert", ("f", "a"), desired), None)
    assert payload["trigger_condition"]["cron"] == "0 */10 * * * *"
    other = {"trigger_condition": {"frequency_type": "cron", "cron": "37 */10 * * * *"}}
    assert norm("alert", other) != norm("alert", desired)


def test_alert_tags_lowercased_deduplicated_sorted_and_marker_removed() -> None:
    body = norm("alert", {"tags": ["Prod", " prod", "b:x", "", ALERT_MARKER_TAG.upper()]})
    assert body["tags"] == ["b:x", "prod"]


def test_alert_condition_arrays_become_and_nodes_at_any_depth() -> None:
    leaf = {"column": "a", "operator": "=", "value": 1}
    body = norm("alert", {"query_condition": {"conditions": {"or": [[leaf], leaf]}}})
    full = {**leaf, "ignore_case": False}
    assert body["query_condition"]["conditions"] == {"or": [{"and": [full]}, full]}


def test_alert_v2_conditions_drop_keys_the_server_does_not_store() -> None:
    cond = {
        "filterType": "condition",
        "type": "condition",
        "column": "level",
        "operator": "=",
        "value": "error",
        "logicalOperator": "AND",
    }
    group = {"filterType": "group", "logicalOperator": "AND", "conditions": [cond]}
    body = norm("alert", {"query_condition": {"conditions": {"version": 2, "conditions": group}}})
    stored = body["query_condition"]["conditions"]["conditions"]["conditions"][0]
    assert "type" not in stored and stored["column"] == "level"


def test_alert_vrl_is_compared_decoded_and_terminated() -> None:
    written = base64.b64encode(b".x = 1").decode()
    stored = base64.b64encode(b".x = 1\n.").decode().replace("=", ".")
    a = norm("alert", {"query_condition": {"vrl_function": written}})
    b = norm("alert", {"query_condition": {"vrl_function": stored}})
    assert a == b
    dot = norm("alert", {"query_condition": {"vrl_function": base64.b64encode(b" . ").decode()}})
    assert "vrl_function" not in dot["query_condition"]
    other = norm("alert", {"query_condition": {"vrl_function": base64.b64encode(b".y=2").decode()}})
    assert other != a


def test_alert_disabled_deduplication_disappears_enabled_stays() -> None:
    assert "deduplication" not in norm(
        "alert", {"deduplication": {"enabled": False, "time_window_minutes": 5}}
    )
    kept = norm("alert", {"deduplication": {"enabled": True}})["deduplication"]
    assert kept == {"enabled": True, "fingerprint_fields": []}


def test_alert_empty_optionals_equal_absent() -> None:
    a = norm(
        "alert",
        {
            "template": "",
            "context_attributes": {},
            "query_condition": {"sql": ""},
            "trigger_condition": {"timezone": ""},
        },
    )
    assert a == norm("alert", {})


def test_alert_destinations_alias_and_order() -> None:
    a = norm("alert", {"alert_destinations": ["b", "a"]})
    assert a == norm("alert", {"destinations": ["a", "b"]})


def test_alert_payload_marks_once_and_carries_id_only_on_update() -> None:
    body = desired_alert()
    body["tags"].append(ALERT_MARKER_TAG)
    want = res("alert", ("Bedrock", "bedrock_error_rate"), body)
    post = SPECS["alert"].payload(want, None)
    assert post["tags"].count(ALERT_MARKER_TAG) == 1 and "id" not in post
    put = SPECS["alert"].payload(want, res("alert", want.key, live_alert(), server_id="2bY"))
    assert put["id"] == "2bY"
    assert SPECS["alert"].is_managed(put)
    assert kinds.is_managed_alert_item({"alert_id": "x", "tags": ["prod", ALERT_MARKER_TAG]})
    assert not kinds.is_managed_alert_item({"alert_id": "x", "tags": None})


def test_alert_real_change_is_seen() -> None:
    live = live_alert()
    live["trigger_condition"]["threshold"] = 5
    changes = diff(norm("alert", live), norm("alert", desired_alert()))
    assert [(c.path, c.old, c.new) for c in changes] == [("trigger_condition.threshold", 5, 1)]


# --- destinations ----------------------------------------------------------------------------


def test_destination_defaults_and_marker() -> None:
    assert norm("destination", {"name": "d", "url": "https://x"}) == norm(
        "destination",
        {
            "name": "d",
            "url": "https://x",
            "type": "http",
            "method": "post",
            "skip_tls_verify": False,
            "emails": [],
            "metadata": {},
            "headers": {},
        },
    )
    assert SPECS["destination"].is_managed(live_destination())
    assert not SPECS["destination"].is_managed(desired_destination())
    payload = SPECS["destination"].payload(res("destination", ("d",), desired_destination()), None)
    assert payload["metadata"] == {"managed-by": "o2kit"}


def test_prebuilt_destination_implies_server_template() -> None:
    desired = {
        "name": "slack",
        "url": "https://hooks.slack.com/x",
        "destination_type_name": "slack",
    }
    live = {**desired, "template": "prebuilt_slack"}
    assert norm("destination", desired) == norm("destination", live)
    custom = {**desired, "destination_type_name": "custom"}
    assert "template" not in norm("destination", custom)


def test_email_destination_cannot_carry_a_marker() -> None:
    spec = SPECS["destination"]
    assert not spec.can_mark(live_email_destination())
    payload = spec.payload(res("destination", ("oncall_mail",), desired_email_destination()), None)
    assert "managed-by" not in payload.get("metadata", {})
    assert not spec.is_managed({**live_email_destination(), "metadata": {"managed-by": "o2kit"}})


def test_destination_secret_paths() -> None:
    spec = SPECS["destination"]
    assert spec.is_secret(["url"])
    assert spec.is_secret(["headers", "Authorization"])
    assert spec.is_secret(["headers"])  # a whole headers object holds secrets
    assert not spec.is_secret(["template"])
    assert not spec.is_secret(["metadata", "render_format"])


# --- templates and folders -------------------------------------------------------------------


def test_template_defaults_and_title_only_for_email() -> None:
    assert norm("template", {"name": "t", "body": "b", "title": "ignored"}) == norm(
        "template",
        {
            "name": "t",
            "body": "b",
            "type": "http",
            "kind": "custom",
            "title": "",
            "isDefault": True,
            "isPrebuilt": False,
        },
    )
    email = norm("template", {"name": "t", "body": "b", "type": "email", "title": "Alert!"})
    assert email["title"] == "Alert!"


def test_template_payload_always_sends_kind() -> None:
    payload = SPECS["template"].payload(res("template", ("t",), {"name": "t", "body": "b"}), None)
    assert payload["kind"] == "custom"
    assert not SPECS["template"].can_mark(live_template())
    assert not SPECS["template"].is_managed(live_template())


def test_folder_marker_and_payload() -> None:
    spec = SPECS["folder"]
    assert spec.is_managed(live_folder()) and not spec.is_managed(desired_folder())
    payload = spec.payload(
        res("folder", ("dashboards", "Bedrock"), desired_folder()),
        res("folder", ("dashboards", "Bedrock"), live_folder(), server_id="7395551234567890123"),
    )
    assert payload == {
        "name": "Bedrock",
        "folderId": "7395551234567890123",
        "description": "AWS Bedrock monitoring\n\n" + MARKER_TEXT,
    }


def test_system_objects() -> None:
    assert kinds.is_system("folder", {"folderId": "default", "name": "default"})
    assert not kinds.is_system("folder", live_folder())
    assert kinds.is_system("template", {"name": "prebuilt_slack", "isPrebuilt": True})
    assert kinds.is_system("template", {"name": "o2_default_content"})
    assert not kinds.is_system("template", {"name": "prebuilt_mine", "isPrebuilt": False})
    shared = {"name": "team_tpl", "isDefault": True}
    assert kinds.is_system("template", shared, org="acme")
    assert not kinds.is_system("template", shared, org="default")
    assert not kinds.is_system("template", shared)
    assert kinds.is_builtin_key("folder", ("dashboards", "default"))
    assert not kinds.is_builtin_key("folder", ("dashboards", "Bedrock"))


def test_dashboard_tagged_variant_default() -> None:
    def body(config: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "title": "t",
            "tabs": [
                {
                    "tabId": "a",
                    "name": "A",
                    "panels": [{"id": "p", "config": {"override_config": [{"config": config}]}}],
                }
            ],
        }

    assert norm("dashboard", body([{"type": "unique_value_color"}])) == norm(
        "dashboard", body([{"type": "unique_value_color", "autoColor": False}])
    )
    assert (
        "autoColor"
        not in norm("dashboard", body([{"type": "unit"}]))["tabs"][0]["panels"][0]["config"][
            "override_config"
        ][0]["config"][0]
    )


def test_key_parts_fill_a_body_that_left_them_out() -> None:
    desired = res("dashboard", ("Bedrock", "Overview"), {"tabs": []})
    assert SPECS["dashboard"].complete(desired)["title"] == "Overview"
    assert SPECS["dashboard"].payload(desired, None)["title"] == "Overview"
    folder = res("folder", ("alerts", "Bedrock"), {"description": ""})
    assert SPECS["folder"].complete(folder) == {"description": "", "name": "Bedrock"}
    alert = res("alert", ("Bedrock", "a1"), {"name": "kept"})
    assert SPECS["alert"].complete(alert)["name"] == "kept"
    assert desired.body == {"tabs": []}  # the resource is left as it was


# --- project identity in markers ----------------------------------------------------------------


@pytest.mark.parametrize("kind,key,body", [
    ("dashboard", ("Bedrock", "Overview"), {"title": "Overview", "description": "x"}),
    ("folder", ("dashboards", "Bedrock"), {"name": "Bedrock", "description": ""}),
    ("alert", ("Bedrock", "Throttles"), {"name": "Throttles", "tags": ["Prod"]}),
    ("destination", ("slack",), {"name": "slack", "type": "http", "url": "https://h.example"}),
])
def test_identity_marker_names_project_and_key_and_normalises_away(
    kind: str, key: tuple[str, ...], body: dict
) -> None:
    from o2kit.model import Resource

    spec = SPECS[kind]
    payload = spec.payload(Resource(kind, key, body), None, "team-a")
    marker = spec.marker_of(payload)
    assert (marker.state, marker.project, marker.digest) == (
        "token", "team-a", kinds.key_digest(kind, key))
    assert spec.normalize(payload) == spec.normalize(spec.payload(Resource(kind, key, body), None))
    assert spec.normalize(spec.normalize(payload)) == spec.normalize(payload)
    assert spec.marker_of(spec.payload(Resource(kind, key, body), None)).state == "legacy"
    assert spec.marker_of(body).state == "none"


def test_kv_key_round_trips_any_name() -> None:
    for name in ("bedrock_slack", "Ops: page me!", "日本"):
        text = kinds.kv_key("team-a", "template", (name,))
        assert set(text) <= set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        assert kinds.parse_kv_key(text) == ("team-a", "template", (name,))
    assert kinds.parse_kv_key("o2kit.Team.template.00") is None
    assert kinds.parse_kv_key("other.key") is None
