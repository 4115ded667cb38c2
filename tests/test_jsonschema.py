"""JSON Schemas for editors (o2kit.cli.schema_files): the committed copies under schemas/ match the
models, the editor wiring names them, the shipped files validate against them, and they catch
the mistakes the models catch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema as js
import pytest
import yaml
from typer.testing import CliRunner

from o2kit.cli import app as cli
from o2kit.cli import export as cli_export
from o2kit.cli import schema_files as o2schema

if not any(c.name == "schema" for c in cli.app.registered_commands):
    cli_export.register(cli.app)

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = o2schema.all_schemas()


class _Yaml12Loader(yaml.SafeLoader):
    """YAML as editors read it (1.2 core schema): ``2026-08-01`` stays a string."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 — a SafeLoader subclass


def _errors(name: str, data: Any) -> list[str]:
    validator = js.Draft7Validator(SCHEMAS[name])
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(data))


def test_committed_schemas_match_the_models() -> None:
    for name, schema in SCHEMAS.items():
        path = REPO / o2schema.SCHEMA_DIR / o2schema.schema_file_name(name)
        assert path.is_file(), f"{path} missing: run `o2kit schema --out schemas`"
        assert path.read_text(encoding="utf-8") == o2schema.schema_text(schema), (
            f"{path.name} is out of date with the models: run `o2kit schema --out schemas`"
        )
    committed = {p.name for p in (REPO / o2schema.SCHEMA_DIR).glob("*.schema.json")}
    assert committed == {o2schema.schema_file_name(n) for n in SCHEMAS}


def test_schemas_are_valid_draft7() -> None:
    for schema in SCHEMAS.values():
        js.Draft7Validator.check_schema(schema)


def test_vscode_settings_map_every_schema_to_its_files() -> None:
    settings = json.loads((REPO / ".vscode" / "settings.json").read_text(encoding="utf-8"))
    assert settings["yaml.schemas"] == o2schema.vscode_settings()["yaml.schemas"]
    for target in settings["yaml.schemas"]:
        assert (REPO / target).is_file(), target


# Where shipped files are found: the project files at the repo root, and small examples under
# docs/examples/ for the kinds whose shipped files are Jinja (.yaml.j2), so never loaded there.
EXAMPLES = REPO / "docs" / "examples"


def _shipped() -> list[tuple[str, Path]]:
    out = []
    for name, patterns in o2schema.FILE_PATTERNS.items():
        for pattern in patterns:
            for root in (REPO, EXAMPLES):
                out.extend((name, p) for p in sorted(root.glob(pattern)))
    return out


@pytest.mark.parametrize(("name", "path"), _shipped(), ids=lambda v: str(v).split("/")[-1])
def test_shipped_files_validate(name: str, path: Path) -> None:
    data = _load(path.read_text(encoding="utf-8"))
    assert _errors(name, data) == []


def test_every_kind_of_file_is_shipped() -> None:
    assert {name for name, _ in _shipped()} == set(SCHEMAS)


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("dashboard", "templte: a/b.yaml.j2\ntitle: x\n", ""),  # typo: unknown key, no template
        ("dashboard", "template: /etc/passwd\ntitle: x\n", "template"),
        ("dashboard", "template: a.json\ntitle: x\nparams: [1]\n", "params"),
        ("alerts", "alerts:\n  bad name: {template: a.j2, destinations: [d]}\n", "alerts"),
        ("alerts", "destinations:\n  d: {type: http, url: x, method: patch}\n",
         "destinations/d/method"),
        ("alerts", "alerts:\n  a: {template: a.j2, destinations: [d], enabled: 'yes'}\n",
         "alerts/a/enabled"),
        ("config", "org: default\nstreams: {metrics: m, logs: l}\n", "streams"),
        ("prices", "currency: USD\nsource: s\neffective_date: 2026-01-01\n", ""),  # checked_on
        ("alert-test", "alert: a\ntests: [{name: t, at: x}]\n", "tests/0"),  # no expect
        ("pipelines", "pipelines: [{name: Upper, source: s, steps: [{function: f}]}]\n",
         "pipelines/0/name"),  # the server lower-cases the name
        ("pipelines", "pipelines: [{name: p, source: s, steps: [{stream: d}], edges: [[a, b]]}]\n",
         "pipelines/0"),  # steps and edges together
        ("pipelines", "pipelines: [{name: p, source: s, steps: [{function: f, after: true}]}]\n",
         "pipelines/0/steps"),
        ("slos", "s:\n  sli: {stream: l, good: x}\n  target: 100\n", "s/target"),
        ("slos", "s:\n  sli: {stream: l, good: x}\n  target: 99\n  alerts:\n"
                 "    a: {long_window: 1h, destinations: [d]}\n", "s/alerts"),  # no burn_rate
        ("slos", "bad name:\n  sli: {alert_id: x}\n  target: 99\n", ""),
        ("function-test", "function: f\ningest: {privacy: hide}\n"
                          "tests: [{name: t, events: [{}], expect: [null]}]\n", "ingest"),
    ],
)
def test_schemas_catch_mistakes(name: str, text: str, where: str) -> None:
    errors = _errors(name, _load(text))
    assert errors, f"{name} accepted {text!r}"
    assert any(e.startswith(f"{where}:") for e in errors), errors


