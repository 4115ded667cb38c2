"""The one error tree of o2kit.

Every failure o2kit reports to a user is an ``O2kitError``; the CLI maps it to a one-line
message (plus a remedy) and an exit code. Anything else escaping is an internal error and the
CLI says how to see its traceback (``--debug``).

::

    O2kitError                      exit 1
    ├── UserError                   bad input or usage; nothing was written
    │   ├── ConfigError             o2kit.yaml / envs/*.yaml / flags / environment
    │   ├── ValidationFailed        every problem found in the project, at once
    │   └── PlanError               the plan cannot be made or trusted (duplicate keys, checksum)
    └── ApiError                    OpenObserve answered with an error, or did not answer
        ├── AuthError               401 / 403
        ├── NotFound                404
        ├── Conflict                409 (stale dashboard hash, resource in use)
        └── TransportError          no usable answer: timeout, reset, lost response
                                    (ambiguous: the write may or may not have happened)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, located as precisely as we can."""

    file: str
    line: int
    field: str
    message: str
    # "error" stops validate, plan and apply; "warning" is printed and stops nothing (a rule o2kit
    # keeps that OpenObserve does not enforce, such as overlapping panels; ``validate --strict``
    # refuses warnings too).
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity != "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if not self.is_error:
            where += ": warning"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


def problem_to_json(problem: Problem) -> dict[str, Any]:
    """A problem as plain JSON data (for the on-disk cache, ``o2kit.project.cache``)."""
    return asdict(problem)


def problem_from_json(data: Any) -> Problem:
    """The inverse of ``problem_to_json``, for untrusted data: raises ValueError unless ``data``
    is exactly a problem's fields with string or integer values."""
    names = {f.name for f in fields(Problem)}
    if not isinstance(data, dict) or not set(data) <= names:
        raise ValueError("not a problem")
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in data.values()):
        raise ValueError("not a problem")
    if not isinstance(data.get("line"), int) or not isinstance(data.get("message"), str):
        raise ValueError("not a problem")
    try:
        return Problem(**data)
    except TypeError as exc:
        raise ValueError(f"not a problem: {exc}") from None


class O2kitError(Exception):
    """Base of every error o2kit reports to a user."""

    exit_code = 1
    remedy: str | None = None

    def __init__(self, message: str, *, remedy: str | None = None) -> None:
        super().__init__(message)
        if remedy is not None:
            self.remedy = remedy

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UserError(O2kitError):
    """Input or usage error: nothing was written to the server."""


class ConfigError(UserError):
    """Configuration is missing or wrong."""


class ValidationFailed(UserError):
    """The project has problems; all of them are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} found; nothing was sent to the server",
            remedy="fix the files named above and run the command again",
        )

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class PlanError(UserError):
    """A plan cannot be made or cannot be trusted."""


class ApiError(O2kitError):
    """OpenObserve answered with an error status (or not at all, see TransportError).

    ``ambiguous`` is True when a write may or may not have been applied (no answer, or a gateway
    error after sending); ``attempts`` counts the tries the client made.
    """

    ambiguous: bool = False
    attempts: int = 1

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        url: str = "",
        resource: str = "",
        body: str = "",
        remedy: str | None = None,
    ) -> None:
        super().__init__(message, remedy=remedy)
        self.status = status
        self.method = method
        self.url = url
        self.resource = resource
        self.body = body


class AuthError(ApiError):
    remedy = "check OPENOBSERVE_USER / OPENOBSERVE_PASSWORD (a password or a service-account token)"


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class TransportError(ApiError):
    """No usable answer. For a write, whether it happened on the server is unknown."""
