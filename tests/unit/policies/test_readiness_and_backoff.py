"""Readiness (Ready=True/False and why) and the failed-issuance backoff gate."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from certmgr.pki.keys import KeySpec
from certmgr.pki.requirements import CertificateRequirements
from certmgr.pki.temporary import temporary_certificate
from certmgr.policies.chains import IssuanceGate, ReadyCondition, issuance_allowed, readiness
from certmgr.policies.inputs import IssuerRef, SecretView
from certmgr.policies.renewal_windows import RenewalWindow

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
REQUIREMENTS = CertificateRequirements(  # the world fixture's
    common_name="app.example.com",
    dns_names=("app.example.com", "www.example.com"),
    key_spec=KeySpec("ECDSA"),
)


@pytest.mark.parametrize(
    ("make_input", "expected"),
    [
        pytest.param(
            lambda w: w.input(),
            ReadyCondition(True, "Ready", "Certificate is up to date and has not expired"),
            id="ready",
        ),
        pytest.param(
            lambda w: w.input(now=NOW + 70 * D),
            ReadyCondition(True, "Ready", "Certificate is up to date and has not expired"),
            id="past-renewal-time-is-still-ready",
        ),
        pytest.param(
            lambda w: w.input(manually_triggered=True),
            ReadyCondition(True, "Ready", "Certificate is up to date and has not expired"),
            id="manual-renew-keeps-ready",
        ),
        pytest.param(
            lambda w: w.input(secret=None),
            ReadyCondition(False, "DoesNotExist", "Issuing certificate as Secret does not exist"),
            id="no-secret",
        ),
        pytest.param(
            lambda w: w.input(secret=SecretView(data={})),
            ReadyCondition(
                False, "MissingData", "Issuing certificate as Secret does not contain any data"
            ),
            id="empty-secret",
        ),
        pytest.param(
            lambda w: w.input(now=NOW + 90 * D),
            ReadyCondition(
                False, "Expired", "Certificate expired on Fri, 29 May 2026 12:00:00 UTC"
            ),
            id="expired",
        ),
        # No window of spec.renewal.windows near the renewal time (2026-04-29 12:00): only
        # on 1 January. cert-manager's readiness: Ready=False WindowError.
        pytest.param(
            lambda w: w.input(
                renewal_windows=(RenewalWindow(cron="0 2 1 1 *", duration=timedelta(hours=2)),)
            ),
            ReadyCondition(
                False,
                "WindowError",
                "Could not calculate renewal time: cannot find a time with the given windows "
                "between 2026-02-28 12:00:00 +0000 UTC and 2026-05-29 12:00:00 +0000 UTC for: "
                "2026-04-29 12:00:00 +0000 UTC",
            ),
            id="no-renewal-window",
        ),
        pytest.param(
            lambda w: w.input(issuer_ref=IssuerRef("other")),
            ReadyCondition(
                False,
                "IncorrectIssuer",
                "Issuing certificate as Secret was previously issued by "
                '"ClusterIssuer.cert-manager.io/letsencrypt"',
            ),
            id="issuer-changed",
        ),
        pytest.param(
            lambda w: w.input(
                secret=w.secret(
                    certificate=temporary_certificate(w.keys(0), REQUIREMENTS, now=NOW)
                ),
                current_request=None,
            ),
            ReadyCondition(
                False,
                "TemporaryCertificate",
                "Issuing certificate as Secret contains a temporary certificate",
            ),
            id="temporary-certificate-is-not-ready",
        ),
    ],
)
def test_readiness(world, make_input, expected) -> None:
    assert readiness(make_input(world)) == expected


RETRY_2H = NOW - 30 * timedelta(minutes=1) + 2 * H


@pytest.mark.parametrize(
    ("make_input", "expected"),
    [
        pytest.param(lambda w: w.input(), IssuanceGate(True), id="never-failed"),
        pytest.param(
            lambda w: w.input(
                last_failure_time=NOW - 30 * timedelta(minutes=1),
                failed_issuance_attempts=2,
                next_request=w.request(),
            ),
            IssuanceGate(
                False,
                RETRY_2H,
                "Backing off from issuance due to previously failed issuance(s). Issuance will "
                "next be attempted at 2026-03-01T13:30:00+00:00",
            ),
            id="second-failure-waits-2h",
        ),
        pytest.param(
            lambda w: w.input(last_failure_time=NOW - 2 * H, failed_issuance_attempts=2),
            IssuanceGate(True),
            id="backoff-elapsed",
        ),
        pytest.param(
            lambda w: w.input(last_failure_time=NOW - 59 * timedelta(minutes=1)),
            IssuanceGate(
                False,
                NOW + timedelta(minutes=1),
                "Backing off from issuance due to "
                "previously failed issuance(s). Issuance will next be attempted at "
                "2026-03-01T12:01:00+00:00",
            ),
            id="unknown-attempts-wait-base",
        ),
        pytest.param(
            lambda w: w.input(last_failure_time=NOW - H, failed_issuance_attempts=99),
            IssuanceGate(
                False,
                NOW + 31 * H,
                "Backing off from issuance due to previously "
                "failed issuance(s). Issuance will next be attempted at "
                "2026-03-02T19:00:00+00:00",
            ),
            id="capped-at-32h",
        ),
        pytest.param(
            lambda w: w.input(
                last_failure_time=NOW,
                failed_issuance_attempts=3,
                next_request=w.request(),
                requirements=replace(
                    w.input().requirements, dns_names=("app.example.com", "new.example.com")
                ),
            ),
            IssuanceGate(True),
            id="spec-changed-since-failed-request-retries-at-once",
        ),
        pytest.param(
            lambda w: w.input(
                last_failure_time=NOW,
                failed_issuance_attempts=3,
                next_request=replace(w.request(), csr_pem=b"junk", parsed_csr=None),
            ),
            IssuanceGate(True),
            id="undecodable-request-does-not-wait",
        ),
        pytest.param(
            lambda w: w.input(
                last_failure_time=NOW, failed_issuance_attempts=3, manually_triggered=True
            ),
            IssuanceGate(True),
            id="manual-renew-bypasses-backoff",
        ),
    ],
)
def test_issuance_allowed(world, make_input, expected) -> None:
    assert issuance_allowed(make_input(world)) == expected


def test_issuance_backoff_is_configurable(world) -> None:
    failed = world.input(last_failure_time=NOW, failed_issuance_attempts=3)
    gate = issuance_allowed(failed, base=timedelta(seconds=1), cap=timedelta(seconds=3))
    assert gate.retry_at == NOW + timedelta(seconds=3)
    later = replace(failed, now=NOW + timedelta(seconds=3))
    assert issuance_allowed(later, base=timedelta(seconds=1), cap=timedelta(seconds=3)).allowed
