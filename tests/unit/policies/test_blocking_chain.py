"""The blocking chain: a Secret owned by another Certificate or of another type is never
issued into, and readiness reports why (issue 14 items 1 and 5)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from certmgr.policies.chains import BLOCKING_CHAIN, evaluate, readiness
from certmgr.policies.inputs import SecretView, Violation

DUPLICATE = Violation(
    "DuplicateSecretName",
    'Secret "app-tls" is also the secretName of Certificate "older", which owns it; this '
    "Certificate is not issued until one of them names another Secret or is deleted",
)


def foreign(type_: str) -> Violation:
    return Violation(
        "IncorrectSecretType",
        f'Secret "app-tls" exists with type "{type_}", not "kubernetes.io/tls", and was not '
        "issued for this Certificate; it is left untouched: delete it or choose another "
        "secretName",
    )


def typed(w, type_: str, *, annotations: dict[str, str] | None = None) -> SecretView:
    secret = w.secret() if annotations is None else w.secret(annotations=annotations)
    return replace(secret, type=type_)


CASES = [
    pytest.param(lambda w: w.input(), None, id="own-tls-secret"),
    pytest.param(lambda w: w.input(secret_owner="app"), None, id="owner-is-this-one"),
    pytest.param(lambda w: w.input(secret_owner="older"), DUPLICATE, id="owned-by-another"),
    pytest.param(
        lambda w: w.input(secret=None, secret_owner="older"),
        DUPLICATE,
        id="owned-by-another-before-the-secret-exists",
    ),
    pytest.param(
        lambda w: w.input(secret=typed(w, "Opaque", annotations={})),
        foreign("Opaque"),
        id="opaque",
    ),
    pytest.param(
        lambda w: w.input(secret=typed(w, "kubernetes.io/dockerconfigjson", annotations={})),
        foreign("kubernetes.io/dockerconfigjson"),
        id="dockerconfigjson",
    ),
    pytest.param(
        lambda w: w.input(
            secret=typed(w, "Opaque", annotations={"cert-manager.io/certificate-name": "other"})
        ),
        foreign("Opaque"),
        id="opaque-written-for-another-certificate",
    ),
    # cert-manager keeps an existing Secret's type when it writes, so an Opaque Secret it
    # issued for this Certificate is this Certificate's (a migration must keep working).
    pytest.param(lambda w: w.input(secret=typed(w, "Opaque")), None, id="opaque-issued-for-it"),
]


@pytest.mark.parametrize(("make_input", "expected"), CASES)
def test_blocking_chain(world, make_input, expected) -> None:
    input = replace(make_input(world), secret_name="app-tls")
    assert evaluate(input, BLOCKING_CHAIN) == expected
    ready = readiness(input)
    if expected is not None:
        assert (ready.status, ready.reason, ready.message) == (
            False,
            expected.reason,
            expected.message,
        )