def _parse_as_o2kit(name: str, path: Path) -> list[Any]:
    """What o2kit's own parser makes of an example file: its problems (empty = it loads)."""
    from o2kit.kinds import pipeline as pipeline_kind
    from o2kit.kinds import slo as slo_kind
    from o2kit.kinds.spec import SourceProblem
    from o2kit.project.config import Config

    spec = {"pipelines": pipeline_kind.SPEC, "slos": slo_kind.SPEC}[name]
    cfg = Config()
    context = {"streams": cfg.streams.model_dump(), "org_name": "default",
               "folders": {"dashboards": "Bedrock", "alerts": "Bedrock"}}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    parsed = spec.files.parse(f"{spec.files.directory}/{path.name}", data, context)
    assert parsed, f"{path} declares nothing"
    return [p for p in parsed if isinstance(p, SourceProblem)]


@pytest.mark.parametrize("name", ["pipelines", "slos"])
def test_examples_load_through_o2kits_own_parser(name: str) -> None:
    examples = [p for n, p in _shipped() if n == name and EXAMPLES in p.parents]
    assert examples, f"no example under docs/examples/ for {name}"
    for path in examples:
        assert _parse_as_o2kit(name, path) == [], path
        assert _errors(name, _load(path.read_text(encoding="utf-8"))) == []


def test_parser_and_schema_refuse_the_same_broken_example(tmp_path: Path) -> None:
    """A mistake in an example is caught by both: the schema restates the parser."""
    for name, old, new in (
        ("pipelines", "after_flatten", "after_flaten"),
        ("slos", "burn_rate: 14.4", "burn_rate: fast"),
    ):
        src = next(p for n, p in _shipped() if n == name and EXAMPLES in p.parents)
        text = src.read_text(encoding="utf-8")
        if old not in text:
            text = text.replace("function: bedrock_metric_stream}",
                                "function: bedrock_metric_stream, after_flaten: true}")
        else:
            text = text.replace(old, new)
        broken = tmp_path / src.name
        broken.write_text(text, encoding="utf-8")
        assert _parse_as_o2kit(name, broken), f"o2kit's parser accepted the broken {name}"
        assert _errors(name, _load(text)), f"the {name} schema accepted the broken example"


def test_env_overlay_needs_no_key_and_shows_no_defaults() -> None:
    assert _errors("env", _load("defaults: {budget: 25}\n")) == []
    assert _errors("env", _load("folders: {dashboards: X}\n")) == []
    assert _errors("env", _load("unknown_key: 1\n"))
    assert '"default"' not in json.dumps(SCHEMAS["env"])


def test_raw_json_template_path_is_accepted() -> None:
    doc = _load("template: exported/dashboards/payments/stripe.json\ntitle: Stripe\n")
    assert _errors("dashboard", doc) == []


def test_schema_command_prints_and_writes(tmp_path: Path) -> None:
    runner = CliRunner()
    one = runner.invoke(cli.app, ["schema", "--kind", "alerts"])
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout) == SCHEMAS["alerts"]
    every = runner.invoke(cli.app, ["schema"])
    assert set(json.loads(every.stdout)) == set(SCHEMAS)
    out = runner.invoke(cli.app, ["schema", "--out", str(tmp_path / "s")])
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(
        o2schema.schema_file_name(n) for n in SCHEMAS)
    bad = runner.invoke(cli.app, ["schema", "--kind", "nope"])
    assert bad.exit_code == 1 and "config" in bad.output
