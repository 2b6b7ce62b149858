"""The trigger chain: every check, its reason and message, and the order between them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from certmgr.pki.keys import KeySpec, encode_private_key, generate_private_key
from certmgr.pki.requirements import CertificateRequirements
from certmgr.pki.temporary import temporary_certificate
from certmgr.policies import checks
from certmgr.policies.chains import DEFAULT_TRIGGER_CHAIN, TEMPORARY_CERTIFICATE_CHAIN, evaluate
from certmgr.policies.inputs import IssuerRef, SecretView, Violation
from certmgr.policies.renewal_windows import RenewalWindow

# The same values as the world fixture's (asserted below), needed at collection time.
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
REQUIREMENTS = CertificateRequirements(
    common_name="app.example.com",
    dns_names=("app.example.com", "www.example.com"),
    key_spec=KeySpec("ECDSA"),
)

D = timedelta(days=1)
WINDOW = RenewalWindow(cron="0 2 * * *", duration=timedelta(hours=2))


def placeholder(w, *, key_index: int = 0) -> bytes:
    """The temporary certificate the issuing controller writes, for the world's key."""
    return temporary_certificate(w.keys(key_index), REQUIREMENTS, now=NOW)


CHANGED_NAMES = replace(REQUIREMENTS, dns_names=("app.example.com", "new.example.com"))

