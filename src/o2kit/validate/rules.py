"""``o2kit validate``: every problem in the desired resources, found offline, reported at once.

Two layers:

1. *Shape* — each body against the table of its kind in ``o2kit.validate.schemas`` (required keys,
JSON
   types, enums, unknown keys). These are the 422s OpenObserve would answer, plus the keys it
   would silently drop.
2. *Rules* — what a shape cannot say: the 192-column grid and overlaps, unique ids, the SQL of
   panels and alerts (parses, reads configured streams and documented columns, returns the
   aliases the panel plots), alert/destination/template rules of the server
   (``src/core/src/alerts/{alert,destinations,templates}.rs``), references between resources,
   duplicate keys, and values the server would rewrite (a perpetual diff in ``plan``).

A rule only runs on values of the right type; a wrong type is reported once, by the shape layer.

Pure: no I/O. ``validate_resources`` never raises on bad input and never mutates it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from o2kit import kinds
from o2kit.errors import Problem, problem_from_json, problem_to_json
from o2kit.model import Resource
from o2kit.project.columns import StreamColumns, catalogue
from o2kit.project.config import Config
from o2kit.project.envrefs import malformed_env_refs
from o2kit.validate import sqlcheck, vrl
from o2kit.validate.schemas import SHAPES, check, format_path
from o2kit.validate.schemas.dashboard import GRID_COLUMNS, STREAM_TYPES
from o2kit.validate.schemas.notify import SYSTEM_TEMPLATES
from o2kit.validate.schemas.shapes import Path, did_you_mean

log = logging.getLogger(__name__)

__all__ = ["validate_resources"]

FOLDER_TYPES = ("dashboards", "alerts")

# Names of alerts, destinations and templates: OpenObserve trims them, then refuses '/' and the
# characters OpenFGA cannot store (``RE_OFGA_UNSUPPORTED_NAME`` = ``[:#?\s'"%&]+`` in
# ``src/config/src/utils/str.rs``; used by ``prepare_alert``, ``destinations::save``,
# ``templates::save``).
_OFGA_UNSUPPORTED = re.compile(r"""[:#?\s'"%&]""")

# Alert tags (``src/config/src/meta/alerts/tags.rs`` ``normalize_tags``).
MAX_TAG_LEN = 200
MAX_TAGS = 64
_TAG_PUNCTUATION = frozenset("_-./:")


# Panels whose content is not a query.
_CONTENT_PANELS = {"html": "htmlContent", "markdown": "markdownContent"}
_PROMQL_QUERY_TYPES = ("promql", "promql-builder")
_AXIS_LISTS = ("x", "y", "z", "breakdown")
_AXIS_SLOTS = (
    "latitude",
    "longitude",
    "weight",
    "name",
    "value_for_maps",
    "source",
    "target",
    "value",
)

# The UI refuses a custom SQL query that aliases a column as the timestamp column and renames it
# to ``ts`` when it opens the dashboard (web/src/utils/dashboard/panelValidation.ts,
# ``checkTimestampAlias`` in web/src/composables/useLogs/logsUtils.ts).
_TIMESTAMP_COLUMN = "_timestamp"

# cron crate (seconds-first): sec min hour day-of-month month day-of-week [year].
_CRON_FIELD = re.compile(r"[A-Za-z0-9*?/,\-]+")
_CRON_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7), (1970, 2099))
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


# --------------------------------------------------------------------------------------------
# reporting


@dataclass
class _Report:
    """Problems of one resource; paths are JSON paths inside its body."""

    file: str
    line: int
    out: list[Problem]

    def add(self, path: Path | str, message: str, *, severity: str = "error") -> None:
        where = path if isinstance(path, str) else format_path(path)
        self.out.append(Problem(self.file, self.line, where, message, severity))

    def warn(self, path: Path | str, message: str) -> None:
        """A rule OpenObserve does not enforce: printed, never a refusal (``Problem.is_error``)."""
        self.add(path, message, severity="warning")


@dataclass
class _Context:
    config: Config
    streams: dict[str, StreamColumns]
    templates: set[str] = field(default_factory=set)
    destinations: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    # Source stream of each pipeline of the project → the pipelines reading it.
    pipeline_sources: dict[str, list[str]] = field(default_factory=dict)
    # The resource being checked is raw OpenObserve JSON (e.g. exported from a server): it may read
    # streams o2kit.yaml does not describe, so streams and columns are not judged against the
    # Bedrock catalogue; shapes, layout, SQL syntax and aliases still are.
    foreign_streams: bool = False
    # What ``_check_sql`` found per (SQL, expected stream, foreign_streams): the same SQL is in
    # many panels and alerts. Findings are ("sql" | "stream", message) and the output names.
    sql_findings: dict[tuple[str, str | None, bool, bool],
                       tuple[list[tuple[str, str]], tuple[str, ...] | None]] = field(
        default_factory=dict)
    # Where findings of earlier runs are kept (``Memo``), and a digest of everything besides
    # the SQL they depend on (o2kit itself, configuration, column catalogue); "" = not kept.
    memo: Memo | None = None
    memo_salt: str = ""


def _report_for(resource: Resource, out: list[Problem]) -> _Report:
    if resource.source is not None:
        return _Report(resource.source.file, resource.source.line, out)
    return _Report(f"<{resource.address}>", 0, out)


def _quoted_list(names: Iterable[str]) -> str:
    items = sorted(set(names))
    return ", ".join(f'"{n}"' for n in items) if items else "none"


# --------------------------------------------------------------------------------------------
# entry point


class Memo(Protocol):
    """Where results of earlier runs are kept (``o2kit.project.cache.Cache``; injected, so this
    module
    stays pure). ``get`` returns None on a miss; values are plain JSON data."""

    def get(self, namespace: str, key: str) -> Any | None: ...

    def put(self, namespace: str, key: str, value: Any, *, verify: bool = False) -> None: ...


# Kinds whose rules read the names of other resources (``_Context.templates``/``destinations``/
# ``functions``), or (functions) whether the VRL compiler is installed.
_READS_NAMES = frozenset({"destination", "alert", "pipeline", "function"})


class Mapper(Protocol):
    """``[func(item) for item in items]``, possibly shared among processes
    (``o2kit.project.workers.fork_map``; injected, so this module stays pure)."""

    def __call__(self, func: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]: ...


