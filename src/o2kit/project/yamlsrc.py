"""Read YAML safely and remember the line of every value, so errors can say ``file:line: field``.

``load_yaml`` returns plain Python data plus a ``LineIndex`` that maps a path (tuple of keys and
list indexes) to the 1-based line where that value starts. Nothing here touches the file system
except ``load_yaml_file``.

Limits (every YAML or JSON file o2kit reads — o2kit.yaml, envs/, prices, dashboards/, alerts/,
alert-tests/, raw JSON templates — and every rendered template output; README "Limits"):

- a file of at most ``MAX_FILE_BYTES`` (5 MiB); a project's files together ``MAX_TOTAL_BYTES``;
- mappings and lists nested at most ``MAX_DEPTH`` (100) deep, an alias counting as what it
  expands to;
- at most ``MAX_ALIASES`` (1,000) aliases (``*name``) per document, adding at most
  ``MAX_ALIAS_EXPANSION`` (100,000) values when expanded, and no alias inside its own anchor.

They are checked on the parser's event stream (libyaml's when PyYAML has it), before any node
is built, so a "billion laughs" alias bomb or ten thousand ``[`` are refused in milliseconds with
``file:line``, never a ``RecursionError`` or gigabytes of memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from o2kit.errors import Problem

PathT = tuple[str | int, ...]
M = TypeVar("M", bound=pydantic.BaseModel)

MAX_FILE_BYTES = 5 * 1024 * 1024  # one YAML or JSON file
MAX_TOTAL_BYTES = 50 * 1024 * 1024  # every file of one project together
MAX_DEPTH = 100  # nesting of mappings and lists (a dashboard needs about 12)
MAX_ALIASES = 1_000  # alias nodes (*name) in one document
MAX_ALIAS_EXPANSION = 100_000  # values the aliases of one document add when expanded


def format_path(path: Iterable[str | int]) -> str:
    """``("tabs", 0, "panels")`` → ``tabs[0].panels``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class LineIndex:
    """Lines of values in one YAML document."""

    file: str
    lines: dict[PathT, int] = field(default_factory=dict)

    def line(self, path: Iterable[str | int]) -> int:
        """Line of ``path``, or of its nearest ancestor that has one (1 at worst)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)

    def problem(self, path: Iterable[str | int], message: str) -> Problem:
        p = tuple(path)
        return Problem(self.file, self.line(p), format_path(p), message)


class YamlError(ValueError):
    """Bad YAML or JSON, or a file over one of the limits (``limit`` is then True)."""

    def __init__(self, problem: Problem, *, limit: bool = False) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.limit = limit


def _too_big(file: str, size: int) -> YamlError:
    return YamlError(
        Problem(file, 1, "", f"file is {size:,} bytes; o2kit reads files of at most "
                f"{MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // (1024 * 1024)} MiB)"),
        limit=True,
    )


def _over(file: str, mark: Any, message: str) -> YamlError:
    line = mark.line + 1 if mark is not None else 1
    return YamlError(Problem(file, line, "", message), limit=True)


def check_bounds(text: str, file: str, stats: dict[str, int] | None = None) -> None:
    """Refuse YAML over the limits of the module docstring (``YamlError`` naming file and line).

    One pass over the parser's events, keeping per anchor the number of values it stands for and
    its height, so an alias is charged what it would expand to without expanding anything. A
    syntax error is left to the loader, which reports it with its own message; the events up to
    it were within the limits. ``stats``, when given, receives the number of ``anchors``,
    ``aliases`` and explicit ``tags`` seen.
    """
    if len(text) > MAX_FILE_BYTES:
        raise _too_big(file, len(text.encode("utf-8")))
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (values, height)
    open_anchors: set[str] = set()
    stack: list[list[Any]] = []  # [anchor, values, height of the tallest child]
    aliases = 0
    added = 0
    anchors = tags = 0
    try:
        while True:
            try:
                event = loader.get_event()
            except yaml.MarkedYAMLError as exc:
                # libyaml scans up to 1,000 '[' ahead looking for a flow key before it hands
                # out the first event, and stops at its own nesting limit.
                if "maximum nesting depth" in str(exc.problem):
                    raise _over(file, exc.problem_mark,
                                f"nested deeper than {MAX_DEPTH} levels (o2kit's limit)") from None
                return  # the loader says what is wrong, and where
            except yaml.YAMLError:
                return
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            if isinstance(event, yaml.NodeEvent):
                if event.anchor is not None and not isinstance(event, yaml.AliasEvent):
                    anchors += 1
                if getattr(event, "tag", None) is not None:
                    tags += 1
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) + 1 > MAX_DEPTH:
                    raise _over(file, event.start_mark,
                                f"nested deeper than {MAX_DEPTH} levels (o2kit's limit)")
                if event.anchor:
                    open_anchors.add(event.anchor)
                stack.append([event.anchor, 1, 0])
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, values, child_height = stack.pop()
                if anchor:
                    sizes[anchor] = (values, child_height + 1)
                    open_anchors.discard(anchor)
                if stack:
                    stack[-1][1] += values
                    stack[-1][2] = max(stack[-1][2], child_height + 1)
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    sizes[event.anchor] = (1, 0)
                if stack:
                    stack[-1][1] += 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise _over(file, event.start_mark,
                                f"more than {MAX_ALIASES:,} aliases (o2kit's limit)")
                if event.anchor in open_anchors:
                    raise _over(file, event.start_mark,
                                f"alias *{event.anchor} inside its own anchor (a recursive "
                                "structure)")
                values, height = sizes.get(event.anchor or "", (1, 0))
                added += values
                if added > MAX_ALIAS_EXPANSION:
                    raise _over(file, event.start_mark,
                                f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} values "
                                "(o2kit's limit; an alias bomb?)")
                if len(stack) + height > MAX_DEPTH:
                    raise _over(file, event.start_mark,
                                f"alias *{event.anchor} nests deeper than {MAX_DEPTH} levels "
                                "(o2kit's limit)")
                if stack:
                    stack[-1][1] += values
                    stack[-1][2] = max(stack[-1][2], height)
    finally:
        loader.dispose()
        if stats is not None:
            stats.update(anchors=anchors, aliases=aliases, tags=tags)


def _json_depth(data: Any) -> int:
    """Nesting of lists and objects in decoded JSON, without recursion."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict):
            values: Iterable[Any] = value.values()
        elif isinstance(value, list):
            values = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            todo.extend((v, depth + 1) for v in values)
    return deepest


