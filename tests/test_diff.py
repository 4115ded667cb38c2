"""Field-level diff: paths, identity pairing of tabs/panels, numbers vs booleans."""

from __future__ import annotations

from typing import Any

import pytest

from o2kit.model import MISSING
from o2kit.sync.diff import diff, format_path, parse_path, same


def panel(pid: str, title: str = "", query: str = "SELECT 1") -> dict[str, Any]:
    return {"id": pid, "title": title or pid, "queries": [{"query": query}]}


def dash(*panels: dict[str, Any]) -> dict[str, Any]:
    return {"tabs": [{"tabId": "main", "name": "Main", "panels": list(panels)}]}


def triples(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    return [(c.path, c.old, c.new) for c in diff(old, new)]


def test_equal_values_have_no_changes() -> None:
    body = dash(panel("a"), panel("b"))
    assert diff(body, body) == []


def test_nested_path_names_the_leaf() -> None:
    old = dash(panel("a"), panel("b"), panel("c"))
    new = dash(panel("a"), panel("b"), panel("c", query="SELECT 2"))
    assert triples(old, new) == [("tabs[0].panels[2].queries[0].query", "SELECT 1", "SELECT 2")]


def test_inserting_a_panel_is_one_added_panel() -> None:
    old = dash(panel("a"), panel("b"), panel("c"))
    new = dash(panel("a"), panel("new"), panel("b"), panel("c"))
    assert triples(old, new) == [("tabs[0].panels[1]", MISSING, panel("new"))]


def test_removing_a_panel_is_one_removed_panel_at_its_old_index() -> None:
    old = dash(panel("a"), panel("b"), panel("c"))
    new = dash(panel("a"), panel("c"))
    assert triples(old, new) == [("tabs[0].panels[1]", panel("b"), MISSING)]


def test_reordering_is_reported_once_by_identity() -> None:
    old = dash(panel("a"), panel("b"))
    new = dash(panel("b"), panel("a"))
    assert triples(old, new) == [("tabs[0].panels#order", ["a", "b"], ["b", "a"])]


def test_changed_panel_after_an_insert_uses_its_new_index() -> None:
    old = dash(panel("a"), panel("b"))
    new = dash(panel("x"), panel("a"), panel("b", title="B!"))
    assert triples(old, new) == [
        ("tabs[0].panels[0]", MISSING, panel("x")),
        ("tabs[0].panels[2].title", "b", "B!"),
    ]


def test_duplicate_identities_fall_back_to_positions() -> None:
    old = [{"id": "op", "v": 1}, {"id": "op", "v": 2}]
    new = [{"id": "op", "v": 1}, {"id": "op", "v": 3}]
    assert triples(old, new) == [("[1].v", 2, 3)]


def test_lists_of_scalars_change_as_a_whole() -> None:
    assert triples({"tags": ["a", "c"]}, {"tags": ["a", "b", "c"]}) == [
        ("tags", ["a", "c"], ["a", "b", "c"])
    ]


def test_numbers_compare_numerically_but_not_booleans() -> None:
    assert diff({"a": 2}, {"a": 2.0}) == []
    assert triples({"a": True}, {"a": 1}) == [("a", True, 1)]
    assert triples({"a": 0}, {"a": False}) == [("a", 0, False)]
    assert not same([1, True], [1, 1])


def test_absent_keys_are_missing() -> None:
    assert triples({"a": 1}, {"b": 1}) == [("a", 1, MISSING), ("b", MISSING, 1)]


def test_type_change_is_one_change() -> None:
    assert triples({"a": {"x": 1}}, {"a": [1]}) == [("a", {"x": 1}, [1])]


@pytest.mark.parametrize(
    "tokens",
    [
        ["tabs", 0, "panels", 12, "queries", 0, "query"],
        ["headers", "X-Api-Key"],
        ["metadata", "a.b"],
        ["context_attributes", "team name", "x"],
        ["weird", 'quo"te]'],
    ],
)
def test_paths_round_trip(tokens: list[Any]) -> None:
    assert parse_path(format_path(tokens)) == tokens


def test_unusual_keys_are_quoted() -> None:
    assert format_path(["metadata", "a.b"]) == 'metadata["a.b"]'
    assert format_path(["headers", "X-Api-Key"]) == "headers.X-Api-Key"
