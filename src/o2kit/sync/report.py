"""Plan reports: terminal text, a Markdown pull-request comment, and versioned JSON.

Every renderer masks secret values (``FieldChange.secret``) as ``(sensitive)`` — a secret field
that changed on both sides reads ``(sensitive value changed)`` — and a value absent on one side is
shown as ``(absent)``. Text from a server or a title is data: the text renderer strips control
characters and escape sequences from it (``redact.clean_text``), the Markdown renderer escapes it
(``redact.md_text``) so a title cannot break the table, close ``<details>`` or add a marker.
Long or multi-line strings (SQL, template bodies) and large objects (an added panel) are shown as
a unified line diff.

JSON schema (``render_json``), ``format_version`` 1 — fields are only ever added within a version::

    {
      "format_version": 1,
      "org": "default",                 # string ("" if unknown)
      "env": "prod",                    # string or null
      "project": "bedrock-7f3a",        # o2kit.yaml project, or null
      "checksum": "<64 hex>",           # plan_checksum(plan): pass to apply --checksum
      "has_changes": true,
      "summary": {"create": 1, "update": 1, "replace": 0, "delete": 0, "noop": 3},
      "noop_reasons": {"in sync": 2, "unmanaged; left alone": 1},
      "warnings": ["alert \\"Bedrock/x\\": stream logs/y does not exist yet: ..."],
      "changes": [                      # ordered by kind (apply order), then key
        {
          "action": "update",           # create | update | replace | delete | noop
          "kind": "alert",              # folder | template | destination | dashboard | alert
          "key": ["Bedrock", "high_error_rate"],
          "address": "alert \\"Bedrock/high_error_rate\\"",
          "server_id": "2abc…",         # the live object's id, null for a create
          "source": "alerts/bedrock.yaml:3",   # where the desired resource is written, or null
          "reason": "",                 # why a no-op is one, or a note on the change
          "missing_stream": null,       # or {"stream_type": "logs", "stream_name": "x"}
          "fingerprint": null,          # or the sha256 of the live object the plan saw
          "fields": [                   # field-level changes (update and replace only)
            {"path": "trigger_condition.threshold", "sensitive": false, "old": 5, "new": 10}
          ]
        }
      ]
    }

In ``fields``, ``old``/``new`` is omitted when the field is absent on that side; a sensitive value
is the string ``"(sensitive)"``. Paths follow ``o2kit.sync.diff``.

Pure: returns strings and dicts; printing is the CLI's job.
"""

from __future__ import annotations

import difflib
import html
import json
from collections import Counter
from typing import Any

from o2kit.model import MISSING, Change, FieldChange, Plan
from o2kit.redact import clean_line, clean_text, md_text
from o2kit.sync.diff import format_path
from o2kit.sync.plan import names_not_ours, plan_checksum

FORMAT_VERSION = 1
SENSITIVE = "(sensitive)"
SENSITIVE_CHANGED = "(sensitive value changed)"
ABSENT = "(absent)"
MARKDOWN_MARKER = "<!-- o2kit-plan -->"
ACTIONS = ("create", "update", "replace", "delete")
SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "noop": "="}
# A string longer than this, or with a newline, is shown as a line diff.
LONG_STRING = 80
# A structured value whose one-line JSON is longer than this is shown as a line diff.
LONG_VALUE = 100

_ANSI = {
    "create": "32",
    "update": "33",
    "replace": "35",
    "delete": "31",
    "noop": "2",
    "+": "32",
    "-": "31",
    "@": "36",
    "warn": "33",
    "bold": "1",
}


# ---------------------------------------------------------------------------------------------
# shared pieces


def counts(plan: Plan) -> dict[str, int]:
    """How many changes of each action (``noop`` included)."""
    found = Counter(c.action for c in plan.changes)
    return {a: found.get(a, 0) for a in (*ACTIONS, "noop")}


