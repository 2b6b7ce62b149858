"""Tables for the pure parts of the ACME controllers: names, solver manifests, decisions."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.acme import AcmeBadNonce, AcmeError, AcmeRateLimited, AcmeUnreachable, Problem
from certmgr.controllers.acme.issuer_refs import issuer_index_value, issuer_ref_index
from certmgr.controllers.acme.names import (
    MAX_NAME,
    challenge_name,
    label_value,
    order_name,
    solver_name,
)
from certmgr.controllers.acme.order_steps import Step, challenge_manifest, next_step, solver_view
from certmgr.controllers.acme.polling import PollIntervals, is_transient
from certmgr.controllers.acme.solver_objects import (
    SHARED_SERVICE,
    SolverTarget,
    needs_finalizer,
    pod_service,
    shared_service,
    solver_ingress,
    solver_labels,
    solver_pod,
    uses_pod,
    with_solver_path,
    without_solver_path,
)
from certmgr.testing.apiserver import podsecurity

OWNER = {"apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge", "name": "c", "uid": "u"}


def target(**ingress: Any) -> SolverTarget:
    return SolverTarget(
        name="cm-acme-http-solver-abc",
        namespace="ns",
        dns_name="www.example.com",
        token="tok",
        key="tok.thumb",
        owner=OWNER,
        ingress=ingress,
    )


# -- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parent", "value"),
    [
        pytest.param("short", "https://ca/authz/1", id="short"),
        pytest.param("x" * 80, "https://ca/authz/1", id="long-parent-truncated"),
        pytest.param("ends-with-dash-" + "y" * 60, {"a": 1}, id="mapping-value"),
    ],
)
def test_child_names_are_deterministic_and_fit(parent: str, value: Any) -> None:
    make = order_name if isinstance(value, dict) else challenge_name
    first, second = make(parent, value), make(parent, value)
    assert first == second
    assert len(first) <= MAX_NAME
    assert not first.startswith("-") and "--" not in first[-12:]


def test_different_inputs_give_different_names() -> None:
    assert challenge_name("o", "https://ca/authz/1") != challenge_name("o", "https://ca/authz/2")
    assert order_name("cr", {"dnsNames": ["a"]}) != order_name("cr", {"dnsNames": ["b"]})
    assert solver_name("ns", "c1") != solver_name("ns", "c2")
    assert solver_name("ns", "c1").startswith("cm-acme-http-solver-")


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        pytest.param("www.example.com", True, id="dns-name"),
        pytest.param("a" * 63, True, id="63-chars"),
        pytest.param("a" * 64, False, id="too-long"),
        pytest.param("*.example.com", False, id="wildcard"),
        pytest.param("tok_en-1", True, id="token"),
    ],
)
def test_label_value_hashes_only_when_needed(value: str, kept: bool) -> None:
    result = label_value(value)
    assert (result == value) is kept
    assert len(result) <= 63


# -- solver objects ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "ingress", "expected"),
    [
        pytest.param("shared", {}, False, id="shared"),
        pytest.param("pod", {}, True, id="pod-setting"),
        pytest.param("shared", {"podTemplate": {}}, True, id="pod-template-forces-pod"),
    ],
)
def test_uses_pod(mode: str, ingress: dict[str, Any], expected: bool) -> None:
    assert uses_pod(target(**ingress), solver_mode=mode) is expected


def test_shared_service_is_one_per_namespace_owned_by_no_challenge() -> None:
    service = shared_service("ns", host="certmgr-solver.certmgr.svc", port=8089)
    assert service["metadata"]["name"] == SHARED_SERVICE == "cm-acme-http-solver-shared"
    assert service["metadata"]["namespace"] == "ns"
    assert service["spec"]["type"] == "ExternalName"
    assert service["spec"]["externalName"] == "certmgr-solver.certmgr.svc"
    assert service["spec"]["ports"][0]["port"] == 8089
    assert "ownerReferences" not in service["metadata"]
    assert service["metadata"]["labels"] == {"acme.cert-manager.io/http01-solver": "true"}


@pytest.mark.parametrize(
    ("solver", "expected", "finalized", "challenge_type"),
    [
        pytest.param(
            {"http01": {"ingress": {"ingressClassName": "nginx"}}},
            False,
            False,
            "HTTP-01",
            id="ingress",
        ),
        pytest.param(
            {"http01": {"ingress": {"class": "nginx"}}}, False, False, "HTTP-01", id="class"
        ),
        pytest.param(
            {"http01": {"ingress": {"podTemplate": {}}}}, False, False, "HTTP-01", id="pod-template"
        ),
        pytest.param(
            {"http01": {"ingress": {"name": "web"}}}, True, True, "HTTP-01", id="edit-in-place"
        ),
        # A TXT record outlives the Challenge: a DNS-01 Challenge is finalized too.
        pytest.param({"dns01": {"rfc2136": {}}}, False, True, "DNS-01", id="dns01"),
        pytest.param({"dns01": {"cloudflare": {}}}, False, True, "DNS-01", id="dns01-unsupported"),
    ],
)
def test_challenge_type_and_finalizer(
    solver: dict[str, Any], expected: bool, finalized: bool, challenge_type: str
) -> None:
    assert needs_finalizer(solver) is expected
    order = {"metadata": {"name": "o", "namespace": "ns", "uid": "u"}, "spec": {}}
    authz = {"url": "https://ca/authz/1", "identifier": "www.example.com"}
    offer = {"url": "https://ca/chall/1", "token": "tok", "type": "http-01"}
    manifest = challenge_manifest(
        order, name="c", authorization=authz, offer=offer, key="k", solver=solver
    )
    finalizers = manifest["metadata"].get("finalizers")
    assert finalizers == (["acme.cert-manager.io/finalizer"] if finalized else None)
    assert manifest["spec"]["type"] == challenge_type


@pytest.mark.parametrize(
    ("ingress", "class_name", "annotation"),
    [
        pytest.param({"ingressClassName": "nginx"}, "nginx", None, id="ingressClassName"),
        pytest.param({"class": "traefik"}, None, "traefik", id="class-annotation"),
        pytest.param({}, None, None, id="no-class"),
    ],
)
def test_solver_ingress_honours_class(
    ingress: dict[str, Any], class_name: str | None, annotation: str | None
) -> None:
    manifest = solver_ingress(target(**ingress), service=SHARED_SERVICE, port=8089)
    assert manifest["spec"].get("ingressClassName") == class_name
    assert manifest["metadata"]["annotations"].get("kubernetes.io/ingress.class") == annotation
    (rule,) = manifest["spec"]["rules"]
    assert rule["host"] == "www.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/.well-known/acme-challenge/tok"
    assert path["pathType"] == "ImplementationSpecific"
    assert path["backend"]["service"] == {
        "name": "cm-acme-http-solver-shared",
        "port": {"number": 8089},
    }


def test_solver_ingress_template_metadata_and_ip_host() -> None:
    t = SolverTarget(
        name="s",
        namespace="ns",
        dns_name="192.0.2.1",
        token="t",
        key="k",
        owner=OWNER,
        ingress={
            "ingressTemplate": {"metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}}}
        },
    )
    manifest = solver_ingress(t, service="s", port=1)
    assert "host" not in manifest["spec"]["rules"][0]
    assert manifest["metadata"]["labels"]["a"] == "b"
    assert manifest["metadata"]["labels"]["acme.cert-manager.io/http01-solver"] == "true"
    assert manifest["metadata"]["annotations"]["x"] == "y"


def test_solver_pod_args_template_and_service() -> None:
    t = target(
        serviceType="ClusterIP",
        podTemplate={
            "metadata": {"labels": {"team": "a"}, "annotations": {"n": "v"}},
            "spec": {"nodeSelector": {"k": "v"}, "containers": [{"name": "evil"}]},
        },
    )
    pod = solver_pod(t, image="certmgr-solver:1")
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "certmgr-solver:1"
    assert container["args"] == [
        "--listen-port=8089",
        "--domain=www.example.com",
        "--token=tok",
        "--key=tok.thumb",
    ]
    assert pod["spec"]["nodeSelector"] == {"k": "v"}
    assert pod["metadata"]["labels"]["team"] == "a"
    assert pod["metadata"]["annotations"]["n"] == "v"
    service = pod_service(t)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == solver_labels(t)
    assert pod_service(target())["spec"]["type"] == "NodePort"


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        pytest.param(None, None, id="none"),
        pytest.param(
            {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            id="requests-and-limits",
        ),
        pytest.param({"limits": {"cpu": "100m"}}, {"limits": {"cpu": "100m"}}, id="limits-only"),
    ],
)
def test_solver_pod_takes_the_template_resources(
    resources: dict[str, Any] | None, expected: dict[str, Any] | None
) -> None:
    spec = {} if resources is None else {"resources": resources}
    (container,) = solver_pod(target(podTemplate={"spec": spec}), image="i")["spec"]["containers"]
    assert container.get("resources") == expected


def test_edit_in_place_adds_and_removes_only_our_path() -> None:
    user = {
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {
            "rules": [
                {
                    "host": "www.example.com",
                    "http": {"paths": [{"path": "/", "backend": {"service": {"name": "web"}}}]},
                }
            ]
        },
    }
    added = with_solver_path(user, target(name="web"), service=SHARED_SERVICE, port=8089)
    assert added is not None
    paths = added["spec"]["rules"][0]["http"]["paths"]
    assert [p["path"] for p in paths] == ["/", "/.well-known/acme-challenge/tok"]
    again = with_solver_path(added, target(name="web"), service=SHARED_SERVICE, port=8089)
    assert again is None  # idempotent
    # Another Challenge's path to the same shared Service stays.
    other = SolverTarget(
        name="cm-acme-http-solver-def",
        namespace="ns",
        dns_name="www.example.com",
        token="other",
        key="other.thumb",
        owner=OWNER,
        ingress={"name": "web"},
    )
    both = with_solver_path(added, other, service=SHARED_SERVICE, port=8089)
    assert both is not None
    removed = without_solver_path(both, target(name="web"))
    assert removed == with_solver_path(user, other, service=SHARED_SERVICE, port=8089)
    assert without_solver_path(added, target(name="web")) == user
    assert without_solver_path(user, target(name="web")) is None


def test_edit_in_place_new_host_gets_its_own_rule_which_is_removed_after() -> None:
    user = {"metadata": {"name": "web"}, "spec": {"rules": [{"host": "other.example.com"}]}}
    added = with_solver_path(user, target(name="web"), service=SHARED_SERVICE, port=80)
    assert added is not None and len(added["spec"]["rules"]) == 2
    assert without_solver_path(added, target(name="web")) == user


# -- decisions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "challenge_states", "step"),
    [
        pytest.param({}, [], Step.CREATE, id="new"),
        pytest.param({"url": "u", "state": "pending"}, [None], Step.CHALLENGES, id="no-challenge"),
        pytest.param(
            {"url": "u", "state": "pending"}, ["pending"], Step.CHALLENGES, id="challenge-busy"
        ),
        pytest.param({"url": "u", "state": "pending"}, [], Step.CHECK, id="all-reused"),
        pytest.param(
            {"url": "u", "state": "pending"}, ["valid", "valid"], Step.CHECK, id="all-valid"
        ),
        pytest.param(
            {"url": "u", "state": "pending"}, ["valid", "invalid"], Step.CHECK, id="one-invalid"
        ),
        pytest.param({"url": "u", "state": "ready"}, [], Step.FINALIZE, id="ready"),
        pytest.param({"url": "u", "state": "processing"}, [], Step.POLL, id="processing"),
        pytest.param({"url": "u", "state": "valid"}, [], Step.POLL, id="valid-no-chain"),
        pytest.param({"url": "u", "state": "valid", "certificate": "x"}, [], Step.DONE, id="valid"),
        pytest.param({"url": "u", "state": "invalid"}, ["invalid"], Step.DONE, id="invalid"),
        pytest.param({"state": "errored"}, [], Step.DONE, id="errored-before-url"),
    ],
)
def test_next_step(status: dict[str, Any], challenge_states: list[str | None], step: Step) -> None:
    assert next_step(status, challenge_states) is step


def test_poll_intervals_grow_to_cap_per_key() -> None:
    polls = PollIntervals(base=0.05, cap=0.3, jitter=0.0)
    assert [polls.next("a") for _ in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]
    assert polls.next("b") == 0.05
    polls.forget("a")
    assert polls.next("a") == 0.05


def _problem(status: int | None) -> Problem:
    return Problem("urn:ietf:params:acme:error:malformed", "x", status)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        pytest.param(AcmeUnreachable(_problem(None)), True, id="unreachable"),
        pytest.param(AcmeBadNonce(_problem(400)), True, id="bad-nonce"),
        pytest.param(AcmeRateLimited(_problem(429), retry_after=3), True, id="rate-limited"),
        pytest.param(AcmeError(_problem(500)), True, id="server-error"),
        pytest.param(AcmeError(_problem(400)), False, id="rejected"),
        pytest.param(AcmeError(_problem(403)), False, id="unauthorized"),
    ],
)
def test_is_transient(error: AcmeError, transient: bool) -> None:
    assert is_transient(error) is transient


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            {"metadata": {"namespace": "ns"}, "spec": {"issuerRef": {"name": "i"}}},
            ["Issuer/ns/i"],
            id="default-kind",
        ),
        pytest.param(
            {
                "metadata": {"namespace": "ns"},
                "spec": {"issuerRef": {"name": "c", "kind": "ClusterIssuer"}},
            },
            ["ClusterIssuer/c"],
            id="cluster",
        ),
        pytest.param(
            {
                "metadata": {"namespace": "ns"},
                "spec": {"issuerRef": {"name": "x", "group": "other.io"}},
            },
            [],
            id="external-issuer",
        ),
    ],
)
def test_issuer_ref_index(obj: dict[str, Any], expected: list[str]) -> None:
    assert issuer_ref_index(obj) == expected


def test_issuer_index_value_matches_the_index() -> None:
    assert issuer_index_value({"metadata": {"name": "i", "namespace": "ns"}}) == "Issuer/ns/i"
    assert issuer_index_value({"metadata": {"name": "c"}}) == "ClusterIssuer/c"


@pytest.mark.parametrize(
    ("solver", "usable_for_http01"),
    [
        pytest.param({"http01": {"ingress": {}}}, True, id="ingress"),
        pytest.param({"http01": {"ingress": {"name": "web"}}}, True, id="edit-in-place"),
        pytest.param(
            {"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "gw"}]}}},
            True,
            id="gatewayHTTPRoute",
        ),
        pytest.param({"dns01": {"cloudflare": {}}}, False, id="dns01"),
    ],
)
def test_ingress_and_gateway_solvers_offer_http01(
    solver: dict[str, Any], usable_for_http01: bool
) -> None:
    assert (solver_view(solver).challenge_type == "http-01") is usable_for_http01


@pytest.mark.parametrize(
    ("solver", "challenge_type"),
    [
        pytest.param({"http01": {"ingress": {}}}, "http-01", id="ingress"),
        pytest.param({"dns01": {"rfc2136": {"nameserver": "1.2.3.4"}}}, "dns-01", id="rfc2136"),
        # Selected as cert-manager does; the Challenge then says the provider is unsupported.
        pytest.param({"dns01": {"azureDNS": {}}}, "dns-01", id="unsupported-provider"),
        pytest.param({"http01": {"gatewayHTTPRoute": {}}}, "http-01", id="gatewayHTTPRoute"),
    ],
)
def test_solver_view_has_the_solvers_real_type(solver: dict[str, Any], challenge_type: str) -> None:
    assert solver_view(solver).challenge_type == challenge_type


@pytest.mark.parametrize(
    ("template_security", "violations"),
    [
        pytest.param(None, [], id="defaults"),
        pytest.param({"runAsUser": 1000, "fsGroup": 2000}, [], id="template-sets-other-fields"),
        pytest.param(
            {"runAsNonRoot": False},
            [("runAsNonRoot != true", "pod must not set securityContext.runAsNonRoot=false")],
            id="the-user-weakens-it-on-purpose",
        ),
    ],
)
def test_the_solver_pod_passes_pod_security_restricted(
    template_security: dict[str, Any] | None, violations: list[tuple[str, str]]
) -> None:
    template: dict[str, Any] = {"spec": {}}
    if template_security is not None:
        template["spec"]["securityContext"] = template_security
    pod = solver_pod(target(podTemplate=template), image="certmgr-solver:1")
    assert podsecurity.violations("restricted", pod["metadata"], pod["spec"]) == violations
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["spec"]["automountServiceAccountToken"] is False
    for field, value in (template_security or {}).items():
        assert pod["spec"]["securityContext"][field] == value