def _serial(func: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    return [func(item) for item in items]


def _settings_digest(config: Config, streams: Mapping[str, StreamColumns]) -> str:
    """Digest of what every rule reads besides the resource: configuration, column catalogue."""
    return _digest(config.model_dump(mode="json"), _catalogue_json(streams))


def _memo_key(shared: str, made_from: str, names: str, kind: str) -> str:
    """Where the problems of a resource made from ``made_from`` are kept (``Memo``)."""
    return _digest(shared, made_from, names if kind in _READS_NAMES else "")


def early_check(config: Config, *, memo: Memo | None = None,
                tool: str = "") -> Callable[[Resource, str | None], list[Problem] | None]:
    """A check for ``o2kit.project.loader.load_project(check=…)``: the problems of a resource
    whose rules read nothing of the other resources (not ``_READS_NAMES``), found in the
    process that rendered it — what ``validate_resources`` would find for it, with the same
    context and SQL findings (kept in ``memo`` with ``tool``, as there); None for the others,
    which ``validate_resources`` checks once every file is read. The loader keeps what it
    found with the file's cached record, which is keyed on everything the rules read besides
    the resource (o2kit's code, the configuration and so the column catalogue). ``text``, the
    body's JSON text when the loader made it, saves looking for ``${`` references in a body
    that holds none."""
    ctx = _Context(config=config, streams=catalogue(config))
    if memo is not None and tool:
        ctx.memo, ctx.memo_salt = memo, _digest(tool, _settings_digest(config, ctx.streams))

    def check(resource: Resource, text: str | None) -> list[Problem] | None:
        if resource.kind in _READS_NAMES:
            return None
        found: list[Problem] = []
        _validate_into(resource, ctx, found, text)
        return found

    return check


def validate_resources(
    resources: Sequence[Resource],
    config: Config,
    *,
    memo: Memo | None = None,
    digests: Mapping[tuple[str, tuple[str, ...]], str] | None = None,
    mapper: Mapper | None = None,
    tool: str = "",
    checked: Mapping[tuple[str, tuple[str, ...]], Sequence[Problem]] | None = None,
) -> list[Problem]:
    """Every problem of ``resources`` (desired state), sorted; empty when all is well. Warnings
    (``Problem.is_error`` false) are among them: callers refuse only the errors.

    With ``memo`` and ``digests`` (``Project.digests``: a digest of everything a resource was
    made from, by kind and key), the problems of a resource whose digest, configuration, column
    catalogue and (for alerts and destinations) the names of all templates and destinations are
    unchanged are taken from ``memo`` instead of being found again; the duplicate check always
    runs. A cached entry that is not exactly a list of problems is ignored. With ``memo`` and
    ``tool`` (a digest of o2kit itself, ``o2kit.project.cache.tool_digest``), what the SQL
    checks found is kept per SQL text as well. The resources still to check go through
    ``mapper`` (default: one after the other), those that share an SQL text together (each
    process parses its own texts); the result does not depend on it. ``checked``
    (``Project.checked``): problems ``early_check`` found already, by kind and key.
    """
    out: list[Problem] = []
    ctx = _Context(config=config, streams=catalogue(config))
    for resource in resources:
        if resource.kind == "template" and resource.key:
            ctx.templates.add(resource.key[0])
        elif resource.kind == "destination" and resource.key:
            ctx.destinations.add(resource.key[0])
        elif resource.kind == "function" and resource.key:
            ctx.functions.add(resource.key[0])
        elif resource.kind == "pipeline" and resource.key:
            source = _pipeline_source(resource.body)
            if source:
                ctx.pipeline_sources.setdefault(source, []).append(resource.key[0])
    shared = names = ""
    if memo is not None and digests:
        shared = _settings_digest(config, ctx.streams)
        names = _digest(sorted(ctx.templates), sorted(ctx.destinations), sorted(ctx.functions),
                        sorted((k, sorted(v)) for k, v in ctx.pipeline_sources.items()),
                        vrl.available())
    if memo is not None and tool:
        ctx.memo = memo
        ctx.memo_salt = _digest(tool, shared or _settings_digest(config, ctx.streams))

    todo: list[tuple[Resource, str]] = []  # (resource, memo key or "")
    for resource in resources:
        early = checked.get((resource.kind, tuple(resource.key))) if checked else None
        if early is not None:
            out.extend(early)
            continue
        made_from = None
        if shared and digests:
            made_from = digests.get((resource.kind, tuple(resource.key)))
        if memo is None or made_from is None:
            todo.append((resource, ""))
            continue
        key = _memo_key(shared, made_from, names, resource.kind)
        cached = memo.get("validate", key)
        if isinstance(cached, list):
            try:
                out.extend([problem_from_json(p) for p in cached])
                continue
            except ValueError:
                log.debug("ignoring cached problems of %s", resource.address)
        todo.append((resource, key))

    def check(group: list[tuple[Resource, str]]) -> list[list[Problem]]:
        results = []
        for resource, key in group:
            found: list[Problem] = []
            _validate_into(resource, ctx, found)
            if key and memo is not None:
                memo.put("validate", key, [problem_to_json(p) for p in found], verify=True)
            results.append(found)
        return results

    for group in (mapper or _serial)(check, _by_sql(todo)):
        for found in group:
            out.extend(found)
    _check_duplicates(resources, out)
    return sorted(set(out))


def _by_sql(todo: list[tuple[Resource, str]]) -> list[list[tuple[Resource, str]]]:
    """``todo`` in groups whose resources share their SQL (an alert's ``query_condition.sql``):
    a process that checks a group parses its SQL once, and no two processes parse it both.
    Largest groups first, so that processes taking the next group when free (``fork_map``)
    end together."""
    groups: dict[Any, list[tuple[Resource, str]]] = {}
    for i, item in enumerate(todo):
        resource = item[0]
        sql = None
        if resource.kind == "alert":
            sql = _dict(_dict(resource.body).get("query_condition")).get("sql")
        groups.setdefault(sql if isinstance(sql, str) and sql else i, []).append(item)
    return sorted(groups.values(), key=len, reverse=True)


def _validate_into(resource: Resource, ctx: _Context, out: list[Problem],
                   text: str | None = None) -> None:
    report = _report_for(resource, out)
    ctx.foreign_streams = bool(resource.meta.get("raw_json"))
    try:
        _validate_one(resource, ctx, report, text)
    except Exception as exc:  # a bug in a rule must not hide the other problems
        log.exception("validating %s failed", resource.address)
        report.add("", f"internal error while validating {resource.address}: {exc!r}")


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _catalogue_json(streams: Mapping[str, StreamColumns]) -> dict[str, Any]:
    """The column catalogue as plain data, for cache keys."""
    return {
        name: [s.stream, list(s.roles), sorted(s.columns), list(s.prefixes),
               sorted(s.renamed.items())]
        for name, s in sorted(streams.items())
    }


def _validate_one(resource: Resource, ctx: _Context, report: _Report,
                  text: str | None = None) -> None:
    shape = SHAPES.get(resource.kind)
    if shape is None and resource.kind not in kinds.SPECS:
        report.add("", f'unknown resource kind "{resource.kind}"')
        return
    body = resource.body
    if not isinstance(body, dict):
        report.add("", "the body must be a JSON object")
        return
    for path, message in check(body, shape) if shape is not None else ():
        report.add(path, message)
    _check_key_matches_body(resource, body, report)
    # ``text``, the body's JSON text when the loader made it: no "${" in it, nothing to find.
    for where, like in malformed_env_refs(body) if text is None or "${" in text else ():
        report.add(
            where,
            f'"{like}" looks like an environment reference but is not one; '
            "write ${env:NAME} (letters, digits and _)",
        )
    rule = _RULES.get(resource.kind)
    if rule is not None:
        rule(resource, body, ctx, report)
    # The kind's own rules (``KindSpec.check``; empty for the built-in kinds, whose rules are
    # above).
    for path, message in kinds.SPECS[resource.kind].check(resource):
        report.add(path, message)


# Where the name in a resource's key comes from in its body (``o2kit.model`` key layout).
_NAME_IN_KEY = {
    "folder": (1, "name"),
    "template": (0, "name"),
    "destination": (0, "name"),
    "dashboard": (1, "title"),
    "alert": (1, "name"),
}


def _check_key_matches_body(resource: Resource, body: dict[str, Any], report: _Report) -> None:
    if resource.kind not in _NAME_IN_KEY:
        return  # kinds with a ``KindSpec.files`` reader check their own keys
    index, name_key = _NAME_IN_KEY[resource.kind]
    value = body.get(name_key)
    if not value:
        return  # filled from the key when sent
    if isinstance(value, str) and len(resource.key) > index and value != resource.key[index]:
        report.add(
            (name_key,),
            f'is "{value}" but the resource key says "{resource.key[index]}" '
            "(o2kit pairs desired and live resources by key)",
        )


def _check_duplicates(resources: Sequence[Resource], out: list[Problem]) -> None:
    seen: dict[tuple[str, tuple[str, ...]], Resource] = {}
    ordered = sorted(
        enumerate(resources),
        key=lambda pair: (
            (pair[1].source.file, pair[1].source.line) if pair[1].source else ("", 0),
            pair[0],
        ),
    )
    for _, resource in ordered:
        identity = (resource.kind, tuple(resource.key))
        first = seen.get(identity)
        if first is None:
            seen[identity] = resource
            continue
        where = str(first.source) if first.source else "another resource"
        _report_for(resource, out).add("", f"duplicate {resource.address}: also defined at {where}")


# --------------------------------------------------------------------------------------------
# small typed accessors (rules never trust a type the shape layer already reported)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, item in enumerate(_list(value)):
        if isinstance(item, dict):
            yield index, item


# --------------------------------------------------------------------------------------------
# names


def _object_name_problem(name: str, what: str) -> str | None:
    """OpenObserve's rule for alert, destination and template names (after its trim)."""
    if not name.strip():
        return f"{what} name is required"
    if name != name.strip():
        return f"{what} name has leading or trailing spaces (OpenObserve trims them)"
    if "/" in name:
        return f"{what} name cannot contain '/'"
    if _OFGA_UNSUPPORTED.search(name):
        return f"{what} name cannot contain ':', '#', '?', '&', '%', quotes or whitespace"
    return None


def _effective(resource: Resource, body: dict[str, Any], field_name: str) -> Any:
    """What o2kit sends for a key field: a missing or empty ``name``/``title`` is filled from
    the resource key (``kinds.Spec.complete``)."""
    value = body.get(field_name)
    if value is None or value == "":
        index = _NAME_IN_KEY[resource.kind][0]
        return resource.key[index] if len(resource.key) > index else ""
    return value


def _check_name(resource: Resource, body: dict[str, Any], what: str, report: _Report) -> str | None:
    name = _effective(resource, body, "name")
    if not isinstance(name, str):
        return None
    problem = _object_name_problem(name, what)
    if problem:
        report.add(("name",), problem)
    return name


# --------------------------------------------------------------------------------------------
# folders, templates, destinations


def _check_folder(resource: Resource, body: dict[str, Any], ctx: _Context, report: _Report) -> None:
    if resource.key and resource.key[0] not in FOLDER_TYPES:
        report.add("", f'folder type "{resource.key[0]}" is not one of: {", ".join(FOLDER_TYPES)}')
    name = _str(_effective(resource, body, "name"))
    if name is None:
        return
    if not name.strip():
        report.add(("name",), "folder name cannot be empty")
    elif name != name.strip():
        report.add(("name",), "folder name has leading or trailing spaces (OpenObserve trims them)")


def _check_template(
    resource: Resource, body: dict[str, Any], ctx: _Context, report: _Report
) -> None:
    name = _check_name(resource, body, "template", report)
    if name in SYSTEM_TEMPLATES:
        report.add(
            ("name",),
            f'"{name}" is a system template of OpenObserve and cannot be created; '
            "choose another name",
        )
    body_text = body.get("body", "")
    if isinstance(body_text, str) and not body_text.strip():
        report.add(("body",), "template body cannot be empty")
    kind = body.get("kind") or "custom"
    if kind == "content" and isinstance(body_text, str) and body_text.strip():
        try:
            spec = json.loads(body_text)
        except ValueError as exc:
            report.add(("body",), f"a content template body must be JSON: {exc}")
        else:
            if not isinstance(spec, dict):
                report.add(("body",), "a content template body must be a JSON object")
    if body.get("type") == "email" and kind != "content":
        title = body.get("title", "")
        if isinstance(title, str) and not title.strip():
            report.add(("title",), "an email template needs a title (the e-mail subject)")


def _template_reference_problem(name: str, ctx: _Context) -> str | None:
    if not name or name in ctx.templates or name in SYSTEM_TEMPLATES:
        return None
    hint = did_you_mean(name, ctx.templates)
    return (
        f'template "{name}" is not defined: no template resource has that name '
        f"(defined: {_quoted_list(ctx.templates)}){hint}"
    )


def _check_destination(
    resource: Resource, body: dict[str, Any], ctx: _Context, report: _Report
) -> None:
    _check_name(resource, body, "destination", report)
    dtype = body.get("type", "http")
    if dtype == "http":
        url = body.get("url", "")
        if isinstance(url, str):
            _check_destination_url(url, report)
    elif dtype == "email":
        emails = body.get("emails", [])
        if isinstance(emails, list):
            if not emails:
                report.add(("emails",), "an email destination needs at least one recipient")
            for index, email in enumerate(emails):
                if isinstance(email, str) and email != email.strip().lower():
                    report.add(
                        ("emails", index),
                        f'write "{email.strip().lower()}": OpenObserve trims and lower-cases '
                        "recipients (otherwise every plan shows a change)",
                    )
    elif dtype == "sns":
        for key in ("sns_topic_arn", "aws_region"):
            value = body.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                report.add((key,), "an sns destination needs sns_topic_arn and aws_region")
    template = _str(body.get("template"))
    if template:
        problem = _template_reference_problem(template, ctx)
        if problem:
            report.add(("template",), problem)


def _check_destination_url(url: str, report: _Report) -> None:
    if not url.strip():
        report.add(("url",), "an http destination needs a url")
        return
    if "${" in url:
        # Filled in from the environment at apply time (a malformed reference is reported on
        # its own); check what we can of the rest.
        if not url.startswith(("${", "http://", "https://")):
            report.add(("url",), "the url must start with http:// or https://")
        return
    # Only the scheme is checked (an http destination delivers over HTTP whatever the server
    # allows): the SSRF guard (local names, private addresses, DNS resolution) depends on its
    # settings — ZO_SSRF_ALLOW_LOOPBACK / ZO_SKIP_SSRF_CHECKS turn it
    # off for test set-ups (src/config/src/utils/ssrf_guard.rs) — so it cannot be judged offline.
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        report.add(("url",), "the url must be an http:// or https:// address")


# --------------------------------------------------------------------------------------------
# streams and columns (shared by dashboards and alerts)


def _stream_problem(stream: str, ctx: _Context) -> str | None:
    if stream in ctx.streams or ctx.foreign_streams:
        return None
    hint = did_you_mean(stream, ctx.streams)
    return f'unknown stream "{stream}": configured streams are {_quoted_list(ctx.streams)}{hint}'


def _stream_type_problem(stream: str, stream_type: Any, ctx: _Context) -> str | None:
    known = ctx.streams.get(stream)
    if known is None or stream_type not in STREAM_TYPES or stream_type == known.stream_type:
        return None  # an unknown stream type is reported by the shape layer
    return (
        f'stream "{stream}" is a {known.stream_type} stream in OpenObserve, not '
        f'{stream_type}; write "{known.stream_type}"'
    )


def _column_problem(column: str, streams: Sequence[str], ctx: _Context) -> str | None:
    if ctx.foreign_streams:
        return None
    known = [ctx.streams[s] for s in streams if s in ctx.streams]
    if not known or any(k.documents(column) for k in known):
        return None
    if len(known) == 1:
        suggestion = known[0].suggest(column)
        hint = f' (did you mean "{suggestion}"?)' if suggestion else ""
        return (
            f'column "{column}" is not documented for stream "{known[0].stream}" '
            f"({known[0].describe()}){hint}"
        )
    names = ", ".join(f'"{k.stream}"' for k in known)
    return f'column "{column}" is not documented for any of the streams {names}'


def _check_sql(
    sql: str,
    path: Path,
    ctx: _Context,
    report: _Report,
    *,
    expected_stream: str | None,
    stream_path: Path,
    panel: bool = False,
) -> list[str] | None:
    """Parse ``sql`` and check its streams and columns; returns its output names (None if the
    SQL does not parse). Found once per SQL text, stream and context (``_Context.sql_findings``).
    A ``panel``'s SQL may not alias a column as the timestamp column (the UI's rule)."""
    key = (sql, expected_stream, ctx.foreign_streams, panel)
    found = ctx.sql_findings.get(key)
    if found is None:
        found = ctx.sql_findings[key] = _stored_sql_findings(sql, ctx, expected_stream, panel)
    findings, outputs = found
    for where, message in findings:
        report.add(path if where == "sql" else stream_path, message)
    return list(outputs) if outputs is not None else None


def _stored_sql_findings(
    sql: str, ctx: _Context, expected_stream: str | None, panel: bool
) -> tuple[list[tuple[str, str]], tuple[str, ...] | None]:
    """``_sql_findings`` through ``ctx.memo``: a project where one dashboard changed does not
    parse again the SQL its other dashboards share with it. A stored entry that is not exactly
    findings and output names is ignored."""
    if ctx.memo is None or not ctx.memo_salt:
        return _sql_findings(sql, ctx, expected_stream, panel)
    key = _digest(ctx.memo_salt, sql, expected_stream, ctx.foreign_streams, panel)
    stored = ctx.memo.get("sql", key)
    if isinstance(stored, dict):
        findings, outputs = stored.get("findings"), stored.get("outputs")
        if (isinstance(findings, list)
                and all(isinstance(f, list) and len(f) == 2 and f[0] in ("sql", "stream")
                        and isinstance(f[1], str) for f in findings)
                and (outputs is None or (isinstance(outputs, list)
                                         and all(isinstance(o, str) for o in outputs)))):
            return ([(f[0], f[1]) for f in findings],
                    tuple(outputs) if outputs is not None else None)
        log.debug("ignoring stored SQL findings %s", key)
    found, names = _sql_findings(sql, ctx, expected_stream, panel)
    ctx.memo.put("sql", key, {"findings": [list(f) for f in found],
                              "outputs": list(names) if names is not None else None},
                 verify=True)
    return found, names


def _sql_findings(
    sql: str, ctx: _Context, expected_stream: str | None, panel: bool = False
) -> tuple[list[tuple[str, str]], tuple[str, ...] | None]:
    findings: list[tuple[str, str]] = []
    try:
        outputs = sqlcheck.output_aliases(sql)
        read = sqlcheck.streams(sql)
        refs = sqlcheck.column_refs(sql)
    except sqlcheck.SqlParseError as exc:
        return [("sql", exc.message)], None
    for stream in sorted(read):
        problem = _stream_problem(stream, ctx)
        if problem:
            findings.append(("sql", problem))
    if expected_stream is not None and read and expected_stream not in read:
        findings.append(
            ("stream", f'is "{expected_stream}" but the SQL reads {_quoted_list(read)}')
        )
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for ref in refs:
        if (ref.name, ref.streams) in seen:
            continue
        seen.add((ref.name, ref.streams))
        problem = _column_problem(ref.name, ref.streams, ctx)
        if problem:
            findings.append(("sql", problem))
    if panel and _TIMESTAMP_COLUMN in sqlcheck.aliases_anywhere(sql):
        findings.append((
            "sql",
            f'"{_TIMESTAMP_COLUMN}" cannot be used as an alias: the OpenObserve UI refuses it '
            'and renames it to "ts" when the dashboard is opened; use another alias such as "ts"',
        ))
    return findings, tuple(outputs)


# --------------------------------------------------------------------------------------------
# dashboards


@dataclass(frozen=True)
class _PlacedPanel:
    path: Path
    panel_id: str
    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: _PlacedPanel) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )

    def box(self) -> str:
        return f"x {self.x}-{self.x + self.w}, y {self.y}-{self.y + self.h}"


