"""Ready as the readiness controller computes it, shared by the writes that start and end
an issuance; and the next key's Secret name the trigger writes up front."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from certmgr.api.codec import parse_rfc3339, rfc3339
from certmgr.controllers.certificates.keymanager import next_key_secret_name
from certmgr.controllers.certificates.ready import (
    ready_changed,
    seconds_until_unrenewed_expiry,
    with_readiness,
)
from certmgr.controllers.certificates.spec import (
    CertificateView,
    policy_issuer_ref,
    requirements_of,
)
from certmgr.pki.keys import encode_private_key
from certmgr.policies.chains import ReadyCondition
from certmgr.policies.inputs import Input, SecretView

from .helpers import NOW, certificate, leaf

D = timedelta(days=1)


def input_for(view: CertificateView, secret: SecretView | None) -> Input:
    assert view.spec is not None
    return Input(
        certificate_name=view.name,
        requirements=requirements_of(view.spec),
        issuer_ref=policy_issuer_ref(view.spec),
        secret=secret,
        now=NOW,
    )


def with_conditions(view: CertificateView, *conditions: dict[str, Any]) -> CertificateView:
    return view.with_status({"conditions": list(conditions)})


ISSUING = {"type": "Issuing", "status": "True", "reason": "DoesNotExist", "message": "m"}
FAILED = {"type": "Issuing", "status": "False", "reason": "Failed", "message": "CA said no"}


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ((), ("False", "DoesNotExist")),
        ((ISSUING,), ("False", "DoesNotExist")),
        ((FAILED,), ("False", "Failed")),
    ],
    ids=["new", "issuing", "failed-attempt"],
)
def test_ready_without_a_secret(conditions: tuple[dict[str, Any], ...], expected: Any) -> None:
    view = with_conditions(certificate(), *conditions)
    status, _ = with_readiness(view, input_for(view, None), now=NOW)
    (condition,) = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert (condition["status"], condition["reason"]) == expected
    assert condition["lastTransitionTime"] == rfc3339(NOW)
    assert condition["observedGeneration"] == 1
    assert not {"notBefore", "notAfter", "renewalTime"} & status.keys()
    assert [c["type"] for c in status["conditions"]][: len(conditions)] == [
        c["type"] for c in conditions
    ]


def test_invalid_spec_is_ready_false_invalid_spec() -> None:
    view = certificate(ipAddresses=["not-an-ip"])
    _, ready = with_readiness(view, input_for(view, None), now=NOW)
    assert (ready.status, ready.reason) == (False, "InvalidSpec")
    assert ready.message.startswith("Certificate spec cannot be issued: ")


@pytest.mark.parametrize("disabled", [False, True], ids=["renewing", "renewal-disabled"])
def test_a_served_certificate_gives_the_validity_fields(disabled: bool) -> None:
    key, pem = leaf()
    secret = SecretView(
        data={"tls.crt": pem, "tls.key": encode_private_key(key)},
        labels={},
        annotations={
            "cert-manager.io/certificate-name": "web",
            "cert-manager.io/issuer-name": "ca",
            "cert-manager.io/issuer-kind": "Issuer",
            "cert-manager.io/issuer-group": "",
        },
    )
    view = certificate(**({"renewal": {"policy": "Disabled"}} if disabled else {}))
    input = replace(input_for(view, secret), renewal_disabled=disabled)
    status, _ = with_readiness(view, input, now=NOW)
    assert status["notBefore"] == rfc3339(NOW)
    if disabled:
        # cert-manager writes no renewalTime; readiness looks again just after expiry.
        assert "renewalTime" not in status
        left = seconds_until_unrenewed_expiry(input, NOW)
        assert left == (parse_rfc3339(status["notAfter"]) - NOW).total_seconds() + 1
        assert seconds_until_unrenewed_expiry(input, parse_rfc3339(status["notAfter"]) + D) is None
    else:
        assert status["notBefore"] < status["renewalTime"] < status["notAfter"]
        assert seconds_until_unrenewed_expiry(input, NOW) is None


@pytest.mark.parametrize(
    ("stored", "ready", "changed"),
    [
        (None, ReadyCondition(False, "DoesNotExist", "m"), True),
        (("False", "DoesNotExist", "m"), ReadyCondition(False, "DoesNotExist", "m"), False),
        (("False", "DoesNotExist", "m"), ReadyCondition(True, "Ready", "m"), True),
        (("False", "Failed", "a"), ReadyCondition(False, "Failed", "b"), True),
    ],
    ids=["none", "same", "status", "message"],
)
def test_ready_changed(stored: Any, ready: ReadyCondition, changed: bool) -> None:
    conditions = []
    if stored is not None:
        status, reason, message = stored
        conditions.append({"type": "Ready", "status": status, "reason": reason, "message": message})
    assert ready_changed(with_conditions(certificate(), *conditions), ready) is changed


def attempt(since: str, *, uid: str = "u-1", name: str = "web") -> CertificateView:
    view = certificate()
    obj = {**view.obj, "metadata": {**view.obj["metadata"], "uid": uid, "name": name}}
    return CertificateView.of(obj).with_status(
        {"conditions": [{**ISSUING, "lastTransitionTime": since}]}
    )


def test_next_key_secret_name_is_one_per_attempt() -> None:
    first = next_key_secret_name(attempt("2026-03-01T00:00:00Z"))
    assert first == next_key_secret_name(attempt("2026-03-01T00:00:00Z"))
    assert first != next_key_secret_name(attempt("2026-03-01T00:00:01Z"))
    assert first != next_key_secret_name(attempt("2026-03-01T00:00:00Z", uid="u-2"))
    assert first.startswith("web-") and len(first) == len("web-") + 5
    long = next_key_secret_name(attempt("2026-03-01T00:00:00Z", name="n" * 253))
    assert len(long) == 52 + 1 + 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({}, None, id="nothing-ignored"),
        pytest.param(
            {"otherNames": [{"oid": "1.3.6.1.4.1.311.20.2.3", "utf8Value": "upn@example.com"}]},
            "certmgr does not act on spec.otherNames (the CSR carries no otherName SANs)",
            id="otherNames",
        ),
        pytest.param(
            {
                "isCA": True,
                "nameConstraints": {"permitted": {"dnsDomains": ["example.com"]}},
                "renewal": {
                    "policy": "RenewBefore",
                    "windows": [{"cron": "@daily", "windowDuration": "1h"}],
                },
            },
            "certmgr does not act on spec.nameConstraints (the CSR carries no name constraints)",
            id="nameConstraints-windows-honoured",
        ),
        pytest.param({"renewal": {"policy": "Disabled"}}, None, id="renewal-disabled-is-honoured"),
    ],
)
def test_fields_not_acted_on_are_a_condition_never_silence(
    spec: dict[str, Any], message: str | None
) -> None:
    view = certificate(**spec)
    stale = {"type": "FieldsNotActedOn", "status": "True", "reason": "NotActedOn", "message": "x"}
    for before in ((), (stale,)):  # set, updated, or removed once the spec changes
        status, ready = with_readiness(
            with_conditions(view, *before), input_for(view, None), now=NOW
        )
        found = [c for c in status["conditions"] if c["type"] == "FieldsNotActedOn"]
        if message is None:
            assert found == []
        else:
            assert [(c["status"], c["reason"], c["message"]) for c in found] == [
                ("True", "NotActedOn", message)
            ]
        assert ready.reason == "DoesNotExist"  # issued all the same


def test_status_fields_certmgr_does_not_write_are_kept() -> None:
    """cert-manager's status.acme.ari (ARI, not fetched by certmgr) survives our writes:
    the status written is the stored one with our fields set, never re-encoded."""
    ari = {
        "ari": {"suggestedWindow": {"start": "2026-12-30T00:00:00Z", "end": "2027-01-01T00:00:00Z"}}
    }
    view = certificate().with_status({"acme": ari, "revision": 1})
    status, _ = with_readiness(view, input_for(view, None), now=NOW)
    assert status["acme"] == ari
