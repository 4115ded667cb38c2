"""The fast paths of plan give the value of the straightforward ones.

``build_plan`` compares digests of the normalised bodies first and diffs field by field only
where they differ; ``kinds.canonical`` avoids a call per leaf; ``plan_checksum`` reuses the
digests the plan computed. Each is checked here against the plain definition on generated bodies:
the sample desired/live sets of ``test_kinds_samples`` mutated at random paths (values that
differ only as 1 vs 1.0, True vs 1, None vs absent, reordered lists…).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from o2_harness import O2, WEBHOOK, bedrock_fake
from shipped_project import copy_shipped_project
from test_kinds_samples import desired_set, live_set

from o2kit import kinds
from o2kit.model import Plan, Resource
from o2kit.sync import plan as planmod
from o2kit.sync.client import decode_json, encode_json
from o2kit.sync.diff import diff

# --- canonical -----------------------------------------------------------------------------------


def _reference_canonical(value: Any) -> Any:
    """The plain recursive definition ``kinds.canonical`` must keep to."""
    if isinstance(value, dict):
        return {str(k): _reference_canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_reference_canonical(v) for v in value]
    if type(value) is float and value.is_integer():
        return int(value)
    return value


class _SubDict(dict):  # type: ignore[type-arg]
    pass


SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True) | st.text(max_size=5)
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=3) | st.integers(0, 3), inner, max_size=4)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3).map(_SubDict)
    ),
    max_leaves=25,
)


def _typed(value: Any) -> Any:
    """``value`` with every leaf tagged with its type, so 1 and 1.0, True and 1, and two NaNs
    compare as they are."""
    if isinstance(value, dict):
        return ("dict", type(value) is dict, {k: _typed(v) for k, v in value.items()})
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return (type(value).__name__, value)


@given(JSONISH)
def test_canonical_is_the_plain_recursive_definition(value: Any) -> None:
    assert _typed(kinds.canonical(value)) == _typed(_reference_canonical(value))


def _containers(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [id(value), *(i for v in value.values() for i in _containers(v))]
    if isinstance(value, list):
        return [id(value), *(i for v in value for i in _containers(v))]
    return []


@given(JSONISH)
def test_payload_copy_is_a_deep_copy(value: Any) -> None:
    """``kinds.spec._copy_json`` (payloads) gives what ``copy.deepcopy`` gives, sharing no list
    or dict with its argument."""
    from o2kit.kinds.spec import _copy_json

    copied = _copy_json(value)
    assert _typed(copied) == _typed(copy.deepcopy(value))
    assert not set(_containers(copied)) & set(_containers(value))


# --- plan: hash first, diff where the digests differ ----------------------------------------

LEAVES = st.sampled_from(
    [None, 0, 1, 1.0, 2.5, True, False, "", "x", "Bedrock overview", [], {}]
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate(body: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for _ in range(data.draw(st.integers(0, 3))):
        paths = _paths(body)[1:]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        op = data.draw(st.sampled_from(["set", "delete", "reverse", "float", "add"]))
        last = path[-1]
        if op == "set":
            parent[last] = copy.deepcopy(data.draw(LEAVES))
        elif op == "delete":
            del parent[last]
        elif op == "reverse" and isinstance(parent[last], list):
            parent[last].reverse()
        elif op == "float" and type(parent[last]) is int:
            parent[last] = float(parent[last])
        elif op == "add" and isinstance(parent[last], dict):
            name = data.draw(st.sampled_from(["extra", "id", "name"]))
            parent[last][name] = copy.deepcopy(data.draw(LEAVES))
    return body


def _straightforward_fields(change: Any) -> tuple[Any, ...]:
    """What plan computed before the digests: normalise both sides, diff, mark secret paths."""
    spec = kinds.SPECS[change.kind]
    old = spec.normalize(change.live.body)
    new = spec.normalize(spec.complete(change.desired))
    return planmod._mark_secrets(change.kind, diff(old, new))


def _without_digests(plan: Plan) -> Plan:
    return dataclasses.replace(
        plan, changes=tuple(dataclasses.replace(c, digests=(None, None)) for c in plan.changes)
    )


def _mutated_sets(data: st.DataObject) -> tuple[list[Resource], list[Resource]]:
    desired = [
        dataclasses.replace(r, body=_mutate(r.body, data)) if data.draw(st.booleans()) else r
        for r in desired_set()
    ]
    live = [
        dataclasses.replace(r, body=_mutate(r.body, data)) if data.draw(st.booleans()) else r
        for r in live_set()
    ]
    return desired, live


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_plan_is_the_straightforward_diff(data: st.DataObject) -> None:
    desired, live = _mutated_sets(data)
    try:
        plan = planmod.build_plan(desired, live, org="default")
    except Exception as exc:  # a mutation may make a body the kinds refuse: same either way
        assert type(exc).__name__ in ("PlanError", "TypeError", "AttributeError", "KeyError")
        return
    compared = 0
    for change in plan.changes:
        if change.desired is None or change.live is None or change.action == "delete":
            continue
        if change.reason.startswith(("exists", "not ours", "a copy", "ours, but")):
            continue  # not ours: never compared
        expected = _straightforward_fields(change)
        assert change.fields == expected
        if change.action == "noop":
            assert expected == () and change.reason == planmod.IN_SYNC
        compared += 1
    # The checksum from the plan's own digests is the one computed from the bodies.
    assert planmod.plan_checksum(plan) == planmod.plan_checksum(_without_digests(plan))
    # Digests known from an earlier run (the CLI's cache) give the same plan.
    known = {(r.kind, r.key): planmod.desired_digest(r) for r in desired}
    again = planmod.build_plan(
        desired, live, org="default",
        desired_digests={k: v for k, v in known.items() if v is not None},
    )
    assert again == plan
    assert [c.fields for c in again.changes] == [c.fields for c in plan.changes]
    assert planmod.plan_checksum(again) == planmod.plan_checksum(plan)
    # Live objects reduced as fetch_live reduces them (in sync: digest instead of bulky parts)
    # give the same plan: same actions, reasons, fields, fingerprints and checksum.
    digests = {k: v for k, v in known.items() if v is not None}
    settled = [planmod.settle_live(r, digests.get((r.kind, r.key))) for r in live]
    reduced = planmod.build_plan(desired, settled, org="default", desired_digests=digests)
    assert _shape(reduced) == _shape(plan)
    assert planmod.plan_checksum(reduced) == planmod.plan_checksum(plan)


def _shape(plan: Plan) -> list[tuple[Any, ...]]:
    return [
        (c.action, c.kind, c.key, c.reason, c.fields, c.fingerprint, c.missing_stream,
         c.live.server_id if c.live else None, c.desired)
        for c in plan.changes
    ]


def test_settle_live_keeps_a_digest_for_an_object_in_sync_and_nothing_else() -> None:
    desired = {(r.kind, r.key): r for r in desired_set()}
    live = next(r for r in live_set() if r.kind == "dashboard")
    want = desired[(live.kind, live.key)]
    digest = planmod.desired_digest(want)
    settled = planmod.settle_live(live, digest)
    assert "tabs" in live.body and "tabs" not in settled.body
    assert settled.meta[planmod.SETTLED] == digest == planmod.fingerprint(live)
    assert {k: v for k, v in live.body.items() if k != "tabs"} == settled.body
    # Not in sync, or nothing to compare with: the object stays whole.
    body = copy.deepcopy(live.body)
    body["tabs"][0]["panels"][0]["title"] = "Edited in the UI"
    edited = dataclasses.replace(live, body=body)
    assert planmod.settle_live(edited, digest) is edited
    assert planmod.settle_live(live, None) is live
    # Kinds without bulky members are never reduced.
    alert = next(r for r in live_set() if r.kind == "alert")
    alert_digest = planmod.desired_digest(desired[(alert.kind, alert.key)])
    assert planmod.settle_live(alert, alert_digest) is alert


# --- the client's JSON decoding -------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(JSON_VALUES, st.booleans())
def test_decode_json_is_json_loads(value: Any, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert _typed(decode_json(data)) == _typed(json.loads(data))


@given(JSON_VALUES)
def test_encode_json_sends_the_value_json_dumps_sends(value: Any) -> None:
    assert _typed(json.loads(encode_json(value))) == _typed(value)


def test_encode_json_refuses_what_json_dumps_refuses() -> None:
    from o2kit.redact import Secret

    for value in ({"a": math.nan}, [math.inf], {"x": Secret("s3cr3t-value")}, {"x": object()}):
        with pytest.raises((ValueError, TypeError)) as fast:
            encode_json(value)
        with pytest.raises(type(fast.value)):
            json.dumps(value, ensure_ascii=False, allow_nan=False)
    # "NaN" inside a string is not a NaN: sent as it is.
    assert json.loads(encode_json({"t": "NaN and Infinity"})) == {"t": "NaN and Infinity"}


def test_decode_json_accepts_and_refuses_what_json_loads_does() -> None:
    texts = [b'{"a":1,"a":2}', b"NaN", b"-Infinity", b'"\\ud800"',
             b"\xef\xbb\xbf{}", '"\u00e9"'.encode("utf-16"), b'"\xff"', b"[1,]", b"01", b"",
             b'{"x": 1} x', b'"a\x01b"', b"[" * 5000 + b"]" * 5000]
    for text in texts:
        try:
            expected: Any = ("ok", _typed(json.loads(text)))
        except (ValueError, RecursionError) as exc:
            expected = ("error", type(exc).__name__)
        try:
            got: Any = ("ok", _typed(decode_json(text)))
        except (ValueError, RecursionError) as exc:
            got = ("error", type(exc).__name__)
        assert got == expected, text[:40]


def test_in_sync_and_changed_bodies_are_told_apart() -> None:
    """The generated cases above include both outcomes; this pins one of each."""
    plan = planmod.build_plan(desired_set(), live_set(), org="default")
    assert not plan.has_changes
    assert all(c.digests[0] and c.digests[0] == c.digests[1] for c in plan.changes)
    desired = desired_set()
    dash = next(r for r in desired if r.kind == "dashboard")
    body = copy.deepcopy(dash.body)
    body["tabs"][0]["panels"][0]["layout"]["w"] = 1.5  # not integral: a real change
    desired = [dataclasses.replace(r, body=body) if r is dash else r for r in desired]
    changed = planmod.build_plan(desired, live_set(), org="default")
    update = next(c for c in changed.changes if c.kind == "dashboard")
    assert update.action == "update" and update.fields == _straightforward_fields(update)
    assert [f.path for f in update.fields] == ["tabs[0].panels[0].layout.w"]


def test_a_body_with_nan_is_diffed_not_hashed() -> None:
    """NaN is never ``diff.same`` as itself: such a body is not in sync by digest."""
    desired = desired_set()
    live = live_set()
    for items in (desired, live):
        for i, r in enumerate(items):
            if r.kind == "dashboard":
                body = copy.deepcopy(r.body)
                body["tabs"][0]["panels"][0]["layout"]["w"] = float("nan")
                items[i] = dataclasses.replace(r, body=body)
    plan = planmod.build_plan(desired, live, org="default")
    change = next(c for c in plan.changes if c.kind == "dashboard")
    assert change.fields == _straightforward_fields(change) != ()
    assert json.dumps(change.digests) == json.dumps([None, None])


# --- the CLI's cache of desired digests ----------------------------------------------------------


def _applied_then_planned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, seed: int
) -> tuple[Path, Path, Any, O2]:
    """The shipped project applied to a fake with the Bedrock streams, then planned in sync
    once (which fills the cache: desired digests, and live ones by the server's hash)."""
    project = copy_shipped_project(tmp_path / "repo")
    cache = tmp_path / "cache"
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(cache))
    fake = bedrock_fake(seed=seed)
    o2 = O2(project, fake, monkeypatch)
    assert o2("apply", "--auto-approve").exit_code == 0
    assert o2("plan", "--detailed-exitcode").exit_code == 0
    return project, cache, fake, o2


