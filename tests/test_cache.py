"""The on-disk cache (o2kit.project.cache) never changes what o2kit reports: a warm run (cache hits)
reports exactly what a cold run and a run without the cache report; each input the result depends
on (o2kit itself, the configuration, the column catalogue, the price table, the templates, the
object's own file) invalidates it; a corrupt, truncated, foreign or oversized entry is ignored.

No timing here: speed is measured by bench/bench_scale.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import o2kit
from o2kit.errors import Problem, ValidationFailed
from o2kit.project import cache as cache_mod
from o2kit.project import columns
from o2kit.project.cache import Cache
from o2kit.project.loader import load_project
from o2kit.validate import rules as validate_mod
from o2kit.validate.rules import validate_resources

DATA = Path(__file__).parent / "data_render"
BROKEN = sorted(p for p in (DATA / "broken").iterdir() if p.is_dir())

# A dashboard and an alert that load (render) fine but break validation rules: a column the
# catalogue does not document, an alert whose SQL reads an unknown
# column. _bad_project adds a dashboard with a warning.
BAD_DASHBOARD_TEMPLATE = """{#- o2kit
kind: dashboard
params:
  column: {type: string, default: no_such_column}
-#}
tabs:
  - name: Main
    panels:
      - {{ panel("table", "Bad column", "SELECT " ~ (column | sql_ident) ~ " AS v FROM "
           ~ (streams.invocation_logs | sql_ident), stream=streams.invocation_logs, y=["v"])
           | tojson }}
      - {{ markdown_panel("Prices", "Currency: " ~ (prices.currency | text)) | tojson }}
"""
BAD_ALERT_TEMPLATE = """{#- o2kit
kind: alert
params: {}
-#}
{% set sql %}
SELECT missing_col AS m, COUNT(*) AS c FROM {{ streams.invocation_logs | sql_ident }}
GROUP BY m HAVING COUNT(*) > 1
{% endset %}
{{ sql_alert(stream=streams.invocation_logs, sql=sql, period=10, frequency=5, silence=0,
             row_template="{m}") | tojson }}
"""


def _bad_project(root: Path) -> Path:
    shutil.copytree(DATA / "base", root)
    # A raw JSON dashboard (layout kept as written) whose two panels overlap: a warning.
    main = next(r for r in load_project(root).resources if r.kind == "dashboard")
    raw = json.loads(json.dumps(main.body))
    panels = raw["tabs"][0]["panels"]
    panels[1]["layout"] = {**panels[0]["layout"], "i": panels[1]["layout"]["i"]}
    raw["title"] = "Overlap"
    (root / "templates" / "exported").mkdir()
    (root / "templates" / "exported" / "overlap.json").write_text(json.dumps(raw))
    (root / "dashboards" / "overlap.yaml").write_text(
        "template: exported/overlap.json\ntitle: Overlap\n"
    )
    (root / "templates" / "t" / "bad_dash.yaml.j2").write_text(BAD_DASHBOARD_TEMPLATE)
    (root / "templates" / "t" / "bad_alert.yaml.j2").write_text(BAD_ALERT_TEMPLATE)
    (root / "dashboards" / "bad.yaml").write_text("template: t/bad_dash.yaml.j2\ntitle: Bad\n")
    (root / "alerts" / "bad.yaml").write_text(
        "alerts:\n  bad_alert:\n    template: t/bad_alert.yaml.j2\n"
        "    destinations: [team_hook]\n"
    )
    return root


def _run(root: Path, cache: Cache | None) -> tuple[list[Problem], dict[tuple[str, tuple], Any]]:
    """What `o2kit validate` computes: load problems (raised) or validation problems, and the
    resource bodies."""
    try:
        project = load_project(root, None, cache=cache)
    except ValidationFailed as exc:
        return exc.problems, {}
    problems = validate_resources(
        project.resources, project.config.config, memo=cache, digests=project.digests
    )
    return problems, {(r.kind, r.key): r.body for r in project.resources}


def _entries(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json") if p.is_file())


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    return _bad_project(tmp_path / "project")


def test_warm_run_reports_exactly_what_a_cold_run_reports(bad: Path, tmp_path: Path) -> None:
    reference = _run(bad, None)
    assert reference[0], "the project must have problems for this test to mean anything"
    messages = " ".join(p.message for p in reference[0])
    assert "no_such_column" in messages and "missing_col" in messages
    assert any(not p.is_error and "overlaps" in p.message for p in reference[0])
    cache = Cache(tmp_path / "cache")
    cold = _run(bad, cache)
    assert cache.hits == 0 and cache.misses > 0
    warm_cache = Cache(tmp_path / "cache")
    warm = _run(bad, warm_cache)
    assert warm_cache.misses == 0 and warm_cache.hits == cache.misses
    assert cold == reference
    assert warm == reference


def broken_report(case: Path, root: Path) -> Any:
    """Build broken project ``case`` at ``root``; a function from a cache (None: off) to what
    loading it reports."""
    from tests.test_project_broken import build_case

    env = build_case(case, root)

    def run(cache: Cache | None) -> str:
        with pytest.raises(ValidationFailed) as info:
            load_project(root, env, cache=cache)
        return str(info.value)

    return run


@pytest.mark.parametrize("case", BROKEN, ids=[c.name for c in BROKEN])
def test_warm_run_of_a_broken_project_reports_the_same(case: Path, tmp_path: Path) -> None:
    run = broken_report(case, tmp_path / "project")
    directory = tmp_path / "cache"
    reference = run(None)
    assert run(Cache(directory)) == reference
    warm = Cache(directory)
    assert run(warm) == reference
    assert warm.misses == 0  # everything that was stored is found again


def _cold_then(bad: Path, tmp_path: Path) -> Cache:
    _run(bad, Cache(tmp_path / "cache"))
    return Cache(tmp_path / "cache")


def test_o2kit_version_invalidates(bad: Path, tmp_path: Path, monkeypatch: Any) -> None:
    warm = _cold_then(bad, tmp_path)
    monkeypatch.setattr(o2kit, "__version__", "999.0.0")
    cache_mod.tool_digest.cache_clear()
    try:
        _run(bad, warm)
    finally:
        cache_mod.tool_digest.cache_clear()
    assert warm.hits == 0 and warm.misses > 0


def test_o2kit_source_invalidates(bad: Path, tmp_path: Path, monkeypatch: Any) -> None:
    warm = _cold_then(bad, tmp_path)
    real = cache_mod.files_digest

    def changed_source(root: Path, paths: Any) -> str:
        found = real(root, paths)
        return found + "-edited" if root == Path(o2kit.__file__).resolve().parent else found

    monkeypatch.setattr(cache_mod, "files_digest", changed_source)
    cache_mod.tool_digest.cache_clear()
    try:
        _run(bad, warm)
    finally:
        cache_mod.tool_digest.cache_clear()
    assert warm.hits == 0


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("o2kit.yaml", "invocation_logs: l_stream", "invocation_logs: other_stream"),  # config
        ("prices.yaml", "currency: EUR", "currency: USD"),  # price table
        ("templates/t/bad_dash.yaml.j2", "default: no_such_column", "default: other_column"),
        ("dashboards/bad.yaml", "title: Bad", "title: Bad\nparams: {column: message_modelid}"),
        ("alerts/bad.yaml", "[team_hook]", "[team_hook]\n    description: changed"),
    ],
    ids=["config", "prices", "template", "dashboard file", "alerts file"],
)
def test_changed_input_invalidates(bad: Path, tmp_path: Path, file: str, old: str,
                                   new: str) -> None:
    before = _run(bad, None)
    warm = _cold_then(bad, tmp_path)
    _edit(bad / file, old, new)
    reference = _run(bad, None)
    assert reference != before, "the edit must change the result for this test to mean anything"
    assert _run(bad, warm) == reference
    assert warm.misses > 0


def test_column_catalogue_invalidates(bad: Path, tmp_path: Path, monkeypatch: Any) -> None:
    warm = _cold_then(bad, tmp_path)
    real = columns.catalogue

    def wider(config: Any) -> Any:
        out = dict(real(config))
        logs = next(s for s in out.values() if "invocation_logs" in s.roles)
        out[logs.stream] = type(logs)(
            logs.stream, logs.roles, logs.columns | {"no_such_column"}, logs.prefixes, logs.renamed
        )
        return out

    monkeypatch.setattr(validate_mod, "catalogue", wider)
    reference = _run(bad, None)
    assert not any("no_such_column" in p.message for p in reference[0])
    assert _run(bad, warm) == reference


def test_another_destination_name_invalidates_alerts(bad: Path, tmp_path: Path) -> None:
    """Alerts are checked against the names of the destinations: removing one must reach them
    although their own digests did not change."""
    cache = Cache(tmp_path / "cache")
    project = load_project(bad, cache=cache)
    assert project.digests
    config = project.config.config
    full = validate_resources(project.resources, config, memo=cache, digests=project.digests)
    assert not any("team_hook" in p.message for p in full)
    fewer = [r for r in project.resources if r.kind != "destination"]
    reference = validate_resources(fewer, config)
    assert any("team_hook" in p.message for p in reference)
    assert validate_resources(fewer, config, memo=cache, digests=project.digests) == reference


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: "not json at all",
        lambda text: json.dumps({"key": "someone-else", "value": json.loads(text)["value"]}),
        lambda text: json.dumps({"key": json.loads(text)["key"], "value": {"problems": 1}}),
        lambda text: json.dumps({"key": json.loads(text)["key"],
                                 "value": [{"file": 1, "line": "x"}]}),
        lambda text: json.dumps({"key": json.loads(text)["key"], "value": [[1, 2]]}),
        lambda text: "[" * 100000,  # deeply nested
    ],
    ids=["truncated", "garbage", "foreign key", "wrong shape", "bad problem", "not problems",
         "deep"],
)
def test_damaged_entries_are_ignored(bad: Path, tmp_path: Path, damage: Any) -> None:
    reference = _run(bad, None)
    _run(bad, Cache(tmp_path / "cache"))
    entries = _entries(tmp_path / "cache")
    assert entries
    for path in entries:
        path.write_text(damage(path.read_text()))
    damaged = Cache(tmp_path / "cache")
    assert _run(bad, damaged) == reference
    # ... and the damaged entries were replaced by good ones.
    again = Cache(tmp_path / "cache")
    assert _run(bad, again) == reference
    assert again.misses == 0


def test_oversized_entry_is_not_read(bad: Path, tmp_path: Path, monkeypatch: Any) -> None:
    reference = _run(bad, None)
    warm = _cold_then(bad, tmp_path)
    monkeypatch.setattr(cache_mod, "MAX_ENTRY_BYTES", 10)
    assert _run(bad, warm) == reference
    assert warm.hits == 0


def test_cache_folder_is_marked_and_entries_are_json(bad: Path, tmp_path: Path) -> None:
    _run(bad, Cache(tmp_path / "cache"))
    assert (tmp_path / "cache" / ".gitignore").read_text().strip().endswith("*")
    assert (tmp_path / "cache" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f59")
    for path in _entries(tmp_path / "cache"):
        entry = json.loads(path.read_text())
        assert path.stem == entry["key"]


def test_value_that_does_not_survive_json_is_not_stored(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.put("x", "k1", {"a": (1, 2)}, verify=True)
    cache.put("x", "k2", {1: "integer key"}, verify=True)
    cache.put("x", "k3", {"a": float("nan")})
    cache.put("x", "k4", {"a": [1, 2]}, verify=True)
    assert [cache.get("x", k) for k in ("k1", "k2", "k3", "k4")] == [None, None, None,
                                                                     {"a": [1, 2]}]


def test_cli_no_cache_and_env_var(bad: Path, tmp_path: Path, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from o2kit.cli.app import app

    runner = CliRunner()
    directory = tmp_path / "elsewhere"
    monkeypatch.setenv("O2KIT_CACHE_DIR", str(directory))
    first = runner.invoke(app, ["-C", str(bad), "validate", "--no-cache"])
    assert first.exit_code == 1
    assert not directory.exists() and not (bad / ".o2kit").exists()
    second = runner.invoke(app, ["-C", str(bad), "validate"])
    assert _entries(directory) and not (bad / ".o2kit").exists()
    third = runner.invoke(app, ["-C", str(bad), "validate"])
    assert first.output == second.output == third.output
    monkeypatch.delenv("O2KIT_CACHE_DIR")
    runner.invoke(app, ["-C", str(bad), "--no-cache", "validate"])
    assert not (bad / ".o2kit").exists()
    fourth = runner.invoke(app, ["-C", str(bad), "validate"])
    assert _entries(bad / ".o2kit" / "cache")
    assert fourth.output == first.output


def test_blobs_are_content_addressed_and_checked_when_read(tmp_path: Path) -> None:
    import hashlib

    from o2kit.project.cache import BlobDamaged, read_blob

    cache = Cache(tmp_path / "cache")
    data = b'{"title":"a dashboard"}'
    address = cache.put_blob(data)
    assert address == hashlib.sha256(data).hexdigest()
    assert cache.put_blob(data) == address  # stored once
    path = cache.blob_path(address)
    assert path is not None and path.is_relative_to(tmp_path / "cache" / "blobs")
    assert read_blob(path, address, len(data)) == data
    with pytest.raises(BlobDamaged):
        read_blob(path, address, len(data) + 1)  # another size
    path.write_bytes(data.replace(b"a dash", b"A dash"))  # same size, other bytes
    with pytest.raises(BlobDamaged):
        read_blob(path, address, len(data))
    path.unlink()
    with pytest.raises(BlobDamaged):
        read_blob(path, address, len(data))
    for untrusted in ("../../etc/passwd", address.upper(), address[:-1], "/" + address[1:]):
        assert cache.blob_path(untrusted) is None  # an address from an entry is never a path
    assert Cache(None).put_blob(data) is None and Cache(None).blob_path(address) is None


def test_a_transient_read_of_a_cached_body_keeps_nothing_on_the_resource(tmp_path: Path) -> None:
    """``transient_body`` (a digest, a diff, a payload) gives the body a miss gives, decoded
    for that call only; ``body`` decodes it once and keeps it."""
    from o2kit.project.loader import _CachedResource

    root = _bad_project(tmp_path / "project")
    cache = Cache(tmp_path / "cache")
    cold = {(r.kind, r.key): json.loads(json.dumps(r.body))
            for r in load_project(root, None, cache=cache).resources}
    warm = load_project(root, None, cache=cache).resources
    replayed = [r for r in warm if isinstance(r, _CachedResource) and "_blob" in r.__dict__]
    assert replayed, "the second load must replay bodies it has not read from the cache"
    for r in replayed:
        first, second = r.transient_body(), r.transient_body()
        assert first == second == cold[(r.kind, r.key)]
        assert first is not second and "_blob" in r.__dict__  # nothing decoded was kept
        assert r.body == cold[(r.kind, r.key)] and r.body is r.body
        assert r.transient_body() is r.body  # once kept, the kept one


def test_a_body_that_does_not_read_back_equal_is_not_cached(tmp_path: Path) -> None:
    """A file's record is cached only when each body reads back from its blob as it is (a tuple
    would come back a list, an integer key a string): otherwise the file is read again next
    time, never replayed different."""
    from o2kit.model import Resource, SourceRef
    from o2kit.project.loader import _FileRecord

    cache = Cache(tmp_path / "cache")

    def entry(body: dict[str, Any]) -> Any:
        record = _FileRecord(resources=[Resource("dashboard", ("F", "T"), body,
                                                 SourceRef("dashboards/x.yaml", 1))])
        return record.to_entry(cache)

    assert entry({"a": (1, 2)}) is None
    assert entry({1: "integer key"}) is None
    assert entry({"a": float("nan")}) is None
    assert entry({"s": "\udc80"}) is None  # not UTF-8
    good = entry({"a": [1, 2.5, -0.0, "é", None, True, {"b": 10**30}]})
    assert good is not None
    replayed = _FileRecord.from_entry(good, cache).resources[0]
    assert replayed.body == {"a": [1, 2.5, -0.0, "é", None, True, {"b": 10**30}]}