CASES = [
    pytest.param(lambda w: w.input(), None, id="up-to-date-issues-nothing"),
    pytest.param(
        lambda w: w.input(manually_triggered=True),
        Violation("ManuallyTriggered", "Certificate re-issuance manually triggered"),
        id="manual-renew",
    ),
    pytest.param(
        lambda w: w.input(secret=None),
        Violation("DoesNotExist", "Issuing certificate as Secret does not exist"),
        id="secret-missing",
    ),
    pytest.param(
        lambda w: w.input(secret=SecretView(data=None)),
        Violation("MissingData", "Issuing certificate as Secret does not contain any data"),
        id="secret-without-data",
    ),
    pytest.param(
        lambda w: w.input(secret=SecretView(data={"tls.crt": w.certificate()})),
        Violation("MissingData", "Issuing certificate as Secret does not contain a private key"),
        id="no-tls-key",
    ),
    pytest.param(
        lambda w: w.input(
            secret=SecretView(data={"tls.key": encode_private_key(w.keys(0)), "tls.crt": b""})
        ),
        Violation("MissingData", "Issuing certificate as Secret does not contain a certificate"),
        id="empty-tls-crt",
    ),
    pytest.param(
        lambda w: w.input(
            secret=SecretView(data={"tls.key": b"garbage", "tls.crt": w.certificate()})
        ),
        Violation(
            "InvalidKeyPair",
            "Issuing certificate as Secret contains invalid private key data: error decoding "
            "private key PEM block: no PEM data found",
        ),
        id="unparsable-key",
    ),
    pytest.param(
        lambda w: w.input(secret=w.secret(certificate=b"-----BEGIN CERTIFICATE-----\nx\n")),
        Violation(
            "InvalidCertificate",
            "Issuing certificate as Secret contains an invalid certificate: error decoding "
            "certificate PEM block: corrupt certificate data",
        ),
        id="unparsable-certificate",
    ),
    pytest.param(
        lambda w: w.input(secret=w.secret(certificate=placeholder(w)), current_request=None),
        Violation(
            "TemporaryCertificate",
            "Issuing certificate as Secret contains a temporary certificate",
        ),
        id="temporary-certificate-left-by-a-failed-attempt",
    ),
    pytest.param(
        lambda w: w.input(secret=w.secret(key=w.keys(1))),
        Violation(
            "InvalidKeyPair",
            "Issuing certificate as Secret contains a private key that does not match the "
            "certificate",
        ),
        id="tampered-tls-key",
    ),
    pytest.param(
        lambda w: w.input(issuer_ref=IssuerRef("other")),
        Violation(
            "IncorrectIssuer",
            "Issuing certificate as Secret was previously issued by "
            '"ClusterIssuer.cert-manager.io/letsencrypt"',
        ),
        id="issuer-ref-changed",
    ),
    pytest.param(
        lambda w: w.input(
            secret=w.secret(annotations={"cert-manager.io/certificate-name": "other"})
        ),
        Violation(
            "IncorrectCertificate",
            'Secret was issued for "other". If this message is not transient, you might have '
            "two conflicting Certificates pointing to the same secret.",
        ),
        id="secret-belongs-to-another-certificate",
    ),
    pytest.param(
        lambda w: w.input(requirements=replace(REQUIREMENTS, key_spec=KeySpec("ECDSA", 384))),
        Violation(
            "SecretMismatch",
            "Existing private key is not up to date for spec: [spec.privateKey.size]",
        ),
        id="key-size-changed",
    ),
    pytest.param(
        lambda w: w.input(requirements=replace(REQUIREMENTS, key_spec=KeySpec("RSA"))),
        Violation(
            "SecretMismatch",
            "Existing private key is not up to date for spec: [spec.privateKey.algorithm]",
        ),
        id="key-algorithm-changed",
    ),
    pytest.param(
        lambda w: w.input(current_request=w.request(key=w.keys(2))),
        Violation(
            "SecretMismatch",
            "Secret contains a private key that does not match the current CertificateRequest",
        ),
        id="secret-key-replaced-behind-our-back",
    ),
    pytest.param(
        lambda w: w.input(requirements=CHANGED_NAMES),
        Violation(
            "RequestChanged",
            "Fields on existing CertificateRequest resource not up to date: [spec.dnsNames]",
        ),
        id="dns-names-changed",
    ),
    pytest.param(
        lambda w: w.input(requirements=replace(REQUIREMENTS, usages=("server auth",))),
        Violation(
            "RequestChanged",
            "Fields on existing CertificateRequest resource not up to date: [spec.usages]",
        ),
        id="usages-changed",
    ),
    pytest.param(
        lambda w: w.input(
            requirements=replace(REQUIREMENTS, duration=30 * D),
            current_request=w.request(duration=90 * D),
        ),
        Violation(
            "RequestChanged",
            "Fields on existing CertificateRequest resource not up to date: [spec.duration]",
        ),
        id="duration-changed",
    ),
    pytest.param(
        lambda w: w.input(current_request=w.request(issuer_ref=IssuerRef("letsencrypt"))),
        Violation(
            "RequestChanged",
            "Fields on existing CertificateRequest resource not up to date: [spec.issuerRef]",
        ),
        id="request-issuer-differs",
    ),
    pytest.param(
        lambda w: w.input(current_request=None, requirements=CHANGED_NAMES),
        Violation(
            "SecretMismatch",
            "Issuing certificate as Existing issued Secret is not up to date for spec: "
            "[spec.dnsNames]",
        ),
        id="no-request-falls-back-to-certificate-names",
    ),
    pytest.param(
        lambda w: w.input(current_request=None), None, id="no-request-certificate-matches"
    ),
    pytest.param(
        lambda w: w.input(now=NOW + 90 * D),
        Violation("Expired", "Certificate expired on Fri, 29 May 2026 12:00:00 UTC"),
        id="expired",
    ),
    pytest.param(
        lambda w: w.input(secret=w.secret(certificate=w.certificate(not_before=NOW + D))),
        Violation("Expired", "Certificate is not valid before Mon, 02 Mar 2026 12:00:00 UTC"),
        id="not-yet-valid",
    ),
    pytest.param(
        lambda w: w.input(
            secret=w.secret(certificate=w.certificate(not_before=NOW + timedelta(minutes=4)))
        ),
        None,
        id="not-yet-valid-within-clock-skew-is-fine",
    ),
    pytest.param(
        lambda w: w.input(now=NOW + 59 * D),
        Violation(
            "Renewing",
            "Renewing certificate as renewal was scheduled at 2026-04-29 12:00:00 +0000 UTC",
        ),
        id="renewal-time-reached",
    ),
    pytest.param(
        lambda w: w.input(now=NOW + 59 * D - timedelta(seconds=1)), None, id="one-second-early"
    ),
    pytest.param(
        lambda w: w.input(now=NOW + 59 * D - timedelta(seconds=1), renewal_jitter_seconds=1),
        Violation(
            "Renewing",
            "Renewing certificate as renewal was scheduled at 2026-04-29 11:59:59 +0000 UTC",
        ),
        id="jitter-renews-earlier",
    ),
    pytest.param(
        lambda w: w.input(now=NOW + 78 * D, renew_before=10 * D),
        None,
        id="renew-before-10d-not-yet",
    ),
    pytest.param(
        lambda w: w.input(now=NOW + 79 * D, renew_before_percentage=20),
        Violation(
            "Renewing",
            "Renewing certificate as renewal was scheduled at 2026-05-11 12:00:00 +0000 UTC",
        ),
        id="renew-before-percentage",
    ),
    # spec.renewal.policy Disabled (cert-manager's pki.RenewalTime: nil): never renewed,
    # not even once expired; every other reason to issue still holds.
    pytest.param(
        lambda w: w.input(now=NOW + 59 * D, renewal_disabled=True),
        None,
        id="renewal-disabled-past-renewal-time",
    ),
    pytest.param(
        lambda w: w.input(now=NOW + 90 * D, renewal_disabled=True),
        None,
        id="renewal-disabled-expired",
    ),
    pytest.param(
        lambda w: w.input(secret=None, renewal_disabled=True),
        Violation("DoesNotExist", "Issuing certificate as Secret does not exist"),
        id="renewal-disabled-still-issues-a-missing-secret",
    ),
    # spec.renewal.windows: the 90-day certificate from NOW - 1d would renew at
    # 2026-04-29 12:00 (two thirds); a daily window opening at 02:00 for 2h moves that
    # to the next opening, 2026-04-30 02:00 (no jitter inside windows).
    pytest.param(
        lambda w: w.input(now=NOW + 59 * D, renewal_windows=(WINDOW,)),
        None,
        id="windowed-renewal-waits-for-the-window",
    ),
    pytest.param(
        lambda w: w.input(
            now=NOW + 59 * D + timedelta(hours=14),
            renewal_windows=(WINDOW,),
            renewal_jitter_seconds=60,
        ),
        Violation(
            "Renewing",
            "Renewing certificate as renewal was scheduled at 2026-04-30 02:00:00 +0000 UTC",
        ),
        id="windowed-renewal-in-the-window",
    ),
]


