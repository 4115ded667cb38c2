"""``o2kit init DIR``: a new configuration repository, ready for ``o2kit validate``.

What it writes::

    o2kit.yaml, prices.yaml, envs/          settings, the price table, an example overlay
    dashboards/, alerts/, templates/        the Bedrock dashboard and alerts and their templates
    alert-tests/                            alert unit tests (o2kit test)
    functions/, pipelines/, function-tests/ the Bedrock ingest functions (VRL), their realtime
                                            pipelines (on: ingest.pipeline true) and tests
    .github/workflows/o2kit.yml             CI: validate + test + plan on pull requests, apply
    scripts/gitops.sh                       on merge (the workflow's steps, callable from any CI)
    scripts/_venv.sh                        installs o2kit for gitops.sh (O2KIT_PIP_SPEC)
    schemas/, .vscode/settings.json         JSON Schemas wired for yaml-language-server
    .gitignore, README.md

The starter files (settings, templates, workflow) are copied from o2kit's own repository as it
is when ``init`` runs — the source checkout o2kit runs from (an editable install). TODO(packaging):
a wheel install has no checkout; shipping the starter files as package data (``o2kit/starter/``,
looked up first by ``starter_root``) would make ``init`` complete there too. Until then, without a
checkout, ``init`` writes a minimal project (settings, an empty price table, empty folders) and
says that the workflow and templates are missing.

Never overwrites a file: a non-empty DIR needs ``force``, and then existing files are kept.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from o2kit import __version__
from o2kit.cli import schema_files as jsonschema
from o2kit.errors import UserError

log = logging.getLogger(__name__)

__all__ = ["InitResult", "STARTER_PATHS", "init_project", "starter_root"]

# Copied from the starter source, when present there: files, and folders copied recursively.
STARTER_PATHS: tuple[str, ...] = (
    "o2kit.yaml",
    "prices.yaml",
    "envs",
    "dashboards",
    "alerts",
    "templates",
    "alert-tests",
    "functions",
    "pipelines",
    "function-tests",
    ".github/workflows/o2kit.yml",
    "scripts/gitops.sh",
)
_SKIP_NAMES = frozenset({"__pycache__", ".DS_Store"})

# Without a starter source: the least that validates.
_MINIMAL_CONFIG = """\
# o2kit project settings. Server URL and credentials never live here: export OPENOBSERVE_URL,
# OPENOBSERVE_USER and OPENOBSERVE_PASSWORD. `--env NAME` merges envs/NAME.yaml over this file.
org: default
folders:
  dashboards: Bedrock
  alerts: Bedrock
streams:
  metrics: bedrock_metrics
  invocation_logs: bedrock_logs
prices: prices.yaml
prices_sync: true
regions: []
defaults: {}
"""
_MINIMAL_PRICES = """\
# Token prices per 1,000 tokens, per model-id prefix (the most specific row wins). Fill in your
# own from the AWS Bedrock pricing page.
currency: USD
effective_date: 1970-01-01
checked_on: 1970-01-01
source: "TODO: where these prices come from"
models: []
"""

_VENV_SH = """\
# Sourced by scripts/gitops.sh: create .venv on first use and install o2kit into it (again when
# O2KIT_PIP_SPEC changes). TODO: point O2KIT_PIP_SPEC at where your o2kit comes from, e.g. a
# package index pin, "o2kit[local] @ git+https://<your git host>/o2kit@<tag>" or a wheel file.
# The 'local' extra brings the query engine `o2kit test` (in `gitops.sh pr`) runs alert tests on.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
python_bin="${PYTHON:-python3}"
spec="${O2KIT_PIP_SPEC:-o2kit[local]==%(version)s}"
if [ ! -x .venv/bin/python ]; then
  "$python_bin" -m venv .venv
fi
stamp=".venv/.o2kit-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$spec" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "$spec"
  echo "$spec" > "$stamp"
