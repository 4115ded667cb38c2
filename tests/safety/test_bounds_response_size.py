"""Harm 7 of issue 11: response bodies were read whole, however large. The client now streams the
body and stops past ``max_response_bytes`` (64 MiB; env O2KIT_MAX_RESPONSE_MB), counting the
decoded bytes, so a gzip bomb is measured inflated."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bounds_helpers import copy_project, run, server_env

from o2kit.cli import base as cli_base
from o2kit.errors import ApiError
from o2kit.fake import FakeOpenObserve
from o2kit.project.config import ServerSettings
from o2kit.sync.client import OpenObserveClient

MIB = 1024 * 1024
CHUNK = b"[" + b" " * (64 * 1024 - 1)


class Endless(httpx.SyncByteStream):
    """A body of ``total`` bytes produced lazily; ``served`` counts what was asked for."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.served = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.served < self.total:
            self.served += len(CHUNK)
            yield CHUNK


class HugeListings(httpx.BaseTransport):
    """The fake OpenObserve, except that listing folders answers an enormous body."""

    def __init__(self, fake: FakeOpenObserve, total: int) -> None:
        self.inner = fake.transport()
        self.body = Endless(total)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and "/folders/" in request.url.path:
            return httpx.Response(200, headers={"Content-Type": "application/json"},
                                  stream=self.body)
        return self.inner.handle_request(request)


def test_plan_stops_reading_an_oversized_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOpenObserve(seed=1)
    server_env(monkeypatch, fake)
    monkeypatch.setenv("O2KIT_MAX_RESPONSE_MB", "1")
    huge = HugeListings(fake, total=200 * MIB)
    monkeypatch.setattr(cli_base, "_TRANSPORT", huge)
    result = run(copy_project(tmp_path / "repo"), "plan")
    assert result.exit_code == 1, result.output
    assert "the answer is larger than 1 MiB" in result.output, result.output
    assert "O2KIT_MAX_RESPONSE_MB" in result.output
    # Both folder listings (read in parallel) stopped just past 1 MiB: not read to the end.
    assert huge.body.served <= 4 * MIB


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    body = Endless(10 * MIB)
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, headers={"Content-Length": str(10 * MIB)}, stream=body))
    settings = ServerSettings(url="http://o2.test", org="default", user="u", password="p",
                              max_response_bytes=MIB)
    with OpenObserveClient(settings, transport=transport) as client, pytest.raises(ApiError):
        client.list_folders("dashboards")
    assert body.served == 0


def test_a_gzip_bomb_is_measured_inflated() -> None:
    bomb = gzip.compress(b" " * (20 * MIB))  # ~20 KB on the wire
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        content=bomb))
    settings = ServerSettings(url="http://o2.test", org="default", user="u", password="p",
                              max_response_bytes=MIB)
    with (OpenObserveClient(settings, transport=transport) as client,
          pytest.raises(ApiError) as caught):
        client.list_folders("dashboards")
    assert "larger than 1 MiB" in caught.value.message


def test_answers_within_the_limit_are_read_as_before() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        content=gzip.compress(b'{"list": []}')))
    settings = ServerSettings(url="http://o2.test", org="default", user="u", password="p")
    with OpenObserveClient(settings, transport=transport) as client:
        assert client.list_folders("dashboards") == []
