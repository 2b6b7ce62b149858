"""The gatewayHTTPRoute solver: cert-manager's HTTPRoute shape, and what the Presenter
creates and deletes for it (with the Gateway API enabled or not)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from certmgr.api import labels
from certmgr.controllers.acme.presenting import GATEWAY_API_DISABLED, Presenter, PresentError
from certmgr.controllers.acme.solver_objects import (
    SHARED_SERVICE,
    SOLVER_PORT,
    SolverTarget,
    pod_service,
    solver_http_route,
    solver_labels,
    solver_pod,
    uses_pod,
)
from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.resources import Resource

OWNER = {
    "apiVersion": "acme.cert-manager.io/v1",
    "kind": "Challenge",
    "name": "c",
    "uid": "u",
    "controller": True,
    "blockOwnerDeletion": True,
}
PARENT = {"name": "gw", "namespace": "edge", "kind": "Gateway", "sectionName": "http"}


def target(dns_name: str = "www.example.com", **route: Any) -> SolverTarget:
    return SolverTarget(
        name="cm-acme-http-solver-abc",
        namespace="ns",
        dns_name=dns_name,
        token="tok",
        key="tok.thumb",
        owner=OWNER,
        route=route,
    )


def test_the_route_has_cert_manager_shape() -> None:
    route = solver_http_route(
        target(parentRefs=[PARENT], labels={"team": "a"}), service=SHARED_SERVICE, port=8089
    )
    assert route == {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": "cm-acme-http-solver-abc",
            "namespace": "ns",
            "labels": {
                labels.HTTP01_SOLVER: "true",
                labels.HTTP_DOMAIN: "www.example.com",
                labels.HTTP_TOKEN: "tok",
                "team": "a",
            },
            "ownerReferences": [OWNER],
        },
        "spec": {
            "parentRefs": [PARENT],
            "hostnames": ["www.example.com"],
            "rules": [
                {
                    "matches": [
                        {"path": {"type": "Exact", "value": "/.well-known/acme-challenge/tok"}}
                    ],
                    "backendRefs": [
                        {
                            "group": "",
                            "kind": "Service",
                            "name": SHARED_SERVICE,
                            "namespace": "ns",
                            "port": 8089,
                            "weight": 1,
                        }
                    ],
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("dns_name", "hostnames"),
    [
        pytest.param("www.example.com", ["www.example.com"], id="dns-name"),
        pytest.param("192.0.2.7", None, id="ipv4-no-hostname"),
        pytest.param("2001:db8::7", None, id="ipv6-no-hostname"),
    ],
)
def test_an_ip_identifier_gets_no_hostname(dns_name: str, hostnames: list[str] | None) -> None:
    spec = solver_http_route(target(dns_name, parentRefs=[PARENT]), service="s", port=1)["spec"]
    assert spec.get("hostnames") == hostnames


def test_the_solvers_labels_win_as_in_cert_manager() -> None:
    # cert-manager copies gatewayHTTPRoute.labels over its own labels.
    route = solver_http_route(target(labels={labels.HTTP01_SOLVER: "x"}), service="s", port=1)
    assert route["metadata"]["labels"][labels.HTTP01_SOLVER] == "x"


def test_the_route_does_not_share_the_solvers_parent_refs() -> None:
    config = {"parentRefs": [dict(PARENT)]}
    route = solver_http_route(target(**config), service="s", port=1)
    route["spec"]["parentRefs"][0]["name"] = "changed"
    assert config["parentRefs"][0]["name"] == "gw"


@pytest.mark.parametrize(
    ("mode", "route", "pod"),
    [
        pytest.param("shared", {}, False, id="shared"),
        pytest.param("pod", {}, True, id="pod-mode"),
        pytest.param("shared", {"podTemplate": {}}, True, id="pod-template"),
    ],
)
def test_the_route_solvers_pod_template_and_service_type_act_as_an_ingress_solvers(
    mode: str, route: dict[str, Any], pod: bool
) -> None:
    t = target(serviceType="ClusterIP", **route)
    assert uses_pod(t, solver_mode=mode) is pod
    assert pod_service(t)["spec"]["type"] == "ClusterIP"
    t = target(podTemplate={"spec": {"nodeSelector": {"k": "v"}}})
    assert solver_pod(t, image="img")["spec"]["nodeSelector"] == {"k": "v"}
    assert pod_service(t)["spec"]["selector"] == solver_labels(t)


class FakeKube:
    """Objects by (plural, namespace, name); calls recorded as (verb, plural)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    async def create(
        self, resource: Resource, obj: dict[str, Any], *, namespace: str
    ) -> dict[str, Any]:
        self.calls.append(("create", resource.plural))
        key = (resource.plural, namespace, obj["metadata"]["name"])
        if key in self.objects:
            raise AlreadyExists({"reason": "AlreadyExists"})
        self.objects[key] = copy.deepcopy(obj)
        return obj

    async def delete(self, resource: Resource, name: str, *, namespace: str) -> None:
        self.calls.append(("delete", resource.plural))
        if self.objects.pop((resource.plural, namespace, name), None) is None:
            raise NotFound({"reason": "NotFound"})


class FakeShared:
    def __init__(self) -> None:
        self.ensured: list[str] = []

    async def ensure(self, namespace: str) -> None:
        self.ensured.append(namespace)


def presenter(kube: FakeKube, *, mode: str = "shared", gateway_api: bool = True) -> Presenter:
    return Presenter(
        kube,  # type: ignore[arg-type]
        solver_mode=mode,
        solver_image="img",
        shared=FakeShared(),  # type: ignore[arg-type]
        shared_port=8090,
        gateway_api=gateway_api,
    )


@pytest.mark.parametrize(
    ("mode", "backend", "made"),
    [
        pytest.param("shared", (SHARED_SERVICE, 8090), ["httproutes"], id="shared"),
        pytest.param(
            "pod",
            ("cm-acme-http-solver-abc", SOLVER_PORT),
            ["pods", "services", "httproutes"],
            id="pod",
        ),
    ],
)
async def test_present_makes_the_route_to_the_solver_and_clean_up_removes_it(
    mode: str, backend: tuple[str, int], made: list[str]
) -> None:
    kube = FakeKube()
    solver = presenter(kube, mode=mode)
    t = target(parentRefs=[PARENT])
    assert await solver.present(t) is False
    assert [plural for plural, _, _ in kube.objects] == made
    route = kube.objects[("httproutes", "ns", t.name)]
    (ref,) = route["spec"]["rules"][0]["backendRefs"]
    assert (ref["name"], ref["port"]) == backend
    assert await solver.present(t) is True  # there already: an earlier attempt's
    await solver.clean_up(t)
    assert ("httproutes", "ns", t.name) not in kube.objects
    assert ("pods", "ns", t.name) not in kube.objects
    assert not any(plural == "ingresses" for _, plural in kube.calls)


async def test_without_the_gateway_api_nothing_is_made_and_the_reason_says_why() -> None:
    kube = FakeKube()
    solver = presenter(kube, gateway_api=False)
    with pytest.raises(PresentError) as raised:
        await solver.present(target(parentRefs=[PARENT]))
    assert str(raised.value) == GATEWAY_API_DISABLED
    assert "--enable-gateway-api" in GATEWAY_API_DISABLED
    await solver.clean_up(target(parentRefs=[PARENT]))
    assert not any(plural == "httproutes" for _, plural in kube.calls)
    assert kube.objects == {}
