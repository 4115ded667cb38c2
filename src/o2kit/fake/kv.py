"""The org key-value store (``/api/{org}/kv``), from ``src/api/management/src/request/kv/mod.rs``
and ``src/db/src/kv.rs``:

- ``GET /{org}/kv/{key}``: the raw value as ``text/plain``, or 404 ``Not Found``;
- ``POST /{org}/kv/{key}``: stores the body under the *trimmed* key — an upsert (creates or
  replaces), answers ``OK``;
- ``DELETE /{org}/kv/{key}``: removes it (``OK``), 404 ``Not Found`` when absent;
- ``GET /{org}/kv?prefix=P``: a JSON array of the keys starting with ``P``.
"""

from __future__ import annotations

from .http import Request, Response, json_response, plain
from .state import Store


def get_value(store: Store, req: Request) -> Response:
    value = store.kv.get((req.params["org"], req.params["key"]))
    if value is None:
        return plain(404, "Not Found")
    return Response(200, value, {"content-type": "text/plain; charset=utf-8"})


def set_value(store: Store, req: Request) -> Response:
    store.kv[(req.params["org"], req.params["key"].strip())] = bytes(req.body)
    return plain(200, "OK")


def delete_value(store: Store, req: Request) -> Response:
    if store.kv.pop((req.params["org"], req.params["key"]), None) is None:
        return plain(404, "Not Found")
    return plain(200, "OK")


def list_keys(store: Store, req: Request) -> Response:
    org, prefix = req.params["org"], req.query_map().get("prefix", "")
    return json_response(sorted(k for (o, k) in store.kv if o == org and k.startswith(prefix)))
