"""The fake as an ``httpx`` transport: ``httpx.Client(transport=fake.transport())``.

The real client code runs unchanged — retries, error mapping and all — against the in-memory
server. Injected faults surface as the httpx exceptions a real network would raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import httpx

from .faults import Faults, Outcome

if TYPE_CHECKING:
    from .delivery import Dispatcher


class FakeTransport(httpx.BaseTransport):
    def __init__(self, fake: Dispatcher, faults: Faults | None = None) -> None:
        self.fake = fake
        self.faults = faults

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        raw_path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        query = parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
        headers = {k.lower(): v for k, v in request.headers.items()}
        delivery = self.fake.dispatch(request.method, raw_path, query, headers, body,
                                      self.faults)
        faults = self.faults or self.fake.faults
        if delivery.outcome is Outcome.DROP:
            if faults.drop_as == "connect":
                raise httpx.ConnectError("fake: connection refused (injected)", request=request)
            raise httpx.RemoteProtocolError(
                "fake: server disconnected without sending a response (injected)",
                request=request)
        if delivery.outcome is Outcome.LOST:
            if faults.lost_as == "timeout":
                raise httpx.ReadTimeout("fake: response lost after the write was applied "
                                        "(injected)", request=request)
            raise httpx.RemoteProtocolError(
                "fake: server disconnected after applying the write (injected)",
                request=request)
        response = delivery.response
        assert response is not None
        return httpx.Response(response.status, headers=response.headers,
                              content=response.body, request=request)
