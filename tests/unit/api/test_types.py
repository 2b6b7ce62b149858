"""Resource JSON parses into the typed API and writes back unchanged."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.api.acme import (
    ChallengeSpec,
    ChallengeStatus,
    ChallengeType,
    OrderSpec,
    OrderStatus,
    State,
)
from certmgr.api.certificates import (
    CertificateSpec,
    CertificateStatus,
    KeyAlgorithm,
    KeyEncoding,
    OutputFormat,
    PrivateKeySpec,
    RotationPolicy,
)
from certmgr.api.codec import InvalidObject, JsonObject, parse_rfc3339, rfc3339
from certmgr.api.conditions import Status
from certmgr.api.issuers import IssuerSpec, IssuerStatus
from certmgr.api.meta import IssuerRef
from certmgr.api.requests import CertificateRequestSpec, CertificateRequestStatus

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

FULL_CERTIFICATE_SPEC: dict[str, Any] = {
    "secretName": "web-tls",
    "issuerRef": {"name": "le", "kind": "ClusterIssuer", "group": "cert-manager.io"},
    "commonName": "web.example.com",
    "subject": {"organizations": ["Example"], "serialNumber": "42"},
    "dnsNames": ["web.example.com", "www.example.com"],
    "ipAddresses": ["10.0.0.1"],
    "uris": ["spiffe://example/web"],
    "emailAddresses": ["ops@example.com"],
    "otherNames": [{"oid": "1.3.6.1.4.1.311.20.2.3", "utf8Value": "upn@example.com"}],
    "duration": "2160h0m0s",
    "renewBefore": "720h0m0s",
    "usages": ["server auth"],
    "isCA": True,
    "privateKey": {
        "algorithm": "ECDSA",
        "encoding": "PKCS8",
        "size": 384,
        "rotationPolicy": "Never",
    },
    "encodeUsagesInRequest": False,
    "keystores": {"pkcs12": {"create": True, "passwordSecretRef": {"name": "p", "key": "pw"}}},
    "secretTemplate": {"annotations": {"a": "1"}, "labels": {"app": "web"}},
    "additionalOutputFormats": [{"type": "DER"}, {"type": "CombinedPEM"}],
    "revisionHistoryLimit": 3,
    "nameConstraints": {"permitted": {"dnsDomains": ["example.com"]}},
}

CERTIFICATE_STATUS: dict[str, Any] = {
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": "Certificate is up to date and has not expired",
            "lastTransitionTime": "2026-01-01T12:00:00Z",
            "observedGeneration": 4,
        }
    ],
    "notBefore": "2026-01-01T12:00:00Z",
    "notAfter": "2026-04-01T12:00:00Z",
    "renewalTime": "2026-03-02T12:00:00Z",
    "revision": 2,
    "failedIssuanceAttempts": 1,
    "lastFailureTime": "2025-12-31T12:00:00Z",
    "nextPrivateKeySecretName": "web-abcde",
}

ISSUER_SPEC: dict[str, Any] = {
    "acme": {
        "server": "https://acme.example/dir",
        "email": "a@example.com",
        "privateKeySecretRef": {"name": "acct"},
        "skipTLSVerify": True,
        "externalAccountBinding": {"keyID": "kid", "keySecretRef": {"name": "eab", "key": "k"}},
        "preferredChain": "ISRG Root X1",
        "profile": "shortlived",
        "solvers": [
            {
                "selector": {"dnsZones": ["example.com"], "matchLabels": {"a": "b"}},
                "http01": {
                    "ingress": {
                        "class": "nginx",
                        "serviceType": "ClusterIP",
                        "podTemplate": {
                            "metadata": {"labels": {"x": "y"}},
                            "spec": {"nodeSelector": {}},
                        },
                        "ingressTemplate": {"metadata": {"annotations": {"k": "v"}}},
                    }
                },
            },
            {"dns01": {"cloudflare": {"apiTokenSecretRef": {"name": "cf", "key": "t"}}}},
        ],
    }
}

CHALLENGE_SPEC: dict[str, Any] = {
    "url": "https://acme.example/chall/1",
    "authorizationURL": "https://acme.example/authz/1",
    "dnsName": "web.example.com",
    "type": "HTTP-01",
    "token": "tok",
    "key": "tok.thumb",
    "solver": {"http01": {"ingress": {"ingressClassName": "nginx"}}},
    "issuerRef": {"name": "le", "kind": "ClusterIssuer", "group": "cert-manager.io"},
}

ORDER_STATUS: dict[str, Any] = {
    "url": "https://acme.example/order/1",
    "finalizeURL": "https://acme.example/order/1/finalize",
    "state": "pending",
    "authorizations": [
        {
            "url": "https://acme.example/authz/1",
            "identifier": "web.example.com",
            "wildcard": False,
            "initialState": "pending",
            "challenges": [
                {"url": "https://acme.example/chall/1", "token": "tok", "type": "http-01"}
            ],
        }
    ],
}

CSR_PEM = b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
CR_SPEC: dict[str, Any] = {
    "request": base64.b64encode(CSR_PEM).decode(),
    "issuerRef": {"name": "le", "kind": "ClusterIssuer", "group": "cert-manager.io"},
    "duration": "2160h0m0s",
    "usages": ["digital signature", "key encipherment"],
    "username": "system:serviceaccount:certmgr:certmgr",
    "groups": ["system:serviceaccounts"],
    "extra": {"scopes": ["a", "b"]},
}


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        pytest.param(CertificateSpec, FULL_CERTIFICATE_SPEC, id="certificate-spec"),
        pytest.param(CertificateStatus, CERTIFICATE_STATUS, id="certificate-status"),
        pytest.param(IssuerSpec, ISSUER_SPEC, id="issuer-spec"),
        pytest.param(IssuerSpec, {"selfSigned": {}}, id="selfSigned-empty-object-kept"),
        pytest.param(ChallengeSpec, CHALLENGE_SPEC, id="challenge-spec"),
        pytest.param(
            ChallengeStatus, {"processing": True, "state": "valid"}, id="challenge-status"
        ),
        pytest.param(OrderStatus, ORDER_STATUS, id="order-status"),
        pytest.param(CertificateRequestSpec, CR_SPEC, id="certificaterequest-spec"),
    ],
)
def test_round_trip(cls: type[JsonObject], data: dict[str, Any]) -> None:
    assert cls.from_dict(data).to_dict() == data


def test_certificate_spec_fields() -> None:
    spec = CertificateSpec.from_dict(FULL_CERTIFICATE_SPEC)
    assert spec.issuer_ref.is_cluster_scoped
    assert spec.duration == timedelta(days=90)
    assert spec.renew_before == timedelta(days=30)
    assert spec.is_ca is True
    assert spec.encode_usages_in_request is False
    assert spec.effective_encode_usages_in_request is False
    key = spec.effective_private_key
    assert (
        key.effective_algorithm,
        key.effective_encoding,
        key.effective_size,
        key.effective_rotation_policy,
    ) == (
        KeyAlgorithm.ECDSA,
        KeyEncoding.PKCS8,
        384,
        RotationPolicy.NEVER,
    )
    assert [f.type for f in spec.additional_output_formats] == [
        OutputFormat.DER,
        OutputFormat.COMBINED_PEM,
    ]
    assert spec.keystores is not None and spec.keystores.pkcs12 is not None
    assert spec.keystores.pkcs12.password_secret_ref is not None
    assert spec.keystores.pkcs12.password_secret_ref.key == "pw"


def test_minimal_certificate_gets_cert_managers_defaults() -> None:
    spec = CertificateSpec.from_dict(
        {"secretName": "s", "issuerRef": {"name": "i"}, "dnsNames": ["a"]}
    )
    assert spec.issuer_ref.same_issuer(IssuerRef(name="i", kind="Issuer", group="cert-manager.io"))
    assert not spec.issuer_ref.same_issuer(IssuerRef(name="i", kind="ClusterIssuer"))
    assert not spec.issuer_ref.is_cluster_scoped and spec.issuer_ref.is_ours
    assert spec.effective_duration == timedelta(days=90)
    assert spec.effective_usages == ("digital signature", "key encipherment")
    assert spec.effective_encode_usages_in_request is True
    assert spec.effective_revision_history_limit == 1
    key = spec.effective_private_key
    assert (
        key.effective_algorithm,
        key.effective_encoding,
        key.effective_size,
        key.effective_rotation_policy,
    ) == (
        KeyAlgorithm.RSA,
        KeyEncoding.PKCS1,
        2048,
        RotationPolicy.ALWAYS,
    )
    # Defaults are not written back: the JSON stays as the user wrote it.
    assert spec.to_dict() == {"secretName": "s", "issuerRef": {"name": "i"}, "dnsNames": ["a"]}


@pytest.mark.parametrize(
    ("ref", "ours", "cluster"),
    [
        pytest.param({"name": "a", "kind": ""}, True, False, id="empty-kind-is-Issuer"),
        pytest.param({"name": "a", "kind": "ClusterIssuer"}, True, True, id="ClusterIssuer"),
        pytest.param(
            {"name": "a", "kind": "AWSPCAIssuer", "group": "awspca.cert-manager.io"},
            False,
            False,
            id="external",
        ),
    ],
)
def test_issuer_ref_scope(ref: dict[str, str], ours: bool, cluster: bool) -> None:
    parsed = IssuerRef.from_dict(ref)
    assert (parsed.is_ours, parsed.is_cluster_scoped) == (ours, cluster)


def test_ed25519_has_no_size() -> None:
    spec = CertificateSpec.from_dict(
        {
            "secretName": "s",
            "issuerRef": {"name": "i"},
            "privateKey": {"algorithm": "Ed25519", "size": 256},
        }
    )
    assert spec.effective_private_key.effective_size == 0


def test_certificate_status_fields() -> None:
    status = CertificateStatus.from_dict(CERTIFICATE_STATUS)
    ready = status.condition("Ready")
    assert ready is not None and ready.is_true and ready.observed_generation == 4
    assert status.condition("Issuing") is None
    assert status.not_after == datetime(2026, 4, 1, 12, tzinfo=UTC)
    assert (status.revision, status.failed_issuance_attempts) == (2, 1)


def test_issuer_fields() -> None:
    spec = IssuerSpec.from_dict(ISSUER_SPEC)
    assert spec.issuer_type == "acme"
    assert spec.acme is not None
    acme = spec.acme
    assert acme.account_key_entry == "tls.key"
    assert acme.skip_tls_verify is True
    assert (
        acme.external_account_binding is not None and acme.external_account_binding.key_id == "kid"
    )
    http01 = acme.solvers[0].http01
    assert http01 is not None and http01.ingress is not None
    ingress = http01.ingress
    assert (ingress.class_, ingress.ingress_class_name, ingress.effective_service_type) == (
        "nginx",
        None,
        "ClusterIP",
    )
    assert acme.solvers[1].dns01 == {
        "cloudflare": {"apiTokenSecretRef": {"name": "cf", "key": "t"}}
    }
    assert IssuerSpec.from_dict({"selfSigned": {}}).issuer_type == "selfSigned"


def test_issuer_status() -> None:
    status = IssuerStatus.from_dict(
        {
            "acme": {"uri": "https://acme.example/acct/1", "lastRegisteredEmail": "a@example.com"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "ACMEAccountRegistered"}],
        }
    )
    assert status.acme is not None and status.acme.uri == "https://acme.example/acct/1"
    ready = status.condition("Ready")
    assert ready is not None and ready.status is Status.TRUE


def test_acme_states() -> None:
    status = OrderStatus.from_dict(ORDER_STATUS)
    assert status.state is State.PENDING and not status.state.is_final
    assert [s.value for s in State if s.is_final] == ["valid", "invalid", "expired", "errored"]
    assert status.authorizations[0].challenges[0].type == "http-01"
    assert ChallengeSpec.from_dict(CHALLENGE_SPEC).type is ChallengeType.HTTP01


def test_bytes_fields_are_decoded() -> None:
    spec = CertificateRequestSpec.from_dict(CR_SPEC)
    assert spec.request == CSR_PEM
    assert spec.extra == {"scopes": ("a", "b")}
    status = CertificateRequestStatus.from_dict(
        {
            "certificate": base64.b64encode(b"PEM").decode(),
            "conditions": [
                {"type": "Approved", "status": "True", "reason": "cert-manager.io"},
                {"type": "Ready", "status": "False", "reason": "Pending"},
            ],
        }
    )
    assert status.certificate == b"PEM"
    assert (status.is_approved, status.is_denied, status.is_ready) == (True, False, False)
    order = OrderSpec(
        request=b"\x30\x82", issuer_ref=IssuerRef(name="le"), dns_names=("a.example",)
    )
    assert order.to_dict() == {
        "request": "MII=",
        "issuerRef": {"name": "le"},
        "dnsNames": ["a.example"],
    }


@pytest.mark.parametrize(
    ("cls", "data", "path"),
    [
        pytest.param(
            CertificateSpec,
            {"secretName": "s", "issuerRef": {"name": "i"}, "duration": "90d"},
            "CertificateSpec.duration",
            id="bad-duration",
        ),
        pytest.param(
            CertificateSpec,
            {"secretName": "s", "issuerRef": {"name": "i"}, "dnsNames": "a"},
            "CertificateSpec.dnsNames",
            id="not-a-list",
        ),
        pytest.param(
            CertificateSpec,
            {"secretName": "s", "issuerRef": {"name": "i"}, "privateKey": {"algorithm": "DSA"}},
            "CertificateSpec.privateKey.algorithm",
            id="bad-enum",
        ),
        pytest.param(
            CertificateStatus, {"revision": "2"}, "CertificateStatus.revision", id="not-an-int"
        ),
        pytest.param(
            CertificateStatus, {"revision": True}, "CertificateStatus.revision", id="bool-not-int"
        ),
        pytest.param(
            CertificateStatus,
            {"notAfter": "yesterday"},
            "CertificateStatus.notAfter",
            id="bad-time",
        ),
        pytest.param(
            CertificateRequestSpec,
            {"request": "not base64!", "issuerRef": {"name": "i"}},
            "CertificateRequestSpec.request",
            id="bad-base64",
        ),
        pytest.param(
            CertificateSpec,
            {"secretName": "s", "issuerRef": {"name": "i"}, "dnsNames": ["a", "b", 3]},
            "CertificateSpec.dnsNames[2]",
            id="bad-list-item",
        ),
        pytest.param(
            CertificateSpec,
            {
                "secretName": "s",
                "issuerRef": {"name": "i"},
                "secretTemplate": {"labels": {"app": "web", "tier": 1}},
            },
            "CertificateSpec.secretTemplate.labels.tier",
            id="bad-map-value",
        ),
        pytest.param(
            CertificateStatus,
            {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Issuing"}]},
            "CertificateStatus.conditions[1].status",
            id="second-list-object",
        ),
        pytest.param(
            CertificateSpec,
            {"secretName": "s", "issuerRef": "i"},
            "CertificateSpec.issuerRef",
            id="not-an-object",
        ),
    ],
)
def test_invalid_json_names_the_field(
    cls: type[JsonObject], data: dict[str, Any], path: str
) -> None:
    with pytest.raises(InvalidObject) as caught:
        cls.from_dict(data)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("cls", "data", "path"),
    [
        pytest.param(
            CertificateSpec,
            {"issuerRef": {"name": "i"}},
            "CertificateSpec.secretName",
            id="top-level",
        ),
        pytest.param(
            CertificateSpec,
            {"secretName": "s", "issuerRef": {"kind": "Issuer"}},
            "CertificateSpec.issuerRef.name",
            id="nested",
        ),
        pytest.param(
            CertificateStatus,
            {"conditions": [{"type": "Ready"}]},
            "CertificateStatus.conditions[0].status",
            id="condition-status",
        ),
        pytest.param(
            CertificateSpec,
            {"secretName": "", "issuerRef": {"name": "i"}},
            "CertificateSpec.secretName",
            id="empty-string-is-unset",
        ),
    ],
)
def test_missing_required_field_names_the_field(
    cls: type[JsonObject], data: dict[str, Any], path: str
) -> None:
    with pytest.raises(InvalidObject) as caught:
        cls.from_dict(data)
    assert (caught.value.path, caught.value.problem) == (path, "required value is missing")


def test_free_form_json_is_copied() -> None:
    dns01 = {"cloudflare": {"apiTokenSecretRef": {"name": "cf"}}}
    spec = IssuerSpec.from_dict(
        {
            "acme": {
                "server": "s",
                "privateKeySecretRef": {"name": "k"},
                "solvers": [{"dns01": dns01}],
            }
        }
    )
    dns01["cloudflare"]["apiTokenSecretRef"]["name"] = "changed"
    assert spec.acme is not None
    assert spec.acme.solvers[0].dns01 == {"cloudflare": {"apiTokenSecretRef": {"name": "cf"}}}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_examples_parse(path: Path) -> None:
    parsers: dict[str, type[JsonObject]] = {
        "Certificate": CertificateSpec,
        "Issuer": IssuerSpec,
        "ClusterIssuer": IssuerSpec,
    }
    for doc in yaml.safe_load_all(path.read_text()):
        if doc["kind"] in parsers:
            assert parsers[doc["kind"]].from_dict(doc["spec"]).to_dict() == doc["spec"]


def test_invalid_json_path_starts_at_the_given_root_and_keeps_the_cause() -> None:
    with pytest.raises(InvalidObject) as caught:
        CertificateStatus.from_dict({"notAfter": "yesterday"}, path="status")
    assert caught.value.path == "status.notAfter"
    assert isinstance(caught.value.__cause__, ValueError)


def test_decoding_twice_gives_equal_values_and_no_shared_free_form_json() -> None:
    raw = {"solvers": [{"dns01": {"webhook": {"config": {"zones": ["a"]}}}}]}
    spec = {"acme": {"server": "s", "privateKeySecretRef": {"name": "k"}, **raw}}
    first, second = IssuerSpec.from_dict(spec), IssuerSpec.from_dict(spec)
    assert first == second
    assert first.acme is not None and second.acme is not None
    zones = first.acme.solvers[0].dns01
    assert zones is not None
    zones["webhook"]["config"]["zones"].append("b")
    assert raw["solvers"][0]["dns01"]["webhook"]["config"]["zones"] == ["a"]
    assert second.acme.solvers[0].dns01 == {"webhook": {"config": {"zones": ["a"]}}}


@pytest.mark.parametrize(
    ("first", "second", "one_instance"),
    [
        pytest.param(
            {"name": "le", "kind": "ClusterIssuer"},
            {"name": "le", "kind": "ClusterIssuer"},
            True,
            id="equal-references-share-one-instance",
        ),
        pytest.param(
            {"name": "le", "kind": "ClusterIssuer"},
            {"name": "le", "kind": "Issuer"},
            False,
            id="different-references-do-not",
        ),
        pytest.param(
            {"kind": "ClusterIssuer", "name": "le"},
            {"name": "le", "kind": "ClusterIssuer"},
            False,
            id="key-order-differs-equal-values",
        ),
    ],
)
def test_equal_issuer_references_decode_to_one_shared_instance(
    first: dict[str, Any], second: dict[str, Any], one_instance: bool
) -> None:
    a, b = IssuerRef.from_dict(first), IssuerRef.from_dict(second)
    assert (a is b) is one_instance
    assert (a == b) is (first == second)


def test_a_shared_type_keeps_true_and_one_apart() -> None:
    # True == 1 and hash alike: a memo keyed by the values alone would merge them.
    as_int = PrivateKeySpec.from_dict({"size": 1})
    assert PrivateKeySpec.from_dict({"size": 1}) is as_int
    with pytest.raises(InvalidObject):
        PrivateKeySpec.from_dict({"size": True})


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 22, 19, 5, 7, tzinfo=UTC), "2026-11-22T19:05:07Z"),
        (datetime(2026, 11, 22, 19, 5, 7, 999_999, tzinfo=UTC), "2026-11-22T19:05:07Z"),
        (
            datetime(2026, 1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=2))),
            "2025-12-31T23:00:00Z",
        ),
    ],
    ids=["utc", "fraction-dropped", "offset-converted"],
)
def test_rfc3339_is_utc_whole_seconds(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text
    assert parse_rfc3339(text) == moment.replace(microsecond=0)


def test_a_field_the_types_do_not_know_is_ignored_not_fatal() -> None:
    """A newer cert-manager's field decodes (and is never written back: certmgr never
    writes a spec it decoded, and status writes are merge patches of changed fields)."""
    from certmgr.api.certificates import CertificateSpec

    spec = CertificateSpec.from_dict(
        {"secretName": "s", "issuerRef": {"name": "i"}, "fieldOfCertManager1_22": {"a": 1}}
    )
    assert spec.secret_name == "s"


@dataclasses.dataclass(frozen=True, slots=True)
class _Window(JsonObject):
    """A type with a ``__post_init__``: the codec fills its slots, then runs it."""

    start: int
    end: int = 0

    def __post_init__(self) -> None:
        if self.end and self.end < self.start:
            raise ValueError("end before start")


def test_a_types_post_init_runs_after_its_fields_are_decoded() -> None:
    assert _Window.from_dict({"start": 3, "end": 5}) == _Window(3, 5)
    assert _Window.from_dict({"start": 3}).end == 0
    with pytest.raises(ValueError, match="end before start"):
        _Window.from_dict({"start": 5, "end": 3})
