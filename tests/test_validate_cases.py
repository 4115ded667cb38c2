"""Spec-file tests of ``o2kit validate``: every ``tests/cases_validate/*.yaml`` is one case.

A case holds resources (``kind``, ``key``, ``source: "file:line"``, ``body``) and the exact
problem lines they must produce — or ``base: <case>`` plus a ``patch`` (JSON-pointer
``replace``/``add``/``remove`` operations on the base document) to describe a broken variant of
a correct project in a few lines.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from o2kit.model import Resource, SourceRef
from o2kit.project.config import Config
from o2kit.validate.rules import validate_resources

CASES = Path(__file__).parent / "cases_validate"


def _pointer(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for raw in path.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        parts.append(int(token) if token.isdigit() else token)
    return parts


def _apply(document: Any, operation: dict[str, Any]) -> None:
    *parents, last = _pointer(operation["path"])
    target = document
    for part in parents:
        target = target[part]
    op = operation["op"]
    if op == "remove":
        del target[last]
    elif op == "replace":
        if isinstance(target, dict) and last not in target:
            raise KeyError(f"replace of a missing key: {operation['path']}")
        target[last] = copy.deepcopy(operation["value"])
    elif op == "add":
        if isinstance(target, list):
            target.insert(
                len(target) if last == "-" else int(last), copy.deepcopy(operation["value"])
            )
        else:
            target[last] = copy.deepcopy(operation["value"])
    else:
        raise ValueError(f"unknown patch op {op!r}")


def load_case(name: str) -> dict[str, Any]:
    case = yaml.safe_load((CASES / f"{name}.yaml").read_text(encoding="utf-8"))
    if "base" in case:
        base = load_case(case["base"])
        for operation in case.get("patch", []):
            _apply(base, operation)
        base["problems"] = case["problems"]
        base["description"] = case.get("description", "")
        if "config" in case:
            base["config"] = case["config"]
        return base
    return case


def build(case: dict[str, Any]) -> tuple[list[Resource], Config]:
    resources = []
    for item in case["resources"]:
        file, _, line = item["source"].rpartition(":")
        resources.append(
            Resource(
                kind=item["kind"],
                key=tuple(item["key"]),
                body=item["body"],
                source=SourceRef(file, int(line)),
            )
        )
    return resources, Config.model_validate(case.get("config", {}))


CASE_NAMES = sorted(p.stem for p in CASES.glob("*.yaml"))


def test_there_are_cases() -> None:
    assert "valid_bedrock" in CASE_NAMES and len(CASE_NAMES) > 15


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case(name: str) -> None:
    case = load_case(name)
    resources, config = build(case)
    before = copy.deepcopy([r.body for r in resources])
    problems = validate_resources(resources, config)
    assert [str(p) for p in problems] == case["problems"]
    assert [r.body for r in resources] == before, "validate must not mutate its input"