def _json_deep_line(text: str) -> int:
    """The line where brackets first nest deeper than ``MAX_DEPTH`` (strings skipped)."""
    depth, line, in_string, escaped = 0, 1, False, False
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif char in "]}":
            depth -= 1
    return 1


def load_json(text: str, file: str) -> Any:
    """Parse one JSON document within the size and depth limits; ``YamlError`` with the line."""
    if len(text) > MAX_FILE_BYTES:
        raise _too_big(file, len(text.encode("utf-8")))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise YamlError(Problem(file, exc.lineno, "", f"invalid JSON: {exc.msg}")) from exc
    except RecursionError:
        data = None
        deep = True
    else:
        deep = _json_depth(data) > MAX_DEPTH
    if deep:
        raise YamlError(
            Problem(file, _json_deep_line(text), "",
                    f"nested deeper than {MAX_DEPTH} levels (o2kit's limit)"),
            limit=True,
        )
    return data


def _index(root: yaml.Node, lines: dict[PathT, int]) -> None:
    """Line of every path, walking the node graph without recursion (``check_bounds`` has
    already bounded what aliases expand to)."""
    todo: list[tuple[yaml.Node, PathT, int | None]] = [(root, (), None)]
    while todo:
        node, path, key_line = todo.pop()
        # The key's line is where a reader looks for a field (its value may start below it).
        lines[path] = key_line if key_line is not None else node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in reversed(node.value):
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(
                    key_node.value)
                todo.append((value_node, (*path, key), key_node.start_mark.line + 1))
        elif isinstance(node, yaml.SequenceNode):
            for i in range(len(node.value) - 1, -1, -1):
                todo.append((node.value[i], (*path, i), None))