def noop_reasons(plan: Plan) -> list[tuple[str, int]]:
    """No-op reasons with their counts, most frequent first."""
    found = Counter(c.reason for c in plan.changes if c.action == "noop")
    return sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))


def summary_line(plan: Plan) -> str:
    n = counts(plan)
    return (
        f"Plan: {n['create']} to create, {n['update']} to update, {n['replace']} to replace, "
        f"{n['delete']} to delete, {n['noop']} unchanged."
    )


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _shown(value: Any, secret: bool) -> str:
    if value is MISSING:
        return ABSENT
    if secret:
        return SENSITIVE
    return clean_line(_scalar(value))


def _both_secret(fc: FieldChange) -> bool:
    return fc.secret and fc.old is not MISSING and fc.new is not MISSING


def _is_subtree(fc: FieldChange) -> bool:
    """An object or list added or removed whole (a new panel): shown leaf by leaf."""
    if fc.secret or (fc.old is not MISSING and fc.new is not MISSING):
        return False
    value = fc.new if fc.old is MISSING else fc.old
    return isinstance(value, dict | list) and len(_scalar(value)) > LONG_VALUE


def _is_block(fc: FieldChange) -> bool:
    """True when a change reads better as a line diff than as ``old → new``."""
    if fc.secret:
        return False
    for value in (fc.old, fc.new):
        if isinstance(value, str) and ("\n" in value or len(value) > LONG_STRING):
            return True
        if isinstance(value, dict | list) and len(_scalar(value)) > LONG_VALUE:
            return True
    return False


def _leaves(value: Any, path: list[str | int]) -> list[tuple[list[str | int], Any]]:
    """Leaf values of a JSON value, lists of scalars kept whole; empty values skipped (they are
    mostly defaults the normalisation filled in)."""
    if isinstance(value, dict):
        return [leaf for k in sorted(value) for leaf in _leaves(value[k], [*path, k])]
    if isinstance(value, list) and any(isinstance(x, dict | list) for x in value):
        return [leaf for i, x in enumerate(value) for leaf in _leaves(x, [*path, i])]
    if value in ("", [], {}):
        return []
    return [(path, value)]


def _subtree_lines(fc: FieldChange) -> list[str]:
    """``+ rel.path: value`` lines (``-`` for a removal); multi-line strings as indented blocks."""
    sign = "+" if fc.old is MISSING else "-"
    value = fc.new if fc.old is MISSING else fc.old
    out = []
    for tokens, leaf in _leaves(value, []):
        rel = format_path(tokens)
        if isinstance(leaf, str) and "\n" in leaf:
            out.append(f"{sign} {rel}:")
            out.extend(f"{sign}     {line}" for line in leaf.splitlines())
        else:
            out.append(f"{sign} {rel}: {_scalar(leaf)}")
    return out


def _as_lines(value: Any) -> list[str]:
    if value is MISSING:
        return []
    if isinstance(value, str):
        return value.splitlines()
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2).splitlines()


def _line_diff(fc: FieldChange) -> list[str]:
    """Unified diff lines (``@@``, `` ctx``, ``-old``, ``+new``) without file headers."""
    if _is_subtree(fc):
        return _subtree_lines(fc)
    old, new = _as_lines(fc.old), _as_lines(fc.new)
    if not old or not new:
        return [("+" if new else "-") + line for line in (new or old)]
    return list(difflib.unified_diff(old, new, lineterm="", n=3))[2:]


def _block_title(fc: FieldChange) -> str:
    if _is_subtree(fc):
        return f"{fc.path}: {'added' if fc.old is MISSING else 'removed'}"
    return f"{fc.path}:"


