"""ingress-shim against the API simulator with the Manager: an annotated Ingress gets its
Certificates; edits reach them; a removed tls entry removes its Certificate; a removed
annotation stops management; bad configuration is a Warning and writes nothing; a
Certificate the Ingress does not control is never touched; deleting the Ingress lets the
garbage collector remove its Certificates."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.api import labels
from certmgr.controllers.context import Settings
from certmgr.kube import resources as r

from .conftest import ISSUER, World


def tls(*names: str) -> list[dict[str, Any]]:
    return [{"hosts": [f"{n}.example.com"], "secretName": f"{n}-tls"} for n in names]


async def test_annotated_ingress_gets_one_owned_certificate_per_tls_entry(world: World) -> None:
    ingress = await world.create_ingress(
        annotations={**ISSUER, labels.DURATION: "720h", labels.HTTP01_EDIT_IN_PLACE: "true"},
        tls=tls("a", "b"),
        labels={"app": "web"},
    )
    await world.wait_names(["a-tls", "b-tls"])
    a = await world.wait_certificate("a-tls")
    assert a["spec"] == {
        "secretName": "a-tls",
        "issuerRef": {"name": "letsencrypt", "kind": "Issuer", "group": "cert-manager.io"},
        "dnsNames": ["a.example.com"],
        "duration": "720h0m0s",
        "usages": ["digital signature", "key encipherment"],
    }
    assert a["metadata"]["labels"] == {"app": "web"}
    assert a["metadata"]["annotations"] == {
        labels.HTTP01_OVERRIDE_INGRESS_NAME: "web",
        labels.ISSUE_TEMPORARY_CERTIFICATE: "true",
    }
    (ref,) = a["metadata"]["ownerReferences"]
    assert ref["uid"] == ingress["metadata"]["uid"]
    assert ref["kind"] == "Ingress" and ref["controller"] and ref["blockOwnerDeletion"]
    await world.quiesce()
    assert sorted(world.events.of("Normal", "CreateCertificate")) == [
        'Successfully created Certificate "a-tls"',
        'Successfully created Certificate "b-tls"',
    ]
    assert world.events.of("Warning") == []


async def test_editing_the_ingress_updates_only_the_shims_fields(world: World) -> None:
    await world.create_ingress(tls=tls("web"))
    created = await world.wait_certificate("web-tls")
    # Someone else's additions to the Certificate must survive the shim's update.
    created["metadata"].setdefault("annotations", {})["team"] = "web"
    created["spec"]["keystores"] = {"pkcs12": {"create": True, "password": "x"}}
    await world.settled(r.CERTIFICATES, await world.kube.update(r.CERTIFICATES, created))

    def edit(ingress: dict[str, Any]) -> None:
        ingress["metadata"]["annotations"][labels.USAGES] = "server auth"
        ingress["spec"]["tls"][0]["hosts"].append("www.example.com")

    await world.edit_ingress("web", edit)
    updated = await world.wait_certificate(
        "web-tls", lambda c: c["spec"].get("usages") == ["server auth"]
    )
    assert updated["spec"]["dnsNames"] == ["web.example.com", "www.example.com"]
    assert updated["spec"]["keystores"] == {"pkcs12": {"create": True, "password": "x"}}
    assert updated["metadata"]["annotations"] == {"team": "web"}
    assert world.events.of("Normal", "UpdateCertificate") == [
        'Successfully updated Certificate "web-tls"'
    ]


async def test_removing_a_tls_entry_deletes_its_certificate(world: World) -> None:
    await world.create_ingress(tls=tls("a", "b"))
    await world.wait_names(["a-tls", "b-tls"])

    def drop_b(ingress: dict[str, Any]) -> None:
        ingress["spec"]["tls"] = tls("a")

    await world.edit_ingress("web", drop_b)
    await world.wait_names(["a-tls"])
    assert world.events.of("Normal", "DeleteCertificate") == [
        'Successfully deleted unrequired Certificate "b-tls"'
    ]


async def test_removing_the_annotation_stops_management_and_keeps_certificates(
    world: World,
) -> None:
    await world.create_ingress(tls=tls("a", "b"))
    await world.wait_names(["a-tls", "b-tls"])
    before = await world.wait_certificate("a-tls")

    def unannotate(ingress: dict[str, Any]) -> None:
        ingress["metadata"]["annotations"] = {}

    await world.edit_ingress("web", unannotate)

    def change_everything(ingress: dict[str, Any]) -> None:
        ingress["spec"]["tls"] = [{"hosts": ["other.example.com"], "secretName": "a-tls"}]

    await world.edit_ingress("web", change_everything)
    assert await world.certificate_names() == ["a-tls", "b-tls"]
    after = await world.certificate("a-tls")
    assert after is not None
    assert after["spec"] == before["spec"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_duplicate_secret_names_are_a_warning_and_create_nothing(world: World) -> None:
    await world.create_ingress(
        tls=[
            {"hosts": ["a.example.com"], "secretName": "shared"},
            {"hosts": ["b.example.com"], "secretName": "shared"},
            {"hosts": ["c.example.com"], "secretName": "c-tls"},
        ]
    )
    (warning,) = await world.wait_event("Warning", "BadConfig")
    assert '"shared": this secret name must only appear in a single TLS entry' in warning
    assert await world.certificate_names() == []


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (labels.DURATION, "ninety days"),
        (labels.PRIVATE_KEY_SIZE, "1024"),
        (labels.SECRET_TEMPLATE, "{not json"),
        (labels.IP_SANS, "not-an-ip"),
    ],
    ids=["duration", "private-key-size", "secret-template", "ip-sans"],
)
async def test_malformed_annotation_is_a_warning_naming_it_and_changes_nothing(
    world: World, annotation: str, value: str
) -> None:
    await world.create_ingress("good", tls=tls("good"))
    before = await world.wait_certificate("good-tls")
    await world.create_ingress("bad", annotations={**ISSUER, annotation: value}, tls=tls("bad"))

    def break_good(ingress: dict[str, Any]) -> None:
        ingress["metadata"]["annotations"][annotation] = value
        ingress["spec"]["tls"][0]["hosts"] = ["changed.example.com"]

    await world.edit_ingress("good", break_good)
    warnings = await world.wait(
        lambda: _returns(world.events.of("Warning", "BadConfig")), lambda w: len(w) >= 2
    )
    assert all(w.startswith(f'invalid ingress annotation "{annotation}": ') for w in warnings)
    assert await world.certificate_names() == ["good-tls"]
    after = await world.certificate("good-tls")
    assert after is not None and after["spec"] == before["spec"]


async def _returns(value: list[str]) -> list[str]:
    return value


async def test_tls_acme_without_a_default_issuer_is_a_warning(world: World) -> None:
    await world.create_ingress(annotations={labels.TLS_ACME: "true"})
    (warning,) = await world.wait_event("Warning", "BadConfig")
    assert warning.startswith("Could not determine issuer for ingress due to bad annotations")
    assert labels.TLS_ACME in warning
    assert await world.certificate_names() == []


@pytest.mark.parametrize(
    "settings",
    [Settings(workers=2, default_issuer_name="default-ca", default_issuer_kind="ClusterIssuer")],
    ids=["default-cluster-issuer"],
)
async def test_tls_acme_uses_the_default_issuer(world: World) -> None:
    await world.create_ingress(annotations={labels.TLS_ACME: "true"})
    certificate = await world.wait_certificate("web-tls")
    assert certificate["spec"]["issuerRef"] == {
        "name": "default-ca",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }


async def test_a_certificate_the_ingress_does_not_control_is_never_touched(
    world: World,
) -> None:
    foreign = await world.kube.create(
        r.CERTIFICATES,
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": "web-tls", "namespace": world.namespace},
            "spec": {
                "secretName": "web-tls",
                "issuerRef": {"name": "mine"},
                "dnsNames": ["mine.example.com"],
            },
        },
    )
    await world.settled(r.CERTIFICATES, foreign)
    await world.create_ingress(tls=tls("web"))

    def drop_tls(ingress: dict[str, Any]) -> None:
        ingress["spec"]["tls"] = []

    await world.edit_ingress("web", drop_tls)
    after = await world.certificate("web-tls")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"]
    assert world.events.of("Normal") == []


async def test_a_deleted_certificate_is_recreated(world: World) -> None:
    await world.create_ingress(tls=tls("web"))
    first = await world.wait_certificate("web-tls")
    await world.kube.delete(r.CERTIFICATES, "web-tls", namespace=world.namespace)
    second = await world.wait_certificate(
        "web-tls", lambda c: c["metadata"]["uid"] != first["metadata"]["uid"]
    )
    assert second["spec"] == first["spec"]


async def test_deleting_the_ingress_garbage_collects_its_certificates(world: World) -> None:
    await world.create_ingress(tls=tls("a", "b"))
    await world.create_ingress("other", tls=tls("other"))
    await world.wait_names(["a-tls", "b-tls", "other-tls"])
    await world.kube.delete(r.INGRESSES, "web", namespace=world.namespace)
    await world.wait_names(["other-tls"])


async def test_every_annotation_yields_a_certificate_the_api_accepts(world: World) -> None:
    await world.create_ingress(
        annotations={
            labels.INGRESS_CLUSTER_ISSUER: "le",
            labels.COMMON_NAME: "web.example.com",
            labels.ALT_NAMES: "alt.example.com",
            labels.IP_SANS: "10.0.0.1",
            labels.URI_SANS: "spiffe://cluster/web",
            labels.EMAIL_SANS: "ops@example.com",
            labels.SUBJECT_ORGANIZATIONS: '"Example, Inc."',
            labels.SUBJECT_SERIAL_NUMBER: "42",
            labels.DURATION: "2160h",
            labels.RENEW_BEFORE_PERCENTAGE: "40",
            labels.USAGES: "server auth,digital signature",
            labels.REVISION_HISTORY_LIMIT: "3",
            labels.PRIVATE_KEY_ALGORITHM: "ECDSA",
            labels.PRIVATE_KEY_SIZE: "384",
            labels.PRIVATE_KEY_ENCODING: "PKCS8",
            labels.PRIVATE_KEY_ROTATION_POLICY: "Always",
            labels.SECRET_TEMPLATE: '{"labels": {"team": "web"}}',
            labels.HTTP01_INGRESS_CLASS: "nginx",
            labels.HTTP01_INGRESS_INGRESSCLASSNAME: "internal",
        },
        tls=tls("web"),
    )
    certificate = await world.wait_certificate("web-tls")
    assert certificate["spec"] == {
        "secretName": "web-tls",
        "issuerRef": {"name": "le", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        "commonName": "web.example.com",
        "subject": {"organizations": ["Example, Inc."], "serialNumber": "42"},
        "dnsNames": ["web.example.com", "alt.example.com"],
        "ipAddresses": ["10.0.0.1"],
        "uris": ["spiffe://cluster/web"],
        "emailAddresses": ["ops@example.com"],
        "duration": "2160h0m0s",
        "renewBeforePercentage": 40,
        "usages": ["server auth", "digital signature"],
        "revisionHistoryLimit": 3,
        "privateKey": {
            "algorithm": "ECDSA",
            "encoding": "PKCS8",
            "size": 384,
            "rotationPolicy": "Always",
        },
        "secretTemplate": {"labels": {"team": "web"}},
    }
    assert certificate["metadata"]["annotations"] == {
        labels.HTTP01_OVERRIDE_INGRESS_CLASS: "nginx",
        labels.HTTP01_OVERRIDE_INGRESS_CLASSNAME: "internal",
    }
    await world.quiesce()
    assert world.events.of("Warning") == []
    assert world.events.of("Normal", "UpdateCertificate") == []