def _check_dashboard(
    resource: Resource, body: dict[str, Any], ctx: _Context, report: _Report
) -> None:
    # A missing version is read as the latest, 8 (models/dashboards.rs
    # ``LATEST_DASHBOARD_VERSION``); any other version is another schema.
    if _int(body.get("version")) is not None and body["version"] != 8:
        report.add(("version",), f"must be 8 (o2kit manages v8 dashboards), got {body['version']}")
    title = _str(_effective(resource, body, "title"))
    if title is not None:
        if not title.strip():
            report.add(("title",), "the dashboard title cannot be empty (OpenObserve answers 500)")
        elif title != title.strip():
            report.add(
                ("title",), "the title has leading or trailing spaces (OpenObserve trims them)"
            )
    created = _str(body.get("created"))
    if created is not None and not _RFC3339.fullmatch(created):
        report.add(("created",), f'"{created}" is not an RFC 3339 date-time')

    variables = _check_variables(body, ctx, report)
    tabs = body.get("tabs", [])
    if isinstance(tabs, list) and not tabs:
        report.add(("tabs",), "a dashboard needs at least one tab")
    panel_ids: dict[str, Path] = {}
    tab_ids: dict[str, Path] = {}
    for tab_index, tab in _dicts(tabs):
        tab_path: Path = ("tabs", tab_index)
        tab_id = _str(tab.get("tabId"))
        if tab_id is not None:
            if not tab_id.strip():
                report.add(tab_path + ("tabId",), "tabId cannot be empty")
            elif tab_id in tab_ids:
                report.add(
                    tab_path + ("tabId",),
                    f'duplicate tabId "{tab_id}" (also {format_path(tab_ids[tab_id])})',
                )
            else:
                tab_ids[tab_id] = tab_path
        name = _str(tab.get("name"))
        if name is not None and not name.strip():
            report.add(tab_path + ("name",), "tab name cannot be empty")
        _check_tab_panels(tab, tab_path, panel_ids, variables, ctx, report)


