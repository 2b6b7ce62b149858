"""The pure kubelet and kube-proxy rules: images, env and args, addresses, endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.dataplane.endpoints import Endpoint, endpoints_for
from certmgr.testing.dataplane.podspec import (
    DEFAULT_SOLVER_IMAGES,
    LoopbackAddresses,
    bind_to,
    expand,
    image_repository,
    is_solver_pod,
    listen_port,
    process_spec,
)


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        pytest.param("certmgr-solver", "certmgr-solver", id="bare"),
        pytest.param("certmgr-solver:0.1", "certmgr-solver", id="tag"),
        pytest.param("docker.io/library/certmgr-solver:0.1", "certmgr-solver", id="hub-library"),
        pytest.param("localhost:5000/solver:1", "localhost:5000/solver", id="registry-port"),
        pytest.param(
            "quay.io/jetstack/cert-manager-acmesolver:v1.16.1@sha256:abc",
            "quay.io/jetstack/cert-manager-acmesolver",
            id="tag-and-digest",
        ),
    ],
)
def test_image_repository(image: str, repository: str) -> None:
    assert image_repository(image) == repository


def _pod(image: str, **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "solver"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": image, **container}]},
    }


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param("quay.io/jetstack/cert-manager-acmesolver:v1.16.1", True, id="acmesolver"),
        pytest.param("certmgr-solver:latest", True, id="ours"),
        pytest.param("certmgr:0.1.0", True, id="our-one-image"),
        pytest.param("certmgr-controller:0.1.0", False, id="our-name-as-prefix"),
        pytest.param("quay.io/jetstack/cert-manager-acmesolver-evil:v1", False, id="lookalike"),
        pytest.param("nginx", False, id="foreign"),
    ],
)
def test_is_solver_pod(image: str, expected: bool) -> None:
    assert is_solver_pod(_pod(image), DEFAULT_SOLVER_IMAGES) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("--listen-host=$(POD_IP)", "--listen-host=127.0.1.9", id="known"),
        pytest.param("$(MISSING)", "$(MISSING)", id="unknown-kept"),
        pytest.param("$$(POD_IP)", "$(POD_IP)", id="escaped"),
        pytest.param("cost $5", "cost $5", id="lone-dollar"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"POD_IP": "127.0.1.9"}) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--domain=d"], ["--domain=d", "--listen-host=127.0.1.5"], id="missing"),
        pytest.param(["--listen-host=0.0.0.0"], ["--listen-host=127.0.1.5"], id="any-v4"),
        pytest.param(["--listen-host", "::"], ["--listen-host=127.0.1.5"], id="any-v6-split"),
        pytest.param(["--listen-host=127.0.1.5"], ["--listen-host=127.0.1.5"], id="explicit"),
    ],
)
def test_bind_to_the_pod_address(args: list[str], expected: list[str]) -> None:
    assert bind_to(args, "127.0.1.5") == expected


@pytest.mark.parametrize(
    ("args", "port"),
    [
        pytest.param([], 8089, id="default"),
        pytest.param(["--listen-port=9000"], 9000, id="equals"),
        pytest.param(["--listen-port", "9001"], 9001, id="split"),
    ],
)
def test_listen_port(args: list[str], port: int) -> None:
    assert listen_port(args) == port


def test_process_spec_expands_env_and_downward_api() -> None:
    env = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "GREETING", "value": "hi-$(NAME)"},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ]
    args = ["--listen-host=$(POD_IP)", "--listen-port=9100", "--domain=$(GREETING).$(APP)"]
    spec = process_spec(
        _pod("certmgr-solver", env=env, args=args), pod_ip="127.0.1.7", host_ip="127.0.0.1"
    )
    assert spec.args == ("--listen-host=127.0.1.7", "--listen-port=9100", "--domain=hi-p.solver")
    assert spec.port == 9100
    assert spec.env["NODE"] == "node-1"
    assert spec.env["FROM_SECRET"] == ""


def test_loopback_addresses_are_distinct_and_reused_last() -> None:
    addresses = LoopbackAddresses()
    first = [addresses.allocate() for _ in range(300)]
    assert first[0] == "127.0.1.1" and first[254] == "127.0.2.1"
    assert len(set(first)) == 300
    assert all(not a.startswith("127.0.0.") and not a.endswith(".0") for a in first)
    addresses.release(first[0])
    assert addresses.allocate() == "127.0.2.47"  # the freed one waits for its turn


def _ready_pod(name: str, ip: str, **overrides: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": name, "labels": {"app": "solver"}},
        "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8089}]}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    for path, value in overrides.items():
        section, key = path.split("__")
        pod[section][key] = value
    return pod


SELECTING = {
    "spec": {
        "selector": {"app": "solver"},
        "ports": [
            {"name": "web", "port": 80, "targetPort": "http"},
            {"name": "raw", "port": 81, "targetPort": 9000},
            {"name": "same", "port": 82},
        ],
    }
}


@pytest.mark.parametrize(
    ("service", "port", "pods", "expected"),
    [
        pytest.param(
            SELECTING,
            80,
            [_ready_pod("b", "127.0.1.2"), _ready_pod("a", "127.0.1.1")],
            [Endpoint("127.0.1.1", 8089), Endpoint("127.0.1.2", 8089)],
            id="named-target-port-sorted",
        ),
        pytest.param(
            SELECTING,
            "raw",
            [_ready_pod("a", "127.0.1.1")],
            [Endpoint("127.0.1.1", 9000)],
            id="port-by-name-numeric-target",
        ),
        pytest.param(
            SELECTING,
            82,
            [_ready_pod("a", "127.0.1.1")],
            [Endpoint("127.0.1.1", 82)],
            id="target-defaults-to-port",
        ),
        pytest.param(SELECTING, 99, [_ready_pod("a", "127.0.1.1")], [], id="unknown-port"),
        pytest.param(
            SELECTING,
            80,
            [_ready_pod("a", "127.0.1.1", status__phase="Pending")],
            [],
            id="not-running",
        ),
        pytest.param(
            SELECTING,
            80,
            [
                _ready_pod(
                    "a", "127.0.1.1", status__conditions=[{"type": "Ready", "status": "False"}]
                )
            ],
            [],
            id="not-ready",
        ),
        pytest.param(
            SELECTING,
            80,
            [_ready_pod("a", "127.0.1.1", metadata__deletionTimestamp="2024-01-01T00:00:00Z")],
            [],
            id="terminating",
        ),
        pytest.param(
            SELECTING,
            80,
            [_ready_pod("a", "127.0.1.1", metadata__labels={"app": "x"})],
            [],
            id="not-selected",
        ),
        pytest.param(
            {"spec": {"type": "ExternalName", "externalName": "127.0.0.1", "ports": [{"port": 7}]}},
            7,
            [],
            [Endpoint("127.0.0.1", 7)],
            id="external-name",
        ),
        pytest.param(
            {"spec": {"type": "ExternalName", "externalName": "localhost"}},
            8089,
            [],
            [Endpoint("localhost", 8089)],
            id="external-name-without-ports",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 80}]}},
            80,
            [_ready_pod("a", "127.0.1.1")],
            [],
            id="no-selector",
        ),
    ],
)
def test_endpoints_for(
    service: dict[str, Any], port: int | str, pods: list[dict[str, Any]], expected: list[Endpoint]
) -> None:
    assert endpoints_for(service, port, pods=pods) == expected


def test_ipv6_endpoint_authority_is_bracketed() -> None:
    assert Endpoint("::1", 80).authority == "[::1]:80"


def _slice(service: str, port: int, *endpoints: tuple[str, dict[str, bool]]) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"kubernetes.io/service-name": service}},
        "ports": [{"name": "http", "port": port}],
        "endpoints": [{"addresses": [ip], "conditions": c} for ip, c in endpoints],
    }


_NO_SELECTOR = {
    "metadata": {"name": "solver"},
    "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 8089}]},
}
_READY = {"ready": True, "serving": True, "terminating": False}
_TERMINATING = {"ready": False, "serving": True, "terminating": True}
_GONE = {"ready": False, "serving": False, "terminating": True}
_UNREADY = {"ready": False, "serving": False, "terminating": False}


@pytest.mark.parametrize(
    ("slices", "expected"),
    [
        pytest.param([], [], id="no-slices"),
        pytest.param(
            [
                _slice("solver", 9001, ("10.0.0.2", _READY)),
                _slice("solver", 9002, ("10.0.0.1", {})),
            ],
            [Endpoint("10.0.0.1", 9002), Endpoint("10.0.0.2", 9001)],
            id="every-replica-slice-ready-unset-is-ready",
        ),
        pytest.param(
            [_slice("solver", 9001, ("10.0.0.1", _TERMINATING), ("10.0.0.2", _READY))],
            [Endpoint("10.0.0.2", 9001)],
            id="terminating-skipped-while-another-is-ready",
        ),
        pytest.param(
            [_slice("solver", 9001, ("10.0.0.1", _TERMINATING), ("10.0.0.2", _GONE))],
            [Endpoint("10.0.0.1", 9001)],
            id="serving-terminating-used-when-none-is-ready",
        ),
        pytest.param(
            [_slice("solver", 9001, ("10.0.0.1", _UNREADY), ("10.0.0.2", _GONE))],
            [],
            id="not-ready-never-used-even-when-none-is-ready",
        ),
        pytest.param(
            [_slice("other", 9001, ("10.0.0.1", _READY))], [], id="another-services-slice"
        ),
    ],
)
def test_a_service_without_selector_routes_through_its_endpoint_slices(
    slices: list[dict[str, Any]], expected: list[Endpoint]
) -> None:
    assert endpoints_for(_NO_SELECTOR, 8089, pods=[], slices=slices) == expected