BASE = NOW + 59 * D  # cert-manager's renewalTime for the world's 90-day certificate
BOUND = timedelta(minutes=10)  # the largest jitter for it: min(1 % of 90 days, 10 min)


def renewing_at(when: datetime) -> Violation:
    stamp = when.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
    return Violation("Renewing", f"Renewing certificate as renewal was scheduled at {stamp}")


@pytest.mark.parametrize(
    ("recorded", "scheduled"),
    [
        (None, BASE - timedelta(seconds=300)),
        (BASE, BASE),
        (BASE - timedelta(seconds=42), BASE - timedelta(seconds=42)),
        (BASE - BOUND, BASE - BOUND),
        (BASE - BOUND - timedelta(seconds=1), BASE - timedelta(seconds=300)),
        (BASE + timedelta(seconds=1), BASE - timedelta(seconds=300)),
        (NOW + 10 * D, BASE - timedelta(seconds=300)),
    ],
    ids=[
        "none-jittered",
        "cert-managers-own-kept",
        "inside-window-kept",
        "window-edge-kept",
        "before-window-replaced",
        "after-base-replaced",
        "previous-certificates-replaced",
    ],
)
def test_a_recorded_renewal_time_inside_the_jitter_window_is_kept(
    world, recorded: datetime | None, scheduled: datetime
) -> None:
    # A takeover from cert-manager must not move every renewalTime by our jitter.
    def at(now: datetime):
        return world.input(now=now, renewal_jitter_seconds=300, recorded_renewal_time=recorded)

    assert evaluate(at(scheduled - timedelta(seconds=1))) is None
    assert evaluate(at(scheduled)) == renewing_at(scheduled)


def test_world_matches_this_module(world) -> None:
    assert (world.input().now, world.input().requirements) == (NOW, REQUIREMENTS)


@pytest.mark.parametrize(("make_input", "expected"), CASES)
def test_trigger_chain(world, make_input, expected) -> None:
    assert evaluate(make_input(world)) == expected
    assert evaluate(make_input(world), DEFAULT_TRIGGER_CHAIN) == expected


@pytest.mark.parametrize("check", DEFAULT_TRIGGER_CHAIN, ids=lambda c: c.__name__)
def test_every_check_passes_for_an_up_to_date_certificate(world, check) -> None:
    assert check(world.input()) is None