def _check_variables(body: dict[str, Any], ctx: _Context, report: _Report) -> set[str]:
    names: dict[str, Path] = {}
    variables = _dict(body.get("variables"))
    for index, variable in _dicts(variables.get("list")):
        path: Path = ("variables", "list", index)
        name = _str(variable.get("name", ""))
        if name is not None:
            if not name.strip():
                report.add(path + ("name",), "variable name cannot be empty")
            elif name in names:
                report.add(
                    path + ("name",),
                    f'duplicate variable name "{name}" (also {format_path(names[name])})',
                )
            else:
                names[name] = path
        if variable.get("type", "") != "query_values":
            continue
        query_data = variable.get("query_data")
        if query_data is None:
            report.add(path + ("query_data",), "a query_values variable needs query_data")
            continue
        if not isinstance(query_data, dict):
            continue
        stream = _str(query_data.get("stream", ""))
        if stream is None:
            continue
        problem = _stream_problem(stream, ctx)
        if problem:
            report.add(path + ("query_data", "stream"), problem)
            continue
        problem = _stream_type_problem(stream, query_data.get("stream_type", "logs"), ctx)
        if problem:
            report.add(path + ("query_data", "stream_type"), problem)
        field_name = _str(query_data.get("field", ""))
        if field_name is not None:
            if not field_name:
                report.add(path + ("query_data", "field"), "a query_values variable needs a field")
            else:
                problem = _column_problem(field_name, (stream,), ctx)
                if problem:
                    report.add(path + ("query_data", "field"), problem)
    return set(names)


