"""A small table-driven shape checker for the JSON OpenObserve accepts.

Why not pydantic models: OpenObserve is lenient in ways a model would hide (it *drops* unknown
keys, it fills defaults), and we want one message per problem, in our words, with the JSON path
(``tabs[0].panels[2].layout.w``), unknown keys reported as likely typos, and enum values with a
"did you mean". A shape here is plain data — the dashboard/alert/destination/template tables in
the sibling modules read like the Rust structs they mirror, and adding a field OpenObserve gains
is one row.

Semantics follow serde as OpenObserve uses it:

- ``req``: the key must be present and not null (a non-``Option`` field without
  ``#[serde(default)]``);
- ``dflt``: may be absent, not null (a defaulted non-Option field — serde refuses ``null`` for a
  ``String`` even when it has a default);
- ``opt``: may be absent or null (an ``Option<…>`` field; serde treats a missing Option as None);
- ``Int``: a JSON integer (``i64``/``i32``); ``2.0`` and ``true`` are refused (422);
- ``Num``: any JSON number (``f64``);
- unknown keys: reported (the server silently drops them, so they are almost always typos).

Pure: ``check`` walks a value and returns ``(path, message)`` pairs; it never raises.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PathPart = str | int
Path = tuple[PathPart, ...]
Issue = tuple[Path, str]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_path(path: Path) -> str:
    """``("tabs", 0, "panels", 2, "layout")`` → ``tabs[0].panels[2].layout``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def json_type(value: Any) -> str:
    """How a value reads in JSON terms, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction" if not value.is_integer() else "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` for the closest choice (case differences first), or ``""``."""
    options = sorted(set(choices))
    for option in options:
        if option.lower() == value.lower():
            return f' (did you mean "{option}"?)'
    match = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""


class Shape:
    """Base of every shape. ``expected`` names the JSON type in messages."""

    expected = "a value"

    def check(self, value: Any, path: Path, out: list[Issue]) -> None:
        if value is None:
            out.append((path, f"expected {self.expected}, got null"))
            return
        self.check_value(value, path, out)

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        raise NotImplementedError


def _type_error(shape: Shape, value: Any) -> str:
    shown = ""
    if isinstance(value, (int, float, str)):
        text = json.dumps(value, ensure_ascii=False)
        shown = f" ({text})" if len(text) <= 40 else ""
    return f"expected {shape.expected}, got {json_type(value)}{shown}"


@dataclass(frozen=True)
class AnyValue(Shape):
    expected = "a value"

    def check(self, value: Any, path: Path, out: list[Issue]) -> None:
        return

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        return


@dataclass(frozen=True)
class Str(Shape):
    enum: tuple[str, ...] | None = None
    expected = "a string"

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        if not isinstance(value, str):
            out.append((path, _type_error(self, value)))
        elif self.enum is not None and value not in self.enum:
            choices = ", ".join(self.enum)
            out.append(
                (path, f'"{value}" is not one of: {choices}{did_you_mean(value, self.enum)}')
            )


@dataclass(frozen=True)
class Int(Shape):
    minimum: int | None = None
    maximum: int | None = None
    expected = "an integer"

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            out.append((path, _type_error(self, value)))
            return
        if self.minimum is not None and value < self.minimum:
            out.append((path, f"must be at least {self.minimum}, got {value}"))
        if self.maximum is not None and value > self.maximum:
            out.append((path, f"must be at most {self.maximum}, got {value}"))


@dataclass(frozen=True)
class Num(Shape):
    expected = "a number"

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append((path, _type_error(self, value)))


@dataclass(frozen=True)
class Bool(Shape):
    expected = "a boolean"

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        if not isinstance(value, bool):
            out.append((path, _type_error(self, value)))


@dataclass(frozen=True)
class ListOf(Shape):
    item: Shape
    expected = "a list"

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        if not isinstance(value, list):
            out.append((path, _type_error(self, value)))
            return
        for index, item in enumerate(value):
            self.item.check(item, path + (index,), out)


@dataclass(frozen=True)
class MapOf(Shape):
    """An object with free keys (``headers``, ``context_attributes``)."""

    value: Shape
    expected = "an object"

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        if not isinstance(value, dict):
            out.append((path, _type_error(self, value)))
            return
        for key, item in value.items():
            self.value.check(item, path + (str(key),), out)


@dataclass(frozen=True)
class Key:
    """One key of a struct: its shape, whether it must be present, whether ``null`` is accepted."""

    shape: Shape
    required: bool = False
    nullable: bool = False


def req(shape: Shape) -> Key:
    """A non-Option field without a serde default: must be present, not null."""
    return Key(shape, required=True)


def dflt(shape: Shape) -> Key:
    """A non-Option field with a serde default: may be absent, not null."""
    return Key(shape)


def opt(shape: Shape) -> Key:
    """An ``Option<…>`` field: may be absent or null."""
    return Key(shape, nullable=True)


@dataclass(frozen=True)
class Obj(Shape):
    """A struct: known keys with their shapes; anything else is reported as unknown."""

    keys: Mapping[str, Key]
    expected = "an object"

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        if not isinstance(value, dict):
            out.append((path, _type_error(self, value)))
            return
        for name, key in self.keys.items():
            if name in value:
                if value[name] is None and key.nullable:
                    continue
                key.shape.check(value[name], path + (name,), out)
            elif key.required:
                out.append((path + (name,), "required key is missing"))
        for name in value:
            if name not in self.keys:
                hint = did_you_mean(str(name), self.keys)
                out.append(
                    (
                        path + (str(name),),
                        f"unknown key{hint}; OpenObserve would silently drop it",
                    )
                )


@dataclass(frozen=True)
class Choice(Shape):
    """One of several shapes, picked by a function of the value (serde untagged/tagged enums).

    ``pick`` returns the shape to check against, or an error message string.
    """

    pick: Callable[[Any], Shape | str]
    expected: str = "a value"

    def check_value(self, value: Any, path: Path, out: list[Issue]) -> None:
        chosen = self.pick(value)
        if isinstance(chosen, str):
            out.append((path, chosen))
        else:
            chosen.check(value, path, out)


def tagged(tag: str, variants: Mapping[str, Shape]) -> Choice:
    """An internally tagged enum: ``{"type": "unit", ...}`` picks the ``unit`` variant."""

    def pick(value: Any) -> Shape | str:
        if not isinstance(value, dict):
            return f"expected an object, got {json_type(value)}"
        if tag not in value:
            return f'required key "{tag}" is missing (one of: {", ".join(variants)})'
        name = value[tag]
        if not isinstance(name, str) or name not in variants:
            shown = f'"{name}"' if isinstance(name, str) else json_type(name)
            hint = did_you_mean(name, variants) if isinstance(name, str) else ""
            return f"{tag} {shown} is not one of: {', '.join(variants)}{hint}"
        return variants[name]

    return Choice(pick, expected="an object")


def check(value: Any, shape: Shape, path: Path = ()) -> list[Issue]:
    out: list[Issue] = []
    shape.check(value, path, out)
    return out


@dataclass(frozen=True)
class _Lazy(Shape):
    """A shape defined later (recursive filter groups)."""

    resolve: Callable[[], Shape] = field(compare=False)

    def check(self, value: Any, path: Path, out: list[Issue]) -> None:
        self.resolve().check(value, path, out)


def lazy(resolve: Callable[[], Shape]) -> Shape:
    return _Lazy(resolve)