def test_a_warm_plan_reports_exactly_what_a_cold_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``plan`` caches the digest of each desired body by its source (``cli.base``
    ``_desired_digests``): a warm run, a --no-cache run and a cold run give one plan, and an
    edited file is planned from its new content, not from a stale entry."""
    project, cache, fake, o2 = _applied_then_planned(tmp_path, monkeypatch, seed=7)
    assert list((cache / "plan").rglob("*.json")), "the plan wrote no digests to the cache"

    # An edited file is planned from its new content, never from the entry of the old one
    # (which equals the server's digest).
    source = project / "dashboards" / "bedrock.yaml"
    source.write_text(source.read_text().replace(
        "description: AWS Bedrock", "description: Edited, AWS Bedrock"))
    first = o2.plan_json()
    warm = o2.plan_json()
    uncached = json.loads(o2("--no-cache", "plan", "--json").stdout)
    shutil.rmtree(cache)
    cold = o2.plan_json()
    assert first == warm == uncached == cold
    updates = [c for c in cold["changes"] if c["action"] == "update"]
    assert [c["key"] for c in updates] == [["Bedrock", "Bedrock overview"]]
    assert [f["path"] for f in updates[0]["fields"]] == ["description"]

    # A body with ${env:} references is resolved on every run, never taken from the cache as
    # written: a destination edited on the server is put back with the resolved URL.
    with o2.http() as ui:
        current = ui.get("/api/default/alerts/destinations/bedrock_slack").json()
        current["url"] = "https://hooks.example.com/edited-in-the-ui"
        answer = ui.put("/api/default/alerts/destinations/bedrock_slack", json=current)
        assert answer.status_code == 200, answer.text
    assert o2("apply", "--auto-approve").exit_code == 0
    stored = {d["name"]: d for d in fake.destinations()}
    assert stored["bedrock_slack"]["url"] == WEBHOOK


# --- digests remembered by the server's dashboard hash (plan.live_digest_key) --------------------


def test_a_remembered_digest_settles_only_the_body_it_was_computed_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    desired = {(r.kind, r.key): r for r in desired_set()}
    live = next(r for r in live_set() if r.kind == "dashboard")
    live = dataclasses.replace(live, meta={**live.meta, "hash": "1234567890"})
    digest = planmod.desired_digest(desired[(live.kind, live.key)])
    key = planmod.live_digest_key(live)
    assert key is not None
    # Any change the server's hash stands for, or of the shape beside it, names another body.
    for meta in ({"hash": "1234567891"}, {"folder_id": "other"}, {"version": 7}):
        assert planmod.live_digest_key(dataclasses.replace(live, meta={**live.meta, **meta})) \
            not in (key, None)
    body = copy.deepcopy(live.body)
    body["tabs"][0]["panels"].pop()
    assert planmod.live_digest_key(dataclasses.replace(live, body=body)) != key
    # No hash, or one that is not the server's decimal u64: nothing is remembered.
    for bad in ("", "abc", None):
        assert planmod.live_digest_key(dataclasses.replace(live, meta={**live.meta, "hash": bad})) \
            is None
    # A remembered digest equal to the desired one settles without normalising the body ...
    normalised: list[str] = []
    real = kinds.KindSpec.normalize
    monkeypatch.setattr(kinds.KindSpec, "normalize",
                        lambda self, b: normalised.append(self.kind) or real(self, b))
    settled = planmod.settle_live(live, digest, known=digest)
    assert settled.meta[planmod.SETTLED] == digest and not normalised
    # ... and a remembered digest of another body is not trusted: the body is compared again.
    body = copy.deepcopy(live.body)
    body["tabs"][0]["panels"][0]["title"] = "Edited in the UI"
    edited = dataclasses.replace(live, body=body)
    assert planmod.settle_live(edited, digest, known="0" * 64) is edited
    assert normalised


def test_plan_remembers_in_sync_dashboards_by_server_hash_and_sees_every_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second plan in sync normalises no live dashboard and decodes no cached desired
    dashboard body; an edit in the UI (a new server hash) is still found."""
    from o2kit.project import loader

    project, cache, fake, o2 = _applied_then_planned(tmp_path, monkeypatch, seed=11)

    normalised: list[str] = []
    real_normalize = kinds.KindSpec.normalize

    def counting_normalize(self: Any, body: Any) -> Any:
        if self.kind == "dashboard":
            normalised.append(str(body.get("title")))
        return real_normalize(self, body)

    monkeypatch.setattr(kinds.KindSpec, "normalize", counting_normalize)
    decoded: list[str] = []
    real_body = loader._CachedResource.body

    def counting_body(self: Any) -> Any:
        if "_text" in self.__dict__ and self.kind == "dashboard":
            decoded.append(self.address)
        return real_body.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(loader._CachedResource, "body", property(counting_body,
                                                                  real_body.fset))
    from o2kit.sync.client import OpenObserveClient

    full_lists: list[int] = []
    real_items = OpenObserveClient.dashboard_items

    def counting_items(self: Any, answer: Any, **kw: Any) -> Any:
        full_lists.append(1)
        return real_items(self, answer, **kw)

    monkeypatch.setattr(OpenObserveClient, "dashboard_items", counting_items)
    outlines: list[int] = []
    real_outline = OpenObserveClient.dashboard_outline

    def counting_outline(answer: Any) -> Any:
        outlines.append(1)
        return real_outline(answer)

    monkeypatch.setattr(OpenObserveClient, "dashboard_outline", staticmethod(counting_outline))
    assert o2("plan", "--detailed-exitcode").exit_code == 0
    # Recognised from the lists' outlines: no panel decoded, normalised or read from the cache;
    # and each list answered the same bytes as the first plan's, whose outline it kept: not
    # even the outline is decoded.
    assert normalised == [] and decoded == [] and full_lists == [] and outlines == []

    # Edited in the UI: the server's hash changes, so the dashboard is compared again.
    with o2.http() as ui:
        listed = ui.get("/api/default/dashboards", params={"folder": "default"}).json()
        folders = ui.get("/api/v2/default/folders/dashboards").json()["list"]
        item = None
        for folder in folders:
            answer = ui.get("/api/default/dashboards", params={"folder": folder["folderId"]})
            for it in answer.json()["dashboards"]:
                if it["title"] == "Bedrock overview":
                    item, folder_id = it, folder["folderId"]
        assert item is not None, listed
        body = item["v8"]
        body["tabs"][0]["panels"][0]["title"] = "Edited in the UI"
        answer = ui.put(f"/api/default/dashboards/{item['dashboard_id']}",
                        params={"folder": folder_id, "hash": item["hash"]}, json=body)
        assert answer.status_code == 200, answer.text
    changed = o2.plan_json()
    updates = [c for c in changed["changes"] if c["action"] == "update"]
    assert [c["key"] for c in updates] == [["Bedrock", "Bedrock overview"]]
    assert [f["path"] for f in updates[0]["fields"]] == ["tabs[0].panels[0].title"]
    assert "Bedrock overview" in normalised and full_lists
    assert outlines == [1]  # the edited folder's answer (new bytes) only