@pytest.mark.parametrize("check", DEFAULT_TRIGGER_CHAIN[2:], ids=lambda c: c.__name__)
def test_later_checks_do_not_crash_without_a_secret(world, check) -> None:
    # Each check may rely on the existence checks before it, but must not raise if used alone.
    check(world.input(secret=None))


@pytest.mark.parametrize(
    ("make_input", "expected_reason"),
    [
        pytest.param(
            lambda w: w.input(secret=None, manually_triggered=True),
            "ManuallyTriggered",
            id="manual-beats-missing-secret",
        ),
        pytest.param(
            lambda w: w.input(secret=w.secret(key=w.keys(1)), issuer_ref=IssuerRef("x")),
            "InvalidKeyPair",
            id="key-pair-before-issuer",
        ),
        pytest.param(
            lambda w: w.input(secret=w.secret(certificate=placeholder(w, key_index=1))),
            "InvalidKeyPair",
            id="key-pair-before-temporary",
        ),
        pytest.param(
            lambda w: w.input(
                secret=w.secret(certificate=placeholder(w)), issuer_ref=IssuerRef("x")
            ),
            "TemporaryCertificate",
            id="temporary-before-issuer",
        ),
        pytest.param(
            lambda w: w.input(requirements=CHANGED_NAMES, now=NOW + 100 * D),
            "RequestChanged",
            id="spec-change-before-expiry",
        ),
    ],
)
def test_first_violation_wins(world, make_input, expected_reason) -> None:
    violation = evaluate(make_input(world))
    assert violation is not None and violation.reason == expected_reason


def test_issuer_annotations_are_only_checked_when_present(world) -> None:
    # A Secret without issuer annotations (e.g. adopted) is not reissued for IncorrectIssuer.
    adopted = world.input(secret=world.secret(annotations={}))
    assert checks.secret_issuer_annotations_mismatch(adopted) is None
    defaulted = world.input(
        issuer_ref=IssuerRef("letsencrypt"),
        current_request=world.request(issuer_ref=IssuerRef("letsencrypt")),
        secret=world.secret(annotations={"cert-manager.io/issuer-name": "letsencrypt"}),
    )
    assert evaluate(defaulted) is None


def test_undecodable_current_request_does_not_trigger(world) -> None:
    broken = world.input(current_request=replace(world.request(), csr_pem=b"junk", parsed_csr=None))
    assert checks.current_certificate_request_mismatches_spec(broken) is None
    assert checks.secret_public_key_differs_from_current_request(broken) == Violation(
        "InvalidCertificateRequest",
        "Failed to decode current CertificateRequest: error decoding certificate request PEM block",
    )


def test_rsa_secret_for_rsa_spec_is_up_to_date(world) -> None:
    rsa_key = generate_private_key(algorithm="RSA")
    spec = replace(REQUIREMENTS, key_spec=KeySpec("RSA", 2048))
    up_to_date = world.input(
        requirements=spec,
        secret=world.secret(key=rsa_key, certificate=world.certificate(key=rsa_key)),
        current_request=world.request(key=rsa_key, requirements=spec),
    )
    assert evaluate(up_to_date) is None


@pytest.mark.parametrize(
    ("make_input", "expected_reason"),
    [
        pytest.param(lambda w: w.input(secret=None), "DoesNotExist", id="no-secret"),
        pytest.param(lambda w: w.input(secret=SecretView(data={})), "MissingData", id="empty"),
        pytest.param(
            lambda w: w.input(secret=w.secret(key=w.keys(1))), "InvalidKeyPair", id="mismatch"
        ),
        pytest.param(lambda w: w.input(), None, id="issued-certificate-is-kept"),
        pytest.param(
            lambda w: w.input(secret=w.secret(certificate=placeholder(w))),
            None,
            id="placeholder-is-not-rewritten",
        ),
        pytest.param(
            lambda w: w.input(requirements=CHANGED_NAMES, now=NOW + 100 * D),
            None,
            id="renewal-keeps-the-old-certificate",
        ),
    ],
)
def test_temporary_certificate_only_where_there_is_no_usable_pair(
    world, make_input, expected_reason
) -> None:
    violation = evaluate(make_input(world), TEMPORARY_CERTIFICATE_CHAIN)
    assert (violation.reason if violation else None) == expected_reason
