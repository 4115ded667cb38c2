"""validate_resources never raises and never reports an internal error, whatever the input:
every value of the correct project is replaced by wrong JSON types (or removed) in turn."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest
from test_validate_cases import build, load_case

from o2kit.model import Resource, SourceRef
from o2kit.validate.rules import validate_resources

WRONG_VALUES: list[Any] = [None, 1.5, -1, "", "x y", [], {}, True, [1, "a"], {"k": None}]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def _mutated(body: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    target: Any = copied
    for part in path[:-1]:
        target = target[part]
    if new is _REMOVE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return copied


_REMOVE = object()


def test_every_mutation_is_reported_not_raised() -> None:
    resources, config = build(load_case("valid_bedrock"))
    checked = 0
    for index, resource in enumerate(resources):
        for number, path in enumerate(list(_paths(resource.body))[1:]):
            # removal, plus one wrong value per path, cycling through all of them
            for new in [_REMOVE, WRONG_VALUES[(number + index) % len(WRONG_VALUES)]]:
                body = _mutated(resource.body, path, new)
                changed = list(resources)
                changed[index] = Resource(resource.kind, resource.key, body, resource.source)
                problems = validate_resources(changed, config)
                assert not any("internal error" in p.message for p in problems), (path, new)
                checked += 1
    assert checked > 900


def test_a_changed_value_is_noticed_somewhere() -> None:
    # Sanity check of the checker's sensitivity: a wrong type at any leaf is reported.
    resources, config = build(load_case("valid_bedrock"))
    dashboard = next(r for r in resources if r.kind == "dashboard")
    for path in _paths(dashboard.body):
        leaf = _get(dashboard.body, path)
        if path and not isinstance(leaf, (dict, list)) and leaf is not None:
            body = _mutated(dashboard.body, path, [leaf])
            changed = [r if r is not dashboard else _with_body(r, body) for r in resources]
            assert validate_resources(changed, config), path


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _with_body(resource: Resource, body: dict[str, Any]) -> Resource:
    return Resource(resource.kind, resource.key, body, resource.source)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_order_of_resources_does_not_change_the_report(seed: int) -> None:
    resources, config = build(load_case("duplicate_resource"))
    shuffled = list(resources)
    random.Random(seed).shuffle(shuffled)
    assert validate_resources(shuffled, config) == validate_resources(resources, config)


def test_a_resource_without_source_and_a_body_that_is_not_an_object() -> None:
    _, config = build(load_case("valid_bedrock"))
    problems = validate_resources(
        [
            Resource("folder", ("dashboards", "x"), {"name": "x", "description": ""}),
            Resource("alert", ("f", "a"), "nonsense", SourceRef("a.yaml", 3)),  # type: ignore[arg-type]
        ],
        config,
    )
    assert [str(p) for p in problems] == ["a.yaml:3: the body must be a JSON object"]
