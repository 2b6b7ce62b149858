"""The cert-manager webhook's admission checks, as our CRDs' schema and CEL rules.

Each case starts from a valid object, changes one thing, and states the message the
admission must reject it with (``None``: admitted). Every CEL rule in crds/ must be
seen rejecting at least one case, so a rule that can never fire is caught too.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

Patch = dict[str, Any]

CERTIFICATE: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "secretName": "web-tls",
        "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
        "dnsNames": ["web.example.com"],
    },
}

ISSUER: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Issuer",
    "metadata": {"name": "acme", "namespace": "default"},
    "spec": {
        "acme": {
            "server": "https://acme.example/dir",
            "privateKeySecretRef": {"name": "acme-key"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
        }
    },
}

CERTIFICATE_REQUEST: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "CertificateRequest",
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"request": "LS0tLS1CRUdJTg==", "issuerRef": {"name": "acme"}},
}

_UNSET = object()


def _apply(obj: dict[str, Any], patch: Patch) -> dict[str, Any]:
    """Set (or with _UNSET remove) dotted paths; list indexes are written as numbers."""
    out = copy.deepcopy(obj)
    for dotted, value in patch.items():
        node: Any = out
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        key: Any = int(last) if isinstance(node, list) else last
        if value is _UNSET:
            del node[key]
        else:
            node[key] = value
    return out


SOLVER = "spec.acme.solvers.0"
INGRESS = f"{SOLVER}.http01.ingress"

CERTIFICATE_CASES = [
    pytest.param({}, None, id="valid"),
    pytest.param({"spec.secretName": _UNSET}, "Required value", id="secretName-required"),
    pytest.param({"spec.secretName": "Web_TLS"}, "should match", id="secretName-not-dns-name"),
    pytest.param({"spec.issuerRef": _UNSET}, "Required value", id="issuerRef-required"),
    pytest.param({"spec.issuerRef.name": _UNSET}, "Required value", id="issuerRef-name-required"),
    pytest.param({"spec.issuerRef.kind": "Issuer"}, None, id="kind-Issuer"),
    pytest.param(
        {"spec.issuerRef.kind": "Isuer"}, "kind must be Issuer or ClusterIssuer", id="kind-typo"
    ),
    pytest.param(
        {
            "spec.issuerRef.kind": "AWSPCAClusterIssuer",
            "spec.issuerRef.group": "awspca.cert-manager.io",
        },
        None,
        id="external-issuer-any-kind",
    ),
    pytest.param(
        {"spec.issuerRef.kind": "AWSPCAClusterIssuer"},
        "set issuerRef.group",
        id="external-kind-without-group",
    ),
    pytest.param({"spec.dnsNames": _UNSET}, "at least one of commonName", id="no-identity"),
    pytest.param({"spec.dnsNames": []}, "at least one of commonName", id="empty-dnsNames"),
    pytest.param({"spec.dnsNames": _UNSET, "spec.commonName": "web"}, None, id="commonName-only"),
    pytest.param({"spec.dnsNames": _UNSET, "spec.ipAddresses": ["10.0.0.1"]}, None, id="ip-only"),
    pytest.param({"spec.dnsNames": _UNSET, "spec.uris": ["spiffe://a/b"]}, None, id="uri-only"),
    pytest.param(
        {"spec.dnsNames": _UNSET, "spec.literalSubject": "CN=web,O=Example"}, None, id="literal-cn"
    ),
    pytest.param(
        {"spec.literalSubject": "O=Example", "spec.commonName": "web"},
        "cannot be set together with literalSubject",
        id="literalSubject-and-commonName",
    ),
    pytest.param(
        {"spec.commonName": "x" * 65}, "Too long: may not be more than 64", id="commonName-too-long"
    ),
    pytest.param({"spec.ipAddresses": ["not an ip"]}, "should match", id="ip-garbage"),
    pytest.param({"spec.duration": "2160h0m0s"}, None, id="duration-go-format"),
    pytest.param({"spec.duration": "1h"}, None, id="duration-1h"),
    pytest.param(
        {"spec.duration": "59m59s"}, "duration must be at least 1h", id="duration-under-1h"
    ),
    pytest.param({"spec.duration": "90d"}, "should match", id="duration-days-not-go"),
    pytest.param({"spec.renewBefore": "720h"}, None, id="renewBefore"),
    pytest.param(
        {"spec.renewBefore": "4m59s"}, "renewBefore must be at least 5m", id="renewBefore-under-5m"
    ),
    pytest.param(
        {"spec.renewBefore": "2160h"},
        "renewBefore must be shorter than duration",
        id="renewBefore-eq-default",
    ),
    pytest.param(
        {"spec.duration": "24h", "spec.renewBefore": "25h"},
        "renewBefore must be shorter than duration",
        id="renewBefore-over-duration",
    ),
    pytest.param(
        {"spec.duration": "24h", "spec.renewBefore": "23h"}, None, id="renewBefore-under-duration"
    ),
    pytest.param({"spec.renewBeforePercentage": 25}, None, id="percentage"),
    pytest.param(
        {"spec.renewBefore": "720h", "spec.renewBeforePercentage": 25},
        "mutually exclusive",
        id="renewBefore-and-percentage",
    ),
    pytest.param(
        {"spec.renewBeforePercentage": 100}, "less than or equal to 99", id="percentage-100"
    ),
    pytest.param(
        {"spec.renewBeforePercentage": 0}, "greater than or equal to 1", id="percentage-0"
    ),
    pytest.param(
        {"spec.duration": "1h", "spec.renewBeforePercentage": 8},
        "must come to at least 5m",
        id="percentage-under-5m",
    ),
    pytest.param({"spec.privateKey": {"algorithm": "RSA", "size": 4096}}, None, id="rsa-4096"),
    pytest.param(
        {"spec.privateKey": {"size": 1024}}, "between 2048 and 8192", id="rsa-default-1024"
    ),
    pytest.param(
        {"spec.privateKey": {"algorithm": "RSA", "size": 16384}},
        "between 2048 and 8192",
        id="rsa-16384",
    ),
    pytest.param({"spec.privateKey": {"algorithm": "ECDSA", "size": 384}}, None, id="ecdsa-384"),
    pytest.param(
        {"spec.privateKey": {"algorithm": "ECDSA", "size": 2048}},
        "256, 384 or 521",
        id="ecdsa-2048",
    ),
    pytest.param(
        {"spec.privateKey": {"algorithm": "Ed25519", "size": 1}}, None, id="ed25519-ignores-size"
    ),
    pytest.param(
        {"spec.privateKey": {"algorithm": "DSA"}}, "Unsupported value", id="unknown-algorithm"
    ),
    pytest.param(
        {"spec.privateKey": {"rotationPolicy": "Sometimes"}}, "Unsupported value", id="rotation"
    ),
    pytest.param({"spec.usages": ["server auth", "digital signature"]}, None, id="usages"),
    pytest.param({"spec.usages": ["server-auth"]}, "Unsupported value", id="usage-unknown"),
    pytest.param(
        {"spec.revisionHistoryLimit": 0}, "greater than or equal to 1", id="revisionHistoryLimit-0"
    ),
    pytest.param(
        {"spec.additionalOutputFormats": [{"type": "DER"}, {"type": "CombinedPEM"}]}, None, id="aof"
    ),
    pytest.param(
        {"spec.additionalOutputFormats": [{"type": "DER"}, {"type": "DER"}]},
        "only once",
        id="aof-duplicate",
    ),
    pytest.param(
        {
            "spec.keystores": {
                "pkcs12": {"create": True, "passwordSecretRef": {"name": "p", "key": "k"}}
            }
        },
        None,
        id="pkcs12",
    ),
    pytest.param(
        {"spec.keystores": {"pkcs12": {"create": True}}},
        "exactly one of passwordSecretRef and password",
        id="pkcs12-no-password",
    ),
    pytest.param(
        {
            "spec.keystores": {
                "jks": {"create": True, "password": "x", "passwordSecretRef": {"name": "p"}}
            }
        },
        "exactly one of passwordSecretRef and password",
        id="jks-two-passwords",
    ),
    pytest.param(
        {"spec.nameConstraints": {"permitted": {"dnsDomains": ["example.com"]}}},
        "isCA must be true",
        id="nameConstraints-not-ca",
    ),
    pytest.param(
        {"spec.isCA": True, "spec.nameConstraints": {"critical": True}},
        "either permitted or excluded",
        id="nameConstraints-empty",
    ),
    pytest.param(
        {
            "spec.renewal": {
                "policy": "RenewBefore",
                "windows": [
                    {"cron": "0 2 * * 1-5", "windowDuration": "4h", "timezone": "Europe/Paris"}
                ],
            }
        },
        None,
        id="renewal-windows",
    ),
    pytest.param({"spec.renewal": {"policy": "Disabled"}}, None, id="renewal-disabled"),
    pytest.param(
        {"spec.renewal": {"windows": [{"cron": "@daily", "windowDuration": "1h"}]}},
        'supported values: "Disabled", "RenewBefore"',
        id="renewal-without-policy",
    ),
    pytest.param({"spec.renewal": {"policy": "Never"}}, "Unsupported value", id="renewal-policy"),
    pytest.param(
        {
            "spec.renewal": {
                "policy": "Disabled",
                "windows": [{"cron": "@daily", "windowDuration": "1h"}],
            }
        },
        "windows cannot be set when `renewal.policy` is set to Disabled",
        id="renewal-disabled-with-windows",
    ),
    pytest.param(
        {"spec.renewal": {"policy": "RenewBefore", "windows": [{"cron": "@daily"}]}},
        "Required value",
        id="renewal-window-without-duration",
    ),
    pytest.param(
        {
            "spec.renewal": {
                "policy": "RenewBefore",
                "windows": [{"cron": "@daily", "windowDuration": "1d"}],
            }
        },
        "should match",
        id="renewal-window-duration-days",
    ),
    pytest.param(
        {"spec.keystores": {"pkcs12": {"create": True, "password": "p", "profile": "Modern2026"}}},
        None,
        id="pkcs12-Modern2026",
    ),
    pytest.param(
        {"spec.keystores": {"pkcs12": {"create": True, "password": "p", "profile": "Modern2027"}}},
        "Unsupported value",
        id="pkcs12-unknown-profile",
    ),
]


@pytest.mark.parametrize(("patch", "expected"), CERTIFICATE_CASES)
def test_certificate_admission(
    admit: Any, crds: dict[str, Any], patch: Patch, expected: str | None
) -> None:
    _check(admit, crds["Certificate"], _apply(CERTIFICATE, patch), expected)


ISSUER_CASES = [
    pytest.param({}, None, id="valid"),
    pytest.param({"spec.acme.server": _UNSET}, "Required value", id="server-required"),
    pytest.param(
        {"spec.acme.privateKeySecretRef": _UNSET}, "Required value", id="account-key-required"
    ),
    pytest.param(
        {"spec.acme.preferredChain": "x" * 65},
        "Too long: may not be more than 64",
        id="preferredChain",
    ),
    pytest.param(
        {"spec.acme.caBundle": "Zm9v", "spec.acme.skipTLSVerify": True},
        "mutually exclusive",
        id="caBundle-and-skipTLSVerify",
    ),
    pytest.param(
        {"spec.acme.externalAccountBinding": {"keyID": "kid-1"}}, "Required value", id="eab-no-key"
    ),
    pytest.param(
        {
            "spec.acme.externalAccountBinding": {
                "keyID": "kid-1",
                "keySecretRef": {"name": "eab", "key": "k"},
            }
        },
        None,
        id="eab",
    ),
    pytest.param({"spec.acme": _UNSET}, "exactly one issuer type", id="no-issuer-type"),
    pytest.param({"spec.selfSigned": {}}, "exactly one issuer type", id="two-issuer-types"),
    pytest.param({"spec.acme": _UNSET, "spec.ca": {"secretName": "ca"}}, None, id="ca-accepted"),
    pytest.param({"spec.acme": _UNSET, "spec.ca": {}}, "Required value", id="ca-secretName"),
    pytest.param(
        {"spec.acme": _UNSET, "spec.vault": {"server": "https://v", "auth": {}}},
        "Required value",
        id="vault-path",
    ),
    pytest.param(
        {"spec.acme": _UNSET, "spec.venafi": {"zone": "z", "cloud": {}}}, None, id="venafi"
    ),
    pytest.param(
        {"spec.acme": _UNSET, "spec.venafi": {"zone": "z", "cloud": {}, "tpp": {}}},
        "exactly one of 'tpp', 'cloud' or 'ngts' must be specified",
        id="venafi-two-kinds",
    ),
    pytest.param(
        {f"{SOLVER}.http01": _UNSET}, "exactly one of 'http01' or 'dns01'", id="solver-empty"
    ),
    pytest.param(
        {f"{SOLVER}.dns01": {"cloudflare": {}}},
        "exactly one of 'http01' or 'dns01'",
        id="solver-both",
    ),
    pytest.param(
        {f"{SOLVER}.http01": _UNSET, f"{SOLVER}.dns01": {"route53": {"region": "x"}}},
        None,
        id="dns01-accepted",
    ),
    pytest.param(
        {f"{SOLVER}.http01": {}},
        "exactly one of 'ingress' or 'gatewayHTTPRoute'",
        id="http01-empty",
    ),
    pytest.param(
        {f"{INGRESS}.class": "nginx"},
        "only one of 'ingressClassName', 'name' or 'class'",
        id="class-and-ingressClassName",
    ),
    pytest.param(
        {f"{INGRESS}.ingressClassName": _UNSET, f"{INGRESS}.class": "azure/application-gateway"},
        None,
        id="class-free-string",
    ),
    pytest.param(
        {f"{INGRESS}.ingressClassName": _UNSET, f"{INGRESS}.name": "web"}, None, id="edit-in-place"
    ),
    pytest.param(
        {f"{INGRESS}.ingressClassName": "azure/application-gateway"},
        "should match",
        id="ingressClassName-not-dns-name",
    ),
    pytest.param({f"{INGRESS}.serviceType": "LoadBalancer"}, "Unsupported value", id="serviceType"),
    pytest.param(
        {
            f"{INGRESS}.podTemplate": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"nodeSelector": {"k": "v"}},
            }
        },
        None,
        id="podTemplate",
    ),
    pytest.param(
        {f"{SOLVER}.selector": {"dnsZones": ["example.com"], "matchLabels": {"a": "b"}}},
        None,
        id="selector",
    ),
    pytest.param({f"{SOLVER}.waitInsteadOfSelfCheck": "30s"}, None, id="waitInsteadOfSelfCheck"),
    pytest.param({f"{SOLVER}.waitInsteadOfSelfCheck": "0s"}, None, id="waitInsteadOfSelfCheck-0"),
    pytest.param(
        {f"{SOLVER}.waitInsteadOfSelfCheck": "-1s"},
        "waitInsteadOfSelfCheck must not be negative",
        id="waitInsteadOfSelfCheck-negative",
    ),
    pytest.param(
        {f"{SOLVER}.waitInsteadOfSelfCheck": "2d"}, "should match", id="waitInsteadOfSelfCheck-days"
    ),
    pytest.param({"spec.acme.renewalInformationSource": "None"}, None, id="ari-source"),
    pytest.param(
        {"spec.acme.renewalInformationSource": "Off"}, "Unsupported value", id="ari-source-enum"
    ),
]


@pytest.mark.parametrize("kind", ["Issuer", "ClusterIssuer"])
@pytest.mark.parametrize(("patch", "expected"), ISSUER_CASES)
def test_issuer_admission(
    admit: Any, crds: dict[str, Any], kind: str, patch: Patch, expected: str | None
) -> None:
    obj = _apply(ISSUER, patch)
    obj["kind"] = kind
    _check(admit, crds[kind], obj, expected)


ORDER: dict[str, Any] = {
    "apiVersion": "acme.cert-manager.io/v1",
    "kind": "Order",
    "metadata": {"name": "web-1-123", "namespace": "default"},
    "spec": {"request": "MIIB", "issuerRef": {"name": "acme"}, "dnsNames": ["web.example.com"]},
    "status": {"url": "https://acme.example/order/1", "state": "pending"},
}

CHALLENGE: dict[str, Any] = {
    "apiVersion": "acme.cert-manager.io/v1",
    "kind": "Challenge",
    "metadata": {"name": "web-1-123-456", "namespace": "default"},
    "spec": {
        "url": "https://acme.example/chall/1",
        "authorizationURL": "https://acme.example/authz/1",
        "dnsName": "web.example.com",
        "type": "HTTP-01",
        "token": "tok",
        "key": "tok.thumb",
        "solver": {"http01": {"ingress": {"ingressClassName": "nginx"}}},
        "issuerRef": {"name": "acme"},
    },
}

APPROVED = {"type": "Approved", "status": "True", "reason": "cert-manager.io", "message": "ok"}
DENIED = {"type": "Denied", "status": "True", "reason": "Policy", "message": "no"}
READY_ISSUED = {"type": "Ready", "status": "True", "reason": "Issued", "message": "done"}

# (kind, stored object, patch making the update) -> message, or None when allowed.
UPDATE_CASES = [
    pytest.param("CertificateRequest", CERTIFICATE_REQUEST, {}, None, id="cr-unchanged"),
    pytest.param(
        "CertificateRequest",
        CERTIFICATE_REQUEST,
        {"status.failureTime": "2026-01-01T00:00:00Z"},
        None,
        id="cr-status-only",
    ),
    pytest.param(
        "CertificateRequest",
        CERTIFICATE_REQUEST,
        {"spec.isCA": True},
        "spec is immutable",
        id="cr-spec",
    ),
    pytest.param(
        "CertificateRequest",
        CERTIFICATE_REQUEST,
        {"status.conditions": [APPROVED]},
        None,
        id="cr-approve",
    ),
    pytest.param(
        "CertificateRequest",
        CERTIFICATE_REQUEST,
        {"status.conditions": [APPROVED, DENIED]},
        "cannot coexist",
        id="cr-approved-and-denied",
    ),
    pytest.param(
        "CertificateRequest",
        CERTIFICATE_REQUEST,
        {"status.conditions": [{**APPROVED, "status": "False"}]},
        "may only have status 'True'",
        id="cr-approved-false",
    ),
    pytest.param(
        "CertificateRequest",
        _apply(CERTIFICATE_REQUEST, {"status.conditions": [APPROVED]}),
        {"status.conditions": [APPROVED, READY_ISSUED]},
        None,
        id="cr-ready-after-approval",
    ),
    pytest.param(
        "CertificateRequest",
        _apply(CERTIFICATE_REQUEST, {"status.conditions": [APPROVED]}),
        {"status.conditions": [READY_ISSUED]},
        "may not be modified or removed once set",
        id="cr-approval-removed",
    ),
    pytest.param(
        "CertificateRequest",
        _apply(CERTIFICATE_REQUEST, {"status.conditions": [DENIED]}),
        {"status.conditions": [APPROVED]},
        "may not be modified or removed once set",
        id="cr-denied-then-approved",
    ),
    pytest.param(
        "Challenge", CHALLENGE, {"status.presented": True}, None, id="challenge-status-only"
    ),
    pytest.param(
        "Challenge",
        CHALLENGE,
        {"spec.key": "other"},
        "challenge spec is immutable",
        id="challenge-spec",
    ),
    pytest.param("Order", ORDER, {"status.state": "ready"}, None, id="order-state-moves"),
    pytest.param(
        "Order", ORDER, {"spec.request": "MIIC"}, "field is immutable once set", id="order-request"
    ),
    pytest.param(
        "Order",
        ORDER,
        {"status.url": "https://acme.example/order/2"},
        "field is immutable once set",
        id="order-url",
    ),
    pytest.param(
        "Order",
        _apply(ORDER, {"status.url": ""}),
        {"status.url": "https://acme.example/o/1"},
        None,
        id="order-url-first-set",
    ),
    pytest.param(
        "Order",
        ORDER,
        {"status.finalizeURL": "https://acme.example/f/1"},
        None,
        id="order-finalizeURL-first-set",
    ),
    pytest.param(
        "Order",
        _apply(ORDER, {"status.certificate": "UEVN"}),
        {"status.certificate": "T1RIRVI="},
        "field is immutable once set",
        id="order-certificate",
    ),
]


@pytest.mark.parametrize(("kind", "stored", "patch", "expected"), UPDATE_CASES)
def test_update_rules(
    admit: Any,
    crds: dict[str, Any],
    kind: str,
    stored: dict[str, Any],
    patch: Patch,
    expected: str | None,
) -> None:
    schema = _schema(crds[kind])
    assert admit(schema, stored, None) == []
    messages = admit(schema, _apply(stored, patch), stored)
    if expected is None:
        assert messages == []
    else:
        assert any(expected in m for m in messages), messages


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _check(admit: Any, crd: dict[str, Any], obj: dict[str, Any], expected: str | None) -> None:
    messages = admit(_schema(crd), obj, None)
    if expected is None:
        assert messages == []
    else:
        assert any(expected in m for m in messages), messages


def _rules(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = list(node.get("x-kubernetes-validations", ()))
        return found + [r for child in node.values() for r in _rules(child)]
    if isinstance(node, list):
        return [r for child in node for r in _rules(child)]
    return []


def test_every_rule_is_seen_rejecting_a_case(crds: dict[str, Any]) -> None:
    expectations = [p.values[1] for p in CERTIFICATE_CASES + ISSUER_CASES] + [
        p.values[3] for p in UPDATE_CASES
    ]
    untested = {
        rule["message"]
        for crd in crds.values()
        for rule in _rules(_schema(crd))
        if not any(expected and expected in rule["message"] for expected in expectations)
    }
    assert untested == set()
