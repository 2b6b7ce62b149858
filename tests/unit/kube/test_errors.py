from __future__ import annotations

from typing import Any

import pytest

from certmgr.kube import errors as e


def status(code: int, reason: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": f"{reason} happened",
    }
    if details:
        body["details"] = details
    return body


@pytest.mark.parametrize(
    ("code", "body", "expected"),
    [
        (400, status(400, "BadRequest"), e.BadRequest),
        (401, status(401, "Unauthorized"), e.Unauthorized),
        (403, status(403, "Forbidden"), e.Forbidden),
        (404, status(404, "NotFound"), e.NotFound),
        (409, status(409, "AlreadyExists"), e.AlreadyExists),
        (409, status(409, "Conflict"), e.Conflict),
        (410, status(410, "Expired"), e.Gone),
        (410, status(410, "Gone"), e.Gone),
        (422, status(422, "Invalid"), e.Invalid),
        (429, status(429, "TooManyRequests"), e.TooManyRequests),
        (500, status(500, "InternalError"), e.ServerError),
        (503, "<html>bad gateway</html>", e.ServerError),
        (404, None, e.NotFound),
        (418, status(418, "Teapot"), e.APIError),
    ],
    ids=[
        "400", "401", "403", "404", "409-exists", "409-conflict", "410-expired", "410-gone",
        "422", "429", "500", "503-html", "404-empty", "418-other",
    ],
)  # fmt: skip
def test_error_for_maps_code_to_category(code: int, body: object, expected: type) -> None:
    error = e.error_for(code, body)
    assert type(error) is expected
    assert error.code == code
    assert error.status["kind"] == "Status"


def test_error_keeps_status_body_and_message() -> None:
    body = status(404, "NotFound")
    error = e.error_for(404, body)
    assert error.status is body
    assert error.reason == "NotFound"
    assert str(error) == "NotFound happened"


def test_invalid_exposes_field_causes() -> None:
    causes = [{"reason": "FieldValueRequired", "field": "spec.secretName", "message": "x"}]
    error = e.error_for(422, status(422, "Invalid", causes=causes))
    assert isinstance(error, e.Invalid)
    assert error.causes == causes


def test_too_many_requests_carries_retry_after() -> None:
    error = e.error_for(429, status(429, "TooManyRequests"), retry_after=3.0)
    assert isinstance(error, e.TooManyRequests)
    assert error.retry_after == 3.0


def test_non_status_body_becomes_synthetic_status_with_text() -> None:
    error = e.error_for(502, "upstream connect error")
    assert error.message == "upstream connect error"
    assert error.status["code"] == 502


def test_unreachable_is_an_api_error() -> None:
    error = e.Unreachable("connection refused")
    assert isinstance(error, e.APIError)
    assert (error.code, error.reason, error.message) == (0, "Unreachable", "connection refused")