def _check_tab_panels(
    tab: dict[str, Any],
    tab_path: Path,
    panel_ids: dict[str, Path],
    variables: set[str],
    ctx: _Context,
    report: _Report,
) -> None:
    placed: list[_PlacedPanel] = []
    layout_ids: dict[int, Path] = {}
    for panel_index, panel in _dicts(tab.get("panels")):
        path = tab_path + ("panels", panel_index)
        panel_id = _str(panel.get("id"))
        if panel_id is not None:
            if not panel_id.strip():
                report.add(path + ("id",), "panel id cannot be empty")
            elif panel_id in panel_ids:
                report.add(
                    path + ("id",),
                    f'duplicate panel id "{panel_id}" (also {format_path(panel_ids[panel_id])}); '
                    "panel ids must be unique across the dashboard",
                )
            else:
                panel_ids[panel_id] = path
        title = _str(panel.get("title"))
        if title is not None and not title.strip():
            report.add(path + ("title",), "panel title cannot be empty")
        box = _check_layout(panel, path, layout_ids, report)
        if box is not None:
            placed.append(_PlacedPanel(path, panel_id or "", box[0], box[1], box[2], box[3]))
        _check_panel_content(panel, path, variables, ctx, report)
    # Overlaps are a warning: the server stores any layout (src/core/src/dashboards/mod.rs
    # ``put`` checks none), the UI's import check does not look for them
    # (web/src/utils/dashboard/panelValidation.ts ``validateDashboardJson``: numbers and a unique
    # ``layout.i`` per tab only), and its grid moves overlapping panels apart when it draws them
    # (web/src/views/Dashboards/RenderDashboardCharts.vue; gridstack.js src/gridstack-engine.ts
    # ``addNode`` → ``_fixCollisions`` pushes a colliding panel down). Real dashboards have them;
    # refusing would stop an exported dashboard from planning.
    for index, later in enumerate(placed):
        for earlier in placed[:index]:
            if later.overlaps(earlier):
                report.warn(
                    later.path + ("layout",),
                    f'panel "{later.panel_id}" ({later.box()}) overlaps panel "{earlier.panel_id}" '
                    f"at {format_path(earlier.path)} ({earlier.box()}); OpenObserve accepts it "
                    "and its grid moves the panels apart when it draws them",
                )


