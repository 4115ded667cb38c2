"""Secrets referenced from the environment: ``${env:NAME}`` inside string values.

Webhook URLs and tokens are written in YAML as ``${env:SLACK_WEBHOOK_URL}``; the rendered bodies
keep the placeholder (so ``o2kit render`` output and plans never hold a secret), and only the
code that sends a body to OpenObserve resolves it, with ``resolve_env_refs``.

Escape: ``$${env:NAME}`` is the literal text ``${env:NAME}`` (like Terraform's ``$${``). It is
never resolved, never reported as a reference, and resolution writes it as ``${env:NAME}``.
``o2kit export`` writes every ``${env:`` it finds in server text this way (``escape_env_refs``):
text from a server is data, so a template body that says ``${env:OPENOBSERVE_PASSWORD}`` on the
server stays that text and is never replaced by the CI job's password. Only the first ``$`` of
``$${`` is dropped, and only before ``{env:`` (spaces and case as ``malformed_env_refs`` reads
them), so ``escape`` followed by ``resolve`` gives back the server's text exactly.

o2kit's own credential and the CI's tokens (``RESERVED``: ``OPENOBSERVE_PASSWORD`` and its
per-environment and plan-only variants, ``GITHUB_TOKEN``, ``ACTIONS_*``) are never resolved: a
reference to one is a problem in ``validate`` and refused by ``resolve_env_refs``, so a template
edited in a pull request cannot send the admin password to the server, where every UI user
could read it.

Pure: the environment is passed in as a mapping. Messages name the variable and where it is used,
never its value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from o2kit.errors import ConfigError
from o2kit.project.yamlsrc import format_path

ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
RESERVED = re.compile(
    r"OPENOBSERVE_(?:PLAN_)?PASSWORD(?:_[A-Za-z0-9_]+)?|GITHUB_TOKEN|ACTIONS_[A-Za-z0-9_]+"
)
_OPENER = re.compile(r"\$(?=\{\s*env\s*:)", re.IGNORECASE)
# One scan, leftmost first: an escape ``$${env:``, a reference (case-sensitive), or anything that
# starts like a reference (a typo such as ${env:my-var}, ${ENV:X} or an unclosed ${env:X).
_SCAN = re.compile(
    r"(?P<escaped>\$\$(?=\{\s*env\s*:))"
    r"|(?-i:(?P<ref>\$\{env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}))"
    r"|(?P<like>\$\{\s*env\s*:[^}]*\}?)",
    re.IGNORECASE,
)


def _scan(text: str) -> list[re.Match[str]]:
    """Escapes, references and look-alikes of ``text``, leftmost first, never overlapping."""
    return list(_SCAN.finditer(text)) if "$" in text else []


def escape_env_refs(value: Any) -> Any:
    """``value`` (a string, or any JSON-like value) with every ``${env:`` written ``$${env:``,
    so that ``resolve_env_refs`` gives back exactly ``value`` and resolves nothing in it. For text
    that came from a server (``o2kit export``)."""
    if isinstance(value, str):
        return _OPENER.sub("$$", value)
    if isinstance(value, Mapping):
        return {key: escape_env_refs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [escape_env_refs(item) for item in value]
    if isinstance(value, tuple):
        return tuple(escape_env_refs(item) for item in value)
    return value


def may_hold_env_refs(body: Any) -> bool:
    """False when no string in ``body`` contains "${", which every reference, escape and
    look-alike starts with: one C-speed ``json.dumps`` (about 1 ms for a 200 KB dashboard)
    instead of a walk (about 3 ms), so the functions below skip the bodies — most dashboards —
    that have nothing to find."""
    if isinstance(body, str):
        return "${" in body
    try:
        return "${" in json.dumps(body, ensure_ascii=False)
    except (TypeError, ValueError):
        return True


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
    if not may_hold_env_refs(body):
        return []
    return [
        (path, str(match.group("name")))
        for path, text in _walk(body, ())
        for match in _scan(text)
        if match.group("ref") is not None
    ]


def is_reserved(name: str) -> bool:
    """True for o2kit's own credential and the CI's tokens (never resolved into a body)."""
    return RESERVED.fullmatch(name) is not None


def reserved_env_refs(body: Any) -> list[tuple[str, str]]:
    """``(path, variable)`` of every reference to a ``RESERVED`` variable."""
    return [(path, var) for path, var in find_env_refs(body) if is_reserved(var)]


def malformed_env_refs(body: Any) -> list[tuple[str, str]]:
    """``(path, text)`` of things that look like a reference but are not one (``${env:a-b}``,
    ``${ENV:X}``, an unclosed ``${env:X``). They would otherwise be sent to the server as is."""
    bad: list[tuple[str, str]] = []
    if not may_hold_env_refs(body):
        return bad
    for path, text in _walk(body, ()):
        for match in _scan(text):
            like = match.group("like")
            if like is not None:
                bad.append((format_path(path), like))
    return bad


def resolve_env_refs(
    body: Any,
    environ: Mapping[str, str],
    *,
    resource: str = "",
    on_secret: Callable[[str], None] | None = None,
) -> Any:
    """``body`` with every ``${env:NAME}`` replaced by ``environ[NAME]`` and every escaped
    ``$${env:`` written ``${env:`` (see ``resolve_and_locate``)."""
    return resolve_and_locate(body, environ, resource=resource, on_secret=on_secret)[0]


def resolve_and_locate(
    body: Any,
    environ: Mapping[str, str],
    *,
    resource: str = "",
    on_secret: Callable[[str], None] | None = None,
) -> tuple[Any, list[tuple[str | int, ...]]]:
    """``(resolved, paths)``: a copy of ``body`` with every ``${env:NAME}`` replaced by
    ``environ[NAME]`` and every escaped ``$${env:`` written ``${env:`` (see the module
    docstring), and the path of every reference, found in the same walk. A body with nothing to
    resolve is returned itself, not copied.

    Each value used is passed to ``on_secret`` (the CLI registers it with ``o2kit.redact``, so
    it is masked in every output). Every missing (or empty) variable is reported at once in one
    ``ConfigError``, naming the variable and the path that uses it — never any value.
    """
    if not may_hold_env_refs(body):
        return body, []
    missing: list[str] = []
    paths: list[tuple[str | int, ...]] = []
    reserved = reserved_env_refs(body)
    if reserved:
        prefix = f"{resource}: " if resource else ""
        used = ", ".join(f"{var} (used at {path or '(value)'})" for path, var in reserved)
        raise ConfigError(
            f"{prefix}o2kit never sends its own credentials or the CI's tokens to the server: "
            f"{used}",
            remedy="give the secret a variable of its own (e.g. ${env:SLACK_TOKEN})",
        )

    def resolve(value: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value
            out: list[str] = []
            last = 0
            for match in _scan(value):
                out.append(value[last : match.start()])
                last = match.end()
                if match.group("escaped") is not None:
                    out.append("$")  # $${env: → ${env:
                elif match.group("ref") is not None:
                    paths.append(path)
                    name = str(match.group("name"))
                    secret = environ.get(name)
                    if not secret:
                        where = format_path(path) or "(value)"
                        missing.append(f"{name} (used at {where})")
                        out.append(str(match.group("ref")))
                    else:
                        if on_secret is not None:
                            on_secret(secret)
                        out.append(secret)
                else:
                    out.append(value[match.start() : match.end()])
            out.append(value[last:])
            return "".join(out)
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
    return resolved, paths
