"""Read YAML safely and remember the line of every value, so errors can say ``file:line: field``.

``load_yaml`` returns plain Python data plus a ``LineIndex`` that maps a path (tuple of keys and
list indexes) to the 1-based line where that value starts. Nothing here touches the file system
except ``load_yaml_file``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from o2kit.errors import Problem

PathT = tuple[str | int, ...]
M = TypeVar("M", bound=pydantic.BaseModel)


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
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _index(node: yaml.Node, path: PathT, lines: dict[PathT, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            _index(value_node, (*path, key), lines)
            # The key's line is where a reader looks for a field (its value may start below it).
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, file: str) -> tuple[Any, LineIndex]:
    """Parse one YAML document. Raises ``YamlError`` naming file and line on bad YAML."""
    index = LineIndex(file)
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
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
    if node is not None:
        _index(node, (), index.lines)
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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(Problem(name, 1, "", f"cannot read file: {exc.strerror}")) from exc
    except UnicodeDecodeError as exc:
        raise YamlError(Problem(name, 1, "", "file is not UTF-8 text")) from exc
    return load_yaml(text, name)
