"""The Route 53 provider's pure parts: zone matching, backoff, credential checks, messages."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from certmgr.dns01.route53 import Backoff, best_zone
from certmgr.dns01.route53_clients import Route53Settings, credential_problem
from certmgr.dns01.route53_errors import describe_client_error, is_credentials_error, is_retryable


@pytest.mark.parametrize(
    ("name", "zones", "expected"),
    [
        pytest.param("_acme-challenge.example.com.", ["example.com."], "example.com.", id="apex"),
        pytest.param(
            "_acme-challenge.a.sub.example.com.",
            ["example.com.", "sub.example.com.", "other.com."],
            "sub.example.com.",
            id="longest-wins",
        ),
        pytest.param("_acme-challenge.example.com", ["EXAMPLE.com"], "EXAMPLE.com", id="case-dots"),
        pytest.param("x.notexample.com.", ["example.com."], None, id="suffix-not-label"),
        pytest.param("example.com.", ["example.com.", "com."], "example.com.", id="exact"),
        pytest.param("x.example.com.", [], None, id="none"),
    ],
)
def test_best_zone(name: str, zones: list[str], expected: str | None) -> None:
    assert best_zone(name, zones) == expected


@pytest.mark.parametrize(
    ("retry", "jitter", "expected"),
    [
        pytest.param(0, 0.0, 0.5, id="first-no-jitter"),
        pytest.param(0, 1.0, 1.0, id="first-full-jitter"),
        pytest.param(2, 0.5, 3.0, id="third"),
        pytest.param(10, 1.0, 20.0, id="capped"),
    ],
)
def test_backoff(retry: int, jitter: float, expected: float) -> None:
    assert Backoff().delay(retry, jitter=jitter) == expected


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        pytest.param(Route53Settings(access_key_id="A", secret_access_key="S"), None, id="keys"),
        pytest.param(Route53Settings(ambient=True), None, id="ambient"),
        pytest.param(
            Route53Settings(),
            "unable to construct route53 provider: empty credentials; perhaps you meant to "
            "enable ambient credentials?",
            id="nothing",
        ),
        pytest.param(
            Route53Settings(secret_access_key="S", ambient=True),
            "unable to construct route53 provider: only one of access and secret key was provided",
            id="half-even-with-ambient",
        ),
    ],
)
def test_credential_problem(settings: Route53Settings, problem: str | None) -> None:
    assert credential_problem(settings) == problem


def test_settings_never_show_the_secret() -> None:
    assert "hunter2" not in repr(Route53Settings(access_key_id="A", secret_access_key="hunter2"))


def client_error(code: str, status: int, message: str = "m") -> botocore.exceptions.ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "Op")


@pytest.mark.parametrize(
    ("code", "status", "credentials", "retryable", "text"),
    [
        pytest.param(
            "Throttling", 400, False, True, "Op: Throttling: m (HTTP 400)", id="throttling"
        ),
        pytest.param(
            "PriorRequestNotComplete",
            400,
            False,
            True,
            "Op: PriorRequestNotComplete: m (HTTP 400)",
            id="prior-request",
        ),
        pytest.param(
            "InternalError", 503, False, True, "Op: InternalError: m (HTTP 503)", id="5xx"
        ),
        pytest.param(
            "SignatureDoesNotMatch",
            403,
            True,
            False,
            "Op: SignatureDoesNotMatch: m (HTTP 403; check the secret access key in "
            "secretAccessKeySecretRef)",
            id="signature",
        ),
        pytest.param(
            "AccessDenied",
            403,
            True,
            False,
            "Op: AccessDenied: m (HTTP 403; the IAM policy must allow this action)",
            id="access-denied",
        ),
        pytest.param(
            "InvalidChangeBatch",
            400,
            False,
            False,
            "Op: InvalidChangeBatch: m (HTTP 400)",
            id="invalid-change",
        ),
    ],
)
def test_client_errors(
    code: str, status: int, credentials: bool, retryable: bool, text: str
) -> None:
    error = client_error(code, status)
    assert (is_credentials_error(error), is_retryable(error)) == (credentials, retryable)
    assert describe_client_error("Op", error) == text