def _check_layout(
    panel: dict[str, Any], path: Path, layout_ids: dict[int, Path], report: _Report
) -> tuple[int, int, int, int] | None:
    """Grid rules; returns (x, y, w, h) when the box is valid enough to test overlaps."""
    layout = panel.get("layout")
    layout_path = path + ("layout",)
    if layout is None:
        report.add(
            layout_path,
            "required key is missing: o2kit places every panel explicitly "
            f"({{x, y, w, h, i}} on the {GRID_COLUMNS}-column grid)",
        )
        return None
    if not isinstance(layout, dict):
        return None
    values: dict[str, int] = {}
    for key in ("x", "y", "w", "h", "i"):
        if key not in layout:
            report.add(layout_path + (key,), "required key is missing")
            continue
        value = _int(layout[key])
        if value is not None:
            values[key] = value
    # A box off the grid is a warning, like an overlap: the server stores any i64
    # (src/config/src/meta/dashboards/v8/mod.rs ``Layout``), the UI's import check wants numbers
    # only (panelValidation.ts ``validatePanelContent``), and its grid moves the box onto the 192
    # columns when it draws it (gridstack.js src/gridstack-engine.ts ``nodeBoundFix``).
    ok = True
    drawn = f"; OpenObserve stores it and its grid fits the panel onto the {GRID_COLUMNS} columns"
    x, y, w, h = (values.get(k) for k in ("x", "y", "w", "h"))
    if x is not None and x < 0:
        report.warn(layout_path + ("x",), f"must be at least 0, got {x}{drawn}")
        ok = False
    if y is not None and y < 0:
        report.warn(layout_path + ("y",), f"must be at least 0, got {y}{drawn}")
        ok = False
    if w is not None and w < 1:
        report.warn(layout_path + ("w",), f"must be at least 1, got {w}{drawn}")
        ok = False
    if h is not None and h < 1:
        report.warn(layout_path + ("h",), f"must be at least 1, got {h}{drawn}")
        ok = False
    if x is not None and w is not None and x >= 0 and w >= 1 and x + w > GRID_COLUMNS:
        report.warn(
            layout_path,
            f"the panel ends at column {x + w} (x {x} + w {w}); "
            f"the grid has {GRID_COLUMNS} columns{drawn}",
        )
        ok = False
    i = values.get("i")
    if i is not None:
        if i in layout_ids:
            report.add(
                layout_path + ("i",),
                f"duplicate layout.i {i} in this tab (also {format_path(layout_ids[i])})",
            )
        else:
            layout_ids[i] = path
    if ok and x is not None and y is not None and w is not None and h is not None:
        return x, y, w, h
    return None


def _check_panel_content(
    panel: dict[str, Any], path: Path, variables: set[str], ctx: _Context, report: _Report
) -> None:
    panel_type = panel.get("type")
    content_key = _CONTENT_PANELS.get(panel_type) if isinstance(panel_type, str) else None
    if content_key is not None:
        content = panel.get(content_key)
        if not isinstance(content, str) or not content.strip():
            report.add(path + (content_key,), f"a {panel_type} panel needs {content_key}")
        return
    query_type = panel.get("queryType", "")
    queries = panel.get("queries")
    if isinstance(queries, list) and not queries:
        report.add(path + ("queries",), "a chart panel needs at least one query")
    for index, query in _dicts(queries):
        query_path = path + ("queries", index)
        if query_type in _PROMQL_QUERY_TYPES:
            text = query.get("query")
            if not isinstance(text, str) or not text.strip():
                report.add(query_path + ("query",), "a PromQL panel needs a query")
            continue
        _check_sql_query(query, query_path, variables, ctx, report)


def _check_sql_query(
    query: dict[str, Any], path: Path, variables: set[str], ctx: _Context, report: _Report
) -> None:
    fields = _dict(query.get("fields"))
    stream = _str(fields.get("stream"))
    if stream is not None:
        problem = _stream_problem(stream, ctx)
        if problem:
            report.add(path + ("fields", "stream"), problem)
        else:
            problem = _stream_type_problem(stream, fields.get("stream_type"), ctx)
            if problem:
                report.add(path + ("fields", "stream_type"), problem)
    text = query.get("query")
    if text is None or (isinstance(text, str) and not text.strip()):
        report.add(path + ("query",), "a SQL panel needs a query")
        return
    if not isinstance(text, str):
        return
    sql_path = path + ("query",)
    for placeholder in sqlcheck.placeholders(text):
        name = placeholder.name
        if name not in variables and name not in sqlcheck.FIXED_VARIABLES:
            hint = did_you_mean(name, variables | sqlcheck.FIXED_VARIABLES)
            written = text[placeholder.start : placeholder.end]
            report.add(
                sql_path,
                f'{written} refers to "{name}", which is not a variable of this dashboard '
                f"(variables: {_quoted_list(variables)}){hint}",
            )
    outputs = _check_sql(
        text,
        sql_path,
        ctx,
        report,
        expected_stream=stream,
        stream_path=path + ("fields", "stream"),
        panel=True,
    )
    if outputs is None:
        return
    if "*" in outputs:
        return  # the output names are open-ended
    _check_field_aliases(fields, path + ("fields",), outputs, report)


def _check_field_aliases(
    fields: dict[str, Any], path: Path, outputs: list[str], report: _Report
) -> None:
    def check_item(item: Any, item_path: Path) -> None:
        alias = _str(_dict(item).get("alias"))
        if alias is None or alias in outputs:
            return
        report.add(
            item_path + ("alias",),
            f'"{alias}" is not a column the SQL returns (it returns: {", ".join(outputs)})'
            f"{did_you_mean(alias, outputs)}",
        )

    for key in _AXIS_LISTS:
        for index, item in enumerate(_list(fields.get(key))):
            check_item(item, path + (key, index))
    for key in _AXIS_SLOTS:
        if isinstance(fields.get(key), dict):
            check_item(fields[key], path + (key,))


# --------------------------------------------------------------------------------------------
# alerts


