"""Field-level differences between two JSON values (the bodies ``plan`` compares).

``diff(old, new)`` returns one ``FieldChange`` per differing leaf, with a path such as
``tabs[0].panels[2].queries[0].query``:

- object keys are joined with ``.``; a key that is not a plain word (``[A-Za-z0-9_$@-]+``) is
  written ``["the key"]`` (JSON string syntax), so every path parses back (``parse_path``);
- a value absent on one side is ``MISSING`` on that side;
- lists of objects that carry an identity (``tabId`` for tabs, ``id`` for panels, ``name`` for
  variables — the first key every element on both sides has, with unique scalar values) are
  paired by identity, so inserting a panel shows one added panel instead of every later panel
  changed. Indices in those paths are the element's position in the *new* list (in the *old*
  list for a removed element). When only the order of the shared elements differs, one change at
  ``<list path>#order`` lists the identities in old and new order;
- lists of scalars (tags, destinations, e-mail recipients) are compared whole: one change;
- other lists are compared position by position;
- numbers compare numerically (``2 == 2.0``) but booleans never equal numbers (``True != 1``).

Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from o2kit.model import MISSING, FieldChange

# Keys that identify an element of a list of objects, tried in order.
IDENTITY_KEYS: tuple[str, ...] = ("tabId", "id", "name")
ORDER_SUFFIX = "#order"

PathToken = str | int

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$@-]+$")


def format_path(tokens: Sequence[PathToken]) -> str:
    """``["tabs", 0, "panels", 2, "title"]`` → ``tabs[0].panels[2].title``."""
    out = ""
    for token in tokens:
        if isinstance(token, int):
            out += f"[{token}]"
        elif _PLAIN_KEY.match(token):
            out += f".{token}" if out else token
        else:
            out += "[" + json.dumps(token, ensure_ascii=False) + "]"
    return out


def parse_path(path: str) -> list[PathToken]:
    """Inverse of ``format_path`` (an ``#order`` suffix is dropped)."""
    if path.endswith(ORDER_SUFFIX):
        path = path[: -len(ORDER_SUFFIX)]
    tokens: list[PathToken] = []
    i = 0
    decoder = json.JSONDecoder()
    while i < len(path):
        ch = path[i]
        if ch == ".":
            i += 1
            continue
        if ch == "[":
            if path[i + 1] == '"':
                key, end = decoder.raw_decode(path, i + 1)
                tokens.append(str(key))
                i = end + 1  # skip the closing bracket
            else:
                end = path.index("]", i)
                tokens.append(int(path[i + 1 : end]))
                i = end + 1
            continue
        match = re.compile(r"[A-Za-z0-9_$@-]+").match(path, i)
        if match is None:
            raise ValueError(f"not a diff path: {path!r}")
        tokens.append(match.group(0))
        i = match.end()
    return tokens


def same(a: Any, b: Any) -> bool:
    """Deep equality for JSON values: numbers numerically, booleans apart from numbers."""
    # Python's == (in C) is looser than ours (True == 1), so its "unequal" is final; its "equal"
    # is confirmed by one strict pass.
    return bool(a == b) and _strictly_same(a, b)


def _strictly_same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and all(_strictly_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and all(_strictly_same(x, y) for x, y in zip(a, b, strict=True))
    return True  # already == (numbers compare numerically, as intended)


def diff(old: Any, new: Any) -> list[FieldChange]:
    """Every difference between ``old`` and ``new`` (see the module docstring for the paths)."""
    out: list[FieldChange] = []
    _diff(old, new, [], out)
    return out


def _diff(old: Any, new: Any, path: list[PathToken], out: list[FieldChange]) -> None:
    if same(old, new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _diff(old.get(key, MISSING), new.get(key, MISSING), [*path, key], out)
        return
    if isinstance(old, list) and isinstance(new, list):
        _diff_lists(old, new, path, out)
        return
    out.append(FieldChange(format_path(path), old, new))


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _identity_key(old: list[Any], new: list[Any]) -> str | None:
    items = [*old, *new]
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for key in IDENTITY_KEYS:
        if not all(key in x and _is_scalar(x[key]) and x[key] is not None for x in items):
            continue
        old_ids = [json.dumps(x[key]) for x in old]
        new_ids = [json.dumps(x[key]) for x in new]
        if len(set(old_ids)) == len(old_ids) and len(set(new_ids)) == len(new_ids):
            return key
    return None


def _diff_lists(
    old: list[Any], new: list[Any], path: list[PathToken], out: list[FieldChange]
) -> None:
    if all(_is_scalar(x) for x in [*old, *new]):
        out.append(FieldChange(format_path(path), old, new))
        return
    key = _identity_key(old, new)
    if key is None:
        for i in range(max(len(old), len(new))):
            _diff(
                old[i] if i < len(old) else MISSING,
                new[i] if i < len(new) else MISSING,
                [*path, i],
                out,
            )
        return
    old_index = {json.dumps(x[key]): i for i, x in enumerate(old)}
    new_ids = [json.dumps(x[key]) for x in new]
    for j, ident in enumerate(new_ids):
        at = old_index.get(ident)
        _diff(old[at] if at is not None else MISSING, new[j], [*path, j], out)
    new_set = set(new_ids)
    for ident, i in old_index.items():
        if ident not in new_set:
            out.append(FieldChange(format_path([*path, i]), old[i], MISSING))
    old_order = [x[key] for x in old if json.dumps(x[key]) in new_set]
    new_order = [x[key] for x in new if json.dumps(x[key]) in old_index]
    if old_order != new_order:
        out.append(FieldChange(format_path(path) + ORDER_SUFFIX, old_order, new_order))
