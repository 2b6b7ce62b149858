"""Ingress -> desired Certificates (pure): triggers, issuer choice, every annotation valid
and malformed, tls entries, labels, owner reference and HTTP-01 override annotations."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.api import labels
from certmgr.controllers.ingressshim.annotations import DefaultIssuer
from certmgr.controllers.ingressshim.desired import Plan, Verdict, plan_certificates

ISSUER = {labels.INGRESS_ISSUER: "letsencrypt"}
NO_DEFAULT = DefaultIssuer()
DEFAULT = DefaultIssuer(name="default-ca", kind="ClusterIssuer", group="cert-manager.io")


def ingress(
    annotations: dict[str, str] | None = None,
    *,
    tls: list[dict[str, Any]] | None = None,
    ingress_labels: dict[str, str] | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "web",
        "namespace": "apps",
        "uid": "uid-web",
        "annotations": ISSUER if annotations is None else annotations,
        **metadata,
    }
    if ingress_labels:
        meta["labels"] = ingress_labels
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta,
        "spec": {
            "tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}] if tls is None else tls
        },
    }


def plan(obj: dict[str, Any], default: DefaultIssuer = NO_DEFAULT) -> Plan:
    return plan_certificates(obj, default_issuer=default)


def only_spec(obj: dict[str, Any], default: DefaultIssuer = NO_DEFAULT) -> dict[str, Any]:
    result = plan(obj, default)
    assert result.verdict is Verdict.SYNC, result.problems
    assert len(result.certificates) == 1
    spec: dict[str, Any] = result.certificates[0]["spec"]
    return spec


# -- triggers and issuer -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "default", "issuer_ref"),
    [
        (ISSUER, NO_DEFAULT, {"name": "letsencrypt", "kind": "Issuer", "group": "cert-manager.io"}),
        (
            {labels.INGRESS_CLUSTER_ISSUER: "le"},
            NO_DEFAULT,
            {"name": "le", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        ),
        (
            {labels.TLS_ACME: "true"},
            DEFAULT,
            {"name": "default-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        ),
        (
            {labels.TLS_ACME: "True", labels.INGRESS_ISSUER: "explicit"},
            DEFAULT,
            {"name": "explicit", "kind": "Issuer", "group": "cert-manager.io"},
        ),
        (
            {
                labels.INGRESS_ISSUER: "vault",
                labels.INGRESS_ISSUER_KIND: "VaultIssuer",
                labels.INGRESS_ISSUER_GROUP: "example.io",
            },
            NO_DEFAULT,
            {"name": "vault", "kind": "VaultIssuer", "group": "example.io"},
        ),
    ],
    ids=["issuer", "cluster-issuer", "tls-acme-default", "explicit-wins", "external-issuer"],
)
def test_issuer_ref_from_annotations_and_default(
    annotations: dict[str, str], default: DefaultIssuer, issuer_ref: dict[str, str]
) -> None:
    assert only_spec(ingress(annotations), default)["issuerRef"] == issuer_ref


@pytest.mark.parametrize(
    "obj",
    [
        ingress({}),
        ingress(
            {labels.TLS_ACME: "false"},
        ),
        ingress({labels.TLS_ACME: "yes"}),
        ingress(ISSUER, deletionTimestamp="2026-01-01T00:00:00Z"),
        ingress(ISSUER, finalizers=["foregroundDeletion"]),
    ],
    ids=[
        "no-annotation",
        "tls-acme-false",
        "tls-acme-not-a-bool",
        "deleted",
        "foreground-deletion",
    ],
)
def test_ingress_without_trigger_or_being_deleted_is_ignored(obj: dict[str, Any]) -> None:
    assert plan(obj, DEFAULT) == Plan(Verdict.IGNORED)


@pytest.mark.parametrize(
    ("annotations", "default", "names"),
    [
        ({labels.TLS_ACME: "true"}, NO_DEFAULT, [labels.TLS_ACME]),
        ({labels.INGRESS_ISSUER: ""}, DEFAULT, ["failed to determine issuer name"]),
        (
            {labels.INGRESS_ISSUER: "a", labels.INGRESS_CLUSTER_ISSUER: "b"},
            NO_DEFAULT,
            [labels.INGRESS_ISSUER, labels.INGRESS_CLUSTER_ISSUER],
        ),
        (
            {labels.INGRESS_CLUSTER_ISSUER: "b", labels.INGRESS_ISSUER_KIND: "X"},
            NO_DEFAULT,
            [labels.INGRESS_ISSUER_KIND],
        ),
        (
            {labels.INGRESS_CLUSTER_ISSUER: "b", labels.INGRESS_ISSUER_GROUP: "x.io"},
            NO_DEFAULT,
            [labels.INGRESS_ISSUER_GROUP],
        ),
    ],
    ids=[
        "tls-acme-without-default",
        "empty-issuer",
        "issuer-and-cluster-issuer",
        "cluster-and-kind",
        "cluster-and-group",
    ],
)
def test_bad_issuer_annotations_reject_the_ingress(
    annotations: dict[str, str], default: DefaultIssuer, names: list[str]
) -> None:
    result = plan(ingress(annotations), default)
    assert result.verdict is Verdict.REJECTED
    assert result.certificates == ()
    (message,) = result.problems
    assert message.startswith("Could not determine issuer for ingress due to bad annotations: ")
    for name in names:
        assert name in message


# -- annotations -> spec -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({labels.COMMON_NAME: "web.example.com"}, {"commonName": "web.example.com"}),
        (
            {labels.ALT_NAMES: "alt.example.com, web.example.com"},
            {"dnsNames": ["web.example.com", "alt.example.com"]},
        ),
        ({labels.IP_SANS: "10.0.0.1,2001:db8::1"}, {"ipAddresses": ["10.0.0.1", "2001:db8::1"]}),
        ({labels.URI_SANS: "spiffe://cluster/web"}, {"uris": ["spiffe://cluster/web"]}),
        ({labels.EMAIL_SANS: "ops@example.com"}, {"emailAddresses": ["ops@example.com"]}),
        (
            {
                labels.SUBJECT_ORGANIZATIONS: '"Example, Inc.",Acme',
                labels.SUBJECT_ORGANIZATIONAL_UNITS: "Web",
                labels.SUBJECT_COUNTRIES: "DE",
                labels.SUBJECT_PROVINCES: "Berlin",
                labels.SUBJECT_LOCALITIES: "Berlin",
                labels.SUBJECT_STREET_ADDRESSES: '"1 Main St, Suite 2"',
                labels.SUBJECT_POSTAL_CODES: "10115",
                labels.SUBJECT_SERIAL_NUMBER: "123456",
            },
            {
                "subject": {
                    "organizations": ["Example, Inc.", "Acme"],
                    "organizationalUnits": ["Web"],
                    "countries": ["DE"],
                    "provinces": ["Berlin"],
                    "localities": ["Berlin"],
                    "streetAddresses": ["1 Main St, Suite 2"],
                    "postalCodes": ["10115"],
                    "serialNumber": "123456",
                }
            },
        ),
        ({labels.DURATION: "2160h"}, {"duration": "2160h0m0s"}),
        ({labels.RENEW_BEFORE: "720h"}, {"renewBefore": "720h0m0s"}),
        ({labels.RENEW_BEFORE_PERCENTAGE: "50"}, {"renewBeforePercentage": 50}),
        (
            {labels.USAGES: "server auth, digital signature"},
            {"usages": ["server auth", "digital signature"]},
        ),
        ({}, {"usages": ["digital signature", "key encipherment"]}),
        ({labels.REVISION_HISTORY_LIMIT: "7"}, {"revisionHistoryLimit": 7}),
        (
            {
                labels.PRIVATE_KEY_ALGORITHM: "ECDSA",
                labels.PRIVATE_KEY_SIZE: "384",
                labels.PRIVATE_KEY_ENCODING: "PKCS8",
                labels.PRIVATE_KEY_ROTATION_POLICY: "Never",
            },
            {
                "privateKey": {
                    "algorithm": "ECDSA",
                    "size": 384,
                    "encoding": "PKCS8",
                    "rotationPolicy": "Never",
                }
            },
        ),
        ({labels.PRIVATE_KEY_SIZE: "4096"}, {"privateKey": {"size": 4096}}),
        ({labels.PRIVATE_KEY_ALGORITHM: "Ed25519"}, {"privateKey": {"algorithm": "Ed25519"}}),
        (
            {labels.SECRET_TEMPLATE: '{"labels": {"team": "web"}, "annotations": {"a": "b"}}'},
            {"secretTemplate": {"labels": {"team": "web"}, "annotations": {"a": "b"}}},
        ),
        ({labels.SECRET_TEMPLATE: "{}"}, {}),
    ],
    ids=[
        "common-name",
        "alt-names",
        "ip-sans",
        "uri-sans",
        "email-sans",
        "subject",
        "duration",
        "renew-before",
        "renew-before-percentage",
        "usages",
        "default-usages",
        "revision-history-limit",
        "private-key",
        "private-key-size-rsa",
        "ed25519",
        "secret-template",
        "empty-secret-template",
    ],
)
def test_valid_annotations_set_spec_fields(
    annotations: dict[str, str], expected: dict[str, Any]
) -> None:
    spec = only_spec(ingress({**ISSUER, **annotations}))
    for field, value in expected.items():
        assert spec[field] == value
    if not expected:
        assert "secretTemplate" not in spec


@pytest.mark.parametrize(
    ("annotation", "value", "problem"),
    [
        (labels.COMMON_NAME, "x" * 65, "no more than 64 bytes"),
        (labels.ALT_NAMES, "a.example.com,,b.example.com", "empty entry"),
        (labels.IP_SANS, "10.0.0.1,not-an-ip", "invalid IP address 'not-an-ip'"),
        (labels.IP_SANS, "fe80::1%eth0", "invalid IP address"),
        (labels.URI_SANS, "no-scheme", "needs a scheme"),
        (labels.EMAIL_SANS, "not-an-email", "invalid email address"),
        (labels.SUBJECT_ORGANIZATIONS, 'Ex"ample', 'bare "'),
        (labels.SUBJECT_STREET_ADDRESSES, 'invalid csv",', 'bare "'),
        (labels.SUBJECT_COUNTRIES, '"DE', 'missing "'),
        (labels.DURATION, "90 days", "invalid duration"),
        (labels.DURATION, "30m", "at least 1h0m0s"),
        (labels.RENEW_BEFORE, "soon", "invalid duration"),
        (labels.RENEW_BEFORE, "1m", "at least 5m0s"),
        (labels.RENEW_BEFORE, "2200h", "shorter than the duration 2160h0m0s"),
        (labels.RENEW_BEFORE_PERCENTAGE, "half", "invalid syntax"),
        (labels.RENEW_BEFORE_PERCENTAGE, "100", "between 1 and 99"),
        (labels.USAGES, "playing ping pong", "invalid key usage name 'playing ping pong'"),
        (labels.USAGES, "server auth,,signing", "invalid key usage name ''"),
        (labels.REVISION_HISTORY_LIMIT, "many", "invalid syntax"),
        (labels.REVISION_HISTORY_LIMIT, "0", "positive number"),
        (labels.PRIVATE_KEY_ALGORITHM, "DSA", "invalid private key algorithm 'DSA'"),
        (labels.PRIVATE_KEY_ENCODING, "PEM", "invalid private key encoding 'PEM'"),
        (labels.PRIVATE_KEY_ROTATION_POLICY, "Sometimes", "invalid private key rotation policy"),
        (labels.PRIVATE_KEY_SIZE, "big", "invalid syntax"),
        (labels.PRIVATE_KEY_SIZE, "1024", "invalid private key size for RSA: 1024"),
        (labels.PRIVATE_KEY_SIZE, "0", "invalid private key size for RSA: 0"),
        (labels.SECRET_TEMPLATE, "{labels: x}", "error parsing secret template JSON"),
        (labels.SECRET_TEMPLATE, '{"labels": {"a": "b"}, "extra": {}}', 'unknown field "extra"'),
        (labels.SECRET_TEMPLATE, '{"labels": {"a": 1}}', "must map to strings"),
        (labels.SECRET_TEMPLATE, '["labels"]', "expected an object"),
        (
            labels.SECRET_TEMPLATE,
            '{"annotations": {"cert-manager.io/x": "y"}}',
            "must not have cert-manager.io/ annotations",
        ),
    ],
    ids=[
        "common-name-too-long",
        "alt-names-empty-entry",
        "ip-sans-not-ip",
        "ip-sans-zone",
        "uri-sans-no-scheme",
        "email-sans",
        "subject-bare-quote",
        "subject-street-bad-csv",
        "subject-unterminated",
        "duration-syntax",
        "duration-too-short",
        "renew-before-syntax",
        "renew-before-too-short",
        "renew-before-past-duration",
        "percentage-syntax",
        "percentage-range",
        "usages-unknown",
        "usages-empty-entry",
        "history-syntax",
        "history-zero",
        "key-algorithm",
        "key-encoding",
        "key-rotation",
        "key-size-syntax",
        "key-size-rsa-small",
        "key-size-zero",
        "template-not-json",
        "template-unknown-field",
        "template-not-strings",
        "template-not-object",
        "template-cert-manager-annotation",
    ],
)
def test_malformed_annotation_rejects_the_ingress_naming_it(
    annotation: str, value: str, problem: str
) -> None:
    result = plan(ingress({**ISSUER, annotation: value}))
    assert result.verdict is Verdict.REJECTED
    assert result.certificates == ()
    (message,) = result.problems
    assert message.startswith(f'invalid ingress annotation "{annotation}": ')
    assert problem in message


def test_every_malformed_annotation_is_reported_not_just_the_first() -> None:
    result = plan(
        ingress({**ISSUER, labels.DURATION: "x", labels.USAGES: "y", labels.PRIVATE_KEY_SIZE: "z"})
    )
    assert result.verdict is Verdict.REJECTED
    assert [m.split('"')[1] for m in result.problems] == [
        labels.DURATION,
        labels.USAGES,
        labels.PRIVATE_KEY_SIZE,
    ]


@pytest.mark.parametrize(
    ("annotations", "named"),
    [
        (
            {labels.RENEW_BEFORE: "24h", labels.RENEW_BEFORE_PERCENTAGE: "50"},
            labels.RENEW_BEFORE_PERCENTAGE,
        ),
        ({labels.DURATION: "24h", labels.RENEW_BEFORE: "24h"}, labels.RENEW_BEFORE),
        (
            {labels.PRIVATE_KEY_ALGORITHM: "ECDSA", labels.PRIVATE_KEY_SIZE: "2048"},
            labels.PRIVATE_KEY_SIZE,
        ),
    ],
    ids=["renew-before-and-percentage", "renew-before-equals-duration", "ecdsa-size"],
)
def test_annotations_that_contradict_each_other(annotations: dict[str, str], named: str) -> None:
    result = plan(ingress({**ISSUER, **annotations}))
    assert result.verdict is Verdict.REJECTED
    (message,) = result.problems
    assert message.startswith(f'invalid ingress annotation "{named}"')


# -- tls entries, metadata -----------------------------------------------------------------


def test_one_certificate_per_tls_entry_named_after_its_secret() -> None:
    result = plan(
        ingress(
            tls=[
                {"hosts": ["a.example.com", "10.0.0.1", "a.example.com"], "secretName": "a-tls"},
                {"hosts": ["b.example.com"], "secretName": "b-tls"},
            ]
        )
    )
    assert result.verdict is Verdict.SYNC
    assert result.secret_names == {"a-tls", "b-tls"}
    a, b = result.certificates
    assert a["metadata"]["name"] == "a-tls" and a["metadata"]["namespace"] == "apps"
    assert a["spec"]["secretName"] == "a-tls"
    assert a["spec"]["dnsNames"] == ["a.example.com"]
    assert a["spec"]["ipAddresses"] == ["10.0.0.1"]
    assert b["spec"]["dnsNames"] == ["b.example.com"]
    assert "ipAddresses" not in b["spec"]


def test_certificate_is_controlled_by_the_ingress_and_carries_its_labels() -> None:
    (certificate,) = plan(
        ingress(ingress_labels={"app": "web", "applyset.kubernetes.io/part-of": "set"})
    ).certificates
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert certificate["kind"] == "Certificate"
    assert certificate["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "name": "web",
            "uid": "uid-web",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert certificate["metadata"]["labels"] == {"app": "web"}
    assert "annotations" not in certificate["metadata"]


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (
            {labels.HTTP01_EDIT_IN_PLACE: "true"},
            {
                labels.HTTP01_OVERRIDE_INGRESS_NAME: "web",
                labels.ISSUE_TEMPORARY_CERTIFICATE: "true",
            },
        ),
        ({labels.HTTP01_EDIT_IN_PLACE: "True"}, {}),
        ({labels.HTTP01_INGRESS_CLASS: "nginx"}, {labels.HTTP01_OVERRIDE_INGRESS_CLASS: "nginx"}),
        (
            {labels.HTTP01_INGRESS_INGRESSCLASSNAME: "internal"},
            {labels.HTTP01_OVERRIDE_INGRESS_CLASSNAME: "internal"},
        ),
        ({labels.HTTP01_INGRESS_CLASS: ""}, {}),
    ],
    ids=[
        "edit-in-place",
        "edit-in-place-only-exact-true",
        "ingress-class",
        "ingress-class-name",
        "empty-class",
    ],
)
def test_http01_annotations_become_certificate_overrides(
    annotations: dict[str, str], expected: dict[str, str]
) -> None:
    (certificate,) = plan(ingress({**ISSUER, **annotations})).certificates
    assert certificate["metadata"].get("annotations", {}) == expected


def test_tls_entry_without_hosts_or_secret_is_skipped_with_a_problem() -> None:
    result = plan(
        ingress(
            tls=[
                {"secretName": "no-hosts"},
                {"hosts": [], "secretName": "empty-hosts"},
                {},
                {"hosts": ["ok.example.com"], "secretName": "ok-tls"},
            ]
        )
    )
    assert result.verdict is Verdict.SYNC
    assert [c["metadata"]["name"] for c in result.certificates] == ["ok-tls"]
    assert result.problems == (
        "Skipped a TLS block: spec.tls[0].hosts: Required value",
        "Skipped a TLS block: spec.tls[1].hosts: Required value",
        "Skipped a TLS block: [spec.tls[2].hosts: Required value, "
        "spec.tls[2].secretName: Required value]",
    )
    # An owned Certificate named by a skipped entry is kept (cert-manager's rule).
    assert "no-hosts" in result.secret_names


def test_duplicate_secret_names_reject_the_whole_ingress() -> None:
    result = plan(
        ingress(
            tls=[
                {"hosts": ["a.example.com"], "secretName": "shared"},
                {"hosts": ["ok.example.com"], "secretName": "ok-tls"},
                {"hosts": ["b.example.com"], "secretName": "shared"},
            ]
        )
    )
    assert result.verdict is Verdict.REJECTED
    assert result.certificates == ()
    assert result.problems == (
        'spec.tls[0].secretName: Invalid value: "shared": this secret name must only appear '
        "in a single TLS entry but is also used in spec.tls[2].secretName",
    )


def test_ingress_without_tls_wants_no_certificates() -> None:
    result = plan(ingress(tls=[]))
    assert result == Plan(Verdict.SYNC)


@pytest.mark.parametrize(
    ("annotations", "mentions_tls_acme"),
    [
        ({labels.TLS_ACME: "true"}, True),
        ({labels.INGRESS_CLUSTER_ISSUER: ""}, False),
        ({labels.INGRESS_ISSUER: ""}, False),
    ],
    ids=["only-tls-acme", "empty-cluster-issuer", "empty-issuer"],
)
def test_missing_issuer_name_hints_at_the_default_only_for_tls_acme(
    annotations: dict[str, str], mentions_tls_acme: bool
) -> None:
    (message,) = plan(ingress(annotations)).problems
    assert "failed to determine issuer name" in message
    assert (labels.TLS_ACME in message) is mentions_tls_acme
