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
=============  ==========================  ==============================================

A schema can only say what a shape says: cross-file rules (a destination that exists, a
template's typed ``params``) remain ``o2kit validate``'s job. Written for JSON Schema draft-07,
which every yaml-language-server version reads. Pure apart from ``write_schemas``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from o2kit.project import config, prices
from o2kit.project import loader as project
from o2kit.query import alerttest

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