fi
export PATH="$here/.venv/bin:$PATH"
"""

_GITIGNORE = ".venv/\nbuild/\n__pycache__/\n"

_README = """\
# OpenObserve dashboards and alerts as code

Managed with o2kit. The files:

| path | what |
|---|---|
| `o2kit.yaml`, `envs/*.yaml` | org, folders, stream names, defaults; per-env overlays |
| `prices.yaml` | token prices used by the cost panels and the budget alert |
| `dashboards/*.yaml`, `alerts/*.yaml` | one dashboard per file; alerts with their destinations |
| `templates/` | Jinja templates (and raw OpenObserve JSON written by `o2kit export`) |
| `alert-tests/` | alert unit tests (`o2kit test`) |
| `functions/`, `pipelines/` | ingest functions (VRL) and the realtime pipelines that run them |
| `function-tests/` | function tests (`o2kit test`) |
| `schemas/`, `.vscode/settings.json` | JSON Schemas for editors (yaml-language-server) |

```bash
o2kit validate            # offline checks
o2kit plan                # what would change on the server (OPENOBSERVE_URL/USER/PASSWORD)
o2kit apply               # make it so
o2kit export --folder X   # bring existing dashboards and alerts under code
```

CI: `.github/workflows/o2kit.yml` runs `scripts/gitops.sh` (plan on pull requests, apply on
merge). Set `O2KIT_PIP_SPEC` (see `scripts/_venv.sh`) to where your o2kit comes from.
"""


@dataclass
class InitResult:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def starter_root() -> Path | None:
    """Where the starter files come from: package data ``o2kit/starter/`` if it is ever shipped
    (TODO(packaging)), else the o2kit source checkout this code runs from, else None."""
    spec = importlib.util.find_spec("o2kit")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations))).resolve()
    candidates = [package / "starter", package.parent.parent]
    for root in candidates:
        if (root / "o2kit.yaml").is_file() and (root / "templates").is_dir():
            return root
    return None


def _starter_files(source: Path) -> Iterator[tuple[Path, Path]]:
    """(absolute source file, path relative to the new repository)."""
    for rel in STARTER_PATHS:
        path = source / rel
        if path.is_file():
            yield path, Path(rel)
        elif path.is_dir():
            for file in sorted(path.rglob("*")):
                parts = file.relative_to(source).parts
                if file.is_file() and not _SKIP_NAMES & set(parts):
                    yield file, file.relative_to(source)


def _ci_workflow(text: str) -> str:
    # The workflow in o2kit's own repository keys its pip cache on pyproject.toml, which a
    # configuration repository does not have (actions/setup-python fails on a missing file).
    return text.replace("cache-dependency-path: pyproject.toml",
                        "cache-dependency-path: scripts/_venv.sh")


def project_id(directory: Path, suffix: str | None = None) -> str:
    """A new project identity: the directory's name as a slug plus a short random suffix, so
    two repositories both called "monitoring" still differ (``[a-z0-9][a-z0-9-]{1,40}``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", directory.resolve().name.lower()).strip("-")[:30]
    suffix = suffix if suffix is not None else secrets.token_hex(2)
    return f"{slug or 'o2kit'}-{suffix}"


_PROJECT_LINE = re.compile(r"^project:.*$", re.MULTILINE)
_PROJECT_COMMENT = (
    "# Project identity: goes into the ownership marker of every object o2kit creates, so that\n"
    "# apply and --prune touch only this repository's objects. Keep it when files or the\n"
    "# repository are renamed; give every repository its own.\n"
)


def _with_project(config: str, project: str) -> str:
    """``o2kit.yaml`` text with ``project: <id>`` (replacing one the starter carries)."""
    if _PROJECT_LINE.search(config):
        return _PROJECT_LINE.sub(f"project: {project}", config, count=1)
    line = f"{_PROJECT_COMMENT}project: {project}\n"
    match = re.search(r"^org:", config, re.MULTILINE)
    if match is None:
        return config + ("" if config.endswith("\n") else "\n") + line
    return config[: match.start()] + line + config[match.start():]


_PRICES_SYNC_LINE = re.compile(r"^prices_sync:.*$", re.MULTILINE)


def _with_prices_sync(config: str) -> str:
    """``o2kit.yaml`` text with ``prices_sync: true``: a new project keeps OpenObserve's LLM model
    prices equal to its price table (an existing one opts in by writing the line)."""
    if _PRICES_SYNC_LINE.search(config):
        return _PRICES_SYNC_LINE.sub("prices_sync: true", config, count=1)
    return config + ("" if config.endswith("\n") else "\n") + "prices_sync: true\n"


_INGEST_LINE = re.compile(r"^ingest:", re.MULTILINE)
_INGEST_BLOCK = """
# The shipped Bedrock ingest pipeline (functions/, pipelines/; README "Ingest pipeline"): one
# typed row per metric datapoint at its own minute and per model call, read by every panel and
# alert. `pipeline: false` stores the streams as OpenObserve flattens them (the panels follow).
# privacy: keep | drop | {truncate: N} — what is stored of prompts and responses.
ingest:
  pipeline: true
  privacy: keep
"""


def _with_ingest(config: str) -> str:
    """``o2kit.yaml`` text with the ingest pipeline on, unless the starter says otherwise."""
    if _INGEST_LINE.search(config):
        return config
    return config + ("" if config.endswith("\n") else "\n") + _INGEST_BLOCK


def init_project(directory: Path, *, force: bool = False, source: Path | None = None) -> InitResult:
    """Create the repository in ``directory``. ``source``: where starter files are copied from
    (default ``starter_root()``)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise UserError(
            f"{directory} is not empty",
            remedy="choose a new directory, or pass --force to add the missing files "
            "(existing files are never overwritten)",
        )
    source = source if source is not None else starter_root()
    planned: dict[Path, bytes] = {}
    result = InitResult()
    if source is not None:
        for file, rel in _starter_files(source):
            data = file.read_bytes()
            if rel == Path(".github/workflows/o2kit.yml"):
                data = _ci_workflow(data.decode("utf-8")).encode("utf-8")
            planned[rel] = data
    else:
        planned[Path("o2kit.yaml")] = _MINIMAL_CONFIG.encode()
        planned[Path("prices.yaml")] = _MINIMAL_PRICES.encode()
        for folder in ("dashboards", "alerts", "templates", "envs"):
            planned[Path(folder, ".gitkeep")] = b""
        result.notes.append(
            "no starter files found (o2kit is not running from its source checkout): wrote a "
            "minimal project without templates; copy .github/workflows/o2kit.yml and "
            "scripts/gitops.sh from the o2kit repository for CI"
        )
    for ci_file in (".github/workflows/o2kit.yml", "scripts/gitops.sh"):
        if Path(ci_file) not in planned and source is not None:
            result.notes.append(f"{ci_file} is not in {source} yet; copy it later for CI")
    config_file = Path("o2kit.yaml")
    if config_file in planned:
        planned[config_file] = _with_ingest(_with_prices_sync(_with_project(
            planned[config_file].decode("utf-8"), project_id(directory)
        ))).encode()
    planned[Path("scripts/_venv.sh")] = (_VENV_SH % {"version": __version__}).encode()
    for name, schema in jsonschema.all_schemas().items():
        rel = Path(jsonschema.SCHEMA_DIR, jsonschema.schema_file_name(name))
        planned[rel] = jsonschema.schema_text(schema).encode()
    settings = json.dumps(jsonschema.vscode_settings(), indent=2) + "\n"
    planned[Path(".vscode/settings.json")] = settings.encode()
    planned[Path(".gitignore")] = _GITIGNORE.encode()
    planned[Path("README.md")] = _README.encode()

    for rel, data in planned.items():
        target = directory / rel
        if target.exists():
            result.kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if rel.suffix == ".sh":
            target.chmod(0o755)
        result.written.append(target)
    log.debug("init %s: %d written, %d kept", directory, len(result.written), len(result.kept))
    return result
