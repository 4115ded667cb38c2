"""Requests, responses, error shapes and routing for the fake OpenObserve.

Error shapes (``/work/oo/src/common/src/meta/http.rs``, ``HttpResponse``; axum's extractors):

* handler errors are JSON ``{"code": <status>, "message": "..."}`` — except that
  ``HttpResponse::unauthorized`` answers HTTP 403 with ``"code": 401``;
* body-extraction failures come from axum as plain text: malformed JSON → 400 ``Failed to parse
  the request body as JSON: ...``, wrong shape → 422 ``Failed to deserialize the JSON body into
  the target type: ...``, no JSON content type → 415 ``Expected request with `Content-Type:
  application/json```; a bad query string → 400 ``Failed to deserialize query string: ...``;
  a bad path parameter → 400 ``Invalid URL: ...``;
* an unknown path is 404 and a known path with the wrong method 405, both with an empty body.

The router picks, like axum's ``matchit``, the route whose *static* segments match first (so
``/dashboards/bulk`` never reaches ``/dashboards/{dashboard_id}``), and only then looks at the
method.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from .serde import SerdeError, parse_json

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    user: str = ""  # the authenticated caller's email (OpenObserve's `user_id` header)
    params: dict[str, str] = field(default_factory=dict)

    def query_map(self) -> dict[str, str]:
        """Query parameters as a map; a repeated key keeps its last value (serde_urlencoded)."""
        return dict(self.query)

    def query_all(self, key: str) -> list[str]:
        return [v for k, v in self.query if k == key]


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class HttpError(Exception):
    """Raised by handlers to answer with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def dump(value: Any) -> bytes:
    """Compact JSON, as serde_json writes it. pydantic-core (serde_json underneath) is ~2x
    faster on a dashboard list; a NaN or an infinity (which serde_json would never write, but
    the fake's tests may store) and anything it cannot encode go through ``json.dumps``."""
    try:
        data = pydantic_core.to_json(value, inf_nan_mode="constants")
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError, RecursionError):
        data = None
    if data is None or b"NaN" in data or b"Infinity" in data:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return data


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, dump(value), {"content-type": JSON_TYPE})


def message(status: int, text: str, *, code: int | None = None, **extra: Any) -> Response:
    """The ``{"code","message"}`` envelope; ``extra`` adds the optional ``id``/``name`` keys."""
    body: dict[str, Any] = {"code": status if code is None else code, "message": text}
    body.update({k: v for k, v in extra.items() if v is not None})
    return json_response(body, status)


def ok(text: str, **extra: Any) -> Response:
    return message(200, text, **extra)


def error(status: int, text: str) -> HttpError:
    return HttpError(message(status, text))


def plain(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, text.encode("utf-8"), {"content-type": TEXT_TYPE, **(headers or {})})


def empty(status: int) -> Response:
    return Response(status, b"", {})


def _is_json_type(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == JSON_TYPE or (mime.startswith("application/") and mime.endswith("+json"))


def read_json(req: Request, numbers: str = "plain") -> Any:
    """axum's ``Json`` extractor: content type, then syntax (400), the caller checks shape."""
    if not _is_json_type(req.headers.get("content-type", "")):
        raise HttpError(plain(415, "Expected request with `Content-Type: application/json`"))
    try:
        return parse_json(req.body, numbers)
    except UnicodeDecodeError as err:
        raise HttpError(plain(400, f"Failed to parse the request body as JSON: {err}")) from None
    except json.JSONDecodeError as err:
        text = f"{err.msg} at line {err.lineno} column {err.colno}"
        raise HttpError(plain(400, f"Failed to parse the request body as JSON: {text}")) from None


def shape_error(err: SerdeError, suffix: str = "") -> HttpError:
    """422 for a body of the wrong shape (``JsonDataError``), with serde_path_to_error's path."""
    return HttpError(
        plain(422, f"Failed to deserialize the JSON body into the target type: {err}{suffix}")
    )


def end_position(body: bytes) -> str:
    """`` at line L column C`` for the end of a JSON text: where serde_json reports an error
    raised after the whole value was read (DashboardRequestBody's custom errors)."""
    text = body.decode("utf-8", "replace").rstrip()
    line = text.count("\n") + 1
    column = len(text) - (text.rfind("\n") + 1)
    return f" at line {line} column {column}"


def query_error(text: str) -> HttpError:
    return HttpError(plain(400, f"Failed to deserialize query string: {text}"))


def parse_bool(key: str, raw: str) -> bool:
    if raw == "true":
        return True
    if raw == "false":
        return False
    raise query_error(
        f"invalid value: string {json.dumps(raw)}, expected a boolean"
        if raw
        else f"{key}: provided string was not `true` or `false`"
    )


def parse_u64(raw: str) -> int:
    if raw.isdigit() and int(raw) < 2**64:
        return int(raw)
    raise query_error(
        "invalid digit found in string" if raw else "cannot parse integer from empty string"
    )


Handler = Callable[[Request], Response]


@dataclass
class Route:
    pattern: tuple[str, ...]
    methods: dict[str, Handler]

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.pattern, segments, strict=True):
            if want.startswith("{"):
                if got == "":
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params

    def rank(self) -> tuple[int, ...]:
        # matchit prefers static segments over parameters, left to right.
        return tuple(0 if s.startswith("{") else 1 for s in self.pattern)


class Router:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, ...], Route] = {}

    def add(self, pattern: str, **methods: Handler) -> None:
        key = tuple(pattern.strip("/").split("/"))
        route = self._routes.setdefault(key, Route(key, {}))
        for method, handler in methods.items():
            route.methods[method.upper()] = handler

    def resolve(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], int]:
        """``(handler, params, status)``: status 404 (no route) or 405 (wrong method)."""
        segments = path.strip("/").split("/") if path.strip("/") else []
        matches = [(r, p) for r in self._routes.values() if (p := r.match(segments)) is not None]
        if not matches:
            return None, {}, 404
        route, params = max(matches, key=lambda rp: rp[0].rank())
        handler = route.methods.get(method.upper())
        if handler is None and method.upper() == "HEAD":
            handler = route.methods.get("GET")
        if handler is None:
            return None, {}, 405
        return handler, params, 200


def first(items: Iterable[Any]) -> Any:
    return next(iter(items), None)
