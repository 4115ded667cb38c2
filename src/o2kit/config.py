"""The project's configuration (``o2kit.yaml`` plus an optional ``envs/<name>.yaml`` overlay) and
the server connection settings (flags and environment only — never files in git).

Precedence for the org: ``--org`` flag > ``OPENOBSERVE_ORG`` > overlay > ``o2kit.yaml``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from o2kit.errors import ConfigError, Problem, ValidationFailed
from o2kit.yamlsrc import LineIndex, ModelErrors, YamlError, load_yaml_file, parse_as

CONFIG_FILE = "o2kit.yaml"
ENVS_DIR = "envs"

# OpenObserve normalises stream names: characters outside [A-Za-z0-9_:] become "_", then lower-case
# (src/config/src/utils/schema.rs `format_stream_name`; reference bedrock-telemetry.md §1). We
# refuse names that would be rewritten, so the SQL we render names the stream that really exists.
_STREAM_NAME = re.compile(r"^[a-z0-9_:]+$")
_ENV_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _stream_name(value: str) -> str:
    if not _STREAM_NAME.fullmatch(value):
        normalised = re.sub(r"[^A-Za-z0-9_:]", "_", value).lower()
        raise ValueError(
            f"OpenObserve stores stream {value!r} as {normalised!r}; write {normalised!r}"
        )
    return value


# Column names after OpenObserve's flattening: lower-case, every other character becomes "_"
# (reference bedrock-telemetry.md §5). A name outside this set can never match a column.
_COLUMN_NAME = re.compile(r"^[a-z0-9_]+$")


def _column_name(value: str | None) -> str | None:
    if value is not None and not _COLUMN_NAME.fullmatch(value):
        normalised = re.sub(r"[^a-z0-9_]", "_", value.lower())
        raise ValueError(
            f"OpenObserve stores field {value!r} as {normalised!r}; write {normalised!r}"
        )
    return value


class ApplicationLogs(_Strict):
    """A structured application-log stream: one line per Bedrock call with its latency."""

    stream: str
    latency_field: str = "latency_ms"  # the call's latency in milliseconds
    model_field: str = "model_id"  # the Bedrock model id the call used
    # The AWS region of the call, if the log line has one; lets the dashboard's region variable
    # filter this stream too (without it, application-log panels ignore the region variable).
    region_field: str | None = None

    _check_stream = field_validator("stream")(_stream_name)
    _check_fields = field_validator("latency_field", "model_field", "region_field")(_column_name)


class Streams(_Strict):
    metrics: str = "bedrock_metrics"
    invocation_logs: str = "bedrock_logs"
    application_logs: ApplicationLogs | None = None

    _check = field_validator("metrics", "invocation_logs")(_stream_name)


class Folders(_Strict):
    dashboards: str = "Bedrock"
    alerts: str = "Bedrock"

    @field_validator("dashboards", "alerts")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("folder name cannot be empty")
        if value != value.strip():
            raise ValueError("folder name has leading or trailing spaces (OpenObserve trims them)")
        return value


class Config(_Strict):
    """``o2kit.yaml``: what the templates are rendered for."""

    org: str = "default"
    folders: Folders = Field(default_factory=Folders)
    streams: Streams = Field(default_factory=Streams)
    prices: str = "prices.yaml"
    regions: list[str] = Field(default_factory=list)
    # Threshold defaults that alert and dashboard files may override per file.
    defaults: dict[str, float | int | str | bool] = Field(default_factory=dict)

    @field_validator("org")
    @classmethod
    def _org(cls, value: str) -> str:
        if not value or "/" in value or value != value.strip():
            raise ValueError("org must be a non-empty name without '/' or surrounding spaces")
        return value


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    root: Path
    env: str | None
    files: tuple[str, ...]  # the files it was read from, for messages


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay wins; mappings merge key by key; lists and scalars are replaced whole."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _MergedIndex(LineIndex):
    """Lines for a merged document: a path set by the overlay points into the overlay file."""

    def __init__(self, base: LineIndex, overlay: LineIndex | None) -> None:
        super().__init__(base.file, dict(base.lines))
        self._base = base
        self._overlay = overlay

    def problem(self, path: Any, message: str) -> Problem:
        p = tuple(path)
        if self._overlay is not None:
            q = p
            while q:
                if q in self._overlay.lines:
                    return self._overlay.problem(p, message)
                q = q[:-1]
        return self._base.problem(p, message)


def load_config(root: Path, env: str | None = None) -> LoadedConfig:
    """Read ``o2kit.yaml`` (and ``envs/<env>.yaml``) under ``root``; every problem at once."""
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_FILE} in {root}",
            remedy="run o2kit from the repository root, pass --project DIR, or `o2kit init DIR`",
        )
    files = [CONFIG_FILE]
    try:
        data, index = load_yaml_file(path, CONFIG_FILE)
        overlay_index = None
        if env is not None:
            if not _ENV_NAME.fullmatch(env):
                raise ConfigError(f"--env {env!r}: use letters, digits, '_' and '-' only")
            overlay_name = f"{ENVS_DIR}/{env}.yaml"
            overlay_path = root / overlay_name
            if not overlay_path.is_file():
                known = sorted(p.stem for p in (root / ENVS_DIR).glob("*.yaml"))
                raise ConfigError(
                    f"environment {env!r} not found: no {overlay_name}",
                    remedy=f"known environments: {', '.join(known) or 'none'}",
                )
            overlay, overlay_index = load_yaml_file(overlay_path, overlay_name)
            files.append(overlay_name)
            if overlay is None:
                overlay = {}
            if not isinstance(overlay, dict):
                raise ValidationFailed([overlay_index.problem((), "must be a mapping")])
            data = deep_merge(data or {}, overlay)
    except YamlError as exc:
        raise ValidationFailed([exc.problem]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed([index.problem((), "must be a mapping of settings")])
    try:
        config = parse_as(Config, data, _MergedIndex(index, overlay_index))
    except ModelErrors as exc:
        raise ValidationFailed(exc.problems) from exc
    return LoadedConfig(config=config, root=root, env=env, files=tuple(files))


def list_envs(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / ENVS_DIR).glob("*.yaml"))


@dataclass(frozen=True)
class ServerSettings:
    """How to reach OpenObserve. Built by the CLI from flags and environment variables only."""

    url: str
    org: str
    user: str
    password: str
    ca_bundle: str | None = None
    insecure: bool = False
    timeout: float = 30.0
    concurrency: int = 8
    retries: int = 4

    def __repr__(self) -> str:  # never print the secret
        return (
            f"ServerSettings(url={self.url!r}, org={self.org!r}, user={self.user!r}, "
            "password='***')"
        )


def server_settings(
    *,
    env: Mapping[str, str],
    config_org: str,
    url: str | None = None,
    org: str | None = None,
    user: str | None = None,
    password: str | None = None,
    ca_bundle: str | None = None,
    insecure: bool = False,
    timeout: float = 30.0,
    concurrency: int = 8,
) -> ServerSettings:
    """Resolve connection settings; a missing value is a ConfigError that says how to set it."""
    url = url or env.get("OPENOBSERVE_URL")
    user = user or env.get("OPENOBSERVE_USER")
    password = password or env.get("OPENOBSERVE_PASSWORD")
    org = org or env.get("OPENOBSERVE_ORG") or config_org
    missing = [
        name
        for name, value in (
            ("OPENOBSERVE_URL (or --url)", url),
            ("OPENOBSERVE_USER", user),
            ("OPENOBSERVE_PASSWORD", password),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"missing server settings: {', '.join(missing)}",
            remedy="export them in the environment (credentials are never read from files in git)",
        )
    assert url and user and password
    if not re.match(r"^https?://", url):
        raise ConfigError(f"server URL {url!r} must start with http:// or https://")
    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    return ServerSettings(
        url=url.rstrip("/"),
        org=org,
        user=user,
        password=password,
        ca_bundle=ca_bundle or env.get("OPENOBSERVE_CA_BUNDLE"),
        insecure=insecure,
        timeout=timeout,
        concurrency=concurrency,
    )
