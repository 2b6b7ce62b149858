"""Gateway -> desired Certificates (pure): which listeners count, what is skipped with a
Warning and in which words, hosts per Secret, owner reference and parentRef annotations."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.api import labels
from certmgr.controllers.gatewayshim import GATEWAY
from certmgr.controllers.ingressshim.annotations import DefaultIssuer
from certmgr.controllers.ingressshim.desired import Plan, Verdict, plan_certificates

ISSUER = {labels.INGRESS_CLUSTER_ISSUER: "letsencrypt"}


def listener(
    name: str,
    hostname: str | None = "www.example.com",
    *,
    protocol: str = "HTTPS",
    refs: list[dict[str, Any]] | None = None,
    mode: str | None = "Terminate",
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "port": 443, "protocol": protocol}
    if hostname is not None:
        out["hostname"] = hostname
    tls: dict[str, Any] = {
        "certificateRefs": [{"kind": "Secret", "group": "", "name": f"{name}-tls"}]
        if refs is None
        else refs
    }
    if mode is not None:
        tls["mode"] = mode
    out["tls"] = tls
    return out


def gateway(
    *listeners: dict[str, Any], annotations: dict[str, str] | None = None, **metadata: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {
            "name": "edge",
            "namespace": "shop",
            "uid": "uid-edge",
            "annotations": ISSUER if annotations is None else annotations,
            **metadata,
        },
        "spec": {"gatewayClassName": "dataplane", "listeners": list(listeners)},
    }


def plan(obj: dict[str, Any]) -> Plan:
    return plan_certificates(obj, default_issuer=DefaultIssuer(), source=GATEWAY)


def wanted(obj: dict[str, Any]) -> dict[str, list[str]]:
    result = plan(obj)
    assert result.verdict is Verdict.SYNC
    return {c["metadata"]["name"]: c["spec"]["dnsNames"] for c in result.certificates}


def test_one_certificate_per_secret_owned_by_the_gateway_with_parent_ref_annotations() -> None:
    result = plan(
        gateway(
            {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "www.example.com"},
            listener("https"),
            annotations={**ISSUER, labels.DURATION: "720h"},
            labels={"app": "shop", "applyset.kubernetes.io/part-of": "x"},
        )
    )
    assert result.verdict is Verdict.SYNC and result.problems == ()
    (certificate,) = result.certificates
    assert certificate["metadata"] == {
        "name": "https-tls",
        "namespace": "shop",
        "labels": {"app": "shop"},
        "annotations": {
            labels.HTTP01_PARENT_REF_KIND: "Gateway",
            labels.HTTP01_PARENT_REF_NAME: "edge",
        },
        "ownerReferences": [
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "name": "edge",
                "uid": "uid-edge",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    spec = certificate["spec"]
    assert spec["secretName"] == "https-tls"
    assert spec["dnsNames"] == ["www.example.com"]
    assert spec["issuerRef"] == {
        "name": "letsencrypt",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert spec["duration"] == "720h0m0s"
    assert result.secret_names == frozenset({"https-tls"})


def test_listeners_sharing_a_secret_share_a_certificate() -> None:
    shared = [{"name": "shared-tls"}]
    obj = gateway(
        listener("a", "a.example.com", refs=shared),
        listener("b", "*.b.example.com", refs=shared, protocol="TLS"),
        listener("c", "a.example.com", refs=shared),  # the same name once
        listener("d", "d.example.com"),
    )
    assert wanted(obj) == {
        "shared-tls": ["a.example.com", "*.b.example.com"],
        "d-tls": ["d.example.com"],
    }


@pytest.mark.parametrize(
    ("listeners", "annotations"),
    [
        pytest.param(
            [{"name": "http", "port": 80, "protocol": "HTTP", "hostname": "a.example.com"}],
            ISSUER,
            id="not-a-tls-protocol",
        ),
        pytest.param([listener("pt", mode="Passthrough")], ISSUER, id="passthrough"),
        pytest.param(
            [listener("internal")],
            {**ISSUER, labels.IGNORE_TLS_LISTENERS: "other, internal"},
            id="ignore-tls-listeners",
        ),
    ],
)
def test_passed_over_without_a_word_as_in_cert_manager(
    listeners: list[dict[str, Any]], annotations: dict[str, str]
) -> None:
    result = plan(gateway(*listeners, annotations=annotations))
    assert (result.verdict, result.certificates, result.problems) == (Verdict.SYNC, (), ())


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        pytest.param(
            listener("x", hostname=None),
            "spec.listeners[1].hostname: Required value: the hostname cannot be empty",
            id="no-hostname",
        ),
        pytest.param(
            listener("x", refs=[]),
            "spec.listeners[1].tls.certificateRef: Required value: listener has no certificateRefs",
            id="no-certificate-refs",
        ),
        pytest.param(
            listener("x", refs=[{"name": "s", "namespace": "other"}]),
            'spec.listeners[1].tls.certificateRef[0].namespace: Invalid value: "other": '
            "cross-namespace secret references are not allowed in listeners",
            id="cross-namespace",
        ),
        pytest.param(
            listener("x", refs=[{"name": "s", "group": "example.com", "kind": "Vault"}]),
            '[spec.listeners[1].tls.certificateRef[0].group: Unsupported value: "example.com": '
            'supported values: "core", "", spec.listeners[1].tls.certificateRef[0].kind: '
            'Unsupported value: "Vault": supported values: "Secret", ""]',
            id="not-a-secret",
        ),
        pytest.param(
            {"name": "x", "port": 443, "protocol": "HTTPS", "hostname": "x.example.com"},
            "spec.listeners[1].tls: Required value: the TLS block cannot be empty",
            id="no-tls",
        ),
    ],
)
def test_skipped_with_a_warning(bad: dict[str, Any], problem: str) -> None:
    result = plan(gateway(listener("good"), bad))
    assert result.verdict is Verdict.SYNC
    assert [c["metadata"]["name"] for c in result.certificates] == ["good-tls"]
    assert result.problems == ("Skipped a listener block: " + problem,)


def test_a_ref_in_the_gateways_own_namespace_and_core_group_count() -> None:
    ref = {"name": "own-tls", "namespace": "shop", "group": "core", "kind": "Secret"}
    assert wanted(gateway(listener("own", refs=[ref]))) == {"own-tls": ["www.example.com"]}


def test_a_secret_still_named_by_a_skipped_listener_is_not_deleted() -> None:
    result = plan(gateway(listener("x", hostname=None)))
    assert result.certificates == ()
    assert result.secret_names == frozenset({"x-tls"})


@pytest.mark.parametrize(
    ("annotations", "verdict"),
    [
        pytest.param({}, Verdict.IGNORED, id="no-annotation"),
        pytest.param({labels.TLS_ACME: "true"}, Verdict.IGNORED, id="tls-acme-is-ingress-only"),
        pytest.param({labels.INGRESS_ISSUER: "ca"}, Verdict.SYNC, id="issuer"),
        pytest.param(
            {labels.INGRESS_CLUSTER_ISSUER: "le", labels.INGRESS_ISSUER_KIND: "X"},
            Verdict.REJECTED,
            id="cluster-issuer-and-kind",
        ),
        pytest.param({**ISSUER, labels.DURATION: "5m"}, Verdict.REJECTED, id="bad-annotation"),
    ],
)
def test_triggers_and_rejections_are_ingress_shims(
    annotations: dict[str, str], verdict: Verdict
) -> None:
    assert plan(gateway(listener("a"), annotations=annotations)).verdict is verdict