def _check_alert(resource: Resource, body: dict[str, Any], ctx: _Context, report: _Report) -> None:
    _check_name(resource, body, "alert", report)
    stream = _str(body.get("stream_name", ""))
    if _dict(body.get("query_condition")).get("type") == "slo":
        stream = None  # an SLO alert runs no query and needs no stream (prepare_alert)
    if stream is not None:
        if not stream:
            report.add(("stream_name",), "an alert needs a stream_name")
            stream = None
        else:
            problem = _stream_problem(stream, ctx)
            if problem:
                report.add(("stream_name",), problem)
            else:
                problem = _stream_type_problem(stream, body.get("stream_type", "logs"), ctx)
                if problem:
                    report.add(("stream_type",), problem)
    _check_query_condition(body, stream, ctx, report)
    _check_trigger_condition(_dict(body.get("trigger_condition")), report)
    _check_alert_references(body, ctx, report)
    _check_tags(body.get("tags"), report)
    attributes = _dict(body.get("context_attributes"))
    for key in attributes:
        if not key.strip() or key != key.strip():
            report.add(
                ("context_attributes", key),
                "keys are trimmed by OpenObserve and empty ones dropped; write the trimmed key",
            )
    row_template = _str(body.get("row_template"))
    if row_template is not None and row_template != row_template.strip():
        report.add(
            ("row_template",),
            "has leading or trailing whitespace, which OpenObserve trims (every plan would "
            "show a change)",
        )


def _check_query_condition(
    body: dict[str, Any], stream: str | None, ctx: _Context, report: _Report
) -> None:
    condition = _dict(body.get("query_condition"))
    query_type = condition.get("type", "custom")
    base: Path = ("query_condition",)
    if body.get("is_real_time") is True and query_type != "custom":
        report.add(base + ("type",), "a real-time alert must use the custom query type")
    if query_type == "sql":
        sql = condition.get("sql")
        if sql is None or (isinstance(sql, str) and not sql.strip()):
            report.add(base + ("sql",), "an alert of type sql needs a query")
        elif isinstance(sql, str):
            if sqlcheck.has_select_star(sql):
                report.add(
                    base + ("sql",),
                    "alert SQL cannot contain SELECT * (OpenObserve refuses it); name the columns",
                )
            _check_sql(
                sql,
                base + ("sql",),
                ctx,
                report,
                expected_stream=stream,
                stream_path=("stream_name",),
            )
    elif query_type == "promql":
        promql = condition.get("promql")
        if not isinstance(promql, str) or not promql.strip():
            report.add(base + ("promql",), "an alert of type promql needs a query")
        if condition.get("promql_condition") is None:
            report.add(base + ("promql_condition",), "an alert of type promql needs a condition")
    elif query_type == "custom" and stream is not None:
        for path, column in _condition_columns(condition):
            problem = _column_problem(column, (stream,), ctx)
            if problem:
                report.add(base + path, problem)
    vrl = condition.get("vrl_function")
    if isinstance(vrl, str) and vrl and _decode_vrl(vrl) is None:
        report.add(base + ("vrl_function",), "is not base64 (OpenObserve answers 400)")