def _color(text: str, code: str, on: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if on else text


def _header(plan: Plan) -> str:
    where = []
    if plan.org:
        where.append(f'org "{clean_line(plan.org)}"')
    if plan.env:
        where.append(f'env "{clean_line(plan.env)}"')
    return "o2kit plan" + (": " + ", ".join(where) if where else "")


# ---------------------------------------------------------------------------------------------
# text


def render_text(plan: Plan, *, color: bool = False, verbose_noops: bool = False) -> str:
    """Terraform-like plan for a terminal. With ``color`` ANSI colours; without, no escapes."""
    lines = [_color(_header(plan), _ANSI["bold"], color), ""]
    shown = [c for c in plan.changes if c.action != "noop" or verbose_noops]
    for change in shown:
        lines.extend(_text_change(change, color))
    if shown:
        lines.append("")
    if not plan.has_changes:
        lines.append("No changes: the server matches the code.")
        lines.append("")
    if plan.warnings:
        lines.append(_color("Warnings:", _ANSI["warn"], color))
        lines.extend(_color(f"  ! {clean_line(w)}", _ANSI["warn"], color) for w in plan.warnings)
        lines.append("")
    not_ours = [c for c in plan.changes if names_not_ours(c)]
    if not_ours and not verbose_noops:
        lines.append("Not ours (left alone):")
        lines.extend(f"  = {clean_line(c.address + _id_note(c))}: {clean_line(c.reason)}"
                     for c in not_ours)
        lines.append("")
    lines.append(_color(summary_line(plan), _ANSI["bold"], color))
    reasons = noop_reasons(plan)
    if reasons:
        lines.append("Unchanged:")
        lines.extend(f"  {n} {clean_line(reason)}" for reason, n in reasons)
    lines.append(f"Checksum: {plan_checksum(plan)}")
    return "\n".join(lines) + "\n"


def _id_note(change: Change) -> str:
    return f" (id {change.live.server_id})" if change.live and change.live.server_id else ""


def _text_change(change: Change, color: bool) -> list[str]:
    symbol = SYMBOLS[change.action]
    head = f"{symbol:>3} {change.action:<7} {clean_line(change.address)}"
    out = [_color(head, _ANSI[change.action], color)]
    if change.reason:
        out.append(f"      # {clean_line(change.reason)}")
    for fc in change.fields:
        if _both_secret(fc):
            out.append(f"      {clean_line(fc.path)}: {SENSITIVE_CHANGED}")
        elif _is_block(fc):
            out.append(f"      {clean_line(_block_title(fc))}")
            for line in _line_diff(fc):
                line = clean_text(line)
                code = _ANSI.get(line[:1])
                out.append("        " + (_color(line, code, color) if code else line))
        else:
            old, new = _shown(fc.old, fc.secret), _shown(fc.new, fc.secret)
            out.append(f"      {clean_line(fc.path)}: {old} → {new}")
    return out


# ---------------------------------------------------------------------------------------------
# markdown


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for ch in text:
        current = current + 1 if ch == "`" else 0
        longest = max(longest, current)
    return longest


def _md_code(text: str) -> str:
    """An inline code span that survives backticks and table pipes."""
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    escaped = text.replace("|", "\\|")
    return f"{fence}{pad}{escaped}{pad}{fence}"


def _fence_for(lines: list[str]) -> str:
    return "`" * max(3, max((_longest_backtick_run(x) for x in lines), default=0) + 1)


def _md_field_lines(fc: FieldChange) -> list[str]:
    """Lines of a fenced diff block: literal text (the fence outgrows any backtick run), cleaned
    of control characters."""
    if _both_secret(fc):
        return [f"~ {clean_line(fc.path)}: {SENSITIVE_CHANGED}"]
    if _is_block(fc):
        return [f"  {clean_line(_block_title(fc))}", *(clean_text(x) for x in _line_diff(fc))]
    out = []
    if fc.old is not MISSING:
        out.append(f"- {clean_line(fc.path)}: {_shown(fc.old, fc.secret)}")
    if fc.new is not MISSING:
        out.append(f"+ {clean_line(fc.path)}: {_shown(fc.new, fc.secret)}")
    return out


def render_markdown(plan: Plan) -> str:
    """A pull-request comment: hidden marker, summary table, collapsible details per change."""
    out = [MARKDOWN_MARKER, f"### {md_text(_header(plan))}", "", f"**{summary_line(plan)}**", ""]
    acting = [c for c in plan.changes if c.action != "noop"]
    if acting:
        out += ["| | Action | Kind | Resource | Changes |", "|---|---|---|---|---|"]
        for c in acting:
            note = f"{len(c.fields)} field{'s' if len(c.fields) != 1 else ''}" if c.fields else ""
            out.append(
                f"| {_md_code(SYMBOLS[c.action])} | {c.action} | {c.kind} | "
                f"<code>{md_text('/'.join(c.key))}</code> | {note} |"
            )
        out.append("")
    else:
        out += ["No changes: the server matches the code.", ""]
    for c in acting:
        if not c.fields and not c.reason:
            continue
        summary = (
            f"{html.escape(SYMBOLS[c.action])} {c.action} {c.kind} "
            f"<code>{html.escape(clean_line('/'.join(c.key)))}</code>"
        )
        out += ["<details>", f"<summary>{summary}</summary>", ""]
        if c.reason:
            out += [f"_{md_text(c.reason)}_", ""]
        if c.fields:
            body = [line for fc in c.fields for line in _md_field_lines(fc)]
            fence = _fence_for(body)
            out += [f"{fence}diff", *body, fence, ""]
        out += ["</details>", ""]
    if plan.warnings:
        out.append("> [!WARNING]")
        for i, w in enumerate(plan.warnings):
            if i:
                out.append(">")
            out.append(f"> {md_text(w)}")
        out.append("")
    not_ours = [c for c in plan.changes if names_not_ours(c)]
    if not_ours:
        out += ["<details>", f"<summary>{len(not_ours)} not ours (left alone)</summary>", ""]
        out += [f"- {md_text(c.address + _id_note(c))}: {md_text(c.reason)}" for c in not_ours]
        out += ["", "</details>", ""]
    reasons = noop_reasons(plan)
    if reasons:
        total = sum(n for _r, n in reasons)
        out += ["<details>", f"<summary>{total} unchanged</summary>", ""]
        out += [f"- {n} {md_text(reason)}" for reason, n in reasons]
        out += ["", "</details>", ""]
    out.append(f"Checksum: `{plan_checksum(plan)}`")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# json


def _json_field(fc: FieldChange) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": fc.path, "sensitive": fc.secret}
    if fc.old is not MISSING:
        entry["old"] = SENSITIVE if fc.secret else fc.old
    if fc.new is not MISSING:
        entry["new"] = SENSITIVE if fc.secret else fc.new
    return entry


def render_json(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready dict; schema in the module docstring."""
    changes = []
    for c in plan.changes:
        source = c.desired.source if c.desired is not None else None
        changes.append(
            {
                "action": c.action,
                "kind": c.kind,
                "key": list(c.key),
                "address": c.address,
                "server_id": c.live.server_id if c.live is not None else None,
                "source": str(source) if source else None,
                "reason": c.reason,
                "missing_stream": (
                    {"stream_type": c.missing_stream[0], "stream_name": c.missing_stream[1]}
                    if c.missing_stream
                    else None
                ),
                "fields": [_json_field(fc) for fc in c.fields],
                # sha256 of the normalised live object the plan saw (alerts, templates and
                # destinations that apply updates or deletes; else null): apply re-reads the
                # object and stops when it no longer matches.
                "fingerprint": c.fingerprint,
            }
        )
    return {
        "format_version": FORMAT_VERSION,
        "org": plan.org,
        "env": plan.env,
        "project": plan.project,
        "checksum": plan_checksum(plan),
        "has_changes": plan.has_changes,
        "summary": counts(plan),
        "noop_reasons": dict(noop_reasons(plan)),
        "warnings": list(plan.warnings),
        "changes": changes,
    }
