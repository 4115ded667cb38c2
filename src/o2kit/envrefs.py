"""Secrets referenced from the environment: ``${env:NAME}`` inside string values.

Webhook URLs and tokens are written in YAML as ``${env:SLACK_WEBHOOK_URL}``; the rendered bodies
keep the placeholder (so ``o2kit render`` output and plans never hold a secret), and only the
code that sends a body to OpenObserve resolves it, with ``resolve_env_refs``.

Pure: the environment is passed in as a mapping. Messages name the variable and where it is used,
never its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from o2kit.errors import ConfigError
from o2kit.yamlsrc import format_path

ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
# Anything that starts like a reference; used to catch typos such as ${env:my-var} or ${ENV:X}.
_ENV_REF_LIKE = re.compile(r"\$\{\s*env\s*:[^}]*\}?", re.IGNORECASE)


def _walk(body: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(body, str):
        found.append((path, body))
    elif isinstance(body, Mapping):
        for key, value in body.items():
            found.extend(_walk(value, (*path, str(key))))
    elif isinstance(body, list | tuple):
        for i, value in enumerate(body):
            found.extend(_walk(value, (*path, i)))
    return found


def find_env_refs(body: Any) -> list[tuple[str, str]]:
    """Every ``(path, variable)`` referenced in ``body``, in document order; path like
    ``headers.Authorization`` or ``url``."""
    return [(format_path(path), var) for path, var in find_env_ref_paths(body)]


def find_env_ref_paths(body: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Like ``find_env_refs`` with the path as a tuple of keys and indexes."""
    return [
        (path, match.group(1)) for path, text in _walk(body, ()) for match in ENV_REF.finditer(text)
    ]


def malformed_env_refs(body: Any) -> list[tuple[str, str]]:
    """``(path, text)`` of things that look like a reference but are not one (``${env:a-b}``,
    ``${ENV:X}``, an unclosed ``${env:X``). They would otherwise be sent to the server as is."""
    bad = []
    for path, text in _walk(body, ()):
        for match in _ENV_REF_LIKE.finditer(text):
            if not ENV_REF.fullmatch(match.group()):
                bad.append((format_path(path), match.group()))
    return bad


def resolve_env_refs(body: Any, environ: Mapping[str, str], *, resource: str = "") -> Any:
    """A copy of ``body`` with every ``${env:NAME}`` replaced by ``environ[NAME]``.

    Every missing (or empty) variable is reported at once in one ``ConfigError``, naming the
    variable and the path that uses it — never any value.
    """
    missing: list[str] = []

    def resolve(value: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(value, str):

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                secret = environ.get(name)
                if not secret:
                    where = format_path(path) or "(value)"
                    missing.append(f"{name} (used at {where})")
                    return match.group()
                return secret

            return ENV_REF.sub(substitute, value)
        if isinstance(value, Mapping):
            return {key: resolve(item, (*path, str(key))) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(item, (*path, i)) for i, item in enumerate(value)]
        if isinstance(value, tuple):
            return tuple(resolve(item, (*path, i)) for i, item in enumerate(value))
        return value

    resolved = resolve(body, ())
    if missing:
        prefix = f"{resource}: " if resource else ""
        plural = "s are" if len(missing) > 1 else " is"
        raise ConfigError(
            f"{prefix}environment variable{plural} not set: {', '.join(missing)}",
            remedy="export the variable(s) before running o2kit (secrets never come from files)",
        )
    return resolved
