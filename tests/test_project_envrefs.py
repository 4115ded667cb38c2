"""${env:NAME} references: found, checked, resolved — and secret values never in messages."""

from __future__ import annotations

import pytest

from o2kit.errors import ConfigError
from o2kit.project import envrefs
from o2kit.project.envrefs import find_env_refs, malformed_env_refs, resolve_env_refs

BODY = {
    "name": "hook",
    "url": "${env:HOOK_URL}",
    "headers": {"Authorization": "Bearer ${env:TOKEN}", "X-Both": "${env:A}-${env:B}"},
    "emails": ["a@example.com", "${env:MAIL}"],
    "port": 443,
}


def test_find_env_refs_in_document_order() -> None:
    assert find_env_refs(BODY) == [
        ("url", "HOOK_URL"),
        ("headers.Authorization", "TOKEN"),
        ("headers.X-Both", "A"),
        ("headers.X-Both", "B"),
        ("emails[1]", "MAIL"),
    ]


def test_resolve_replaces_and_does_not_mutate() -> None:
    environ = {"HOOK_URL": "https://h/x", "TOKEN": "s3cr3t", "A": "1", "B": "2", "MAIL": "m@x"}
    resolved = resolve_env_refs(BODY, environ)
    assert resolved == {
        "name": "hook",
        "url": "https://h/x",
        "headers": {"Authorization": "Bearer s3cr3t", "X-Both": "1-2"},
        "emails": ["a@example.com", "m@x"],
        "port": 443,
    }
    assert BODY["url"] == "${env:HOOK_URL}"


def test_missing_variables_are_all_named_without_values() -> None:
    environ = {"HOOK_URL": "https://hooks.example/very-secret", "A": ""}
    with pytest.raises(ConfigError) as info:
        resolve_env_refs(BODY, environ, resource='destination "hook"')
    message = str(info.value)
    assert message == (
        'destination "hook": environment variables are not set: TOKEN (used at '
        "headers.Authorization), A (used at headers.X-Both), B (used at headers.X-Both), "
        "MAIL (used at emails[1])"
    )
    assert "very-secret" not in message and info.value.remedy


def test_malformed_references_are_found() -> None:
    body = {"a": "${env:lower-case}", "b": "${ENV:X}", "c": "${env:OK}", "d": "${env:UNCLOSED"}
    assert malformed_env_refs(body) == [
        ("a", "${env:lower-case}"),
        ("b", "${ENV:X}"),
        ("d", "${env:UNCLOSED"),
    ]


def test_resolve_and_locate_finds_the_paths_find_env_ref_paths_finds() -> None:
    body = {"url": "https://h/${env:A}", "headers": {"X": "k ${env:B} $${env:C}"},
            "list": ["${env:A}", {"n": 1}]}
    resolved, paths = envrefs.resolve_and_locate(body, {"A": "alpha-1", "B": "bravo-2"})
    assert paths == [p for p, _var in envrefs.find_env_ref_paths(body)]
    assert paths == [("url",), ("headers", "X"), ("list", 0)]
    assert resolved["headers"]["X"] == "k bravo-2 ${env:C}"


def test_a_body_without_a_reference_is_returned_itself_and_found_empty() -> None:
    body = {"title": "cost $ per model", "panels": [{"q": "SELECT '$model'"}]}
    resolved, paths = envrefs.resolve_and_locate(body, {})
    assert resolved is body and paths == []
    assert envrefs.find_env_ref_paths(body) == [] and envrefs.malformed_env_refs(body) == []
    assert not envrefs.may_hold_env_refs(body)
    assert envrefs.may_hold_env_refs({"a": ["x ${ENV:y"]})
