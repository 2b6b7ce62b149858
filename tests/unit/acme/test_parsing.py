"""The JSON edge of the door: RFC 8555 objects in, frozen dataclasses or AcmeError out."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from certmgr.acme import AcmeError, Identifier, Problem, replaces_refused
from certmgr.acme.parsing import (
    MALFORMED_RESPONSE,
    parse_authorization,
    parse_directory_meta,
    parse_order,
    parse_problem,
    parse_renewal_info,
)

ORDER = {
    "status": "pending",
    "expires": "2026-11-23T17:06:30.123456789Z",
    "identifiers": [{"type": "dns", "value": "a.example"}, {"type": "ip", "value": "10.0.0.1"}],
    "authorizations": ["https://ca/authz/1", "https://ca/authz/2"],
    "finalize": "https://ca/finalize/1",
}


def test_order_is_read_with_urls_and_identifiers() -> None:
    order = parse_order(ORDER, url="https://ca/order/1")
    assert order.url == "https://ca/order/1"
    assert order.identifiers == (Identifier.dns("a.example"), Identifier.ip("10.0.0.1"))
    assert order.authorizations == ("https://ca/authz/1", "https://ca/authz/2")
    assert order.finalize_url == "https://ca/finalize/1"
    assert order.certificate_url is None and order.error is None
    assert order.expires == datetime.datetime(2026, 11, 23, 17, 6, 30, 123456, datetime.UTC)


def test_invalid_order_carries_its_problem() -> None:
    body = ORDER | {
        "status": "invalid",
        "error": {
            "type": "urn:ietf:params:acme:error:unauthorized",
            "detail": "validation failed",
            "subproblems": [
                {
                    "type": "urn:ietf:params:acme:error:dns",
                    "detail": "no such host",
                    "identifier": {"type": "dns", "value": "a.example"},
                }
            ],
        },
    }
    error = parse_order(body, url="u").error
    assert error is not None
    assert (error.code, error.detail) == ("unauthorized", "validation failed")
    assert error.subproblems[0].identifier == Identifier.dns("a.example")
    assert error.subproblems[0].code == "dns"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="not-an-object"),
        pytest.param([], id="a-list"),
        pytest.param({k: v for k, v in ORDER.items() if k != "finalize"}, id="no-finalize"),
        pytest.param(ORDER | {"status": 3}, id="status-not-a-string"),
        pytest.param(ORDER | {"identifiers": "a.example"}, id="identifiers-not-a-list"),
        pytest.param(ORDER | {"authorizations": [1]}, id="authorization-not-a-url"),
    ],
)
def test_malformed_order_is_an_acme_error(body: Any) -> None:
    with pytest.raises(AcmeError) as caught:
        parse_order(body, url="u")
    assert caught.value.problem_type == MALFORMED_RESPONSE
    assert str(caught.value).startswith(f"{MALFORMED_RESPONSE}: unexpected order")


def test_authorization_keeps_challenges_without_tokens() -> None:
    body = {
        "identifier": {"type": "dns", "value": "example.org"},
        "status": "pending",
        "wildcard": True,
        "challenges": [
            {"type": "http-01", "url": "https://ca/chal/1", "token": "t1", "status": "pending"},
            {"type": "future-01", "url": "https://ca/chal/2", "status": "pending"},
        ],
    }
    authorization = parse_authorization(body, url="https://ca/authz/1")
    assert authorization.wildcard
    assert [(c.type, c.token) for c in authorization.challenges] == [
        ("http-01", "t1"),
        ("future-01", ""),
    ]
    assert authorization.challenge("http-01") == authorization.challenges[0]
    assert authorization.challenge("dns-01") is None


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        pytest.param(
            {"type": "urn:ietf:params:acme:error:rateLimited", "detail": "slow down"},
            429,
            Problem("urn:ietf:params:acme:error:rateLimited", "slow down", 429),
            id="acme-problem",
        ),
        pytest.param(
            {"type": "https://ca.example/errors/custom"},
            403,
            Problem("https://ca.example/errors/custom", "", 403),
            id="foreign-type",
        ),
        pytest.param(
            None, 503, Problem("about:blank", "HTTP 503 without a problem document", 503), id="html"
        ),
    ],
)
def test_problem_documents(body: object, status: int, expected: Problem) -> None:
    assert parse_problem(body, status=status) == expected


def test_problem_code_only_for_acme_namespace() -> None:
    assert Problem("urn:ietf:params:acme:error:badNonce", "").code == "badNonce"
    assert Problem("https://ca.example/errors/custom", "").code == ""


@pytest.mark.parametrize(
    ("directory", "profiles", "eab"),
    [
        pytest.param({}, {}, False, id="no-meta"),
        pytest.param(
            {"meta": {"profiles": {"classic": "90 days", "shortlived": "6 days"}}},
            {"classic": "90 days", "shortlived": "6 days"},
            False,
            id="profiles",
        ),
        pytest.param({"meta": {"externalAccountRequired": True}}, {}, True, id="eab"),
    ],
)
def test_directory_meta(directory: dict[str, Any], profiles: dict[str, str], eab: bool) -> None:
    meta = parse_directory_meta(directory)
    assert dict(meta.profiles) == profiles
    assert meta.external_account_required is eab


def test_ip_identifiers_are_normalised() -> None:
    assert Identifier.ip("2001:DB8::0001") == Identifier("ip", "2001:db8::1")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param([], "renewal info", id="not-an-object"),
        pytest.param({}, "suggestedWindow", id="no-window"),
        pytest.param(
            {"suggestedWindow": {"start": "2026-01-01T00:00:00Z"}}, "start/end", id="no-end"
        ),
        pytest.param(
            {"suggestedWindow": {"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"}},
            "start/end",
            id="no-zone",
        ),
        pytest.param(
            {"suggestedWindow": {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}},
            "ends before it starts",
            id="end-before-start",
        ),
    ],
)
def test_malformed_renewal_info(body: object, detail: str) -> None:
    with pytest.raises(AcmeError, match=detail):
        parse_renewal_info(body)


def test_renewal_info_window_and_explanation() -> None:
    info = parse_renewal_info(
        {
            "suggestedWindow": {
                "start": "2026-01-01T00:00:00.123456789Z",
                "end": "2026-01-02T01:00:00+01:00",
            },
            "explanationURL": "https://ca.example/why",
        }
    )
    assert info.start == datetime.datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=datetime.UTC)
    assert info.end == datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    assert info.explanation_url == "https://ca.example/why"


@pytest.mark.parametrize(
    ("problem", "refused"),
    [
        pytest.param(
            Problem("urn:ietf:params:acme:error:alreadyReplaced", "x", 409), True, id="already"
        ),
        pytest.param(
            Problem("urn:ietf:params:acme:error:malformed", "unknown replaces CertID", 400),
            True,
            id="unknown-certid",
        ),
        pytest.param(
            Problem("urn:ietf:params:acme:error:malformed", "bad CSR", 400),
            False,
            id="other-malformed",
        ),
        pytest.param(
            Problem("urn:ietf:params:acme:error:rateLimited", "replaces", 429), False, id="other"
        ),
    ],
)
def test_replaces_refused(problem: Problem, refused: bool) -> None:
    assert replaces_refused(AcmeError(problem)) is refused
