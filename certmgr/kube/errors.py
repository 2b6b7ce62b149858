"""Typed errors for everything the Kubernetes door can fail with.

Owns the mapping from a ``kind: Status`` body (and its HTTP code) to a flat set of
exception categories, kopf/httpcore style: callers catch ``NotFound`` or ``Conflict``,
never inspect HTTP codes. Every error keeps the Status body; the transport-level cause is
chained with ``raise ... from``. This module must not do I/O.

``Unreachable`` is an ``APIError`` too (so ``except APIError`` catches every failure of a
call), but it has no server body: its ``status`` is synthesised with ``code`` 0 and reason
``Unreachable``.
"""

from __future__ import annotations

from typing import Any, TypeGuard


class ConfigError(Exception):
    """No usable connection configuration; the message is one line fit for a CLI."""


class APIError(Exception):
    """A failed Kubernetes API call, carrying the server's ``kind: Status`` body."""

    def __init__(self, status: dict[str, Any], *, code: int | None = None) -> None:
        self.status = status
        self.code: int = int(code if code is not None else status.get("code") or 0)
        self.reason: str = str(status.get("reason") or "")
        self.message: str = str(status.get("message") or self.reason or f"HTTP {self.code}")
        super().__init__(self.message)

    @property
    def details(self) -> dict[str, Any]:
        details = self.status.get("details")
        return details if isinstance(details, dict) else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, reason={self.reason!r}, {self.message!r})"


class BadRequest(APIError):
    pass


class Unauthorized(APIError):
    pass


class Forbidden(APIError):
    pass


class NotFound(APIError):
    pass


class AlreadyExists(APIError):
    pass


class Conflict(APIError):
    pass


class Gone(APIError):
    """410: a watch or continue token refers to a resourceVersion that is no longer kept."""


class Invalid(APIError):
    """422: the object failed validation; ``causes`` name the offending fields."""

    @property
    def causes(self) -> list[dict[str, Any]]:
        causes = self.details.get("causes")
        return [c for c in causes if isinstance(c, dict)] if isinstance(causes, list) else []


class TooManyRequests(APIError):
    """429, with the server's Retry-After in seconds when it sent one."""

    def __init__(
        self, status: dict[str, Any], *, code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(status, code=code)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server failed; the request may or may not have taken effect."""


class Unreachable(APIError):
    """The server could not be reached (connection refused, reset, timed out) after retries."""

    def __init__(self, message: str) -> None:
        super().__init__(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "Unreachable",
                "message": message,
                "code": 0,
            },
            code=0,
        )


_BY_CODE: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
}


def error_for(code: int, body: object, *, retry_after: float | None = None) -> APIError:
    """The typed error for an HTTP code and (possibly missing or non-Status) body.

    The HTTP code decides the category; the reason only refines it within one code (409
    is AlreadyExists or Conflict). Trusting the code over the reason matters because
    proxies in front of an API server answer with bodies that are not Status objects.
    """
    status = body if _is_status(body) else _synthetic_status(code, body)
    if code == 429:
        return TooManyRequests(status, code=code, retry_after=retry_after)
    if code >= 500:
        return ServerError(status, code=code)
    if code == 409 and status.get("reason") == "AlreadyExists":
        return AlreadyExists(status, code=code)
    return _BY_CODE.get(code, APIError)(status, code=code)


def _is_status(body: object) -> TypeGuard[dict[str, Any]]:
    return isinstance(body, dict) and body.get("kind") == "Status"


def _synthetic_status(code: int, body: object) -> dict[str, Any]:
    text = body if isinstance(body, str) else ""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": "",
        "message": text.strip()[:500] or f"HTTP {code}",
        "code": code,
    }