def _construct_unique_mapping(self: Any, node: yaml.MappingNode, deep: bool = False) -> Any:
    """``construct_mapping`` that refuses duplicate keys (PyYAML silently keeps the last one)
    and unhashable keys (``? []``), for every loader o2kit parses YAML with."""
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = self.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a string or a number, not a list or "
                "mapping", key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key]})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return yaml.constructor.SafeConstructor.construct_mapping(self, node, deep=deep)


def _construct_text_scalar(self: Any, node: yaml.ScalarNode) -> Any:
    """``construct_scalar`` that refuses a lone surrogate (``"\\udc80"`` in a double-quoted
    scalar): it is not Unicode text, nothing can encode it as UTF-8 — not the JSON o2kit sends,
    not its cache — so it is a located error here instead of an internal one later."""
    value = yaml.constructor.SafeConstructor.construct_scalar(self, node)
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = value[exc.start]
            raise yaml.constructor.ConstructorError(
                None, None, f"{ascii(bad)[1:-1]} is a lone surrogate, not a character: the text "
                "cannot be written as UTF-8 (use the character itself, or a \\U escape of a "
                "real code point)", node.start_mark) from None
    return value


_UniqueKeyLoader: Any = type(
    "_UniqueKeyLoader", (yaml.SafeLoader,),
    {"construct_mapping": _construct_unique_mapping, "construct_scalar": _construct_text_scalar},
)
# The same with libyaml when PyYAML has it, for large machine-written YAML (rendered output);
# its errors carry no reliable line, so a failure is parsed again with ``load_yaml``.
FastUniqueKeyLoader: Any = type(
    "FastUniqueKeyLoader",
    (getattr(yaml, "CSafeLoader", yaml.SafeLoader),),
    {"construct_mapping": _construct_unique_mapping, "construct_scalar": _construct_text_scalar},
)


def load_yaml(text: str, file: str) -> tuple[Any, LineIndex]:
    """Parse one YAML document. Raises ``YamlError`` naming file and line on bad YAML or YAML
    over the limits (see the module docstring)."""
    index = LineIndex(file)
    check_bounds(text, file)
    try:
        # One parse: the node tree gives the line index, and the data is constructed from it.
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # "expected ']' but got <stream end>" is found at the end of the file; the construct left
        # open (the context) is where the reader has to look.
        if exc.context_mark is not None and (mark is None or mark.index >= len(text.rstrip())):
            mark = exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        msg = exc.problem or str(exc)
        if exc.context and exc.problem:
            msg = f"{exc.context}, {exc.problem}"
        raise YamlError(Problem(file, line, "", f"invalid YAML: {msg}")) from exc
    except yaml.YAMLError as exc:
        raise YamlError(Problem(file, 1, "", f"invalid YAML: {exc}")) from exc
    except RecursionError as exc:  # not reached within MAX_DEPTH; kept as a last line of defence
        raise YamlError(Problem(file, 1, "", "nested too deeply"), limit=True) from exc
    if node is not None:
        _index(node, index.lines)
    return data, index


def parse_as(model: type[M], data: Any, index: LineIndex, base: PathT = ()) -> M:
    """Validate ``data`` into the pydantic ``model``; on failure raise ``ModelErrors`` whose
    problems name the file, line and field of every error at once."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ModelErrors(pydantic_problems(exc, index, base)) from exc


def pydantic_problems(
    exc: pydantic.ValidationError, index: LineIndex, base: PathT = ()
) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = (*base, *(p for p in err["loc"] if isinstance(p, str | int)))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        msg = msg.removeprefix("Value error, ")
        problems.append(index.problem(loc, msg))
    return problems


class ModelErrors(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_yaml_file(path: Path, display: str | None = None) -> tuple[Any, LineIndex]:
    name = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _too_big(name, size)
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(Problem(name, 1, "", f"cannot read file: {exc.strerror}")) from exc
    except UnicodeDecodeError as exc:
        raise YamlError(Problem(name, 1, "", "file is not UTF-8 text")) from exc
    return load_yaml(text, name)
