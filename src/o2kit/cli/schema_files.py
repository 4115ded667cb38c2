"""JSON Schemas for every YAML file o2kit reads, generated from the pydantic models that read them.

Editors with yaml-language-server (VS Code's YAML extension, Neovim, JetBrains…) use them for
completion, hover help and checks while typing. The generated files are committed under
``schemas/`` and mapped to the files in ``.vscode/settings.json`` (``yaml.schemas``); a single file
can also name its schema with a first-line modeline::

    # yaml-language-server: $schema=../schemas/dashboard.schema.json

``o2kit schema`` prints them; ``o2kit schema --out schemas`` regenerates the committed copies
(a test fails when they drift from the models).

=============  ==========================  ==============================================
name           files                       model
=============  ==========================  ==============================================
config         ``o2kit.yaml``              ``o2kit.project.config.Config``
env            ``envs/*.yaml``             ``Config`` with every key optional (an overlay)
dashboard      ``dashboards/*.yaml``       ``o2kit.project.loader.DashboardFile``
alerts         ``alerts/*.yaml``           ``o2kit.project.loader.AlertsFile`` with typed entries
prices         ``prices.yaml``             ``o2kit.project.prices.PriceTable``
alert-test     ``alert-tests/*.yaml``      ``o2kit.query.alerttest.TestFile``
pipelines      ``pipelines/*.yaml``        models here, read off ``o2kit.kinds.pipeline``
slos           ``slos/*.yaml``             models here, read off ``o2kit.kinds.slo.parse``
function-test  ``function-tests/*.yaml``   ``o2kit.query.functiontest.FunctionTestFile``
=============  ==========================  ==============================================

The pipeline and SLO files are parsed by hand-written code (no pydantic model), so the models
below restate what that code accepts; ``tests/test_jsonschema.py`` parses the example files
under ``docs/examples/`` with both, so the two cannot drift silently. ``.yaml.j2`` files are
Jinja first and are not mapped (the schema describes the rendered YAML).

A schema can only say what a shape says: cross-file rules (a destination that exists, a
template's typed ``params``) remain ``o2kit validate``'s job. Written for JSON Schema draft-07,
which every yaml-language-server version reads. Pure apart from ``write_schemas``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from o2kit.kinds import pipeline as pipeline_kind
from o2kit.kinds import slo as slo_kind
from o2kit.project import config, prices
from o2kit.project import loader as project
from o2kit.query import alerttest, functiontest

__all__ = [
    "FILE_PATTERNS",
    "SCHEMA_DIR",
    "all_schemas",
    "schema_file_name",
    "vscode_settings",
    "write_schemas",
]

SCHEMA_DIR = "schemas"
DRAFT = "http://json-schema.org/draft-07/schema#"

# Which files each schema describes, as yaml-language-server globs relative to the repo root.
FILE_PATTERNS: dict[str, list[str]] = {
    "config": ["o2kit.yaml"],
    "env": ["envs/*.yaml"],
    "dashboard": ["dashboards/*.yaml"],
    "alerts": ["alerts/*.yaml"],
    "prices": ["prices.yaml"],
    "alert-test": ["alert-tests/*.yaml"],
    "pipelines": ["pipelines/*.yaml", "pipelines/*.yml"],
    "slos": ["slos/*.yaml", "slos/*.yml"],
    "function-test": ["function-tests/*.yaml"],
}

# OpenObserve's rules for alert, destination and template names (project._object_name).
_OBJECT_NAME_PATTERN = r"""^[^\s:#?&%'"/]+$"""
# A template path under templates/ (project._template_name): Jinja (.j2) or raw JSON (.json).
_TEMPLATE_PATTERN = (
    rf"^{project._TEMPLATE_SEGMENT}(/{project._TEMPLATE_SEGMENT})*\.(j2|json)$"
)


class _AlertsFileSchema(BaseModel):
    """``alerts/*.yaml``: alerts, and the destinations and alert templates they notify. Names are
    the mapping keys (no spaces, '/', or : # ? & % ' ")."""

    model_config = ConfigDict(extra="forbid", title="AlertsFile")

    folder: str | None = Field(
        default=None, description="OpenObserve alert folder; default: o2kit.yaml folders.alerts"
    )
    templates: dict[str, project.AlertTemplateSpec] = Field(default_factory=dict)
    destinations: dict[str, project.DestinationSpec] = Field(default_factory=dict)
    alerts: dict[str, project.AlertSpec] = Field(default_factory=dict)


def _model_schema(model: type[BaseModel], title: str, description: str) -> dict[str, Any]:
    body = model.model_json_schema(mode="validation")
    out: dict[str, Any] = {"$schema": DRAFT, "title": title, "description": description}
    out.update({k: v for k, v in body.items() if k not in ("title", "description")})
    return out


def _walk(node: Any, fn: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _walk(value, fn)
    elif isinstance(node, list):
        for value in node:
            _walk(value, fn)


def _overlay(schema: dict[str, Any]) -> dict[str, Any]:
    """An overlay merged over o2kit.yaml: any key may be left out, and an absent key keeps the
    base file's value (so the defaults shown for o2kit.yaml would mislead)."""
    out = copy.deepcopy(schema)

    def loosen(node: dict[str, Any]) -> None:
        node.pop("required", None)
        node.pop("default", None)

    _walk(out, loosen)
    return out


def _template_property(node: dict[str, Any]) -> None:
    props = node.get("properties")
    if (
        isinstance(props, dict)
        and isinstance(props.get("template"), dict)
        and props["template"].get("type") == "string"
        and "params" in props
    ):
        props["template"]["pattern"] = _TEMPLATE_PATTERN
        props["template"].setdefault(
            "description",
            "A template under templates/: Jinja (*.j2) or raw OpenObserve JSON (*.json)",
        )


def _dashboard() -> dict[str, Any]:
    out = _model_schema(
        project.DashboardFile,
        "o2kit dashboard file (dashboards/*.yaml)",
        "One OpenObserve dashboard: a template under templates/ (Jinja .j2, or raw OpenObserve "
        "JSON .json), its title and folder (its key in o2kit), and the template's params.",
    )
    _walk(out, _template_property)
    return out


def _alerts() -> dict[str, Any]:
    out = _model_schema(
        _AlertsFileSchema,
        "o2kit alerts file (alerts/*.yaml)",
        "Alerts (each a template + params), and the destinations and alert templates they "
        "notify. Secrets as ${env:NAME}.",
    )
    for section in ("templates", "destinations", "alerts"):
        out["properties"][section]["propertyNames"] = {"pattern": _OBJECT_NAME_PATTERN}
    _walk(out, _template_property)
    return out


# --- pipelines/*.yaml: what o2kit.kinds.pipeline (pipeline_body, _Builder) accepts -----------


class _Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")


_Name = Annotated[str, Field(min_length=1, pattern=r"\S")]


class PipelineSource(_Forbid):
    """The source stream: a configured logs stream (a realtime pipeline's source must exist)."""

    model_config = ConfigDict(title="PipelineSource")
    stream: _Name
    type: Literal["logs"] = "logs"
    new: Literal[False] = Field(default=False, description="only destinations may be new")


class PipelineStream(_Forbid):
    """A destination stream: a configured stream, or ``new: true`` for one the pipeline creates
    on its first write."""

    model_config = ConfigDict(title="PipelineStream")
    stream: _Name
    type: Literal[pipeline_kind.STREAM_TYPES] = "logs"  # type: ignore[valid-type]
    new: StrictBool = False


class PipelineFunction(_Forbid):
    model_config = ConfigDict(title="PipelineFunction")
    function: _Name = Field(description="a function of functions/ (or one on the server)")
    after_flatten: StrictBool = Field(
        default=False,
        description="run on the flattened record; must be true after a function that did",
    )


class PipelineConditionItem(_Forbid):
    model_config = ConfigDict(title="PipelineConditionItem")
    column: _Name
    operator: Literal[pipeline_kind.OPERATORS]  # type: ignore[valid-type]
    value: Any


class PipelineConditionGroup(BaseModel):
    """A condition group as the server stores it (what ``o2kit export`` writes)."""

    model_config = ConfigDict(extra="allow", title="PipelineConditionGroup")
    filterType: Literal["group"]  # noqa: N815 — the server's key


class PipelineCondition(_Forbid):
    model_config = ConfigDict(title="PipelineCondition")
    condition: (
        PipelineConditionItem
        | Annotated[list[PipelineConditionItem], Field(min_length=1)]
        | PipelineConditionGroup
    ) = Field(description="{column, operator, value}, a list of them (all must hold), or a "
                          "server condition group")


class PipelineStreamStep(_Forbid):
    """``stream: {stream: NAME, type: …, new: …}`` (stream_node reads the inner mapping)."""

    model_config = ConfigDict(title="PipelineStreamStep")
    stream: PipelineStream


_PipelineStep = PipelineFunction | PipelineCondition | PipelineStream | PipelineStreamStep


class Pipeline(_Forbid):
    """One realtime pipeline: ``steps`` (linear), or ``nodes`` + ``edges`` (a graph whose source
    node is ``source``)."""

    model_config = ConfigDict(title="Pipeline")
    name: Annotated[str, Field(pattern=r"^[^A-Z\s]([^A-Z]*[^A-Z\s])?$")] = Field(
        description="lower case, no surrounding spaces: the server lower-cases it on create"
    )
    description: str = ""
    enabled: StrictBool = True
    source: _Name | PipelineSource = Field(description="a configured logs stream")
    steps: Annotated[list[_PipelineStep], Field(min_length=1)] | None = Field(
        default=None, description="a linear pipeline; without a final stream step the records "
        "go back into the source stream")
    nodes: Annotated[dict[str, _PipelineStep], Field(min_length=1)] | None = Field(
        default=None, description='a graph: node id → step ("source" is the source node)')
    edges: Annotated[list[tuple[str | int, str | int]], Field(min_length=1)] | None = Field(
        default=None, description="[FROM, TO] node ids")


class _PipelinesFile(_Forbid):
    model_config = ConfigDict(title="PipelinesFile")
    pipelines: list[Pipeline] = Field(default_factory=list)


def _pipelines() -> dict[str, Any]:
    out = _model_schema(
        _PipelinesFile,
        "o2kit pipelines file (pipelines/*.yaml)",
        "OpenObserve realtime pipelines on logs streams: a source stream, then functions, "
        "conditions and destination streams, as steps or as nodes + edges.",
    )
    pipe = out["$defs"]["Pipeline"]
    # pipeline._graph: either steps, or nodes and edges (both).
    pipe["oneOf"] = [
        {"required": ["steps"], "not": {"anyOf": [{"required": ["nodes"]},
                                                  {"required": ["edges"]}]}},
        {"required": ["nodes", "edges"], "not": {"required": ["steps"]}},
    ]
    nodes = next(v for v in pipe["properties"]["nodes"]["anyOf"] if v.get("type") == "object")
    nodes["propertyNames"] = {"not": {"const": pipeline_kind.SOURCE_ID}}
    return out


# --- slos/*.yaml: what o2kit.kinds.slo.parse (and check_slo, check_condition) accepts ---------

_Duration = Annotated[
    int | Annotated[str, Field(pattern=r"^\s*\d+\s*(s|m|h|d)?\s*$")],
    Field(description="30d, 6h, 5m, 300s, or whole seconds"),
]


class SliStream(_Forbid):
    stream: _Name
    stream_type: str = "logs"


class SliGood(SliStream):
    """Count SLI, one query: ``good`` rows among the stream's rows (within ``scope``)."""

    model_config = ConfigDict(title="SliGood")
    scope: str | None = Field(default=None, description="SQL predicate: the rows counted")
    good: str = Field(description="SQL predicate: the good ones among them")


class SliSql(SliStream):
    model_config = ConfigDict(title="SliSql")
    sql: Annotated[str, Field(pattern=r"\S")]


class SliDual(_Forbid):
    """Count SLI, two queries: good and total."""

    model_config = ConfigDict(title="SliDual")
    good_query: SliSql
    total_query: SliSql


class PromQLPair(BaseModel):
    model_config = ConfigDict(title="PromQLPair")
    good: str
    total: str


class SliPromQL(_Forbid):
    model_config = ConfigDict(title="SliPromQL")
    promql: PromQLPair


class SliTimeSlice(SliStream):
    """Time-slice SLI: a slice is good when ``query`` compared with ``threshold`` holds."""

    model_config = ConfigDict(title="SliTimeSlice")
    query: str
    query_language: str = "sql"
    scope: str | None = None
    comparator: Literal[slo_kind.ORDERABLE]  # type: ignore[valid-type]
    threshold: float
    absent_is_bad: StrictBool = False


class SliAlert(_Forbid):
    model_config = ConfigDict(title="SliAlert")
    alert_id: str = Field(description="the server's id of the alert")


class SloAlert(_Forbid):
    """A burn-rate (or error-budget) alert on this SLO."""

    model_config = ConfigDict(title="SloAlert")
    kind: Literal["burn_rate", "error_budget"] = "burn_rate"
    long_window: _Duration | None = Field(default=None, description="burn_rate only; 1h")
    short_window: _Duration | None = Field(
        default=None, description="burn_rate only; default long ÷ 12 on the slice grid")
    burn_rate: float | None = Field(default=None, description="required for kind burn_rate")
    budget_consumed_pct: float | None = Field(
        default=None, description="required for kind error_budget")
    warning: float | None = None
    operator: Literal[">", ">="] = ">="
    destinations: Annotated[list[str], Field(min_length=1)] = Field(
        description="destination names from alerts/*.yaml")
    silence_minutes: Annotated[int, Field(ge=0)] = 60
    frequency_minutes: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="default: the slice interval")
    enabled: StrictBool = True
    description: str | None = None


class Slo(_Forbid):
    model_config = ConfigDict(title="Slo")
    description: str | None = None
    sli: SliGood | SliDual | SliPromQL | SliTimeSlice | SliAlert
    target: Annotated[float, Field(gt=0, lt=100)] = Field(description="percent, e.g. 99.5")
    window: _Duration = Field(default="30d", description="7d, 30d or 90d")
    slice: _Duration = Field(default="1m", description="1m, or 5m (5m when group_by is set)")
    group_by: list[str] | None = None
    enabled: StrictBool = True
    tags: list[str] = Field(default_factory=list)
    alerts: dict[str, SloAlert] | None = None


def _slos() -> dict[str, Any]:
    out = _model_schema(
        Slo,
        "o2kit SLOs file (slos/*.yaml)",
        "OpenObserve native SLOs by name: an SLI, a target over a rolling window, and "
        "burn-rate alerts to destinations of alerts/*.yaml.",
    )
    slo = {k: out.pop(k) for k in ("type", "properties", "required", "additionalProperties")}
    slo["title"] = "Slo"
    out["$defs"]["Slo"] = slo
    out["type"] = "object"
    out["propertyNames"] = {"pattern": slo_kind._NAME.pattern}
    out["additionalProperties"] = {"$ref": "#/$defs/Slo"}
    alert = out["$defs"]["SloAlert"]
    # slo._alert_body: the critical value is burn_rate or budget_consumed_pct, by kind.
    alert["if"] = {"properties": {"kind": {"const": "error_budget"}}, "required": ["kind"]}
    alert["then"] = {"required": ["budget_consumed_pct"],
                     "not": {"anyOf": [{"required": ["long_window"]},
                                       {"required": ["short_window"]}]}}
    alert["else"] = {"required": ["burn_rate"]}
    alerts = next(v for v in slo["properties"]["alerts"]["anyOf"] if v.get("type") == "object")
    alerts["propertyNames"] = {"pattern": _OBJECT_NAME_PATTERN}
    return out


class _FunctionTestFileSchema(functiontest.FunctionTestFile):
    model_config = ConfigDict(extra="forbid", frozen=True, title="FunctionTestFile")
    ingest: config.Ingest | None = Field(  # type: ignore[assignment]
        default=None,
        description="o2kit.yaml ingest: keys to render the function with; the rest as configured",
    )


def _function_test() -> dict[str, Any]:
    out = _model_schema(
        _FunctionTestFileSchema,
        "o2kit function tests (function-tests/*.yaml)",
        "Sample events for a VRL function of functions/, and what it must return for each "
        "(null: dropped).",
    )
    # An override merged over o2kit.yaml's ingest: an absent key keeps the configured value.
    _walk(out["$defs"]["Ingest"], lambda node: node.pop("default", None))
    return out


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by name (the names of ``FILE_PATTERNS``), in that order."""
    config_schema = _model_schema(
        config.Config,
        "o2kit project settings (o2kit.yaml)",
        "What the templates are rendered for: org, folders, stream names, price table, "
        "threshold defaults. Server URL and credentials never live here.",
    )
    env_schema = _overlay(config_schema)
    env_schema["title"] = "o2kit environment overlay (envs/*.yaml)"
    env_schema["description"] = (
        "Selected with --env NAME and merged over o2kit.yaml: mappings key by key, lists and "
        "values replaced whole. Every key is optional."
    )
    return {
        "config": config_schema,
        "env": env_schema,
        "dashboard": _dashboard(),
        "alerts": _alerts(),
        "prices": _model_schema(
            prices.PriceTable,
            "o2kit price table (prices.yaml)",
            "Token prices per 1,000 tokens, per model-id prefix; the most specific row wins.",
        ),
        "alert-test": _model_schema(
            alerttest.TestFile,
            "o2kit alert tests (alert-tests/*.yaml)",
            "Input rows or synthetic traffic, an evaluation time, and what the alert must do.",
        ),
        "pipelines": _pipelines(),
        "slos": _slos(),
        "function-test": _function_test(),
    }


def schema_file_name(name: str) -> str:
    return f"{name}.schema.json"


def schema_text(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def vscode_settings(schema_dir: str = SCHEMA_DIR) -> dict[str, Any]:
    """The ``yaml.schemas`` mapping for ``.vscode/settings.json`` (paths relative to the repo)."""
    return {
        "yaml.schemas": {
            f"./{schema_dir}/{schema_file_name(name)}": patterns
            for name, patterns in FILE_PATTERNS.items()
        }
    }


def write_schemas(out_dir: Path, schemas: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    """Write ``<name>.schema.json`` files (only when their text changed). Returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas.items():
        path = out_dir / schema_file_name(name)
        text = schema_text(schema)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