def _condition_columns(condition: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    """Columns named by custom conditions (v1 tree or v2 group) and the aggregation."""

    def walk(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
        if isinstance(node, list):
            for index, item in enumerate(node):
                yield from walk(item, path + (index,))
        elif isinstance(node, dict):
            column = node.get("column")
            if isinstance(column, str) and column:
                yield path + ("column",), column
            for key in ("and", "or", "not", "conditions"):
                if key in node:
                    yield from walk(node[key], path + (key,))

    yield from walk(condition.get("conditions"), ("conditions",))
    aggregation = _dict(condition.get("aggregation"))
    for index, column in enumerate(_list(aggregation.get("group_by"))):
        if isinstance(column, str):
            yield ("aggregation", "group_by", index), column
    having = _dict(aggregation.get("having"))
    if isinstance(having.get("column"), str) and having["column"]:
        yield ("aggregation", "having", "column"), having["column"]


def _decode_vrl(text: str) -> str | None:
    """The server's ``base64::decode_url`` (``src/config/src/utils/base64.rs``): map the URL-safe
    alphabet (``-`` ``_`` and ``.`` for padding) to the standard one, decode strictly, UTF-8."""
    standard = text.replace("-", "+").replace("_", "/").replace(".", "=")
    try:
        return base64.b64decode(standard, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _check_trigger_condition(trigger: dict[str, Any], report: _Report) -> None:
    base: Path = ("trigger_condition",)
    period = _int(trigger.get("period", 0))
    if period is not None and period < 1:
        report.add(base + ("period",), f"must be at least 1 (minutes), got {period}")
    frequency_type = trigger.get("frequency_type") or "minutes"
    cron = _str(trigger.get("cron", ""))
    if frequency_type == "minutes":
        frequency = _int(trigger.get("frequency", 0))
        if frequency is not None and frequency < 1:
            report.add(
                base + ("frequency",),
                f"must be at least 1 (minutes), got {frequency}; OpenObserve replaces it with "
                "its own default, so every plan would show a change",
            )
        if cron:
            report.add(
                base + ("cron",),
                'is only used with frequency_type "cron"; OpenObserve clears it otherwise '
                "(every plan would show a change)",
            )
    elif frequency_type == "cron" and cron is not None:
        problem = _cron_problem(cron)
        if problem:
            report.add(base + ("cron",), problem)
    silence = _int(trigger.get("silence", 0))
    if silence is not None and silence < 0:
        report.add(base + ("silence",), f"must be at least 0 (minutes), got {silence}")
    tolerance = _int(trigger.get("tolerance_in_secs"))
    if tolerance is not None and tolerance < 0:
        report.add(base + ("tolerance_in_secs",), f"must be at least 0, got {tolerance}")


def _cron_problem(cron: str) -> str | None:
    """Seconds-first cron as the ``cron`` crate reads it (approximation: syntax and ranges)."""
    fields = cron.split()
    if not fields:
        return 'frequency_type "cron" needs a cron expression, e.g. "0 */10 * * * *"'
    if cron.strip().startswith("*"):
        return (
            'the seconds field starts with "*": OpenObserve replaces it with the current second '
            '(a change on every plan; "*/N" even becomes invalid); start with a number, '
            'e.g. "0 */10 * * * *"'
        )
    if len(fields) not in (6, 7):
        return (
            f"has {len(fields)} fields; OpenObserve expects 6 (seconds minutes hours "
            'day-of-month month day-of-week), e.g. "0 */10 * * * *"'
        )
    names = ("seconds", "minutes", "hours", "day-of-month", "month", "day-of-week", "year")
    for index, part in enumerate(fields):
        if not _CRON_FIELD.fullmatch(part):
            return f'{names[index]} field "{part}" is not valid cron syntax'
        low, high = _CRON_RANGES[index]
        for number in re.findall(r"\d+", part.split("/")[0]):
            if not low <= int(number) <= high:
                return f"{names[index]} field value {number} is outside {low}-{high}"
    return None


def _check_alert_references(body: dict[str, Any], ctx: _Context, report: _Report) -> None:
    if "alert_destinations" in body:
        report.add(
            ("alert_destinations",),
            'write "destinations": OpenObserve accepts this old name but returns "destinations" '
            "(every plan would show a change)",
        )
    destinations = body.get("destinations", body.get("alert_destinations", []))
    if isinstance(destinations, list):
        if not destinations:
            report.add(("destinations",), "an alert needs at least one destination")
        for index, name in enumerate(destinations):
            if isinstance(name, str) and name not in ctx.destinations:
                hint = did_you_mean(name, ctx.destinations)
                report.add(
                    ("destinations", index),
                    f'destination "{name}" is not defined: no destination resource has that name '
                    f"(defined: {_quoted_list(ctx.destinations)}){hint}",
                )
    template = _str(body.get("template"))
    if template:
        problem = _template_reference_problem(template, ctx)
        if problem:
            report.add(("template",), problem)


def _tag_problem(tag: str) -> str | None:
    if not tag.strip():
        return "empty tag (OpenObserve drops it; every plan would show a change)"
    if tag != tag.strip():
        return f'tag "{tag}" has surrounding spaces (OpenObserve trims them)'
    if not tag[0].isalpha():
        return f'tag "{tag}" must start with a letter'
    for char in tag:
        if not (char.isalnum() or char in _TAG_PUNCTUATION):
            return f'tag "{tag}" contains "{char}"; allowed: letters, digits and _ - . / :'
    if len(tag) > MAX_TAG_LEN:
        return f'tag "{tag[:20]}…" is {len(tag)} characters; the maximum is {MAX_TAG_LEN}'
    if tag != tag.lower():
        return (
            f'write "{tag.lower()}": OpenObserve lower-cases tags (every plan would show a change)'
        )
    return None


def _check_tags(tags: Any, report: _Report) -> None:
    if not isinstance(tags, list):
        return
    seen: dict[str, int] = {}
    for index, tag in enumerate(tags):
        if not isinstance(tag, str):
            continue
        problem = _tag_problem(tag)
        if problem:
            report.add(("tags", index), problem)
            continue
        if tag in seen:
            report.add(
                ("tags", index),
                f'duplicate tag "{tag}" (also tags[{seen[tag]}]); OpenObserve keeps one',
            )
        else:
            seen[tag] = index
    if len(seen) > MAX_TAGS:
        report.add(("tags",), f"{len(seen)} tags; the maximum is {MAX_TAGS}")


def _check_slo(resource: Resource, body: dict[str, Any], ctx: _Context, report: _Report) -> None:
    """The SLI's query safety as the server checks it at save (``slosafety``), then o2kit's SQL
    checks (streams, columns) on the SQL the server will run (``kinds.slo.sli_queries``)."""
    from o2kit.validate import slosafety

    refused = slosafety.problems(body)
    for path, message in refused:
        report.add(path, message)
    if refused:
        return
    config = _dict(body.get("config"))
    source = _dict(config.get("source"))
    query = _dict(source.get("query"))
    if body.get("sli_type") == "count" and source.get("mode") == "single_query":
        where: Path = ("config", "source", "query")
        stream, stream_path = _str(query.get("stream")), where + ("stream",)
    elif body.get("sli_type") == "time_slice":
        where, stream = ("config",), _str(config.get("stream"))
        stream_path = where + ("stream",)
    else:
        where, stream, stream_path = ("config", "source", "query"), None, ("config",)
    for side, sql in slosafety.sli_queries(body).items():
        path = where + ((side, "sql") if side in ("good", "total") else ())
        side_stream = stream
        if side in ("good", "total"):
            side_stream = _str(_dict(query.get(side)).get("stream"))
            stream_path = where + (side, "stream")
        _check_sql(sql, path, ctx, report, expected_stream=side_stream, stream_path=stream_path)


_Rule = Callable[[Resource, dict[str, Any], _Context, _Report], None]
def _check_function(
    resource: Resource, body: dict[str, Any], ctx: _Context, report: _Report
) -> None:
    """Compile the VRL as the server would (``validate.vrl``): each diagnostic at its line of
    the ``.vrl`` file; without the optional compiler, one warning that it was not checked."""
    source = body.get("function")
    if not isinstance(source, str):
        return
    for error in vrl.compile_vrl(source):
        line = error.line if resource.source is not None else report.line
        where = f"function (line {error.line}, column {error.column})"
        code = f"{error.code}: " if error.code else ""
        report.out.append(Problem(report.file, line, where, f"{code}{error.message}",
                                  error.severity))


def _pipeline_source(body: dict[str, Any]) -> str | None:
    nodes = _list(body.get("nodes"))
    data = _dict(nodes[0].get("data")) if nodes and isinstance(nodes[0], dict) else {}
    return _str(data.get("stream_name")) if data.get("node_type") == "stream" else None


def _check_pipeline(
    resource: Resource, body: dict[str, Any], ctx: _Context, report: _Report
) -> None:
    """Every function node names a function of the project (the server refuses a pipeline
    whose function it cannot load, src/core/src/pipeline/mod.rs), and no other pipeline of the
    project reads its source stream (one realtime pipeline per stream, same file)."""
    source = _pipeline_source(body)
    others = [n for n in ctx.pipeline_sources.get(source or "", []) if n != resource.key[0]]
    if others:
        report.add(("nodes", 0, "data", "stream_name"),
                   f'pipeline {_quoted_list(others)} reads stream "{source}" too: OpenObserve '
                   "runs one realtime pipeline per source stream and refuses a second")
    for i, node in _dicts(body.get("nodes")):
        data = _dict(node.get("data"))
        name = _str(data.get("name"))
        if data.get("node_type") == "function" and name and name not in ctx.functions:
            hint = did_you_mean(name, ctx.functions)
            report.add(("nodes", i, "data", "name"),
                       f'function "{name}" is not defined: no functions/{name}.vrl in the '
                       f"project (defined: {_quoted_list(ctx.functions)}){hint}")


_RULES: dict[str, _Rule] = {
    "function": _check_function,
    "pipeline": _check_pipeline,
    "folder": _check_folder,
    "template": _check_template,
    "destination": _check_destination,
    "dashboard": _check_dashboard,
    "alert": _check_alert,
    "slo": _check_slo,
}