def test_a_damaged_or_foreign_list_outline_in_the_cache_is_read_again_from_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept outline is named by the answer's bytes, but read from a file anyone could edit: one
    that is not an outline, or the outline of other dashboards, is a miss and the plan is made
    from the answer, as a plan without a cache makes it."""
    from o2kit.sync.client import OpenObserveClient

    project, cache, fake, o2 = _applied_then_planned(tmp_path, monkeypatch, seed=13)
    kept = [path for path in (cache / "plan").rglob("*.json")
            if isinstance(json.loads(path.read_text())["value"], list)]
    assert kept, "the first plan in sync kept no list outline"
    decoded: list[str] = []
    real_items = OpenObserveClient.dashboard_items
    monkeypatch.setattr(OpenObserveClient, "dashboard_items", lambda self, answer, **kw: (
        decoded.append("in full") or real_items(self, answer, **kw)))
    real_outline = OpenObserveClient.dashboard_outline
    monkeypatch.setattr(OpenObserveClient, "dashboard_outline", staticmethod(
        lambda answer: decoded.append("outline") or real_outline(answer)))
    reference = json.loads(o2("--no-cache", "plan", "--json").stdout)
    assert reference["summary"]["noop"] > 0
    assert not [c for c in reference["changes"] if c["action"] != "noop"]
    forged = [{"v8": {"title": "Forged", "tabs": []}, "version": 8, "hash": "1",
               "dashboard_id": "1", "title": "Forged"}]
    for damage in ("not an outline", forged):
        for path in kept:
            entry = json.loads(path.read_text())
            entry["value"] = damage
            path.write_text(json.dumps(entry))
        decoded.clear()
        assert o2.plan_json() == reference
        assert decoded, damage  # read again from the answer
        # ... and the true outline kept in its place: the next plan decodes nothing.
        decoded.clear()
        assert o2.plan_json() == reference
        assert decoded == []


def test_what_needs_a_list_is_read_as_soon_as_that_list_is_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alerts o2kit reads in full go out once the alert list is in, while another list (the
    pipelines) is still on its way: not one round trip after the slowest list."""
    import re
    import threading

    import httpx

    from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, Faults
    from o2kit.project.config import server_settings
    from o2kit.sync.client import OpenObserveClient
    from o2kit.sync.remote import fetch_live

    _, _, fake, _ = _applied_then_planned(tmp_path, monkeypatch, seed=17)
    inner = fake.transport(Faults())
    alert_read = threading.Event()
    pipelines_waited_for_it: list[bool] = []

    class HoldPipelines(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/pipelines"):
                pipelines_waited_for_it.append(alert_read.wait(timeout=5))
            elif re.fullmatch(r"/api/v2/default/alerts/[^/]+", request.url.path):
                alert_read.set()
            return inner.handle_request(request)

    settings = server_settings(env={"OPENOBSERVE_URL": "http://o2.test",
                                    "OPENOBSERVE_USER": DEFAULT_USER,
                                    "OPENOBSERVE_PASSWORD": DEFAULT_PASSWORD},
                               config_org="default")
    with OpenObserveClient(settings, transport=HoldPipelines()) as client:
        live = fetch_live(client)
    assert pipelines_waited_for_it == [True]
    assert sum(r.kind == "alert" and "partial" not in r.meta for r in live.resources) > 0


MINI_DASHBOARD = """{#- o2kit
kind: dashboard
params:
  n: {type: integer, default: 0}
-#}
tabs:
  - name: Main
    panels:
      - {{ markdown_panel("Note " ~ n, "Dashboard number " ~ n) | tojson }}
"""


def _sixty_notes_project(root: Path) -> Path:
    """The shipped project plus 60 small dashboards in folder Notes (enough for the forked
    processes, ``workers.MIN_ITEMS``)."""
    project = copy_shipped_project(root)
    (project / "templates" / "mini").mkdir()
    (project / "templates" / "mini" / "note.yaml.j2").write_text(MINI_DASHBOARD)
    for i in range(60):
        (project / "dashboards" / f"note_{i:02d}.yaml").write_text(
            f"template: mini/note.yaml.j2\ntitle: Note {i:02d}\nfolder: Notes\n"
            f"params: {{n: {i}}}\n")
    return project


def test_a_first_plan_digests_on_both_cores_what_one_core_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The desired digests a first plan computes (``cli.base._desired_state``) are shared among
    forked processes at 50 objects or more; the plan is the one a single process makes, and a
    body with an ``${env:}`` reference is still resolved (and masked) by the parent."""
    import os

    project = _sixty_notes_project(tmp_path / "repo")
    fake = bedrock_fake(seed=5)
    o2 = O2(project, fake, monkeypatch)
    from o2kit.project import workers

    forks: list[int] = []
    shared: list[str] = []
    real_fork, real_map = os.fork, workers.fork_map

    def counting_fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    def recording_map(func: Any, items: Any, **kw: Any) -> Any:
        before = len(forks)
        out = real_map(func, items, **kw)
        if len(forks) > before:
            shared.append(func.__name__)
        return out

    monkeypatch.setattr(os, "fork", counting_fork)
    monkeypatch.setattr(workers, "fork_map", recording_map)
    monkeypatch.setenv("O2KIT_WORKERS", "1")
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(tmp_path / "one"))
    one = o2.plan_json()
    assert not forks and not shared
    monkeypatch.setenv("O2KIT_WORKERS", "2")
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(tmp_path / "two"))
    two = o2.plan_json()
    assert "_digest_as_written" in shared, "the digests were not shared with a forked process"
    assert one == two
    creates = [c for c in two["changes"] if c["action"] == "create"]
    assert sum(c["kind"] == "dashboard" for c in creates) >= 60
    assert WEBHOOK not in json.dumps(two)  # the destination's URL was resolved and masked


def test_apply_sends_the_dashboard_payloads_another_process_made_ahead_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 50 dashboard creates or more, a forked process encodes their payloads ahead
    (``remote.PreparedPayloads``) and this one sends them as they are: the server gets exactly
    what a single process sends, and the parent encodes no dashboard payload itself."""
    def applied(workers: str) -> tuple[list[dict[str, Any]], int]:
        project = _sixty_notes_project(tmp_path / f"repo{workers}")
        fake = bedrock_fake(seed=5)
        monkeypatch.setenv("O2KIT_WORKERS", workers)
        monkeypatch.setenv("O2KIT_CACHE_DIR", str(tmp_path / f"cache{workers}"))
        sent: list[int] = []
        real_payload = kinds.KindSpec.payload

        def counting_payload(self: Any, desired: Any, live: Any, project: Any = None) -> Any:
            if self.kind == "dashboard":
                sent.append(1)  # (in this process only: a forked child's count stays there)
            return real_payload(self, desired, live, project)

        monkeypatch.setattr(kinds.KindSpec, "payload", counting_payload)
        result = O2(project, fake, monkeypatch)("apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        stored = sorted((d["data"] for d in fake.dashboards()), key=lambda d: d["title"])
        for d in stored:  # what the server makes of its own
            for key in ("dashboardId", "created", "updatedAt", "hash", "owner"):
                d.pop(key, None)
        return stored, len(sent)

    one, made_here_alone = applied("1")
    two, made_here_with_a_child = applied("2")
    assert one == two and len(one) > 60
    assert made_here_alone == len(one) and made_here_with_a_child == 0


def test_a_first_plan_settles_the_dashboard_lists_in_a_helper_as_this_process_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first plan after an apply of 50 dashboards or more has a forked helper decode and
    normalise the dashboard lists (``workers.Helper``): the plan, and what the next plan finds
    remembered, are those of a single process; this process normalises no dashboard itself."""
    project = _sixty_notes_project(tmp_path / "repo")
    fake = bedrock_fake(seed=9)
    o2 = O2(project, fake, monkeypatch)
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(tmp_path / "applied"))
    assert o2("apply", "--auto-approve").exit_code == 0

    normalised: list[int] = []
    real_normalize = kinds.KindSpec.normalize

    def counting_normalize(self: Any, body: Any) -> Any:
        if self.kind == "dashboard":
            normalised.append(1)  # (in this process only: the helper's count stays there)
        return real_normalize(self, body)

    monkeypatch.setattr(kinds.KindSpec, "normalize", counting_normalize)
    plans = {}
    for workers in ("1", "2"):
        cache = tmp_path / f"cache{workers}"
        shutil.copytree(tmp_path / "applied", cache)
        monkeypatch.setenv("O2KIT_CACHE_DIR", str(cache))
        monkeypatch.setenv("O2KIT_WORKERS", workers)
        normalised.clear()
        first = o2.plan_json()
        counted = len(normalised)
        normalised.clear()
        second = o2.plan_json()  # remembered from the first: nothing normalised
        plans[workers] = (first, counted, second, len(normalised))
    (first1, counted1, second1, again1), (first2, counted2, second2, again2) = \
        plans["1"], plans["2"]
    assert first1 == first2 == second1 == second2
    assert first1["summary"]["noop"] > 60 and not [
        c for c in first1["changes"] if c["action"] != "noop"]
    assert counted1 > 60 and counted2 == 0, (counted1, counted2)
    assert again1 == again2 == 0


def test_a_dashboard_list_outline_is_the_list_without_the_panels_contents() -> None:
    import httpx

    from o2kit.sync.client import OpenObserveClient

    live = [r for r in live_set() if r.kind == "dashboard"]
    items = [{"v1": None, f"v{8}": r.body, "version": 8, "hash": str(i), "title": r.key[-1],
              "folder_id": "f"} for i, r in enumerate(live)]
    items.append({"v1": {"title": "old", "panels": [{"id": 1, "x": {"y": 2}}]}, "version": 1,
                  "hash": "9"})
    answer = httpx.Response(200, content=json.dumps({"dashboards": items}).encode())
    outline = OpenObserveClient.dashboard_outline(answer)

    def without_panel_contents(item: Any) -> Any:
        out = copy.deepcopy(item)
        for key in [k for k in out if k.startswith("v") and isinstance(out[k], dict)]:
            for tab in out[key].get("tabs", []):
                tab["panels"] = [{} for _ in tab.get("panels", [])]
        return out

    assert outline == [without_panel_contents(i) for i in items]
    # Made from the decoded items instead (a plan that decoded them in full keeps it so): the
    # same outline, and the items are left as they were.
    decoded = json.loads(answer.content)["dashboards"]
    assert OpenObserveClient.outline_of_items(decoded) == outline
    assert decoded == items
    # Any other shape is left to the full decode (which reports it).
    for bad in (b'{"dashboards": [{"v8": "text"}]}', b'{"dashboards": [{"v8": {"tabs": 3}}]}',
                b'{"dashboards": [{"v8": {"tabs": [{"panels": [1]}]}}]}', b"[]", b"not json",
                b'{"other": []}'):
        assert OpenObserveClient.dashboard_outline(httpx.Response(200, content=bad)) is None
        listed = json.loads(bad).get("dashboards") if bad.startswith(b'{"d') else None
        if listed is not None:  # made from decoded items, by the same reader: refused alike
            assert OpenObserveClient.outline_of_items(listed) is None
