"""Kubernetes ``kind: Status`` error bodies and the exception that carries them.

Owns the shape of every error the simulator returns (reason, code, details) so that
clients see what a real kube-apiserver would send. It must not decide *when* an
error happens; handlers and the store raise ``StatusError`` with one of the builders.
"""

from __future__ import annotations

from typing import Any

MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
)


class StatusError(Exception):
    """An API error; ``status`` is the JSON body, ``code`` its HTTP status."""

    def __init__(self, status: dict[str, Any], *, headers: dict[str, str] | None = None) -> None:
        super().__init__(status.get("message", ""))
        self.status = status
        self.code: int = status["code"]
        self.headers = headers or {}


def status_body(
    code: int,
    reason: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        # The real server omits empty fields (Go omitempty).
        body["details"] = {k: v for k, v in details.items() if v not in ("", None)}
    return body


def success_body(*, name: str, group: str, kind: str, uid: str) -> dict[str, Any]:
    """What a DELETE answers when the object is gone at once (no finalizers)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": group, "kind": kind, "uid": uid},
    }


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> StatusError:
    qualified = _qualified(resource, group)
    return StatusError(
        status_body(
            404,
            "NotFound",
            f'{qualified} "{name}" not found',
            details={"name": name, "group": group, "kind": resource},
        )
    )


def path_not_found() -> StatusError:
    return StatusError(
        status_body(404, "NotFound", "the server could not find the requested resource")
    )


def already_exists(resource: str, group: str, name: str) -> StatusError:
    qualified = _qualified(resource, group)
    return StatusError(
        status_body(
            409,
            "AlreadyExists",
            f'{qualified} "{name}" already exists',
            details={"name": name, "group": group, "kind": resource},
        )
    )


def conflict(resource: str, group: str, name: str, why: str) -> StatusError:
    qualified = _qualified(resource, group)
    return StatusError(
        status_body(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {qualified} "{name}": {why}',
            details={"name": name, "group": group, "kind": resource},
        )
    )


def invalid(kind: str, group: str, name: str, causes: list[dict[str, Any]]) -> StatusError:
    qualified = f"{kind}.{group}" if group else kind
    rendered = [f"{c.get('field', '')}: {c.get('message', '')}".lstrip(": ") for c in causes]
    summary = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    return StatusError(
        status_body(
            422,
            "Invalid",
            f'{qualified} "{name}" is invalid: {summary}',
            details={"name": name, "group": group, "kind": kind, "causes": causes},
        )
    )


def bad_request(message: str) -> StatusError:
    return StatusError(status_body(400, "BadRequest", message))


def unauthorized() -> StatusError:
    return StatusError(status_body(401, "Unauthorized", "Unauthorized"))


def forbidden(message: str, *, resource: str = "", group: str = "", name: str = "") -> StatusError:
    details: dict[str, Any] = {"group": group, "kind": resource}
    if name:
        details["name"] = name
    return StatusError(status_body(403, "Forbidden", message, details=details))


def method_not_allowed() -> StatusError:
    return StatusError(
        status_body(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    )


def unsupported_media_type(content_type: str) -> StatusError:
    accepted = ", ".join(_PATCH_TYPES)
    return StatusError(
        status_body(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types "
            f'include: {accepted} (got "{content_type}")',
        )
    )


def gone(message: str) -> StatusError:
    return StatusError(status_body(410, "Expired", message))


# kube-apiserver's ``inconsistentContinue`` (storage/etcd3/errors.go).
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)


def continue_expired(inconsistent_token: str) -> StatusError:
    """410 for a list whose continue token's snapshot is gone; like the real server, it
    carries a token that resumes at the same place in today's state."""
    status = status_body(410, "Expired", CONTINUE_EXPIRED)
    status["metadata"] = {"continue": inconsistent_token}
    return StatusError(status)


def too_many_requests(retry_after: int) -> StatusError:
    return StatusError(
        status_body(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
            details={"retryAfterSeconds": retry_after},
        ),
        headers={"Retry-After": str(retry_after)},
    )


def internal_error(message: str) -> StatusError:
    return StatusError(status_body(500, "InternalError", f"Internal error occurred: {message}"))


def server_error(code: int) -> StatusError:
    reason = "ServiceUnavailable" if code == 503 else "InternalError"
    return StatusError(status_body(code, reason, f"injected fault: {reason}"))
